#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! # Portcullis specs
//!
//! Cucumber step definitions and the World that run `features/*.feature` twice: against
//! the embedded engine (`Portcullis::handle`, with a clock the scenarios move by hand) and
//! against the real `portcullis` binary over HTTP, configured from a TOML file the World
//! writes from the scenario's setup (its credentials backend served as the operator's
//! HTTP service, its store shared by database URL, or sled in the binary's data directory).
//! Scenarios tagged `@embedded` need in-process ports (scripted callbacks, events, a custom
//! codec, the clock, injected store failures) and run on the embedded target only.
//!
//! Scenarios tagged `@stores` need a store and run once more per built-in store: sled in
//! the main run, then SQLite, PostgreSQL, MariaDB and MongoDB, each scenario on a fresh
//! database of its own (`stores`). Magic links go through the SMTP adapter to a real SMTP
//! server on loopback and are read back from its Maildir (`mailbox`). A server that is
//! not running fails the run with a message naming it; nothing is skipped.
//!
//! OAuth and OpenID sign-ins run against the specs' own provider (`provider`): a strict,
//! scriptable OAuth 2.0 / OpenID Connect / OAuth 1.0a server on loopback, reached through
//! Portcullis's real HTTP adapter. On the embedded target every log line the engine writes
//! is captured per scenario (`logs`) for the no-secrets-in-logs checks.
//!
//! Every engine the scenarios build reports the declared flow transitions it takes; the run
//! fails when a declared transition was never taken (`coverage`).

mod binary;
mod coverage;
mod doubles;
pub mod fixtures;
mod jose;
mod lambda;
mod logs;
mod mailbox;
mod matching;
mod memory_store;
mod provider;
mod runner;
mod steps;
mod stores;
mod webhooks;
mod world;

pub use runner::{run, Report};

/// The stored keys a session cookie may be under (its `sha256:` key, and the raw token).
pub fn cookie_keys(cookie: &str) -> portcullis_domain::session_key::SessionKeys {
    portcullis_domain::session_key::SessionKeys::for_cookie(cookie)
        .unwrap_or_else(|| panic!("not a session cookie value"))
}
