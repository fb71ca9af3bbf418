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

fn drive(
    engine: &Engine,
    request: http::Request<Bytes>,
    seed: u64,
    mut answer: impl FnMut(&Effect) -> Outcome,
) -> Record {
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
            .map(|t| {
                all.iter()
                    .find(|i| i.flow == t.flow && i.index == t.index)
                    .unwrap()
                    .to_string()
            })
            .collect(),
    }
}

/// A valid CSRF cookie + token pair for `SECRET` (from a first GET /csrf).
fn csrf(engine: &Engine) -> (String, String) {
    let rec = drive(
        engine,
        http::Request::get("/api/auth/csrf")
            .body(Bytes::new())
            .unwrap(),
        1,
        |_| panic!("no effects"),
    );
    let token = serde_json::from_str::<Value>(&rec.body).unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = rec
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("__Host-"))
        .unwrap()
        .1
        .clone();
    (token, cookie.split(';').next().unwrap().to_owned())
}

fn sign_in_request(engine: &Engine, json_mode: bool) -> http::Request<Bytes> {
    let (token, cookie) = csrf(engine);
    let json_field = if json_mode { "&json=true" } else { "" };
    http::Request::post("/api/auth/callback/credentials")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .header("authorization", "Basic c2VjcmV0")
        .body(Bytes::from(format!(
            "csrfToken={token}&username=jane&password=pw&callbackUrl=%2Fdash{json_field}"
        )))
        .unwrap()
}

#[test]
fn credentials_sign_in_with_every_hook() {
    let all = HookSet {
        sign_in: true,
        jwt: true,
        session: true,
        events: true,
    };
    let engine = engine(all);
    let record = drive(
        &engine,
        sign_in_request(&engine, true),
        2,
        |effect| match effect {
            Effect::Authorize(call) => {
                assert!(call
                    .request
                    .headers
                    .iter()
                    .all(|(k, _)| k != "cookie" && k != "authorization"));
                Outcome::Authorized(Ok(Some(
                    json!({"id": 42, "name": "Jane", "email": "jane@example.com"}),
                )))
            }
            Effect::Hook(HookCall::SignIn { .. }) => Outcome::SignIn(Ok(SignInDecision::Allow)),
            Effect::Hook(HookCall::Jwt { token, .. }) => {
                let mut token = token.clone();
                token.insert("role".into(), json!("admin"));
                Outcome::Token(Ok(token))
            }
            Effect::Event(_) => Outcome::Notified,
            other => panic!("unexpected {other:?}"),
        },
    );
    insta::assert_yaml_snapshot!(record);
}

#[test]
fn credentials_sign_in_refused_by_callback() {
    let engine = engine(HookSet {
        sign_in: true,
        ..HookSet::default()
    });
    let record = drive(
        &engine,
        sign_in_request(&engine, false),
        3,
        |effect| match effect {
            Effect::Authorize(_) => Outcome::Authorized(Ok(Some(json!({"id": "1"})))),
            Effect::Hook(HookCall::SignIn { .. }) => {
                Outcome::SignIn(Err(HookFailure::Error("Banned user".into())))
            }
            other => panic!("unexpected {other:?}"),
        },
    );
    insta::assert_yaml_snapshot!(record);
}

#[test]
fn session_read_with_hooks_then_sign_out_with_events() {
    let all = HookSet {
        sign_in: false,
        jwt: true,
        session: true,
        events: true,
    };
    let engine = engine(all);
    let signed_in = drive(
        &engine,
        sign_in_request(&engine, true),
        4,
        |effect| match effect {
            Effect::Authorize(_) => {
                Outcome::Authorized(Ok(Some(json!({"id": "u1", "name": "Jane", "image": ""}))))
            }
            Effect::Hook(HookCall::Jwt { token, .. }) => Outcome::Token(Ok(token.clone())),
            Effect::Event(_) => Outcome::Notified,
            other => panic!("unexpected {other:?}"),
        },
    );
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
        http::Request::get("/api/auth/session")
            .header("cookie", &session_cookie)
            .body(Bytes::new())
            .unwrap(),
        5,
        |effect| match effect {
            Effect::Hook(HookCall::Jwt {
                token, user: None, ..
            }) => Outcome::Token(Ok(token.clone())),
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
                assert!(
                    format!("{event:?}").contains("\"sub\": String(\"u1\")"),
                    "{event:?}"
                );
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
        (
            "page_error_access_denied",
            "/api/auth/error?error=AccessDenied",
        ),
        (
            "page_error_verification",
            "/api/auth/error?error=Verification",
        ),
        ("page_error_configuration", "/api/auth/error/Configuration"),
        ("page_error_other", "/api/auth/error?error=%3Cscript%3E"),
    ] {
        let record = drive(
            &engine,
            http::Request::get(uri).body(Bytes::new()).unwrap(),
            7,
            |_| panic!("no effects"),
        );
        insta::assert_yaml_snapshot!(name, record);
    }
}

mod database_sessions {
    use super::*;
    use portcullis_domain::model::{Session, User};
    use portcullis_domain::secret::SecretString;
    use portcullis_domain::store::{StoreError, StoreOp, StoreReply};
    use portcullis_domain::SessionStrategy;

    fn engine(hooks: HookSet) -> Engine {
        Engine::new(
            Config::builder()
                .url("https://example.com/api/auth")
                .secret(SECRET)
                .hooks(hooks)
                .session_strategy(SessionStrategy::Database)
                .session_max_age(30 * 86_400)
                .session_update_age(86_400)
                .build()
                .unwrap(),
        )
    }

    fn found(expires: OffsetDateTime) -> Outcome {
        Outcome::Store(Ok(StoreReply::MaybeSessionAndUser(Some((
            Session {
                session_token: SecretString::new("tok"),
                user_id: "1".into(),
                expires,
                access_token: SecretString::new("acc"),
            },
            User {
                id: "1".into(),
                name: Some("Jane".into()),
                email: None,
                email_verified: None,
                image: None,
            },
        )))))
    }

    fn read(engine: &Engine, mut answer: impl FnMut(&Effect) -> Outcome) -> Record {
        let request = http::Request::get("/api/auth/session")
            .header("cookie", "__Secure-next-auth.session-token=tok")
            .body(Bytes::new())
            .unwrap();
        drive(engine, request, 8, |e| answer(e))
    }

    #[test]
    fn fresh_session_is_served_without_a_write() {
        let record = read(&engine(HookSet::default()), |effect| match effect {
            Effect::Store(StoreOp::GetSessionAndUser(token)) if token.expose() == "tok" => {
                found(NOW + time::Duration::days(30))
            }
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(
            record.effects.len(),
            1,
            "exactly one store operation per read"
        );
        insta::assert_yaml_snapshot!("db_session_fresh", record);
    }

    #[test]
    fn session_due_for_extension_is_written_once() {
        let record = read(
            &engine(HookSet {
                session: true,
                events: true,
                ..HookSet::default()
            }),
            |effect| match effect {
                Effect::Store(StoreOp::GetSessionAndUser(_)) => {
                    found(NOW + time::Duration::days(28))
                }
                Effect::Store(StoreOp::UpdateSessionExpiry { expires, .. }) => {
                    assert_eq!(*expires, NOW + time::Duration::days(30));
                    Outcome::Store(Ok(StoreReply::Done))
                }
                Effect::Hook(HookCall::Session { session, token }) => {
                    assert_eq!(token["id"], json!("1"));
                    Outcome::Session(Ok(session.clone()))
                }
                Effect::Event(_) => Outcome::Notified,
                other => panic!("unexpected {other:?}"),
            },
        );
        insta::assert_yaml_snapshot!("db_session_extended", record);
    }

    #[test]
    fn expired_session_is_deleted_and_cleared() {
        let record = read(&engine(HookSet::default()), |effect| match effect {
            Effect::Store(StoreOp::GetSessionAndUser(_)) => found(NOW),
            Effect::Store(StoreOp::DeleteSession(token)) if token.expose() == "tok" => {
                Outcome::Store(Ok(StoreReply::Done))
            }
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(record.body, "{}");
        assert!(record
            .headers
            .iter()
            .any(|(k, v)| k == "set-cookie" && v.contains("Max-Age=0")));
    }

    #[test]
    fn unknown_session_is_cleared_and_store_failure_keeps_the_cookie() {
        let unknown = read(&engine(HookSet::default()), |_| {
            Outcome::Store(Ok(StoreReply::MaybeSessionAndUser(None)))
        });
        assert_eq!(unknown.body, "{}");
        assert!(unknown
            .headers
            .iter()
            .any(|(k, v)| k == "set-cookie" && v.contains("Max-Age=0")));
        let failed = read(&engine(HookSet::default()), |_| {
            Outcome::Store(Err(StoreError::Backend("down".into())))
        });
        assert_eq!((failed.status, failed.body.as_str()), (200, "{}"));
        assert!(!failed
            .headers
            .iter()
            .any(|(k, v)| k == "set-cookie" && v.contains("session-token")));
    }

    #[test]
    fn sign_out_deletes_the_row() {
        let engine = engine(HookSet {
            events: true,
            ..HookSet::default()
        });
        let (token, csrf_cookie) = csrf(&engine);
        let request = http::Request::post("/api/auth/signout")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "cookie",
                format!("{csrf_cookie}; __Secure-next-auth.session-token=tok"),
            )
            .body(Bytes::from(format!("csrfToken={token}&json=true")))
            .unwrap();
        let mut deleted = false;
        let record = drive(&engine, request, 9, |effect| match effect {
            Effect::Store(StoreOp::GetSessionAndUser(_)) => found(NOW + time::Duration::days(3)),
            Effect::Store(StoreOp::DeleteSession(t)) if t.expose() == "tok" => {
                deleted = true;
                Outcome::Store(Ok(StoreReply::Done))
            }
            Effect::Event(portcullis_domain::AuthEvent::SignOut {
                session: Some(s), ..
            }) => {
                assert_eq!(s.user_id, "1");
                Outcome::Notified
            }
            other => panic!("unexpected {other:?}"),
        });
        assert!(deleted);
        insta::assert_yaml_snapshot!("db_sign_out", record);
    }
}
