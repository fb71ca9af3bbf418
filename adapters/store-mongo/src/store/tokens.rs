//! Single-use tokens on MongoDB: e-mail verification tokens and revoked JWT ids.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime as BsonDateTime};
use portcullis_domain::model::VerificationToken;
use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

use super::MongoStore;
use crate::error::{backend, is_duplicate_key, write_error};
use crate::schema::field;
use crate::types::{decode_verification, to_bson_date};

pub(super) async fn create_verification_token(
    store: &MongoStore,
    token: VerificationToken,
) -> Result<(), StoreError> {
    let now = BsonDateTime::now();
    let document = doc! {
        field::ID: ObjectId::new(),
        field::IDENTIFIER: &token.identifier,
        field::TOKEN: &token.token_hash,
        field::EXPIRES: to_bson_date(token.expires)?,
        field::CREATED_AT: now,
        field::UPDATED_AT: now,
    };
    store
        .verification_requests
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

pub(super) async fn use_verification_token(
    store: &MongoStore,
    identifier: &str,
    token_hash: &str,
) -> Result<Option<VerificationToken>, StoreError> {
    store
        .verification_requests
        .find_one_and_delete(doc! { field::IDENTIFIER: identifier, field::TOKEN: token_hash })
        .await
        .map_err(|e| backend("use a verification request", &e))?
        .map(|d| decode_verification(&d))
        .transpose()
}

/// Drops the expired revocations (`deleteMany` on `expires`), then inserts this one;
/// a `jti` recorded already (duplicate `_id`, also from a racing call) is kept as it is.
pub(super) async fn revoke_jwt(
    store: &MongoStore,
    jti: &str,
    expires: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let expires = to_bson_date(expires)?;
    let now = to_bson_date(now)?;
    store
        .revoked_jwts
        .delete_many(doc! { field::EXPIRES: { "$lt": now } })
        .await
        .map_err(|e| backend("drop expired JWT revocations", &e))?;
    match store
        .revoked_jwts
        .insert_one(doc! { field::ID: jti, field::EXPIRES: expires })
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_duplicate_key(&e) => Ok(()),
        Err(e) => Err(backend("revoke a JWT", &e)),
    }
}

pub(super) async fn is_jwt_revoked(store: &MongoStore, jti: &str) -> Result<bool, StoreError> {
    let found = store
        .revoked_jwts
        .find_one(doc! { field::ID: jti })
        .await
        .map_err(|e| backend("read a JWT revocation", &e))?;
    Ok(found.is_some())
}
