//! A Portcullis [`Store`] on MongoDB, in the collections and documents NextAuth.js v3's
//! TypeORM adapter used (spec §10.5), so a team on v3 with MongoDB points Portcullis at the
//! same database and carries on.
//!
//! ```no_run
//! # async fn demo() -> Result<(), portcullis_ports::StoreError> {
//! use portcullis_ports::Store;
//! use portcullis_store_mongo::MongoStore;
//!
//! let store = MongoStore::connect("mongodb://127.0.0.1:27017", "nextauth").await?;
//! store.ensure_indexes().await?;
//! let user = store.get_user("6a1f0c2e9b3d4e5f60718293").await?;
//! # let _ = user;
//! # Ok(()) }
//! ```
//!
//! # Documents
//!
//! Collections `users`, `accounts`, `sessions`, `verificationRequests`; camelCase fields;
//! `_id` and `userId` are ObjectIds; times are BSON dates (UTC, milliseconds).
//!
//! | collection | fields |
//! |---|---|
//! | `users` | `_id`, `name`, `email`, `emailVerified`, `image`, `createdAt`, `updatedAt` |
//! | `accounts` | `_id`, `compoundId`, `userId`, `providerType`, `providerId`, `providerAccountId`, `refreshToken`, `accessToken`, `accessTokenExpires`, `tokenType`*, `scope`*, `idToken`*, `createdAt`, `updatedAt` |
//! | `sessions` | `_id`, `userId`, `expires`, `sessionToken`, `accessToken`, `createdAt`, `updatedAt` |
//! | `verificationRequests` | `_id`, `identifier`, `token`, `expires`, `createdAt`, `updatedAt` |
//! | `portcullis_revoked_jwts`† | `_id` (the JWT's `jti`), `expires` |
//!
//! (* beyond v3: token fields v3 dropped; v3 ignores them. † Portcullis's own: the JWT
//! sessions signed out until their tokens expire, `jwt.revocable`; see
//! [`Store::revoke_jwt`].)
//!
//! Optional values are written as `null`, except a user's `email`, which is left out when
//! there is none: the unique index on `users.email` is sparse, and a sparse index skips
//! documents *without* the field but indexes `null` (two v3 users stored with `email: null`
//! collide on a real MongoDB). Reads accept a missing field and `null` alike.
//! `createdAt`/`updatedAt` are bookkeeping for v3's ORM and for people reading the data;
//! the store stamps them from the system clock, except `sessions.createdAt`, which is the
//! session's `created` (when it was signed in, from the domain's clock; the system clock
//! only for a session without one). It reads back `sessions.createdAt` (the session's
//! `created`, which the absolute lifetime counts from) and `accounts.createdAt`, to sort
//! a user's accounts by link time ([`Store::get_accounts_for_user`], through the index on
//! `accounts.userId`; ties by `_id`).
//!
//! Reading v3's data: v3 stored `providerAccountId` as the provider gave it, which may be a
//! number (GitHub's ids); such a number reads as its decimal string, and accounts are looked
//! up by `compoundId` (which v3 computed from that same string), then checked field by field.
//!
//! # Ids
//!
//! [`User::id`] is the user's ObjectId in lower-case hex. Any other string (a JWT `sub` may
//! be anything) names no user: `get_user` reads `None`, `update_user` is `NotFound`,
//! `delete_user` does nothing, and linking an account or creating a session for it is
//! `NotFound` (the reference could never resolve).
//!
//! # Atomicity (no transactions: a standalone server has none)
//!
//! - Uniqueness is the server's: the unique indexes of [`MongoStore::ensure_indexes`] turn
//!   a race into one winner and duplicate-key errors (code 11000), which are `Conflict`.
//!   Without those indexes the store cannot keep its contract: call `ensure_indexes` once
//!   (the server's `migrate` does) before serving.
//! - [`Store::use_verification_token`] is one `findAndModify` with `remove`
//!   (`find_one_and_delete`): of concurrent calls exactly one gets the document.
//! - [`Store::delete_user`] deletes the user's sessions, then its accounts, then the user: a
//!   crash midway leaves a live user with fewer sessions or accounts, never a session or an
//!   account of a deleted user. A session or account created for the user while it is being
//!   deleted may outlive it: a session of a missing user reads as `None`, and an account
//!   whose user is gone is replaced (not `Conflict`) when that provider account is linked
//!   again.
//! - `update_user` and `update_session_expiry` read the document and write it back whole
//!   (`replaceOne` on its `_id`), keeping fields this store does not know. Not `$set`:
//!   nx-27017, the MongoDB-wire server the tests run on, stores a date given to `$set` as a
//!   string, and v3 (and this store) need BSON dates. On MongoDB this costs one point read
//!   more, on writes that are rare (a session's expiry moves at most once per `updateAge`).
//!   Two concurrent updates of one user: the last write wins, as with `$set`.
//! - [`Store::update_account_tokens`] reads the account, then writes it back with one
//!   `findAndModify` whose filter holds the account's `_id` and the expected refresh token:
//!   of concurrent refreshes from one refresh token exactly one matches.
//! - [`Store::get_session_and_user`] is one round trip: an aggregation that matches the
//!   session by `sessionToken` and joins its user (`$lookup`, `$unwind`).
//! - [`Store::revoke_jwt`] deletes the revocations whose `expires` is before the caller's
//!   `now` (`deleteMany`, through the index on `expires`), then inserts `{ _id: jti,
//!   expires }`; a duplicate `_id` (revoked already, or by a racing call) is success.
//!   Both writes are journaled like every other before the answer.
//!
//! # Errors
//!
//! No error message carries a stored value: server errors are reported by code and code
//! name only (a duplicate-key message quotes the key, which may be a session token), and
//! decode errors name the collection and field, never the content.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{Acknowledgment, ClientOptions, IndexOptions, ReturnDocument, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use portcullis_domain::model::{
    compound_id, Account, AccountTokens, NewUser, Session, User, VerificationToken,
};
use portcullis_domain::secret::SecretString;
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use time::OffsetDateTime;

/// Collection names of v3's TypeORM adapter (camelCase plural naming strategy).
pub mod collection {
    pub const USERS: &str = "users";
    pub const ACCOUNTS: &str = "accounts";
    pub const SESSIONS: &str = "sessions";
    pub const VERIFICATION_REQUESTS: &str = "verificationRequests";
    /// Portcullis's own: one document, `_id: "origin"`, written by the first
    /// `ensure_indexes` (whether it found v3's data).
    pub const MIGRATIONS: &str = "portcullis_migrations";
    /// Portcullis's own: the revoked JWT `jti`s (`jwt.revocable`), one document each,
    /// `{ _id: jti, expires }`, until the token expires.
    pub const REVOKED_JWTS: &str = "portcullis_revoked_jwts";
}

/// The `_id` of the origin record in [`collection::MIGRATIONS`].
const ORIGIN_ID: &str = "origin";
/// Its field: whether the first `ensure_indexes` found NextAuth v3's data.
const UPGRADED_FROM_V3: &str = "upgradedFromNextAuthV3";

/// Field names (v3's camelCase property names, plus the additive token fields).
mod field {
    pub const ID: &str = "_id";
    pub const NAME: &str = "name";
    pub const EMAIL: &str = "email";
    pub const EMAIL_VERIFIED: &str = "emailVerified";
    pub const IMAGE: &str = "image";
    pub const CREATED_AT: &str = "createdAt";
    pub const UPDATED_AT: &str = "updatedAt";
    pub const COMPOUND_ID: &str = "compoundId";
    pub const USER_ID: &str = "userId";
    pub const PROVIDER_TYPE: &str = "providerType";
    pub const PROVIDER_ID: &str = "providerId";
    pub const PROVIDER_ACCOUNT_ID: &str = "providerAccountId";
    pub const REFRESH_TOKEN: &str = "refreshToken";
    pub const ACCESS_TOKEN: &str = "accessToken";
    pub const ACCESS_TOKEN_EXPIRES: &str = "accessTokenExpires";
    pub const TOKEN_TYPE: &str = "tokenType";
    pub const SCOPE: &str = "scope";
    pub const ID_TOKEN: &str = "idToken";
    pub const EXPIRES: &str = "expires";
    pub const SESSION_TOKEN: &str = "sessionToken";
    pub const IDENTIFIER: &str = "identifier";
    pub const TOKEN: &str = "token";
}

/// Duplicate key: 11000; 11001 and 12582 are older servers' and mongos' spellings.
const DUPLICATE_KEY_CODES: [i32; 3] = [11000, 11001, 12582];
/// `NamespaceNotFound`: `listIndexes` on a collection that does not exist yet.
const NAMESPACE_NOT_FOUND: i32 = 26;

/// One index [`MongoStore::ensure_indexes`] makes sure of.
struct IndexSpec {
    collection: &'static str,
    field: &'static str,
    unique: bool,
    sparse: bool,
}

/// Every index the store relies on, named after its field as v3's published schema does
/// (`users.email` is the unique sparse index named `email` of spec §10.5).
const INDEXES: [IndexSpec; 10] = [
    IndexSpec {
        collection: collection::USERS,
        field: field::EMAIL,
        unique: true,
        sparse: true,
    },
    IndexSpec {
        collection: collection::ACCOUNTS,
        field: field::COMPOUND_ID,
        unique: true,
        sparse: false,
    },
    IndexSpec {
        collection: collection::ACCOUNTS,
        field: field::USER_ID,
        unique: false,
        sparse: false,
    },
    IndexSpec {
        collection: collection::ACCOUNTS,
        field: field::PROVIDER_ID,
        unique: false,
        sparse: false,
    },
    IndexSpec {
        collection: collection::ACCOUNTS,
        field: field::PROVIDER_ACCOUNT_ID,
        unique: false,
        sparse: false,
    },
    IndexSpec {
        collection: collection::SESSIONS,
        field: field::SESSION_TOKEN,
        unique: true,
        sparse: false,
    },
    IndexSpec {
        collection: collection::SESSIONS,
        field: field::ACCESS_TOKEN,
        unique: true,
        sparse: false,
    },
    IndexSpec {
        collection: collection::SESSIONS,
        field: field::USER_ID,
        unique: false,
        sparse: false,
    },
    IndexSpec {
        collection: collection::VERIFICATION_REQUESTS,
        field: field::TOKEN,
        unique: true,
        sparse: false,
    },
    // For dropping the expired revocations (`_id`, the jti, is unique by itself).
    IndexSpec {
        collection: collection::REVOKED_JWTS,
        field: field::EXPIRES,
        unique: false,
        sparse: false,
    },
];

/// A [`Store`] in one MongoDB database. Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct MongoStore {
    database: Database,
    users: Collection<Document>,
    accounts: Collection<Document>,
    sessions: Collection<Document>,
    verification_requests: Collection<Document>,
    revoked_jwts: Collection<Document>,
    /// `Store::upgraded_from_v3`: read at `connect`, set by `ensure_indexes`.
    upgraded_from_v3: Arc<AtomicBool>,
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

    /// Reads the origin record (`false` when there is none yet).
    async fn read_origin(&self) -> Result<bool, StoreError> {
        let record = self
            .database
            .collection::<Document>(collection::MIGRATIONS)
            .find_one(doc! { field::ID: ORIGIN_ID })
            .await
            .map_err(|e| backend("read the migration record", &e))?;
        let upgraded = record.is_some_and(|r| r.get_bool(UPGRADED_FROM_V3).unwrap_or(false));
        self.upgraded_from_v3.store(upgraded, Ordering::Relaxed);
        Ok(upgraded)
    }

    /// Writes the origin record unless one exists: NextAuth v3's data is there when a user
    /// or a session is, or v3's unique index on `users.email`, before our first indexes.
    async fn record_origin(&self) -> Result<(), StoreError> {
        let records = self.database.collection::<Document>(collection::MIGRATIONS);
        let existing = records
            .find_one(doc! { field::ID: ORIGIN_ID })
            .await
            .map_err(|e| backend("read the migration record", &e))?;
        if existing.is_none() {
            let users = self.users.find_one(doc! {}).await;
            let sessions = self.sessions.find_one(doc! {}).await;
            let found = users
                .map_err(|e| backend("look for v3's users", &e))?
                .is_some()
                || sessions
                    .map_err(|e| backend("look for v3's sessions", &e))?
                    .is_some()
                || existing_index(&self.users, field::EMAIL).await?.is_some();
            match records
                .insert_one(doc! { field::ID: ORIGIN_ID, UPGRADED_FROM_V3: found })
                .await
            {
                Ok(_) => {}
                // Another process recorded it first: theirs stands.
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(backend("write the migration record", &e)),
            }
        }
        self.read_origin().await.map(|_| ())
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

    /// Makes sure every index the store relies on exists (idempotent; safe to run from
    /// several processes at once):
    ///
    /// - `users`: `email` unique and sparse, named `email`;
    /// - `accounts`: `compoundId` unique; `userId`; `providerId`; `providerAccountId`;
    /// - `sessions`: `sessionToken` unique; `accessToken` unique; `userId`;
    /// - `verificationRequests`: `token` unique;
    /// - `portcullis_revoked_jwts`: `expires`.
    ///
    /// An index on the same field that exists already under another name (v3's TypeORM
    /// named its unique indexes `UQ_<hash>`) is kept as it is, as long as it agrees on
    /// uniqueness; one that does not is an error naming it, and nothing is changed.
    ///
    /// Before anything else, the first call records whether the database held NextAuth
    /// v3's data (users, sessions, or v3's index on `users.email`): in the collection
    /// `portcullis_migrations`, document `{ _id: "origin", upgradedFromNextAuthV3 }`. That
    /// is [`Store::upgraded_from_v3`], which keeps new session tokens raw by default (v3
    /// reads only those). A database whose indexes an earlier Portcullis made reads as
    /// v3's too: say `hash_tokens` explicitly there.
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        self.record_origin().await?;
        for spec in &INDEXES {
            let collection = self.database.collection::<Document>(spec.collection);
            if let Some(existing) = existing_index(&collection, spec.field).await? {
                let existing_unique = existing
                    .options
                    .as_ref()
                    .and_then(|o| o.unique)
                    .unwrap_or(false);
                if existing_unique != spec.unique {
                    let name = existing
                        .options
                        .as_ref()
                        .and_then(|o| o.name.clone())
                        .unwrap_or_default();
                    return Err(StoreError::Backend(format!(
                        "index {name:?} on {}.{} is {}unique, but this store needs it {}unique",
                        spec.collection,
                        spec.field,
                        if existing_unique { "" } else { "not " },
                        if spec.unique { "" } else { "not " },
                    )));
                }
                continue;
            }
            let options = IndexOptions::builder()
                .name(spec.field.to_owned())
                .unique(spec.unique.then_some(true))
                .sparse(spec.sparse.then_some(true))
                .build();
            let model = IndexModel::builder()
                .keys(doc! { spec.field: 1 })
                .options(options)
                .build();
            collection.create_index(model).await.map_err(|e| {
                backend(
                    &format!("create the index on {}.{}", spec.collection, spec.field),
                    &e,
                )
            })?;
        }
        Ok(())
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

/// The existing index whose key is exactly `{ field: 1 }` (or `-1`), if any.
async fn existing_index(
    collection: &Collection<Document>,
    field: &str,
) -> Result<Option<IndexModel>, StoreError> {
    let listed = match collection.list_indexes().await {
        Ok(cursor) => cursor.try_collect::<Vec<IndexModel>>().await,
        Err(e) => Err(e),
    };
    let indexes = match listed {
        Ok(indexes) => indexes,
        Err(e) if command_code(&e) == Some(NAMESPACE_NOT_FOUND) => Vec::new(),
        Err(e) => return Err(backend("list indexes", &e)),
    };
    Ok(indexes
        .into_iter()
        .find(|index| index.keys.len() == 1 && index.keys.get(field).is_some_and(is_direction)))
}

/// An ascending or descending single-field index direction (`1`, `-1`, in any number type).
fn is_direction(value: &Bson) -> bool {
    match value {
        Bson::Int32(n) => *n == 1 || *n == -1,
        Bson::Int64(n) => *n == 1 || *n == -1,
        Bson::Double(n) => *n == 1.0 || *n == -1.0,
        _ => false,
    }
}

/// A user id the store could have issued: the lower-case hex of an ObjectId. Anything else
/// (another spelling of the same bytes included) names no user.
fn parse_id(id: &str) -> Option<ObjectId> {
    ObjectId::parse_str(id)
        .ok()
        .filter(|oid| oid.to_hex() == id)
}

/// The filter condition "is a reference to this ObjectId", for the `userId` fields.
///
/// `{ $in: [id] }` rather than a plain `id`: the same match on MongoDB, and nx-27017 (the
/// MongoDB-wire test server) compares a plain ObjectId with fields other than `_id` as
/// text, so a plain match finds nothing there.
fn refers_to(id: ObjectId) -> Bson {
    Bson::Document(doc! { "$in": [id] })
}

fn user_oid_or_not_found(user_id: &str) -> Result<ObjectId, StoreError> {
    parse_id(user_id).ok_or_else(|| StoreError::NotFound("user".to_owned()))
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// A BSON date: milliseconds since the epoch, rounded down.
fn to_bson_date(t: OffsetDateTime) -> Result<BsonDateTime, StoreError> {
    let millis = t.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(millis)
        .map(BsonDateTime::from_millis)
        .map_err(|_| StoreError::Backend("a timestamp is out of BSON's range".to_owned()))
}

fn opt_date(t: Option<OffsetDateTime>) -> Result<Bson, StoreError> {
    Ok(match t {
        Some(t) => Bson::DateTime(to_bson_date(t)?),
        None => Bson::Null,
    })
}

fn opt_str(value: Option<&str>) -> Bson {
    value.map_or(Bson::Null, |s| Bson::String(s.to_owned()))
}

fn opt_secret(value: Option<&SecretString>) -> Bson {
    opt_str(value.map(SecretString::expose))
}

/// Writes the user's own fields into `document` (a new one or one read back).
fn set_user_fields(
    document: &mut Document,
    name: Option<&str>,
    email: Option<&str>,
    email_verified: Option<OffsetDateTime>,
    image: Option<&str>,
    now: BsonDateTime,
) -> Result<(), StoreError> {
    document.insert(field::NAME, opt_str(name));
    match email {
        Some(email) => {
            document.insert(field::EMAIL, email);
        }
        // Left out, not null: the sparse unique index skips only missing fields.
        None => {
            document.remove(field::EMAIL);
        }
    }
    document.insert(field::EMAIL_VERIFIED, opt_date(email_verified)?);
    document.insert(field::IMAGE, opt_str(image));
    if !document.contains_key(field::CREATED_AT) {
        document.insert(field::CREATED_AT, now);
    }
    document.insert(field::UPDATED_AT, now);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Decoding: errors name the collection and field, never the value.
// ---------------------------------------------------------------------------------------

struct Fields<'a> {
    document: &'a Document,
    collection: &'static str,
}

impl<'a> Fields<'a> {
    fn of(document: &'a Document, collection: &'static str) -> Self {
        Self {
            document,
            collection,
        }
    }

    fn error(&self, key: &str, expected: &str, found: Option<&Bson>) -> StoreError {
        let found = match found {
            Some(value) => format!("{:?}", value.element_type()),
            None => "nothing".to_owned(),
        };
        StoreError::Decode(format!(
            "{}.{key}: expected {expected}, found {found}",
            self.collection
        ))
    }

    fn string(&self, key: &str) -> Result<String, StoreError> {
        match self.document.get(key) {
            Some(Bson::String(s)) => Ok(s.clone()),
            other => Err(self.error(key, "a string", other)),
        }
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self.document.get(key) {
            None | Some(Bson::Null | Bson::Undefined) => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s.clone())),
            other => Err(self.error(key, "a string or null", other)),
        }
    }

    fn date(&self, key: &str) -> Result<OffsetDateTime, StoreError> {
        match self.document.get(key) {
            Some(Bson::DateTime(d)) => from_bson_date(*d).ok_or_else(|| {
                StoreError::Decode(format!("{}.{key}: date out of range", self.collection))
            }),
            other => Err(self.error(key, "a date", other)),
        }
    }

    fn opt_date(&self, key: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        match self.document.get(key) {
            None | Some(Bson::Null | Bson::Undefined) => Ok(None),
            Some(_) => self.date(key).map(Some),
        }
    }

    /// The document's own `_id`, which must be an ObjectId.
    fn object_id(&self, key: &str) -> Result<String, StoreError> {
        match self.document.get(key) {
            Some(Bson::ObjectId(oid)) => Ok(oid.to_hex()),
            other => Err(self.error(key, "an ObjectId", other)),
        }
    }

    /// A reference to a user: an ObjectId (v3), or a string as some tools write it.
    fn user_ref(&self, key: &str) -> Result<String, StoreError> {
        match self.document.get(key) {
            Some(Bson::ObjectId(oid)) => Ok(oid.to_hex()),
            Some(Bson::String(s)) => Ok(s.clone()),
            other => Err(self.error(key, "an ObjectId", other)),
        }
    }

    /// A provider account id: a string, or the number v3 stored when the provider's
    /// profile id was one (read as its decimal string, as v3 spelled it in `compoundId`).
    fn provider_account_id(&self, key: &str) -> Result<String, StoreError> {
        match self.document.get(key) {
            Some(Bson::String(s)) => Ok(s.clone()),
            Some(Bson::Int32(n)) => Ok(n.to_string()),
            Some(Bson::Int64(n)) => Ok(n.to_string()),
            Some(Bson::Double(n)) if n.is_finite() => Ok(js_number(*n)),
            other => Err(self.error(key, "a string or a number", other)),
        }
    }
}

/// A JavaScript `Number` as `String(n)` spells it, for the integers provider ids are.
fn js_number(n: f64) -> String {
    // 2^53: every integer below is exact in a double and prints without an exponent.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() < EXACT {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

fn from_bson_date(d: BsonDateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(d.timestamp_millis()) * 1_000_000).ok()
}

fn decode_user(document: &Document) -> Result<User, StoreError> {
    let id = Fields::of(document, collection::USERS).object_id(field::ID)?;
    decode_user_fields(document, id)
}

/// A user document's fields, with its id known already.
fn decode_user_fields(document: &Document, id: String) -> Result<User, StoreError> {
    let f = Fields::of(document, collection::USERS);
    Ok(User {
        id,
        name: f.opt_string(field::NAME)?,
        email: f.opt_string(field::EMAIL)?,
        email_verified: f.opt_date(field::EMAIL_VERIFIED)?,
        image: f.opt_string(field::IMAGE)?,
    })
}

fn decode_account(document: &Document) -> Result<Account, StoreError> {
    let f = Fields::of(document, collection::ACCOUNTS);
    Ok(Account {
        user_id: f.user_ref(field::USER_ID)?,
        provider_type: f.string(field::PROVIDER_TYPE)?,
        provider_id: f.string(field::PROVIDER_ID)?,
        provider_account_id: f.provider_account_id(field::PROVIDER_ACCOUNT_ID)?,
        refresh_token: f.opt_string(field::REFRESH_TOKEN)?.map(SecretString::new),
        access_token: f.opt_string(field::ACCESS_TOKEN)?.map(SecretString::new),
        access_token_expires: f.opt_date(field::ACCESS_TOKEN_EXPIRES)?,
        token_type: f.opt_string(field::TOKEN_TYPE)?,
        scope: f.opt_string(field::SCOPE)?,
        id_token: f.opt_string(field::ID_TOKEN)?.map(SecretString::new),
    })
}

fn decode_session(document: &Document) -> Result<Session, StoreError> {
    let f = Fields::of(document, collection::SESSIONS);
    Ok(Session {
        session_token: SecretString::new(f.string(field::SESSION_TOKEN)?),
        user_id: f.user_ref(field::USER_ID)?,
        expires: f.date(field::EXPIRES)?,
        access_token: SecretString::new(f.string(field::ACCESS_TOKEN)?),
        created: f.opt_date(field::CREATED_AT)?,
    })
}

fn decode_verification(document: &Document) -> Result<VerificationToken, StoreError> {
    let f = Fields::of(document, collection::VERIFICATION_REQUESTS);
    Ok(VerificationToken {
        identifier: f.string(field::IDENTIFIER)?,
        token_hash: f.string(field::TOKEN)?,
        expires: f.date(field::EXPIRES)?,
    })
}

// ---------------------------------------------------------------------------------------
// Errors: codes and kinds only, never the server's message (it may quote a key).
// ---------------------------------------------------------------------------------------

fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => DUPLICATE_KEY_CODES.contains(&w.code),
        ErrorKind::Command(c) => DUPLICATE_KEY_CODES.contains(&c.code),
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .any(|w| DUPLICATE_KEY_CODES.contains(&w.code)),
        _ => false,
    }
}

/// `Conflict` for a duplicate key, otherwise a `Backend` error.
fn write_error(what: &str, conflict: &str, error: &mongodb::error::Error) -> StoreError {
    if is_duplicate_key(error) {
        StoreError::Conflict(conflict.to_owned())
    } else {
        backend(what, error)
    }
}

fn backend(what: &str, error: &mongodb::error::Error) -> StoreError {
    StoreError::Backend(format!("could not {what}: {}", describe(error)))
}

fn describe(error: &mongodb::error::Error) -> String {
    match error.kind.as_ref() {
        ErrorKind::Command(c) => format!("server error {} ({})", c.code, c.code_name),
        ErrorKind::Write(WriteFailure::WriteError(w)) => match &w.code_name {
            Some(name) => format!("write error {} ({name})", w.code),
            None => format!("write error {}", w.code),
        },
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => {
            format!("write concern error {} ({})", w.code, w.code_name)
        }
        ErrorKind::Write(_) | ErrorKind::InsertMany(_) | ErrorKind::BulkWrite(_) => {
            "write error".to_owned()
        }
        ErrorKind::Io(e) => format!("I/O error: {e}"),
        ErrorKind::ServerSelection { message, .. } => format!("no server available: {message}"),
        ErrorKind::ConnectionPoolCleared { message, .. } => {
            format!("connection pool cleared: {message}")
        }
        ErrorKind::Authentication { message, .. } => format!("authentication failed: {message}"),
        ErrorKind::InvalidArgument { message, .. } => format!("invalid argument: {message}"),
        ErrorKind::DnsResolve { message, .. } => format!("DNS resolution failed: {message}"),
        ErrorKind::InvalidTlsConfig { message, .. } => {
            format!("invalid TLS configuration: {message}")
        }
        ErrorKind::IncompatibleServer { message, .. } => format!("incompatible server: {message}"),
        ErrorKind::Shutdown => "the client was shut down".to_owned(),
        // These may describe document contents: kind only.
        ErrorKind::InvalidResponse { .. } => "invalid response from the server".to_owned(),
        ErrorKind::BsonDeserialization(_) | ErrorKind::BsonSerialization(_) => {
            "BSON conversion failed".to_owned()
        }
        _ => "driver error".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------

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
    use time::macros::datetime;

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

    #[test]
    fn ids_are_canonical_object_ids_only() {
        let oid = ObjectId::new();
        assert_eq!(parse_id(&oid.to_hex()), Some(oid));
        for not_an_id in [
            "",
            "not-an-objectid",
            "999999999",
            "6A1F0C2E9B3D4E5F60718293",
            "6a1f0c2e9b3d4e5f6071829",
            "6a1f0c2e9b3d4e5f607182930",
            " 6a1f0c2e9b3d4e5f60718293",
            "zz1f0c2e9b3d4e5f60718293",
        ] {
            assert_eq!(parse_id(not_an_id), None, "{not_an_id:?}");
        }
    }

    #[test]
    fn dates_round_down_to_the_millisecond() {
        let t = datetime!(2029-11-12 13:14:15.123_999_999 +05:30);
        let d = to_bson_date(t).unwrap();
        assert_eq!(
            from_bson_date(d),
            Some(datetime!(2029-11-12 07:44:15.123 UTC))
        );
        let before_epoch = datetime!(1969-12-31 23:59:59.999_5 UTC);
        let d = to_bson_date(before_epoch).unwrap();
        assert_eq!(d.timestamp_millis(), -1);
    }

    #[test]
    fn numbers_read_as_javascript_spells_them() {
        assert_eq!(js_number(12_345.0), "12345");
        assert_eq!(js_number(4_294_967_296.0), "4294967296");
        assert_eq!(js_number(-7.0), "-7");
        assert_eq!(js_number(1.5), "1.5");
    }

    #[test]
    fn decode_errors_name_the_field_not_the_value() {
        let secret = "5".repeat(64);
        let document = doc! {
            field::SESSION_TOKEN: &secret,
            field::USER_ID: ObjectId::new(),
            field::EXPIRES: &secret,
            field::ACCESS_TOKEN: "a",
        };
        let error = decode_session(&document).unwrap_err();
        assert_eq!(
            error,
            StoreError::Decode("sessions.expires: expected a date, found String".to_owned())
        );
        assert!(!error.to_string().contains(&secret));
    }
}
