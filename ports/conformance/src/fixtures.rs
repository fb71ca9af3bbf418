//! Fixtures the cases share, and assertions that name the store behaviour that broke.

use std::future::Future;
use std::sync::Arc;

use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, VerificationToken};
use portcullis_domain::secret::SecretString;
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use time::macros::datetime;
use time::OffsetDateTime;

/// Whole milliseconds, so every store (µs in SQL, ms in MongoDB) reads them back exactly.
pub(crate) const EMAIL_VERIFIED: OffsetDateTime = datetime!(2021-02-03 04:05:06.789 UTC);
pub(crate) const ACCESS_TOKEN_EXPIRES: OffsetDateTime = datetime!(2031-07-08 09:10:11.123 UTC);
pub(crate) const SESSION_EXPIRES: OffsetDateTime = datetime!(2032-01-01 00:00:00.001 UTC);
pub(crate) const SESSION_CREATED: OffsetDateTime = datetime!(2031-12-01 10:20:30.456 UTC);
pub(crate) const TOKEN_EXPIRES: OffsetDateTime = datetime!(2032-06-30 23:59:59.999 UTC);
pub(crate) const LONG_AGO: OffsetDateTime = datetime!(2001-09-09 01:46:40.5 UTC);

pub(crate) fn new_user(name: &str, email: Option<&str>) -> NewUser {
    NewUser {
        name: Some(name.to_owned()),
        email: email.map(str::to_owned),
        email_verified: Some(EMAIL_VERIFIED),
        image: Some(format!("https://img.example/{name}.png")),
    }
}

pub(crate) fn full_account(user_id: &str, provider_id: &str, provider_account_id: &str) -> Account {
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

pub(crate) const REFRESHED_EXPIRES: OffsetDateTime = datetime!(2033-04-05 06:07:08.901 UTC);
pub(crate) const REFRESHED_ID_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.e30.bmV3";

/// Tokens a refresh could bring: every field differs from [`full_account`]'s.
pub(crate) fn refreshed_tokens(refresh_token: Option<&str>) -> AccountTokens {
    AccountTokens {
        access_token: Some(SecretString::new("at-refreshed")),
        refresh_token: refresh_token.map(SecretString::new),
        access_token_expires: Some(REFRESHED_EXPIRES),
        token_type: Some("DPoP".to_owned()),
        scope: Some("openid email".to_owned()),
        id_token: Some(SecretString::new(REFRESHED_ID_TOKEN)),
    }
}

pub(crate) fn tokens_none() -> AccountTokens {
    AccountTokens {
        access_token: None,
        refresh_token: None,
        access_token_expires: None,
        token_type: None,
        scope: None,
        id_token: None,
    }
}

pub(crate) fn bare_account(user_id: &str, provider_id: &str, provider_account_id: &str) -> Account {
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
pub(crate) fn hex_token(salt: char, n: u64) -> String {
    format!("{salt}{n:063x}")
}

pub(crate) fn session(user_id: &str, n: u64, expires: OffsetDateTime) -> Session {
    Session {
        session_token: SecretString::new(hex_token('5', n)),
        user_id: user_id.to_owned(),
        expires,
        access_token: SecretString::new(hex_token('a', n)),
        created: Some(SESSION_CREATED),
    }
}

pub(crate) fn verification_token(
    identifier: &str,
    n: u64,
    expires: OffsetDateTime,
) -> VerificationToken {
    VerificationToken {
        identifier: identifier.to_owned(),
        token_hash: hex_token('7', n),
        expires,
    }
}

/// The value of a store call that must succeed; otherwise fails naming the behaviour.
#[track_caller]
pub(crate) fn ok<T>(result: Result<T, StoreError>, behaviour: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("store failed: {behaviour}: returned error {error}"),
    }
}

#[track_caller]
pub(crate) fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, behaviour: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("store failed: {behaviour}: expected Err(Conflict), got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, behaviour: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("store failed: {behaviour}: expected Err(NotFound), got {other:?}"),
    }
}

/// How long racing calls may take in all before the suite calls it a deadlock.
pub(crate) const RACE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `n` copies of an operation at once: each task is spawned on the multi-threaded
/// runtime and released together through a barrier, so they genuinely race. A store that
/// deadlocks fails the case after [`RACE_TIMEOUT`] instead of hanging the test run.
pub(crate) async fn race<T, F, Fut>(
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
pub(crate) fn assert_one_winner_rest_conflict<T: std::fmt::Debug>(
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
