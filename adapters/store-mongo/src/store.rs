//! [`MongoStore`]: the [`Store`] port on MongoDB.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use mongodb::options::{Acknowledgment, ClientOptions, ReturnDocument, WriteConcern};
use mongodb::{Client, Collection, Database};
use portcullis_domain::model::{
    compound_id, Account, AccountTokens, NewUser, Session, User, VerificationToken,
};
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use time::OffsetDateTime;

use crate::error::{backend, is_duplicate_key, write_error};
use crate::schema::{collection, field};
use crate::types::{
    decode_account, decode_session, decode_user, decode_user_fields, decode_verification, opt_date,
    opt_secret, opt_str, parse_id, refers_to, set_user_fields, to_bson_date, user_oid_or_not_found,
};

/// A [`Store`] in one MongoDB database. Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct MongoStore {
    pub(crate) database: Database,
    pub(crate) users: Collection<Document>,
    accounts: Collection<Document>,
    pub(crate) sessions: Collection<Document>,
    verification_requests: Collection<Document>,
    revoked_jwts: Collection<Document>,
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

#[async_trait]
impl Store for MongoStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let id = ObjectId::new();
        let mut document = doc! { field::ID: id };
        set_user_fields(
            &mut document,
            user.name.as_deref(),
            user.email.as_deref(),
            user.email_verified,
            user.image.as_deref(),
            BsonDateTime::now(),
        )?;
        self.users
            .insert_one(&document)
            .await
            .map_err(|e| write_error("create a user", "e-mail is taken", &e))?;
        Ok(user.with_id(id.to_hex()))
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        match parse_id(id) {
            Some(oid) => self.user_by_oid(oid).await,
            None => Ok(None),
        }
    }

    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.users
            .find_one(doc! { field::EMAIL: email })
            .await
            .map_err(|e| backend("find a user by e-mail", &e))?
            .map(|d| decode_user(&d))
            .transpose()
    }

    async fn get_user_by_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<User>, StoreError> {
        let Some((_, account)) = self.account_doc(provider_id, provider_account_id).await? else {
            return Ok(None);
        };
        self.get_user(&account.user_id).await
    }

    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        let not_found = || StoreError::NotFound("user".to_owned());
        let oid = parse_id(&user.id).ok_or_else(not_found)?;
        let mut document = self
            .users
            .find_one(doc! { field::ID: oid })
            .await
            .map_err(|e| backend("find a user", &e))?
            .ok_or_else(not_found)?;
        set_user_fields(
            &mut document,
            user.name.as_deref(),
            user.email.as_deref(),
            user.email_verified,
            user.image.as_deref(),
            BsonDateTime::now(),
        )?;
        let result = self
            .users
            .replace_one(doc! { field::ID: oid }, &document)
            .await
            .map_err(|e| write_error("update a user", "e-mail is taken", &e))?;
        if result.matched_count == 0 {
            return Err(not_found());
        }
        Ok(user)
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let Some(oid) = parse_id(id) else {
            return Ok(());
        };
        // Sessions first (they grant access), then accounts, then the user: a crash midway
        // leaves no session or account whose user is gone.
        self.sessions
            .delete_many(doc! { field::USER_ID: refers_to(oid) })
            .await
            .map_err(|e| backend("delete a user's sessions", &e))?;
        self.accounts
            .delete_many(doc! { field::USER_ID: refers_to(oid) })
            .await
            .map_err(|e| backend("delete a user's accounts", &e))?;
        self.users
            .delete_one(doc! { field::ID: oid })
            .await
            .map_err(|e| backend("delete a user", &e))?;
        Ok(())
    }

    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        let user_id = user_oid_or_not_found(&account.user_id)?;
        let now = BsonDateTime::now();
        let cid = account.compound_id();
        let document = doc! {
            field::ID: ObjectId::new(),
            field::COMPOUND_ID: &cid,
            field::USER_ID: user_id,
            field::PROVIDER_TYPE: &account.provider_type,
            field::PROVIDER_ID: &account.provider_id,
            field::PROVIDER_ACCOUNT_ID: &account.provider_account_id,
            field::REFRESH_TOKEN: opt_secret(account.refresh_token.as_ref()),
            field::ACCESS_TOKEN: opt_secret(account.access_token.as_ref()),
            field::ACCESS_TOKEN_EXPIRES: opt_date(account.access_token_expires)?,
            field::TOKEN_TYPE: opt_str(account.token_type.as_deref()),
            field::SCOPE: opt_str(account.scope.as_deref()),
            field::ID_TOKEN: opt_secret(account.id_token.as_ref()),
            field::CREATED_AT: now,
            field::UPDATED_AT: now,
        };
        const CONFLICT: &str = "provider account is already linked";
        match self.accounts.insert_one(&document).await {
            Ok(_) => return Ok(account),
            Err(e) if !is_duplicate_key(&e) => return Err(backend("link an account", &e)),
            Err(_) => {}
        }
        if !self.remove_orphaned_account(&cid).await? {
            return Err(StoreError::Conflict(CONFLICT.to_owned()));
        }
        self.accounts
            .insert_one(&document)
            .await
            .map_err(|e| write_error("link an account", CONFLICT, &e))?;
        Ok(account)
    }

    async fn get_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self
            .account_doc(provider_id, provider_account_id)
            .await?
            .map(|(_, account)| account))
    }

    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        let Some(oid) = parse_id(user_id) else {
            return Ok(Vec::new());
        };
        let documents: Vec<Document> = self
            .accounts
            .find(doc! { field::USER_ID: refers_to(oid) })
            .sort(doc! { field::CREATED_AT: 1, field::ID: 1 })
            .await
            .map_err(|e| backend("list a user's accounts", &e))?
            .try_collect()
            .await
            .map_err(|e| backend("list a user's accounts", &e))?;
        documents.iter().map(decode_account).collect()
    }

    async fn unlink_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<(), StoreError> {
        let Some((document, _)) = self.account_doc(provider_id, provider_account_id).await? else {
            return Ok(());
        };
        let Some(id) = document.get(field::ID).cloned() else {
            return Err(StoreError::Decode(format!(
                "{}.{}: missing",
                collection::ACCOUNTS,
                field::ID
            )));
        };
        self.accounts
            .delete_one(doc! { field::ID: id })
            .await
            .map_err(|e| backend("unlink an account", &e))?;
        Ok(())
    }

    /// Reads the account (to match the pair exactly and keep fields this store does not
    /// know), then writes it back whole with one `findAndModify` whose filter holds its
    /// `_id` and the expected `refreshToken`: the server applies it only if the refresh
    /// token is still the expected one, so of concurrent refreshes exactly one matches.
    /// A replacement, not `$set`: see the crate documentation.
    async fn update_account_tokens(
        &self,
        provider_id: &str,
        provider_account_id: &str,
        expected_refresh_token: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError> {
        let not_found = || StoreError::NotFound("account".to_owned());
        let (mut document, _) = self
            .account_doc(provider_id, provider_account_id)
            .await?
            .ok_or_else(not_found)?;
        let Some(id) = document.get(field::ID).cloned() else {
            return Err(StoreError::Decode(format!(
                "{}.{}: missing",
                collection::ACCOUNTS,
                field::ID
            )));
        };
        document.insert(
            field::REFRESH_TOKEN,
            opt_secret(tokens.refresh_token.as_ref()),
        );
        document.insert(
            field::ACCESS_TOKEN,
            opt_secret(tokens.access_token.as_ref()),
        );
        document.insert(
            field::ACCESS_TOKEN_EXPIRES,
            opt_date(tokens.access_token_expires)?,
        );
        document.insert(field::TOKEN_TYPE, opt_str(tokens.token_type.as_deref()));
        document.insert(field::SCOPE, opt_str(tokens.scope.as_deref()));
        document.insert(field::ID_TOKEN, opt_secret(tokens.id_token.as_ref()));
        document.insert(field::UPDATED_AT, BsonDateTime::now());
        // `refreshToken: null` matches a null or missing field, as v3 may have left it.
        let filter = doc! {
            field::ID: id,
            field::REFRESH_TOKEN: opt_str(expected_refresh_token),
        };
        let updated = self
            .accounts
            .find_one_and_replace(filter, &document)
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| backend("update an account's tokens", &e))?;
        match updated {
            Some(document) => decode_account(&document).map(Some),
            // Unlinked meanwhile, or another refresh won.
            None => match self.account_doc(provider_id, provider_account_id).await? {
                Some(_) => Ok(None),
                None => Err(not_found()),
            },
        }
    }

    fn upgraded_from_v3(&self) -> bool {
        self.upgraded_from_v3.load(Ordering::Relaxed)
    }

    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        let user_id = user_oid_or_not_found(&session.user_id)?;
        let now = BsonDateTime::now();
        // The domain's instant of sign-in; v3's stamp (the system clock) when there is none.
        let created = match session.created {
            Some(created) => to_bson_date(created)?,
            None => now,
        };
        let document = doc! {
            field::ID: ObjectId::new(),
            field::USER_ID: user_id,
            field::EXPIRES: to_bson_date(session.expires)?,
            field::SESSION_TOKEN: session.session_token.expose(),
            field::ACCESS_TOKEN: session.access_token.expose(),
            field::CREATED_AT: created,
            field::UPDATED_AT: now,
        };
        self.sessions
            .insert_one(&document)
            .await
            .map_err(|e| write_error("create a session", "session token is taken", &e))?;
        Ok(session)
    }

    /// One round trip: an aggregation that finds the session by its unique `sessionToken`
    /// (any of the candidate keys: `$in`) and joins its user (`$lookup` on `_id`);
    /// `$unwind` then drops a session whose user is gone.
    async fn get_session_and_user(
        &self,
        session_keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        const JOINED: &str = "user";
        if session_keys.is_empty() {
            return Ok(None);
        }
        let pipeline = [
            doc! { "$match": { field::SESSION_TOKEN: { "$in": session_keys.to_vec() } } },
            doc! { "$limit": 1 },
            doc! { "$lookup": {
                "from": collection::USERS,
                "localField": field::USER_ID,
                "foreignField": field::ID,
                "as": JOINED,
            } },
            doc! { "$unwind": format!("${JOINED}") },
        ];
        let found = self
            .sessions
            .aggregate(pipeline)
            .await
            .map_err(|e| backend("find a session", &e))?
            .try_next()
            .await
            .map_err(|e| backend("find a session", &e))?;
        let Some(document) = found else {
            return Ok(None);
        };
        let session = decode_session(&document)?;
        let Ok(user) = document.get_document(JOINED) else {
            return Err(StoreError::Decode(format!(
                "{}.{}: the joined user is not a document",
                collection::SESSIONS,
                field::USER_ID
            )));
        };
        // The user's id is the join key: the session's `userId`. (nx-27017, the test
        // server, hands joined `_id`s back as strings; the join key is the same value.)
        let user = decode_user_fields(user, session.user_id.clone())?;
        Ok(Some((session, user)))
    }

    /// Reads the session and writes it back whole with the new expiry (`replaceOne` on its
    /// `_id` and token; why not `$set`: see the crate documentation).
    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let not_found = || StoreError::NotFound("session".to_owned());
        let mut document = self
            .sessions
            .find_one(doc! { field::SESSION_TOKEN: session_token })
            .await
            .map_err(|e| backend("find a session", &e))?
            .ok_or_else(not_found)?;
        // Fails on a document this store could not read, as the other session reads do.
        decode_session(&document)?;
        let Some(id) = document.get(field::ID).cloned() else {
            return Err(StoreError::Decode(format!(
                "{}.{}: missing",
                collection::SESSIONS,
                field::ID
            )));
        };
        document.insert(field::EXPIRES, to_bson_date(expires)?);
        document.insert(field::UPDATED_AT, BsonDateTime::now());
        let result = self
            .sessions
            .replace_one(
                doc! { field::ID: id, field::SESSION_TOKEN: session_token },
                &document,
            )
            .await
            .map_err(|e| backend("update a session", &e))?;
        if result.matched_count == 0 {
            return Err(not_found());
        }
        Ok(())
    }

    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError> {
        self.sessions
            .delete_one(doc! { field::SESSION_TOKEN: session_token })
            .await
            .map_err(|e| backend("delete a session", &e))?;
        Ok(())
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let Some(oid) = parse_id(user_id) else {
            return Ok(Vec::new());
        };
        let documents: Vec<Document> = self
            .sessions
            .find(doc! { field::USER_ID: refers_to(oid) })
            .sort(doc! { field::EXPIRES: 1, field::ID: 1 })
            .await
            .map_err(|e| backend("list sessions", &e))?
            .try_collect()
            .await
            .map_err(|e| backend("list sessions", &e))?;
        documents.iter().map(decode_session).collect()
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let Some(oid) = parse_id(user_id) else {
            return Ok(0);
        };
        let result = self
            .sessions
            .delete_many(doc! { field::USER_ID: refers_to(oid) })
            .await
            .map_err(|e| backend("delete a user's sessions", &e))?;
        Ok(result.deleted_count)
    }

    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        let now = BsonDateTime::now();
        let document = doc! {
            field::ID: ObjectId::new(),
            field::IDENTIFIER: &token.identifier,
            field::TOKEN: &token.token_hash,
            field::EXPIRES: to_bson_date(token.expires)?,
            field::CREATED_AT: now,
            field::UPDATED_AT: now,
        };
        self.verification_requests
            .insert_one(&document)
            .await
            .map_err(|e| {
                write_error(
                    "create a verification request",
                    "verification token is taken",
                    &e,
                )
            })?;
        Ok(())
    }

    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        self.verification_requests
            .find_one_and_delete(doc! { field::IDENTIFIER: identifier, field::TOKEN: token_hash })
            .await
            .map_err(|e| backend("use a verification request", &e))?
            .map(|d| decode_verification(&d))
            .transpose()
    }

    /// Drops the expired revocations (`deleteMany` on `expires`), then inserts this one;
    /// a `jti` recorded already (duplicate `_id`, also from a racing call) is kept as it is.
    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let expires = to_bson_date(expires)?;
        let now = to_bson_date(now)?;
        self.revoked_jwts
            .delete_many(doc! { field::EXPIRES: { "$lt": now } })
            .await
            .map_err(|e| backend("drop expired JWT revocations", &e))?;
        match self
            .revoked_jwts
            .insert_one(doc! { field::ID: jti, field::EXPIRES: expires })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(backend("revoke a JWT", &e)),
        }
    }

    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let found = self
            .revoked_jwts
            .find_one(doc! { field::ID: jti })
            .await
            .map_err(|e| backend("read a JWT revocation", &e))?;
        Ok(found.is_some())
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
