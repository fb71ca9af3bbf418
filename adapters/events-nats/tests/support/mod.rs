//! What the JetStream tests share: names of their own, a clock moved by hand, the sink
//! wired to a memory outbox, and a look at what a stream stored.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use portcullis_domain::effect::AuthEvent;
use portcullis_events_nats::{NatsSettings, NatsSink, StreamSettings};
use portcullis_hooks_http::events::{Backoff, DeliverySettings, Events};
use portcullis_ports::{Clock, MemoryOutbox};
use serde_json::{json, Value};
use time::OffsetDateTime;

pub const NATS: &str = "nats://127.0.0.1:4222";

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The real time plus an offset the test moves.
#[derive(Clone)]
pub struct TestClock {
    base: OffsetDateTime,
    offset_ms: Arc<AtomicI64>,
}

impl TestClock {
    pub fn new() -> Self {
        Self {
            base: OffsetDateTime::now_utc(),
            offset_ms: Arc::default(),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(i64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        self.base + time::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

pub const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(100),
    max: Duration::from_millis(400),
};

/// A stream and subject of the test's own.
pub struct Names {
    pub stream: String,
    pub subject: String,
}

pub fn names() -> Names {
    let stream = unique("PORTCULLIS_TEST");
    let subject = format!("portcullis.test.{}", stream.to_ascii_lowercase());
    Names { stream, subject }
}

pub fn settings(url: &str, names: &Names, create: bool) -> NatsSettings {
    NatsSettings {
        url: url.to_owned(),
        subject: names.subject.clone(),
        stream: create.then(|| StreamSettings {
            name: names.stream.clone(),
            subjects: vec![names.subject.clone()],
        }),
        timeout: Duration::from_secs(2),
    }
}

pub fn setup(settings: NatsSettings) -> (Events, Arc<MemoryOutbox>, TestClock) {
    let outbox = Arc::new(MemoryOutbox::new(100));
    let clock = TestClock::new();
    let events = Events::with_sink(
        Arc::new(NatsSink::new(settings).unwrap()),
        DeliverySettings {
            timeout: Duration::from_secs(3),
            backoff: BACKOFF,
            poll: Duration::from_millis(50),
        },
        outbox.clone(),
        Arc::new(clock.clone()),
    );
    (events, outbox, clock)
}

pub fn sign_in(user: &str) -> AuthEvent {
    AuthEvent::SignIn {
        user: json!({"id": user, "name": "Zoë", "email": "zoe@example.com"}),
        account: json!({"provider": "github", "type": "oauth", "id": "99",
                        "accessToken": "gho_SECRET"}),
        is_new_user: Some(false),
    }
}

/// A JetStream context of the test's own, to look at what the sink stored.
pub async fn admin(url: &str) -> jetstream::Context {
    jetstream::new(async_nats::connect(url).await.unwrap())
}

/// One stored message: its `Nats-Msg-Id` and its payload.
#[derive(Debug)]
pub struct Stored {
    pub id: String,
    pub content_type: String,
    pub body: Value,
}

pub async fn stored(admin: &jetstream::Context, stream: &str) -> Vec<Stored> {
    let mut stream = admin.get_stream(stream).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    let mut out = Vec::new();
    for sequence in state.first_sequence..=state.last_sequence {
        if state.messages == 0 {
            break;
        }
        let message = stream.get_raw_message(sequence).await.unwrap();
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        out.push(Stored {
            id: header("Nats-Msg-Id"),
            content_type: header("Content-Type"),
            body: serde_json::from_slice(&message.payload).unwrap(),
        });
    }
    assert_eq!(out.len() as u64, state.messages);
    out
}

pub async fn delete(admin: &jetstream::Context, stream: &str) {
    let _ = admin.delete_stream(stream).await;
}
