//! A provider refresh token is spent once across processes (issue 15): three processes —
//! this test binary run again as [`renewer`] — each with its own engine and connection pool
//! on one PostgreSQL (then MariaDB) database, ask for the same expired access token ten
//! times at once, released together by a barrier. The refresh tests' token endpoint rotates
//! strictly (a used refresh token is retired) and counts its calls: it must be called once,
//! and all thirty callers must get the token it issued.
//!
//! Needs the databases from `bash .ci/services` (`PORTCULLIS_TEST_POSTGRES_URL`,
//! `PORTCULLIS_TEST_MYSQL_URL`); each run uses an account of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/token_endpoint.rs"]
mod token_endpoint;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::{Clock, OAuthProvider, Portcullis, Store};
use portcullis_domain::model::{Account, NewUser};
use portcullis_domain::secret::SecretString;
use portcullis_store_sql::{SqlOptions, SqlStore};
use time::OffsetDateTime;

use token_endpoint::{start_provider, Provider};

const SECRET: &str = "a-test-secret-of-at-least-32-bytes-long";
const PROCESSES: usize = 3;
const CALLS_PER_PROCESS: usize = 10;
/// What the parent tells each child, as environment variables.
const DATABASE: &str = "PORTCULLIS_RENEWER_DATABASE";
const TOKEN_URL: &str = "PORTCULLIS_RENEWER_TOKEN_URL";
const ACCOUNT: &str = "PORTCULLIS_RENEWER_ACCOUNT";
const BARRIER: &str = "PORTCULLIS_RENEWER_BARRIER";

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }
}

fn engine(store: Arc<dyn Store>, token_url: &str) -> Portcullis {
    let mut oauth = OAuthProvider::oauth2("cid", "csecret");
    oauth.endpoints.authorization = Some("https://corp.example/authorize".into());
    oauth.endpoints.token = Some(token_url.to_owned());
    oauth.endpoints.userinfo = Some("https://corp.example/me".into());
    Portcullis::builder()
        .url("http://localhost:3000/api/auth")
        // The token endpoint runs on 127.0.0.1.
        .allow_private_network(true)
        .secret(SECRET)
        .oauth("corp", "Corp", oauth)
        .store(store)
        .clock(Arc::new(FixedClock))
        .build()
        .unwrap()
}

async fn across_processes(database: &str) {
    let store = SqlStore::connect(database, SqlOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}: run `bash .ci/services`"));
    store.migrate().await.unwrap();
    let account_id = format!(
        "renewer-{}-{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    let user = store
        .create_user(NewUser {
            email: Some(format!("{account_id}@example.com")),
            ..NewUser::default()
        })
        .await
        .unwrap();
    store
        .link_account(Account {
            user_id: user.id.clone(),
            provider_type: "oauth".into(),
            provider_id: "corp".into(),
            provider_account_id: account_id.clone(),
            refresh_token: Some(SecretString::from("rt-0")),
            access_token: Some("at-0".into()),
            access_token_expires: Some(FixedClock.now() - time::Duration::minutes(1)),
            token_type: Some("Bearer".into()),
            scope: None,
            id_token: None,
        })
        .await
        .unwrap();
    let provider = Arc::new(Provider::default());
    *provider.current_refresh.lock().unwrap() = "rt-0".into();
    let token_url = format!("{}/token", start_provider(provider.clone()).await);

    let barrier = tempfile::TempDir::new().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            Command::new(std::env::current_exe().unwrap())
                .args(["renewer", "--exact", "--ignored", "--nocapture", "--quiet"])
                .env(DATABASE, database)
                .env(TOKEN_URL, &token_url)
                .env(ACCOUNT, format!("{}\n{account_id}", user.id))
                .env(BARRIER, barrier.path().join(format!("ready-{i}")))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Every child has its engine and pool up: let them all go at once.
    wait_until("every child ready", || {
        (0..PROCESSES).all(|i| barrier.path().join(format!("ready-{i}")).exists())
    });
    std::fs::write(barrier.path().join("go"), b"").unwrap();

    let mut tokens = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "a renewer failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokens.extend(
            stdout
                .lines()
                .filter_map(|l| l.strip_prefix("TOKEN "))
                .map(str::to_owned),
        );
    }
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        1,
        "the refresh token is spent once across {PROCESSES} processes"
    );
    assert_eq!(tokens.len(), PROCESSES * CALLS_PER_PROCESS, "{tokens:?}");
    assert!(tokens.iter().all(|t| t == "at-1"), "{tokens:?}");
    let stored = store
        .get_account("corp", &account_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.refresh_token.unwrap().expose(), "rt-1");
    store.close().await;
}

/// Polls `condition` every 5 ms, failing after 60 s.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_is_spent_once_across_processes_on_postgres() {
    across_processes(&env_or(
        "PORTCULLIS_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_is_spent_once_across_processes_on_mariadb() {
    across_processes(&env_or(
        "PORTCULLIS_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
    ))
    .await;
}

/// One renewing process of [`across_processes`]: its own engine and pool, then, at the
/// parent's signal, ten concurrent `provider_access_token` calls, each printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of the across_processes tests, which run it"]
async fn renewer() {
    let database = std::env::var(DATABASE).unwrap();
    let token_url = std::env::var(TOKEN_URL).unwrap();
    let account = std::env::var(ACCOUNT).unwrap();
    let (user_id, _) = account.split_once('\n').unwrap();
    let ready = std::path::PathBuf::from(std::env::var(BARRIER).unwrap());
    let store = SqlStore::connect(&database, SqlOptions::default())
        .await
        .unwrap();
    let app = engine(Arc::new(store.clone()), &token_url);
    std::fs::write(&ready, b"").unwrap();
    let go = ready.parent().unwrap_or(Path::new(".")).join("go");
    wait_until("the parent's signal", || go.exists());
    let calls = (0..CALLS_PER_PROCESS).map(|_| app.provider_access_token(user_id, "corp"));
    for token in futures::future::join_all(calls).await {
        match token {
            Ok(token) => println!("TOKEN {}", token.access_token.expose()),
            Err(e) => println!("ERROR {e}"),
        }
    }
    store.close().await;
}
