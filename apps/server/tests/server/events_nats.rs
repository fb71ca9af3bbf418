//! `[hooks.events.nats]` with the real binary and the machine's NATS JetStream
//! (127.0.0.1:4222, a stream and subject of the test's own): a sign-in's event is stored
//! once, its id as `Nats-Msg-Id`; a server whose NATS is down starts and says so; bad
//! settings are refused by `config check` with the key named, never echoing a password.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use serde_json::Value;
use tempfile::TempDir;

use crate::binary::{config_check, Server};
use crate::events::{sign_in, wait_for};
use crate::support::{write_users, SECRET};

const NATS: &str = "nats://127.0.0.1:4222";

/// A stream name and subject no other test (or earlier run) uses.
fn unique() -> (String, String) {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let stream = format!("PORTCULLIS_SERVER_TEST_{}_{nanos}", std::process::id());
    let subject = format!("portcullis.server_test.{}", stream.to_ascii_lowercase());
    (stream, subject)
}

fn write_config(dir: &Path, nats: &str) -> PathBuf {
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
timeout_ms = 1000
retry_initial_ms = 50
retry_max_ms = 200

{nats}"#,
        users = users.display()
    );
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn nats_section(url: &str, subject: &str, stream: &str) -> String {
    format!(
        r#"[hooks.events.nats]
url = "{url}"
subject = "{subject}"
stream = "{stream}"
"#
    )
}

/// Stops the server with SIGTERM and checks it exits cleanly.
fn stop(mut server: Server) {
    let exit = server.terminate();
    let lines = server.lines();
    let tail = &lines[lines.len().saturating_sub(8)..];
    assert!(exit.success(), "stopped with {exit}; last lines: {tail:#?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_is_stored_once_on_the_stream_with_its_id() {
    let dir = TempDir::new().unwrap();
    let (stream, subject) = unique();
    let config = write_config(dir.path(), &nats_section(NATS, &subject, &stream));
    let server = Server::start(dir.path(), &config);
    sign_in(&server).await;

    // The server created the stream and stores the event.
    let admin = jetstream::new(async_nats::connect(NATS).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = admin.get_stream(&stream).await {
            if s.info().await.unwrap().state.messages >= 1 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no event on the stream: {:?}",
            server.logged("portcullis::events")
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let audit = server.logged("portcullis::audit");
    // The worker stops with the server: nothing is published after this.
    stop(server);

    let mut s = admin.get_stream(&stream).await.unwrap();
    let info = s.info().await.unwrap().clone();
    let message = s.get_raw_message(info.state.first_sequence).await;
    admin.delete_stream(&stream).await.unwrap();
    assert_eq!(info.state.messages, 1, "{info:?}");
    assert_eq!(info.config.subjects, vec![subject.clone()]);
    let message = message.unwrap();
    assert_eq!(message.subject.as_str(), subject);
    let id = message
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.as_str().to_owned())
        .unwrap();
    let body: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(body["type"], "event");
    assert_eq!(body["data"]["event"], "signIn");
    assert_eq!(body["data"]["id"], id.as_str());
    assert_eq!(body["data"]["user"]["id"], "user-1");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["id"], id.as_str());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_nats_is_down_starts_and_retries() {
    let dir = TempDir::new().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://portcullis:s3cret-nats@127.0.0.1:{port}");
    let (stream, subject) = unique();
    let config = write_config(dir.path(), &nats_section(&url, &subject, &stream));
    let server = Server::start(dir.path(), &config);
    sign_in(&server).await;
    wait_for("a failed delivery", Duration::from_secs(20), || {
        server
            .logged("portcullis::events")
            .iter()
            .any(|l| l["message"] == "event not delivered; will retry")
    })
    .await;
    let events = server.logged("portcullis::events");
    assert!(
        events.iter().any(|l| l["message"]
            == "the event receiver is not reachable yet; events wait in the outbox"),
        "{events:?}"
    );
    let all = format!("{:?}", server.lines());
    assert!(!all.contains("s3cret-nats"), "{all}");
    stop(server);
}

#[test]
fn config_check_names_the_bad_nats_key() {
    let dir = TempDir::new().unwrap();
    let good = write_config(
        dir.path(),
        &nats_section(
            "nats://u:s3cret-nats@127.0.0.1:4222",
            "portcullis.events",
            "EVENTS",
        ),
    );
    let base = std::fs::read_to_string(&good).unwrap();
    let cases = [
        (
            base.replace("nats://u:s3cret-nats@", "http://u:s3cret-nats@"),
            "hooks.events.nats.url",
        ),
        (
            base.replace("\"portcullis.events\"", "\"portcullis.*\""),
            "hooks.events.nats.subject",
        ),
        (
            base.replace("\"EVENTS\"", "\"EVENTS.ALL\""),
            "hooks.events.nats.stream",
        ),
        (
            base.replace(
                "stream = \"EVENTS\"",
                "stream = \"EVENTS\"\nsubjects = [\"other.>\"]",
            ),
            "hooks.events.nats.subjects",
        ),
        (
            base.replace("stream = \"EVENTS\"", "subjects = [\"portcullis.>\"]"),
            "hooks.events.nats.subjects",
        ),
        (
            base.replace(
                "[hooks.events]",
                "[hooks.events]\nurl = \"https://hooks.example.com/events\"",
            ),
            "`url` (a webhook) and `[hooks.events.nats]`",
        ),
        (
            base.replace(
                "[hooks.events]",
                "[hooks.events]\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
            ),
            "hooks.events.secret",
        ),
        (base.replace("subject = ", "subjekt = "), "subjekt"),
        (
            base.replace("[hooks.events.nats]", "[hooks.events.natz]"),
            "natz",
        ),
    ];
    let (code, stderr) = config_check(dir.path(), &base);
    assert_eq!(code, Some(0), "{stderr}");
    for (text, key) in cases {
        let (code, stderr) = config_check(dir.path(), &text);
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
        assert!(!stderr.contains("s3cret-nats"), "{stderr}");
    }
}
