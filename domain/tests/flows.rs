#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Flows driven with canned outcomes: no servers, no mocks. Each test snapshots the effects
//! a request yields and the response it ends with (insta), so a change in what the engine
//! asks for or answers is reviewed.

use bytes::Bytes;
use portcullis_domain::effect::{Effect, HookCall, HookFailure, Outcome, SignInDecision};
use portcullis_domain::{Config, CredentialField, Engine, Env, HookSet, Provider, Step};
use rand_chacha::rand_core::SeedableRng;
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

const SECRET: &str = "flow-test-secret-0123456789abcdef0123456789";
const NOW: OffsetDateTime = datetime!(2023-11-14 22:13:20 UTC);

fn engine(hooks: HookSet) -> Engine {
    Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret(SECRET)
            .hooks(hooks)
            .provider(Provider::credentials(
                "credentials",
                "Credentials",
                vec![
                    CredentialField::new("username", "Username", "text"),
                    CredentialField::new("password", "Password", "password"),
                ],
            ))
            .build()
            .unwrap(),
    )
}

fn env(seed: u64) -> Env {
    Env {
        now: NOW,
        rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
    }
}

/// What a request did: each effect (as debug text), the final response, the transitions.
#[derive(serde::Serialize)]
struct Record {
    effects: Vec<String>,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    transitions: Vec<String>,
}

fn drive(engine: &Engine, request: http::Request<Bytes>, seed: u64, mut answer: impl FnMut(&Effect) -> Outcome) -> Record {
    let mut run = engine.begin(&request, env(seed));
    let mut effects = Vec::new();
    let response = loop {
        match run.step() {
            Step::Done(response) => break response,
            Step::Effect(effect) => {
                let outcome = answer(&effect);
                effects.push(format!("{effect:?}"));
                run.resume(outcome);
            }
        }
    };
    assert!(run.fault().is_none(), "fault: {:?}", run.fault());
    let all = portcullis_domain::flows::all_transitions();
    Record {
        effects,
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect(),
        body: response.body().clone(),
        transitions: run
            .trace()
            .iter()
            .map(|t| all.iter().find(|i| i.flow == t.flow && i.index == t.index).unwrap().to_string())
            .collect(),
    }
}

/// A valid CSRF cookie + token pair for `SECRET` (from a first GET /csrf).
fn csrf(engine: &Engine) -> (String, String) {
    let rec = drive(engine, http::Request::get("/api/auth/csrf").body(Bytes::new()).unwrap(), 1, |_| panic!("no effects"));
    let token = serde_json::from_str::<Value>(&rec.body).unwrap()["csrfToken"].as_str().unwrap().to_owned();
    let cookie = rec.headers.iter().find(|(k, v)| k == "set-cookie" && v.starts_with("__Host-")).unwrap().1.clone();
    (token, cookie.split(';').next().unwrap().to_owned())
}

fn sign_in_request(engine: &Engine, json_mode: bool) -> http::Request<Bytes> {
    let (token, cookie) = csrf(engine);
    let json_field = if json_mode { "&json=true" } else { "" };
    http::Request::post("/api/auth/callback/credentials")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .header("authorization", "Basic c2VjcmV0")
        .body(Bytes::from(format!("csrfToken={token}&username=jane&password=pw&callbackUrl=%2Fdash{json_field}")))
        .unwrap()
}

#[test]
fn credentials_sign_in_with_every_hook() {
    let all = HookSet { sign_in: true, jwt: true, session: true, events: true };
    let engine = engine(all);
    let record = drive(&engine, sign_in_request(&engine, true), 2, |effect| match effect {
        Effect::Authorize(call) => {
            assert!(call.request.headers.iter().all(|(k, _)| k != "cookie" && k != "authorization"));
            Outcome::Authorized(Ok(Some(json!({"id": 42, "name": "Jane", "email": "jane@example.com"}))))
        }
        Effect::Hook(HookCall::SignIn { .. }) => Outcome::SignIn(Ok(SignInDecision::Allow)),
        Effect::Hook(HookCall::Jwt { token, .. }) => {
            let mut token = token.clone();
            token.insert("role".into(), json!("admin"));
            Outcome::Token(Ok(token))
        }
        Effect::Event(_) => Outcome::Notified,
        other => panic!("unexpected {other:?}"),
    });
    insta::assert_yaml_snapshot!(record);
}

#[test]
fn credentials_sign_in_refused_by_callback() {
    let engine = engine(HookSet { sign_in: true, ..HookSet::default() });
    let record = drive(&engine, sign_in_request(&engine, false), 3, |effect| match effect {
        Effect::Authorize(_) => Outcome::Authorized(Ok(Some(json!({"id": "1"})))),
        Effect::Hook(HookCall::SignIn { .. }) => Outcome::SignIn(Err(HookFailure::Error("Banned user".into()))),
        other => panic!("unexpected {other:?}"),
    });
    insta::assert_yaml_snapshot!(record);
}

#[test]
fn session_read_with_hooks_then_sign_out_with_events() {
    let all = HookSet { sign_in: false, jwt: true, session: true, events: true };
    let engine = engine(all);
    let signed_in = drive(&engine, sign_in_request(&engine, true), 4, |effect| match effect {
        Effect::Authorize(_) => Outcome::Authorized(Ok(Some(json!({"id": "u1", "name": "Jane", "image": ""})))),
        Effect::Hook(HookCall::Jwt { token, .. }) => Outcome::Token(Ok(token.clone())),
        Effect::Event(_) => Outcome::Notified,
        other => panic!("unexpected {other:?}"),
    });
    let session_cookie = signed_in
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("__Secure-next-auth.session-token="))
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let read = drive(
        &engine,
        http::Request::get("/api/auth/session").header("cookie", &session_cookie).body(Bytes::new()).unwrap(),
        5,
        |effect| match effect {
            Effect::Hook(HookCall::Jwt { token, user: None, .. }) => Outcome::Token(Ok(token.clone())),
            Effect::Hook(HookCall::Session { session, .. }) => {
                let mut session = session.clone();
                session["role"] = json!("admin");
                Outcome::Session(Ok(session))
            }
            Effect::Event(_) => Outcome::Notified,
            other => panic!("unexpected {other:?}"),
        },
    );
    insta::assert_yaml_snapshot!("session_read", read);

    let (token, csrf_cookie) = csrf(&engine);
    let signed_out = drive(
        &engine,
        http::Request::post("/api/auth/signout")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("{csrf_cookie}; {session_cookie}"))
            .body(Bytes::from(format!("csrfToken={token}")))
            .unwrap(),
        6,
        |effect| match effect {
            Effect::Event(event) => {
                assert!(format!("{event:?}").contains("\"sub\": String(\"u1\")"), "{event:?}");
                Outcome::Notified
            }
            other => panic!("unexpected {other:?}"),
        },
    );
    insta::assert_yaml_snapshot!("sign_out", signed_out);
}

#[test]
fn pages() {
    let engine = engine(HookSet::default());
    for (name, uri) in [
        ("page_signin", "/api/auth/signin?error=CredentialsSignin"),
        ("page_signout", "/api/auth/signout"),
        ("page_verify_request", "/api/auth/verify-request"),
        ("page_error_access_denied", "/api/auth/error?error=AccessDenied"),
        ("page_error_verification", "/api/auth/error?error=Verification"),
        ("page_error_configuration", "/api/auth/error/Configuration"),
        ("page_error_other", "/api/auth/error?error=%3Cscript%3E"),
    ] {
        let record = drive(&engine, http::Request::get(uri).body(Bytes::new()).unwrap(), 7, |_| panic!("no effects"));
        insta::assert_yaml_snapshot!(name, record);
    }
}
