//! [`MongoStore`]: the [`Store`] port on MongoDB.

mod accounts;
mod leases;
mod sessions;
mod tokens;
mod users;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
use mongodb::{Client, Collection, Database};
use portcullis_domain::model::{
    compound_id, Account, AccountTokens, NewUser, Session, User, VerificationToken,
};
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use time::OffsetDateTime;

use crate::error::backend;
use crate::schema::{collection, field};
use crate::types::{decode_account, decode_user, refers_to};

/// A [`Store`] in one MongoDB database. Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct MongoStore {
    pub(crate) database: Database,
    pub(crate) users: Collection<Document>,
    accounts: Collection<Document>,
    pub(crate) sessions: Collection<Document>,
    verification_requests: Collection<Document>,
    revoked_jwts: Collection<Document>,
    leases: Collection<Document>,
    /// `Store::upgraded_from_v3`: read at `connect`, set by `ensure_indexes`.
    pub(crate) upgraded_from_v3: Arc<AtomicBool>,
}

// Not derived: the client's `Debug` prints its options, credentials included.
impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("database", &self.database.name())
            .finish_non_exhaustive()
    }
}

/// Asks for journaled writes (`j: true`) unless the URL's write concern says otherwise
/// (`journal=false`, or `w=0`, which cannot be journaled): a write the server
/// acknowledged is then in its on-disk journal, so a crash of the server after the
/// answer cannot undo a sign-in, a used link or a sign-out. The server's default
/// acknowledges before the journal's next group commit (up to 100 ms later).
fn journaled(options: &mut ClientOptions) {
    let concern = options
        .write_concern
        .get_or_insert_with(WriteConcern::default);
    let unacknowledged = matches!(concern.w, Some(Acknowledgment::Nodes(0)));
    if concern.journal.is_none() && !unacknowledged {
        concern.journal = Some(true);
    }
}

impl MongoStore {
    /// Connects to the server at `url` (`mongodb://…` or `mongodb+srv://…`; pool size,
    /// timeouts, TLS and credentials are URL options) and uses `database`. Pings the server
    /// first, so an unreachable server is an error here (after the URL's
    /// `serverSelectionTimeoutMS`, 30 s by default), not on the first request.
    ///
    /// Does not create indexes: call [`MongoStore::ensure_indexes`] once before serving.
    pub async fn connect(url: &str, database: &str) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(url)
            .await
            .map_err(|e| backend("parse the MongoDB connection URL", &e))?;
        if options.app_name.is_none() {
            options.app_name = Some("portcullis".to_owned());
        }
        journaled(&mut options);
        let client =
            Client::with_options(options).map_err(|e| backend("create the MongoDB client", &e))?;
        let store = Self::from_database(client.database(database));
        store
            .database
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(|e| backend("reach the MongoDB server", &e))?;
        store.read_origin().await?;
        Ok(store)
    }

    /// A store in a database of a client the application already has (no ping, no indexes).
    pub fn from_database(database: Database) -> Self {
        Self {
            users: database.collection(collection::USERS),
            accounts: database.collection(collection::ACCOUNTS),
            sessions: database.collection(collection::SESSIONS),
            verification_requests: database.collection(collection::VERIFICATION_REQUESTS),
            revoked_jwts: database.collection(collection::REVOKED_JWTS),
            leases: database.collection(collection::LEASES),
            database,
            upgraded_from_v3: Arc::default(),
        }
    }

    /// The database this store keeps its collections in.
    pub fn database(&self) -> &Database {
        &self.database
    }

    async fn user_by_oid(&self, id: ObjectId) -> Result<Option<User>, StoreError> {
        self.users
            .find_one(doc! { field::ID: id })
            .await
            .map_err(|e| backend("find a user", &e))?
            .map(|d| decode_user(&d))
            .transpose()
    }

    /// The account document of exactly this provider account, if any: found through the
    /// unique `compoundId`, then checked field by field (two provider accounts can share a
    /// compound id, see [`Account::compound_id`]).
    async fn account_doc(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<(Document, Account)>, StoreError> {
        let found = self
            .accounts
            .find_one(doc! { field::COMPOUND_ID: compound_id(provider_id, provider_account_id) })
            .await
            .map_err(|e| backend("find an account", &e))?;
        let Some(document) = found else {
            return Ok(None);
        };
        let account = decode_account(&document)?;
        if account.provider_id == provider_id && account.provider_account_id == provider_account_id
        {
            Ok(Some((document, account)))
        } else {
            Ok(None)
        }
    }

    /// When a link is refused because the compound id is taken: removes the taken account
    /// if its user no longer exists (orphaned by a `delete_user` that raced with linking).
    /// Returns whether it removed one, so the link may be tried once more.
    async fn remove_orphaned_account(&self, cid: &str) -> Result<bool, StoreError> {
        let found = self
            .accounts
            .find_one(doc! { field::COMPOUND_ID: cid })
            .await
            .map_err(|e| backend("find an account", &e))?;
        let Some(existing) = found else {
            // Gone in the meantime: try again.
            return Ok(true);
        };
        let Ok(user_id) = existing.get_object_id(field::USER_ID) else {
            return Ok(false);
        };
        if self.user_by_oid(user_id).await?.is_some() {
            return Ok(false);
        }
        let Some(id) = existing.get(field::ID).cloned() else {
            return Ok(false);
        };
        self.accounts
            .delete_one(doc! { field::ID: id, field::USER_ID: refers_to(user_id) })
            .await
            .map_err(|e| backend("delete an orphaned account", &e))?;
        Ok(true)
    }
}

// The port: each operation is written in the module of its area (users, accounts,
// sessions, tokens).
#[async_trait]
impl Store for MongoStore {
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
        self.upgraded_from_v3.load(Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_are_journaled_unless_the_url_says_otherwise() {
        let concern = |url: &'static str| async move {
            let mut options = ClientOptions::parse(url).await.unwrap();
            journaled(&mut options);
            options.write_concern.unwrap()
        };
        assert_eq!(concern("mongodb://db").await.journal, Some(true));
        let majority = concern("mongodb://db/?w=majority").await;
        assert_eq!(majority.journal, Some(true));
        assert_eq!(majority.w, Some(Acknowledgment::Majority));
        assert_eq!(
            concern("mongodb://db/?journal=false").await.journal,
            Some(false)
        );
        assert_eq!(concern("mongodb://db/?w=0").await.journal, None);
    }
}
