//! The hooks against a real HTTP receiver on loopback: it checks our request signature with
//! the reference `standardwebhooks` crate and signs its answer with it, as an operator's
//! endpoint would. Calls go through the real reqwest adapter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use portcullis_domain::effect::{HookFailure, SignInDecision};
use portcullis_domain::mail::VerificationRequest;
use portcullis_domain::site::SiteUrl;
use portcullis_domain::CredentialField;
use portcullis_hooks_http::{Caller, Endpoint, HttpHooks, HttpVerificationSender, WebhookSecrets};
use portcullis_ports::{
    Clock, Entropy, JwtCall, JwtHook, RedirectHook, SessionHook, SignInHook, VerificationSender,
};
use rand_core::CryptoRngCore;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkgLi4u";
/// Held by nobody on our side.
const STRANGER: &str = "whsec_c3RyYW5nZXIgc3RyYW5nZXIgc3RyYW5nZXIh";

/// How the receiver answers.
#[derive(Clone)]
enum Answer {
    /// Signed with `SECRET` for the request's id.
    Signed(Value),
    /// This raw body, signed with `SECRET` for the request's id.
    SignedRaw(&'static str),
    /// Signed, but with a secret we do not hold.
    OtherSecret(Value),
    /// Signed with `SECRET`, but for another message id.
    WrongId(Value),
    /// No signature headers.
    Unsigned(Value),
    /// This status, a signed JSON body.
    Status(u16, Value),
}

struct Receiver {
    addr: SocketAddr,
    /// Each request body the receiver accepted (signature verified).
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
}

async fn receiver(answer: Answer) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let route = warp::post()
        .and(warp::path("hook"))
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |headers: HeaderMap, body: Bytes| {
            let reference = standardwebhooks::Webhook::new(SECRET).unwrap();
            if reference.verify(&body, &headers).is_err() {
                return warp::http::Response::builder()
                    .status(401)
                    .body(Vec::new())
                    .unwrap();
            }
            assert_eq!(headers["content-type"], "application/json");
            record
                .lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            let id = headers["webhook-id"].to_str().unwrap().to_owned();
            respond(&answer, &id)
        });
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Receiver { addr, seen }
}

fn respond(answer: &Answer, request_id: &str) -> warp::http::Response<Vec<u8>> {
    let (status, body, secret, id) = match answer {
        Answer::Signed(v) => (200, v.to_string(), Some(SECRET), request_id.to_owned()),
        Answer::SignedRaw(raw) => (200, (*raw).to_owned(), Some(SECRET), request_id.to_owned()),
        Answer::OtherSecret(v) => (200, v.to_string(), Some(STRANGER), request_id.to_owned()),
        Answer::WrongId(v) => (200, v.to_string(), Some(SECRET), "msg_other".to_owned()),
        Answer::Unsigned(v) => (200, v.to_string(), None, request_id.to_owned()),
        Answer::Status(s, v) => (*s, v.to_string(), Some(SECRET), request_id.to_owned()),
    };
    let mut response = warp::http::Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json");
    if let Some(secret) = secret {
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = standardwebhooks::Webhook::new(secret)
            .unwrap()
            .sign(&id, timestamp, body.as_bytes())
            .unwrap();
        response = response
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
    }
    response.body(body.into_bytes()).unwrap()
}

/// Accepts connections and never answers.
async fn silent() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

struct Now;
impl Clock for Now {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

struct Os;
impl Entropy for Os {
    fn rng(&self) -> Box<dyn CryptoRngCore + Send> {
        Box::new(rand_core::OsRng)
    }
}

fn caller() -> Caller {
    let http = portcullis_http_reqwest::ReqwestHttpClient::allowing_private_network().unwrap();
    Caller::new(Arc::new(http), Arc::new(Now), Arc::new(Os))
}

fn endpoint(url: String) -> Endpoint {
    Endpoint {
        url,
        // The receiver holds one of the two: every secret signs while rotating.
        secrets: WebhookSecrets::parse(&[OTHER, SECRET]).unwrap(),
        timeout: Duration::from_millis(2000),
    }
}

fn site() -> SiteUrl {
    SiteUrl::parse("https://app.example.com/api/auth").unwrap()
}

fn fields() -> Vec<CredentialField> {
    vec![
        CredentialField::new("username", "Username", "text"),
        CredentialField::new("pin", "PIN", "password"),
    ]
}

fn sign_in_hooks(url: String) -> HttpHooks {
    HttpHooks::new(caller(), site())
        .with_sign_in(endpoint(url))
        .credentials_provider("ldap", &fields())
}

async fn credentials_sign_in(hooks: &HttpHooks) -> Result<SignInDecision, HookFailure> {
    hooks
        .sign_in(
            &json!({"id": "7", "name": "Ann"}),
            // v3's credentials account: the provider's id in `id`.
            &json!({"id": "ldap", "type": "credentials"}),
            &json!({"username": "ann", "pin": "1234", "csrfToken": "c"}),
        )
        .await
}

#[tokio::test]
async fn sign_in_allows_and_never_sends_a_password() {
    let server = receiver(Answer::Signed(json!({"decision": "allow"}))).await;
    let hooks = sign_in_hooks(server.url());
    assert!(hooks.clone().into_hooks().registered().sign_in);
    assert_eq!(credentials_sign_in(&hooks).await, Ok(SignInDecision::Allow));
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["type"], "sign_in");
    assert_eq!(seen[0]["data"]["provider"], "ldap");
    assert_eq!(seen[0]["data"]["user"]["id"], "7");
    assert_eq!(seen[0]["data"]["credentials"], json!({"username": "ann"}));
    assert_eq!(seen[0]["data"]["profile"], Value::Null);
    assert!(!seen[0].to_string().contains("1234"));
}

#[tokio::test]
async fn an_undeclared_credentials_provider_sends_no_field() {
    let server = receiver(Answer::Signed(json!({"decision": "allow"}))).await;
    let hooks = HttpHooks::new(caller(), site()).with_sign_in(endpoint(server.url()));
    assert_eq!(credentials_sign_in(&hooks).await, Ok(SignInDecision::Allow));
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0]["data"]["credentials"], json!({}));
}

#[tokio::test]
async fn sign_in_sends_the_address_on_email_sign_in() {
    let server = receiver(Answer::Signed(json!({"decision": "deny"}))).await;
    let hooks = sign_in_hooks(server.url());
    let decision = hooks
        .sign_in(
            &json!({"email": "ann@example.com"}),
            &json!({"id": "ann@example.com", "provider": "email", "type": "email"}),
            &json!({"email": "ann@example.com"}),
        )
        .await;
    assert_eq!(decision, Ok(SignInDecision::Deny));
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0]["data"]["email"], "ann@example.com");
}

#[tokio::test]
async fn sign_in_redirects_only_on_the_site() {
    let server = receiver(Answer::Signed(
        json!({"decision": "redirect", "url": "/welcome"}),
    ))
    .await;
    assert_eq!(
        credentials_sign_in(&sign_in_hooks(server.url())).await,
        Ok(SignInDecision::Redirect(
            "https://app.example.com/welcome".into()
        ))
    );
    let server = receiver(Answer::Signed(
        json!({"decision": "redirect", "url": "https://app.example.com/x"}),
    ))
    .await;
    assert_eq!(
        credentials_sign_in(&sign_in_hooks(server.url())).await,
        Ok(SignInDecision::Redirect("https://app.example.com/x".into()))
    );
    let server = receiver(Answer::Signed(
        json!({"decision": "redirect", "url": "https://evil.example/x"}),
    ))
    .await;
    assert_eq!(
        credentials_sign_in(&sign_in_hooks(server.url())).await,
        Err(HookFailure::Error("AccessDenied".into()))
    );
}

#[tokio::test]
async fn jwt_shapes_claims_but_keeps_the_protected_ones() {
    let server = receiver(Answer::Signed(json!({"token": {
        "sub": "attacker", "exp": 9999999999u64, "iat": 1, "jti": "forged",
        "name": "Ann", "role": "admin"
    }})))
    .await;
    let hooks = HttpHooks::new(caller(), site()).with_jwt(endpoint(server.url()), false);
    let registered = hooks.clone().into_hooks().registered();
    assert!(registered.jwt && !registered.jwt_on_read);
    let token = json!({"sub": "7", "iat": 100, "exp": 200, "jti": "j1", "name": "Ann"});
    let claims = hooks
        .jwt(JwtCall {
            token: token.as_object().cloned().unwrap(),
            user: Some(json!({"id": "7"})),
            account: None,
            profile: None,
            is_new_user: Some(false),
        })
        .await
        .unwrap();
    assert_eq!(
        Value::Object(claims),
        json!({"sub": "7", "exp": 200, "iat": 100, "jti": "j1", "name": "Ann", "role": "admin"})
    );
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0]["type"], "jwt");
    assert_eq!(seen[0]["data"]["token"], token);
    assert_eq!(seen[0]["data"]["is_new_user"], false);
}

#[tokio::test]
async fn session_shapes_the_session_json() {
    let server = receiver(Answer::Signed(
        json!({"session": {"user": {"name": "Ann"}, "role": "admin"}}),
    ))
    .await;
    let hooks = HttpHooks::new(caller(), site()).with_session(endpoint(server.url()));
    let session = hooks
        .session(json!({"user": {"name": "Ann"}}), json!({"role": "admin"}))
        .await
        .unwrap();
    assert_eq!(session, json!({"user": {"name": "Ann"}, "role": "admin"}));
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0]["data"]["token"], json!({"role": "admin"}));
}

fn link() -> VerificationRequest {
    VerificationRequest {
        identifier: "ann@example.com".into(),
        url: "https://app.example.com/api/auth/callback/email?token=t0k3n".into(),
        host: "app.example.com".into(),
        provider_id: "email".into(),
        provider_name: "Email".into(),
        expires: OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap(),
    }
}

#[tokio::test]
async fn send_email_posts_the_link() {
    let server = receiver(Answer::Signed(json!({"sent": true}))).await;
    let sender = HttpVerificationSender::new(caller(), endpoint(server.url()));
    sender.send_verification_request(&link()).await.unwrap();
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0]["type"], "send_email");
    assert_eq!(seen[0]["data"]["identifier"], "ann@example.com");
    assert_eq!(seen[0]["data"]["url"], link().url);
    assert_eq!(seen[0]["data"]["expires"], "2030-03-17T17:46:40Z");
    assert_eq!(seen[0]["data"]["provider"], "email");

    let server = receiver(Answer::Signed(json!({"sent": false}))).await;
    let sender = HttpVerificationSender::new(caller(), endpoint(server.url()));
    let error = sender.send_verification_request(&link()).await.unwrap_err();
    assert!(!error.contains("t0k3n"), "{error}");
}

/// Every way an answer can be wrong: the hook refuses, and says why without a secret.
#[tokio::test]
async fn every_bad_answer_fails_closed() {
    let allow = json!({"decision": "allow"});
    let cases = [
        (Answer::Status(500, allow.clone()), "HTTP 500"),
        (Answer::Status(204, allow.clone()), "HTTP 204"),
        (Answer::SignedRaw("{not json"), "not the JSON"),
        (Answer::SignedRaw(r#"{"decision":"maybe"}"#), "not the JSON"),
        (Answer::Unsigned(allow.clone()), "webhook-id"),
        (Answer::OtherSecret(allow.clone()), "no signature matches"),
        (
            Answer::WrongId(allow.clone()),
            "does not answer this request",
        ),
    ];
    for (answer, reason) in cases {
        let server = receiver(answer).await;
        let hooks = sign_in_hooks(server.url());
        assert_eq!(
            credentials_sign_in(&hooks).await,
            Err(HookFailure::Error("AccessDenied".into())),
            "{reason}"
        );
        // The same failure as the send_email sender reports it.
        let sender = HttpVerificationSender::new(caller(), endpoint(server.url()));
        let error = sender.send_verification_request(&link()).await.unwrap_err();
        assert!(error.contains(reason), "{error} should say {reason}");
        assert!(
            !error.contains("whsec_") && !error.contains("t0k3n"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_silent_endpoint_times_out() {
    let addr = silent().await;
    let mut slow = endpoint(format!("http://{addr}/hook"));
    slow.timeout = Duration::from_millis(100);
    let hooks = HttpHooks::new(caller(), site()).with_jwt(slow.clone(), true);
    let failure = hooks
        .jwt(JwtCall {
            token: json!({"sub": "7"}).as_object().cloned().unwrap(),
            user: None,
            account: None,
            profile: None,
            is_new_user: None,
        })
        .await;
    assert_eq!(failure, Err(HookFailure::Error("Callback".into())));
    let sender = HttpVerificationSender::new(caller(), slow);
    let error = sender.send_verification_request(&link()).await.unwrap_err();
    assert!(error.contains("no answer within 100 ms"), "{error}");
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_closed() {
    // Nothing listens on a port that was bound and released.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = free.local_addr().unwrap();
    drop(free);
    let hooks = sign_in_hooks(format!("http://{closed}/hook"));
    assert_eq!(
        credentials_sign_in(&hooks).await,
        Err(HookFailure::Error("AccessDenied".into()))
    );
}

#[test]
fn every_hook_has_a_request_and_answer_schema() {
    let schemas = portcullis_hooks_http::schemas();
    for hook in ["sign_in", "jwt", "session", "redirect", "send_email"] {
        assert_eq!(
            schemas[hook]["request"]["properties"]["type"]["const"],
            hook
        );
        assert!(schemas[hook]["answer"].is_object(), "{hook}");
    }
    let answer = schemas["sign_in"]["answer"].to_string();
    assert!(
        answer.contains("redirect") && answer.contains("allow"),
        "{answer}"
    );
    assert!(schemas["sign_in"]["request"]
        .to_string()
        .contains("credentials"));
    let redirect = schemas["redirect"].to_string();
    assert!(redirect.contains("base_url"), "{redirect}");
}

#[tokio::test]
async fn redirect_sends_the_url_and_base_url_and_returns_the_answer() {
    let server = receiver(Answer::Signed(json!({"url": "https://app.example.org/in"}))).await;
    let hooks = HttpHooks::new(caller(), site()).with_redirect(endpoint(server.url()));
    assert!(hooks.clone().into_hooks().registered().redirect);
    let answer = hooks.redirect("/dash", "https://example.com").await;
    assert_eq!(answer, Ok("https://app.example.org/in".to_owned()));
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            json!({"type": "redirect", "data": {"url": "/dash", "base_url": "https://example.com"}})
        ]
    );
}

/// The engine holds whatever the hook answers to its policy; the adapter's part is to
/// fail on every bad answer, so the engine falls back to the base URL.
#[tokio::test]
async fn redirect_fails_closed_on_every_bad_answer() {
    let good = json!({"url": "/x"});
    let cases = [
        Answer::Status(500, good.clone()),
        Answer::SignedRaw("{not json"),
        Answer::SignedRaw(r#"{"url": 7}"#),
        Answer::SignedRaw(r#"{"url": "/x", "extra": true}"#),
        Answer::Unsigned(good.clone()),
        Answer::OtherSecret(good.clone()),
        Answer::WrongId(good),
    ];
    for answer in cases {
        let server = receiver(answer).await;
        let hooks = HttpHooks::new(caller(), site()).with_redirect(endpoint(server.url()));
        assert_eq!(
            hooks.redirect("/dash", "https://example.com").await,
            Err(HookFailure::Error("Callback".into()))
        );
    }
    let addr = silent().await;
    let mut slow = endpoint(format!("http://{addr}/hook"));
    slow.timeout = Duration::from_millis(100);
    let hooks = HttpHooks::new(caller(), site()).with_redirect(slow);
    assert_eq!(
        hooks.redirect("/dash", "https://example.com").await,
        Err(HookFailure::Error("Callback".into()))
    );
}

#[tokio::test]
async fn without_a_redirect_endpoint_the_url_is_kept_and_nothing_registered() {
    let hooks = HttpHooks::new(caller(), site());
    assert!(!hooks.clone().into_hooks().registered().redirect);
    assert_eq!(
        hooks.redirect("/dash", "https://example.com").await,
        Ok("/dash".to_owned())
    );
}
