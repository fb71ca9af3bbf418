//! Database sessions on MongoDB: creating, reading with their user, extending, listing,
//! deleting.

use futures::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use portcullis_domain::model::{Session, User};
use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

use super::MongoStore;
use crate::error::{backend, write_error};
use crate::schema::{collection, field};
use crate::types::{
    decode_session, decode_user_fields, parse_id, refers_to, to_bson_date, user_oid_or_not_found,
};

pub(super) async fn create_session(
    store: &MongoStore,
    session: Session,
) -> Result<Session, StoreError> {
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
    store
        .sessions
        .insert_one(&document)
        .await
        .map_err(|e| write_error("create a session", "session token is taken", &e))?;
    Ok(session)
}

/// One round trip: an aggregation that finds the session by its unique `sessionToken`
/// (any of the candidate keys: `$in`) and joins its user (`$lookup` on `_id`);
/// `$unwind` then drops a session whose user is gone.
pub(super) async fn get_session_and_user(
    store: &MongoStore,
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
    let found = store
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
pub(super) async fn update_session_expiry(
    store: &MongoStore,
    session_token: &str,
    expires: OffsetDateTime,
) -> Result<(), StoreError> {
    let not_found = || StoreError::NotFound("session".to_owned());
    let mut document = store
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
    let result = store
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

pub(super) async fn delete_session(
    store: &MongoStore,
    session_token: &str,
) -> Result<(), StoreError> {
    store
        .sessions
        .delete_one(doc! { field::SESSION_TOKEN: session_token })
        .await
        .map_err(|e| backend("delete a session", &e))?;
    Ok(())
}

pub(super) async fn list_sessions(
    store: &MongoStore,
    user_id: &str,
) -> Result<Vec<Session>, StoreError> {
    let Some(oid) = parse_id(user_id) else {
        return Ok(Vec::new());
    };
    let documents: Vec<Document> = store
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

pub(super) async fn delete_sessions_for_user(
    store: &MongoStore,
    user_id: &str,
) -> Result<u64, StoreError> {
    let Some(oid) = parse_id(user_id) else {
        return Ok(0);
    };
    let result = store
        .sessions
        .delete_many(doc! { field::USER_ID: refers_to(oid) })
        .await
        .map_err(|e| backend("delete a user's sessions", &e))?;
    Ok(result.deleted_count)
}
