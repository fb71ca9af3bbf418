//! An acknowledged write survives `kill -9`: the real `portcullis` binary signs in users
//! by e-mail link with database sessions, is killed with SIGKILL right after the last
//! answer, restarts on the same store, and every session it handed out reads back — on
//! sled (the default store), SQLite and PostgreSQL.
//!
//! Needs the test SMTP server (`bash .ci/smtp`) and, for PostgreSQL, the server from
//! `bash .ci/services` (`PORTCULLIS_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; the test creates and drops its own
//! database with `psql`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

use crate::email::{delivered_to, link_in, smtp_url};
use crate::support::{client, cookie_header, set_cookies, SECRET};

/// Sign-ins per run: enough that a write lost to a crash shows, few enough to stay quick.
const SIGN_INS: usize = 20;

/// The server binary on the configuration in `file`, listening on a free loopback port.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(file: &Path) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        for var in [
            "NEXTAUTH_URL",
            "NEXTAUTH_SECRET",
            "PORTCULLIS_CONFIG",
            "PORTCULLIS_LISTEN",
            "PORTCULLIS_DATA_DIR",
            "PORTCULLIS_DATABASE_URL",
            "PORTCULLIS_SMTP_URL",
            "PORTCULLIS_LOG",
            "RUST_LOG",
        ] {
            command.env_remove(var);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(file)
            .env("PORTCULLIS_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the log on a thread for the server's whole life (a full pipe would block
        // it); hand over the address from the `listening` line.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                    if event["message"] == "listening" {
                        let _ = tx.send(Ok(event["addr"].as_str().unwrap_or("").to_owned()));
                    }
                }
                log.push_str(&line);
                log.push('\n');
            }
            let _ = tx.send(Err(log));
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(addr)) => Server {
                child,
                addr: addr.parse().unwrap(),
            },
            Ok(Err(log)) => panic!("the server exited before listening:\n{log}"),
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not listen within 60 s")
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no shutdown, no flush, no destructor runs.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration file in `dir`: e-mail sign-in, database sessions, `store` as extra
/// top-level lines (a `database`, or nothing for sled under the data directory).
fn write_config(dir: &Path, store: &str) -> PathBuf {
    let path = dir.join("portcullis.toml");
    let text = format!(
        "secret = \"{SECRET}\"\nurl = \"http://localhost:3000/api/auth\"\ndata_dir = \"data\"\n\
         {store}\n[session]\nstrategy = \"database\"\n\n\
         [[providers]]\ntype = \"email\"\nsmtp = \"{smtp}\"\nfrom = \"Portcullis <no-reply@example.com>\"\n",
        smtp = smtp_url(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// One e-mail sign-in on `server` for `address`: the session cookie's value.
async fn sign_in(server: &Server, address: &str) -> String {
    let http = client();
    let res = http.get(server.url("/api/auth/csrf")).send().await.unwrap();
    let jar = set_cookies(&res);
    let csrf = res.json::<serde_json::Value>().await.unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = http
        .post(server.url("/api/auth/signin/email"))
        .header("cookie", cookie_header(&jar))
        .form(&[("csrfToken", csrf.as_str()), ("email", address)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let link = link_in(&delivered_to(address));
    let path = link.strip_prefix("http://localhost:3000").unwrap();
    let res = http
        .get(server.url(path))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    set_cookies(&res)
        .remove("next-auth.session-token")
        .expect("a session cookie")
}

/// The e-mail of the session behind `token` on `server`, if it reads back.
async fn session_email(server: &Server, token: &str) -> Option<String> {
    let me: serde_json::Value = client()
        .get(server.url("/api/auth/session"))
        .header("cookie", format!("next-auth.session-token={token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["user"]["email"].as_str().map(str::to_owned)
}

/// `SIGN_INS` sign-ins, SIGKILL right after the last answer, restart: every session reads
/// back, with its user.
async fn sessions_survive_kill_9(dir: &Path, store: &str, label: &str) {
    let file = write_config(dir, store);
    let server = Server::start(&file);
    let mut signed_in = Vec::new();
    for i in 0..SIGN_INS {
        let address = format!("durable-{label}-{}-{i}@example.com", std::process::id());
        let token = sign_in(&server, &address).await;
        signed_in.push((address, token));
    }
    server.kill_9();

    let server = Server::start(&file);
    let mut lost = Vec::new();
    for (address, token) in &signed_in {
        if session_email(&server, token).await.as_deref() != Some(address.as_str()) {
            lost.push(address.as_str());
        }
    }
    assert!(
        lost.is_empty(),
        "{label}: {} of {SIGN_INS} acknowledged sessions read back after kill -9; lost: {lost:?}",
        SIGN_INS - lost.len()
    );
}

#[tokio::test]
async fn sled_sessions_survive_kill_9() {
    let dir = TempDir::new().unwrap();
    sessions_survive_kill_9(dir.path(), "", "sled").await;
}

#[tokio::test]
async fn sqlite_sessions_survive_kill_9() {
    let dir = TempDir::new().unwrap();
    sessions_survive_kill_9(dir.path(), "database = \"sqlite://auth.db\"", "sqlite").await;
}

/// A PostgreSQL database for one test, created and dropped with `psql`.
struct PgDatabase {
    admin: String,
    name: String,
}

impl PgDatabase {
    fn create() -> PgDatabase {
        let admin = std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("portcullis_kill9_{}", std::process::id());
        let db = PgDatabase { admin, name };
        db.psql(&format!("DROP DATABASE IF EXISTS {}", db.name));
        db.psql(&format!("CREATE DATABASE {}", db.name));
        db
    }

    fn psql(&self, sql: &str) {
        let out = Command::new("psql")
            .args(["-w", "-v", "ON_ERROR_STOP=1", "-qc", sql, &self.admin])
            .output()
            .unwrap_or_else(|e| panic!("psql: {e}: run `bash .ci/services`"));
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The database's URL: the admin URL with this database's name as its path.
    fn url(&self) -> String {
        let mut url = url::Url::parse(&self.admin).unwrap();
        url.set_path(&self.name);
        url.to_string()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-w",
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                &self.admin,
            ])
            .output();
    }
}

#[tokio::test]
async fn postgres_sessions_survive_kill_9() {
    let dir = TempDir::new().unwrap();
    let db = PgDatabase::create();
    sessions_survive_kill_9(
        dir.path(),
        &format!("database = \"{}\"", db.url()),
        "postgres",
    )
    .await;
}
