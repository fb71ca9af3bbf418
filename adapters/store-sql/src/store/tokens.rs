//! Single-use tokens on SQL: e-mail verification tokens and revoked JWT ids.

use portcullis_domain::model::VerificationToken;
use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

use super::rows::VerificationRow;
use super::SqlStore;
use crate::error::Op;
use crate::types::{DbText, Ts};

const CREATE_VERIFICATION_TOKEN: Op = Op::secret(
    "create_verification_token",
    "a verification token with this hash exists",
);
const USE_VERIFICATION_TOKEN: Op = Op::secret("use_verification_token", "");
const REVOKE_JWT: Op = Op::secret("revoke_jwt", "");
const IS_JWT_REVOKED: Op = Op::secret("is_jwt_revoked", "");

pub(super) async fn create_verification_token(
    store: &SqlStore,
    token: VerificationToken,
) -> Result<(), StoreError> {
    let q = &store.inner.q;
    let expires = Ts(token.expires);
    run!(store, CREATE_VERIFICATION_TOKEN, pool => {
        sqlx::query(&q.create_verification_token)
            .bind(token.identifier.as_str())
            .bind(token.token_hash.as_str())
            .bind(expires)
            .execute(pool).await
            .map(|_| ())
    })
}

pub(super) async fn use_verification_token(
    store: &SqlStore,
    identifier: &str,
    token_hash: &str,
) -> Result<Option<VerificationToken>, StoreError> {
    let q = &store.inner.q;
    let row: Option<VerificationRow> = run!(store, USE_VERIFICATION_TOKEN,
        pg pool => {
            sqlx::query_as(&q.use_verification_token)
                .bind(identifier).bind(token_hash)
                .fetch_optional(pool).await
        },
        my pool => {
            // MySQL has no DELETE … RETURNING: read the row, then delete it by id.
            // Rows are never updated, so what was read is what is deleted; of racing
            // callers, only the one whose DELETE removed the row took the token.
            let found: Option<VerificationRow> = sqlx::query_as(&q.use_verification_token)
                .bind(identifier).bind(token_hash)
                .fetch_optional(pool).await?;
            match found {
                Some(row) => {
                    let taken = sqlx::query(&q.take_verification_token)
                        .bind(row.id)
                        .execute(pool).await?
                        .rows_affected();
                    Ok((taken == 1).then_some(row))
                }
                None => Ok(None),
            }
        },
        lite pool => {
            sqlx::query_as(&q.use_verification_token)
                .bind(identifier).bind(token_hash)
                .fetch_optional(pool).await
        }
    )?;
    Ok(row.map(VerificationToken::from))
}

/// Drops the expired revocations, then inserts this one unless the `jti` is recorded
/// already (an upsert that changes nothing): two statements, each committed (durable
/// as the database's commits are) before the answer. Dropping first lets a `jti`
/// whose old revocation has expired be recorded again with its new expiry.
pub(super) async fn revoke_jwt(
    store: &SqlStore,
    jti: &str,
    expires: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let q = &store.inner.q;
    let (expires, now) = (Ts(expires), Ts(now));
    run!(store, REVOKE_JWT, pool => {
        sqlx::query(&q.drop_expired_revocations).bind(now).execute(pool).await?;
        sqlx::query(&q.revoke_jwt).bind(jti).bind(expires).execute(pool).await.map(|_| ())
    })
}

pub(super) async fn is_jwt_revoked(store: &SqlStore, jti: &str) -> Result<bool, StoreError> {
    let q = &store.inner.q;
    let found: Option<DbText> = run!(store, IS_JWT_REVOKED, pool => {
        sqlx::query_scalar(&q.is_jwt_revoked).bind(jti).fetch_optional(pool).await
    })?;
    Ok(found.is_some())
}
