//! The example receivers of docs/hooks.md — Python (`examples/hooks/python/receiver.py`),
//! Node (`examples/hooks/node/receiver.mjs`) and Rust (`examples/receiver.rs`, included
//! here) — each started on loopback and driven by the real `HttpHooks` over reqwest: their
//! answers must pass the adapter's checks (signed with the request's id), and requests with
//! a wrong signature, a tampered body or an old timestamp must be refused with 401.
//!
//! `python3` and `node` must be on `PATH`: a missing one fails the test, it is not skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/receiver.rs"]
#[allow(dead_code)] // its `main`
mod rust_receiver;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use portcullis_domain::effect::{HookFailure, SignInDecision};
use portcullis_domain::secret::SecretString;
use portcullis_domain::site::SiteUrl;
use portcullis_hooks_http::webhook::TOLERANCE_SECONDS;
use portcullis_hooks_http::{Caller, Endpoint, HttpHooks, Signed, WebhookSecrets};
use portcullis_http_reqwest::ReqwestHttpClient;
use portcullis_ports::http::{Cache, HttpCall, HttpClient, HttpMethod, HttpResponse};
use portcullis_ports::{Clock, Entropy, JwtCall, JwtHook, SessionHook, SignInHook};
use rand_core::CryptoRngCore;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::net::TcpListener;

/// The receivers' secret (`PORTCULLIS_HOOK_SECRET`).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Rotating: our side signs with this one too; the receivers do not hold it.
const OTHER: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkgLi4u";
/// Held by nobody on the receivers' side.
const STRANGER: &str = "whsec_c3RyYW5nZXIgc3RyYW5nZXIgc3RyYW5nZXIh";

#[tokio::test]
async fn the_python_receiver() {
    let receiver = Script::start("python3", "python/receiver.py");
    exercise(&receiver.url).await;
}

#[tokio::test]
async fn the_node_receiver() {
    let receiver = Script::start("node", "node/receiver.mjs");
    exercise(&receiver.url).await;
}

#[tokio::test]
async fn the_rust_receiver() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let secrets = WebhookSecrets::parse(&[SECRET]).unwrap();
    let server = tokio::spawn(rust_receiver::serve(listener, secrets));
    exercise(&url).await;
    server.abort();
}

/// A receiver script run as a child process; killed when dropped.
struct Script {
    child: std::process::Child,
    url: String,
}

impl Script {
    /// Runs `program examples/hooks/<script> 0` and waits for its `listening on …` line.
    fn start(program: &str, script: &str) -> Script {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/hooks")
            .join(script);
        let mut child = Command::new(program)
            .arg(&path)
            .arg("0")
            .env("PORTCULLIS_HOOK_SECRET", SECRET)
            .env_remove("PORT")
            .env_remove("HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `{program}` ({e}): the {script} receiver test needs `{program}` \
                     on PATH (CI has python3 3.11 and node 20); it is not skipped"
                )
            });
        let stdout = child.stdout.take().unwrap();
        // Kill the child whatever happens next.
        let mut started = Script {
            child,
            url: String::new(),
        };
        let (first_line, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line).map(|_| line);
            let _ = first_line.send(read);
            // Keep draining, so the child never writes into a closed pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{script} printed no line within 30 s"))
            .unwrap_or_else(|e| panic!("reading {script}'s stdout: {e}"));
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let status = started.child.try_wait();
                panic!("{script}'s first line is {line:?}, not `listening on …` ({status:?})")
            });
        started.url = format!("{address}/hook");
        started
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every receiver must do: the docs' policy through the real adapter, answers signed
/// for the request, and bad signatures refused.
async fn exercise(url: &str) {
    let hooks = HttpHooks::new(caller(), site())
        .with_sign_in(endpoint(url, &[OTHER, SECRET]))
        .with_jwt(endpoint(url, &[OTHER, SECRET]), false)
        .with_session(endpoint(url, &[OTHER, SECRET]));

    // sign_in: @example.com is allowed (the answer's signature passed the adapter's check),
    // anything else denied.
    assert_eq!(
        oauth_sign_in(&hooks, "ann@example.com").await,
        Ok(SignInDecision::Allow),
        "{url}: allowed sign-in"
    );
    assert_eq!(
        oauth_sign_in(&hooks, "eve@elsewhere.test").await,
        Ok(SignInDecision::Deny),
        "{url}: denied sign-in"
    );

    // jwt: the admin gains the role, and nobody else.
    let admin = jwt(&hooks, "admin@example.com").await;
    assert_eq!(
        Value::Object(admin.clone()),
        json!({"sub": "7", "name": "Ada", "email": "admin@example.com",
               "iat": 100, "exp": 200, "jti": "j1", "role": "admin"}),
        "{url}: jwt"
    );
    assert!(!jwt(&hooks, "ann@example.com").await.contains_key("role"));

    // session: the role is copied from the token.
    let session = json!({"user": {"name": "Ada", "email": "admin@example.com", "image": null},
                         "expires": "2030-01-01T00:00:00.000Z"});
    let shaped = hooks
        .session(session.clone(), Value::Object(admin))
        .await
        .unwrap_or_else(|e| panic!("{url}: session: {e:?}"));
    let mut expected = session.clone();
    expected["role"] = json!("admin");
    assert_eq!(shaped, expected, "{url}: session");
    let plain = hooks.session(session.clone(), json!({"sub": "8"})).await;
    assert_eq!(plain, Ok(session), "{url}: session without a role");

    // A request signed with a secret the receiver does not hold: refused, the hook fails
    // closed.
    let stranger = HttpHooks::new(caller(), site()).with_sign_in(endpoint(url, &[STRANGER]));
    assert_eq!(
        oauth_sign_in(&stranger, "ann@example.com").await,
        Err(HookFailure::Error("AccessDenied".into())),
        "{url}: wrong signature"
    );

    // And the receiver itself says 401 to every badly signed request (were it to answer,
    // the adapter would refuse the answer anyway, hiding a receiver that verifies nothing).
    let body = r#"{"type":"sign_in","data":{"user":{"email":"ann@example.com"},"account":{},"profile":null,"provider":"github"}}"#;
    let secrets = WebhookSecrets::parse(&[SECRET]).unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let good = secrets.sign("msg_receivers_1", now, body.as_bytes());
    let answer = post(url, body, Some(&good)).await;
    assert_eq!(answer.status, 200, "{url}: a well signed request");
    let header = |name: &str| answer.header(name).map(str::to_owned);
    assert_eq!(
        secrets.verify(&header, &answer.body, now, Some("msg_receivers_1")),
        Ok(()),
        "{url}: the answer is signed with the request's id"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&answer.body).unwrap(),
        json!({"decision": "allow"})
    );

    let other_key =
        WebhookSecrets::parse(&[STRANGER])
            .unwrap()
            .sign("msg_receivers_2", now, body.as_bytes());
    let old = secrets.sign(
        "msg_receivers_3",
        now - TOLERANCE_SECONDS - 60,
        body.as_bytes(),
    );
    let mut wrong_version = good.clone();
    wrong_version.signature = good.signature.replacen("v1,", "v2,", 1);
    let mut mangled = good.clone();
    mangled.signature = format!("v1,{}", "A".repeat(44));
    let tampered = body.replace("ann@example.com", "eve@elsewhere.test");
    for (case, body, signed) in [
        ("another secret", body, Some(&other_key)),
        ("an old timestamp", body, Some(&old)),
        ("a v2 signature", body, Some(&wrong_version)),
        ("a wrong signature", body, Some(&mangled)),
        ("a tampered body", tampered.as_str(), Some(&good)),
        ("no signature", body, None),
    ] {
        let answer = post(url, body, signed).await;
        assert_eq!(answer.status, 401, "{url}: {case} must be refused");
    }
}

async fn oauth_sign_in(hooks: &HttpHooks, email: &str) -> Result<SignInDecision, HookFailure> {
    hooks
        .sign_in(
            &json!({"id": "7", "name": "Ann", "email": email, "image": null}),
            &json!({"provider": "github", "type": "oauth", "providerAccountId": "583231"}),
            &json!({"login": "ann", "email": email}),
        )
        .await
}

async fn jwt(hooks: &HttpHooks, email: &str) -> serde_json::Map<String, Value> {
    let token = json!({"sub": "7", "name": "Ada", "email": email,
                       "iat": 100, "exp": 200, "jti": "j1"});
    hooks
        .jwt(JwtCall {
            token: token.as_object().cloned().unwrap(),
            user: Some(json!({"id": "7", "email": email})),
            account: Some(json!({"provider": "github", "type": "oauth"})),
            profile: None,
            is_new_user: Some(false),
        })
        .await
        .unwrap_or_else(|e| panic!("jwt for {email}: {e:?}"))
}

/// A raw POST, signed as given (or not at all).
async fn post(url: &str, body: &str, signed: Option<&Signed>) -> HttpResponse {
    let mut call = HttpCall {
        method: HttpMethod::Post,
        url: url.to_owned(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Some(SecretString::new(body.to_owned())),
        cache: Cache::Bypass,
    };
    for (name, value) in signed.map(Signed::headers).into_iter().flatten() {
        call = call.header(name, value);
    }
    ReqwestHttpClient::allowing_private_network()
        .unwrap()
        .send(call)
        .await
        .unwrap()
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
    let http = ReqwestHttpClient::allowing_private_network().unwrap();
    Caller::new(Arc::new(http), Arc::new(Now), Arc::new(Os))
}

fn endpoint(url: &str, secrets: &[&str]) -> Endpoint {
    Endpoint {
        url: url.to_owned(),
        secrets: WebhookSecrets::parse(secrets).unwrap(),
        timeout: Duration::from_secs(5),
    }
}

fn site() -> SiteUrl {
    SiteUrl::parse("https://app.example.com/api/auth").unwrap()
}
