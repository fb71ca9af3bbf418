//! The server's credentials backends (C04): a password table in a real database, and the
//! operator's HTTP service, a loopback receiver that checks Standard Webhooks signatures
//! with the reference `standardwebhooks` crate and signs its answers with it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cucumber::{given, then};
use serde_json::{json, Value};
use sqlx::Connection as _;

use crate::doubles::{PASSWORD, USERNAME};
use crate::world::AuthWorld;

/// A password table the scenario made, dropped when the world finishes.
#[derive(Debug, Clone)]
pub(crate) struct PasswordTable {
    pub url: String,
    pub name: String,
}

fn hash(scheme: &str) -> String {
    match scheme {
        "bcrypt" => bcrypt::hash(PASSWORD, 4).expect("bcrypt hashes"),
        "Argon2id" => portcullis_credentials_sql::hash_argon2id(PASSWORD).expect("argon2id"),
        other => panic!("no {other} hashes here: bcrypt or Argon2id"),
    }
}

/// Runs `statements` (with `?` or `$n` already in the dialect's form) on `url`.
async fn execute(url: &str, sql: &str, binds: &[&str]) {
    macro_rules! run {
        ($conn:ty) => {{
            let mut conn = <$conn>::connect(url)
                .await
                .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            query
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }};
    }
    if url.starts_with("postgres") {
        run!(sqlx::PgConnection)
    } else if url.starts_with("mysql") {
        run!(sqlx::MySqlConnection)
    } else {
        run!(sqlx::SqliteConnection)
    }
}

async fn fetch_hash(table: &PasswordTable) -> String {
    let placeholder = if table.url.starts_with("postgres") {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "SELECT password_hash FROM {} WHERE email = {placeholder}",
        table.name
    );
    macro_rules! fetch {
        ($conn:ty) => {{
            let mut conn = <$conn>::connect(&table.url).await.expect("connecting");
            let row: (String,) = sqlx::query_as(&sql)
                .bind("jane@example.com")
                .fetch_one(&mut conn)
                .await
                .expect("Jane's row");
            row.0
        }};
    }
    if table.url.starts_with("postgres") {
        fetch!(sqlx::PgConnection)
    } else if table.url.starts_with("mysql") {
        fetch!(sqlx::MySqlConnection)
    } else {
        fetch!(sqlx::SqliteConnection)
    }
}

/// Drops the tables the scenario made.
pub(crate) async fn drop_tables(tables: Vec<PasswordTable>) {
    for table in tables {
        if !table.url.starts_with("sqlite") {
            execute(
                &table.url,
                &format!("DROP TABLE IF EXISTS {}", table.name),
                &[],
            )
            .await;
        }
    }
}

/// A table `users`-like, in the named database, with Jane (`jane@example.com`, id 42)
/// and her password hashed by `scheme`. Saves `{saved:table_url}`, `{saved:table}` and
/// `{saved:param}` (the dialect's first placeholder).
#[given(expr = "a password table in {word} holding Jane's password as a(n) {word} hash")]
async fn password_table(w: &mut AuthWorld, database: String, scheme: String) {
    let suffix = crate::mailbox::unique_sender()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let name = format!("portcullis_s_pw_{suffix}");
    let (url, param) = match database.as_str() {
        "SQLite" => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let url = format!("sqlite://{}/app.db?mode=rwc", dir.path().display());
            w.keep_dir(dir);
            (url, "?")
        }
        "PostgreSQL" => (crate::stores::admin_url("PostgreSQL"), "$1"),
        "MariaDB" => (crate::stores::admin_url("MariaDB"), "?"),
        other => panic!("no database {other:?}: SQLite, PostgreSQL or MariaDB"),
    };
    execute(
        &url,
        &format!(
            "CREATE TABLE {name} (id INTEGER PRIMARY KEY, name VARCHAR(100), \
             email VARCHAR(200) NOT NULL UNIQUE, password_hash VARCHAR(255) NOT NULL)"
        ),
        &[],
    )
    .await;
    let insert = format!(
        "INSERT INTO {name} (id, name, email, password_hash) VALUES (42, 'Jane Doe', \
         'jane@example.com', {})",
        if param == "$1" { "$1" } else { "?" }
    );
    execute(&url, &insert, &[&hash(&scheme)]).await;
    // The binary is handed the URL without the create-mode flag.
    let server_url = url.trim_end_matches("?mode=rwc").to_owned();
    w.saved.insert("table_url".into(), server_url);
    w.saved.insert("table".into(), name.clone());
    w.saved.insert("param".into(), param.into());
    w.password_tables.push(PasswordTable { url, name });
}

#[then(expr = "the password table holds a(n) {word} hash for Jane")]
async fn table_holds(w: &mut AuthWorld, scheme: String) {
    let table = w
        .password_tables
        .last()
        .expect("no password table yet")
        .clone();
    let stored = fetch_hash(&table).await;
    let prefix = match scheme.as_str() {
        "Argon2id" => "$argon2id$",
        "bcrypt" => "$2",
        other => panic!("no {other} hashes here: bcrypt or Argon2id"),
    };
    assert!(
        stored.starts_with(prefix),
        "the stored hash is not {scheme}: {stored}"
    );
    assert!(
        portcullis_credentials_sql::Scheme::of(&stored)
            .is_some_and(|s| portcullis_credentials_sql::verify(s, PASSWORD, &stored)),
        "the stored hash does not verify Jane's password"
    );
}

/// The scenario's credentials service, serving until the world drops it.
pub(crate) struct CredentialsService {
    calls: Arc<AtomicUsize>,
    _server: portcullis_server::ShutdownHandle,
}

/// How the scenario's credentials service behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceMode {
    /// Checks jane / `correct horse`, answers signed.
    Honest,
    /// Answers Jane for anyone, but unsigned.
    Unsigned,
    /// Answers only after the given delay.
    Slow(Duration),
}

/// Starts the operator's credentials service on loopback: `{saved:service_url}` and
/// `{saved:service_secret}`.
async fn start_service(w: &mut AuthWorld, mode: ServiceMode) {
    use warp::Filter as _;
    let secret = crate::webhooks::fresh_secret();
    let webhook = Arc::new(standardwebhooks::Webhook::new(&secret).expect("a webhook secret"));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let route = warp::post()
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(move |headers: http::HeaderMap, body: bytes::Bytes| {
            let webhook = webhook.clone();
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                if let ServiceMode::Slow(delay) = mode {
                    tokio::time::sleep(delay).await;
                }
                if let Some(refusal) = crate::webhooks::refuse_unsigned(&webhook, &headers, &body) {
                    return refusal;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let credentials = &request["credentials"];
                let honest = credentials["username"] == USERNAME
                    && credentials["password"] == PASSWORD
                    && credentials.get("csrfToken").is_none();
                let user = if honest || mode == ServiceMode::Unsigned {
                    json!({"id": "42", "name": "Jane Doe", "email": "jane@example.com"})
                } else {
                    Value::Null
                };
                let answer = json!({ "user": user }).to_string();
                if mode == ServiceMode::Unsigned {
                    return warp::http::Response::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .body(answer)
                        .expect("a response");
                }
                crate::webhooks::signed_json(&webhook, &headers, answer)
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the credentials service binds 127.0.0.1:0");
    let (addr, server) = portcullis_server::serve_on(listener, route, futures::future::pending())
        .expect("the credentials service serves");
    w.saved
        .insert("service_url".into(), format!("http://{addr}/check"));
    w.saved.insert("service_secret".into(), secret);
    w.service = Some(CredentialsService {
        calls,
        _server: server,
    });
}

#[given("the operator's credentials service")]
async fn service(w: &mut AuthWorld) {
    start_service(w, ServiceMode::Honest).await;
}

#[given("the operator's credentials service, answering unsigned")]
async fn unsigned_service(w: &mut AuthWorld) {
    start_service(w, ServiceMode::Unsigned).await;
}

#[given(expr = "the operator's credentials service, answering after {int} ms")]
async fn slow_service(w: &mut AuthWorld, millis: u64) {
    start_service(w, ServiceMode::Slow(Duration::from_millis(millis))).await;
}

#[then(expr = "the credentials service was called {int} time(s)")]
async fn service_called(w: &mut AuthWorld, times: usize) {
    let service = w
        .service
        .as_ref()
        .expect("no credentials service in this scenario");
    assert_eq!(service.calls.load(Ordering::SeqCst), times);
}

/// The scenarios' scripted credentials backend ([`crate::doubles::Backend::Users`]) served
/// to the real binary as the operator's service (`[providers.http]`): Jane / `correct
/// horse` is Jane Doe (id 42), anything else is refused. Each call's credentials are
/// recorded as the in-process backend records them.
pub(crate) struct BackendService {
    pub url: String,
    pub secret: String,
    _server: portcullis_server::ShutdownHandle,
}

impl BackendService {
    pub(crate) async fn start(seen: crate::doubles::Seen) -> Self {
        use warp::Filter as _;
        let secret = crate::webhooks::fresh_secret();
        let webhook = Arc::new(standardwebhooks::Webhook::new(&secret).expect("a webhook secret"));
        let route = warp::post()
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(move |headers: http::HeaderMap, body: bytes::Bytes| {
                if let Some(refusal) = crate::webhooks::refuse_unsigned(&webhook, &headers, &body) {
                    return refusal;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let credentials = request["credentials"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let ok = credentials.get("username") == Some(&json!(USERNAME))
                    && credentials.get("password") == Some(&json!(PASSWORD));
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(
                    crate::doubles::AuthorizeSeen {
                        credentials,
                        // The server does not forward the browser's request to its service.
                        request: portcullis::RequestInfo {
                            method: String::new(),
                            query: serde_json::Map::new(),
                            headers: Vec::new(),
                        },
                    },
                );
                let user = if ok {
                    json!({"id": 42, "name": "Jane Doe", "email": "jane@example.com"})
                } else {
                    Value::Null
                };
                let answer = json!({ "user": user }).to_string();
                crate::webhooks::signed_json(&webhook, &headers, answer)
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the credentials backend binds 127.0.0.1:0");
        let (addr, server) =
            portcullis_server::serve_on(listener, route, futures::future::pending())
                .expect("the credentials backend serves");
        Self {
            url: format!("http://{addr}/authorize"),
            secret,
            _server: server,
        }
    }
}
