//! Provider access tokens for the app's own API calls, renewed with the refresh token when
//! they expire (refresh-token rotation, the most requested missing piece of NextAuth).
//!
//! A refresh token is spent once, also across processes sharing a database:
//! - in this process, renewals are single-flight per account: concurrent callers wait for
//!   one refresh and share its result;
//! - across processes, the renewing one holds the store's lease on the account
//!   ([`Store::take_lease`](portcullis_ports::Store::take_lease)); the others poll the
//!   stored account until the renewed token appears (or the lease ends, when they take it
//!   over);
//! - the rotated refresh token is stored with a compare-and-set on the one that was used,
//!   so the store never goes back to a retired token, even if a lease ran out mid-renewal;
//!   a process that loses that race (or whose refresh the provider refuses because another
//!   process already rotated) reads the winner's tokens instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use portcullis_domain::model::{Account, AccountTokens};
use portcullis_domain::oauth::{client, renewal, Endpoints, OAuthProvider};
use portcullis_domain::secret::{lower_hex, SecretString};
use portcullis_domain::store::StoreError;
use rand_core::RngCore;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::Portcullis;

/// A provider access token that is valid now. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderAccessToken {
    /// The access token.
    pub access_token: SecretString,
    /// When the provider said it expires; `None`: it did not say.
    pub expires: Option<OffsetDateTime>,
    /// The provider's `token_type` (usually `Bearer`).
    pub token_type: Option<String>,
    /// The scopes the provider granted.
    pub scope: Option<String>,
}

impl std::fmt::Debug for ProviderAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderAccessToken")
            .field("expires", &self.expires)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why no valid access token could be had. No variant holds a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    /// No store is configured.
    #[error("no store configured: provider tokens live on stored accounts")]
    NoStore,
    /// The provider id names no configured OAuth 2 provider.
    #[error("{0:?} is not a configured OAuth 2 provider")]
    UnknownProvider(String),
    /// The user has no account at this provider.
    #[error("the user has no account at this provider")]
    NotLinked,
    /// The access token expired and there is no refresh token.
    #[error("the access token expired and no refresh token is held: sign in again")]
    NotRenewable,
    /// The provider refused the refresh (the user revoked access, the token was retired):
    /// the user must sign in again. v3 apps know this as `RefreshAccessTokenError`.
    #[error("the provider refused to renew the access token: {0}")]
    Refused(String),
    /// The provider could not be reached.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// In-process single-flight locks, one per account being renewed.
#[derive(Default)]
pub(crate) struct RenewalLocks(Mutex<HashMap<String, Arc<futures::lock::Mutex<()>>>>);

impl RenewalLocks {
    fn lock_for(&self, key: &str) -> Arc<futures::lock::Mutex<()>> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(key.to_owned()).or_default().clone()
    }

    /// Drops the lock of `key` when nobody else holds or waits for it.
    fn release(&self, key: &str) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(key);
        }
    }
}

/// How long one process may hold the renewal of an account: the provider's answer and the
/// store's write fit well within it. A holder that dies leaves the lease to run out.
const RENEWAL_LEASE: Duration = Duration::seconds(30);
/// How often a process waiting for another's renewal looks at the stored account.
const RENEWAL_POLL: StdDuration = StdDuration::from_millis(50);
/// How long a caller waits for another process's renewal in all before giving up: the
/// lease, and a margin for clocks that disagree.
const RENEWAL_WAIT: StdDuration = StdDuration::from_secs(35);

/// The lease's name: fixed-length, whatever the ids' lengths.
fn renewal_lease_key(provider_id: &str, provider_account_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(provider_id.as_bytes())
        .chain_update([0])
        .chain_update(provider_account_id.as_bytes())
        .finalize();
    format!("renew:{}", lower_hex(&digest))
}

fn usable(account: &Account, now: OffsetDateTime) -> Option<ProviderAccessToken> {
    let access_token = account.access_token.clone()?;
    (!renewal::due(account.access_token_expires, now)).then(|| ProviderAccessToken {
        access_token,
        expires: account.access_token_expires,
        token_type: account.token_type.clone(),
        scope: account.scope.clone(),
    })
}

impl Portcullis {
    /// A valid access token of `user_id` at `provider_id`, renewed with the stored refresh
    /// token when it has expired (and the rotated refresh token stored atomically).
    pub async fn provider_access_token(
        &self,
        user_id: &str,
        provider_id: &str,
    ) -> Result<ProviderAccessToken, AccessTokenError> {
        let store = self.store.as_ref().ok_or(AccessTokenError::NoStore)?;
        let provider = renewal::renewable_provider(self.config(), provider_id)
            .ok_or_else(|| AccessTokenError::UnknownProvider(provider_id.to_owned()))?
            .clone();
        let account = store
            .get_accounts_for_user(user_id)
            .await?
            .into_iter()
            .find(|a| a.provider_id == provider_id)
            .ok_or(AccessTokenError::NotLinked)?;
        let account = self.readable(account)?;
        if let Some(token) = usable(&account, self.clock.now()) {
            return Ok(token);
        }
        let key = format!("{provider_id}\n{}", account.provider_account_id);
        let lock = self.renewals.lock_for(&key);
        let result = {
            let _guard = lock.lock().await;
            self.renew(&provider, provider_id, &account.provider_account_id)
                .await
        };
        drop(lock);
        self.renewals.release(&key);
        result
    }

    /// Renews under the account's lock in this process and its lease in the store: waits
    /// for the lease (another process's renewal may come in meanwhile), then re-reads,
    /// since the caller before us may have renewed already.
    async fn renew(
        &self,
        provider: &OAuthProvider,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<ProviderAccessToken, AccessTokenError> {
        let store = self.store.as_ref().ok_or(AccessTokenError::NoStore)?;
        // As stored (the refresh token's stored form guards the compare-and-set), and
        // readable.
        let read = || async {
            let stored = store
                .get_account(provider_id, provider_account_id)
                .await?
                .ok_or(AccessTokenError::NotLinked)?;
            let readable = self.readable(stored.clone())?;
            Ok::<_, AccessTokenError>((stored, readable))
        };
        let lease = renewal_lease_key(provider_id, provider_account_id);
        let holder = {
            let mut bytes = [0u8; 16];
            self.entropy.rng().fill_bytes(&mut bytes);
            lower_hex(&bytes)
        };
        let waited_since = tokio::time::Instant::now();
        loop {
            let now = self.clock.now();
            if store
                .take_lease(&lease, &holder, now, now + RENEWAL_LEASE)
                .await?
            {
                break;
            }
            // Another process is renewing: its result will be stored.
            if let Some(token) = usable(&read().await?.1, self.clock.now()) {
                return Ok(token);
            }
            if waited_since.elapsed() > RENEWAL_WAIT {
                return Err(AccessTokenError::Unreachable(
                    "another instance held the renewal too long".into(),
                ));
            }
            tokio::time::sleep(RENEWAL_POLL).await;
        }
        let renewed = self
            .renew_holding_lease(provider, provider_id, provider_account_id, &read)
            .await;
        // A failed release only leaves the lease to run out.
        if let Err(e) = store.release_lease(&lease, &holder).await {
            tracing::warn!(target: "portcullis", error = %e, "could not release a renewal lease");
        }
        renewed
    }

    /// The renewal itself, once this process holds the account's lease.
    async fn renew_holding_lease<F, Fut>(
        &self,
        provider: &OAuthProvider,
        provider_id: &str,
        provider_account_id: &str,
        read: &F,
    ) -> Result<ProviderAccessToken, AccessTokenError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(Account, Account), AccessTokenError>>,
    {
        let store = self.store.as_ref().ok_or(AccessTokenError::NoStore)?;
        let (stored, account) = read().await?;
        let now = self.clock.now();
        if let Some(token) = usable(&account, now) {
            return Ok(token);
        }
        let used = account
            .refresh_token
            .clone()
            .ok_or(AccessTokenError::NotRenewable)?;
        let used_as_stored = stored.refresh_token.clone();
        let answer = self.refresh_at_provider(provider, &used, now).await;
        let tokens = match answer {
            Ok(tokens) => tokens,
            Err(error) => {
                // Another process may have rotated the token meanwhile: use its result.
                let (_, latest) = read().await?;
                let rotated =
                    latest.refresh_token.as_ref().map(SecretString::expose) != Some(used.expose());
                return match usable(&latest, self.clock.now()) {
                    Some(token) if rotated => Ok(token),
                    _ => Err(error),
                };
            }
        };
        let renewed = AccountTokens {
            access_token: Some(tokens.access_token),
            // A provider that does not rotate keeps the old refresh token valid.
            refresh_token: tokens.refresh_token.or(Some(used.clone())),
            access_token_expires: tokens.expires_at,
            token_type: tokens.token_type.or(account.token_type),
            scope: tokens.scope.or(account.scope),
            id_token: tokens.id_token.or(account.id_token),
        };
        let renewed = if self.config().encrypt_provider_tokens {
            let mut rng = self.entropy.rng();
            self.config()
                .token_cipher
                .encrypt_tokens(renewed, provider_id, provider_account_id, &mut *rng)
                .map_err(|e| AccessTokenError::Store(StoreError::Backend(e.to_string())))?
        } else {
            renewed
        };
        let updated = store
            .update_account_tokens(
                provider_id,
                provider_account_id,
                used_as_stored.as_ref().map(SecretString::expose),
                renewed,
            )
            .await?;
        let account = match updated {
            Some(account) => self.readable(account)?,
            // Another process stored its renewal first: theirs is the current one.
            None => read().await?.1,
        };
        usable(&account, self.clock.now()).ok_or(AccessTokenError::NotRenewable)
    }

    /// A stored account with its provider tokens decrypted (plain ones read as they are).
    fn readable(&self, account: Account) -> Result<Account, AccessTokenError> {
        self.config()
            .token_cipher
            .decrypt_account(account)
            .map_err(|e| AccessTokenError::Store(StoreError::Decode(e.to_string())))
    }

    async fn refresh_at_provider(
        &self,
        provider: &OAuthProvider,
        refresh_token: &SecretString,
        now: OffsetDateTime,
    ) -> Result<client::TokenSet, AccessTokenError> {
        let http = self
            .http
            .as_ref()
            .ok_or_else(|| AccessTokenError::Unreachable("no HTTP client configured".into()))?;
        let endpoints = self.token_endpoints(provider).await?;
        let call = renewal::refresh_request(provider, &endpoints, refresh_token, now)
            .map_err(|e| AccessTokenError::Refused(e.to_string()))?;
        let response = http
            .send(call)
            .await
            .map_err(|e| AccessTokenError::Unreachable(e.to_string()))?;
        client::parse_tokens(provider, &response, now)
            .map_err(|e| AccessTokenError::Refused(e.to_string()))
    }

    /// The provider's endpoints, completed by (cached) discovery when only an issuer is set.
    async fn token_endpoints(
        &self,
        provider: &OAuthProvider,
    ) -> Result<Endpoints, AccessTokenError> {
        if provider.endpoints.token.is_some() {
            return Ok(provider.endpoints.clone());
        }
        let (Some(http), Some(issuer)) = (&self.http, &provider.endpoints.issuer) else {
            return Err(AccessTokenError::Unreachable("no token endpoint".into()));
        };
        let response = http
            .send(client::discovery_call(issuer))
            .await
            .map_err(|e| AccessTokenError::Unreachable(e.to_string()))?;
        client::apply_discovery(provider, &response)
            .map_err(|e| AccessTokenError::Unreachable(e.to_string()))
    }
}
