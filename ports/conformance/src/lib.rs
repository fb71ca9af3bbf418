//! The store conformance suite: one behavioural test suite that every [`Store`]
//! implementation runs unchanged (sled; SQLite, PostgreSQL and MariaDB/MySQL; MongoDB; the
//! specs' memory store).
//!
//! A test-support crate: adapter crates (and anyone writing a store) use it as a
//! dev-dependency.
//!
//! # Running it against a store
//!
//! In the adapter crate, add this crate and tokio (with `macros` and `rt-multi-thread`;
//! the generated tests use `#[tokio::test]`) as dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! portcullis-store-conformance.workspace = true
//! tokio.workspace = true
//! ```
//!
//! then, in one test file (e.g. `tests/conformance.rs`), give
//! [`store_conformance_tests!`](crate::store_conformance_tests) an **async expression that
//! yields a fresh, empty store**. The macro pastes that expression into every generated test,
//! so each case is evaluated against its own store. The expression may yield any
//! `S: Store + 'static` (see [`IntoSharedStore`]):
//!
//! ```rust,ignore
//! use portcullis_store_sled::SledStore;
//!
//! portcullis_store_conformance::store_conformance_tests!(async {
//!     SledStore::temporary().expect("a temporary sled store")
//! });
//! ```
//!
//! A store that needs a server can put attributes on every generated test (then the store
//! expression takes a `store:` label), and build a fresh schema or database per test
//! inside the async block:
//!
//! ```rust,ignore
//! portcullis_store_conformance::store_conformance_tests!(
//!     #[ignore = "needs PORTCULLIS_TEST_POSTGRES_URL"]
//!     store: async { PgStore::connect(&fresh_schema().await).await.expect("a fresh schema") }
//! );
//! ```
//!
//! The macro expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`
//! function per case, named after the case; invoke it inside a `mod` if one test crate
//! runs the suite against several stores. Every case is also a public async function here,
//! taking an `Arc<dyn Store>`, so a test can call one case directly.
//!
//! The cases live in one module per part of the contract (users, accounts, sessions, …)
//! and are listed once, in `__store_cases!`: the macro makes a test of every entry and
//! the crate re-exports every entry, so a case left out of the list is unreachable: dead
//! code, which this crate denies.
//!
//! # What the suite pins
//!
//! The contract is the doc comments on [`Store`]; this suite checks them, plus what the
//! security checklist asks of every adapter (items #1 and #2: a verification token is bound
//! to its identifier, single-use even under concurrency, and expired tokens are still
//! handed to the caller, who decides), and that rotating an account's provider tokens is a
//! compare-and-set on the stored refresh token: of concurrent refreshes from one refresh
//! token exactly one wins. Stores do not read the clock, so expired sessions and tokens are
//! returned like any other. A session's `created` is kept as given (not the database's
//! clock) and never moved by an expiry update; JWT revocations (`revoke_jwt`,
//! `is_jwt_revoked`) are byte-exact, idempotent (also when racing), and a revocation
//! expired before a later `revoke_jwt`'s `now` is dropped. Whether several handles on one
//! database see each other's revocations is each adapter's own test (the suite has one
//! handle). Leases (`take_lease`, `release_lease`) have one holder at a time until they
//! end, also when holders race.
//!
//! Timestamps are compared at millisecond precision at most (the fixtures use whole
//! milliseconds), since SQL databases keep microseconds and MongoDB milliseconds. E-mail
//! lookups are byte-exact on the canonical address: no case folding, accent folding,
//! trailing-space padding or pattern matching (a SQL store needs a binary, NO PAD collation
//! or a binary column type for `email`).

// This module is a test harness: failing loudly is its job. The workspace denies
// unwrap/expect/panic for production code; a failed conformance check must panic so the
// generated `#[tokio::test]` fails with a message naming the store behaviour that broke.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// A case missing from `__store_cases!` is dead code: an error, not a silently skipped case.
#![deny(dead_code)]

mod account_tokens;
mod accounts;
mod cleanup;
mod delete_user;
mod encoding;
mod fixtures;
mod leases;
pub mod outbox;
mod revocations;
mod sessions;
mod users;
mod verification;

use std::sync::Arc;

use portcullis_ports::Store;

pub use cleanup::WithCleanup;

/// Every store case, once, as `module::case`: expands to `CALLBACK! { ARGS… list }`.
/// [`store_conformance_tests!`](crate::store_conformance_tests) makes a test of each entry
/// and this crate re-exports each one.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_cases {
    ([$($callback:tt)*] $($args:tt)*) => {
        $($callback)*! {
            $($args)*
            users::create_user_then_get_user,
            users::get_user_unknown_id_is_none,
            users::get_user_by_email_is_exact,
            users::create_user_duplicate_email_conflicts,
            users::create_user_email_race_has_one_winner,
            users::users_without_email_may_be_many,
            users::update_user_replaces_fields,
            users::update_user_keeps_own_email,
            users::update_user_frees_old_email,
            users::update_user_to_taken_email_conflicts,
            users::update_user_email_race_has_one_winner,
            users::update_user_unknown_id_not_found,
            accounts::link_account_round_trips_every_field,
            accounts::link_account_without_tokens_round_trips,
            accounts::provider_account_lookup_is_exact,
            accounts::link_account_twice_conflicts,
            accounts::link_account_race_has_one_winner,
            accounts::unlink_account_removes_the_link,
            accounts::get_accounts_for_user_lists_the_users_accounts,
            accounts::get_accounts_for_user_follows_unlink_and_relink,
            account_tokens::update_account_tokens_replaces_every_token,
            account_tokens::update_account_tokens_stale_refresh_token_is_none,
            account_tokens::update_account_tokens_unknown_account_not_found,
            account_tokens::update_account_tokens_none_expected_matches_no_refresh_token,
            account_tokens::update_account_tokens_race_has_one_winner,
            delete_user::delete_user_cascades_to_accounts_and_sessions,
            delete_user::delete_user_unknown_id_is_ok,
            sessions::create_session_then_get_session_and_user,
            sessions::create_session_duplicate_token_conflicts,
            sessions::session_without_user_reads_none,
            sessions::expired_session_is_still_returned,
            sessions::update_session_expiry_moves_expiry,
            sessions::update_session_expiry_unknown_not_found,
            sessions::delete_session_is_idempotent,
            sessions::session_lookup_matches_hashed_or_raw_key,
            sessions::list_sessions_soonest_expiry_first,
            sessions::delete_sessions_for_user_counts_and_spares_others,
            sessions::session_created_round_trips,
            sessions::session_without_created_is_stored,
            revocations::revoked_jwt_reads_revoked,
            revocations::revoke_jwt_twice_is_fine,
            revocations::revoke_jwt_drops_expired_revocations,
            leases::lease_is_held_until_it_ends,
            leases::release_lease_frees_only_the_holders,
            leases::lease_race_has_one_winner,
            verification::verification_token_is_single_use,
            verification::verification_token_is_bound_to_identifier,
            verification::verification_token_wrong_hash_is_none,
            verification::expired_verification_token_is_returned_and_removed,
            verification::verification_tokens_are_independent,
            verification::verification_token_race_has_one_winner,
            encoding::timestamps_round_trip_to_the_millisecond,
            encoding::unicode_survives,
        }
    };
}

/// Generates the conformance suite as `#[tokio::test]` functions, one per case.
///
/// Two forms: `store_conformance_tests!(MAKE)` and
/// `store_conformance_tests!(#[attr]… store: MAKE)`, where `MAKE` is an async expression
/// (e.g. an `async { … }` block) yielding a fresh store, any `S: Store + 'static` or an
/// `Arc<dyn Store>`, evaluated once per test; the attributes go on every generated test.
/// See the [crate documentation](crate) for examples.
#[macro_export]
macro_rules! store_conformance_tests {
    // Internal arms first, so `@…` is never tried as the store expression.
    (@cases $attrs:tt $make:expr; $($module:ident :: $case:ident),+ $(,)?) => {
        $(
            $crate::store_conformance_tests!(@case $attrs $make; $case);
        )+
    };
    (@case [$(#[$attr:meta])*] $make:expr; $case:ident) => {
        $(#[$attr])*
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let store = $crate::IntoSharedStore::into_shared_store($make.await);
            $crate::$case(store).await;
        }
    };
    ($(#[$attr:meta])* store: $make:expr $(,)?) => {
        $crate::__store_cases!(
            [$crate::store_conformance_tests] @cases [$(#[$attr])*] $make;
        );
    };
    ($make:expr $(,)?) => {
        $crate::store_conformance_tests!(store: $make);
    };
}

/// Re-exports every listed case at the crate root, where the generated tests call it.
macro_rules! reexport_cases {
    ($($module:ident :: $case:ident),+ $(,)?) => {
        $(pub use $module::$case;)+
    };
}

__store_cases!([reexport_cases]);

/// What [`store_conformance_tests!`](crate::store_conformance_tests)'s store expression
/// may yield: any store, by value.
pub trait IntoSharedStore {
    /// This store behind an `Arc<dyn Store>`.
    fn into_shared_store(self) -> Arc<dyn Store>;
}

impl<S: Store + 'static> IntoSharedStore for S {
    fn into_shared_store(self) -> Arc<dyn Store> {
        Arc::new(self)
    }
}
