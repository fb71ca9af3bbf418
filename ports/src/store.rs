//! The store port: users, accounts, sessions and verification tokens (spec §10).
//!
//! Stores keep records; they do not read the clock. Expiry is the domain's decision, so a
//! store returns what it holds and the domain compares `expires` with its `now`.

use async_trait::async_trait;
use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use portcullis_domain::secret::SecretString;
use portcullis_domain::store::{StoreError, StoreOp, StoreReply};
use time::OffsetDateTime;

/// A place to keep users, accounts, sessions and verification tokens.
///
/// One conformance suite (the `portcullis-store-conformance` crate, a dev-dependency) runs
/// unchanged against every implementation.
#[async_trait]
pub trait Store: Send + Sync {
    /// Creates a user; `Conflict` when another user has the same e-mail.
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;
    /// The user with this id; `None` for an unknown id.
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Exact match on the canonical address.
    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// The user linked to this provider account, if any.
    async fn get_user_by_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<User>, StoreError>;
    /// Replaces the user's fields; `NotFound` for an unknown id, `Conflict` for a taken e-mail.
    async fn update_user(&self, user: User) -> Result<User, StoreError>;
    /// Deletes the user with its accounts and sessions. Deleting an unknown id is not an error.
    async fn delete_user(&self, id: &str) -> Result<(), StoreError>;

    /// Links a provider account; `Conflict` when that provider account is linked already.
    async fn link_account(&self, account: Account) -> Result<Account, StoreError>;
    /// The account linked as exactly this provider account, if any.
    async fn get_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError>;
    /// Every provider account linked to a user, oldest link first; empty for an unknown user.
    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError>;
    /// Unlinking an unknown account is not an error.
    async fn unlink_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<(), StoreError>;
    /// Replaces the provider tokens of one account if its stored refresh token still equals
    /// `expected_refresh_token` (compared as stored; `None` = no refresh token stored).
    /// Returns the updated account; `Ok(None)` when the account exists but its refresh token
    /// changed meanwhile (another refresh won); `Err(NotFound)` when there is no such account.
    ///
    /// One atomic compare-and-set: of many concurrent calls expecting the same refresh
    /// token (and each storing a different one), exactly one gets `Some`, also across
    /// processes sharing the database.
    async fn update_account_tokens(
        &self,
        provider_id: &str,
        provider_account_id: &str,
        expected_refresh_token: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError>;

    /// Stores a session; `Conflict` on a duplicate session token. `created` is kept as given
    /// (the domain's clock, not the database's) and read back with the session.
    async fn create_session(&self, session: Session) -> Result<Session, StoreError>;
    /// The session stored under any of `session_keys` and its user, in one lookup (expired
    /// ones included: the caller decides). The returned session's `session_token` is the
    /// key that matched, which `update_session_expiry` and `delete_session` then take. A
    /// session whose user is gone reads as `None`.
    ///
    /// The domain passes the candidates of one cookie (its `sha256:` key and, for v3's raw
    /// rows, the token itself: `portcullis_domain::session_key`); a store only matches
    /// keys, it never hashes.
    async fn get_session_and_user(
        &self,
        session_keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError>;
    /// Moves a session's expiry; `NotFound` for an unknown token.
    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Deleting an unknown session is not an error.
    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError>;
    /// A user's sessions, soonest expiry first.
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError>;
    /// Deletes every session of a user ("sign out everywhere"); returns how many.
    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError>;

    /// Stores a pending verification (only the token's hash is ever given to a store).
    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError>;
    /// Takes the token for exactly this `(identifier, token_hash)` pair and deletes it, in
    /// one atomic step: of many concurrent calls, at most one gets `Some`. Expired tokens
    /// are returned too (and deleted): the caller compares `expires` with its clock.
    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError>;

    /// Records that the JWT session with this `jti` is revoked until `expires` (the token's
    /// `exp`: after it the token is refused anyway), so that every instance sharing the
    /// store refuses it (`jwt.revocable`). Revoking a revoked `jti` again is not an error.
    /// Also drops the revocations whose `expires` is before `now`, which keeps the record
    /// bounded by the tokens still alive.
    ///
    /// The default refuses: a store of its own that keeps no revocations cannot back
    /// `jwt.revocable`, and a session read then fails closed.
    async fn revoke_jwt(
        &self,
        _jti: &str,
        _expires: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Err(StoreError::Backend(
            "this store does not keep JWT revocations".into(),
        ))
    }
    /// Whether [`Store::revoke_jwt`] recorded this `jti` (expired revocations may or may not
    /// still be reported: the token they name has expired too).
    async fn is_jwt_revoked(&self, _jti: &str) -> Result<bool, StoreError> {
        Err(StoreError::Backend(
            "this store does not keep JWT revocations".into(),
        ))
    }

    /// Takes the lease named `key` for `holder` until `until`, unless another holder's
    /// lease on it still runs at `now`; `Ok(true)`: `holder` has it (taken anew, taken over
    /// from an expired lease, or extended). One atomic step, also across processes sharing
    /// the database: of many holders asking at once, one gets `true`.
    ///
    /// The engine leases the renewal of a provider account's tokens, so that of several
    /// instances needing a fresh access token at once only one spends the refresh token at
    /// the provider; the others wait for its result ([`Store::update_account_tokens`]).
    ///
    /// The default grants every lease: a store of its own that keeps none leaves renewals
    /// serialised per process only (compare-and-set still keeps one result).
    async fn take_lease(
        &self,
        _key: &str,
        _holder: &str,
        _now: OffsetDateTime,
        _until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Ends `holder`'s lease named `key` early; another holder's lease, or none, is left
    /// as it is.
    async fn release_lease(&self, _key: &str, _holder: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether this database was NextAuth v3's before Portcullis's migration took it over
    /// (its schema existed when the migration ran). There, v3 may still be serving, so new
    /// database sessions default to raw tokens, which v3 can read (docs/security.md).
    /// Known from the store's migration record; a store v3 never used says `false`.
    fn upgraded_from_v3(&self) -> bool {
        false
    }
}

/// Performs one store operation a flow asked for.
pub async fn perform(store: &dyn Store, op: StoreOp) -> Result<StoreReply, StoreError> {
    Ok(match op {
        StoreOp::CreateUser(user) => StoreReply::User(store.create_user(user).await?),
        StoreOp::GetUser(id) => StoreReply::MaybeUser(store.get_user(&id).await?),
        StoreOp::GetUserByEmail(email) => {
            StoreReply::MaybeUser(store.get_user_by_email(&email).await?)
        }
        StoreOp::GetUserByAccount {
            provider_id,
            provider_account_id,
        } => StoreReply::MaybeUser(
            store
                .get_user_by_account(&provider_id, &provider_account_id)
                .await?,
        ),
        StoreOp::UpdateUser(user) => StoreReply::User(store.update_user(user).await?),
        StoreOp::DeleteUser(id) => {
            store.delete_user(&id).await?;
            StoreReply::Done
        }
        StoreOp::LinkAccount(account) => StoreReply::Account(store.link_account(account).await?),
        StoreOp::UnlinkAccount {
            provider_id,
            provider_account_id,
        } => {
            store
                .unlink_account(&provider_id, &provider_account_id)
                .await?;
            StoreReply::Done
        }
        StoreOp::GetAccount {
            provider_id,
            provider_account_id,
        } => StoreReply::MaybeAccount(
            store
                .get_account(&provider_id, &provider_account_id)
                .await?,
        ),
        StoreOp::GetAccountsForUser(user_id) => {
            StoreReply::Accounts(store.get_accounts_for_user(&user_id).await?)
        }
        StoreOp::UpdateAccountTokens {
            provider_id,
            provider_account_id,
            expected_refresh_token,
            tokens,
        } => StoreReply::MaybeAccount(
            store
                .update_account_tokens(
                    &provider_id,
                    &provider_account_id,
                    expected_refresh_token.as_ref().map(SecretString::expose),
                    tokens,
                )
                .await?,
        ),
        StoreOp::CreateSession(session) => {
            StoreReply::Session(store.create_session(session).await?)
        }
        StoreOp::GetSessionAndUser(keys) => {
            StoreReply::MaybeSessionAndUser(store.get_session_and_user(&keys.exposed()).await?)
        }
        StoreOp::UpdateSessionExpiry {
            session_token,
            expires,
        } => {
            store
                .update_session_expiry(session_token.expose(), expires)
                .await?;
            StoreReply::Done
        }
        StoreOp::DeleteSession(keys) => {
            // At most two keys (hashed and raw); deleting an absent one is no error.
            for key in keys.keys() {
                store.delete_session(key.expose()).await?;
            }
            StoreReply::Done
        }
        StoreOp::RevokeJwt { jti, expires, now } => {
            store.revoke_jwt(&jti, expires, now).await?;
            StoreReply::Done
        }
        StoreOp::IsJwtRevoked(jti) => StoreReply::Revoked(store.is_jwt_revoked(&jti).await?),
        StoreOp::CreateVerificationToken(token) => {
            store.create_verification_token(token).await?;
            StoreReply::Done
        }
        StoreOp::UseVerificationToken {
            identifier,
            token_hash,
        } => StoreReply::MaybeVerificationToken(
            store
                .use_verification_token(&identifier, &token_hash)
                .await?,
        ),
    })
}
