//! Events delivered to a real HTTP receiver on loopback, through the real HTTP client:
//! signatures that the reference Standard Webhooks crate accepts, retries after failures
//! (the clock is moved by hand and passes are run explicitly: no sleeping), timeouts, the
//! background worker, and the audit line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_domain::effect::AuthEvent;
use portcullis_hooks_http::events::{Backoff, Events, EventsSettings, Pass};
use portcullis_hooks_http::WebhookSecrets;
use portcullis_http_reqwest::ReqwestHttpClient;
use portcullis_ports::{Clock, EventListener, MemoryOutbox, Outbox};
use serde_json::{json, Value};
use time::OffsetDateTime;
use warp::Filter;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkgLi4u";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: http::HeaderMap,
    body: bytes::Bytes,
}

impl Received {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A receiver on loopback that answers 503 to its first `failures` requests, then 204.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = got.clone();
        let count = Arc::new(AtomicUsize::new(0));
        let route = warp::post()
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(move |headers, body| {
                seen.lock().unwrap().push(Received { headers, body });
                let status = if count.fetch_add(1, Ordering::SeqCst) < failures {
                    warp::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    warp::http::StatusCode::NO_CONTENT
                };
                warp::reply::with_status(warp::reply(), status)
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Receiver {
            url: format!("http://{addr}/events"),
            got,
        }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// The real time plus an offset the test moves.
#[derive(Clone)]
struct TestClock {
    base: OffsetDateTime,
    offset_ms: Arc<AtomicI64>,
}

impl TestClock {
    fn new() -> Self {
        Self {
            base: OffsetDateTime::now_utc(),
            offset_ms: Arc::default(),
        }
    }

    fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(i64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        self.base + time::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(100),
    max: Duration::from_millis(400),
};

fn settings(url: &str, timeout: Duration) -> EventsSettings {
    EventsSettings {
        url: url.to_owned(),
        secrets: WebhookSecrets::parse(&[SECRET, OLD_SECRET]).unwrap(),
        timeout,
        backoff: BACKOFF,
        poll: Duration::from_millis(50),
    }
}

fn setup(url: &str, timeout: Duration) -> (Events, Arc<MemoryOutbox>, TestClock) {
    let outbox = Arc::new(MemoryOutbox::new(100));
    let clock = TestClock::new();
    let events = Events::new(
        settings(url, timeout),
        outbox.clone(),
        Arc::new(ReqwestHttpClient::allowing_private_network().unwrap()),
        Arc::new(clock.clone()),
    );
    (events, outbox, clock)
}

fn sign_in() -> AuthEvent {
    AuthEvent::SignIn {
        user: json!({"id": "7", "name": "Zoë", "email": "zoe@example.com"}),
        account: json!({"provider": "github", "type": "oauth", "id": "99",
                        "accessToken": "gho_SECRET", "refreshToken": "ghr_SECRET"}),
        is_new_user: Some(false),
    }
}

#[tokio::test]
async fn an_event_arrives_signed_with_every_secret() {
    let receiver = Receiver::start(0).await;
    let (events, outbox, _clock) = setup(&receiver.url, Duration::from_secs(5));
    events.recorder().event(sign_in()).await;
    assert!(receiver.got().is_empty(), "recording must not send");
    let pass = events.delivery().deliver_due().await.unwrap();
    assert_eq!(
        pass,
        Pass {
            delivered: 1,
            failed: 0
        }
    );
    assert_eq!(outbox.count().await.unwrap(), 0);

    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let request = &got[0];
    // The reference implementation accepts it with either secret (rotation).
    for secret in [SECRET, OLD_SECRET] {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&request.body, &request.headers)
            .unwrap();
    }
    assert_eq!(request.header("content-type"), "application/json");
    let body = request.json();
    assert_eq!(body["type"], "event");
    assert_eq!(body["data"]["event"], "signIn");
    assert_eq!(body["data"]["id"], request.header("webhook-id"));
    assert_eq!(body["data"]["user"]["id"], "7");
    assert_eq!(body["data"]["account"]["provider"], "github");
    assert_eq!(body["data"]["isNewUser"], false);
    assert!(!String::from_utf8_lossy(&request.body).contains("SECRET"));
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_after_retries_with_the_same_id() {
    let receiver = Receiver::start(3).await;
    let (events, outbox, clock) = setup(&receiver.url, Duration::from_secs(5));
    let delivery = events.delivery();
    events.recorder().event(sign_in()).await;

    for failed in 1..=3u32 {
        let pass = delivery.deliver_due().await.unwrap();
        assert_eq!(
            pass,
            Pass {
                delivered: 0,
                failed: 1
            },
            "attempt {failed}"
        );
        // Not due again before half the backoff ceiling (jitter's lower bound) …
        assert_eq!(delivery.deliver_due().await.unwrap(), Pass::default());
        clock.advance(BACKOFF.ceiling(failed) / 2 - Duration::from_millis(1));
        assert_eq!(delivery.deliver_due().await.unwrap(), Pass::default());
        // … and due by the ceiling.
        clock.advance(BACKOFF.ceiling(failed) / 2 + Duration::from_millis(1));
    }
    assert_eq!(
        delivery.deliver_due().await.unwrap(),
        Pass {
            delivered: 1,
            failed: 0
        }
    );
    assert_eq!(outbox.count().await.unwrap(), 0);
    let got = receiver.got();
    assert_eq!(got.len(), 4);
    let id = got[0].header("webhook-id");
    assert!(id.starts_with("msg_"));
    assert!(got.iter().all(|r| r.header("webhook-id") == id));
    assert!(got.iter().all(|r| r.body == got[0].body));
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_and_the_event_is_kept() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let (events, outbox, _clock) =
        setup(&format!("http://{addr}/events"), Duration::from_millis(200));
    events.recorder().event(sign_in()).await;
    let started = std::time::Instant::now();
    let pass = events.delivery().deliver_due().await.unwrap();
    assert_eq!(pass.failed, 1);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(outbox.count().await.unwrap(), 1);
}

#[tokio::test]
async fn the_worker_delivers_in_the_background_and_stops() {
    let receiver = Receiver::start(0).await;
    let (events, outbox, _clock) = setup(&receiver.url, Duration::from_secs(5));
    let worker = events.start();
    for _ in 0..5 {
        events.recorder().event(sign_in()).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while receiver.got().len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 5 events arrived",
            receiver.got().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::timeout(Duration::from_secs(10), worker.stop())
        .await
        .expect("the worker stops");
    assert_eq!(outbox.count().await.unwrap(), 0);
    let mut ids: Vec<String> = receiver
        .got()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
}

/// Captures what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_event_is_an_audit_line_without_tokens() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let outbox = Arc::new(MemoryOutbox::new(10));
    let events = Events::new(
        settings("http://127.0.0.1:9/unused", Duration::from_secs(1)),
        outbox,
        Arc::new(ReqwestHttpClient::allowing_private_network().unwrap()),
        Arc::new(TestClock::new()),
    );
    let id = events.recorder().record(&sign_in()).await.unwrap();
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["target"] == "portcullis::audit")
        .unwrap_or_else(|| panic!("no audit line in {text}"));
    assert_eq!(line["fields"]["event"], "signIn");
    assert_eq!(line["fields"]["id"], id.as_str());
    assert_eq!(line["fields"]["user_id"], "7");
    assert_eq!(line["fields"]["provider"], "github");
    assert!(!text.contains("SECRET"), "{text}");
    assert!(!text.contains("zoe@example.com"), "{text}");
}
