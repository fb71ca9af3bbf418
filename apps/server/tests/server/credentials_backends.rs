//! `[providers.sql]` and `[providers.http]` through the real `portcullis` binary configured
//! from a TOML file: CSRF token, credentials callback, session; a refusal; nothing of the
//! password in the logs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use portcullis_hooks_http::WebhookSecrets;
use serde_json::{json, Value};
use tempfile::TempDir;
use warp::Filter;

use crate::support::{client, cookie_header, set_cookies, SECRET};

const PASSWORD: &str = "s3cret-Pa55word-never-logged";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `portcullis serve` on a free port, with its log lines collected.
struct Server {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(dir: &Path, toml: &str) -> Server {
        let file = dir.join("portcullis.toml");
        // A public URL is required outside `--dev`.
        std::fs::write(
            &file,
            format!("url = \"http://localhost:3000/api/auth\"\n{toml}"),
        )
        .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        for var in [
            "NEXTAUTH_URL",
            "NEXTAUTH_SECRET",
            "PORTCULLIS_CONFIG",
            "PORTCULLIS_DATABASE_URL",
            "PORTCULLIS_LOG",
            "RUST_LOG",
        ] {
            command.env_remove(var);
        }
        let mut child = command
            .current_dir(dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&file)
            .env("PORTCULLIS_LOG_FORMAT", "json")
            .env("PORTCULLIS_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        // The "listening" line is the signal that it serves.
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("the server exited early: {seen:#?}");
            };
            seen.push(line.clone());
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if event["message"] == "listening" {
                break event["addr"].as_str().unwrap().to_owned();
            }
        };
        let logs = Arc::new(Mutex::new(seen));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Server { child, addr, logs }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// CSRF, then the credentials callback of provider `app` with `json=true`: the status
    /// and the session JSON read with the cookies it set.
    async fn sign_in(&self, fields: &[(&str, &str)]) -> (u16, Value) {
        let http = client();
        let csrf = http.get(self.url("/api/auth/csrf")).send().await.unwrap();
        let mut cookies = set_cookies(&csrf);
        let token = csrf.json::<Value>().await.unwrap()["csrfToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut form = vec![("csrfToken", token.as_str()), ("json", "true")];
        form.extend_from_slice(fields);
        let answer = http
            .post(self.url("/api/auth/callback/app"))
            .header("cookie", cookie_header(&cookies))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        cookies.extend(set_cookies(&answer));
        let session = http
            .get(self.url("/api/auth/session"))
            .header("cookie", cookie_header(&cookies))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        (status, session)
    }

    /// Stops the server (SIGTERM) and returns every log line.
    fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let logs = self.logs.lock().unwrap().clone();
        logs
    }
}

async fn sqlite_exec(url: &str, statements: &[String]) {
    use sqlx::Connection;
    let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
    for statement in statements {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }
}

/// A bcrypt password table in the server's own SQLite `database`, rewritten to Argon2id
/// on the first sign-in.
#[cfg(unix)]
#[tokio::test]
async fn a_password_table_signs_in_through_the_binary() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("app.db");
    std::fs::File::create(&db).unwrap();
    let url = format!("sqlite://{}", db.display());
    sqlite_exec(
        &url,
        &[
            "CREATE TABLE members (member_id INTEGER PRIMARY KEY, display TEXT, mail TEXT NOT NULL, pw TEXT NOT NULL)".into(),
            format!(
                "INSERT INTO members VALUES (42, 'Jane Doe', 'jane@example.com', '{}')",
                bcrypt::hash(PASSWORD, 4).unwrap()
            ),
        ],
    )
    .await;
    let server = Server::start(
        dir.path(),
        &format!(
            r#"secret = "{SECRET}"
database = "sqlite://app.db"

[[providers]]
type = "credentials"
id = "app"
name = "App"

[providers.sql]
query = "SELECT member_id AS id, display AS name, mail AS email, pw AS password_hash FROM members WHERE mail = ?"
username_field = "email"
allowed_schemes = ["bcrypt", "argon2id"]
rehash = true
update = "UPDATE members SET pw = ? WHERE member_id = ?"
"#
        ),
    );
    let (status, session) = server
        .sign_in(&[("email", "jane@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, 200, "{:#?}", server.logs.lock().unwrap());
    assert_eq!(session["user"]["name"], "Jane Doe");
    assert_eq!(session["user"]["email"], "jane@example.com");

    let (status, session) = server
        .sign_in(&[("email", "jane@example.com"), ("password", "wrong")])
        .await;
    assert_eq!(status, 401);
    assert_eq!(session, json!({}));
    let (status, _) = server
        .sign_in(&[("email", "nobody@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, 401);
    // The rehashed password still signs in.
    let (status, _) = server
        .sign_in(&[("email", "jane@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, 200);

    let logs = server.stop();
    assert!(
        logs.iter().any(|l| l.contains("rewritten as argon2id")),
        "{logs:#?}"
    );
    assert!(!logs.iter().any(|l| l.contains(PASSWORD)), "{logs:#?}");
    use sqlx::{Connection, Row};
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let stored: String = sqlx::query("SELECT pw FROM members WHERE member_id = 42")
        .fetch_one(&mut connection)
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("$argon2id$"), "{stored}");
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The operator's service on loopback: verifies the request's signature, signs its answer.
async fn credentials_service() -> std::net::SocketAddr {
    let route = warp::post()
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(|headers: http::HeaderMap, body: Bytes| {
            let secrets = WebhookSecrets::parse(&[WEBHOOK_SECRET]).unwrap();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            if secrets.verify(&header, &body, now(), None).is_err() {
                return http::Response::builder()
                    .status(401)
                    .body(Bytes::new())
                    .unwrap();
            }
            let request: Value = serde_json::from_slice(&body).unwrap();
            let credentials = &request["credentials"];
            let answer = if credentials["username"] == "jane" && credentials["password"] == PASSWORD
            {
                json!({"user": {"id": "u-42", "name": "Jane Doe", "email": "jane@example.com"}})
            } else {
                json!({"user": null})
            };
            let answer = Bytes::from(answer.to_string());
            let signed = secrets.sign(&header("webhook-id").unwrap(), now(), &answer);
            let mut response = http::Response::builder().header("content-type", "application/json");
            for (name, value) in signed.headers() {
                response = response.header(name, value);
            }
            response.body(answer).unwrap()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    addr
}

#[cfg(unix)]
#[tokio::test]
async fn an_http_service_signs_in_through_the_binary() {
    let dir = TempDir::new().unwrap();
    let service = credentials_service().await;
    let server = Server::start(
        dir.path(),
        &format!(
            r#"secret = "{SECRET}"
stateless = true

[[providers]]
type = "credentials"
id = "app"
name = "App"

[providers.http]
url = "http://{service}/check"
secret = "{WEBHOOK_SECRET}"
timeout_ms = 3000
"#
        ),
    );
    let (status, session) = server
        .sign_in(&[("username", "jane"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, 200, "{:#?}", server.logs.lock().unwrap());
    assert_eq!(session["user"]["name"], "Jane Doe");
    let (status, session) = server
        .sign_in(&[("username", "jane"), ("password", "wrong")])
        .await;
    assert_eq!(status, 401);
    assert_eq!(session, json!({}));
    let logs = server.stop();
    assert!(!logs.iter().any(|l| l.contains(PASSWORD)), "{logs:#?}");

    // A service that is down: a refusal (401), never a 500.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let dir = TempDir::new().unwrap();
    let server = Server::start(
        dir.path(),
        &format!(
            "secret = \"{SECRET}\"\nstateless = true\n[[providers]]\ntype = \"credentials\"\nid = \"app\"\nname = \"App\"\n[providers.http]\nurl = \"http://{closed}/check\"\nsecret = \"{WEBHOOK_SECRET}\"\n"
        ),
    );
    let (status, _) = server
        .sign_in(&[("username", "jane"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, 401);
    let logs = server.stop();
    assert!(
        logs.iter()
            .any(|l| l.contains("credentials service no answer")),
        "{logs:#?}"
    );
}

/// `config check` names the provider and the key.
#[test]
fn config_check_refuses_bad_backends() {
    let dir = TempDir::new().unwrap();
    let base = format!("secret = \"{SECRET}\"\ndatabase = \"sqlite://x.db\"\n[[providers]]\ntype = \"credentials\"\nid = \"app\"\nname = \"App\"\n");
    let sql = "[providers.sql]\nquery = \"SELECT id, name, email, password_hash FROM u WHERE email = ?\"\n";
    let cases = [
        (String::new(), "provider \"app\": set one credentials backend"),
        (format!("users_file = \"u.toml\"\n{sql}"), "set only one credentials backend, not users_file and sql"),
        (
            "[providers.sql]\nquery = \"SELECT id, name, email FROM u WHERE email = ?\"\n".into(),
            "sql.query: the query does not return the column(s) password_hash",
        ),
        (
            format!("{sql}allowed_schemes = [\"bcrypt\", \"md5\"]\n"),
            "sql.allowed_schemes: unknown scheme \"md5\"",
        ),
        (format!("{sql}rehash = true\n"), "sql.update"),
        (
            format!("[providers.http]\nurl = \"http://auth.example.com/\"\nsecret = \"{WEBHOOK_SECRET}\"\n"),
            "http.url: must be https://",
        ),
        (
            "[providers.http]\nurl = \"https://auth.example.com/\"\nsecret = \"hunter2\"\n".into(),
            "http.secret",
        ),
    ];
    for (backend, needle) in cases {
        let file = dir.path().join("c.toml");
        std::fs::write(&file, format!("{base}{backend}")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["config", "check", "--config"])
            .arg(&file)
            .env_remove("NEXTAUTH_SECRET")
            .env_remove("PORTCULLIS_DATABASE_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{backend}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}
