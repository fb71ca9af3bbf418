//! [`RedisSessionCache`]: the database's session lookups, cached in Redis.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use portcullis_domain::secret::SecretString;
use portcullis_ports::{Store, StoreError};
use rand_core::{OsRng, RngCore};
use redis::{RedisError, Script};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{keys, RedisConnection, DEFAULT_PREFIX};

/// How long a lookup stays cached unless configured otherwise (and at most until the
/// session expires): also the bound on staleness when an invalidation cannot reach Redis.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(60);

/// Stores a looked-up session, unless the generation changed since the lookup began.
/// `KEYS`: generation, entry, the user's set. `ARGV`: the generation read before the
/// database lookup (`""`: none), the entry, its expiry (ms), the set's expiry (ms).
const FILL: &str = r"
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[3], KEYS[2])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
return 1
";

/// Drops every cached entry of one user. `KEYS`: generation, the user's set. `ARGV`: a
/// new generation.
const DROP_USER: &str = r"
redis.call('SET', KEYS[1], ARGV[1])
local members = redis.call('SMEMBERS', KEYS[2])
for _, key in ipairs(members) do
  redis.call('DEL', key)
end
redis.call('DEL', KEYS[2])
return #members
";

/// A [`Store`] that caches [`get_session_and_user`](Store::get_session_and_user) in Redis
/// and delegates everything else to the wrapped store (the database), which stays the
/// truth.
///
/// **What is cached**: a lookup that found a session, as its user and its fields other
/// than the session key (JSON), under the prefix, `session:` and `hex(sha256(key that
/// matched))`; never the session key or cookie token itself. A lookup that found nothing
/// is never cached, so a session created on another instance is seen at once. An entry
/// lives for the configured TTL (default [`DEFAULT_SESSION_TTL`]) and never past the
/// session's expiry. JWT revocations are not cached: a revocation is seen at once.
///
/// **Invalidation**: after the database write, `delete_session` and
/// `update_session_expiry` drop the session's entry; `delete_sessions_for_user`,
/// `update_user` and `delete_user` drop every entry of the user (each fill adds its entry
/// to a Redis set per user). The write comes first, so a failed invalidation can leave the
/// old entry: that is logged as an error, and the entry is gone by its TTL at the latest.
/// Every instance sharing the database must go through this cache (or none) for its writes
/// to invalidate.
///
/// **The fill race**: a lookup that read the old row just before a write could store it
/// just after that write's invalidation. Each invalidation therefore also changes a
/// *generation* (a random value under `session-generation`), and a lookup stores its
/// result only if the generation is still the one it read, in the same round trip as its
/// cache miss, before reading the database (checked and stored atomically by a script).
/// That is enough: a lookup that read the generation before an invalidation cannot store
/// after it, and one that read it after reads the database after the write. Storing
/// before the invalidation is harmless, as the invalidation then drops it. (One
/// generation for all users: a fill loses only when some invalidation ran during its own
/// database read, which costs a later miss, never a stale entry.) A Redis restart resets
/// the generation to none, which no lookup begun before it can match.
///
/// **When Redis cannot answer**, lookups read the database (logged once per outage,
/// Redis retried at most once a second); a Redis restart loses the cached copies only.
pub struct RedisSessionCache {
    inner: Arc<dyn Store>,
    connection: RedisConnection,
    prefix: String,
    ttl: Duration,
    fill: Script,
    drop_user: Script,
}

impl std::fmt::Debug for RedisSessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionCache")
            .field("connection", &self.connection)
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A cached lookup: the session without its key (the key that matched is the lookup's),
/// and its user.
#[derive(Serialize, Deserialize)]
struct Cached {
    user_id: String,
    #[serde(with = "time::serde::rfc3339")]
    expires: OffsetDateTime,
    access_token: SecretString,
    #[serde(default, with = "time::serde::rfc3339::option")]
    created: Option<OffsetDateTime>,
    user: User,
}

impl Cached {
    fn of(session: &Session, user: &User) -> Cached {
        Cached {
            user_id: session.user_id.clone(),
            expires: session.expires,
            access_token: session.access_token.clone(),
            created: session.created,
            user: user.clone(),
        }
    }

    fn into_lookup(self, session_key: &str) -> (Session, User) {
        let session = Session {
            session_token: SecretString::new(session_key),
            user_id: self.user_id,
            expires: self.expires,
            access_token: self.access_token,
            created: self.created,
        };
        (session, self.user)
    }
}

/// What to do after a write.
enum Invalidate<'a> {
    Session(&'a str),
    User(&'a str),
}

impl RedisSessionCache {
    /// Caches `inner`'s session lookups in Redis, under the default prefix, for
    /// [`DEFAULT_SESSION_TTL`] at most.
    pub fn new(inner: Arc<dyn Store>, connection: RedisConnection) -> RedisSessionCache {
        RedisSessionCache {
            inner,
            connection,
            prefix: DEFAULT_PREFIX.to_owned(),
            ttl: DEFAULT_SESSION_TTL,
            fill: Script::new(FILL),
            drop_user: Script::new(DROP_USER),
        }
    }

    /// The prefix of every key (default `portcullis:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisSessionCache {
        self.prefix = prefix.into();
        self
    }

    /// How long a lookup stays cached at most (at least a millisecond): the bound on how
    /// stale a lookup can be when an invalidation could not reach Redis.
    pub fn ttl(mut self, ttl: Duration) -> RedisSessionCache {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// The generation and the cached entries of `session_keys`, in one round trip.
    async fn read(
        &self,
        session_keys: &[&str],
    ) -> Result<(String, Vec<Option<String>>), RedisError> {
        let entries: Vec<String> = session_keys
            .iter()
            .map(|key| keys::session(&self.prefix, key))
            .collect();
        let (generation, values): (Option<String>, Vec<Option<String>>) = redis::pipe()
            .get(keys::generation(&self.prefix))
            .mget(entries)
            .query_async(&mut self.connection.manager())
            .await?;
        Ok((generation.unwrap_or_default(), values))
    }

    /// Stores a lookup if the generation is still `generation`.
    async fn store(
        &self,
        generation: &str,
        session: &Session,
        user: &User,
    ) -> Result<(), RedisError> {
        let until_expiry = session.expires - OffsetDateTime::now_utc();
        let ttl_ms = self
            .ttl
            .as_millis()
            .min(u128::try_from(until_expiry.whole_milliseconds()).unwrap_or(0));
        let (Ok(ttl_ms), Ok(set_ttl_ms)) =
            (u64::try_from(ttl_ms), u64::try_from(self.ttl.as_millis()))
        else {
            return Ok(());
        };
        if ttl_ms == 0 {
            // Expired already: the domain will refuse (and delete) it; nothing to keep.
            return Ok(());
        }
        let Ok(value) = serde_json::to_string(&Cached::of(session, user)) else {
            return Ok(());
        };
        let _stored: i64 = self
            .fill
            .key(keys::generation(&self.prefix))
            .key(keys::session(&self.prefix, session.session_token.expose()))
            .key(keys::user_sessions(&self.prefix, &user.id))
            .arg(generation)
            .arg(value)
            .arg(ttl_ms)
            .arg(set_ttl_ms)
            .invoke_async(&mut self.connection.manager())
            .await?;
        Ok(())
    }

    /// Drops what a write made stale, and moves the generation on.
    async fn try_invalidate(&self, what: &Invalidate<'_>) -> Result<(), RedisError> {
        let generation = hex::encode(OsRng.next_u64().to_le_bytes());
        let mut connection = self.connection.manager();
        match what {
            Invalidate::Session(session_key) => {
                redis::pipe()
                    .atomic()
                    .set(keys::generation(&self.prefix), generation)
                    .ignore()
                    .del(keys::session(&self.prefix, session_key))
                    .ignore()
                    .query_async::<()>(&mut connection)
                    .await
            }
            Invalidate::User(user_id) => self
                .drop_user
                .key(keys::generation(&self.prefix))
                .key(keys::user_sessions(&self.prefix, user_id))
                .arg(generation)
                .invoke_async::<i64>(&mut connection)
                .await
                .map(|_| ()),
        }
    }

    /// Invalidates after a write, whatever the write's outcome (a write that failed may
    /// still have been applied, e.g. when the answer was lost). Always tries Redis, even
    /// while it is considered down: a missed invalidation leaves a stale entry.
    async fn invalidate(&self, what: Invalidate<'_>) {
        match self.try_invalidate(&what).await {
            Ok(()) => self.connection.health().succeeded(),
            Err(e) => {
                self.connection.health().failed();
                let scope = match what {
                    Invalidate::Session(_) => "a session",
                    Invalidate::User(_) => "a user's sessions",
                };
                tracing::error!(
                    target: "portcullis",
                    error = %e,
                    ttl_seconds = self.ttl.as_secs(),
                    "redis: invalidating the cached lookup of {scope} failed; other instances \
                     may serve the old lookup until it expires"
                );
            }
        }
    }

    fn read_failed(&self, e: &RedisError) {
        if self.connection.health().failed() {
            tracing::error!(
                target: "portcullis",
                error = %e,
                "redis: reading the session cache failed; session lookups read the database \
                 until Redis answers"
            );
        }
    }
}

#[async_trait]
impl Store for RedisSessionCache {
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
        let id = user.id.clone();
        let result = self.inner.update_user(user).await;
        self.invalidate(Invalidate::User(&id)).await;
        result
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let result = self.inner.delete_user(id).await;
        self.invalidate(Invalidate::User(id)).await;
        result
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
        if session_keys.is_empty() || self.connection.health().skip() {
            return self.inner.get_session_and_user(session_keys).await;
        }
        let generation = match self.read(session_keys).await {
            Ok((generation, values)) => {
                self.connection.health().succeeded();
                for (key, value) in session_keys.iter().zip(values) {
                    let Some(value) = value else { continue };
                    match serde_json::from_str::<Cached>(&value) {
                        Ok(cached) if cached.user_id == cached.user.id => {
                            return Ok(Some(cached.into_lookup(key)));
                        }
                        // Not ours (another version, a foreign writer): read the database,
                        // whose answer then replaces it.
                        _ => tracing::warn!(
                            target: "portcullis",
                            "redis: a cached session lookup did not parse; reading the database"
                        ),
                    }
                }
                generation
            }
            Err(e) => {
                self.read_failed(&e);
                return self.inner.get_session_and_user(session_keys).await;
            }
        };
        let found = self.inner.get_session_and_user(session_keys).await?;
        if let Some((session, user)) = &found {
            if let Err(e) = self.store(&generation, session, user).await {
                self.read_failed(&e);
            }
        }
        Ok(found)
    }

    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let result = self
            .inner
            .update_session_expiry(session_token, expires)
            .await;
        self.invalidate(Invalidate::Session(session_token)).await;
        result
    }

    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError> {
        let result = self.inner.delete_session(session_token).await;
        self.invalidate(Invalidate::Session(session_token)).await;
        result
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        self.inner.list_sessions(user_id).await
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let result = self.inner.delete_sessions_for_user(user_id).await;
        self.invalidate(Invalidate::User(user_id)).await;
        result
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

    async fn take_lease(
        &self,
        key: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.inner.take_lease(key, holder, now, until).await
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(key, holder).await
    }

    fn upgraded_from_v3(&self) -> bool {
        self.inner.upgraded_from_v3()
    }
}
