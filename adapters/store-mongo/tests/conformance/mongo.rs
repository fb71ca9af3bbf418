//! What only this store has, by job: v3's documents, v3's indexes, errors and leftovers.
//! The helpers here are shared by those modules.

mod documents;
mod errors;
mod indexes;

use futures::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use portcullis_domain::model::{compound_id, Account, NewUser, Session, User, VerificationToken};
use portcullis_domain::secret::SecretString;
use portcullis_ports::{Store, StoreError};
use portcullis_store_mongo::MongoStore;
use time::macros::datetime;
use time::OffsetDateTime;

use crate::harness::{fresh, TestStore};

fn ms(t: OffsetDateTime) -> BsonDateTime {
    BsonDateTime::from_millis((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn hex64(c: char) -> String {
    c.to_string().repeat(64)
}

async fn raw(store: &TestStore, collection: &str, filter: Document) -> Document {
    store
        .store
        .database()
        .collection::<Document>(collection)
        .find_one(filter)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no document in {collection}"))
}

fn keys(document: &Document) -> Vec<&str> {
    let mut keys: Vec<&str> = document.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{what}: expected Conflict, got {result:?}"
    );
}
