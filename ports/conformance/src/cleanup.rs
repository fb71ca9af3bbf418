//! [`WithCleanup`]: a store that drops a guard (a test database) with it.

use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use time::OffsetDateTime;

/// A store with something that must be dropped with it — typically a guard that drops the
/// test's database — usable wherever a store is: every method forwards to `store`.
pub struct WithCleanup<S, G> {
    /// The store every method forwards to.
    pub store: S,
    _cleanup: G,
}

impl<S, G> WithCleanup<S, G> {
    /// `store`, with `cleanup` dropped after it.
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
    async fn take_lease(
        &self,
        key: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.store.take_lease(key, holder, now, until).await
    }
    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.store.release_lease(key, holder).await
    }
    fn upgraded_from_v3(&self) -> bool {
        self.store.upgraded_from_v3()
    }
}
