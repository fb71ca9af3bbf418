//! Provider accounts linked to users, on MongoDB: linking, reading, unlinking, refreshing
//! tokens.

use futures::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use mongodb::options::ReturnDocument;
use portcullis_domain::model::{Account, AccountTokens};
use portcullis_domain::store::StoreError;

use super::MongoStore;
use crate::error::{backend, is_duplicate_key, write_error};
use crate::schema::{collection, field};
use crate::types::{
    decode_account, opt_date, opt_secret, opt_str, parse_id, refers_to, user_oid_or_not_found,
};

pub(super) async fn link_account(
    store: &MongoStore,
    account: Account,
) -> Result<Account, StoreError> {
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
    match store.accounts.insert_one(&document).await {
        Ok(_) => return Ok(account),
        Err(e) if !is_duplicate_key(&e) => return Err(backend("link an account", &e)),
        Err(_) => {}
    }
    if !store.remove_orphaned_account(&cid).await? {
        return Err(StoreError::Conflict(CONFLICT.to_owned()));
    }
    store
        .accounts
        .insert_one(&document)
        .await
        .map_err(|e| write_error("link an account", CONFLICT, &e))?;
    Ok(account)
}

pub(super) async fn get_account(
    store: &MongoStore,
    provider_id: &str,
    provider_account_id: &str,
) -> Result<Option<Account>, StoreError> {
    Ok(store
        .account_doc(provider_id, provider_account_id)
        .await?
        .map(|(_, account)| account))
}

pub(super) async fn get_accounts_for_user(
    store: &MongoStore,
    user_id: &str,
) -> Result<Vec<Account>, StoreError> {
    let Some(oid) = parse_id(user_id) else {
        return Ok(Vec::new());
    };
    let documents: Vec<Document> = store
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

pub(super) async fn unlink_account(
    store: &MongoStore,
    provider_id: &str,
    provider_account_id: &str,
) -> Result<(), StoreError> {
    let Some((document, _)) = store.account_doc(provider_id, provider_account_id).await? else {
        return Ok(());
    };
    let Some(id) = document.get(field::ID).cloned() else {
        return Err(StoreError::Decode(format!(
            "{}.{}: missing",
            collection::ACCOUNTS,
            field::ID
        )));
    };
    store
        .accounts
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
pub(super) async fn update_account_tokens(
    store: &MongoStore,
    provider_id: &str,
    provider_account_id: &str,
    expected_refresh_token: Option<&str>,
    tokens: AccountTokens,
) -> Result<Option<Account>, StoreError> {
    let not_found = || StoreError::NotFound("account".to_owned());
    let (mut document, _) = store
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
    let updated = store
        .accounts
        .find_one_and_replace(filter, &document)
        .return_document(ReturnDocument::After)
        .await
        .map_err(|e| backend("update an account's tokens", &e))?;
    match updated {
        Some(document) => decode_account(&document).map(Some),
        // Unlinked meanwhile, or another refresh won.
        None => match store.account_doc(provider_id, provider_account_id).await? {
            Some(_) => Ok(None),
            None => Err(not_found()),
        },
    }
}
