//! Users on MongoDB: creating, reading (by id, e-mail or linked account), updating, deleting.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime as BsonDateTime};
use portcullis_domain::model::{NewUser, User};
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;

use super::MongoStore;
use crate::error::{backend, write_error};
use crate::schema::field;
use crate::types::{decode_user, parse_id, refers_to, set_user_fields};

pub(super) async fn create_user(store: &MongoStore, user: NewUser) -> Result<User, StoreError> {
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
    store
        .users
        .insert_one(&document)
        .await
        .map_err(|e| write_error("create a user", "e-mail is taken", &e))?;
    Ok(user.with_id(id.to_hex()))
}

pub(super) async fn get_user(store: &MongoStore, id: &str) -> Result<Option<User>, StoreError> {
    match parse_id(id) {
        Some(oid) => store.user_by_oid(oid).await,
        None => Ok(None),
    }
}

pub(super) async fn get_user_by_email(
    store: &MongoStore,
    email: &str,
) -> Result<Option<User>, StoreError> {
    store
        .users
        .find_one(doc! { field::EMAIL: email })
        .await
        .map_err(|e| backend("find a user by e-mail", &e))?
        .map(|d| decode_user(&d))
        .transpose()
}

pub(super) async fn get_user_by_account(
    store: &MongoStore,
    provider_id: &str,
    provider_account_id: &str,
) -> Result<Option<User>, StoreError> {
    let Some((_, account)) = store.account_doc(provider_id, provider_account_id).await? else {
        return Ok(None);
    };
    store.get_user(&account.user_id).await
}

pub(super) async fn update_user(store: &MongoStore, user: User) -> Result<User, StoreError> {
    let not_found = || StoreError::NotFound("user".to_owned());
    let oid = parse_id(&user.id).ok_or_else(not_found)?;
    let mut document = store
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
    let result = store
        .users
        .replace_one(doc! { field::ID: oid }, &document)
        .await
        .map_err(|e| write_error("update a user", "e-mail is taken", &e))?;
    if result.matched_count == 0 {
        return Err(not_found());
    }
    Ok(user)
}

pub(super) async fn delete_user(store: &MongoStore, id: &str) -> Result<(), StoreError> {
    let Some(oid) = parse_id(id) else {
        return Ok(());
    };
    // Sessions first (they grant access), then accounts, then the user: a crash midway
    // leaves no session or account whose user is gone.
    store
        .sessions
        .delete_many(doc! { field::USER_ID: refers_to(oid) })
        .await
        .map_err(|e| backend("delete a user's sessions", &e))?;
    store
        .accounts
        .delete_many(doc! { field::USER_ID: refers_to(oid) })
        .await
        .map_err(|e| backend("delete a user's accounts", &e))?;
    store
        .users
        .delete_one(doc! { field::ID: oid })
        .await
        .map_err(|e| backend("delete a user", &e))?;
    Ok(())
}
