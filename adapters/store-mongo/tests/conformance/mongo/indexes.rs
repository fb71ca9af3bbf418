//! Indexes: `ensure_indexes` makes v3's, is idempotent, and records whether v3's data was there.

use super::*;

async fn index_keys(store: &TestStore, collection: &str) -> Vec<(Document, bool)> {
    let indexes: Vec<IndexModel> = store
        .store
        .database()
        .collection::<Document>(collection)
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    indexes
        .into_iter()
        .map(|i| {
            let unique = i.options.and_then(|o| o.unique).unwrap_or(false);
            (i.keys, unique)
        })
        .collect()
}

/// `ensure_indexes` makes v3's indexes, is idempotent, keeps an equivalent index that
/// has another name (v3's TypeORM named its unique indexes `UQ_<hash>`), and refuses an
/// index that disagrees on uniqueness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_indexes_makes_v3_indexes() {
    let store = fresh().await; // ensure_indexes ran once
    store.store.ensure_indexes().await.unwrap();
    let wanted: [(&str, &str, bool); 10] = [
        ("users", "email", true),
        ("accounts", "compoundId", true),
        ("accounts", "userId", false),
        ("accounts", "providerId", false),
        ("accounts", "providerAccountId", false),
        ("sessions", "sessionToken", true),
        ("sessions", "accessToken", true),
        ("sessions", "userId", false),
        ("verificationRequests", "token", true),
        ("portcullis_revoked_jwts", "expires", false),
    ];
    for (collection, field, unique) in wanted {
        let indexes = index_keys(&store, collection).await;
        let matching: Vec<_> = indexes
            .iter()
            .filter(|(keys, _)| keys == &doc! { field: 1 })
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{collection}.{field}: exactly one index, got {indexes:?}"
        );
        assert_eq!(matching[0].1, unique, "{collection}.{field} unique");
    }

    // A database whose indexes v3 made under other names.
    let v3 = fresh_without_indexes().await;
    let accounts = v3.store.database().collection::<Document>("accounts");
    accounts
        .create_index(
            IndexModel::builder()
                .keys(doc! { "compoundId": 1 })
                .options(
                    IndexOptions::builder()
                        .name("UQ_6f4d1d2a2f6d54c0c0a3b5f4a1e".to_owned())
                        .unique(true)
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    v3.store.ensure_indexes().await.unwrap();
    let compound: Vec<_> = index_keys(&v3, "accounts")
        .await
        .into_iter()
        .filter(|(keys, _)| keys == &doc! { "compoundId": 1 })
        .collect();
    assert_eq!(compound, vec![(doc! { "compoundId": 1 }, true)]);

    // An index that would let two sessions share a token is not silently accepted.
    let weak = fresh_without_indexes().await;
    weak.store
        .database()
        .collection::<Document>("sessions")
        .create_index(
            IndexModel::builder()
                .keys(doc! { "sessionToken": 1 })
                .build(),
        )
        .await
        .unwrap();
    let error = weak.store.ensure_indexes().await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Backend(m) if m.contains("sessions.sessionToken")),
        "{error:?}"
    );
}

/// `ensure_indexes` records once whether it found NextAuth v3's data: a fresh database
/// is not v3's (new session tokens default to hashed); one holding v3's users is (they
/// default to raw, which v3 can read), also for a store that connects later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_indexes_records_whether_v3_was_there() {
    let new = fresh().await;
    assert!(
        !new.store.upgraded_from_v3(),
        "a fresh database is not v3's"
    );
    assert!(!new.upgraded_from_v3(), "the port says the same");

    let v3 = fresh_without_indexes().await;
    let db = v3.store.database();
    db.collection::<Document>("portcullis_migrations")
        .drop()
        .await
        .unwrap();
    db.collection::<Document>("users")
        .insert_one(doc! { "_id": ObjectId::new(), "name": "Ada", "email": "ada@example.com" })
        .await
        .unwrap();
    v3.store.ensure_indexes().await.unwrap();
    assert!(v3.store.upgraded_from_v3(), "v3's users were there");
    v3.store.ensure_indexes().await.unwrap();
    assert!(v3.store.upgraded_from_v3(), "the record stays");
    let later = MongoStore::connect(&crate::harness::url(), db.name())
        .await
        .unwrap();
    assert!(
        later.upgraded_from_v3(),
        "a store connecting later reads the record"
    );
}

/// A fresh database without indexes: the harness makes them, this drops the collections
/// (and so their indexes) again.
async fn fresh_without_indexes() -> TestStore {
    let with = fresh().await;
    for collection in ["users", "accounts", "sessions", "verificationRequests"] {
        with.store
            .database()
            .collection::<Document>(collection)
            .drop()
            .await
            .unwrap();
    }
    with
}
