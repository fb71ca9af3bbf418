//! `[hooks.events]` with the real binary on sled: events recorded while the receiver is
//! down survive `kill -9` and arrive, signed, after a restart; bad settings are refused by
//! `config check` with the key named.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_hooks_http::WebhookSecrets;
use serde_json::Value;
use tempfile::TempDir;
use warp::Filter;

use crate::binary::{config_check, Server};
use crate::support::{client, cookie_header, set_cookies, write_users, PASSWORD, SECRET};

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn write_config(dir: &Path, receiver: &str) -> std::path::PathBuf {
    let users = write_users(dir);
    let text = format!(
        r#"url = "http://localhost:3000/api/auth"
secret = "{SECRET}"
listen = "127.0.0.1:0"
data_dir = "data"

[[providers]]
type = "credentials"
id = "credentials"
name = "Credentials"
users_file = "{users}"

[hooks.events]
url = "{receiver}"
secret = ["{HOOK_SECRET}"]
timeout_ms = 300
retry_initial_ms = 50
retry_max_ms = 200
"#,
        users = users.display()
    );
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) async fn sign_in(server: &Server) {
    let http = client();
    let response = http.get(server.url("/api/auth/csrf")).send().await.unwrap();
    let jar = set_cookies(&response);
    let body: Value = response.json().await.unwrap();
    let csrf = body["csrfToken"].as_str().unwrap().to_owned();
    let response = http
        .post(server.url("/api/auth/callback/credentials"))
        .header("cookie", cookie_header(&jar))
        .form(&[
            ("csrfToken", csrf.as_str()),
            ("username", "jane"),
            ("password", PASSWORD),
            ("json", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Waits for `condition`, failing with `what` after `limit`.
pub(crate) async fn wait_for(what: &str, limit: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorded_while_the_receiver_is_down_survive_kill_9() {
    let dir = TempDir::new().unwrap();
    // The receiver's port is bound but not served yet: requests to it time out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}/hooks/events", listener.local_addr().unwrap());
    let config = write_config(dir.path(), &receiver);

    let mut first = Server::start(dir.path(), &config);
    for _ in 0..3 {
        sign_in(&first).await;
    }
    // Every sign-in was answered, so its event is on disk; wait until delivery has failed
    // at least once (the worker is retrying), then kill the server without warning.
    wait_for("a failed delivery", Duration::from_secs(20), || {
        !first.logged("portcullis::events").is_empty()
    })
    .await;
    let expected: HashSet<String> = first
        .logged("portcullis::audit")
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 3, "{:?}", first.logged("portcullis::audit"));
    first.kill_9();

    // The receiver comes up: it checks each signature and keeps the ids.
    let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let seen = got.clone();
    let secrets = WebhookSecrets::parse(&[HOOK_SECRET]).unwrap();
    let route = warp::post()
        .and(warp::path!("hooks" / "events"))
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |headers: warp::http::HeaderMap, body: bytes::Bytes| {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let status = match secrets.verify(&header, &body, now, None) {
                Ok(()) => {
                    let json: Value = serde_json::from_slice(&body).unwrap();
                    seen.lock()
                        .unwrap()
                        .push((header("webhook-id").unwrap(), json));
                    warp::http::StatusCode::NO_CONTENT
                }
                Err(_) => warp::http::StatusCode::UNAUTHORIZED,
            };
            warp::reply::with_status(warp::reply(), status)
        });
    tokio::spawn(warp::serve(route).incoming(listener).run());

    let mut second = Server::start(dir.path(), &config);
    let received = || -> HashSet<String> {
        got.lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    };
    wait_for("every event to arrive", Duration::from_secs(30), || {
        expected.is_subset(&received())
    })
    .await;
    for (id, body) in got.lock().unwrap().iter() {
        assert_eq!(body["type"], "event");
        assert_eq!(body["data"]["id"], id.as_str());
        if expected.contains(id) {
            assert_eq!(body["data"]["event"], "signIn");
            assert_eq!(body["data"]["user"]["id"], "user-1");
        }
    }

    // A graceful stop: the worker stops with the server.
    let exit = second.terminate();
    let lines = second.lines();
    let tail = &lines[lines.len().saturating_sub(8)..];
    assert!(
        exit.success(),
        "the server stopped with {exit}; its last lines: {tail:#?}"
    );
}

#[test]
fn config_check_names_the_bad_events_key() {
    let dir = TempDir::new().unwrap();
    let good = write_config(dir.path(), "https://hooks.example.com/events");
    let base = std::fs::read_to_string(&good).unwrap();
    let cases = [
        (
            base.replace(
                "https://hooks.example.com/events",
                "ftp://hooks.example.com",
            ),
            "hooks.events.url",
        ),
        (
            base.replace(HOOK_SECRET, "whsec_short"),
            "hooks.events.secret",
        ),
        (
            base.replace(HOOK_SECRET, "not-a-webhook-secret"),
            "hooks.events.secret",
        ),
        (
            base.replace("timeout_ms = 300", "timeout_ms = 0"),
            "hooks.events.timeout_ms",
        ),
        (base.replace("timeout_ms = 300", "timeout = 300"), "timeout"),
        (base.replace("[hooks.events]", "[hooks.event]"), "event"),
    ];
    let (code, stderr) = config_check(dir.path(), &base);
    assert_eq!(code, Some(0), "{stderr}");
    for (text, key) in cases {
        let (code, stderr) = config_check(dir.path(), &text);
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
        for secret in [HOOK_SECRET, "whsec_short", "not-a-webhook-secret"] {
            assert!(!stderr.contains(secret), "{stderr}");
        }
    }
}
