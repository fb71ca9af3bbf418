//! `SqlRateLimiter` on SQLite, PostgreSQL and MariaDB: the limit within a window, windows
//! passing, independent keys, exact counts under concurrency from two "instances" (two
//! stores with their own pools on one database), sweeping, and failing open.

use std::sync::Arc;

use portcullis_domain::effect::ThrottleCheck;
use portcullis_ports::{RateLimiter, StoreError};
use portcullis_store_sql::{Dialect, SqlRateLimiter, SqlStore};
use sha2::{Digest, Sha256};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::support::{self, Server, TempDb};

/// Inside MySQL's `TIMESTAMP` range.
const T0: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

fn check(key: &str, limit: u32, window_seconds: i64) -> ThrottleCheck {
    ThrottleCheck {
        key: key.to_owned(),
        limit,
        window_seconds,
    }
}

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

/// A migrated database: its URL, a store on it, and its guard.
async fn database(server: Option<Server>) -> (String, SqlStore, TempDb) {
    let (url, db) = match server {
        Some(server) => support::server_db(server).await,
        None => support::sqlite_db(),
    };
    let store = support::connect(&url).await;
    store.migrate().await.unwrap();
    (url, store, db)
}

/// The rows of `portcullis_rate_limits`: `(key, count)`, by key.
async fn rows(store: &SqlStore, url: &str) -> Vec<(String, i32)> {
    match store.dialect() {
        Dialect::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::query_as(
                "SELECT \"key\"::text, count FROM portcullis_rate_limits ORDER BY \"key\"",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
        Dialect::MySql => {
            let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::query_as(
                "SELECT CAST(`key` AS CHAR(64)), count FROM portcullis_rate_limits ORDER BY 1",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
        Dialect::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::query_as("SELECT \"key\", count FROM portcullis_rate_limits ORDER BY \"key\"")
                .fetch_all(&mut c)
                .await
                .unwrap()
        }
    }
}

fn sha256_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// At most `limit` hits per window; the window is fixed from its first hit, and denied
/// hits neither extend it nor let the count run away.
async fn limit_within_a_window(server: Option<Server>) {
    let (url, store, _db) = database(server).await;
    let limiter = SqlRateLimiter::new(store.clone());
    let c = check("email:id:jane@example.com", 3, 60);
    for at in [T0, T0 + secs(10), T0 + secs(30)] {
        assert!(limiter.try_hit(&c, at).await.unwrap(), "{at}");
    }
    for at in [
        T0 + secs(31),
        T0 + secs(59),
        T0 + Duration::milliseconds(59_999),
    ] {
        assert!(!limiter.try_hit(&c, at).await.unwrap(), "{at}");
    }
    assert!(
        !limiter.hit(&c, T0 + secs(59)).await,
        "the port says the same"
    );
    // Denied hits count once: the stored count stops at limit + 1.
    assert_eq!(
        rows(&store, &url).await,
        vec![(sha256_hex("email:id:jane@example.com"), 4)]
    );

    // The window passes at exactly `window_seconds` after its first hit (not after the
    // denied hits): a new one starts with this hit.
    assert!(limiter.try_hit(&c, T0 + secs(60)).await.unwrap());
    assert!(limiter.try_hit(&c, T0 + secs(61)).await.unwrap());
    assert!(limiter.try_hit(&c, T0 + secs(119)).await.unwrap());
    assert!(!limiter.try_hit(&c, T0 + secs(119)).await.unwrap());
    // … and long after, too.
    assert!(limiter.try_hit(&c, T0 + secs(86_400 * 30)).await.unwrap());

    // A limit of 0 refuses everything; a huge one never overflows the INT column.
    let none = check("zero", 0, 60);
    assert!(!limiter.try_hit(&none, T0).await.unwrap());
    assert!(!limiter.try_hit(&none, T0 + secs(600)).await.unwrap());
    let huge = check("huge", u32::MAX, i64::MAX);
    for _ in 0..3 {
        assert!(limiter.try_hit(&huge, T0).await.unwrap());
    }
    store.close().await;
}

/// Keys count separately, byte for byte, whatever their length; the table holds only
/// their SHA-256.
async fn keys_are_independent(server: Option<Server>) {
    let (url, store, _db) = database(server).await;
    let limiter = SqlRateLimiter::new(store.clone());
    let jane = check("email:id:jane@example.com", 1, 60);
    let other_case = check("email:id:Jane@example.com", 1, 60);
    let ip = check("email:ip:203.0.113.7", 1, 60);
    let long = check(&format!("email:id:{}@example.com", "a".repeat(400)), 1, 60);
    for c in [&jane, &other_case, &ip, &long] {
        assert!(limiter.try_hit(c, T0).await.unwrap(), "{}", c.key.len());
    }
    for c in [&jane, &other_case, &ip, &long] {
        assert!(
            !limiter.try_hit(c, T0 + secs(1)).await.unwrap(),
            "{}",
            c.key.len()
        );
    }
    let stored = rows(&store, &url).await;
    let mut want: Vec<(String, i32)> = [&jane, &other_case, &ip, &long]
        .iter()
        .map(|c| (sha256_hex(&c.key), 2))
        .collect();
    want.sort();
    assert_eq!(stored, want);
    assert!(stored
        .iter()
        .all(|(key, _)| key.len() == 64 && !key.contains('@')));
    store.close().await;
}

/// 50 simultaneous hits on one key with limit 10, from two stores with their own pools
/// (two server instances): exactly 10 are allowed.
async fn concurrent_hits_are_counted_exactly(server: Option<Server>) {
    let (url, one, _db) = database(server).await;
    let two = support::connect(&url).await;
    let limiters = [
        Arc::new(SqlRateLimiter::new(one.clone())),
        Arc::new(SqlRateLimiter::new(two.clone())),
    ];
    for round in 0..2 {
        let now = T0 + secs(3600 * round);
        let c = check("credentials:id:jane", 10, 300);
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let limiter = Arc::clone(&limiters[i % 2]);
                let c = c.clone();
                tokio::spawn(async move { limiter.try_hit(&c, now).await })
            })
            .collect();
        let mut allowed = 0;
        for task in futures::future::join_all(tasks).await {
            if task.unwrap().unwrap() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 10, "round {round}");
        assert!(!limiters[round as usize % 2].try_hit(&c, now).await.unwrap());
    }
    one.close().await;
    two.close().await;
}

/// Rows whose window ended more than a day ago are swept; younger ones stay and keep
/// counting.
async fn old_rows_are_swept(server: Option<Server>) {
    let (url, store, _db) = database(server).await;
    let limiter = SqlRateLimiter::new(store.clone());
    let old = check("old", 5, 60);
    let young = check("young", 5, 60);
    assert!(limiter.try_hit(&old, T0).await.unwrap());
    let day = secs(86_400);
    assert!(limiter.try_hit(&young, T0 + day).await.unwrap());
    assert!(limiter.try_hit(&young, T0 + day).await.unwrap());
    // `old`'s window ended at T0 + 60 s: a day after that, it is still kept …
    assert_eq!(limiter.sweep(T0 + day + secs(60)).await.unwrap(), 0);
    assert_eq!(rows(&store, &url).await.len(), 2);
    // … and then it goes.
    assert_eq!(limiter.sweep(T0 + day + secs(61)).await.unwrap(), 1);
    assert_eq!(rows(&store, &url).await, vec![(sha256_hex("young"), 2)]);
    assert!(limiter.try_hit(&young, T0 + day + secs(30)).await.unwrap());
    assert_eq!(rows(&store, &url).await, vec![(sha256_hex("young"), 3)]);
    store.close().await;
}

/// Without its table (migrations skipped) or with a time MySQL cannot store, `try_hit`
/// says why and `hit` allows the attempt.
async fn fails_open(server: Option<Server>) {
    let (url, db) = match server {
        Some(server) => support::server_db(server).await,
        None => support::sqlite_db(),
    };
    let store = support::connect(&url).await;
    let limiter = SqlRateLimiter::new(store.clone());
    let c = check("email:id:jane@example.com", 0, 60);
    let error = limiter.try_hit(&c, T0).await.unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error}");
    assert!(!error.to_string().contains("jane"), "{error}");
    assert!(limiter.hit(&c, T0).await, "fails open");

    store.migrate().await.unwrap();
    assert!(!limiter.hit(&c, T0).await, "limit 0, with the table");
    if store.dialect() == Dialect::MySql {
        let late = datetime!(2040-01-01 00:00 UTC);
        let error = limiter.try_hit(&c, late).await.unwrap_err();
        assert!(error.to_string().contains("TIMESTAMP range"), "{error}");
        assert!(limiter.hit(&c, late).await, "fails open");
    }
    store.close().await;
    assert!(limiter.hit(&c, T0).await, "a closed pool fails open");
    drop(db);
}

macro_rules! rate_limit_tests {
    ($($dialect:ident => $server:expr;)*) => {$(
        mod $dialect {
            #[tokio::test]
            async fn limit_within_a_window() {
                super::limit_within_a_window($server).await;
            }

            #[tokio::test]
            async fn keys_are_independent() {
                super::keys_are_independent($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_hits_are_counted_exactly() {
                super::concurrent_hits_are_counted_exactly($server).await;
            }

            #[tokio::test]
            async fn old_rows_are_swept() {
                super::old_rows_are_swept($server).await;
            }

            #[tokio::test]
            async fn fails_open() {
                super::fails_open($server).await;
            }
        }
    )*};
}

rate_limit_tests! {
    sqlite => None;
    postgres => Some(crate::support::Server::Postgres);
    mariadb => Some(crate::support::Server::MySql);
}
