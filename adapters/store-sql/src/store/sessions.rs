//! Database sessions on SQL: creating, reading with their user, extending, listing, deleting.

use portcullis_domain::model::{Session, User};
use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

use super::rows::{SessionAndUserRow, SessionRow};
use super::{no_such_user, SqlStore};
use crate::error::Op;
use crate::types::{DbId, Ts};

const CREATE_SESSION: Op = Op::secret(
    "create_session",
    "a session with this session token or access token exists",
);
const GET_SESSION_AND_USER: Op = Op::secret("get_session_and_user", "");
const UPDATE_SESSION_EXPIRY: Op = Op::secret("update_session_expiry", "");
const DELETE_SESSION: Op = Op::secret("delete_session", "");
const LIST_SESSIONS: Op = Op::secret("list_sessions", "");
const DELETE_SESSIONS_FOR_USER: Op = Op::plain("delete_sessions_for_user", "");

pub(super) async fn create_session(
    store: &SqlStore,
    session: Session,
) -> Result<Session, StoreError> {
    let Some(user_id) = DbId::parse(&session.user_id) else {
        return Err(no_such_user());
    };
    let q = &store.inner.q;
    let expires = Ts(session.expires);
    let token = session.session_token.expose();
    let access = session.access_token.expose();
    let created = session.created.map(Ts);
    run!(store, CREATE_SESSION, pool => {
        sqlx::query(&q.create_session)
            .bind(user_id).bind(expires).bind(token).bind(access).bind(created)
            .execute(pool).await
            .map(|_| ())
    })?;
    Ok(session)
}

pub(super) async fn get_session_and_user(
    store: &SqlStore,
    session_keys: &[&str],
) -> Result<Option<(Session, User)>, StoreError> {
    let q = &store.inner.q;
    // One query per two candidate keys (`IN (?, ?)`): the domain gives two at most,
    // the hashed key and the raw token.
    for pair in session_keys.chunks(2) {
        let (first, second) = match pair {
            [first, second] => (*first, *second),
            [only] => (*only, *only),
            _ => continue,
        };
        let row: Option<SessionAndUserRow> = run!(store, GET_SESSION_AND_USER, pool => {
            sqlx::query_as(&q.get_session_and_user)
                .bind(first).bind(second)
                .fetch_optional(pool).await
        })?;
        if let Some(row) = row {
            return Ok(Some((Session::from(row.session), User::from(row.user))));
        }
    }
    Ok(None)
}

pub(super) async fn update_session_expiry(
    store: &SqlStore,
    session_token: &str,
    expires: OffsetDateTime,
) -> Result<(), StoreError> {
    let q = &store.inner.q;
    let expires = Ts(expires);
    let changed: u64 = run!(store, UPDATE_SESSION_EXPIRY, pool => {
        sqlx::query(&q.update_session_expiry)
            .bind(expires).bind(session_token)
            .execute(pool).await
            .map(|done| done.rows_affected())
    })?;
    if changed == 0 {
        return Err(StoreError::NotFound("session".to_owned()));
    }
    Ok(())
}

pub(super) async fn delete_session(
    store: &SqlStore,
    session_token: &str,
) -> Result<(), StoreError> {
    let q = &store.inner.q;
    run!(store, DELETE_SESSION, pool => {
        sqlx::query(&q.delete_session)
            .bind(session_token)
            .execute(pool).await
            .map(|_| ())
    })
}

pub(super) async fn list_sessions(
    store: &SqlStore,
    user_id: &str,
) -> Result<Vec<Session>, StoreError> {
    let Some(user_id) = DbId::parse(user_id) else {
        return Ok(Vec::new());
    };
    let q = &store.inner.q;
    let rows: Vec<SessionRow> = run!(store, LIST_SESSIONS, pool => {
        sqlx::query_as(&q.list_sessions).bind(user_id).fetch_all(pool).await
    })?;
    Ok(rows.into_iter().map(Session::from).collect())
}

pub(super) async fn delete_sessions_for_user(
    store: &SqlStore,
    user_id: &str,
) -> Result<u64, StoreError> {
    let Some(user_id) = DbId::parse(user_id) else {
        return Ok(0);
    };
    let q = &store.inner.q;
    run!(store, DELETE_SESSIONS_FOR_USER, pool => {
        sqlx::query(&q.delete_sessions_for_user)
            .bind(user_id)
            .execute(pool).await
            .map(|done| done.rows_affected())
    })
}
