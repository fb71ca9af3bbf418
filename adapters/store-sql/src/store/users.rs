//! Users on SQL: creating, reading (by id, e-mail or linked account), updating, deleting.

use portcullis_domain::model::{compound_id, NewUser, User};
use portcullis_domain::store::StoreError;
use sqlx::Executor;

use super::rows::UserRow;
use super::{no_such_user, SqlStore};
use crate::error::Op;
use crate::types::{DbId, Ts};

const GET_USER: Op = Op::plain("get_user", "");
const GET_USER_BY_EMAIL: Op = Op::plain("get_user_by_email", "");
const GET_USER_BY_ACCOUNT: Op = Op::plain("get_user_by_account", "");
const CREATE_USER: Op = Op::plain("create_user", "another user has this e-mail address");
const UPDATE_USER: Op = Op::plain("update_user", "another user has this e-mail address");
const DELETE_USER: Op = Op::plain("delete_user", "");

pub(super) async fn create_user(store: &SqlStore, user: NewUser) -> Result<User, StoreError> {
    let q = &store.inner.q;
    let name = user.name.as_deref();
    let email = user.email.as_deref();
    let verified = user.email_verified.map(Ts);
    let image = user.image.as_deref();
    let id: DbId = run!(store, CREATE_USER,
        pg pool => {
            sqlx::query_scalar(&q.create_user)
                .bind(name).bind(email).bind(verified).bind(image)
                .fetch_one(pool).await
        },
        my pool => {
            let done = sqlx::query(&q.create_user)
                .bind(name).bind(email).bind(verified).bind(image)
                .execute(pool).await?;
            i64::try_from(done.last_insert_id())
                .map(DbId)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        },
        lite pool => {
            sqlx::query_scalar(&q.create_user)
                .bind(name).bind(email).bind(verified).bind(image)
                .fetch_one(pool).await
        }
    )?;
    Ok(user.with_id(id.to_string()))
}

pub(super) async fn get_user(store: &SqlStore, id: &str) -> Result<Option<User>, StoreError> {
    let Some(id) = DbId::parse(id) else {
        return Ok(None);
    };
    let q = &store.inner.q;
    let row: Option<UserRow> = run!(store, GET_USER, pool => {
        sqlx::query_as(&q.get_user).bind(id).fetch_optional(pool).await
    })?;
    Ok(row.map(User::from))
}

pub(super) async fn get_user_by_email(
    store: &SqlStore,
    email: &str,
) -> Result<Option<User>, StoreError> {
    let q = &store.inner.q;
    let row: Option<UserRow> = run!(store, GET_USER_BY_EMAIL, pool => {
        sqlx::query_as(&q.get_user_by_email).bind(email).fetch_optional(pool).await
    })?;
    Ok(row.map(User::from))
}

pub(super) async fn get_user_by_account(
    store: &SqlStore,
    provider_id: &str,
    provider_account_id: &str,
) -> Result<Option<User>, StoreError> {
    let q = &store.inner.q;
    let compound = compound_id(provider_id, provider_account_id);
    let compound = compound.as_str();
    let row: Option<UserRow> = run!(store, GET_USER_BY_ACCOUNT, pool => {
        sqlx::query_as(&q.get_user_by_account)
            .bind(compound).bind(provider_id).bind(provider_account_id)
            .fetch_optional(pool).await
    })?;
    Ok(row.map(User::from))
}

pub(super) async fn update_user(store: &SqlStore, user: User) -> Result<User, StoreError> {
    let Some(id) = DbId::parse(&user.id) else {
        return Err(no_such_user());
    };
    let q = &store.inner.q;
    let name = user.name.as_deref();
    let email = user.email.as_deref();
    let verified = user.email_verified.map(Ts);
    let image = user.image.as_deref();
    let changed: u64 = run!(store, UPDATE_USER, pool => {
        sqlx::query(&q.update_user)
            .bind(name).bind(email).bind(verified).bind(image).bind(id)
            .execute(pool).await
            .map(|done| done.rows_affected())
    })?;
    if changed == 0 {
        return Err(no_such_user());
    }
    Ok(user)
}

pub(super) async fn delete_user(store: &SqlStore, id: &str) -> Result<(), StoreError> {
    let Some(id) = DbId::parse(id) else {
        return Ok(());
    };
    let q = &store.inner.q;
    run!(store, DELETE_USER,
        pg pool => {
            let mut tx = pool.begin().await?;
            tx.execute(sqlx::query(&q.delete_user_accounts).bind(id)).await?;
            tx.execute(sqlx::query(&q.delete_user_sessions).bind(id)).await?;
            tx.execute(sqlx::query(&q.delete_user).bind(id)).await?;
            tx.commit().await
        },
        my pool => {
            let mut tx = pool.begin().await?;
            tx.execute(sqlx::query(&q.delete_user_accounts).bind(id)).await?;
            tx.execute(sqlx::query(&q.delete_user_sessions).bind(id)).await?;
            tx.execute(sqlx::query(&q.delete_user).bind(id)).await?;
            tx.commit().await
        },
        lite pool => {
            // Take the write lock up front: a deferred transaction that reads first
            // could not wait for it.
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            tx.execute(sqlx::query(&q.delete_user_accounts).bind(id)).await?;
            tx.execute(sqlx::query(&q.delete_user_sessions).bind(id)).await?;
            tx.execute(sqlx::query(&q.delete_user).bind(id)).await?;
            tx.commit().await
        }
    )
}
