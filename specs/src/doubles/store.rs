//! [`SpecStore`]: the store the scenarios attach, recording every call in front of the run's
//! real store, or refusing every call.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portcullis::Store;
use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

use crate::stores::{Cleanup, Location, StoreKind};

/// The store the scenarios attach: it records every call, and either refuses every call
/// (to prove JWT sessions never need one) or passes it to a fresh store of the run's kind
/// (sled, SQLite, PostgreSQL, MariaDB, MongoDB, or the specs' own), failing the operations
/// a scenario names.
pub(crate) struct SpecStore {
    /// The store behind; empty while the real binary holds it (sled's one-process lock).
    inner: Mutex<Option<Arc<dyn Store>>>,
    /// Which store is behind (`None`: the refusing one).
    pub kind: Option<StoreKind>,
    pub location: Location,
    cleanup: Mutex<Option<Cleanup>>,
    fail: Mutex<HashSet<String>>,
    pub calls: Mutex<Vec<&'static str>>,
    /// Every verification row the engine handed to the store, as given.
    pub verification_rows: Mutex<Vec<VerificationToken>>,
}

impl std::fmt::Debug for SpecStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecStore")
            .field("kind", &self.kind)
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl SpecStore {
    /// Refuses and records every call.
    pub(crate) fn refusing() -> Self {
        Self {
            inner: Mutex::new(None),
            kind: None,
            location: Location::ThisHandle,
            cleanup: Mutex::new(None),
            fail: Mutex::new(HashSet::new()),
            calls: Mutex::new(Vec::new()),
            verification_rows: Mutex::new(Vec::new()),
        }
    }

    /// A fresh, empty store of `kind` (panics, saying which server is missing, when it
    /// cannot be made).
    pub(crate) async fn open(kind: StoreKind) -> Self {
        let fresh = crate::stores::fresh(kind)
            .await
            .unwrap_or_else(|why| panic!("no {kind} store for this scenario: {why}"));
        Self {
            inner: Mutex::new(Some(fresh.store)),
            kind: Some(kind),
            location: fresh.location,
            cleanup: Mutex::new(Some(fresh.cleanup)),
            ..Self::refusing()
        }
    }

    /// A sled store the real binary keeps in its data directory: opened by [`Self::attach`]
    /// while the binary is stopped (sled allows one process at a time).
    pub(crate) fn sled_of_binary() -> Self {
        Self {
            kind: Some(StoreKind::Sled),
            ..Self::refusing()
        }
    }

    /// Whether a handle on the store is open in this process.
    pub(crate) fn is_attached(&self) -> bool {
        self.inner.lock().unwrap().is_some()
    }

    /// Opens the store behind (the binary's sled, once the binary has stopped).
    pub(crate) fn attach(&self, store: Arc<dyn Store>) {
        *self.inner.lock().unwrap() = Some(store);
    }

    /// Lets go of the store behind (before the binary opens the same sled).
    pub(crate) fn release(&self) {
        self.inner.lock().unwrap().take();
    }

    /// Removes the store's database (after the scenario).
    pub(crate) async fn dispose(&self) {
        let cleanup = self.cleanup.lock().unwrap().take();
        if let Some(mut cleanup) = cleanup {
            cleanup.run().await;
        }
    }

    /// Makes `op` (`get_session_and_user`, `delete_session` …) fail from now on.
    pub(crate) fn fail(&self, op: &str) {
        self.fail.lock().unwrap().insert(op.to_owned());
    }

    /// The store behind, for arranging and inspecting records (not recorded, never failing).
    pub(crate) fn backend(&self) -> Arc<dyn Store> {
        self.inner
            .lock()
            .unwrap()
            .clone()
            .expect("this scenario's store refuses every call, or the real binary holds it")
    }

    /// How many times the engine called `op`.
    pub(crate) fn count(&self, op: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == op)
            .count()
    }

    fn check(&self, op: &'static str) -> Result<Arc<dyn Store>, StoreError> {
        self.calls.lock().unwrap().push(op);
        let inner = self.inner.lock().unwrap().clone();
        match inner {
            Some(inner) if !self.fail.lock().unwrap().contains(op) => Ok(inner),
            Some(_) => Err(StoreError::Backend(format!("{op}: failing on purpose"))),
            None => Err(StoreError::Backend(format!(
                "{op}: the recording store refuses"
            ))),
        }
    }
}

#[async_trait]
impl Store for SpecStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.check("create_user")?.create_user(user).await
    }
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.check("get_user")?.get_user(id).await
    }
    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.check("get_user_by_email")?
            .get_user_by_email(email)
            .await
    }
    async fn get_user_by_account(&self, p: &str, a: &str) -> Result<Option<User>, StoreError> {
        self.check("get_user_by_account")?
            .get_user_by_account(p, a)
            .await
    }
    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        self.check("update_user")?.update_user(user).await
    }
    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        self.check("delete_user")?.delete_user(id).await
    }
    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        self.check("link_account")?.link_account(account).await
    }
    async fn get_account(&self, p: &str, a: &str) -> Result<Option<Account>, StoreError> {
        self.check("get_account")?.get_account(p, a).await
    }
    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        self.check("get_accounts_for_user")?
            .get_accounts_for_user(user_id)
            .await
    }
    async fn unlink_account(&self, p: &str, a: &str) -> Result<(), StoreError> {
        self.check("unlink_account")?.unlink_account(p, a).await
    }
    async fn update_account_tokens(
        &self,
        p: &str,
        a: &str,
        expected: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError> {
        self.check("update_account_tokens")?
            .update_account_tokens(p, a, expected, tokens)
            .await
    }
    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        self.check("create_session")?.create_session(session).await
    }
    async fn get_session_and_user(
        &self,
        keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        self.check("get_session_and_user")?
            .get_session_and_user(keys)
            .await
    }
    async fn update_session_expiry(
        &self,
        token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.check("update_session_expiry")?
            .update_session_expiry(token, expires)
            .await
    }
    async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        self.check("delete_session")?.delete_session(token).await
    }
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        self.check("list_sessions")?.list_sessions(user_id).await
    }
    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        self.check("delete_sessions_for_user")?
            .delete_sessions_for_user(user_id)
            .await
    }
    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        let store = self.check("create_verification_token")?;
        self.verification_rows.lock().unwrap().push(token.clone());
        store.create_verification_token(token).await
    }
    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        self.check("use_verification_token")?
            .use_verification_token(identifier, token_hash)
            .await
    }
    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.check("revoke_jwt")?
            .revoke_jwt(jti, expires, now)
            .await
    }
    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.check("is_jwt_revoked")?.is_jwt_revoked(jti).await
    }
    async fn take_lease(
        &self,
        key: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.check("take_lease")?
            .take_lease(key, holder, now, until)
            .await
    }
    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.check("release_lease")?
            .release_lease(key, holder)
            .await
    }
}
