//! Leases on MongoDB (`portcullis_leases`): an insert, which the unique `_id` lets one
//! holder win, else updates granted only while the document still matches.

use mongodb::bson::doc;
use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

use super::MongoStore;
use crate::error::{backend, is_duplicate_key};
use crate::schema::field;

const HOLDER: &str = "holder";
const UNTIL_MS: &str = "untilMs";

/// Unix milliseconds, as `untilMs` keeps them.
fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(super) async fn take_lease(
    store: &MongoStore,
    key: &str,
    holder: &str,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<bool, StoreError> {
    let (now, until) = (millis(now), millis(until));
    let inserted = store
        .leases
        .insert_one(doc! { field::ID: key, HOLDER: holder, UNTIL_MS: until })
        .await;
    match inserted {
        Ok(_) => return Ok(true),
        Err(e) if is_duplicate_key(&e) => {}
        Err(e) => return Err(backend("take a lease", &e)),
    }
    // Taken over when ended, or extended by its holder: two conditional updates (an `$or`
    // would do in one, but MongoDB-wire servers differ in how they match it).
    for still_matching in [
        doc! { field::ID: key, UNTIL_MS: { "$lte": now } },
        doc! { field::ID: key, HOLDER: holder },
    ] {
        let renewed = store
            .leases
            .update_one(
                still_matching,
                doc! { "$set": { HOLDER: holder, UNTIL_MS: until } },
            )
            .await
            .map_err(|e| backend("take a lease", &e))?;
        if renewed.matched_count == 1 {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) async fn release_lease(
    store: &MongoStore,
    key: &str,
    holder: &str,
) -> Result<(), StoreError> {
    store
        .leases
        .delete_one(doc! { field::ID: key, HOLDER: holder })
        .await
        .map_err(|e| backend("release a lease", &e))?;
    Ok(())
}
