//! Three instances, one truth (issue 15): three `portcullis` processes started together on
//! one PostgreSQL (and again on one MariaDB) database, from one configuration file, with
//! requests spread across them round-robin:
//!
//! - signing in on one, reading the session on another and signing out on a third (with
//!   database sessions cached in Redis, the sign-out reaches every instance's cache);
//! - a magic link requested on one and redeemed 50 times at once across all three yields
//!   exactly one session;
//! - a revoked JWT (`jwt.revocable`) is refused by every instance;
//! - credentials rate limits (`throttle_shared`) hold across instances;
//! - every event (`[hooks.events]`) reaches the receiver exactly once, whichever instance
//!   recorded it, although all three instances' workers deliver from one outbox.
//!
//! Needs the databases and Redis from `bash .ci/services` and the test SMTP server (`bash .ci/smtp`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;
use warp::Filter;

use crate::binary::{ScratchDatabase, Server};
use crate::email::{delivered_to, link_in, smtp_url};
use crate::support::{client, cookie_header, set_cookies, write_users, PASSWORD, SECRET};

const SESSION_COOKIE: &str = "next-auth.session-token";
const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Concurrent redemptions of one magic link.
const REDEMPTIONS: usize = 50;

/// Three servers on one configuration; [`Cluster::next`] hands them out round-robin.
struct Cluster {
    servers: Vec<Server>,
    turn: AtomicUsize,
    _dir: TempDir,
}

impl Cluster {
    /// Starts three instances at once (their migrations race, as in a rolling deploy) on
    /// `database`, with `session` as the configuration's session lines.
    fn start(database: &str, session: &str, receiver: &str) -> Cluster {
        let dir = TempDir::new().unwrap();
        let file = write_config(dir.path(), database, session, receiver);
        let servers = std::thread::scope(|scope| {
            let starting: Vec<_> = (0..3)
                .map(|_| scope.spawn(|| Server::start(dir.path(), &file)))
                .collect();
            starting
                .into_iter()
                .map(|s| s.join().unwrap())
                .collect::<Vec<_>>()
        });
        Cluster {
            servers,
            turn: AtomicUsize::new(0),
            _dir: dir,
        }
    }

    fn next(&self) -> &Server {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        &self.servers[turn % self.servers.len()]
    }

    /// The ids of the events the instances recorded (their audit lines).
    fn recorded_events(&self) -> HashSet<String> {
        self.servers
            .iter()
            .flat_map(|s| s.logged("portcullis::audit"))
            .filter_map(|line| line["id"].as_str().map(str::to_owned))
            .collect()
    }
}

fn write_config(dir: &Path, database: &str, session: &str, receiver: &str) -> PathBuf {
    // Credentials sign-in needs JWT sessions.
    let credentials = if session.contains("jwt") {
        format!(
            "[[providers]]\ntype = \"credentials\"\nid = \"credentials\"\n\
             name = \"Credentials\"\nusers_file = \"{}\"\n",
            write_users(dir).display()
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"url = "http://localhost:3000/api/auth"
secret = "{SECRET}"
database = "{database}"
throttle_shared = true

{session}

{credentials}
[[providers]]
type = "email"
smtp = "{smtp}"
from = "Portcullis <no-reply@example.com>"

[hooks.events]
url = "{receiver}"
secret = ["{HOOK_SECRET}"]
timeout_ms = 2000
retry_initial_ms = 50
retry_max_ms = 200
"#,
        smtp = smtp_url(),
    );
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// An events receiver on loopback that answers 204 at once and keeps every `webhook-id`
/// it was sent, duplicates included.
async fn start_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = got.clone();
    let route = warp::post()
        .and(warp::path!("hooks" / "events"))
        .and(warp::header::<String>("webhook-id"))
        .map(move |id: String| {
            seen.lock().unwrap().push(id);
            warp::http::StatusCode::NO_CONTENT
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/events", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, got)
}

/// Waits (30 s at most) until every recorded event has arrived, then checks each arrived
/// exactly once and nothing else arrived.
async fn each_event_arrives_once(label: &str, cluster: &Cluster, got: &Mutex<Vec<String>>) {
    let recorded = cluster.recorded_events();
    assert!(!recorded.is_empty(), "{label}: no event was recorded");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let arrived: HashSet<String> = got.lock().unwrap().iter().cloned().collect();
        if recorded.is_subset(&arrived) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{label}: {} of {} events arrived",
            recorded.intersection(&arrived).count(),
            recorded.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for id in got.lock().unwrap().iter() {
        *counts.entry(id.clone()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{label}: delivered more than once: {twice:?}"
    );
    let unknown: Vec<_> = counts.keys().filter(|id| !recorded.contains(*id)).collect();
    assert!(unknown.is_empty(), "{label}: never recorded: {unknown:?}");
}

/// A cookie jar and a CSRF token, used against whichever instance a request goes to.
struct Visitor {
    jar: HashMap<String, String>,
    csrf: String,
}

impl Visitor {
    async fn arrive(server: &Server) -> Visitor {
        let response = client()
            .get(server.url("/api/auth/csrf"))
            .send()
            .await
            .unwrap();
        let jar = set_cookies(&response);
        let body: Value = response.json().await.unwrap();
        Visitor {
            jar,
            csrf: body["csrfToken"].as_str().unwrap().to_owned(),
        }
    }

    async fn post(&mut self, server: &Server, path: &str, form: &[(&str, &str)]) -> u16 {
        let mut form = form.to_vec();
        form.push(("csrfToken", &self.csrf));
        form.push(("json", "true"));
        let response = client()
            .post(server.url(path))
            .header("cookie", cookie_header(&self.jar))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        self.jar.extend(set_cookies(&response));
        status
    }

    async fn sign_in_with_password(&mut self, server: &Server, user: &str, password: &str) -> u16 {
        let form = [("username", user), ("password", password)];
        self.post(server, "/api/auth/callback/credentials", &form)
            .await
    }

    async fn sign_out(&mut self, server: &Server) {
        assert_eq!(self.post(server, "/api/auth/signout", &[]).await, 200);
        assert_eq!(self.jar.get(SESSION_COOKIE).map(String::as_str), Some(""));
    }

    fn session_token(&self) -> String {
        self.jar.get(SESSION_COOKIE).cloned().unwrap_or_default()
    }
}

/// `GET /session` on `server` with this session cookie: the session's JSON (`{}`: none).
async fn session(server: &Server, token: &str) -> Value {
    let response = client()
        .get(server.url("/api/auth/session"))
        .header("cookie", format!("{SESSION_COOKIE}={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Database sessions, cached in Redis: a magic link requested on one instance and
/// redeemed 50 times at once across all three signs in once; that session reads back on
/// every instance (twice: the second read is the cache's) and, signed out on one, on none.
async fn database_sessions(label: &str, db: &ScratchDatabase) {
    let (receiver, got) = start_receiver().await;
    // With the Redis session cache on (`bash .ci/services` starts Redis): the reads below
    // fill it on every instance, so a sign-out on one must reach the others' cache.
    let redis = format!(
        "[redis]\nurl = \"redis://127.0.0.1:6379\"\nprefix = \"cluster-{label}-{}:\"",
        std::process::id()
    );
    let settings = format!("[session]\nstrategy = \"database\"\n\n{redis}");
    let cluster = Cluster::start(&db.url(), &settings, &receiver);
    let address = format!("cluster-{label}-{}@example.com", std::process::id());

    let mut visitor = Visitor::arrive(cluster.next()).await;
    let status = visitor
        .post(
            cluster.next(),
            "/api/auth/signin/email",
            &[("email", &address)],
        )
        .await;
    assert_eq!(status, 200, "{label}: the link is mailed");
    let link = link_in(&delivered_to(&address));
    let path = link
        .strip_prefix("http://localhost:3000")
        .unwrap()
        .to_owned();

    let redemptions = (0..REDEMPTIONS).map(|_| {
        let url = cluster.next().url(&path);
        async move {
            let response = client().get(url).send().await.unwrap();
            set_cookies(&response)
                .remove(SESSION_COOKIE)
                .filter(|token| !token.is_empty())
        }
    });
    let sessions: Vec<String> = futures::future::join_all(redemptions)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(sessions.len(), 1, "{label}: one redemption signs in");
    let stored = db.query(&format!(
        "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE u.email = '{address}'"
    ));
    assert_eq!(stored, "1", "{label}: one session row");

    let token = &sessions[0];
    for _ in 0..2 {
        for server in &cluster.servers {
            assert_eq!(
                session(server, token).await["user"]["email"],
                address.as_str(),
                "{label}: every instance reads the session"
            );
        }
    }
    visitor.jar.insert(SESSION_COOKIE.into(), token.clone());
    visitor.sign_out(cluster.next()).await;
    for server in &cluster.servers {
        assert_eq!(
            session(server, token).await,
            json!({}),
            "{label}: signed out everywhere"
        );
    }
    each_event_arrives_once(label, &cluster, &got).await;
}

/// JWT sessions with revocation: signed in on one instance, read on the next, signed out
/// on the third, the old cookie is refused by all three; ten failed attempts spread over
/// the instances lock the username on every one of them.
async fn jwt_sessions(label: &str, db: &ScratchDatabase) {
    let (receiver, got) = start_receiver().await;
    let cluster = Cluster::start(
        &db.url(),
        "[session]\nstrategy = \"jwt\"\n\n[jwt]\nrevocable = true",
        &receiver,
    );

    let mut visitor = Visitor::arrive(cluster.next()).await;
    let status = visitor
        .sign_in_with_password(cluster.next(), "jane", PASSWORD)
        .await;
    assert_eq!(status, 200, "{label}: jane signs in");
    let token = visitor.session_token();
    assert_eq!(
        session(cluster.next(), &token).await["user"]["name"],
        "Jane"
    );
    visitor.sign_out(cluster.next()).await;
    for server in &cluster.servers {
        assert_eq!(
            session(server, &token).await,
            json!({}),
            "{label}: the revoked token is refused by every instance"
        );
    }

    // Credentials: 10 attempts per username per 5 minutes, counted in the database. Ten
    // wrong ones over three instances (at most four on any one of them) use the allowance
    // up; then even the right password is refused, on every instance.
    let mut attacker = Visitor::arrive(cluster.next()).await;
    for _ in 0..10 {
        let status = attacker
            .sign_in_with_password(cluster.next(), "bob", "wrong")
            .await;
        assert_eq!(status, 401, "{label}");
    }
    for server in &cluster.servers {
        let mut bob = Visitor::arrive(server).await;
        let status = bob
            .sign_in_with_password(server, "bob", "bob-password")
            .await;
        assert_eq!(status, 401, "{label}: throttled on every instance");
    }
    each_event_arrives_once(label, &cluster, &got).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_postgres() {
    let db = ScratchDatabase::postgres("cluster");
    database_sessions("postgres", &db).await;
    jwt_sessions("postgres", &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_mariadb() {
    let db = ScratchDatabase::mariadb("cluster");
    database_sessions("mariadb", &db).await;
    jwt_sessions("mariadb", &db).await;
}
