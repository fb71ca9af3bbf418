//! The collections, field names and indexes: NextAuth.js v3's TypeORM schema (spec §10.5)
//! plus Portcullis's own collections, and the origin record that says whether the
//! database was v3's.

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use portcullis_domain::store::StoreError;
use std::sync::atomic::Ordering;

use crate::error::{backend, command_code, is_duplicate_key, NAMESPACE_NOT_FOUND};
use crate::MongoStore;

/// Collection names of v3's TypeORM adapter (camelCase plural naming strategy).
pub mod collection {
    /// Users.
    pub const USERS: &str = "users";
    /// Provider accounts linked to users.
    pub const ACCOUNTS: &str = "accounts";
    /// Database sessions.
    pub const SESSIONS: &str = "sessions";
    /// Pending e-mail sign-ins (verification tokens).
    pub const VERIFICATION_REQUESTS: &str = "verificationRequests";
    /// Portcullis's own: one document, `_id: "origin"`, written by the first
    /// `ensure_indexes` (whether it found v3's data).
    pub const MIGRATIONS: &str = "portcullis_migrations";
    /// Portcullis's own: the revoked JWT `jti`s (`jwt.revocable`), one document each,
    /// `{ _id: jti, expires }`, until the token expires.
    pub const REVOKED_JWTS: &str = "portcullis_revoked_jwts";
    /// Portcullis's own: leases (`take_lease`), one document each,
    /// `{ _id: key, holder, untilMs }`.
    pub const LEASES: &str = "portcullis_leases";
}

/// The `_id` of the origin record in [`collection::MIGRATIONS`].
const ORIGIN_ID: &str = "origin";
/// Its field: whether the first `ensure_indexes` found NextAuth v3's data.
const UPGRADED_FROM_V3: &str = "upgradedFromNextAuthV3";

/// Field names (v3's camelCase property names, plus the additive token fields).
pub(crate) mod field {
    pub(crate) const ID: &str = "_id";
    pub(crate) const NAME: &str = "name";
    pub(crate) const EMAIL: &str = "email";
    pub(crate) const EMAIL_VERIFIED: &str = "emailVerified";
    pub(crate) const IMAGE: &str = "image";
    pub(crate) const CREATED_AT: &str = "createdAt";
    pub(crate) const UPDATED_AT: &str = "updatedAt";
    pub(crate) const COMPOUND_ID: &str = "compoundId";
    pub(crate) const USER_ID: &str = "userId";
    pub(crate) const PROVIDER_TYPE: &str = "providerType";
    pub(crate) const PROVIDER_ID: &str = "providerId";
    pub(crate) const PROVIDER_ACCOUNT_ID: &str = "providerAccountId";
    pub(crate) const REFRESH_TOKEN: &str = "refreshToken";
    pub(crate) const ACCESS_TOKEN: &str = "accessToken";
    pub(crate) const ACCESS_TOKEN_EXPIRES: &str = "accessTokenExpires";
    pub(crate) const TOKEN_TYPE: &str = "tokenType";
    pub(crate) const SCOPE: &str = "scope";
    pub(crate) const ID_TOKEN: &str = "idToken";
    pub(crate) const EXPIRES: &str = "expires";
    pub(crate) const SESSION_TOKEN: &str = "sessionToken";
    pub(crate) const IDENTIFIER: &str = "identifier";
    pub(crate) const TOKEN: &str = "token";
}

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

impl MongoStore {
    /// Reads the origin record (`false` when there is none yet).
    pub(crate) async fn read_origin(&self) -> Result<bool, StoreError> {
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
    ///
    /// [`Store::upgraded_from_v3`]: portcullis_ports::Store::upgraded_from_v3
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
