#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The reqwest client against real servers on 127.0.0.1: warp for well-formed exchanges,
//! a raw TCP listener for misbehaving servers (silent, slow, oversized).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_http_reqwest::{HttpCall, HttpClient, HttpFailure, ReqwestHttpClient, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::Filter;

/// What the warp server saw.
#[derive(Clone)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Default)]
struct Server {
    addr: Option<SocketAddr>,
    seen: Mutex<Vec<Seen>>,
    target_hits: AtomicUsize,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.unwrap())
    }

    fn only_request(&self) -> Seen {
        let seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "expected exactly one request");
        seen[0].clone()
    }
}

/// Routes: `/echo` (records the request, answers 200 JSON), `/redirect` (302 to `/target`),
/// `/target` (counts hits), `/large` (10 MB with a Content-Length).
async fn warp_server() -> Arc<Server> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Arc::new(Server {
        addr: Some(listener.local_addr().unwrap()),
        ..Server::default()
    });

    let recorder = server.clone();
    let echo = warp::path("echo")
        .and(warp::method())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |method, query, headers, body: bytes::Bytes| {
            recorder.seen.lock().unwrap().push(Seen {
                method,
                path: "/echo".into(),
                query,
                headers,
                body: body.to_vec(),
            });
            warp::reply::json(&"ok")
        });
    let target_url = server.url("/target");
    let redirect = warp::path("redirect").map(move || {
        warp::reply::with_header(
            StatusCode::FOUND,
            "location",
            target_url.as_str().to_owned(),
        )
    });
    let counter = server.clone();
    let target = warp::path("target").map(move || {
        counter.target_hits.fetch_add(1, Ordering::SeqCst);
        "reached"
    });
    let large = warp::path("large").map(|| vec![b'x'; 10 * 1024 * 1024]);

    let routes = echo.or(redirect).or(target).or(large);
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    server
}

/// A server that reads each request head, writes `answer`, then keeps the connection open
/// without sending anything more (`hold`) or closes it.
async fn raw_server(answer: Vec<u8>, hold: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                // The client may stop reading (too large): a failed write just ends the task.
                let _ = socket.write_all(&answer).await;
                if hold {
                    std::future::pending::<()>().await;
                }
            });
        }
    });
    addr
}

/// A close-delimited 200 response (no Content-Length) with `len` body bytes.
fn unannounced_body(len: usize) -> Vec<u8> {
    let mut answer = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
    answer.resize(answer.len() + len, b'y');
    answer
}

/// The test servers are on 127.0.0.1: private networks allowed.
fn client() -> ReqwestHttpClient {
    client_with(Settings::default())
}

fn client_with(settings: Settings) -> ReqwestHttpClient {
    ReqwestHttpClient::with_settings(Settings {
        allow_private_network: true,
        ..settings
    })
    .unwrap()
}

#[tokio::test]
async fn loopback_hosts_are_refused_by_default_before_any_connection() {
    let server = warp_server().await;
    let port = server.addr.unwrap().port();
    let strict = ReqwestHttpClient::new().unwrap();
    for url in [
        server.url("/echo"),                              // IP literal
        format!("http://localhost:{port}/echo"),          // a name resolving to loopback
        format!("http://[::ffff:127.0.0.1]:{port}/echo"), // IPv4-mapped IPv6 literal
    ] {
        let answer = strict.send(HttpCall::get(url.clone())).await;
        assert_eq!(answer, Err(HttpFailure::PrivateAddress), "{url}");
    }
    assert!(server.seen.lock().unwrap().is_empty());
    // Allowed, the same call arrives.
    let answer = client()
        .send(HttpCall::get(server.url("/echo")))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(server.only_request().path, "/echo");
}

#[tokio::test]
async fn get_arrives_with_its_query_and_headers() {
    let server = warp_server().await;
    let call = HttpCall::get(server.url("/echo?a=1&b=two"))
        .header("Authorization", "Bearer token-123")
        .header("X-Extra", "v");
    let response = client().send(call).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type.as_deref(), Some("application/json"));
    assert_eq!(&response.body[..], b"\"ok\"");

    let seen = server.only_request();
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.path, "/echo");
    assert_eq!(seen.query, "a=1&b=two");
    assert_eq!(seen.headers["authorization"], "Bearer token-123");
    assert_eq!(seen.headers["x-extra"], "v");
    assert_eq!(seen.headers["accept"], "application/json");
    assert!(seen.body.is_empty());
}

#[tokio::test]
async fn post_arrives_with_its_form_body_and_headers() {
    let server = warp_server().await;
    let call = HttpCall::post_form(
        server.url("/echo"),
        &[("grant_type", "authorization_code"), ("code", "a b&c")],
    )
    .header("authorization", "Basic Y2xpZW50OnNlY3JldA==");
    let response = client().send(call).await.unwrap();
    assert_eq!(response.status, 200);

    let seen = server.only_request();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.body, b"grant_type=authorization_code&code=a+b%26c");
    assert_eq!(
        seen.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(seen.headers["content-length"], "42");
    assert_eq!(seen.headers["authorization"], "Basic Y2xpZW50OnNlY3JldA==");
}

#[tokio::test]
async fn user_agent_names_portcullis_unless_the_call_sets_one() {
    let server = warp_server().await;
    client()
        .send(HttpCall::get(server.url("/echo")))
        .await
        .unwrap();
    let user_agent = server.only_request().headers["user-agent"].clone();
    let user_agent = user_agent.to_str().unwrap();
    assert!(user_agent.starts_with("Portcullis/"), "{user_agent}");
    assert!(
        user_agent.contains(env!("CARGO_PKG_VERSION")),
        "{user_agent}"
    );

    let server = warp_server().await;
    let call = HttpCall::get(server.url("/echo"))
        .header("user-agent", "custom/1")
        .header("accept", "application/jwk-set+json");
    client().send(call).await.unwrap();
    let seen = server.only_request();
    let agents: Vec<_> = seen.headers.get_all("user-agent").iter().collect();
    assert_eq!(agents, ["custom/1"]);
    let accepts: Vec<_> = seen.headers.get_all("accept").iter().collect();
    assert_eq!(accepts, ["application/jwk-set+json"]);
}

#[tokio::test]
async fn a_redirect_is_returned_not_followed() {
    let server = warp_server().await;
    let response = client()
        .send(HttpCall::get(server.url("/redirect")))
        .await
        .unwrap();
    assert_eq!(response.status, 302);
    assert_eq!(server.target_hits.load(Ordering::SeqCst), 0);
    // The target is reachable: the count above would have seen a followed redirect.
    client()
        .send(HttpCall::get(server.url("/target")))
        .await
        .unwrap();
    assert_eq!(server.target_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let addr = raw_server(Vec::new(), true).await;
    let client = client_with(Settings {
        total_timeout: Duration::from_millis(300),
        ..Settings::default()
    });
    let answer = client.send(HttpCall::get(format!("http://{addr}/"))).await;
    assert_eq!(answer, Err(HttpFailure::Timeout));
}

#[tokio::test]
async fn a_body_that_stalls_times_out() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial".to_vec();
    let addr = raw_server(head, true).await;
    let client = client_with(Settings {
        total_timeout: Duration::from_millis(300),
        ..Settings::default()
    });
    let answer = client.send(HttpCall::get(format!("http://{addr}/"))).await;
    assert_eq!(answer, Err(HttpFailure::Timeout));
}

#[tokio::test]
async fn a_10_mb_body_is_too_large() {
    let server = warp_server().await;
    let answer = client().send(HttpCall::get(server.url("/large"))).await;
    assert_eq!(answer, Err(HttpFailure::TooLarge));

    // Without a Content-Length, the limit is found while reading.
    let addr = raw_server(unannounced_body(10 * 1024 * 1024), false).await;
    let answer = client()
        .send(HttpCall::get(format!("http://{addr}/")))
        .await;
    assert_eq!(answer, Err(HttpFailure::TooLarge));
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_accepted() {
    let settings = Settings {
        max_body_bytes: 1000,
        ..Settings::default()
    };
    let addr = raw_server(unannounced_body(1000), false).await;
    let response = client_with(settings)
        .send(HttpCall::get(format!("http://{addr}/")))
        .await
        .unwrap();
    assert_eq!(response.body.len(), 1000);

    let addr = raw_server(unannounced_body(1001), false).await;
    let answer = client_with(settings)
        .send(HttpCall::get(format!("http://{addr}/")))
        .await;
    assert_eq!(answer, Err(HttpFailure::TooLarge));
}

#[tokio::test]
async fn only_http_and_https_urls_are_sent() {
    for url in [
        "ftp://127.0.0.1/file",
        "file:///etc/passwd",
        "not a url",
        "/relative",
    ] {
        let answer = client().send(HttpCall::get(url)).await;
        assert_eq!(answer, Err(HttpFailure::RefusedUrl), "{url}");
    }
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let answer = client()
        .send(HttpCall::get(format!("http://{addr}/")))
        .await;
    assert_eq!(answer, Err(HttpFailure::Connect));
}

#[tokio::test]
async fn transport_errors_name_no_url_query_and_no_header_value() {
    // The server closes the connection without answering: neither a timeout nor a connect
    // failure.
    let addr = raw_server(Vec::new(), false).await;
    let call = HttpCall::get(format!("http://{addr}/userinfo?access_token=SECRET-QUERY"))
        .header("authorization", "Bearer SECRET-HEADER");
    let failure = client().send(call).await.unwrap_err();
    let HttpFailure::Transport(text) = &failure else {
        panic!("expected a transport failure, got {failure:?}");
    };
    assert!(!text.is_empty());
    for shown in [failure.to_string(), format!("{failure:?}")] {
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(!shown.contains("access_token"), "{shown}");
    }

    // A header value that cannot be sent is refused without echoing it.
    let call = HttpCall::get(format!("http://{addr}/")).header("authorization", "SECRET\r\nX: y");
    let failure = client().send(call).await.unwrap_err();
    assert!(matches!(failure, HttpFailure::Transport(_)), "{failure:?}");
    assert!(!failure.to_string().contains("SECRET"), "{failure}");
}

#[test]
fn debug_of_a_call_shows_no_authorization_value_and_no_body() {
    let call = HttpCall::post_form(
        "https://provider.example/token?secret_in_query=Q",
        &[("client_secret", "BODY-SECRET")],
    )
    .header("Authorization", "Bearer HEADER-SECRET");
    let debug = format!("{call:?}");
    assert!(debug.contains("authorization"), "{debug}");
    for secret in [
        "HEADER-SECRET",
        "Bearer",
        "BODY-SECRET",
        "client_secret",
        "secret_in_query",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}
