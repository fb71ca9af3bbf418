//! `[redis]` from a configuration file: rate limits shared by instances through Redis,
//! and database-session lookups cached there and dropped on sign-out (the machine's
//! Redis at 127.0.0.1:6379; each test uses a key prefix of its own).

use std::path::Path;

use portcullis_domain::model::{NewUser, Session};
use portcullis_domain::secret::SecretString;
use portcullis_domain::session_key::hashed_key;
use portcullis_ports::Store;
use portcullis_server::{open, App, AppStore, ServerConfig};
use tempfile::TempDir;

use crate::support::{write_users, PASSWORD, SECRET};

fn unique_prefix(test: &str) -> String {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "portcullis-server-test:{test}:{}:{nanos}:",
        std::process::id()
    )
}

async fn keys_under(prefix: &str) -> Vec<String> {
    let mut connection = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap()
}

/// An instance from `dir/portcullis.toml`, on `dir/auth.db`.
async fn instance(dir: &Path, text: &str) -> App {
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    let config = ServerConfig::from_file(&path).unwrap();
    open(&config, false, true).await.unwrap()
}

async fn csrf(app: &App) -> (String, Vec<String>) {
    let response = app
        .portcullis
        .handle(
            http::Request::get("/api/auth/csrf")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    let cookies = response
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    (body["csrfToken"].as_str().unwrap().to_owned(), cookies)
}

async fn sign_in(app: &App, password: &str) -> u16 {
    let (token, cookies) = csrf(app).await;
    let form = format!(
        "csrfToken={token}&username=jane&password={}&json=true",
        password.replace(' ', "+")
    );
    app.portcullis
        .handle(
            http::Request::post("/api/auth/callback/credentials")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookies.join("; "))
                .body(bytes::Bytes::from(form))
                .unwrap(),
        )
        .await
        .status()
        .as_u16()
}

/// Two instances on one database, without `throttle_shared`: `[redis] rate_limits` alone
/// makes the attempts counted by one throttle the other (credentials: 10 per username per
/// 5 minutes), and the counters are in Redis under the prefix, hashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_rate_limits_are_shared_by_instances() {
    let dir = TempDir::new().unwrap();
    let users = write_users(dir.path());
    let prefix = unique_prefix("limits");
    let text = format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n\
         database = \"sqlite://auth.db\"\n\
         [[providers]]\ntype = \"credentials\"\nid = \"credentials\"\nname = \"Credentials\"\n\
         users_file = \"{}\"\n\
         [redis]\nurl = \"redis://127.0.0.1:6379\"\nprefix = \"{prefix}\"\n\
         rate_limits = true\nsession_cache = false\n",
        users.display()
    );
    let one = instance(dir.path(), &text).await;
    let two = instance(dir.path(), &text).await;
    assert_eq!(sign_in(&two, PASSWORD).await, 200);
    for _ in 0..9 {
        assert_eq!(sign_in(&one, "wrong").await, 401);
    }
    assert_eq!(
        sign_in(&two, PASSWORD).await,
        401,
        "the 11th attempt, counted in Redis, is throttled on the other instance"
    );
    let keys = keys_under(&prefix).await;
    assert!(!keys.is_empty(), "the counters are in Redis");
    for key in &keys {
        assert!(key.starts_with(&format!("{prefix}limit:")), "{key}");
        assert!(!key.contains("jane") && !key.contains("127.0.0.1"), "{key}");
    }
    one.store.close().await.unwrap();
    two.store.close().await.unwrap();
}

/// `[redis] session_cache` with database sessions: a session read is cached in Redis
/// (served from there while the row is unchanged), and signing out drops the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_session_lookups_are_cached_and_dropped_on_sign_out() {
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("sessions");
    let text = format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n\
         database = \"sqlite://auth.db\"\n[session]\nstrategy = \"database\"\n\
         [redis]\nurl = \"redis://127.0.0.1:6379\"\nprefix = \"{prefix}\"\n\
         session_cache_ttl_seconds = 30\n"
    );
    let app = instance(dir.path(), &text).await;
    let AppStore::Sql(db) = &app.store else {
        panic!("a sqlite:// database opens the SQL store");
    };
    let user = db
        .create_user(NewUser {
            name: Some("Jane".into()),
            email: Some("jane@example.com".into()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let token = "5f".repeat(32);
    let now = time::OffsetDateTime::now_utc();
    db.create_session(Session {
        session_token: SecretString::new(hashed_key(&token)),
        user_id: user.id.clone(),
        expires: now + time::Duration::days(30),
        access_token: SecretString::new("a".repeat(64)),
        created: Some(now),
    })
    .await
    .unwrap();
    let cookie = format!("next-auth.session-token={token}");
    let session = |cookie: String| {
        let app = &app;
        async move {
            let response = app
                .portcullis
                .handle(
                    http::Request::get("/api/auth/session")
                        .header("cookie", cookie)
                        .body(bytes::Bytes::new())
                        .unwrap(),
                )
                .await;
            serde_json::from_str::<serde_json::Value>(response.body()).unwrap()
        }
    };
    assert_eq!(
        session(cookie.clone()).await["user"]["email"],
        "jane@example.com"
    );
    let entries = |keys: Vec<String>| {
        keys.into_iter()
            .filter(|k| k.starts_with(&format!("{prefix}session:")))
            .count()
    };
    assert_eq!(
        entries(keys_under(&prefix).await),
        1,
        "the lookup is cached"
    );

    // A rename straight in the database (not through the engine) is not seen: the read
    // is served from Redis…
    db.update_user(portcullis_domain::model::User {
        name: Some("Renamed Behind The Cache".into()),
        ..user.clone()
    })
    .await
    .unwrap();
    assert_eq!(session(cookie.clone()).await["user"]["name"], "Jane");

    // …and signing out through the engine drops the entry.
    let (csrf_token, mut cookies) = csrf(&app).await;
    cookies.push(cookie.clone());
    let response = app
        .portcullis
        .handle(
            http::Request::post("/api/auth/signout")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookies.join("; "))
                .body(bytes::Bytes::from(format!(
                    "csrfToken={csrf_token}&json=true"
                )))
                .unwrap(),
        )
        .await;
    assert!(response.status().is_success() || response.status().is_redirection());
    assert_eq!(
        entries(keys_under(&prefix).await),
        0,
        "sign-out dropped the entry"
    );
    assert_eq!(session(cookie).await, serde_json::json!({}));
    app.store.close().await.unwrap();
}

/// Redis down at startup: the server starts anyway (within the timeout) and counts rate
/// limits in memory meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_does_not_stop_startup() {
    let dir = TempDir::new().unwrap();
    let users = write_users(dir.path());
    let text = format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n\
         database = \"sqlite://auth.db\"\n\
         [[providers]]\ntype = \"credentials\"\nid = \"credentials\"\nname = \"Credentials\"\n\
         users_file = \"{}\"\n\
         [redis]\nurl = \"redis://127.0.0.1:1\"\ntimeout_ms = 200\n",
        users.display()
    );
    let started = std::time::Instant::now();
    let app = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        instance(dir.path(), &text),
    )
    .await
    .expect("startup is not held up by Redis");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(
        sign_in(&app, PASSWORD).await,
        200,
        "served with the fallback"
    );
    app.store.close().await.unwrap();
}

fn unreachable_redis_config(dir: &Path, extra: &str) -> String {
    let users = write_users(dir);
    format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n\
         database = \"sqlite://auth.db\"\n{extra}\n\
         [[providers]]\ntype = \"credentials\"\nid = \"credentials\"\nname = \"Credentials\"\n\
         users_file = \"{}\"\n\
         [redis]\nurl = \"redis://127.0.0.1:1\"\ntimeout_ms = 200\n",
        users.display()
    )
}

/// While Redis is down, `throttle_shared`'s database counters take over: the instances
/// still share their limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_the_database_counts_for_throttle_shared() {
    let dir = TempDir::new().unwrap();
    let text = unreachable_redis_config(dir.path(), "throttle_shared = true");
    let one = instance(dir.path(), &text).await;
    let two = instance(dir.path(), &text).await;
    assert_eq!(sign_in(&two, PASSWORD).await, 200);
    for _ in 0..9 {
        assert_eq!(sign_in(&one, "wrong").await, 401);
    }
    assert_eq!(
        sign_in(&two, PASSWORD).await,
        401,
        "counted in the database"
    );
    one.store.close().await.unwrap();
    two.store.close().await.unwrap();
}

/// `fail_closed`: while Redis is down, rate-limited attempts are refused, even with the
/// right password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_refuses_while_redis_is_down() {
    let dir = TempDir::new().unwrap();
    let text = format!(
        "{}fail_closed = true\n",
        unreachable_redis_config(dir.path(), "")
    );
    let app = instance(dir.path(), &text).await;
    assert_eq!(sign_in(&app, PASSWORD).await, 401);
    app.store.close().await.unwrap();
}
