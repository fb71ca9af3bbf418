//! Log lines: one per request, and never a cookie, header value, body, secret or token.

use std::io::Write;
use std::sync::{Arc, Mutex};

use portcullis_server::logging::subscriber;
use portcullis_server::LogFormat;
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

use crate::support::{client, cookie_header, set_cookies, start, PASSWORD, SECRET};

/// Log output kept in memory.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keeps a second dispatcher alive for the whole run. With only one live dispatcher,
/// tracing-core (0.1.36) computes a new callsite's interest from the *registering
/// thread's* default; a callsite first hit by a concurrent test (no subscriber) would then
/// be disabled for this test's subscriber too, and its events lost.
pub(crate) fn anchor_dispatchers() {
    static ANCHOR: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
}

/// Signs in, reads the session and signs out with the subscriber installed for this
/// (current-thread) runtime; returns the log and every secret value the requests carried.
async fn traffic(format: LogFormat) -> (String, Vec<String>) {
    anchor_dispatchers();
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(
        subscriber("trace", format, capture.clone(), false).unwrap(),
    );
    let server = start().await;
    let http = client();

    let response = http.get(server.url("/api/auth/csrf")).send().await.unwrap();
    let mut jar = set_cookies(&response);
    let csrf = response.json::<Value>().await.unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = http
        .post(server.url(
            "/api/auth/callback/credentials?callbackUrl=%2Fprivate-query-path&token=query-token-value",
        ))
        .header("cookie", cookie_header(&jar))
        .header("authorization", "Bearer header-token-value")
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
    jar.extend(set_cookies(&response));
    let session = jar["next-auth.session-token"].clone();
    let response = http
        .get(server.url("/api/auth/session"))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A failed sign-in logs nothing of what was tried either.
    http.post(server.url("/api/auth/callback/credentials"))
        .header("cookie", cookie_header(&jar))
        .form(&[
            ("csrfToken", csrf.as_str()),
            ("username", "jane"),
            ("password", "wrong-password-value"),
        ])
        .send()
        .await
        .unwrap();
    server.handle.shutdown().await.unwrap();

    let mut secrets = vec![
        PASSWORD.to_owned(),
        "wrong-password-value".to_owned(),
        SECRET.to_owned(),
        csrf,
        session.clone(),
        // Any recognisable piece of the token or cookie.
        session[..24].to_owned(),
        jar["next-auth.csrf-token"].clone(),
        "private-query-path".to_owned(),
        "query-token-value".to_owned(),
        "header-token-value".to_owned(),
        "callbackUrl".to_owned(),
    ];
    secrets.retain(|s| !s.is_empty());
    (capture.text(), secrets)
}

#[tokio::test]
async fn text_logs_carry_no_secrets() {
    let (log, secrets) = traffic(LogFormat::Text).await;
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("portcullis::http"))
        .collect();
    assert_eq!(requests.len(), 4, "{log}");
    assert!(requests[1].contains("INFO"));
    assert!(requests[1].contains("method=POST"));
    assert!(
        requests[1].contains("path=/api/auth/callback/credentials "),
        "{}",
        requests[1]
    );
    assert!(requests[1].contains("status=200"));
    assert!(requests[1].contains("latency_ms="));
    assert!(requests[3].contains("status=302") || requests[3].contains("status=401"));
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "{secret:?} in the log:\n{log}"
        );
    }
}

#[tokio::test]
async fn json_logs_carry_no_secrets() {
    let (log, secrets) = traffic(LogFormat::Json).await;
    let requests: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["target"] == "portcullis::http")
        .collect();
    assert_eq!(requests.len(), 4, "{log}");
    assert_eq!(requests[0]["method"], "GET");
    assert_eq!(requests[0]["path"], "/api/auth/csrf");
    assert_eq!(requests[0]["status"], 200);
    assert!(requests[0]["latency_ms"].is_number());
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "{secret:?} in the log:\n{log}"
        );
    }
}

/// async-nats traces its CONNECT line, password included, under `async_nats::connection`:
/// even with the filter at `trace`, the server's logs never carry it, while the client's
/// other lines still come through. Against the machine's NATS (127.0.0.1:4222), which
/// takes any user when it has none configured.
#[tokio::test(flavor = "current_thread")]
async fn nats_credentials_stay_out_of_trace_logs() {
    anchor_dispatchers();
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(
        subscriber("trace", LogFormat::Json, capture.clone(), false).unwrap(),
    );
    let client = async_nats::ConnectOptions::with_user_and_password(
        "portcullis".into(),
        "s3cret-nats-password".into(),
    )
    .connect("nats://127.0.0.1:4222")
    .await
    .unwrap();
    client.flush().await.unwrap();
    drop(client);
    let log = capture.text();
    assert!(log.contains("async_nats"), "{log}");
    assert!(!log.contains("s3cret-nats-password"), "{log}");
}
