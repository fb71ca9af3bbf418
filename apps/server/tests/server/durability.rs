//! An acknowledged write survives `kill -9`: the real `portcullis` binary signs in users
//! by e-mail link with database sessions, is killed with SIGKILL right after the last
//! answer, restarts on the same store, and every session it handed out reads back — on
//! sled (the default store), SQLite and PostgreSQL.
//!
//! Needs the test SMTP server (`bash .ci/smtp`) and, for PostgreSQL, the server from
//! `bash .ci/services` (`PORTCULLIS_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; the test creates and drops its own
//! database with `psql`).

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::binary::{ScratchDatabase, Server};
use crate::email::{delivered_to, link_in, smtp_url};
use crate::support::{client, cookie_header, set_cookies, SECRET};

/// Sign-ins per run: enough that a write lost to a crash shows, few enough to stay quick.
const SIGN_INS: usize = 20;

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
    let mut server = Server::start(dir, &file);
    let mut signed_in = Vec::new();
    for i in 0..SIGN_INS {
        let address = format!("durable-{label}-{}-{i}@example.com", std::process::id());
        let token = sign_in(&server, &address).await;
        signed_in.push((address, token));
    }
    server.kill_9();

    let server = Server::start(dir, &file);
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

#[tokio::test]
async fn postgres_sessions_survive_kill_9() {
    let dir = TempDir::new().unwrap();
    let db = ScratchDatabase::postgres("kill9");
    sessions_survive_kill_9(
        dir.path(),
        &format!("database = \"{}\"", db.url()),
        "postgres",
    )
    .await;
}
