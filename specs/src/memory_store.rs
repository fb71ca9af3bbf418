//! C08, bring your own database: a store written here, against the `Store` port alone, as
//! an application would for a database Portcullis does not ship. A few maps behind one
//! mutex; every rule the port documents, nothing more. It passes the store conformance
//! suite (the tests at the end of this file) and the same scenarios as the built-in stores
//! (`features/C08-bring-your-own-database.feature`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use portcullis::Store;
use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

#[derive(Default)]
struct Tables {
    next_id: u64,
    /// Numbers the links, so a user's accounts list oldest link first.
    next_link: u64,
    users: HashMap<String, User>,
    /// By `(provider_id, provider_account_id)`: the link's number and the account.
    accounts: HashMap<(String, String), (u64, Account)>,
    /// By session token.
    sessions: HashMap<String, Session>,
    verification_tokens: Vec<VerificationToken>,
    /// Revoked JWT `jti`s and when each token expires.
    revoked_jwts: HashMap<String, OffsetDateTime>,
    /// Leases by key: the holder and when the lease ends.
    leases: HashMap<String, (String, OffsetDateTime)>,
}

impl Tables {
    fn email_taken(&self, email: Option<&str>, except_id: Option<&str>) -> bool {
        let Some(email) = email else {
            return false;
        };
        self.users
            .values()
            .any(|u| u.email.as_deref() == Some(email) && Some(u.id.as_str()) != except_id)
    }
}

/// An in-memory [`Store`]: the whole adapter surface in one mutex (every operation is one
/// critical section, so "take a verification token" is atomic by construction).
#[derive(Default)]
pub(crate) struct MemoryStore {
    tables: Mutex<Tables>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic elsewhere while holding the lock leaves consistent maps: keep going.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn conflict(what: &str) -> StoreError {
    StoreError::Conflict(what.to_owned())
}

fn not_found(what: &str) -> StoreError {
    StoreError::NotFound(what.to_owned())
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let mut t = self.tables();
        if t.email_taken(user.email.as_deref(), None) {
            return Err(conflict("e-mail taken"));
        }
        t.next_id += 1;
        let user = user.with_id(t.next_id.to_string());
        t.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.tables().users.get(id).cloned())
    }

    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .tables()
            .users
            .values()
            .find(|u| u.email.as_deref() == Some(email))
            .cloned())
    }

    async fn get_user_by_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<User>, StoreError> {
        let t = self.tables();
        let key = (provider_id.to_owned(), provider_account_id.to_owned());
        Ok(t.accounts
            .get(&key)
            .and_then(|(_, a)| t.users.get(&a.user_id))
            .cloned())
    }

    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        let mut t = self.tables();
        if !t.users.contains_key(&user.id) {
            return Err(not_found("user"));
        }
        if t.email_taken(user.email.as_deref(), Some(&user.id)) {
            return Err(conflict("e-mail taken"));
        }
        t.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let mut t = self.tables();
        t.users.remove(id);
        t.accounts.retain(|_, (_, a)| a.user_id != id);
        t.sessions.retain(|_, s| s.user_id != id);
        Ok(())
    }

    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        let mut t = self.tables();
        let key = (
            account.provider_id.clone(),
            account.provider_account_id.clone(),
        );
        if t.accounts.contains_key(&key) {
            return Err(conflict("account linked already"));
        }
        t.next_link += 1;
        let link = t.next_link;
        t.accounts.insert(key, (link, account.clone()));
        Ok(account)
    }

    async fn get_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        let key = (provider_id.to_owned(), provider_account_id.to_owned());
        Ok(self.tables().accounts.get(&key).map(|(_, a)| a.clone()))
    }

    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        let mut linked: Vec<(u64, Account)> = self
            .tables()
            .accounts
            .values()
            .filter(|(_, a)| a.user_id == user_id)
            .cloned()
            .collect();
        linked.sort_by_key(|(link, _)| *link);
        Ok(linked.into_iter().map(|(_, a)| a).collect())
    }

    async fn unlink_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<(), StoreError> {
        let key = (provider_id.to_owned(), provider_account_id.to_owned());
        self.tables().accounts.remove(&key);
        Ok(())
    }

    async fn update_account_tokens(
        &self,
        provider_id: &str,
        provider_account_id: &str,
        expected_refresh_token: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError> {
        let key = (provider_id.to_owned(), provider_account_id.to_owned());
        let mut t = self.tables();
        let Some((_, account)) = t.accounts.get_mut(&key) else {
            return Err(not_found("account"));
        };
        let stored = account.refresh_token.as_ref().map(|rt| rt.expose());
        if stored != expected_refresh_token {
            return Ok(None);
        }
        *account = tokens.apply_to(account.clone());
        Ok(Some(account.clone()))
    }

    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        let mut t = self.tables();
        let token = session.session_token.expose().to_owned();
        if t.sessions.contains_key(&token) {
            return Err(conflict("session token taken"));
        }
        t.sessions.insert(token, session.clone());
        Ok(session)
    }

    async fn get_session_and_user(
        &self,
        session_keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        let t = self.tables();
        let found = session_keys.iter().find_map(|key| t.sessions.get(*key));
        Ok(found.and_then(|s| {
            t.users
                .get(&s.user_id)
                .map(|user| (s.clone(), user.clone()))
        }))
    }

    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        match self.tables().sessions.get_mut(session_token) {
            Some(session) => {
                session.expires = expires;
                Ok(())
            }
            None => Err(not_found("session")),
        }
    }

    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError> {
        self.tables().sessions.remove(session_token);
        Ok(())
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let mut sessions: Vec<Session> = self
            .tables()
            .sessions
            .values()
            .filter(|s| s.user_id == user_id)
            .cloned()
            .collect();
        sessions.sort_by_key(|s| s.expires);
        Ok(sessions)
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let mut t = self.tables();
        let before = t.sessions.len();
        t.sessions.retain(|_, s| s.user_id != user_id);
        Ok((before - t.sessions.len()) as u64)
    }

    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        self.tables().verification_tokens.push(token);
        Ok(())
    }

    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        let mut t = self.tables();
        let found = t
            .verification_tokens
            .iter()
            .position(|v| v.identifier == identifier && v.token_hash == token_hash);
        Ok(found.map(|i| t.verification_tokens.swap_remove(i)))
    }

    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        t.revoked_jwts.retain(|_, until| *until >= now);
        t.revoked_jwts.insert(jti.to_owned(), expires);
        Ok(())
    }

    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.tables().revoked_jwts.contains_key(jti))
    }

    async fn take_lease(
        &self,
        key: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut t = self.tables();
        let held_by_another = t
            .leases
            .get(key)
            .is_some_and(|(held_by, ends)| held_by != holder && *ends > now);
        if !held_by_another {
            t.leases.insert(key.to_owned(), (holder.to_owned(), until));
        }
        Ok(!held_by_another)
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let mut t = self.tables();
        if t.leases
            .get(key)
            .is_some_and(|(held_by, _)| held_by == holder)
        {
            t.leases.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod conformance {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    // The same suite every built-in store runs.
    portcullis_store_conformance::store_conformance_tests!(async { super::MemoryStore::default() });
}
