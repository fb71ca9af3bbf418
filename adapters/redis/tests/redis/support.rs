//! What the tests share: connections, unique prefixes, a look into Redis, and a store
//! wrapper that counts and can hold a session lookup.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use portcullis_ports::{Store, StoreError};
use portcullis_redis::{RedisConnection, DEFAULT_TIMEOUT};
use time::OffsetDateTime;
use tokio::sync::oneshot;

pub(crate) const URL: &str = "redis://127.0.0.1:6379";
/// Nothing listens on port 1.
pub(crate) const UNREACHABLE: &str = "redis://127.0.0.1:1";

pub(crate) fn connection() -> RedisConnection {
    RedisConnection::open(URL, DEFAULT_TIMEOUT).unwrap()
}

pub(crate) fn unreachable() -> RedisConnection {
    RedisConnection::open(UNREACHABLE, DEFAULT_TIMEOUT).unwrap()
}

/// A prefix no other test (or process) uses.
pub(crate) fn unique_prefix(test: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "portcullis-test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A plain connection of the test's own, to look at what the adapters wrote.
pub(crate) async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(URL)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Every key under `prefix`, sorted.
pub(crate) async fn keys_under(prefix: &str) -> Vec<String> {
    let mut connection = raw().await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    keys.sort();
    keys
}

/// What a Redis restart (it keeps nothing on disk) does to one prefix: every key gone.
pub(crate) async fn forget_everything_under(prefix: &str) {
    let keys = keys_under(prefix).await;
    if !keys.is_empty() {
        let mut connection = raw().await;
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    assert!(keys_under(prefix).await.is_empty());
}

pub(crate) fn sha256_hex(value: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(value.as_bytes()))
}

/// A lookup held after it read the database, until released.
pub(crate) struct Hold {
    /// Fires once the held lookup has read the database.
    pub(crate) read: oneshot::Receiver<()>,
    /// Lets the held lookup answer.
    pub(crate) release: oneshot::Sender<()>,
}

type HeldLookup = (oneshot::Sender<()>, oneshot::Receiver<()>);

/// A store that counts session lookups and can hold the next one (see [`Watched::hold_next`]).
pub(crate) struct Watched {
    pub(crate) inner: Arc<dyn Store>,
    pub(crate) lookups: AtomicUsize,
    held: Mutex<Option<HeldLookup>>,
}

impl Watched {
    pub(crate) fn new(inner: Arc<dyn Store>) -> Arc<Watched> {
        Arc::new(Watched {
            inner,
            lookups: AtomicUsize::new(0),
            held: Mutex::new(None),
        })
    }

    pub(crate) fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    /// The next session lookup reads the database, then waits to be released.
    pub(crate) fn hold_next(&self) -> Hold {
        let (read_tx, read) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        *self.held.lock().unwrap() = Some((read_tx, release_rx));
        Hold { read, release }
    }
}

#[async_trait]
impl Store for Watched {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.inner.create_user(user).await
    }
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.inner.get_user(id).await
    }
    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.inner.get_user_by_email(email).await
    }
    async fn get_user_by_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<User>, StoreError> {
        self.inner
            .get_user_by_account(provider_id, provider_account_id)
            .await
    }
    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        self.inner.update_user(user).await
    }
    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        self.inner.delete_user(id).await
    }
    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        self.inner.link_account(account).await
    }
    async fn get_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.inner
            .get_account(provider_id, provider_account_id)
            .await
    }
    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        self.inner.get_accounts_for_user(user_id).await
    }
    async fn unlink_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<(), StoreError> {
        self.inner
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
        self.inner
            .update_account_tokens(
                provider_id,
                provider_account_id,
                expected_refresh_token,
                tokens,
            )
            .await
    }
    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        self.inner.create_session(session).await
    }
    async fn get_session_and_user(
        &self,
        session_keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let found = self.inner.get_session_and_user(session_keys).await;
        let held = self.held.lock().unwrap().take();
        if let Some((read, release)) = held {
            read.send(()).unwrap();
            release.await.unwrap();
        }
        found
    }
    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.inner
            .update_session_expiry(session_token, expires)
            .await
    }
    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError> {
        self.inner.delete_session(session_token).await
    }
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        self.inner.list_sessions(user_id).await
    }
    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        self.inner.delete_sessions_for_user(user_id).await
    }
    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        self.inner.create_verification_token(token).await
    }
    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        self.inner
            .use_verification_token(identifier, token_hash)
            .await
    }
    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.inner.revoke_jwt(jti, expires, now).await
    }
    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.inner.is_jwt_revoked(jti).await
    }
}
