//! The HTTP backend against a real service on loopback (warp), through the real HTTP
//! client (reqwest): signed both ways; every failure a refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use portcullis_credentials_http::HttpService;
use portcullis_hooks_http::WebhookSecrets;
use portcullis_http_reqwest::ReqwestHttpClient;
use serde_json::{json, Map, Value};
use warp::Filter;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkgLi4u";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The operator's service: checks the request's signature, then answers per username.
async fn service(seen: Arc<Mutex<Vec<Value>>>) -> SocketAddr {
    let route = warp::post()
        .and(warp::path("check"))
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(move |headers: http::HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let secrets = WebhookSecrets::parse(&[SECRET]).unwrap();
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                if secrets.verify(&header, &body, now(), None).is_err() {
                    return reply(401, Bytes::new(), None, "");
                }
                let request: Value = serde_json::from_slice(&body).unwrap();
                seen.lock().unwrap().push(request.clone());
                let id = header("webhook-id").unwrap();
                let credentials = &request["credentials"];
                let user = match (
                    credentials["username"].as_str(),
                    credentials["password"].as_str(),
                ) {
                    (Some(name), Some("right")) => name.to_owned(),
                    _ => return signed(json!({"user": null}), &secrets, &id),
                };
                let jane = json!({"user": {"id": "42", "name": "Jane", "email": "jane@example.com", "image": null}});
                match user.as_str() {
                    "jane" => signed(jane, &secrets, &id),
                    "numeric" => signed(json!({"user": {"id": 7}}), &secrets, &id),
                    "noid" => signed(json!({"user": {"name": "x"}}), &secrets, &id),
                    "unsigned" => reply(200, jane.to_string().into(), None, ""),
                    "othersecret" => {
                        signed(jane, &WebhookSecrets::parse(&[OTHER]).unwrap(), &id)
                    }
                    "wrongid" => signed(jane, &secrets, "msg_another"),
                    "fail500" => reply(500, Bytes::new(), None, ""),
                    "garbage" => {
                        let body = Bytes::from_static(b"<html>oops</html>");
                        let s = secrets.sign(&id, now(), &body);
                        reply(200, body, Some(s), "")
                    }
                    "slow" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        signed(jane, &secrets, &id)
                    }
                    _ => signed(json!({"user": null}), &secrets, &id),
                }
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    addr
}

fn signed(answer: Value, secrets: &WebhookSecrets, id: &str) -> http::Response<Bytes> {
    let body = Bytes::from(answer.to_string());
    let s = secrets.sign(id, now(), &body);
    reply(200, body, Some(s), "")
}

fn reply(
    status: u16,
    body: Bytes,
    signed: Option<portcullis_hooks_http::Signed>,
    _: &str,
) -> http::Response<Bytes> {
    let mut response = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(signed) = signed {
        for (name, value) in signed.headers() {
            response = response.header(name, value);
        }
    }
    response.body(body).unwrap()
}

fn backend(url: &str, timeout: Duration) -> HttpService {
    HttpService::new(
        "app",
        url,
        WebhookSecrets::parse(&[SECRET]).unwrap(),
        timeout,
        Arc::new(ReqwestHttpClient::allowing_private_network().unwrap()),
    )
    .unwrap()
}

fn form(username: &str, password: &str) -> Map<String, Value> {
    json!({"csrfToken": "csrf-value", "username": username, "password": password, "json": "true"})
        .as_object()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_service_signs_users_in_and_out() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = service(seen.clone()).await;
    let backend = backend(&format!("http://{addr}/check"), Duration::from_secs(5));

    assert_eq!(
        backend.check(&form("jane", "right")).await,
        Some(json!({"id": "42", "name": "Jane", "email": "jane@example.com", "image": null}))
    );
    // The service saw the form without the CSRF token, and the provider's id.
    assert_eq!(
        seen.lock().unwrap()[0],
        json!({"provider": "app", "credentials": {"username": "jane", "password": "right", "json": "true"}})
    );
    assert_eq!(
        backend.check(&form("numeric", "right")).await,
        // Fields the service left out stay out (no `picture` claim, as in v3).
        Some(json!({"id": "7"}))
    );
    assert_eq!(backend.check(&form("jane", "wrong")).await, None);
    assert_eq!(backend.check(&form("nobody", "right")).await, None);
}

#[tokio::test]
async fn bad_answers_fail_closed() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = service(seen.clone()).await;
    let backend = backend(&format!("http://{addr}/check"), Duration::from_millis(500));
    for username in [
        "unsigned",
        "othersecret",
        "wrongid",
        "fail500",
        "garbage",
        "noid",
    ] {
        assert_eq!(
            backend.check(&form(username, "right")).await,
            None,
            "{username}"
        );
    }
    // The service did answer each (so the refusals are ours).
    assert_eq!(seen.lock().unwrap().len(), 6);

    // A request signed with a secret the service does not hold: it answers 401.
    let stranger = HttpService::new(
        "app",
        &format!("http://{addr}/check"),
        WebhookSecrets::parse(&[OTHER]).unwrap(),
        Duration::from_secs(5),
        Arc::new(ReqwestHttpClient::allowing_private_network().unwrap()),
    )
    .unwrap();
    assert_eq!(stranger.check(&form("jane", "right")).await, None);

    // Too slow: refused at the timeout, not when the service finally answers.
    let started = Instant::now();
    assert_eq!(backend.check(&form("slow", "right")).await, None);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let down = self::backend(&format!("http://{closed}/check"), Duration::from_secs(5));
    assert_eq!(down.check(&form("jane", "right")).await, None);
}

#[test]
fn urls_must_keep_the_password_off_the_network() {
    for ok in [
        "https://auth.example.com/check",
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://[::1]:8/",
    ] {
        portcullis_credentials_http::check_url(ok).unwrap();
    }
    for bad in [
        "http://auth.example.com/check",
        "ftp://x/",
        "not a url",
        "http://10.0.0.1/",
    ] {
        assert!(
            portcullis_credentials_http::check_url(bad).is_err(),
            "{bad}"
        );
    }
}
