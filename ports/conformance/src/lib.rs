//! The store conformance suite: one behavioural test suite that every [`Store`]
//! implementation runs unchanged (sled today; PostgreSQL, MariaDB, SQLite, MongoDB later).
//!
//! A test-support crate: adapter crates (and anyone writing a store) use it as a
//! dev-dependency.
//!
//! # Running it against a store
//!
//! In the adapter crate, add the feature and tokio (with `macros` and `rt-multi-thread`;
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
//! handle).
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

pub mod outbox;

use std::future::Future;
use std::sync::Arc;

use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use portcullis_domain::secret::SecretString;
use portcullis_domain::store::StoreError;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use portcullis_ports::Store;

/// Generates the conformance suite as `#[tokio::test]` functions, one per case.
///
/// Two forms: `store_conformance_tests!(MAKE)` and
/// `store_conformance_tests!(#[attr]… store: MAKE)`, where `MAKE` is an async expression
/// (e.g. an `async { … }` block) yielding a fresh store, any `S: Store + 'static` or an
/// `Arc<dyn Store>`, evaluated once per test; the attributes go on every generated test.
/// See the [module documentation](crate::conformance) for examples.
#[macro_export]
macro_rules! store_conformance_tests {
    // Internal arms first, so `@…` is never tried as the store expression.
    (@cases $attrs:tt $make:expr; $($case:ident),+ $(,)?) => {
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
        $crate::store_conformance_tests!(
            @cases [$(#[$attr])*] $make;
            create_user_then_get_user,
            get_user_unknown_id_is_none,
            get_user_by_email_is_exact,
            create_user_duplicate_email_conflicts,
            create_user_email_race_has_one_winner,
            users_without_email_may_be_many,
            update_user_replaces_fields,
            update_user_keeps_own_email,
            update_user_frees_old_email,
            update_user_to_taken_email_conflicts,
            update_user_email_race_has_one_winner,
            update_user_unknown_id_not_found,
            link_account_round_trips_every_field,
            link_account_without_tokens_round_trips,
            provider_account_lookup_is_exact,
            link_account_twice_conflicts,
            link_account_race_has_one_winner,
            unlink_account_removes_the_link,
            get_accounts_for_user_lists_the_users_accounts,
            get_accounts_for_user_follows_unlink_and_relink,
            update_account_tokens_replaces_every_token,
            update_account_tokens_stale_refresh_token_is_none,
            update_account_tokens_unknown_account_not_found,
            update_account_tokens_none_expected_matches_no_refresh_token,
            update_account_tokens_race_has_one_winner,
            delete_user_cascades_to_accounts_and_sessions,
            delete_user_unknown_id_is_ok,
            create_session_then_get_session_and_user,
            create_session_duplicate_token_conflicts,
            session_without_user_reads_none,
            expired_session_is_still_returned,
            update_session_expiry_moves_expiry,
            update_session_expiry_unknown_not_found,
            delete_session_is_idempotent,
            session_lookup_matches_hashed_or_raw_key,
            list_sessions_soonest_expiry_first,
            delete_sessions_for_user_counts_and_spares_others,
            session_created_round_trips,
            session_without_created_is_stored,
            revoked_jwt_reads_revoked,
            revoke_jwt_twice_is_fine,
            revoke_jwt_drops_expired_revocations,
            verification_token_is_single_use,
            verification_token_is_bound_to_identifier,
            verification_token_wrong_hash_is_none,
            expired_verification_token_is_returned_and_removed,
            verification_tokens_are_independent,
            verification_token_race_has_one_winner,
            timestamps_round_trip_to_the_millisecond,
            unicode_survives,
        );
    };
    ($make:expr $(,)?) => {
        $crate::store_conformance_tests!(store: $make);
    };
}

/// What [`store_conformance_tests!`](crate::store_conformance_tests)'s store expression
/// may yield: any store, by value.
pub trait IntoSharedStore {
    fn into_shared_store(self) -> Arc<dyn Store>;
}

impl<S: Store + 'static> IntoSharedStore for S {
    fn into_shared_store(self) -> Arc<dyn Store> {
        Arc::new(self)
    }
}

/// A store with something that must be dropped with it — typically a guard that drops the
/// test's database — usable wherever a store is: every method forwards to `store`.
pub struct WithCleanup<S, G> {
    pub store: S,
    _cleanup: G,
}

impl<S, G> WithCleanup<S, G> {
    pub fn new(store: S, cleanup: G) -> Self {
        Self {
            store,
            _cleanup: cleanup,
        }
    }
}

#[async_trait::async_trait]
impl<S: Store, G: Send + Sync> Store for WithCleanup<S, G> {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.store.create_user(user).await
    }
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.store.get_user(id).await
    }
    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.store.get_user_by_email(email).await
    }
    async fn get_user_by_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<User>, StoreError> {
        self.store
            .get_user_by_account(provider_id, provider_account_id)
            .await
    }
    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        self.store.update_user(user).await
    }
    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        self.store.delete_user(id).await
    }
    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        self.store.link_account(account).await
    }
    async fn get_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.store
            .get_account(provider_id, provider_account_id)
            .await
    }
    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        self.store.get_accounts_for_user(user_id).await
    }
    async fn unlink_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<(), StoreError> {
        self.store
            .unlink_account(provider_id, provider_account_id)
            .await
    }
    async fn update_account_tokens(
        &self,
        provider_id: &str,
        provider_account_id: &str,
        expected_refresh_token: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError> {
        self.store
            .update_account_tokens(
                provider_id,
                provider_account_id,
                expected_refresh_token,
                tokens,
            )
            .await
    }
    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        self.store.create_session(session).await
    }
    async fn get_session_and_user(
        &self,
        session_keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        self.store.get_session_and_user(session_keys).await
    }
    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.store
            .update_session_expiry(session_token, expires)
            .await
    }
    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError> {
        self.store.delete_session(session_token).await
    }
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        self.store.list_sessions(user_id).await
    }
    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        self.store.delete_sessions_for_user(user_id).await
    }
    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        self.store.create_verification_token(token).await
    }
    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        self.store
            .use_verification_token(identifier, token_hash)
            .await
    }
    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.store.revoke_jwt(jti, expires, now).await
    }
    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.store.is_jwt_revoked(jti).await
    }
    fn upgraded_from_v3(&self) -> bool {
        self.store.upgraded_from_v3()
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------

/// Whole milliseconds, so every store (µs in SQL, ms in MongoDB) reads them back exactly.
const EMAIL_VERIFIED: OffsetDateTime = datetime!(2021-02-03 04:05:06.789 UTC);
const ACCESS_TOKEN_EXPIRES: OffsetDateTime = datetime!(2031-07-08 09:10:11.123 UTC);
const SESSION_EXPIRES: OffsetDateTime = datetime!(2032-01-01 00:00:00.001 UTC);
const SESSION_CREATED: OffsetDateTime = datetime!(2031-12-01 10:20:30.456 UTC);
const TOKEN_EXPIRES: OffsetDateTime = datetime!(2032-06-30 23:59:59.999 UTC);
const LONG_AGO: OffsetDateTime = datetime!(2001-09-09 01:46:40.5 UTC);

fn new_user(name: &str, email: Option<&str>) -> NewUser {
    NewUser {
        name: Some(name.to_owned()),
        email: email.map(str::to_owned),
        email_verified: Some(EMAIL_VERIFIED),
        image: Some(format!("https://img.example/{name}.png")),
    }
}

fn full_account(user_id: &str, provider_id: &str, provider_account_id: &str) -> Account {
    Account {
        user_id: user_id.to_owned(),
        provider_type: "oauth".to_owned(),
        provider_id: provider_id.to_owned(),
        provider_account_id: provider_account_id.to_owned(),
        refresh_token: Some(SecretString::new(format!("rt-{provider_account_id}"))),
        access_token: Some(SecretString::new(format!("at-{provider_account_id}"))),
        access_token_expires: Some(ACCESS_TOKEN_EXPIRES),
        token_type: Some("bearer".to_owned()),
        scope: Some("openid email profile".to_owned()),
        id_token: Some(SecretString::new("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")),
    }
}

const REFRESHED_EXPIRES: OffsetDateTime = datetime!(2033-04-05 06:07:08.901 UTC);
const REFRESHED_ID_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.e30.bmV3";

/// Tokens a refresh could bring: every field differs from [`full_account`]'s.
fn refreshed_tokens(refresh_token: Option<&str>) -> AccountTokens {
    AccountTokens {
        access_token: Some(SecretString::new("at-refreshed")),
        refresh_token: refresh_token.map(SecretString::new),
        access_token_expires: Some(REFRESHED_EXPIRES),
        token_type: Some("DPoP".to_owned()),
        scope: Some("openid email".to_owned()),
        id_token: Some(SecretString::new(REFRESHED_ID_TOKEN)),
    }
}

fn tokens_none() -> AccountTokens {
    AccountTokens {
        access_token: None,
        refresh_token: None,
        access_token_expires: None,
        token_type: None,
        scope: None,
        id_token: None,
    }
}

fn bare_account(user_id: &str, provider_id: &str, provider_account_id: &str) -> Account {
    Account {
        user_id: user_id.to_owned(),
        provider_type: "email".to_owned(),
        provider_id: provider_id.to_owned(),
        provider_account_id: provider_account_id.to_owned(),
        refresh_token: None,
        access_token: None,
        access_token_expires: None,
        token_type: None,
        scope: None,
        id_token: None,
    }
}

/// A 64-hex-character token (the shape v3 uses), distinct per `n` and per `salt`.
fn hex_token(salt: char, n: u64) -> String {
    format!("{salt}{n:063x}")
}

fn session(user_id: &str, n: u64, expires: OffsetDateTime) -> Session {
    Session {
        session_token: SecretString::new(hex_token('5', n)),
        user_id: user_id.to_owned(),
        expires,
        access_token: SecretString::new(hex_token('a', n)),
        created: Some(SESSION_CREATED),
    }
}

fn verification_token(identifier: &str, n: u64, expires: OffsetDateTime) -> VerificationToken {
    VerificationToken {
        identifier: identifier.to_owned(),
        token_hash: hex_token('7', n),
        expires,
    }
}

/// The value of a store call that must succeed; otherwise fails naming the behaviour.
#[track_caller]
fn ok<T>(result: Result<T, StoreError>, behaviour: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("store failed: {behaviour}: returned error {error}"),
    }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, behaviour: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("store failed: {behaviour}: expected Err(Conflict), got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, behaviour: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("store failed: {behaviour}: expected Err(NotFound), got {other:?}"),
    }
}

/// How long racing calls may take in all before the suite calls it a deadlock.
const RACE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `n` copies of an operation at once: each task is spawned on the multi-threaded
/// runtime and released together through a barrier, so they genuinely race. A store that
/// deadlocks fails the case after [`RACE_TIMEOUT`] instead of hanging the test run.
async fn race<T, F, Fut>(
    store: &Arc<dyn Store>,
    n: usize,
    behaviour: &str,
    op: F,
) -> Vec<Result<T, StoreError>>
where
    F: Fn(Arc<dyn Store>, usize) -> Fut,
    Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let call = op(Arc::clone(store), i);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                call.await
            })
        })
        .collect();
    let Ok(joined) = tokio::time::timeout(RACE_TIMEOUT, futures::future::join_all(tasks)).await
    else {
        panic!(
            "store failed: {behaviour}: {n} racing calls did not all finish within {} s \
             (deadlock?)",
            RACE_TIMEOUT.as_secs()
        );
    };
    joined
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|e| {
                panic!("store failed: {behaviour}: a racing call panicked: {e}")
            })
        })
        .collect()
}

/// Of racing calls, exactly one must succeed and every other must be `Conflict`.
#[track_caller]
fn assert_one_winner_rest_conflict<T: std::fmt::Debug>(
    results: &[Result<T, StoreError>],
    behaviour: &str,
) {
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
        .count();
    assert_eq!(
        wins,
        1,
        "store failed: {behaviour}: expected exactly one Ok among {} racing calls, got {wins} \
         (results: {results:?})",
        results.len()
    );
    assert_eq!(
        conflicts,
        results.len() - 1,
        "store failed: {behaviour}: every losing call must be Err(Conflict) (results: {results:?})"
    );
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

/// `create_user` assigns a non-empty id, returns every field as given, and `get_user`
/// reads the same user back; two users get different ids.
pub async fn create_user_then_get_user(store: Arc<dyn Store>) {
    let input = new_user("Alice", Some("alice@example.com"));
    let created = ok(store.create_user(input.clone()).await, "create_user");
    assert!(
        !created.id.is_empty(),
        "store failed: create_user must assign a non-empty id"
    );
    assert_eq!(
        created,
        input.clone().with_id(created.id.clone()),
        "store failed: create_user must return the fields it was given"
    );
    let read = ok(
        store.get_user(&created.id).await,
        "get_user of a created user",
    );
    assert_eq!(
        read,
        Some(created.clone()),
        "store failed: get_user must read back the created user"
    );

    let sparse = NewUser::default();
    let second = ok(
        store.create_user(sparse.clone()).await,
        "create_user with every optional field None",
    );
    assert_ne!(
        second.id, created.id,
        "store failed: create_user must give each user its own id"
    );
    assert_eq!(
        ok(
            store.get_user(&second.id).await,
            "get_user of a sparse user"
        ),
        Some(sparse.with_id(second.id.clone())),
        "store failed: None fields must read back as None"
    );
}

/// `get_user` of an id that was never created is `None`, not an error.
pub async fn get_user_unknown_id_is_none(store: Arc<dyn Store>) {
    let created = ok(
        store.create_user(new_user("Alice", None)).await,
        "create_user",
    );
    for unknown in [
        "999999999",
        "does-not-exist",
        "",
        "000000000000000000000000",
    ] {
        if unknown == created.id {
            continue;
        }
        assert_eq!(
            ok(store.get_user(unknown).await, "get_user of an unknown id"),
            None,
            "store failed: get_user of an unknown id must be None"
        );
    }
}

/// `get_user_by_email` is an exact match on the canonical address: no case folding, no
/// accent folding, no trailing-space padding, no pattern matching, no prefix match.
pub async fn get_user_by_email_is_exact(store: Arc<dyn Store>) {
    let alice = ok(
        store
            .create_user(new_user("Alice", Some("alice@example.com")))
            .await,
        "create_user",
    );
    let jose = ok(
        store
            .create_user(new_user("Jose", Some("jose@example.com")))
            .await,
        "create_user",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("alice@example.com").await,
            "get_user_by_email"
        ),
        Some(alice.clone()),
        "store failed: get_user_by_email must find the user with that address"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("jose@example.com").await,
            "get_user_by_email"
        ),
        Some(jose.clone()),
        "store failed: get_user_by_email must find the user with that address"
    );
    for near_miss in [
        "nobody@example.com",
        "Alice@example.com",
        "ALICE@EXAMPLE.COM",
        "alice@example.com ",
        " alice@example.com",
        "alice@example.co",
        "alice@example.comx",
        "alice@example.%",
        "alice@example.co_",
        "%",
        "_%",
        "josé@example.com",
        "",
    ] {
        assert_eq!(
            ok(
                store.get_user_by_email(near_miss).await,
                "get_user_by_email of an address no user has"
            ),
            None,
            "store failed: get_user_by_email must be an exact match; {near_miss:?} matched a user"
        );
    }
    // A different canonical address is a different user, even if a collation would fold it.
    let jose_accented = ok(
        store
            .create_user(new_user("José", Some("josé@example.com")))
            .await,
        "create_user with an address that differs from another only by an accent",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("josé@example.com").await,
            "get_user_by_email"
        ),
        Some(jose_accented),
        "store failed: addresses differing by an accent must be distinct users"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("jose@example.com").await,
            "get_user_by_email"
        ),
        Some(jose),
        "store failed: addresses differing by an accent must be distinct users"
    );
}

/// A second user with an e-mail already taken is refused with `Conflict`, and the first
/// user keeps the address.
pub async fn create_user_duplicate_email_conflicts(store: Arc<dyn Store>) {
    let first = ok(
        store
            .create_user(new_user("First", Some("same@example.com")))
            .await,
        "create_user",
    );
    assert_conflict(
        store
            .create_user(new_user("Second", Some("same@example.com")))
            .await,
        "create_user with an e-mail another user has",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("same@example.com").await,
            "get_user_by_email"
        ),
        Some(first),
        "store failed: a refused create_user must leave the existing owner of the e-mail"
    );
}

/// 20 concurrent `create_user` calls with one e-mail: exactly one succeeds, the others
/// are `Conflict`, and the address then belongs to the winner.
pub async fn create_user_email_race_has_one_winner(store: Arc<dyn Store>) {
    let behaviour = "concurrent create_user with one e-mail";
    let results = race(&store, 20, behaviour, |store, i| async move {
        store
            .create_user(new_user(&format!("Racer {i}"), Some("race@example.com")))
            .await
    })
    .await;
    assert_one_winner_rest_conflict(&results, behaviour);
    let winner = results.into_iter().find_map(Result::ok);
    assert_eq!(
        ok(
            store.get_user_by_email("race@example.com").await,
            "get_user_by_email"
        ),
        winner,
        "store failed: after a create_user race the e-mail must belong to the one winner"
    );
}

/// The unique e-mail constraint ignores users without an e-mail.
pub async fn users_without_email_may_be_many(store: Arc<dyn Store>) {
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(ok(
            store
                .create_user(new_user(&format!("Anon {i}"), None))
                .await,
            "create_user without an e-mail while other users have none",
        ));
    }
    let mut ids: Vec<_> = users.iter().map(|u| u.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        3,
        "store failed: users without e-mail must each get their own id"
    );
    for user in &users {
        assert_eq!(
            ok(
                store.get_user(&user.id).await,
                "get_user of a user without e-mail"
            ),
            Some(user.clone()),
            "store failed: every user without e-mail must be stored"
        );
    }
    // Clearing an e-mail joins the users without one, and frees the address.
    let cleared = ok(
        store
            .create_user(new_user("Will clear", Some("clear@example.com")))
            .await,
        "create_user",
    );
    let cleared = ok(
        store
            .update_user(User {
                email: None,
                ..cleared
            })
            .await,
        "update_user clearing the e-mail while other users have none",
    );
    assert_eq!(
        ok(store.get_user(&cleared.id).await, "get_user"),
        Some(cleared),
        "store failed: a user whose e-mail was cleared must read back without e-mail"
    );
    ok(
        store
            .create_user(new_user("Next", Some("clear@example.com")))
            .await,
        "create_user with an address another user cleared",
    );
}

/// `update_user` replaces every field (including setting fields to `None`) and returns
/// the stored user.
pub async fn update_user_replaces_fields(store: Arc<dyn Store>) {
    let created = ok(
        store
            .create_user(new_user("Before", Some("before@example.com")))
            .await,
        "create_user",
    );
    let changed = User {
        id: created.id.clone(),
        name: Some("After".to_owned()),
        email: Some("after@example.com".to_owned()),
        email_verified: Some(datetime!(2024-12-31 23:59:59.250 UTC)),
        image: None,
    };
    assert_eq!(
        ok(store.update_user(changed.clone()).await, "update_user"),
        changed,
        "store failed: update_user must return the user as stored"
    );
    assert_eq!(
        ok(
            store.get_user(&created.id).await,
            "get_user after update_user"
        ),
        Some(changed.clone()),
        "store failed: update_user must replace every field"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("after@example.com").await,
            "get_user_by_email of the new address"
        ),
        Some(changed.clone()),
        "store failed: get_user_by_email must find a user by its updated e-mail"
    );

    let emptied = User {
        id: created.id.clone(),
        name: None,
        email: None,
        email_verified: None,
        image: None,
    };
    ok(
        store.update_user(emptied.clone()).await,
        "update_user to all-None fields",
    );
    assert_eq!(
        ok(store.get_user(&created.id).await, "get_user"),
        Some(emptied),
        "store failed: update_user must be able to clear every optional field"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("after@example.com").await,
            "get_user_by_email of a cleared address"
        ),
        None,
        "store failed: a cleared e-mail must no longer find the user"
    );
}

/// Updating a user without changing its e-mail is not a conflict with itself
/// (the e-mail callback does exactly this to set `email_verified`).
pub async fn update_user_keeps_own_email(store: Arc<dyn Store>) {
    let created = ok(
        store
            .create_user(new_user("Keeps", Some("keeps@example.com")))
            .await,
        "create_user",
    );
    let verified_again = User {
        email_verified: Some(datetime!(2025-05-05 05:05:05.505 UTC)),
        ..created.clone()
    };
    assert_eq!(
        ok(
            store.update_user(verified_again.clone()).await,
            "update_user keeping the user's own e-mail"
        ),
        verified_again,
        "store failed: update_user keeping the same e-mail must succeed"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("keeps@example.com").await,
            "get_user_by_email"
        ),
        Some(verified_again),
        "store failed: the e-mail must still find the updated user"
    );
}

/// After a user moves to a new e-mail, the old one is free for another user.
pub async fn update_user_frees_old_email(store: Arc<dyn Store>) {
    let mover = ok(
        store
            .create_user(new_user("Mover", Some("old@example.com")))
            .await,
        "create_user",
    );
    ok(
        store
            .update_user(User {
                email: Some("new@example.com".to_owned()),
                ..mover.clone()
            })
            .await,
        "update_user changing the e-mail",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("old@example.com").await,
            "get_user_by_email of a released address"
        ),
        None,
        "store failed: the old e-mail must no longer find the user that moved away"
    );
    let newcomer = ok(
        store
            .create_user(new_user("Newcomer", Some("old@example.com")))
            .await,
        "create_user with an address another user released",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("old@example.com").await,
            "get_user_by_email"
        ),
        Some(newcomer),
        "store failed: a released e-mail must find its new owner"
    );
}

/// `update_user` to an e-mail another user has is `Conflict` and changes nothing.
pub async fn update_user_to_taken_email_conflicts(store: Arc<dyn Store>) {
    let owner = ok(
        store
            .create_user(new_user("Owner", Some("taken@example.com")))
            .await,
        "create_user",
    );
    let other = ok(
        store
            .create_user(new_user("Other", Some("other@example.com")))
            .await,
        "create_user",
    );
    assert_conflict(
        store
            .update_user(User {
                email: Some("taken@example.com".to_owned()),
                name: Some("Thief".to_owned()),
                ..other.clone()
            })
            .await,
        "update_user to an e-mail another user has",
    );
    assert_eq!(
        ok(store.get_user(&other.id).await, "get_user"),
        Some(other.clone()),
        "store failed: a refused update_user must leave the user unchanged"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("taken@example.com").await,
            "get_user_by_email"
        ),
        Some(owner),
        "store failed: a refused update_user must leave the e-mail with its owner"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("other@example.com").await,
            "get_user_by_email"
        ),
        Some(other),
        "store failed: a refused update_user must keep the user's own e-mail"
    );
}

/// 20 users concurrently moving to one e-mail: exactly one succeeds, the rest `Conflict`.
pub async fn update_user_email_race_has_one_winner(store: Arc<dyn Store>) {
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(ok(
            store
                .create_user(new_user(
                    &format!("Racer {i}"),
                    Some(&format!("racer{i}@example.com")),
                ))
                .await,
            "create_user",
        ));
    }
    let users = Arc::new(users);
    let behaviour = "concurrent update_user to one e-mail";
    let results = race(&store, 20, behaviour, |store, i| {
        let users = Arc::clone(&users);
        async move {
            store
                .update_user(User {
                    email: Some("prize@example.com".to_owned()),
                    ..users[i].clone()
                })
                .await
        }
    })
    .await;
    assert_one_winner_rest_conflict(&results, behaviour);
    let winner = results.into_iter().find_map(Result::ok);
    assert_eq!(
        ok(
            store.get_user_by_email("prize@example.com").await,
            "get_user_by_email"
        ),
        winner,
        "store failed: after an update_user race the e-mail must belong to the one winner"
    );
}

/// `update_user` of an id that does not exist is `NotFound` and creates nothing.
pub async fn update_user_unknown_id_not_found(store: Arc<dyn Store>) {
    let ghost = User {
        id: "424242424242".to_owned(),
        name: Some("Ghost".to_owned()),
        email: Some("ghost@example.com".to_owned()),
        email_verified: None,
        image: None,
    };
    assert_not_found(
        store.update_user(ghost.clone()).await,
        "update_user of an unknown id",
    );
    assert_eq!(
        ok(store.get_user(&ghost.id).await, "get_user"),
        None,
        "store failed: update_user of an unknown id must not create the user"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("ghost@example.com").await,
            "get_user_by_email"
        ),
        None,
        "store failed: update_user of an unknown id must not claim the e-mail"
    );
}

// ---------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------

/// `link_account` keeps every field, secrets included; `get_account` and
/// `get_user_by_account` read them back.
pub async fn link_account_round_trips_every_field(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Linker", Some("linker@example.com")))
            .await,
        "create_user",
    );
    let account = full_account(&user.id, "github", "1234567");
    assert_eq!(
        ok(store.link_account(account.clone()).await, "link_account"),
        account,
        "store failed: link_account must return the account as stored"
    );
    let read = ok(store.get_account("github", "1234567").await, "get_account")
        .expect("store failed: get_account must find a linked account");
    assert_eq!(
        read, account,
        "store failed: get_account must return every field as linked"
    );
    // SecretString's Eq is over content; compare exposed values too, to name the field.
    assert_eq!(
        read.access_token.as_ref().map(SecretString::expose),
        Some("at-1234567"),
        "store failed: access_token must round-trip"
    );
    assert_eq!(
        read.refresh_token.as_ref().map(SecretString::expose),
        Some("rt-1234567"),
        "store failed: refresh_token must round-trip"
    );
    assert_eq!(
        read.id_token.as_ref().map(SecretString::expose),
        Some("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
        "store failed: id_token must round-trip"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "1234567").await,
            "get_user_by_account"
        ),
        Some(user.clone()),
        "store failed: get_user_by_account must find the linked user"
    );

    // A user may have several accounts, at different providers.
    let google = full_account(&user.id, "google", "1234567-g");
    ok(
        store.link_account(google.clone()).await,
        "link_account of a second provider for the same user",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("google", "1234567-g").await,
            "get_user_by_account"
        ),
        Some(user),
        "store failed: a user's second account must lead to the same user"
    );
    assert_eq!(
        ok(
            store.get_account("google", "1234567-g").await,
            "get_account"
        ),
        Some(google),
        "store failed: get_account must return the second account"
    );
}

/// An account with every optional field `None` reads back with `None`s.
pub async fn link_account_without_tokens_round_trips(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Bare", Some("bare@example.com")))
            .await,
        "create_user",
    );
    let account = bare_account(&user.id, "email", "bare@example.com");
    ok(
        store.link_account(account.clone()).await,
        "link_account without tokens",
    );
    assert_eq!(
        ok(
            store.get_account("email", "bare@example.com").await,
            "get_account"
        ),
        Some(account),
        "store failed: None token fields must read back as None"
    );
}

/// Lookups match both provider id and provider account id exactly. In particular, v3's
/// `compoundId` joins them with `:`, so (`a:b`, `c`) and (`a`, `b:c`) have the same
/// compound id; a store keyed by it must not hand one's user to the other (it may refuse
/// the second link with `Conflict` instead).
pub async fn provider_account_lookup_is_exact(store: Arc<dyn Store>) {
    let first = ok(
        store.create_user(new_user("First", None)).await,
        "create_user",
    );
    let second = ok(
        store.create_user(new_user("Second", None)).await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&first.id, "corp:staging", "42"))
            .await,
        "link_account",
    );
    for (provider, id) in [
        ("corp:staging", "4"),
        ("corp:staging", "420"),
        ("corp:staging", ""),
        ("corp", "staging:42"),
        ("CORP:STAGING", "42"),
        ("corp:staging ", "42"),
        ("github", "42"),
    ] {
        assert_eq!(
            ok(
                store.get_user_by_account(provider, id).await,
                "get_user_by_account of an unlinked provider account"
            ),
            None,
            "store failed: get_user_by_account({provider:?}, {id:?}) must not match the account \
             (\"corp:staging\", \"42\")"
        );
        assert_eq!(
            ok(
                store.get_account(provider, id).await,
                "get_account of an unlinked provider account"
            ),
            None,
            "store failed: get_account({provider:?}, {id:?}) must not match the account \
             (\"corp:staging\", \"42\")"
        );
    }
    // Same provider account id at another provider is another account.
    ok(
        store
            .link_account(full_account(&second.id, "github", "42"))
            .await,
        "link_account of the same provider account id at another provider",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "42").await,
            "get_user_by_account"
        ),
        Some(second.clone()),
        "store failed: the same provider account id at two providers must be two accounts"
    );
    // The ambiguous pair: either linked as its own account, or refused; never confused.
    match store
        .link_account(full_account(&second.id, "corp", "staging:42"))
        .await
    {
        Ok(_) => {
            assert_eq!(
                ok(
                    store.get_user_by_account("corp", "staging:42").await,
                    "get_user_by_account"
                ),
                Some(second),
                "store failed: (\"corp\", \"staging:42\") must lead to the user it was linked to"
            );
        }
        Err(StoreError::Conflict(_)) => {
            assert_eq!(
                ok(
                    store.get_user_by_account("corp", "staging:42").await,
                    "get_user_by_account"
                ),
                None,
                "store failed: a refused link must not make (\"corp\", \"staging:42\") resolve"
            );
        }
        Err(other) => panic!(
            "store failed: link_account of a provider account whose compound id collides \
             must succeed or be Conflict, got {other}"
        ),
    }
    assert_eq!(
        ok(
            store.get_user_by_account("corp:staging", "42").await,
            "get_user_by_account"
        ),
        Some(first),
        "store failed: (\"corp:staging\", \"42\") must still lead to its own user"
    );
}

/// A provider account links to one user only: a second link is `Conflict` and the first
/// link stays.
pub async fn link_account_twice_conflicts(store: Arc<dyn Store>) {
    let owner = ok(
        store.create_user(new_user("Owner", None)).await,
        "create_user",
    );
    let intruder = ok(
        store.create_user(new_user("Intruder", None)).await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&owner.id, "github", "777"))
            .await,
        "link_account",
    );
    assert_conflict(
        store
            .link_account(full_account(&intruder.id, "github", "777"))
            .await,
        "link_account of a provider account linked to another user",
    );
    assert_conflict(
        store
            .link_account(bare_account(&owner.id, "github", "777"))
            .await,
        "link_account of a provider account linked to the same user",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "777").await,
            "get_user_by_account"
        ),
        Some(owner.clone()),
        "store failed: a refused link_account must leave the account with its first user"
    );
    assert_eq!(
        ok(store.get_account("github", "777").await, "get_account"),
        Some(full_account(&owner.id, "github", "777")),
        "store failed: a refused link_account must not overwrite the stored tokens"
    );
}

/// 20 concurrent links of one provider account to different users: exactly one wins.
pub async fn link_account_race_has_one_winner(store: Arc<dyn Store>) {
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(ok(
            store
                .create_user(new_user(&format!("Racer {i}"), None))
                .await,
            "create_user",
        ));
    }
    let users = Arc::new(users);
    let behaviour = "concurrent link_account of one provider account";
    let results = race(&store, 20, behaviour, |store, i| {
        let users = Arc::clone(&users);
        async move {
            store
                .link_account(full_account(&users[i].id, "github", "contested"))
                .await
        }
    })
    .await;
    assert_one_winner_rest_conflict(&results, behaviour);
    let winner = results
        .into_iter()
        .find_map(Result::ok)
        .expect("one winner");
    let winner_user = users
        .iter()
        .find(|u| u.id == winner.user_id)
        .cloned()
        .expect("store failed: link_account returned an account for a user it was not given");
    assert_eq!(
        ok(
            store.get_user_by_account("github", "contested").await,
            "get_user_by_account"
        ),
        Some(winner_user),
        "store failed: after a link_account race the account must lead to the winner"
    );
}

/// `unlink_account` removes the link (the user stays), is idempotent, and the provider
/// account can be linked again afterwards.
pub async fn unlink_account_removes_the_link(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Unlinker", Some("unlinker@example.com")))
            .await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&user.id, "github", "55"))
            .await,
        "link_account",
    );
    ok(
        store
            .link_account(full_account(&user.id, "gitlab", "55"))
            .await,
        "link_account",
    );
    ok(store.unlink_account("github", "55").await, "unlink_account");
    assert_eq!(
        ok(store.get_account("github", "55").await, "get_account"),
        None,
        "store failed: unlink_account must remove the account"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "55").await,
            "get_user_by_account"
        ),
        None,
        "store failed: an unlinked account must no longer lead to the user"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("gitlab", "55").await,
            "get_user_by_account"
        ),
        Some(user.clone()),
        "store failed: unlink_account must leave the user's other accounts"
    );
    assert_eq!(
        ok(store.get_user(&user.id).await, "get_user"),
        Some(user.clone()),
        "store failed: unlink_account must leave the user"
    );
    ok(
        store.unlink_account("github", "55").await,
        "unlink_account of an account already unlinked",
    );
    ok(
        store.unlink_account("nowhere", "0").await,
        "unlink_account of an account never linked",
    );
    let other = ok(
        store.create_user(new_user("Next owner", None)).await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&other.id, "github", "55"))
            .await,
        "link_account of a provider account that was unlinked",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "55").await,
            "get_user_by_account"
        ),
        Some(other),
        "store failed: a re-linked account must lead to its new user"
    );
}

/// `get_accounts_for_user` returns exactly the user's accounts, every field as linked,
/// oldest link first; an unknown user has none.
pub async fn get_accounts_for_user_lists_the_users_accounts(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Many", None)).await,
        "create_user",
    );
    let other = ok(
        store.create_user(new_user("Neighbour", None)).await,
        "create_user",
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        Vec::<Account>::new(),
        "store failed: a user without accounts must list none"
    );
    // Linked in an order that is neither the order of provider ids, provider account ids,
    // provider types nor compound ids (or its reverse), with another user's accounts (one
    // at the same provider) in between.
    let gitlab = full_account(&user.id, "gitlab", "m-2");
    let apple = bare_account(&user.id, "apple", "m-3");
    let github = full_account(&user.id, "github", "m-1");
    let foreign = full_account(&other.id, "github", "n-1");
    let foreign_too = bare_account(&other.id, "gitlab", "n-2");
    for account in [&gitlab, &foreign, &apple, &foreign_too, &github] {
        ok(store.link_account(account.clone()).await, "link_account");
    }
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        vec![gitlab, apple, github],
        "store failed: get_accounts_for_user must return exactly the user's accounts, every \
         field as linked, oldest link first"
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&other.id).await,
            "get_accounts_for_user"
        ),
        vec![foreign, foreign_too],
        "store failed: get_accounts_for_user must not mix users"
    );
    // Unknown ids in the shapes stores issue (a decimal, an ObjectId's hex) and others.
    for unknown in ["161803398874", "0123456789abcdef01234567", "", "nobody"] {
        assert_eq!(
            ok(
                store.get_accounts_for_user(unknown).await,
                "get_accounts_for_user of an unknown user"
            ),
            Vec::<Account>::new(),
            "store failed: get_accounts_for_user({unknown:?}) of an unknown user must be empty"
        );
    }
}

/// An unlinked account is no longer listed; linked again, it is the newest link.
pub async fn get_accounts_for_user_follows_unlink_and_relink(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Relinker", None)).await,
        "create_user",
    );
    let first = full_account(&user.id, "github", "r-1");
    let second = full_account(&user.id, "google", "r-2");
    let third = bare_account(&user.id, "email", "relinker@example.com");
    for account in [&first, &second, &third] {
        ok(store.link_account(account.clone()).await, "link_account");
    }
    ok(
        store.unlink_account("google", "r-2").await,
        "unlink_account",
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        vec![first.clone(), third.clone()],
        "store failed: an unlinked account must no longer be listed"
    );
    ok(
        store.link_account(second.clone()).await,
        "link_account of an unlinked account",
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        vec![first, third, second],
        "store failed: an account linked again must be listed as the newest link"
    );
    for (provider, id) in [
        ("github", "r-1"),
        ("google", "r-2"),
        ("email", "relinker@example.com"),
    ] {
        ok(store.unlink_account(provider, id).await, "unlink_account");
    }
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        Vec::<Account>::new(),
        "store failed: a user whose accounts are all unlinked must list none"
    );
    assert_eq!(
        ok(store.get_user(&user.id).await, "get_user"),
        Some(user),
        "store failed: unlinking every account must leave the user"
    );
}

/// `update_account_tokens` with the stored refresh token replaces every token field (and
/// nothing else), returns the account as stored, and `get_account` reads it back; a
/// refresh may also clear every token.
pub async fn update_account_tokens_replaces_every_token(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Refresher", Some("refresher@example.com")))
            .await,
        "create_user",
    );
    let github = full_account(&user.id, "github", "31");
    // Same provider account id at another provider: the same refresh token value "rt-31".
    let gitlab = full_account(&user.id, "gitlab", "31");
    ok(store.link_account(github.clone()).await, "link_account");
    ok(store.link_account(gitlab.clone()).await, "link_account");

    let tokens = refreshed_tokens(Some("rt-31-next"));
    let updated = tokens.clone().apply_to(github.clone());
    assert_eq!(
        ok(
            store
                .update_account_tokens("github", "31", Some("rt-31"), tokens)
                .await,
            "update_account_tokens with the stored refresh token"
        ),
        Some(updated.clone()),
        "store failed: update_account_tokens must return the account with the new tokens"
    );
    let read = ok(store.get_account("github", "31").await, "get_account")
        .expect("store failed: an account whose tokens were updated must still be linked");
    assert_eq!(
        read, updated,
        "store failed: get_account must read back every token update_account_tokens stored"
    );
    // SecretString's Eq is over content; compare exposed values too, to name the field.
    assert_eq!(
        read.refresh_token.as_ref().map(SecretString::expose),
        Some("rt-31-next"),
        "store failed: the rotated refresh_token must be stored"
    );
    assert_eq!(
        read.access_token.as_ref().map(SecretString::expose),
        Some("at-refreshed"),
        "store failed: the new access_token must be stored"
    );
    assert_eq!(
        read.id_token.as_ref().map(SecretString::expose),
        Some(REFRESHED_ID_TOKEN),
        "store failed: the new id_token must be stored"
    );
    assert_eq!(
        ok(store.get_account("gitlab", "31").await, "get_account"),
        Some(gitlab),
        "store failed: update_account_tokens must change only the account it names"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "31").await,
            "get_user_by_account"
        ),
        Some(user),
        "store failed: update_account_tokens must leave the account linked to its user"
    );

    let cleared = tokens_none();
    let emptied = cleared.clone().apply_to(github);
    assert_eq!(
        ok(
            store
                .update_account_tokens("github", "31", Some("rt-31-next"), cleared)
                .await,
            "update_account_tokens clearing every token"
        ),
        Some(emptied.clone()),
        "store failed: update_account_tokens must be able to clear every token"
    );
    assert_eq!(
        ok(store.get_account("github", "31").await, "get_account"),
        Some(emptied),
        "store failed: cleared tokens must read back as None"
    );
}

/// An expected refresh token that is not the stored one — another value, another case,
/// a prefix, trailing space, empty, or `None` — is `Ok(None)` and changes nothing; the
/// stored one still works afterwards.
pub async fn update_account_tokens_stale_refresh_token_is_none(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Stale", None)).await,
        "create_user",
    );
    let account = full_account(&user.id, "google", "58");
    ok(store.link_account(account.clone()).await, "link_account");
    for stale in [
        Some("rt-57"),
        Some("RT-58"),
        Some("rt-58 "),
        Some(" rt-58"),
        Some("rt-5"),
        Some("rt-5%"),
        Some(""),
        None,
    ] {
        assert_eq!(
            ok(
                store
                    .update_account_tokens(
                        "google",
                        "58",
                        stale,
                        refreshed_tokens(Some("rt-stale"))
                    )
                    .await,
                "update_account_tokens with a refresh token that is not the stored one"
            ),
            None,
            "store failed: update_account_tokens expecting {stale:?} must not match the stored \
             refresh token \"rt-58\""
        );
    }
    assert_eq!(
        ok(store.get_account("google", "58").await, "get_account"),
        Some(account.clone()),
        "store failed: a refused update_account_tokens must change nothing"
    );
    let tokens = refreshed_tokens(Some("rt-59"));
    assert_eq!(
        ok(
            store
                .update_account_tokens("google", "58", Some("rt-58"), tokens.clone())
                .await,
            "update_account_tokens with the stored refresh token"
        ),
        Some(tokens.apply_to(account)),
        "store failed: after refused updates the stored refresh token must still match"
    );
    assert_eq!(
        ok(
            store
                .update_account_tokens("google", "58", Some("rt-58"), tokens_none())
                .await,
            "update_account_tokens with the refresh token just rotated away"
        ),
        None,
        "store failed: a rotated-away refresh token must no longer match"
    );
}

/// No such provider account (never linked, another pair with the same compound id, a
/// near miss, or unlinked) is `NotFound`, and nothing is created or changed.
pub async fn update_account_tokens_unknown_account_not_found(store: Arc<dyn Store>) {
    assert_not_found(
        store
            .update_account_tokens("github", "404", Some("rt-404"), refreshed_tokens(Some("x")))
            .await,
        "update_account_tokens of an account never linked",
    );
    assert_eq!(
        ok(store.get_account("github", "404").await, "get_account"),
        None,
        "store failed: update_account_tokens of an unknown account must not create it"
    );
    let user = ok(
        store.create_user(new_user("Exact", None)).await,
        "create_user",
    );
    let linked = full_account(&user.id, "corp:staging", "42");
    ok(store.link_account(linked.clone()).await, "link_account");
    for (provider, id) in [
        ("corp", "staging:42"),
        ("corp:staging", "4"),
        ("CORP:STAGING", "42"),
        ("github", "42"),
    ] {
        assert_not_found(
            store
                .update_account_tokens(provider, id, Some("rt-42"), refreshed_tokens(Some("x")))
                .await,
            &format!(
                "update_account_tokens({provider:?}, {id:?}) while only (\"corp:staging\", \
                 \"42\") is linked"
            ),
        );
    }
    assert_eq!(
        ok(store.get_account("corp:staging", "42").await, "get_account"),
        Some(linked),
        "store failed: update_account_tokens of another pair must not touch this account"
    );
    ok(
        store.unlink_account("corp:staging", "42").await,
        "unlink_account",
    );
    assert_not_found(
        store
            .update_account_tokens(
                "corp:staging",
                "42",
                Some("rt-42"),
                refreshed_tokens(Some("x")),
            )
            .await,
        "update_account_tokens of an unlinked account",
    );
}

/// Expecting `None` matches an account stored without a refresh token (and only such an
/// account: an empty string is not "none").
pub async fn update_account_tokens_none_expected_matches_no_refresh_token(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Tokenless", None)).await,
        "create_user",
    );
    let bare = bare_account(&user.id, "apple", "77");
    ok(store.link_account(bare.clone()).await, "link_account");
    for expected in [Some("rt-77"), Some("")] {
        assert_eq!(
            ok(
                store
                    .update_account_tokens("apple", "77", expected, refreshed_tokens(Some("x")))
                    .await,
                "update_account_tokens expecting a refresh token where none is stored"
            ),
            None,
            "store failed: expecting {expected:?} must not match an account without refresh token"
        );
    }
    assert_eq!(
        ok(store.get_account("apple", "77").await, "get_account"),
        Some(bare.clone()),
        "store failed: a refused update_account_tokens must change nothing"
    );

    let first = refreshed_tokens(Some("rt-first"));
    let updated = first.clone().apply_to(bare.clone());
    assert_eq!(
        ok(
            store
                .update_account_tokens("apple", "77", None, first)
                .await,
            "update_account_tokens expecting no refresh token on an account without one"
        ),
        Some(updated.clone()),
        "store failed: expecting None must match an account stored without refresh token"
    );
    assert_eq!(
        ok(store.get_account("apple", "77").await, "get_account"),
        Some(updated.clone()),
        "store failed: get_account must read back the tokens stored"
    );
    assert_eq!(
        ok(
            store
                .update_account_tokens("apple", "77", None, tokens_none())
                .await,
            "update_account_tokens expecting no refresh token on an account with one"
        ),
        None,
        "store failed: expecting None must not match an account with a refresh token"
    );

    // A token response without a refresh token stores none, which `None` then matches.
    let without = refreshed_tokens(None);
    ok(
        store
            .update_account_tokens("apple", "77", Some("rt-first"), without.clone())
            .await,
        "update_account_tokens storing no refresh token",
    )
    .expect("store failed: update_account_tokens with the stored refresh token must match");
    assert_eq!(
        ok(
            store
                .update_account_tokens("apple", "77", None, without.clone())
                .await,
            "update_account_tokens expecting no refresh token after one was cleared"
        ),
        Some(without.apply_to(bare)),
        "store failed: expecting None must match once the refresh token was cleared"
    );
}

/// 20 concurrent refreshes from one refresh token, each storing its own rotated token:
/// exactly one gets `Some`, every other `Ok(None)`, and the winner's tokens are stored.
pub async fn update_account_tokens_race_has_one_winner(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Racer", None)).await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&user.id, "github", "rotating"))
            .await,
        "link_account",
    );
    let behaviour = "concurrent update_account_tokens from one refresh token";
    let results = race(&store, 20, behaviour, |store, i| async move {
        let tokens = refreshed_tokens(Some(&format!("rt-rotating-{i}")));
        store
            .update_account_tokens("github", "rotating", Some("rt-rotating"), tokens)
            .await
    })
    .await;
    let mut winners = Vec::new();
    for result in results {
        match result {
            Ok(Some(account)) => winners.push(account),
            Ok(None) => {}
            Err(error) => panic!(
                "store failed: {behaviour}: a losing call must be Ok(None), got error {error}"
            ),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "store failed: {behaviour}: expected exactly one Some among 20 racing calls, got {}",
        winners.len()
    );
    let winner = winners.pop();
    assert_eq!(
        ok(store.get_account("github", "rotating").await, "get_account"),
        winner,
        "store failed: after an update_account_tokens race the winner's tokens must be stored"
    );
}

/// `delete_user` removes the user, its e-mail, its accounts and its sessions, and leaves
/// every other user's data alone.
pub async fn delete_user_cascades_to_accounts_and_sessions(store: Arc<dyn Store>) {
    let doomed = ok(
        store
            .create_user(new_user("Doomed", Some("doomed@example.com")))
            .await,
        "create_user",
    );
    let bystander = ok(
        store
            .create_user(new_user("Bystander", Some("bystander@example.com")))
            .await,
        "create_user",
    );
    for (user, id) in [(&doomed, "d1"), (&doomed, "d2"), (&bystander, "b1")] {
        ok(
            store
                .link_account(full_account(&user.id, "github", id))
                .await,
            "link_account",
        );
    }
    for (user, n) in [(&doomed, 1), (&doomed, 2), (&bystander, 3)] {
        ok(
            store
                .create_session(session(&user.id, n, SESSION_EXPIRES))
                .await,
            "create_session",
        );
    }

    ok(store.delete_user(&doomed.id).await, "delete_user");

    assert_eq!(
        ok(store.get_user(&doomed.id).await, "get_user"),
        None,
        "store failed: delete_user must remove the user"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("doomed@example.com").await,
            "get_user_by_email"
        ),
        None,
        "store failed: delete_user must remove the user's e-mail"
    );
    for id in ["d1", "d2"] {
        assert_eq!(
            ok(
                store.get_user_by_account("github", id).await,
                "get_user_by_account"
            ),
            None,
            "store failed: delete_user must remove the user's accounts"
        );
        assert_eq!(
            ok(store.get_account("github", id).await, "get_account"),
            None,
            "store failed: delete_user must remove the user's accounts"
        );
    }
    for n in [1, 2] {
        assert_eq!(
            ok(
                store.get_session_and_user(&[&hex_token('5', n)]).await,
                "get_session_and_user"
            ),
            None,
            "store failed: delete_user must remove the user's sessions"
        );
    }
    assert_eq!(
        ok(store.list_sessions(&doomed.id).await, "list_sessions"),
        Vec::<Session>::new(),
        "store failed: a deleted user must have no sessions listed"
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&doomed.id).await,
            "get_accounts_for_user"
        ),
        Vec::<Account>::new(),
        "store failed: a deleted user must have no accounts listed"
    );

    assert_eq!(
        ok(store.get_user(&bystander.id).await, "get_user"),
        Some(bystander.clone()),
        "store failed: delete_user must leave other users"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "b1").await,
            "get_user_by_account"
        ),
        Some(bystander.clone()),
        "store failed: delete_user must leave other users' accounts"
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&bystander.id).await,
            "get_accounts_for_user"
        ),
        vec![full_account(&bystander.id, "github", "b1")],
        "store failed: delete_user must leave other users' accounts listed"
    );
    assert_eq!(
        ok(
            store.get_session_and_user(&[&hex_token('5', 3)]).await,
            "get_session_and_user"
        ),
        Some((
            session(&bystander.id, 3, SESSION_EXPIRES),
            bystander.clone()
        )),
        "store failed: delete_user must leave other users' sessions"
    );

    // The freed e-mail and provider accounts can be used again.
    let again = ok(
        store
            .create_user(new_user("Again", Some("doomed@example.com")))
            .await,
        "create_user with the e-mail of a deleted user",
    );
    ok(
        store
            .link_account(full_account(&again.id, "github", "d1"))
            .await,
        "link_account of a provider account of a deleted user",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "d1").await,
            "get_user_by_account"
        ),
        Some(again),
        "store failed: a provider account freed by delete_user must link to its new user"
    );
}

/// Deleting an unknown user (or one already deleted) is not an error.
pub async fn delete_user_unknown_id_is_ok(store: Arc<dyn Store>) {
    ok(
        store.delete_user("31415926535").await,
        "delete_user of an unknown id",
    );
    let user = ok(
        store.create_user(new_user("Once", None)).await,
        "create_user",
    );
    ok(store.delete_user(&user.id).await, "delete_user");
    ok(
        store.delete_user(&user.id).await,
        "delete_user of a user already deleted",
    );
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

/// `create_session` returns the session; `get_session_and_user` reads session and user
/// back in one call; an unknown token is `None`.
pub async fn create_session_then_get_session_and_user(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Sessioned", Some("sessioned@example.com")))
            .await,
        "create_user",
    );
    let input = session(&user.id, 1, SESSION_EXPIRES);
    assert_eq!(
        ok(store.create_session(input.clone()).await, "create_session"),
        input,
        "store failed: create_session must return the session as stored"
    );
    let (read, read_user) = ok(
        store
            .get_session_and_user(&[input.session_token.expose()])
            .await,
        "get_session_and_user",
    )
    .expect("store failed: get_session_and_user must find a created session");
    assert_eq!(
        read, input,
        "store failed: get_session_and_user must return the session as created"
    );
    assert_eq!(
        read.access_token.expose(),
        input.access_token.expose(),
        "store failed: the session's access_token must round-trip"
    );
    assert_eq!(
        read_user, user,
        "store failed: get_session_and_user must return the session's user"
    );
    for unknown in [hex_token('5', 2), hex_token('a', 1), String::new()] {
        assert_eq!(
            ok(
                store.get_session_and_user(&[&unknown]).await,
                "get_session_and_user of an unknown token"
            ),
            None,
            "store failed: get_session_and_user of an unknown token (or of the session's \
             access_token) must be None"
        );
    }
}

/// A second session with a session token already stored is `Conflict`, and the first
/// session is unchanged.
pub async fn create_session_duplicate_token_conflicts(store: Arc<dyn Store>) {
    let owner = ok(
        store.create_user(new_user("Owner", None)).await,
        "create_user",
    );
    let other = ok(
        store.create_user(new_user("Other", None)).await,
        "create_user",
    );
    let first = session(&owner.id, 9, SESSION_EXPIRES);
    ok(store.create_session(first.clone()).await, "create_session");
    let mut duplicate = session(&other.id, 10, SESSION_EXPIRES + Duration::days(1));
    duplicate.session_token = first.session_token.clone();
    assert_conflict(
        store.create_session(duplicate).await,
        "create_session with a session token already stored",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[first.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((first, owner)),
        "store failed: a refused create_session must leave the first session and its user"
    );
    assert_eq!(
        ok(store.list_sessions(&other.id).await, "list_sessions"),
        Vec::<Session>::new(),
        "store failed: a refused create_session must not list a session for its user"
    );
}

/// A session whose user does not exist reads as `None`. A store may refuse to create
/// such a session (a foreign key); if it stores it, it must not return it.
pub async fn session_without_user_reads_none(store: Arc<dyn Store>) {
    let orphan = session("271828182845", 4, SESSION_EXPIRES);
    if store.create_session(orphan.clone()).await.is_ok() {
        assert_eq!(
            ok(
                store
                    .get_session_and_user(&[orphan.session_token.expose()])
                    .await,
                "get_session_and_user of a session without a user"
            ),
            None,
            "store failed: a session whose user does not exist must read as None"
        );
    }
    let user = ok(
        store.create_user(new_user("Gone", None)).await,
        "create_user",
    );
    let gone = session(&user.id, 5, SESSION_EXPIRES);
    ok(store.create_session(gone.clone()).await, "create_session");
    ok(store.delete_user(&user.id).await, "delete_user");
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[gone.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        None,
        "store failed: a session whose user was deleted must read as None"
    );
}

/// Stores do not read the clock: an expired session is returned like any other.
pub async fn expired_session_is_still_returned(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Expired", None)).await,
        "create_user",
    );
    let expired = session(&user.id, 6, LONG_AGO);
    ok(
        store.create_session(expired.clone()).await,
        "create_session of an expired session",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[expired.session_token.expose()])
                .await,
            "get_session_and_user of an expired session"
        ),
        Some((expired.clone(), user.clone())),
        "store failed: an expired session must still be returned (the caller decides)"
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![expired],
        "store failed: list_sessions must include expired sessions"
    );
}

/// `update_session_expiry` moves the expiry of one session and nothing else.
pub async fn update_session_expiry_moves_expiry(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Slider", None)).await,
        "create_user",
    );
    let sliding = session(&user.id, 1, SESSION_EXPIRES);
    let steady = session(&user.id, 2, SESSION_EXPIRES + Duration::hours(1));
    ok(
        store.create_session(sliding.clone()).await,
        "create_session",
    );
    ok(store.create_session(steady.clone()).await, "create_session");
    let later = SESSION_EXPIRES + Duration::days(30);
    ok(
        store
            .update_session_expiry(sliding.session_token.expose(), later)
            .await,
        "update_session_expiry",
    );
    let moved = Session {
        expires: later,
        ..sliding.clone()
    };
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[sliding.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((moved.clone(), user.clone())),
        "store failed: update_session_expiry must change the expiry and keep every other field"
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[steady.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((steady.clone(), user.clone())),
        "store failed: update_session_expiry must leave other sessions"
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![steady, moved],
        "store failed: list_sessions must order by the updated expiry"
    );
    // Moving it into the past is allowed too (the domain may shorten a session).
    ok(
        store
            .update_session_expiry(sliding.session_token.expose(), LONG_AGO)
            .await,
        "update_session_expiry to a past instant",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[sliding.session_token.expose()])
                .await,
            "get_session_and_user"
        )
        .map(|(s, _)| s.expires),
        Some(LONG_AGO),
        "store failed: update_session_expiry must store a past expiry as given"
    );
}

/// `update_session_expiry` of an unknown token is `NotFound` and creates nothing.
pub async fn update_session_expiry_unknown_not_found(store: Arc<dyn Store>) {
    let token = hex_token('5', 404);
    assert_not_found(
        store.update_session_expiry(&token, SESSION_EXPIRES).await,
        "update_session_expiry of an unknown session token",
    );
    assert_eq!(
        ok(
            store.get_session_and_user(&[&token]).await,
            "get_session_and_user"
        ),
        None,
        "store failed: update_session_expiry of an unknown token must not create a session"
    );
}

/// `delete_session` removes one session; deleting it again, or an unknown one, is fine.
pub async fn delete_session_is_idempotent(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Leaver", None)).await,
        "create_user",
    );
    let leaving = session(&user.id, 1, SESSION_EXPIRES);
    let staying = session(&user.id, 2, SESSION_EXPIRES);
    ok(
        store.create_session(leaving.clone()).await,
        "create_session",
    );
    ok(
        store.create_session(staying.clone()).await,
        "create_session",
    );
    ok(
        store.delete_session(leaving.session_token.expose()).await,
        "delete_session",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[leaving.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        None,
        "store failed: delete_session must remove the session"
    );
    ok(
        store.delete_session(leaving.session_token.expose()).await,
        "delete_session of a session already deleted",
    );
    ok(
        store.delete_session(&hex_token('5', 999)).await,
        "delete_session of an unknown session token",
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![staying.clone()],
        "store failed: delete_session must leave the user's other sessions"
    );
    assert_eq!(
        ok(store.get_user(&user.id).await, "get_user"),
        Some(user),
        "store failed: delete_session must leave the user"
    );
    // A deleted token can be stored again (tokens are random; this only checks cleanup).
    ok(
        store.create_session(leaving).await,
        "create_session with the token of a deleted session",
    );
}

/// `get_session_and_user` takes the candidate keys of one cookie (its `sha256:` key and the
/// raw token, `portcullis_domain::session_key`) and finds a session stored under either, in
/// one lookup, returning the key that matched; `update_session_expiry` and `delete_session`
/// by that key reach the same row. A hashed row and a v3 raw row live side by side.
pub async fn session_lookup_matches_hashed_or_raw_key(store: Arc<dyn Store>) {
    use portcullis_domain::session_key::{hashed_key, SessionKeys};
    let user = ok(
        store.create_user(new_user("Keyholder", None)).await,
        "create_user",
    );
    let new_cookie = hex_token('6', 1);
    let v3_cookie = hex_token('6', 2);
    let mut hashed = session(&user.id, 1, SESSION_EXPIRES);
    hashed.session_token = SecretString::new(hashed_key(&new_cookie));
    let mut raw = session(&user.id, 2, SESSION_EXPIRES);
    raw.session_token = SecretString::new(v3_cookie.clone());
    ok(store.create_session(hashed.clone()).await, "create_session");
    ok(store.create_session(raw.clone()).await, "create_session");

    let lookup = |cookie: &str| SessionKeys::for_cookie(cookie).expect("a cookie value");
    for (cookie, stored) in [(&new_cookie, &hashed), (&v3_cookie, &raw)] {
        let keys = lookup(cookie);
        let (found, found_user) = ok(
            store.get_session_and_user(&keys.exposed()).await,
            "get_session_and_user by candidate keys",
        )
        .expect(
            "store failed: get_session_and_user must find a session stored under any of the keys",
        );
        assert_eq!(
            &found, stored,
            "store failed: get_session_and_user must return the session as stored, under the key that matched"
        );
        assert_eq!(found_user, user);
    }
    let unknown = lookup(&hex_token('6', 3));
    assert_eq!(
        ok(
            store.get_session_and_user(&unknown.exposed()).await,
            "get_session_and_user of unknown keys"
        ),
        None
    );
    // The cookie of the hashed row, given as if stored raw, is no key: the store only
    // matches, it never hashes.
    assert_eq!(
        ok(
            store.get_session_and_user(&[new_cookie.as_str()]).await,
            "get_session_and_user by an unhashed token"
        ),
        None,
        "store failed: get_session_and_user must compare keys as given"
    );

    let later = SESSION_EXPIRES + time::Duration::days(1);
    ok(
        store
            .update_session_expiry(hashed.session_token.expose(), later)
            .await,
        "update_session_expiry by the matched (hashed) key",
    );
    let (moved, _) = ok(
        store
            .get_session_and_user(&lookup(&new_cookie).exposed())
            .await,
        "get_session_and_user",
    )
    .expect("the hashed session");
    assert_eq!(moved.expires, later);
    ok(
        store.delete_session(raw.session_token.expose()).await,
        "delete_session by the matched (raw) key",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&lookup(&v3_cookie).exposed())
                .await,
            "get_session_and_user"
        ),
        None,
        "store failed: delete_session by the matched key must remove the raw row"
    );
    ok(
        store.delete_session(hashed.session_token.expose()).await,
        "delete_session by the matched (hashed) key",
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        Vec::<Session>::new()
    );
}

/// `list_sessions` returns exactly the user's sessions, soonest expiry first.
pub async fn list_sessions_soonest_expiry_first(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Lister", None)).await,
        "create_user",
    );
    let other = ok(
        store.create_user(new_user("Other", None)).await,
        "create_user",
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        Vec::<Session>::new(),
        "store failed: a user without sessions must list none"
    );
    // Created in an order that is neither expiry order nor its reverse; tokens sort
    // differently from expiries, so a store ordering by token fails.
    let base = SESSION_EXPIRES;
    let a = session(&user.id, 1, base + Duration::days(3));
    let b = session(&user.id, 2, base + Duration::milliseconds(1));
    let c = session(&user.id, 3, base + Duration::days(10));
    let d = session(&user.id, 4, LONG_AGO);
    let e = session(&user.id, 5, base);
    let foreign = session(&other.id, 6, base + Duration::days(1));
    for s in [&a, &b, &c, &d, &e, &foreign] {
        ok(store.create_session(s.clone()).await, "create_session");
    }
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![d, e, b, a, c],
        "store failed: list_sessions must return exactly the user's sessions, soonest expiry first"
    );
    assert_eq!(
        ok(store.list_sessions(&other.id).await, "list_sessions"),
        vec![foreign],
        "store failed: list_sessions must not mix users"
    );
    assert_eq!(
        ok(
            store.list_sessions("161803398874").await,
            "list_sessions of an unknown user"
        ),
        Vec::<Session>::new(),
        "store failed: list_sessions of an unknown user must be empty"
    );
}

/// `delete_sessions_for_user` deletes every session of the user, says how many, and
/// leaves other users' sessions; a second call deletes 0.
pub async fn delete_sessions_for_user_counts_and_spares_others(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Everywhere", None)).await,
        "create_user",
    );
    let other = ok(
        store.create_user(new_user("Elsewhere", None)).await,
        "create_user",
    );
    for n in 1..=3 {
        ok(
            store
                .create_session(session(
                    &user.id,
                    n,
                    SESSION_EXPIRES + Duration::minutes(n as i64),
                ))
                .await,
            "create_session",
        );
    }
    let kept = session(&other.id, 4, SESSION_EXPIRES);
    ok(store.create_session(kept.clone()).await, "create_session");

    assert_eq!(
        ok(
            store.delete_sessions_for_user(&user.id).await,
            "delete_sessions_for_user"
        ),
        3,
        "store failed: delete_sessions_for_user must return how many sessions it deleted"
    );
    for n in 1..=3 {
        assert_eq!(
            ok(
                store.get_session_and_user(&[&hex_token('5', n)]).await,
                "get_session_and_user"
            ),
            None,
            "store failed: delete_sessions_for_user must delete every session of the user"
        );
    }
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        Vec::<Session>::new(),
        "store failed: after delete_sessions_for_user the user must list no sessions"
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[kept.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((kept, other)),
        "store failed: delete_sessions_for_user must leave other users' sessions"
    );
    assert_eq!(
        ok(
            store.get_user(&user.id).await,
            "get_user after delete_sessions_for_user"
        ),
        Some(user.clone()),
        "store failed: delete_sessions_for_user must leave the user"
    );
    assert_eq!(
        ok(
            store.delete_sessions_for_user(&user.id).await,
            "delete_sessions_for_user of a user without sessions"
        ),
        0,
        "store failed: delete_sessions_for_user of a user without sessions must return 0"
    );
    assert_eq!(
        ok(
            store.delete_sessions_for_user("577215664901").await,
            "delete_sessions_for_user of an unknown user"
        ),
        0,
        "store failed: delete_sessions_for_user of an unknown user must return 0"
    );
}

/// `created` (when the session was signed in) is kept as given, to the millisecond, not
/// stamped from the database's clock: the domain's clock decides it, and the absolute
/// lifetime counts from it. No expiry update moves it.
pub async fn session_created_round_trips(store: Arc<dyn Store>) {
    #[track_caller]
    fn assert_close(got: Option<OffsetDateTime>, want: OffsetDateTime, read: &str) {
        let got = got.unwrap_or_else(|| {
            panic!("store failed: session.created from {read} came back as None")
        });
        assert!(
            (got - want).abs() < Duration::milliseconds(1),
            "store failed: session.created from {read} must be the given instant to the \
             millisecond (not the database's clock): stored {want}, read {got}"
        );
    }
    let user = ok(
        store.create_user(new_user("Signed", None)).await,
        "create_user",
    );
    // Long before any clock this runs on, with sub-millisecond digits and an offset.
    let created = datetime!(2003-04-05 06:07:08.123_456_789 +02:00);
    let s = Session {
        created: Some(created),
        ..session(&user.id, 1, SESSION_EXPIRES)
    };
    ok(store.create_session(s.clone()).await, "create_session");
    for moved in [false, true] {
        if moved {
            ok(
                store
                    .update_session_expiry(
                        s.session_token.expose(),
                        SESSION_EXPIRES + Duration::days(1),
                    )
                    .await,
                "update_session_expiry",
            );
        }
        let after = if moved {
            " after update_session_expiry"
        } else {
            ""
        };
        assert_close(
            ok(
                store
                    .get_session_and_user(&[s.session_token.expose()])
                    .await,
                "get_session_and_user",
            )
            .and_then(|(s, _)| s.created),
            created,
            &format!("get_session_and_user{after}"),
        );
        assert_close(
            ok(store.list_sessions(&user.id).await, "list_sessions")
                .first()
                .and_then(|s| s.created),
            created,
            &format!("list_sessions{after}"),
        );
    }
}

/// A session given without `created` is stored all the same. It reads back as `None`, or
/// (SQL, MongoDB: v3's schema stamps `created_at`/`createdAt` on insert) as the instant
/// the store stamped; either way no expiry update moves it.
pub async fn session_without_created_is_stored(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Unstamped", None)).await,
        "create_user",
    );
    let s = Session {
        created: None,
        ..session(&user.id, 1, SESSION_EXPIRES)
    };
    ok(store.create_session(s.clone()).await, "create_session");
    let (first, _) = ok(
        store
            .get_session_and_user(&[s.session_token.expose()])
            .await,
        "get_session_and_user",
    )
    .expect("store failed: a session created without `created` must be found");
    assert_eq!(
        Session {
            created: None,
            ..first.clone()
        },
        s,
        "store failed: a session created without `created` must read back as created"
    );
    ok(
        store
            .update_session_expiry(
                s.session_token.expose(),
                SESSION_EXPIRES + Duration::days(1),
            )
            .await,
        "update_session_expiry",
    );
    let (second, _) = ok(
        store
            .get_session_and_user(&[s.session_token.expose()])
            .await,
        "get_session_and_user",
    )
    .expect("store failed: the session must still be found");
    assert_eq!(
        second.created, first.created,
        "store failed: update_session_expiry must not move the session's `created`"
    );
}

// ---------------------------------------------------------------------------------------
// JWT revocations (`jwt.revocable`)
// ---------------------------------------------------------------------------------------

/// Instants for revocations: whole milliseconds inside every store's range.
const REVOKED_UNTIL: OffsetDateTime = datetime!(2031-03-04 05:06:07.008 UTC);
const REVOKED_AT: OffsetDateTime = datetime!(2031-03-04 04:06:07.008 UTC);

/// A revoked `jti` reads as revoked; an unknown one, or one differing in case or by a
/// trailing space, does not; revoking one `jti` revokes no other.
pub async fn revoked_jwt_reads_revoked(store: Arc<dyn Store>) {
    let jti = "3f2b8c1e-6d4a-4f7b-9e21-0c5d7a8b9e10";
    assert!(
        !ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
        "store failed: a jti nobody revoked must not read as revoked"
    );
    ok(
        store.revoke_jwt(jti, REVOKED_UNTIL, REVOKED_AT).await,
        "revoke_jwt",
    );
    assert!(
        ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
        "store failed: is_jwt_revoked must be true after revoke_jwt"
    );
    for other in [
        "3F2B8C1E-6D4A-4F7B-9E21-0C5D7A8B9E10",
        "3f2b8c1e-6d4a-4f7b-9e21-0c5d7a8b9e10 ",
        "3f2b8c1e-6d4a-4f7b-9e21-0c5d7a8b9e1",
        "",
    ] {
        assert!(
            !ok(store.is_jwt_revoked(other).await, "is_jwt_revoked"),
            "store failed: revocations must match the jti byte for byte: {other:?} reads revoked"
        );
    }
    // Revocations are not sessions: no session store operation sees them.
    let user = ok(
        store.create_user(new_user("Revoker", None)).await,
        "create_user",
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![],
        "store failed: a revocation must not appear as a session"
    );
}

/// Revoking a revoked `jti` again is not an error (sign-out may be repeated, or race with
/// itself), and it stays revoked.
pub async fn revoke_jwt_twice_is_fine(store: Arc<dyn Store>) {
    let jti = "twice";
    ok(
        store.revoke_jwt(jti, REVOKED_UNTIL, REVOKED_AT).await,
        "revoke_jwt",
    );
    ok(
        store
            .revoke_jwt(jti, REVOKED_UNTIL, REVOKED_AT + Duration::minutes(1))
            .await,
        "revoke_jwt of a revoked jti",
    );
    assert!(
        ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
        "store failed: a jti revoked twice must read as revoked"
    );
    let results = race(
        &store,
        8,
        "racing revoke_jwt of one jti",
        |store, _| async move { store.revoke_jwt("raced", REVOKED_UNTIL, REVOKED_AT).await },
    )
    .await;
    for result in results {
        ok(result, "racing revoke_jwt of one jti (each must succeed)");
    }
    assert!(
        ok(store.is_jwt_revoked("raced").await, "is_jwt_revoked"),
        "store failed: a jti revoked by racing calls must read as revoked"
    );
}

/// `revoke_jwt` drops the revocations whose `expires` is before its `now` (their tokens
/// are refused as expired anyway) and keeps the others, one expiring at `now` included.
pub async fn revoke_jwt_drops_expired_revocations(store: Arc<dyn Store>) {
    let early = REVOKED_UNTIL;
    let at_now = REVOKED_UNTIL + Duration::hours(1);
    let late = REVOKED_UNTIL + Duration::days(1);
    ok(
        store.revoke_jwt("early", early, REVOKED_AT).await,
        "revoke_jwt",
    );
    ok(
        store.revoke_jwt("at-now", at_now, REVOKED_AT).await,
        "revoke_jwt",
    );
    ok(
        store.revoke_jwt("late", late, REVOKED_AT).await,
        "revoke_jwt",
    );
    for jti in ["early", "at-now", "late"] {
        assert!(
            ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
            "store failed: {jti:?} must read as revoked before anything expired"
        );
    }
    // A later revocation, at an instant after `early` expired.
    ok(
        store.revoke_jwt("later", late, at_now).await,
        "revoke_jwt (later)",
    );
    assert!(
        !ok(store.is_jwt_revoked("early").await, "is_jwt_revoked"),
        "store failed: revoke_jwt must drop the revocations that expired before its `now`"
    );
    for jti in ["at-now", "late", "later"] {
        assert!(
            ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
            "store failed: revoke_jwt must keep {jti:?}, which has not expired at its `now`"
        );
    }
    // A revoked jti whose revocation was dropped can be revoked again.
    ok(
        store.revoke_jwt("early", late, at_now).await,
        "revoke_jwt of a jti whose revocation was dropped",
    );
    assert!(
        ok(store.is_jwt_revoked("early").await, "is_jwt_revoked"),
        "store failed: a jti revoked again after its revocation was dropped must read revoked"
    );
}

// ---------------------------------------------------------------------------------------
// Verification tokens (security checklist #1, #2)
// ---------------------------------------------------------------------------------------

/// A verification token is returned by the first `use_verification_token` and never again.
pub async fn verification_token_is_single_use(store: Arc<dyn Store>) {
    let token = verification_token("once@example.com", 1, TOKEN_EXPIRES);
    ok(
        store.create_verification_token(token.clone()).await,
        "create_verification_token",
    );
    assert_eq!(
        ok(
            store
                .use_verification_token(&token.identifier, &token.token_hash)
                .await,
            "use_verification_token"
        ),
        Some(token.clone()),
        "store failed: the first use_verification_token must return the token as created"
    );
    for _ in 0..2 {
        assert_eq!(
            ok(
                store
                    .use_verification_token(&token.identifier, &token.token_hash)
                    .await,
                "use_verification_token of a used token"
            ),
            None,
            "store failed: a verification token must be single-use"
        );
    }
}

/// CVE-2021-21310 / CVE-2022-39263: the token for identifier A does not sign in B, and
/// trying it with B must not consume it for A.
pub async fn verification_token_is_bound_to_identifier(store: Arc<dyn Store>) {
    let for_a = verification_token("a@example.com", 1, TOKEN_EXPIRES);
    let for_b = verification_token("b@example.com", 2, TOKEN_EXPIRES);
    ok(
        store.create_verification_token(for_a.clone()).await,
        "create_verification_token",
    );
    ok(
        store.create_verification_token(for_b.clone()).await,
        "create_verification_token",
    );
    for identifier in [
        "b@example.com",
        "A@example.com",
        "a@example.com ",
        "",
        "%",
        "attacker@evil.example",
    ] {
        assert_eq!(
            ok(
                store
                    .use_verification_token(identifier, &for_a.token_hash)
                    .await,
                "use_verification_token with another identifier"
            ),
            None,
            "store failed: the token of \"a@example.com\" must not be usable with identifier \
             {identifier:?} (CVE-2021-21310)"
        );
    }
    assert_eq!(
        ok(
            store
                .use_verification_token("a@example.com", &for_b.token_hash)
                .await,
            "use_verification_token with another identifier's token"
        ),
        None,
        "store failed: the token of \"b@example.com\" must not be usable with \"a@example.com\""
    );
    assert_eq!(
        ok(
            store
                .use_verification_token("a@example.com", &for_a.token_hash)
                .await,
            "use_verification_token"
        ),
        Some(for_a),
        "store failed: a failed attempt with another identifier must not consume the token"
    );
    assert_eq!(
        ok(
            store
                .use_verification_token("b@example.com", &for_b.token_hash)
                .await,
            "use_verification_token"
        ),
        Some(for_b),
        "store failed: failed attempts with another identifier must not consume the token"
    );
}

/// The right identifier with a wrong hash (or a prefix of the right one) gets `None` and
/// does not consume the token.
pub async fn verification_token_wrong_hash_is_none(store: Arc<dyn Store>) {
    // Hex letters in the hash, so that its upper-case form differs.
    let token = verification_token("hash@example.com", 0xabc_def, TOKEN_EXPIRES);
    ok(
        store.create_verification_token(token.clone()).await,
        "create_verification_token",
    );
    let upper = token.token_hash.to_uppercase();
    assert_ne!(upper, token.token_hash);
    let prefix = &token.token_hash[..32];
    let longer = format!("{}0", token.token_hash);
    for wrong in [
        hex_token('7', 2).as_str(),
        upper.as_str(),
        prefix,
        longer.as_str(),
        "",
        "%",
    ] {
        assert_eq!(
            ok(
                store.use_verification_token(&token.identifier, wrong).await,
                "use_verification_token with a wrong hash"
            ),
            None,
            "store failed: use_verification_token must match the token hash exactly"
        );
    }
    assert_eq!(
        ok(
            store
                .use_verification_token(&token.identifier, &token.token_hash)
                .await,
            "use_verification_token"
        ),
        Some(token),
        "store failed: attempts with wrong hashes must not consume the token"
    );
}

/// Stores do not read the clock: an expired token is returned (and removed); the caller
/// compares `expires` with its own `now`.
pub async fn expired_verification_token_is_returned_and_removed(store: Arc<dyn Store>) {
    let expired = verification_token("late@example.com", 1, LONG_AGO);
    ok(
        store.create_verification_token(expired.clone()).await,
        "create_verification_token of an expired token",
    );
    assert_eq!(
        ok(
            store
                .use_verification_token(&expired.identifier, &expired.token_hash)
                .await,
            "use_verification_token of an expired token"
        ),
        Some(expired.clone()),
        "store failed: an expired verification token must be returned with its expiry"
    );
    assert_eq!(
        ok(
            store
                .use_verification_token(&expired.identifier, &expired.token_hash)
                .await,
            "use_verification_token of a used expired token"
        ),
        None,
        "store failed: an expired verification token must be removed when used"
    );
}

/// Several pending tokens for one identifier are independent: using one leaves the others.
pub async fn verification_tokens_are_independent(store: Arc<dyn Store>) {
    let identifier = "many@example.com";
    let tokens: Vec<_> = (1..=3)
        .map(|n| verification_token(identifier, n, TOKEN_EXPIRES + Duration::minutes(n as i64)))
        .collect();
    for token in &tokens {
        ok(
            store.create_verification_token(token.clone()).await,
            "create_verification_token",
        );
    }
    for token in [&tokens[1], &tokens[0], &tokens[2]] {
        assert_eq!(
            ok(
                store
                    .use_verification_token(identifier, &token.token_hash)
                    .await,
                "use_verification_token"
            ),
            Some(token.clone()),
            "store failed: using one verification token must leave the identifier's others"
        );
    }
}

/// 50 concurrent `use_verification_token` calls on one token: exactly one gets it.
/// Run for a few tokens in turn, since a non-atomic take may win a single race by luck.
pub async fn verification_token_race_has_one_winner(store: Arc<dyn Store>) {
    let behaviour = "concurrent use_verification_token of one token";
    for round in 1..=4 {
        let token = verification_token("race@example.com", round, TOKEN_EXPIRES);
        ok(
            store.create_verification_token(token.clone()).await,
            "create_verification_token",
        );
        let results = race(&store, 50, behaviour, |store, _| {
            let token = token.clone();
            async move {
                store
                    .use_verification_token(&token.identifier, &token.token_hash)
                    .await
            }
        })
        .await;
        let mut winners = Vec::new();
        for result in results {
            match result {
                Ok(Some(found)) => winners.push(found),
                Ok(None) => {}
                Err(error) => panic!("store failed: {behaviour}: a call returned error {error}"),
            }
        }
        assert_eq!(
            winners,
            vec![token.clone()],
            "store failed: of 50 concurrent use_verification_token calls exactly one may get \
             the token (single use must be atomic)"
        );
        assert_eq!(
            ok(
                store
                    .use_verification_token(&token.identifier, &token.token_hash)
                    .await,
                "use_verification_token after the race"
            ),
            None,
            "store failed: the token must be gone after it was used"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// Every timestamp field keeps at least millisecond precision, whatever offset it was
/// given in (stores may return it in UTC; the instant must be the same).
pub async fn timestamps_round_trip_to_the_millisecond(store: Arc<dyn Store>) {
    #[track_caller]
    fn assert_close(got: Option<OffsetDateTime>, want: OffsetDateTime, field: &str) {
        let got = got.unwrap_or_else(|| panic!("store failed: {field} came back as None"));
        let error = (got - want).abs();
        assert!(
            error < Duration::milliseconds(1),
            "store failed: {field} must round-trip to the millisecond: stored {want}, read {got}"
        );
    }
    // Sub-millisecond digits, a non-UTC offset, dates on both sides of 2000.
    let precise = datetime!(2029-11-12 13:14:15.123_456_789 +05:30);
    let early = datetime!(1999-12-31 23:59:59.999_999 -08:00);

    let user = ok(
        store
            .create_user(NewUser {
                email_verified: Some(precise),
                ..new_user("Clock", Some("clock@example.com"))
            })
            .await,
        "create_user",
    );
    assert_close(
        ok(store.get_user(&user.id).await, "get_user").and_then(|u| u.email_verified),
        precise,
        "user.email_verified",
    );
    ok(
        store
            .update_user(User {
                email_verified: Some(early),
                ..user.clone()
            })
            .await,
        "update_user",
    );
    assert_close(
        ok(store.get_user(&user.id).await, "get_user").and_then(|u| u.email_verified),
        early,
        "user.email_verified after update_user",
    );

    ok(
        store
            .link_account(Account {
                access_token_expires: Some(precise),
                ..full_account(&user.id, "github", "clock")
            })
            .await,
        "link_account",
    );
    assert_close(
        ok(store.get_account("github", "clock").await, "get_account")
            .and_then(|a| a.access_token_expires),
        precise,
        "account.access_token_expires",
    );

    let s = session(&user.id, 1, precise);
    ok(store.create_session(s.clone()).await, "create_session");
    assert_close(
        ok(
            store
                .get_session_and_user(&[s.session_token.expose()])
                .await,
            "get_session_and_user",
        )
        .map(|(s, _)| s.expires),
        precise,
        "session.expires",
    );
    ok(
        store
            .update_session_expiry(s.session_token.expose(), early)
            .await,
        "update_session_expiry",
    );
    assert_close(
        ok(
            store
                .get_session_and_user(&[s.session_token.expose()])
                .await,
            "get_session_and_user",
        )
        .map(|(s, _)| s.expires),
        early,
        "session.expires after update_session_expiry",
    );
    assert_close(
        ok(store.list_sessions(&user.id).await, "list_sessions")
            .first()
            .map(|s| s.expires),
        early,
        "session.expires from list_sessions",
    );

    let vt = verification_token("clock@example.com", 1, precise);
    ok(
        store.create_verification_token(vt.clone()).await,
        "create_verification_token",
    );
    assert_close(
        ok(
            store
                .use_verification_token(&vt.identifier, &vt.token_hash)
                .await,
            "use_verification_token",
        )
        .map(|t| t.expires),
        precise,
        "verification_token.expires",
    );
}

/// Text outside ASCII survives every string field: names, addresses, images, provider
/// account ids, identifiers.
pub async fn unicode_survives(store: Arc<dyn Store>) {
    let name = "Zoë Ångström-Łukasiewicz 山田太郎 محمد 👩🏽‍💻 e\u{301}";
    let email = "zoë.山田@exämple.中国";
    let created = ok(
        store
            .create_user(NewUser {
                name: Some(name.to_owned()),
                email: Some(email.to_owned()),
                email_verified: Some(EMAIL_VERIFIED),
                image: Some("https://img.example/ångström/😀.png?q=ü".to_owned()),
            })
            .await,
        "create_user with non-ASCII fields",
    );
    assert_eq!(
        created.name.as_deref(),
        Some(name),
        "store failed: create_user must return a non-ASCII name unchanged"
    );
    assert_eq!(
        ok(store.get_user(&created.id).await, "get_user"),
        Some(created.clone()),
        "store failed: non-ASCII user fields must survive unchanged (no normalisation)"
    );
    assert_eq!(
        ok(store.get_user_by_email(email).await, "get_user_by_email"),
        Some(created.clone()),
        "store failed: get_user_by_email must find a non-ASCII address"
    );
    // Composed vs decomposed forms are different strings: no Unicode normalisation.
    assert_eq!(
        ok(
            store
                .get_user_by_email("zoe\u{308}.山田@exämple.中国")
                .await,
            "get_user_by_email"
        ),
        None,
        "store failed: get_user_by_email must not normalise Unicode"
    );
    let renamed = User {
        name: Some("Émilie Dupré — 李小龍".to_owned()),
        ..created.clone()
    };
    ok(
        store.update_user(renamed.clone()).await,
        "update_user with a non-ASCII name",
    );
    assert_eq!(
        ok(store.get_user(&created.id).await, "get_user"),
        Some(renamed.clone()),
        "store failed: a non-ASCII name must survive update_user"
    );

    let account = full_account(&created.id, "línea", "ユーザー-42");
    ok(
        store.link_account(account.clone()).await,
        "link_account with non-ASCII provider ids",
    );
    assert_eq!(
        ok(
            store.get_account("línea", "ユーザー-42").await,
            "get_account"
        ),
        Some(account),
        "store failed: non-ASCII provider ids must round-trip"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("línea", "ユーザー-42").await,
            "get_user_by_account"
        ),
        Some(renamed.clone()),
        "store failed: get_user_by_account must find non-ASCII provider ids"
    );

    let s = session(&created.id, 1, SESSION_EXPIRES);
    ok(store.create_session(s.clone()).await, "create_session");
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[s.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((s, renamed)),
        "store failed: the user read with a session must keep its non-ASCII fields"
    );

    let vt = verification_token(email, 1, TOKEN_EXPIRES);
    ok(
        store.create_verification_token(vt.clone()).await,
        "create_verification_token with a non-ASCII identifier",
    );
    assert_eq!(
        ok(
            store.use_verification_token(email, &vt.token_hash).await,
            "use_verification_token"
        ),
        Some(vt),
        "store failed: a non-ASCII identifier must round-trip"
    );
}

#[cfg(test)]
mod tests {
    /// Every public case is listed in `store_conformance_tests!`, so none is silently skipped.
    #[test]
    fn every_case_is_in_the_macro() {
        let source = include_str!("lib.rs");
        let (macro_part, cases_part) = source
            .split_once("macro_rules! store_conformance_tests")
            .map(|(_, rest)| rest.split_at(rest.find("pub trait IntoSharedStore").unwrap()))
            .unwrap();
        let cases: Vec<&str> = cases_part
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter_map(|rest| rest.split('(').next())
            .collect();
        assert!(cases.len() >= 30, "found only {} cases", cases.len());
        for case in cases {
            assert!(
                macro_part.contains(&format!("            {case},\n")),
                "conformance case `{case}` is not listed in store_conformance_tests!"
            );
        }
    }
}
