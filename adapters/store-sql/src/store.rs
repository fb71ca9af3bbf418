//! [`SqlStore`]: the [`Store`] port on PostgreSQL, MySQL/MariaDB and SQLite.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use time::OffsetDateTime;

use crate::sql::{Dialect, Queries};

/// How often an operation that met a deadlock or a busy database is run again.
pub(crate) const RETRIES: u32 = 5;

/// A [`Store`] on a SQL database, in NextAuth.js v3's schema (spec §10.4).
///
/// Cheap to clone: clones share one connection pool. See the [crate docs](crate) for
/// the schema and how ids, accounts, sessions and verification tokens map onto it.
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pools,
    q: Queries,
    dialect: Dialect,
    /// `Store::upgraded_from_v3`: read at connect, set again by `migrate`.
    upgraded_from_v3: AtomicBool,
}

/// One pool per dialect: the queries are written once and run on whichever is open.
pub(crate) enum Pools {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.inner.dialect)
            .finish_non_exhaustive()
    }
}

/// Runs a body against the open pool, retrying deadlocks and busy databases, and maps
/// its `sqlx::Error` to a `StoreError` for `$op`. `$pool` names the pool in the body.
/// The one-body form is written once and compiled for each dialect; the three-body form
/// gives each dialect its own body.
macro_rules! run {
    ($store:expr, $op:expr, $pool:ident => $body:expr) => {
        run!($store, $op, pg $pool => $body, my $pool => $body, lite $pool => $body)
    };
    ($store:expr, $op:expr,
     pg $pg:ident => $pg_body:expr,
     my $my:ident => $my_body:expr,
     lite $lite:ident => $lite_body:expr) => {{
        use $crate::store::{pause, sqlx_result, Pools, RETRIES};
        let store: &$crate::store::SqlStore = $store;
        let op: $crate::error::Op = $op;
        let mut attempt = 0u32;
        loop {
            let result = match &store.inner.pool {
                Pools::Postgres($pg) => sqlx_result(async { $pg_body }).await,
                Pools::MySql($my) => sqlx_result(async { $my_body }).await,
                Pools::Sqlite($lite) => sqlx_result(async { $lite_body }).await,
            };
            match result {
                Err(e)
                    if attempt < RETRIES
                        && $crate::error::is_retryable(store.inner.dialect, &e) =>
                {
                    attempt += 1;
                    pause(attempt).await;
                }
                other => break other.map_err(|e| $crate::error::map(op, e)),
            }
        }
    }};
}

/// Pins a body's error type to `sqlx::Error` (so `?` works inside it).
async fn sqlx_result<T>(
    body: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    body.await
}

/// A short, growing pause before a retry.
pub(crate) async fn pause(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt * attempt))).await;
}

// Declared after `run!`, which they use.
mod accounts;
mod connect;
mod leases;
mod rows;
mod sessions;
mod tokens;
mod users;

fn no_such_user() -> StoreError {
    StoreError::NotFound("user".to_owned())
}

// The port: each operation is written in the module of its area (users, accounts,
// sessions, tokens).
#[async_trait]
impl Store for SqlStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        users::create_user(self, user).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        users::get_user(self, id).await
    }

    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        users::get_user_by_email(self, email).await
    }

    async fn get_user_by_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<User>, StoreError> {
        users::get_user_by_account(self, provider_id, provider_account_id).await
    }

    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        users::update_user(self, user).await
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        users::delete_user(self, id).await
    }

    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        accounts::link_account(self, account).await
    }

    async fn get_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        accounts::get_account(self, provider_id, provider_account_id).await
    }

    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        accounts::get_accounts_for_user(self, user_id).await
    }

    async fn unlink_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<(), StoreError> {
        accounts::unlink_account(self, provider_id, provider_account_id).await
    }

    async fn update_account_tokens(
        &self,
        provider_id: &str,
        provider_account_id: &str,
        expected_refresh_token: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError> {
        accounts::update_account_tokens(
            self,
            provider_id,
            provider_account_id,
            expected_refresh_token,
            tokens,
        )
        .await
    }

    fn upgraded_from_v3(&self) -> bool {
        self.inner.upgraded_from_v3.load(Ordering::Relaxed)
    }

    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        sessions::create_session(self, session).await
    }

    async fn get_session_and_user(
        &self,
        session_keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        sessions::get_session_and_user(self, session_keys).await
    }

    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sessions::update_session_expiry(self, session_token, expires).await
    }

    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError> {
        sessions::delete_session(self, session_token).await
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        sessions::list_sessions(self, user_id).await
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        sessions::delete_sessions_for_user(self, user_id).await
    }

    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        tokens::create_verification_token(self, token).await
    }

    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        tokens::use_verification_token(self, identifier, token_hash).await
    }

    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        tokens::revoke_jwt(self, jti, expires, now).await
    }

    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        tokens::is_jwt_revoked(self, jti).await
    }

    async fn take_lease(
        &self,
        key: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        leases::take_lease(self, key, holder, now, until).await
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        leases::release_lease(self, key, holder).await
    }
}
