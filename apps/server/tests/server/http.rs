//! A real server on 127.0.0.1:0, driven over HTTP.

use std::collections::HashMap;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{client, cookie_header, set_cookies, start, PASSWORD};

const CSRF_COOKIE: &str = "next-auth.csrf-token";
const SESSION_COOKIE: &str = "next-auth.session-token";

#[tokio::test]
async fn csrf_sign_in_session_sign_out() {
    let server = start().await;
    let http = client();
    let mut jar: HashMap<String, String> = HashMap::new();

    // GET /csrf: a token and its cookie.
    let response = http.get(server.url("/api/auth/csrf")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    jar.extend(set_cookies(&response));
    assert!(jar.contains_key(CSRF_COOKIE), "{jar:?}");
    let body: Value = response.json().await.unwrap();
    let csrf = body["csrfToken"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);

    // A wrong password: 401 {url}, no session.
    let response = http
        .post(server.url("/api/auth/callback/credentials"))
        .header("cookie", cookie_header(&jar))
        .form(&[
            ("csrfToken", csrf.as_str()),
            ("username", "jane"),
            ("password", "wrong"),
            ("json", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(!set_cookies(&response).contains_key(SESSION_COOKIE));
    let body: Value = response.json().await.unwrap();
    assert!(body["url"]
        .as_str()
        .unwrap()
        .contains("error=CredentialsSignin"));

    // The right password: 200 {url} and a session cookie.
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
    jar.extend(set_cookies(&response));
    assert!(jar.get(SESSION_COOKIE).is_some_and(|v| !v.is_empty()));
    let body: Value = response.json().await.unwrap();
    assert!(body["url"].is_string(), "{body}");

    // GET /session: the user.
    let response = http
        .get(server.url("/api/auth/session"))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["user"]["name"], "Jane");
    assert_eq!(session["user"]["email"], "jane@example.com");
    assert!(session["expires"].is_string());

    // POST /signout: the session cookie is cleared.
    let response = http
        .post(server.url("/api/auth/signout"))
        .header("cookie", cookie_header(&jar))
        .form(&[("csrfToken", csrf.as_str()), ("json", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cleared = set_cookies(&response);
    assert_eq!(cleared.get(SESSION_COOKIE).map(String::as_str), Some(""));
    jar.extend(cleared);
    let session: Value = http
        .get(server.url("/api/auth/session"))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session, serde_json::json!({}));

    server.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_query_string_reaches_the_engine() {
    let server = start().await;
    // GET /error?error=… renders the code it was given.
    let response = client()
        .get(server.url("/api/auth/error?error=AccessDenied"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 403, "{text}");
    server.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let server = start().await;
    let big = "a".repeat(64 * 1024 + 1);
    let response = client()
        .post(server.url("/api/auth/callback/credentials"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Chunked, with no Content-Length to go by.
    let mut request = String::from(
        "POST /api/auth/callback/credentials HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for _ in 0..20 {
        request.push_str(&format!("1000\r\n{}\r\n", "b".repeat(0x1000)));
    }
    request.push_str("0\r\n\r\n");
    let head = raw(server.addr, request.as_bytes()).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // Exactly the limit is read.
    let limit = "c".repeat(64 * 1024);
    let response = client()
        .post(server.url("/api/auth/callback/credentials"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(limit)
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 413);
    assert!(response.status().as_u16() < 500);
    server.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn paths_outside_the_base_get_404() {
    let server = start().await;
    let http = client();
    for path in [
        "/",
        "/api",
        "/api/authx",
        "/api/auth-other/csrf",
        "/other/api/auth/csrf",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = http
        .post(server.url("/elsewhere"))
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // The base path itself is the engine's (400 for an unknown action).
    let response = http.get(server.url("/api/auth")).send().await.unwrap();
    assert_ne!(response.status(), 404);
    server.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_method_reaches_the_engine() {
    let server = start().await;
    let http = client();
    for method in ["PUT", "DELETE", "OPTIONS", "PATCH"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = http
            .request(method.clone(), server.url("/api/auth/session"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{method}");
    }
    server.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_never_gets_a_5xx() {
    let server = start().await;
    let cases: Vec<Vec<u8>> = vec![
        // Non-UTF-8 bytes in the path, raw and percent-encoded.
        b"GET /api/auth/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /api/auth/%FF%FE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        // Non-UTF-8 and duplicated cookies.
        b"GET /api/auth/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: next-auth.session-token=\xff\xfe; next-auth.session-token=a\r\nCookie: =;;==\r\n\r\n".to_vec(),
        // A large cookie, then one too large for the server to read.
        format!(
            "GET /api/auth/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: next-auth.session-token={}\r\n\r\n",
            "a".repeat(100 * 1024)
        )
        .into_bytes(),
        format!(
            "GET /api/auth/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: x={}\r\n\r\n",
            "a".repeat(1024 * 1024)
        )
        .into_bytes(),
        // A body that is not what its type says.
        b"POST /api/auth/callback/credentials HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n{\xff]}".to_vec(),
    ];
    for case in cases {
        let head = raw(server.addr, &case).await;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {head:?}"));
        assert!(
            (400..500).contains(&status) || status == 200,
            "{status} for {:?}",
            String::from_utf8_lossy(&case[..case.len().min(80)])
        );
    }
    server.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight() {
    let server = start().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let body = "csrfToken=nope&json=true";
    let head = format!(
        "POST /api/auth/signout HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server answers 100 Continue once the handler reads the body: in flight.
    let mut buffer = vec![0u8; 64];
    let n = stream.read(&mut buffer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 100"),
        "{:?}",
        String::from_utf8_lossy(&buffer[..n])
    );

    let shutdown = tokio::spawn(server.handle.shutdown());
    // The request cannot finish without its body, so neither can the shutdown.
    assert!(!shutdown.is_finished());
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"url\""), "{response}");

    shutdown.await.unwrap().unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err());
}

/// Sends raw bytes, returns the response's head (or what came back before the close).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading everything (413, 431): ignore
    // write errors, read what came back.
    let _ = stream.write_all(request).await;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                response.extend_from_slice(&chunk[..n]);
                if response.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

/// Issue 11 §4: behind a trusted proxy, a flood from one client with many usernames uses up
/// that client's per-IP quota only; the user signs in from another address.
#[tokio::test]
async fn a_flood_through_a_trusted_proxy_does_not_lock_out_another_client() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut config = crate::support::config_in(dir.path());
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = portcullis_server::build_app(&config, false).unwrap();
    let (addr, _handle) = portcullis_server::spawn(app, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = |path: &str| format!("http://{addr}{path}");
    let http = client();
    let response = http.get(url("/api/auth/csrf")).send().await.unwrap();
    let jar = set_cookies(&response);
    let body: Value = response.json().await.unwrap();
    let csrf = body["csrfToken"].as_str().unwrap().to_owned();
    let attempt = |from: &'static str, username: String, password: &'static str| {
        http.post(url("/api/auth/callback/credentials"))
            .header("cookie", cookie_header(&jar))
            // The client's own claim first, then what the proxy appended.
            .header("x-forwarded-for", format!("6.6.6.6, {from}"))
            .form(&[
                ("csrfToken", csrf.as_str()),
                ("username", username.as_str()),
                ("password", password),
                ("json", "true"),
            ])
            .send()
    };

    // More attempts than the per-IP limit (50), a new username each time.
    for i in 0..60 {
        let response = attempt("203.0.113.9", format!("user{i}"), "wrong")
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let response = attempt("203.0.113.9", "jane".into(), PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "the flooding client is over its limit"
    );

    let response = attempt("198.51.100.7", "jane".into(), PASSWORD)
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "another client signs in");
    assert!(set_cookies(&response).contains_key(SESSION_COOKIE));
}
