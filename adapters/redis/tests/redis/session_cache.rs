//! `RedisSessionCache` beyond the conformance suite: lookups are served from Redis, every
//! write that changes a lookup drops it, Redis losing everything loses no session, an
//! unreachable Redis falls back to the database, and a lookup racing a write cannot
//! leave the old row cached.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use portcullis_domain::model::{NewUser, Session, User};
use portcullis_domain::secret::SecretString;
use portcullis_ports::Store;
use portcullis_redis::RedisSessionCache;
use portcullis_store_sled::SledStore;
use time::{Duration, OffsetDateTime};

use crate::support::{
    connection, forget_everything_under, keys_under, raw, sha256_hex, unique_prefix, unreachable,
    Watched,
};

struct Fixture {
    prefix: String,
    db: Arc<Watched>,
    cache: RedisSessionCache,
}

fn fixture(test: &str) -> Fixture {
    let prefix = unique_prefix(test);
    let db = Watched::new(Arc::new(SledStore::temporary().unwrap()));
    let cache = RedisSessionCache::new(db.clone(), connection()).prefix(&prefix);
    Fixture { prefix, db, cache }
}

/// The whole milliseconds of now, as stores keep them.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap()
}

async fn user(store: &dyn Store, name: &str) -> User {
    store
        .create_user(NewUser {
            name: Some(name.to_owned()),
            email: Some(format!("{name}@example.com")),
            ..NewUser::default()
        })
        .await
        .unwrap()
}

/// A session (stored under its `sha256:` key, as the domain stores new ones).
async fn session(store: &dyn Store, user: &User, cookie: &str) -> Session {
    let session = Session {
        session_token: SecretString::new(format!("sha256:{}", sha256_hex(cookie))),
        user_id: user.id.clone(),
        expires: now() + Duration::days(30),
        access_token: SecretString::new(format!("at-{}", &sha256_hex(cookie)[..16])),
        created: Some(now()),
    };
    store.create_session(session).await.unwrap()
}

async fn lookup(store: &dyn Store, session: &Session) -> Option<(Session, User)> {
    let key = session.session_token.expose();
    store
        .get_session_and_user(&[key, "raw-v3-candidate"])
        .await
        .unwrap()
}

fn entry_key(prefix: &str, session: &Session) -> String {
    format!(
        "{prefix}session:{}",
        sha256_hex(session.session_token.expose())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_is_served_from_the_cache_after_the_first() {
    let f = fixture("served");
    let jane = user(&f.cache, "jane").await;
    let s = session(&f.cache, &jane, "cookie-jane").await;
    let first = lookup(&f.cache, &s).await.unwrap();
    assert_eq!(first, (s.clone(), jane.clone()));
    assert_eq!(f.db.lookups(), 1);
    for _ in 0..3 {
        assert_eq!(lookup(&f.cache, &s).await.unwrap(), first);
    }
    assert_eq!(f.db.lookups(), 1, "the database was asked once");

    // What Redis holds: the entry under the hashed key and the user's set; neither the
    // cookie's token nor the session key anywhere.
    let keys = keys_under(&f.prefix).await;
    assert!(keys.contains(&entry_key(&f.prefix, &s)), "{keys:?}");
    assert!(keys.contains(&format!(
        "{}session-user:{}",
        f.prefix,
        sha256_hex(&jane.id)
    )));
    let mut connection = raw().await;
    for key in &keys {
        let dump: String = redis::cmd("DUMP")
            .arg(key)
            .query_async::<Vec<u8>>(&mut connection)
            .await
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap();
        assert!(!key.contains("cookie-jane") && !dump.contains("cookie-jane"));
        assert!(
            !dump.contains(s.session_token.expose()),
            "{key} holds the session key"
        );
    }
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(entry_key(&f.prefix, &s))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl_ms > 0 && ttl_ms <= 60_000, "{ttl_ms}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absence_is_never_cached() {
    let f = fixture("absence");
    let jane = user(&f.cache, "jane").await;
    let s = Session {
        session_token: SecretString::new("sha256:made-on-another-instance"),
        user_id: jane.id.clone(),
        expires: now() + Duration::days(1),
        access_token: SecretString::new("a"),
        created: None,
    };
    assert_eq!(lookup(&f.cache, &s).await, None);
    // Another instance creates it in the database.
    f.db.inner.create_session(s.clone()).await.unwrap();
    assert_eq!(lookup(&f.cache, &s).await, Some((s, jane)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ttl_never_outlives_the_session() {
    let f = fixture("ttl");
    let cache = RedisSessionCache::new(f.db.clone(), connection())
        .prefix(&f.prefix)
        .ttl(StdDuration::from_secs(3600));
    let jane = user(&cache, "jane").await;
    let mut s = session(&cache, &jane, "short").await;
    s.expires = now() + Duration::seconds(5);
    cache
        .update_session_expiry(s.session_token.expose(), s.expires)
        .await
        .unwrap();
    assert_eq!(lookup(&cache, &s).await.unwrap().0, s);
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(entry_key(&f.prefix, &s))
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert!(ttl_ms > 0 && ttl_ms <= 5_000, "{ttl_ms}");

    // An expired session is returned (the domain decides) but not cached.
    let expired = Session {
        expires: now() - Duration::seconds(1),
        ..session(&cache, &jane, "expired").await
    };
    cache
        .update_session_expiry(expired.session_token.expose(), expired.expires)
        .await
        .unwrap();
    assert_eq!(lookup(&cache, &expired).await.unwrap().0, expired);
    assert!(!keys_under(&f.prefix)
        .await
        .contains(&entry_key(&f.prefix, &expired)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_and_expiry_updates_drop_the_entry() {
    let f = fixture("sign-out");
    let jane = user(&f.cache, "jane").await;
    let s = session(&f.cache, &jane, "one").await;
    let other = session(&f.cache, &jane, "two").await;
    lookup(&f.cache, &s).await.unwrap();
    lookup(&f.cache, &other).await.unwrap();

    let later = s.expires + Duration::days(1);
    f.cache
        .update_session_expiry(s.session_token.expose(), later)
        .await
        .unwrap();
    assert_eq!(lookup(&f.cache, &s).await.unwrap().0.expires, later);

    f.cache
        .delete_session(s.session_token.expose())
        .await
        .unwrap();
    assert_eq!(lookup(&f.cache, &s).await, None, "signed out at once");
    assert!(!keys_under(&f.prefix)
        .await
        .contains(&entry_key(&f.prefix, &s)));
    let lookups = f.db.lookups();
    assert!(lookup(&f.cache, &other).await.is_some());
    assert_eq!(f.db.lookups(), lookups, "the other session stayed cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_writes_drop_every_entry_of_that_user_only() {
    let f = fixture("user-writes");
    let jane = user(&f.cache, "jane").await;
    let joe = user(&f.cache, "joe").await;
    let (j1, j2) = (
        session(&f.cache, &jane, "j1").await,
        session(&f.cache, &jane, "j2").await,
    );
    let joes = session(&f.cache, &joe, "joe").await;
    for s in [&j1, &j2, &joes] {
        lookup(&f.cache, s).await.unwrap();
    }

    let renamed = User {
        name: Some("Jane Doe".into()),
        ..jane.clone()
    };
    f.cache.update_user(renamed.clone()).await.unwrap();
    assert_eq!(lookup(&f.cache, &j1).await.unwrap().1, renamed);
    assert_eq!(lookup(&f.cache, &j2).await.unwrap().1, renamed);

    assert_eq!(f.cache.delete_sessions_for_user(&jane.id).await.unwrap(), 2);
    assert_eq!(lookup(&f.cache, &j1).await, None, "signed out everywhere");
    assert_eq!(lookup(&f.cache, &j2).await, None);

    let lookups = f.db.lookups();
    assert!(lookup(&f.cache, &joes).await.is_some());
    assert_eq!(f.db.lookups(), lookups, "joe's entry was not touched");

    f.cache.delete_user(&joe.id).await.unwrap();
    assert_eq!(
        lookup(&f.cache, &joes).await,
        None,
        "a deleted user's session is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_losing_everything_loses_no_session() {
    let f = fixture("restart");
    let jane = user(&f.cache, "jane").await;
    let s = session(&f.cache, &jane, "kept").await;
    let before = lookup(&f.cache, &s).await.unwrap();
    forget_everything_under(&f.prefix).await;
    assert_eq!(
        lookup(&f.cache, &s).await.unwrap(),
        before,
        "read from the database"
    );
    assert_eq!(f.db.lookups(), 2);
    assert!(
        keys_under(&f.prefix)
            .await
            .contains(&entry_key(&f.prefix, &s)),
        "cached again"
    );
    // Invalidation still works on the new, empty Redis.
    f.cache
        .delete_session(s.session_token.expose())
        .await
        .unwrap();
    assert_eq!(lookup(&f.cache, &s).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_reads_and_writes_the_database() {
    let db = Arc::new(SledStore::temporary().unwrap());
    let cache = RedisSessionCache::new(db.clone(), unreachable());
    let jane = user(&cache, "jane").await;
    let s = session(&cache, &jane, "down").await;
    assert_eq!(lookup(&cache, &s).await, Some((s.clone(), jane.clone())));
    assert_eq!(lookup(&cache, &s).await, Some((s.clone(), jane.clone())));
    cache
        .delete_session(s.session_token.expose())
        .await
        .unwrap();
    assert_eq!(lookup(&cache, &s).await, None, "the database was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_racing_a_write_cannot_cache_the_old_row() {
    let f = fixture("race");
    let jane = user(&f.cache, "jane").await;
    let s = session(&f.cache, &jane, "race").await;

    // A lookup misses, reads the old row from the database, and is held there…
    let hold = f.db.hold_next();
    let cache = Arc::new(f.cache);
    let racing = tokio::spawn({
        let cache = cache.clone();
        let s = s.clone();
        async move { lookup(&*cache, &s).await }
    });
    tokio::time::timeout(StdDuration::from_secs(10), hold.read)
        .await
        .expect("the lookup reached the database")
        .unwrap();
    // …while the user is renamed and the cache invalidated…
    let renamed = User {
        name: Some("Jane Doe".into()),
        ..jane.clone()
    };
    cache.update_user(renamed.clone()).await.unwrap();
    // …then it answers with the row it read, but must not cache it.
    hold.release.send(()).unwrap();
    assert_eq!(racing.await.unwrap().unwrap().1, jane);
    assert!(
        !keys_under(&f.prefix)
            .await
            .contains(&entry_key(&f.prefix, &s)),
        "the old row was not cached"
    );
    assert_eq!(lookup(&*cache, &s).await.unwrap().1, renamed);
}
