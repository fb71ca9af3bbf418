//! The `Store` port on sled: every operation, each a B-tree operation or one transaction
//! over the trees it touches (see the crate docs for the keyspace).

use async_trait::async_trait;
use portcullis_domain::model::{
    compound_id, Account, AccountTokens, NewUser, Session, User, VerificationToken,
};
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use sled::transaction::{ConflictableTransactionError, Transactional};
use time::OffsetDateTime;

use crate::keys::{
    abort, backend, decode, email_taken, encode, from_transaction, index_key, index_key_of,
    is_pair, length_prefixed, remove_session_of, revocation_expiry,
};
use crate::SledStore;

#[async_trait]
impl Store for SledStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let id = self
            .db
            .generate_id()
            .map_err(|e| backend("generate user id", &e))?
            .to_string();
        let user = user.with_id(id);
        let value = encode(&user, "user")?;
        (&self.users, &self.users_by_email)
            .transaction(|(users, emails)| {
                if users.get(user.id.as_bytes())?.is_some() {
                    return abort(StoreError::Backend(
                        "sled: generated user id is already in use".to_owned(),
                    ));
                }
                if let Some(email) = &user.email {
                    if emails.get(email.as_bytes())?.is_some() {
                        return abort(email_taken());
                    }
                    emails.insert(email.as_bytes(), user.id.as_bytes())?;
                }
                users.insert(user.id.as_bytes(), value.as_slice())?;
                Ok(())
            })
            .map_err(|e| from_transaction("create user", e))?;
        self.durable().await?;
        Ok(user)
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.user_by_id(id.as_bytes())
    }

    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let Some(id) = self
            .users_by_email
            .get(email.as_bytes())
            .map_err(|e| backend("read e-mail index", &e))?
        else {
            return Ok(None);
        };
        let Some(user) = self.user_by_id(&id)? else {
            return Ok(None);
        };
        // The index is kept in step transactionally; check anyway rather than trust it.
        Ok((user.email.as_deref() == Some(email)).then_some(user))
    }

    async fn get_user_by_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<User>, StoreError> {
        match self.account(provider_id, provider_account_id)? {
            Some(account) => self.user_by_id(account.user_id.as_bytes()),
            None => Ok(None),
        }
    }

    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        let value = encode(&user, "user")?;
        let id = user.id.as_bytes();
        (&self.users, &self.users_by_email)
            .transaction(|(users, emails)| {
                let Some(old) = users.get(id)? else {
                    return abort(StoreError::NotFound("user".to_owned()));
                };
                let old: User =
                    decode(&old, "user").map_err(ConflictableTransactionError::Abort)?;
                if old.email != user.email {
                    if let Some(new_email) = &user.email {
                        match emails.get(new_email.as_bytes())? {
                            Some(owner) if owner.as_ref() != id => return abort(email_taken()),
                            _ => {}
                        }
                        emails.insert(new_email.as_bytes(), id)?;
                    }
                    if let Some(old_email) = &old.email {
                        if emails.get(old_email.as_bytes())?.as_deref() == Some(id) {
                            emails.remove(old_email.as_bytes())?;
                        }
                    }
                }
                users.insert(id, value.as_slice())?;
                Ok(())
            })
            .map_err(|e| from_transaction("update user", e))?;
        self.durable().await?;
        Ok(user)
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let prefix_len = length_prefixed(id).len();
        let account_keys = self.index_keys(&self.accounts_by_user, id)?;
        let session_keys = self.index_keys(&self.sessions_by_user, id)?;
        (
            &self.users,
            &self.users_by_email,
            &self.accounts,
            &self.accounts_by_user,
            &self.sessions,
            &self.sessions_by_user,
        )
            .transaction(
                |(users, emails, accounts, accounts_by_user, sessions, sessions_by_user)| {
                    if let Some(old) = users.remove(id.as_bytes())? {
                        // A user record that no longer decodes is deleted all the same; its
                        // e-mail index entry (if any) then stays behind, pointing nowhere,
                        // and `get_user_by_email` reads it as `None`.
                        if let Ok(User {
                            email: Some(email), ..
                        }) = decode::<User>(&old, "user")
                        {
                            if emails.get(email.as_bytes())?.as_deref() == Some(id.as_bytes()) {
                                emails.remove(email.as_bytes())?;
                            }
                        }
                    }
                    // An index entry present inside the transaction means the record is still
                    // this user's (link/unlink/create/delete keep both in step).
                    for key in &account_keys {
                        if accounts_by_user.remove(key)?.is_some() {
                            if let Some(cid) = key.get(prefix_len..) {
                                accounts.remove(cid)?;
                            }
                        }
                    }
                    for key in &session_keys {
                        if sessions_by_user.remove(key)?.is_some() {
                            if let Some(token) = key.get(prefix_len..) {
                                remove_session_of(sessions, token, id)?;
                            }
                        }
                    }
                    Ok(())
                },
            )
            .map_err(|e| from_transaction("delete user", e))?;
        self.durable().await
    }

    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        let value = encode(&account, "account")?;
        let cid = account.compound_id();
        let index_key = index_key(&account.user_id, cid.as_bytes());
        let linked = self
            .db
            .generate_id()
            .map_err(|e| backend("generate link sequence number", &e))?
            .to_be_bytes();
        (&self.users, &self.accounts, &self.accounts_by_user)
            .transaction(|(users, accounts, accounts_by_user)| {
                if let Some(existing) = accounts.get(cid.as_bytes())? {
                    let existing: Account = decode(&existing, "account")
                        .map_err(ConflictableTransactionError::Abort)?;
                    if users.get(existing.user_id.as_bytes())?.is_some() {
                        return abort(StoreError::Conflict(
                            "provider account is already linked".to_owned(),
                        ));
                    }
                    // Orphaned by a delete_user that raced with its linking: replace it.
                    accounts_by_user.remove(index_key_of(&existing.user_id, cid.as_bytes()))?;
                }
                accounts.insert(cid.as_bytes(), value.as_slice())?;
                accounts_by_user.insert(index_key.as_slice(), &linked)?;
                Ok(())
            })
            .map_err(|e| from_transaction("link account", e))?;
        self.durable().await?;
        Ok(account)
    }

    async fn get_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.account(provider_id, provider_account_id)
    }

    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        let prefix_len = length_prefixed(user_id).len();
        let entries = self
            .accounts_by_user
            .scan_prefix(length_prefixed(user_id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| backend("scan index", &e))?;
        let mut accounts = Vec::with_capacity(entries.len());
        for (key, linked) in entries {
            let Some(cid) = key.get(prefix_len..) else {
                continue;
            };
            let Some(bytes) = self
                .accounts
                .get(cid)
                .map_err(|e| backend("read account", &e))?
            else {
                continue;
            };
            let account: Account = decode(&bytes, "account")?;
            // The index is kept in step transactionally; check anyway rather than trust it.
            if account.user_id == user_id {
                accounts.push((linked, account));
            }
        }
        // Big-endian sequence numbers compare as bytes; the scan already ordered ties by key.
        accounts.sort_by(|(a, _), (b, _)| a.cmp(b));
        Ok(accounts.into_iter().map(|(_, account)| account).collect())
    }

    async fn unlink_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<(), StoreError> {
        let cid = compound_id(provider_id, provider_account_id);
        let removed = (&self.accounts, &self.accounts_by_user)
            .transaction(|(accounts, accounts_by_user)| {
                let Some(existing) = accounts.get(cid.as_bytes())? else {
                    return Ok(false);
                };
                let existing: Account =
                    decode(&existing, "account").map_err(ConflictableTransactionError::Abort)?;
                // Same compound id, different pair: that is another account; leave it.
                if !is_pair(&existing, provider_id, provider_account_id) {
                    return Ok(false);
                }
                accounts.remove(cid.as_bytes())?;
                accounts_by_user.remove(index_key_of(&existing.user_id, cid.as_bytes()))?;
                Ok(true)
            })
            .map_err(|e| from_transaction("unlink account", e))?;
        if removed {
            self.durable().await?;
        }
        Ok(())
    }

    async fn update_account_tokens(
        &self,
        provider_id: &str,
        provider_account_id: &str,
        expected_refresh_token: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError> {
        let cid = compound_id(provider_id, provider_account_id);
        // Compare and write in one transaction on the record: a concurrent refresh that
        // committed first changed the refresh token, so this one then reads as lost.
        let updated = self
            .accounts
            .transaction(|accounts| {
                let not_found = || abort(StoreError::NotFound("account".to_owned()));
                let Some(bytes) = accounts.get(cid.as_bytes())? else {
                    return not_found();
                };
                let account: Account =
                    decode(&bytes, "account").map_err(ConflictableTransactionError::Abort)?;
                if !is_pair(&account, provider_id, provider_account_id) {
                    return not_found();
                }
                let stored = account.refresh_token.as_ref().map(|t| t.expose());
                if stored != expected_refresh_token {
                    return Ok(None);
                }
                let account = tokens.clone().apply_to(account);
                let value =
                    encode(&account, "account").map_err(ConflictableTransactionError::Abort)?;
                accounts.insert(cid.as_bytes(), value)?;
                Ok(Some(account))
            })
            .map_err(|e| from_transaction("update account tokens", e))?;
        if updated.is_some() {
            // The provider has retired the old refresh token: a crash must not bring it back.
            self.durable().await?;
        }
        Ok(updated)
    }

    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        let value = encode(&session, "session")?;
        let token = session.session_token.expose().as_bytes();
        let index_key = index_key(&session.user_id, token);
        (&self.sessions, &self.sessions_by_user)
            .transaction(|(sessions, sessions_by_user)| {
                if sessions.get(token)?.is_some() {
                    return abort(StoreError::Conflict(
                        "session token is already in use".to_owned(),
                    ));
                }
                sessions.insert(token, value.as_slice())?;
                sessions_by_user.insert(index_key.as_slice(), &[])?;
                Ok(())
            })
            .map_err(|e| from_transaction("create session", e))?;
        self.durable().await?;
        Ok(session)
    }

    async fn get_session_and_user(
        &self,
        session_keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        // A point read per candidate key (two at most: hashed, raw), first match wins.
        let mut found = None;
        for key in session_keys {
            found = self
                .sessions
                .get(key.as_bytes())
                .map_err(|e| backend("read session", &e))?;
            if found.is_some() {
                break;
            }
        }
        let Some(bytes) = found else {
            return Ok(None);
        };
        let session: Session = decode(&bytes, "session")?;
        Ok(self
            .user_by_id(session.user_id.as_bytes())?
            .map(|user| (session, user)))
    }

    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let token = session_token.as_bytes();
        self.sessions
            .transaction(|sessions| {
                let Some(bytes) = sessions.get(token)? else {
                    return abort(StoreError::NotFound("session".to_owned()));
                };
                let mut session: Session =
                    decode(&bytes, "session").map_err(ConflictableTransactionError::Abort)?;
                session.expires = expires;
                let value =
                    encode(&session, "session").map_err(ConflictableTransactionError::Abort)?;
                sessions.insert(token, value)?;
                Ok(())
            })
            .map_err(|e| from_transaction("update session expiry", e))?;
        self.durable().await
    }

    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError> {
        let token = session_token.as_bytes();
        let removed = (&self.sessions, &self.sessions_by_user)
            .transaction(|(sessions, sessions_by_user)| {
                let Some(old) = sessions.remove(token)? else {
                    return Ok(false);
                };
                // A record that no longer decodes is deleted all the same; its index entry
                // then stays behind and is skipped by `list_sessions`.
                if let Ok(old) = decode::<Session>(&old, "session") {
                    sessions_by_user.remove(index_key_of(&old.user_id, token))?;
                }
                Ok(true)
            })
            .map_err(|e| from_transaction("delete session", e))?;
        if removed {
            self.durable().await?;
        }
        Ok(())
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let prefix_len = length_prefixed(user_id).len();
        let mut sessions = Vec::new();
        for key in self.index_keys(&self.sessions_by_user, user_id)? {
            let Some(token) = key.get(prefix_len..) else {
                continue;
            };
            let Some(bytes) = self
                .sessions
                .get(token)
                .map_err(|e| backend("read session", &e))?
            else {
                continue;
            };
            let session: Session = decode(&bytes, "session")?;
            if session.user_id == user_id {
                sessions.push(session);
            }
        }
        sessions.sort_by_key(|session| session.expires);
        Ok(sessions)
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let prefix_len = length_prefixed(user_id).len();
        let keys = self.index_keys(&self.sessions_by_user, user_id)?;
        let deleted = (&self.sessions, &self.sessions_by_user)
            .transaction(|(sessions, sessions_by_user)| {
                let mut deleted = 0_u64;
                for key in &keys {
                    if sessions_by_user.remove(key)?.is_none() {
                        continue;
                    }
                    if let Some(token) = key.get(prefix_len..) {
                        if remove_session_of(sessions, token, user_id)? {
                            deleted += 1;
                        }
                    }
                }
                Ok(deleted)
            })
            .map_err(|e| from_transaction("delete sessions of a user", e))?;
        if deleted > 0 {
            self.durable().await?;
        }
        Ok(deleted)
    }

    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        let value = encode(&token, "verification token")?;
        self.verification_tokens
            .insert(
                index_key(&token.identifier, token.token_hash.as_bytes()),
                value,
            )
            .map_err(|e| backend("create verification token", &e))?;
        self.durable().await
    }

    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        // One atomic remove: of many concurrent calls, exactly one receives the old value.
        let Some(bytes) = self
            .verification_tokens
            .remove(index_key(identifier, token_hash.as_bytes()))
            .map_err(|e| backend("use verification token", &e))?
        else {
            return Ok(None);
        };
        // Make the use durable before anyone acts on it: a crash must not resurrect it.
        self.durable().await?;
        let token: VerificationToken = decode(&bytes, "verification token")?;
        // The key is built from both parts; check them anyway rather than trust the layout.
        let exact = token.identifier == identifier
            && portcullis_domain::secret::constant_time_eq(
                token.token_hash.as_bytes(),
                token_hash.as_bytes(),
            );
        Ok(exact.then_some(token))
    }

    /// Drops the expired revocations (a scan of the tree; each is removed only if it is
    /// still the value read, so a concurrent revocation of the same `jti` is never
    /// undone), records this one, and returns once that is on disk.
    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = now.unix_timestamp_nanos();
        for entry in self.revoked_jwts.iter() {
            let (key, value) = entry.map_err(|e| backend("scan JWT revocations", &e))?;
            // A value this store could not have written is dropped too: it revokes nothing
            // the store can vouch for.
            let expired = revocation_expiry(&value).is_none_or(|until| until < now);
            if expired {
                // Another value now (revoked again meanwhile): kept.
                let _ = self
                    .revoked_jwts
                    .compare_and_swap(&key, Some(&value), None::<&[u8]>)
                    .map_err(|e| backend("drop an expired JWT revocation", &e))?;
            }
        }
        self.revoked_jwts
            .insert(
                jti.as_bytes(),
                expires.unix_timestamp_nanos().to_be_bytes().as_slice(),
            )
            .map_err(|e| backend("revoke a JWT", &e))?;
        self.durable().await
    }

    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.revoked_jwts
            .contains_key(jti.as_bytes())
            .map_err(|e| backend("read JWT revocations", &e))
    }

    /// A compare-and-swap on the lease's entry, looked at again when another holder
    /// changed it meanwhile. Not flushed: a lease lost in a crash only frees it sooner,
    /// and the renewal it guarded died with the process (sled has one process).
    async fn take_lease(
        &self,
        key: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = now.unix_timestamp_nanos();
        let mut value = until.unix_timestamp_nanos().to_be_bytes().to_vec();
        value.extend_from_slice(holder.as_bytes());
        loop {
            let current = self
                .leases
                .get(key.as_bytes())
                .map_err(|e| backend("read a lease", &e))?;
            if let Some((ends, held_by)) = current.as_deref().and_then(lease_parts) {
                if held_by != holder.as_bytes() && ends > now {
                    return Ok(false);
                }
            }
            let swapped = self
                .leases
                .compare_and_swap(key.as_bytes(), current, Some(value.as_slice()))
                .map_err(|e| backend("take a lease", &e))?;
            if swapped.is_ok() {
                return Ok(true);
            }
        }
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        loop {
            let current = self
                .leases
                .get(key.as_bytes())
                .map_err(|e| backend("read a lease", &e))?;
            let held = current
                .as_deref()
                .and_then(lease_parts)
                .is_some_and(|(_, held_by)| held_by == holder.as_bytes());
            if !held {
                return Ok(());
            }
            let swapped = self
                .leases
                .compare_and_swap(key.as_bytes(), current, None::<&[u8]>)
                .map_err(|e| backend("release a lease", &e))?;
            if swapped.is_ok() {
                return Ok(());
            }
        }
    }
}

/// A lease entry's end (Unix nanoseconds) and holder; `None` for bytes this store could
/// not have written (such an entry is free to take).
fn lease_parts(value: &[u8]) -> Option<(i128, &[u8])> {
    let (ends, holder) = value.split_first_chunk::<16>()?;
    Some((i128::from_be_bytes(*ends), holder))
}
