//! The sink against a `nats-server` of the test's own, started and stopped by it (JetStream
//! on a store directory that outlives restarts, a user and password): events recorded while
//! it is down wait in the outbox and arrive once it answers, before the first connection and
//! after a reconnection; the password shows nowhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use portcullis_hooks_http::events::{Events, Pass};
use portcullis_ports::Outbox;

use support::*;

/// A `nats-server` of the test's own, with JetStream on a store directory that outlives
/// restarts, and a user and password.
struct PrivateNats {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

const USER: &str = "portcullis";
const PASSWORD: &str = "s3cret-pw";

impl PrivateNats {
    /// Reserves a port nothing listens on (yet).
    fn reserve() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        Self {
            port,
            store: tempfile::tempdir().unwrap(),
            child: None,
        }
    }

    fn url(&self) -> String {
        format!("nats://{USER}:{PASSWORD}@127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let child = Command::new("/usr/sbin/nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .args(["--user", USER, "--pass", PASSWORD])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/sbin/nats-server (Debian package nats-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
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

/// Runs passes, moving the clock past each backoff, until one delivers; bounded.
async fn deliver_within(events: &Events, clock: &TestClock, limit: Duration) -> Vec<Pass> {
    let deadline = Instant::now() + limit;
    let mut passes = Vec::new();
    loop {
        clock.advance(BACKOFF.max);
        let pass = events.delivery().deliver_due().await.unwrap();
        passes.push(pass);
        if pass.delivered > 0 {
            return passes;
        }
        assert!(Instant::now() < deadline, "not delivered: {passes:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn while_nats_is_down_events_wait_and_arrive_once_it_is_back() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Up to DEBUG, ours and async-nats's: its TRACE lines are the wire traffic, the CONNECT
    // line with the password included, which the server's log filter never lets through.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut nats = PrivateNats::reserve();
    let names = names();
    let (events, outbox, clock) = setup(settings(&nats.url(), &names, true));

    // Nothing listens: the event stays in the outbox.
    let first = events.recorder().record(&sign_in("1")).await.unwrap();
    let pass = events.delivery().deliver_due().await.unwrap();
    assert_eq!(
        pass,
        Pass {
            delivered: 0,
            failed: 1
        }
    );
    assert_eq!(outbox.count().await.unwrap(), 1);

    // NATS comes up: the stream is created and the event stored.
    nats.start();
    deliver_within(&events, &clock, Duration::from_secs(20)).await;
    assert_eq!(outbox.count().await.unwrap(), 0);
    let admin_url = format!("nats://127.0.0.1:{}", nats.port);
    let options = async_nats::ConnectOptions::with_user_and_password(USER.into(), PASSWORD.into());
    let admin = jetstream::new(options.connect(&admin_url).await.unwrap());
    let got = stored(&admin, &names.stream).await;
    assert_eq!(
        got.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [first.as_str()]
    );

    // It goes down after the sink has connected, and comes back with its store: the client
    // reconnects by itself and the waiting event arrives, once.
    nats.stop();
    let second = events.recorder().record(&sign_in("2")).await.unwrap();
    let pass = events.delivery().deliver_due().await.unwrap();
    assert_eq!(
        pass,
        Pass {
            delivered: 0,
            failed: 1
        }
    );
    assert_eq!(outbox.count().await.unwrap(), 1);
    nats.start();
    deliver_within(&events, &clock, Duration::from_secs(30)).await;
    assert_eq!(outbox.count().await.unwrap(), 0);
    let admin = jetstream::new(
        async_nats::ConnectOptions::with_user_and_password(USER.into(), PASSWORD.into())
            .connect(&admin_url)
            .await
            .unwrap(),
    );
    let got = stored(&admin, &names.stream).await;
    assert_eq!(
        got.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [first.as_str(), second.as_str()]
    );

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("connected to NATS"), "{text}");
    assert!(!text.contains(PASSWORD), "the password was logged: {text}");
    assert!(!format!("{events:?}").contains(PASSWORD));
}
