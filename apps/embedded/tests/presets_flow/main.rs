#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every built-in OAuth preset, signed in for real: the embedded app talks HTTP (its default
//! reqwest client) to a fixture provider on loopback that serves the preset's own paths —
//! the preset's endpoints rebased onto the local origin — with
//! `fixtures/providers/<id>/{token,profile}.json`, plus discovery, a key set and a freshly
//! signed ID token where the preset is OpenID. A cookie-keeping browser drives
//! CSRF → sign-in → (provider) → callback → session; afterwards the test checks what the
//! provider received, what the store holds and what `/session` says.
//!
//! Each preset runs twice: database sessions with an RS256 ID token, JWT sessions with an
//! ES256 one. Failures are collected per preset and reported together.
//!
//! One test binary (link time): `run` drives one preset under one session strategy;
//! `browser`, `keys` and `provider` are its fixtures.

mod browser;
mod keys;
mod provider;
mod run;

use portcullis::oauth::{Protocol, PRESET_IDS};
use portcullis::SessionStrategy;
use time::macros::datetime;
use time::OffsetDateTime;

use keys::{AppleKey, IdTokenKey};
use run::{build, Run};

const BASE: &str = "http://localhost:3000/api/auth";
const CALLBACK_URL: &str = "http://localhost:3000/dashboard";
const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";
const CLIENT_ID: &str = "test-client-id";
/// `:` and `+` must be form-encoded inside HTTP Basic (RFC 6749 §2.3.1).
const CLIENT_SECRET: &str = "test:client+secret";
const API_KEY: &str = "test-api-key";
const APPLE_KEY_ID: &str = "KEY123ABCD";
const APPLE_TEAM_ID: &str = "TEAM456XYZ";
const CODE: &str = "fixture-authorisation-code";
const NOW: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

/// OAuth 1.0a presets: `apps/server/tests/server/oauth.rs` signs in with them against a
/// real oauthlib provider.
const COVERED_ELSEWHERE: &[&str] = &["twitter"];

#[tokio::test]
async fn every_preset_signs_in_through_its_own_endpoints() {
    let rs256 = IdTokenKey::rs256();
    let es256 = IdTokenKey::es256();
    let apple = AppleKey::generate();

    let oauth1: Vec<&str> = PRESET_IDS
        .iter()
        .copied()
        .filter(|id| build(id, &apple).1.protocol == Protocol::OAuth1)
        .collect();
    assert_eq!(
        oauth1, COVERED_ELSEWHERE,
        "the skip list must be exactly the OAuth 1 presets"
    );

    let mut failures = Vec::new();
    // Presets whose every run got as far as exchanging the code at their token endpoint.
    let mut exercised = 0;
    for id in PRESET_IDS
        .iter()
        .filter(|id| !COVERED_ELSEWHERE.contains(id))
    {
        let mut exchanged = true;
        for (strategy, key) in [
            (SessionStrategy::Database, &rs256),
            (SessionStrategy::Jwt, &es256),
        ] {
            let report = Run::start(id, strategy, key, &apple).await.sign_in().await;
            exchanged &= report.exchanged;
            for problem in report.problems {
                failures.push(format!("{id} [{strategy:?} sessions]: {problem}"));
            }
        }
        exercised += usize::from(exchanged);
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(exercised, PRESET_IDS.len() - COVERED_ELSEWHERE.len());
}
