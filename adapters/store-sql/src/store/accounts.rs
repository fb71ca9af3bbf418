//! Provider accounts linked to users, on SQL: linking, reading, unlinking, refreshing tokens.

use portcullis_domain::model::{compound_id, Account, AccountTokens};
use portcullis_domain::secret::SecretString;
use portcullis_domain::store::StoreError;

use super::rows::AccountRow;
use super::{no_such_user, SqlStore};
use crate::error::Op;
use crate::types::{DbId, Ts};

const LINK_ACCOUNT: Op = Op::secret("link_account", "this provider account is linked already");
const GET_ACCOUNT: Op = Op::secret("get_account", "");
const GET_ACCOUNTS_FOR_USER: Op = Op::secret("get_accounts_for_user", "");
const UNLINK_ACCOUNT: Op = Op::plain("unlink_account", "");
const UPDATE_ACCOUNT_TOKENS: Op = Op::secret("update_account_tokens", "");

pub(super) async fn link_account(
    store: &SqlStore,
    account: Account,
) -> Result<Account, StoreError> {
    let Some(user_id) = DbId::parse(&account.user_id) else {
        return Err(no_such_user());
    };
    let q = &store.inner.q;
    let compound = account.compound_id();
    let compound = compound.as_str();
    let a = &account;
    let refresh = a.refresh_token.as_ref().map(SecretString::expose);
    let access = a.access_token.as_ref().map(SecretString::expose);
    let expires = a.access_token_expires.map(Ts);
    let id_token = a.id_token.as_ref().map(SecretString::expose);
    run!(store, LINK_ACCOUNT, pool => {
        sqlx::query(&q.link_account)
            .bind(compound)
            .bind(user_id)
            .bind(a.provider_type.as_str())
            .bind(a.provider_id.as_str())
            .bind(a.provider_account_id.as_str())
            .bind(refresh)
            .bind(access)
            .bind(expires)
            .bind(a.token_type.as_deref())
            .bind(a.scope.as_deref())
            .bind(id_token)
            .execute(pool).await
            .map(|_| ())
    })?;
    Ok(account)
}

pub(super) async fn get_account(
    store: &SqlStore,
    provider_id: &str,
    provider_account_id: &str,
) -> Result<Option<Account>, StoreError> {
    let q = &store.inner.q;
    let compound = compound_id(provider_id, provider_account_id);
    let compound = compound.as_str();
    let row: Option<AccountRow> = run!(store, GET_ACCOUNT, pool => {
        sqlx::query_as(&q.get_account)
            .bind(compound).bind(provider_id).bind(provider_account_id)
            .fetch_optional(pool).await
    })?;
    Ok(row.map(Account::from))
}

pub(super) async fn get_accounts_for_user(
    store: &SqlStore,
    user_id: &str,
) -> Result<Vec<Account>, StoreError> {
    let Some(user_id) = DbId::parse(user_id) else {
        return Ok(Vec::new());
    };
    let q = &store.inner.q;
    let rows: Vec<AccountRow> = run!(store, GET_ACCOUNTS_FOR_USER, pool => {
        sqlx::query_as(&q.get_accounts_for_user).bind(user_id).fetch_all(pool).await
    })?;
    Ok(rows.into_iter().map(Account::from).collect())
}

pub(super) async fn unlink_account(
    store: &SqlStore,
    provider_id: &str,
    provider_account_id: &str,
) -> Result<(), StoreError> {
    let q = &store.inner.q;
    let compound = compound_id(provider_id, provider_account_id);
    let compound = compound.as_str();
    run!(store, UNLINK_ACCOUNT, pool => {
        sqlx::query(&q.unlink_account)
            .bind(compound).bind(provider_id).bind(provider_account_id)
            .execute(pool).await
            .map(|_| ())
    })
}

/// One `UPDATE` whose `WHERE` holds the expected refresh token: the database's row lock
/// orders concurrent refreshes, and each re-checks the condition against the row the
/// one before it committed, so only the first matches. No row matched: the account
/// is gone, or another refresh won; one more read tells which.
pub(super) async fn update_account_tokens(
    store: &SqlStore,
    provider_id: &str,
    provider_account_id: &str,
    expected_refresh_token: Option<&str>,
    tokens: AccountTokens,
) -> Result<Option<Account>, StoreError> {
    let q = &store.inner.q;
    let compound = compound_id(provider_id, provider_account_id);
    let compound = compound.as_str();
    let t = &tokens;
    let refresh = t.refresh_token.as_ref().map(SecretString::expose);
    let access = t.access_token.as_ref().map(SecretString::expose);
    let expires = t.access_token_expires.map(Ts);
    let id_token = t.id_token.as_ref().map(SecretString::expose);
    // Binds the statement's parameters, in its order, to a query or a query_as.
    macro_rules! bound {
        ($query:expr) => {
            $query
                .bind(refresh)
                .bind(access)
                .bind(expires)
                .bind(t.token_type.as_deref())
                .bind(t.scope.as_deref())
                .bind(id_token)
                .bind(compound)
                .bind(provider_id)
                .bind(provider_account_id)
                .bind(expected_refresh_token)
        };
    }
    let updated: Option<AccountRow> = run!(store, UPDATE_ACCOUNT_TOKENS,
        pg pool => {
            bound!(sqlx::query_as(&q.update_account_tokens)).fetch_optional(pool).await
        },
        my pool => {
            // The row stays locked by this transaction's UPDATE until the read-back.
            // sqlx connects with CLIENT_FOUND_ROWS: the count is of matched rows.
            let mut tx = pool.begin().await?;
            let matched = bound!(sqlx::query(&q.update_account_tokens))
                .execute(&mut *tx).await?
                .rows_affected();
            if matched == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            let row: Option<AccountRow> = sqlx::query_as(&q.get_account)
                .bind(compound).bind(provider_id).bind(provider_account_id)
                .fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok(row)
        },
        lite pool => {
            bound!(sqlx::query_as(&q.update_account_tokens)).fetch_optional(pool).await
        }
    )?;
    if let Some(row) = updated {
        return Ok(Some(Account::from(row)));
    }
    match get_account(store, provider_id, provider_account_id).await? {
        Some(_) => Ok(None),
        None => Err(StoreError::NotFound("account".to_owned())),
    }
}
