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

const SECRET: &str = "flow-test-secret-7Hq2xWm9Rk4vTz8Lp3Nc6Bj";
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
        client_ip: None,
    }
}

/// What a request did: each effect (as debug text), the final response, the transitions.
#[derive(serde::Serialize)]
struct Record {
    effects: Vec<String>,
    /// The events drained for the listeners once the run was done.
    events: Vec<String>,
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
            // Credentials attempts are throttled: these tests stay within the limits.
            Step::Effect(Effect::Throttle(check)) if check.key.starts_with("credentials:") => {
                effects.push(format!("{:?}", Effect::Throttle(check)));
                run.resume(Outcome::Throttle(true));
            }
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
        events: run
            .take_events()
            .iter()
            .map(|event| format!("{event:?}"))
            .collect(),
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

/// Issue 11 §5: every identifying field the backend may read is limited, so a second field
/// cannot bypass the limit of the first.
#[test]
fn credentials_limits_count_username_and_email() {
    let engine = engine(HookSet::default());
    let (token, cookie) = csrf(&engine);
    let request = http::Request::post("/api/auth/callback/credentials")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(Bytes::from(format!(
            "csrfToken={token}&username=random-1&email=Victim%40Example.com&password=pw&json=true"
        )))
        .unwrap();
    let record = drive(&engine, request, 2, |effect| match effect {
        Effect::Authorize(_) => Outcome::Authorized(Ok(None)),
        other => panic!("unexpected {other:?}"),
    });
    let keys: Vec<&String> = record
        .effects
        .iter()
        .filter(|e| e.starts_with("Throttle"))
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys[0].contains("\"credentials:credentials:id:random-1\""),
        "{keys:?}"
    );
    assert!(
        keys[1].contains("\"credentials:credentials:id:victim@example.com\""),
        "{keys:?}"
    );
}

/// Issue 11 §5: redeeming links is throttled per client IP, before the store is asked.
#[test]
fn link_redemption_is_throttled_per_ip() {
    let engine = Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret(SECRET)
            .store(true)
            .provider(Provider::email("email", "Email", 600))
            .build()
            .unwrap(),
    );
    let request =
        http::Request::get("/api/auth/callback/email?email=jane%40example.com&token=guess")
            .body(Bytes::new())
            .unwrap();
    let mut env = env(3);
    env.client_ip = Some("203.0.113.9".parse().unwrap());
    let mut run = engine.begin(&request, env);
    let response = loop {
        match run.step() {
            Step::Done(response) => break response,
            Step::Effect(Effect::Throttle(check)) => {
                assert_eq!(check.key, "email-callback:email:ip:203.0.113.9");
                run.resume(Outcome::Throttle(false));
            }
            Step::Effect(other) => panic!("over the limit, yet {other:?}"),
        }
    };
    assert!(run.fault().is_none(), "{:?}", run.fault());
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=Verification"), "{location}");
}

#[test]
fn credentials_sign_in_with_every_hook() {
    let all = HookSet {
        sign_in: true,
        jwt: true,
        session: true,
        events: true,
        redirect: false,
        jwt_on_read: true,
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
        redirect: false,
        jwt_on_read: true,
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
        |effect| panic!("unexpected {effect:?}"),
    );
    assert!(
        signed_out.events.len() == 1 && signed_out.events[0].contains("\"sub\": String(\"u1\")"),
        "{:?}",
        signed_out.events
    );
    insta::assert_yaml_snapshot!("sign_out", signed_out);
}

#[test]
fn jwt_runs_at_sign_in_only_when_not_on_read() {
    let engine = engine(HookSet {
        jwt: true,
        jwt_on_read: false,
        ..HookSet::default()
    });
    let mut jwt_calls = 0;
    let signed_in = drive(
        &engine,
        sign_in_request(&engine, true),
        4,
        |effect| match effect {
            Effect::Authorize(_) => {
                Outcome::Authorized(Ok(Some(json!({"id": "u1", "name": "Jane"}))))
            }
            Effect::Hook(HookCall::Jwt { token, .. }) => {
                jwt_calls += 1;
                let mut token = token.clone();
                token.insert("role".into(), json!("admin"));
                Outcome::Token(Ok(token))
            }
            other => panic!("unexpected {other:?}"),
        },
    );
    assert_eq!(jwt_calls, 1);
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
    // The read asks no hook: the claims the jwt hook shaped at sign-in are served.
    let read = drive(
        &engine,
        http::Request::get("/api/auth/session")
            .header("cookie", &session_cookie)
            .body(Bytes::new())
            .unwrap(),
        5,
        |effect| panic!("unexpected {effect:?}"),
    );
    assert_eq!(read.status, 200);
    assert!(read.body.contains("Jane"), "{}", read.body);
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
    use portcullis_domain::session_key::hashed_key;
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
                created: None,
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
            Effect::Store(StoreOp::GetSessionAndUser(keys))
                if keys.exposed() == [hashed_key("tok").as_str(), "tok"] =>
            {
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
                other => panic!("unexpected {other:?}"),
            },
        );
        insta::assert_yaml_snapshot!("db_session_extended", record);
    }

    #[test]
    fn expired_session_is_deleted_and_cleared() {
        let record = read(&engine(HookSet::default()), |effect| match effect {
            Effect::Store(StoreOp::GetSessionAndUser(_)) => found(NOW),
            // By the key that matched (the row `found` gives is a raw v3 row).
            Effect::Store(StoreOp::DeleteSession(keys)) if keys.exposed() == ["tok"] => {
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
            Effect::Store(StoreOp::DeleteSession(keys)) if keys.exposed() == ["tok"] => {
                deleted = true;
                Outcome::Store(Ok(StoreReply::Done))
            }
            other => panic!("unexpected {other:?}"),
        });
        assert!(deleted);
        assert!(
            record.events.len() == 1 && record.events[0].contains("user_id: \"1\""),
            "{:?}",
            record.events
        );
        insta::assert_yaml_snapshot!("db_sign_out", record);
    }
}

mod sessions_at_rest {
    //! Issue 11 §7: database session tokens are stored as `sha256:<hex>`; a stored key is
    //! never a cookie.
    use super::*;
    use portcullis_domain::model::{Session, User};
    use portcullis_domain::secret::SecretString;
    use portcullis_domain::session_key::hashed_key;
    use portcullis_domain::store::{StoreOp, StoreReply};
    use portcullis_domain::SessionStrategy;

    const COOKIE: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    fn engine() -> Engine {
        Engine::new(
            Config::builder()
                .url("https://example.com/api/auth")
                .secret(SECRET)
                .hooks(HookSet::default())
                .session_strategy(SessionStrategy::Database)
                .build()
                .unwrap(),
        )
    }

    fn read(engine: &Engine, cookie: &str, answer: impl FnMut(&Effect) -> Outcome) -> Record {
        let request = http::Request::get("/api/auth/session")
            .header(
                "cookie",
                format!("__Secure-next-auth.session-token={cookie}"),
            )
            .body(Bytes::new())
            .unwrap();
        drive(engine, request, 8, answer)
    }

    /// A reader of the sessions table copies a stored key into a cookie. It is refused
    /// before any lookup, so the raw arm of the lookup can never match a hashed row.
    #[test]
    fn a_stored_key_presented_as_a_cookie_is_never_looked_up() {
        let engine = engine();
        let stored = hashed_key(COOKIE);
        let record = read(&engine, &stored, |effect| {
            panic!("a stored key must not reach the store: {effect:?}")
        });
        assert_eq!(record.body, "{}");
        assert!(record
            .headers
            .iter()
            .any(|(k, v)| k == "set-cookie" && v.contains("Max-Age=0")));

        let (token, csrf_cookie) = csrf(&engine);
        let request = http::Request::post("/api/auth/signout")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "cookie",
                format!("{csrf_cookie}; __Secure-next-auth.session-token={stored}"),
            )
            .body(Bytes::from(format!("csrfToken={token}&json=true")))
            .unwrap();
        let signed_out = drive(&engine, request, 9, |effect| {
            panic!("sign-out with a stored key must not reach the store: {effect:?}")
        });
        assert_eq!(signed_out.status, 200);
    }

    /// The lookup asks for both candidates of the cookie at once; the extension is written
    /// under the key the store says matched (here: a hashed row).
    #[test]
    fn a_hashed_row_is_found_and_extended_by_its_stored_key() {
        let stored = hashed_key(COOKIE);
        let mut updated = None;
        let record = read(&engine(), COOKIE, |effect| match effect {
            Effect::Store(StoreOp::GetSessionAndUser(keys)) => {
                assert_eq!(keys.exposed(), [stored.as_str(), COOKIE]);
                Outcome::Store(Ok(StoreReply::MaybeSessionAndUser(Some((
                    Session {
                        session_token: SecretString::new(stored.clone()),
                        user_id: "1".into(),
                        expires: NOW + time::Duration::days(2),
                        access_token: SecretString::new("acc"),
                        created: None,
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
            Effect::Store(StoreOp::UpdateSessionExpiry { session_token, .. }) => {
                updated = Some(session_token.expose().to_owned());
                Outcome::Store(Ok(StoreReply::Done))
            }
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(updated.as_deref(), Some(stored.as_str()));
        assert_eq!(
            serde_json::from_str::<Value>(&record.body).unwrap()["user"]["name"],
            "Jane"
        );
        let set_cookie = record
            .headers
            .iter()
            .find(|(k, v)| k == "set-cookie" && v.contains("session-token="))
            .unwrap();
        assert!(
            set_cookie.1.contains(&format!("session-token={COOKIE};")),
            "the browser keeps its token, never the stored key: {}",
            set_cookie.1
        );
    }

    /// Signs a new user in by e-mail link; returns the stored key and the cookie's value.
    fn new_session(engine: &Engine) -> (String, String) {
        let mut stored = None;
        let record = {
            let request =
                http::Request::get("/api/auth/callback/email?email=jane%40example.com&token=abc")
                    .body(Bytes::new())
                    .unwrap();
            drive(engine, request, 11, |effect| match effect {
                Effect::Store(StoreOp::UseVerificationToken { identifier, .. }) => {
                    Outcome::Store(Ok(StoreReply::MaybeVerificationToken(Some(
                        portcullis_domain::model::VerificationToken {
                            identifier: identifier.clone(),
                            token_hash: "h".into(),
                            expires: NOW + time::Duration::seconds(60),
                        },
                    ))))
                }
                Effect::Store(StoreOp::GetUserByEmail(_)) => {
                    Outcome::Store(Ok(StoreReply::MaybeUser(None)))
                }
                Effect::Store(StoreOp::CreateUser(new)) => {
                    Outcome::Store(Ok(StoreReply::User(new.clone().with_id("9"))))
                }
                Effect::Store(StoreOp::CreateSession(session)) => {
                    stored = Some(session.session_token.expose().to_owned());
                    Outcome::Store(Ok(StoreReply::Session(session.clone())))
                }
                Effect::Throttle(_) => Outcome::Throttle(true),
                other => panic!("unexpected {other:?}"),
            })
        };
        let cookie = record
            .headers
            .iter()
            .find_map(|(k, v)| {
                (k == "set-cookie")
                    .then(|| v.strip_prefix("__Secure-next-auth.session-token="))
                    .flatten()
            })
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_owned();
        (stored.unwrap(), cookie)
    }

    fn email_engine(
        storage: Option<portcullis_domain::session_key::SessionTokenStorage>,
    ) -> Engine {
        let mut config = Config::builder()
            .url("https://example.com/api/auth")
            .secret(SECRET)
            .store(true)
            .session_strategy(SessionStrategy::Database)
            .provider(Provider::email("email", "Email", 600));
        if let Some(storage) = storage {
            config = config.session_token_storage(storage);
        }
        Engine::new(config.build().unwrap())
    }

    #[test]
    fn a_new_session_is_stored_as_the_sha256_of_its_cookie() {
        let (stored, cookie) = new_session(&email_engine(None));
        assert_eq!(cookie.len(), 64, "the cookie is v3's shape: {cookie}");
        assert!(cookie.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(stored, hashed_key(&cookie));
        assert_ne!(stored, cookie);
    }

    /// For a database NextAuth v3 still serves: v3 reads the token itself.
    #[test]
    fn raw_storage_keeps_the_token_as_v3_does() {
        let (stored, cookie) = new_session(&email_engine(Some(
            portcullis_domain::session_key::SessionTokenStorage::Raw,
        )));
        assert_eq!(stored, cookie);
    }
}

mod email {
    use super::*;
    use portcullis_domain::effect::ThrottleCheck;
    use portcullis_domain::model::{Session, User, VerificationToken};
    use portcullis_domain::store::{StoreOp, StoreReply};
    use portcullis_domain::SessionStrategy;

    fn engine(strategy: SessionStrategy, store: bool) -> Engine {
        Engine::new(
            Config::builder()
                .url("https://example.com/api/auth")
                .secret(SECRET)
                .store(store)
                .session_strategy(strategy)
                .provider(Provider::email("email", "Email", 600))
                .build()
                .unwrap(),
        )
    }

    fn request_link(
        engine: &Engine,
        email: &str,
        answer: impl FnMut(&Effect) -> Outcome,
    ) -> Record {
        let (token, cookie) = csrf(engine);
        let body = format!(
            "csrfToken={token}&email={}&json=true",
            form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>()
        );
        let request = http::Request::post("/api/auth/signin/email")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .body(Bytes::from(body))
            .unwrap();
        drive(engine, request, 10, answer)
    }

    /// Answers a link request; `known`: whether the address has a user; `allowed`: throttle.
    fn link_answers<'a>(
        known: bool,
        allowed: bool,
        sent: &'a mut Vec<String>,
        stored: &'a mut Vec<VerificationToken>,
    ) -> impl FnMut(&Effect) -> Outcome + 'a {
        move |effect| match effect {
            Effect::Throttle(ThrottleCheck { key, .. }) => {
                assert_eq!(key, "email:id:jane@example.com");
                Outcome::Throttle(allowed)
            }
            Effect::Store(StoreOp::GetUserByEmail(email)) => {
                assert_eq!(email, "jane@example.com");
                Outcome::Store(Ok(StoreReply::MaybeUser(known.then(|| User {
                    id: "1".into(),
                    name: None,
                    email: Some(email.clone()),
                    email_verified: None,
                    image: None,
                }))))
            }
            Effect::Store(StoreOp::CreateVerificationToken(row)) => {
                stored.push(row.clone());
                Outcome::Store(Ok(StoreReply::Done))
            }
            Effect::SendVerification(request) => {
                sent.push(request.url.clone());
                assert_eq!(request.identifier, "jane@example.com");
                Outcome::Sent(Ok(()))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn link_request_answers_the_same_for_known_unknown_and_throttled() {
        let engine = engine(SessionStrategy::Jwt, true);
        let (mut sent, mut stored) = (Vec::new(), Vec::new());
        let known = request_link(
            &engine,
            "  Jane@Example.COM ",
            link_answers(true, true, &mut sent, &mut stored),
        );
        let unknown = request_link(
            &engine,
            "jane@example.com",
            link_answers(false, true, &mut sent, &mut stored),
        );
        let mut no_mail = Vec::new();
        let throttled = request_link(
            &engine,
            "jane@example.com",
            link_answers(false, false, &mut no_mail, &mut stored),
        );
        for record in [&known, &unknown, &throttled] {
            assert_eq!(record.status, 200);
            assert_eq!(
                record.body,
                r#"{"url":"https://example.com/api/auth/verify-request?provider=email&type=email"}"#
            );
        }
        assert_eq!(sent.len(), 2);
        assert!(no_mail.is_empty(), "a throttled request sends nothing");
        // The stored row holds only the hash of the link's token.
        let token = sent[0].split("token=").nth(1).unwrap();
        assert_eq!(stored[0].identifier, "jane@example.com");
        assert_eq!(
            stored[0].token_hash,
            portcullis_domain::secret::hash_with_secret(token, &SECRET.into())
        );
        assert_ne!(stored[0].token_hash, token);
        assert_eq!(stored[0].expires, NOW + time::Duration::seconds(600));
        assert!(sent[0].starts_with(
            "https://example.com/api/auth/callback/email?email=jane%40example.com&token="
        ));
        insta::assert_yaml_snapshot!("email_link_requested", known.transitions);
    }

    #[test]
    fn refused_addresses_and_missing_store() {
        let engine = engine(SessionStrategy::Jwt, true);
        for bad in [
            "jane@example.com, evil@example.net",
            "\"e@attacker.tld\"@victim.tld",
            "Jane <jane@example.com>",
            "",
        ] {
            let record = request_link(&engine, bad, |e| {
                panic!("no effect expected for {bad:?}: {e:?}")
            });
            assert!(
                record.body.contains("error=EmailInvalid&reason="),
                "{bad:?}: {}",
                record.body
            );
        }
        let no_store = request_link(
            &super::email::engine(SessionStrategy::Jwt, false),
            "jane@example.com",
            |e| panic!("{e:?}"),
        );
        assert_eq!(
            (no_store.status, no_store.body.as_str()),
            (
                500,
                r#"{"url":"https://example.com/api/auth/error?error=Configuration"}"#
            )
        );
    }

    fn redeem(
        engine: &Engine,
        query: &str,
        cookie: Option<&str>,
        answer: impl FnMut(&Effect) -> Outcome,
    ) -> Record {
        let mut request = http::Request::get(format!("/api/auth/callback/email?{query}"));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        drive(engine, request.body(Bytes::new()).unwrap(), 11, answer)
    }

    fn row(expires: OffsetDateTime) -> Outcome {
        Outcome::Store(Ok(StoreReply::MaybeVerificationToken(Some(
            VerificationToken {
                identifier: "jane@example.com".into(),
                token_hash: "h".into(),
                expires,
            },
        ))))
    }

    #[test]
    fn a_link_signs_a_new_user_in_with_a_database_session() {
        let engine = engine(SessionStrategy::Database, true);
        let record = redeem(
            &engine,
            "email=jane%40example.com&token=abc",
            Some("__Secure-next-auth.session-token=old"),
            |effect| match effect {
                Effect::Store(StoreOp::UseVerificationToken {
                    identifier,
                    token_hash,
                }) => {
                    assert_eq!(identifier, "jane@example.com");
                    assert_eq!(
                        token_hash,
                        &portcullis_domain::secret::hash_with_secret("abc", &SECRET.into())
                    );
                    row(NOW + time::Duration::seconds(1))
                }
                Effect::Store(StoreOp::GetUserByEmail(_)) => {
                    Outcome::Store(Ok(StoreReply::MaybeUser(None)))
                }
                Effect::Store(StoreOp::CreateUser(new)) => {
                    assert_eq!(new.email_verified, Some(NOW));
                    Outcome::Store(Ok(StoreReply::User(new.clone().with_id("9"))))
                }
                Effect::Store(StoreOp::DeleteSession(old)) => {
                    assert_eq!(
                        old.exposed(),
                        [
                            portcullis_domain::session_key::hashed_key("old").as_str(),
                            "old"
                        ],
                        "the session the browser had is replaced, stored hashed or raw"
                    );
                    Outcome::Store(Ok(StoreReply::Done))
                }
                Effect::Store(StoreOp::CreateSession(session)) => {
                    assert_eq!(session.user_id, "9");
                    assert!(
                        session.session_token.expose().starts_with("sha256:"),
                        "a new session is stored as the SHA-256 of its token"
                    );
                    Outcome::Store(Ok(StoreReply::Session(Session { ..session.clone() })))
                }
                other => panic!("unexpected {other:?}"),
            },
        );
        assert_eq!(record.status, 302);
        insta::assert_yaml_snapshot!("email_new_user_database_session", record);
    }

    #[test]
    fn expired_unknown_and_malformed_links_are_refused() {
        let engine = engine(SessionStrategy::Jwt, true);
        let verification = "https://example.com/api/auth/error?error=Verification";
        let expired = redeem(&engine, "email=jane%40example.com&token=abc", None, |_| {
            row(NOW)
        });
        let unknown = redeem(&engine, "email=jane%40example.com&token=abc", None, |_| {
            Outcome::Store(Ok(StoreReply::MaybeVerificationToken(None)))
        });
        let malformed = redeem(&engine, "email=a,b%40example.com&token=abc", None, |e| {
            panic!("{e:?}")
        });
        let missing = redeem(&engine, "email=jane%40example.com", None, |e| {
            panic!("{e:?}")
        });
        for record in [expired, unknown, malformed, missing] {
            let location = record
                .headers
                .iter()
                .find(|(k, _)| k == "location")
                .unwrap()
                .1
                .clone();
            assert_eq!(location, verification);
        }
    }
}

/// v3's `callbacks.redirect` as a hook: asked only about a `callbackUrl` given on the
/// request, its answer held to the redirect policy, the base URL when it fails.
mod redirect_hook {
    use super::*;
    use portcullis_domain::redirect::AllowedOrigins;
    use std::sync::Arc;

    const BASE: &str = "https://example.com";

    fn engine() -> Engine {
        Engine::new(
            Config::builder()
                .url("https://example.com/api/auth")
                .secret(SECRET)
                .hooks(HookSet {
                    redirect: true,
                    ..HookSet::default()
                })
                .redirect_policy(Arc::new(
                    AllowedOrigins::parse(&["https://app.example.org"]).unwrap(),
                ))
                .provider(Provider::credentials(
                    "credentials",
                    "Credentials",
                    vec![CredentialField::new("username", "Username", "text")],
                ))
                .build()
                .unwrap(),
        )
    }

    fn header<'a>(record: &'a Record, name: &str) -> Vec<&'a str> {
        record
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The callback-url cookie the response set (decoded), if any.
    fn callback_cookie(record: &Record) -> Option<String> {
        header(record, "set-cookie").into_iter().find_map(|c| {
            let (name, rest) = c.split_once('=')?;
            name.ends_with("callback-url").then(|| {
                let value = rest.split(';').next().unwrap_or_default();
                percent_decode(value)
            })
        })
    }

    fn percent_decode(value: &str) -> String {
        let bytes = value.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                out.push(u8::from_str_radix(&value[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// `GET /signin?callbackUrl=<requested>` with the hook answering `answer`: the effects
    /// it asked and the callback URL the response remembered.
    fn page(requested: &str, answer: Result<&str, HookFailure>) -> (Vec<String>, Option<String>) {
        let target = format!(
            "/api/auth/signin?callbackUrl={}",
            portcullis_domain::cookies::encode_uri_component(requested)
        );
        let request = http::Request::get(target).body(Bytes::new()).unwrap();
        let record = drive(&engine(), request, 3, |effect| match effect {
            Effect::Hook(HookCall::Redirect { url, base_url }) => {
                assert_eq!(url, requested);
                assert_eq!(base_url, BASE);
                Outcome::Redirect(answer.clone().map(str::to_owned))
            }
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(record.status, 200);
        (record.effects.clone(), callback_cookie(&record))
    }

    #[test]
    fn the_answer_is_followed_within_the_policy() {
        let cases: &[(&str, &str, &str)] = &[
            ("/dash", "/welcome", "https://example.com/welcome"),
            (
                "/dash",
                "https://app.example.org/in",
                "https://app.example.org/in",
            ),
            (
                "https://app.example.org/a",
                "/narrowed",
                "https://example.com/narrowed",
            ),
            ("/dash", BASE, BASE),
            // Never wider than the configured origins.
            ("/dash", "https://evil.example/", BASE),
            ("/dash", "//evil.example", BASE),
            ("/dash", "https://app.example.org.evil.net/", BASE),
            ("/dash", "", BASE),
        ];
        for (requested, answer, expected) in cases {
            let (effects, cookie) = page(requested, Ok(answer));
            assert_eq!(effects.len(), 1, "one hook call for {requested:?}");
            assert_eq!(
                cookie.as_deref(),
                Some(*expected),
                "{requested:?} answered {answer:?}"
            );
        }
    }

    #[test]
    fn a_failed_hook_leaves_the_base_url() {
        for failure in [
            HookFailure::Error("Callback".into()),
            HookFailure::Redirect("https://evil.example/".into()),
            HookFailure::NotConfigured,
        ] {
            let (_, cookie) = page("https://app.example.org/a", Err(failure.clone()));
            assert_eq!(cookie.as_deref(), Some(BASE), "{failure:?}");
        }
    }

    #[test]
    fn no_call_without_a_callback_url_parameter() {
        let from_cookie = http::Request::get("/api/auth/signin")
            .header(
                "cookie",
                "__Secure-next-auth.callback-url=https%3A%2F%2Fapp.example.org%2Fa",
            )
            .body(Bytes::new())
            .unwrap();
        let record = drive(&engine(), from_cookie, 4, |e| panic!("no hook call: {e:?}"));
        assert_eq!(record.status, 200);
        assert!(record.transitions.iter().any(|t| t.contains("CookieGiven")));
        let none = http::Request::get("/api/auth/session")
            .body(Bytes::new())
            .unwrap();
        let record = drive(&engine(), none, 5, |e| panic!("no hook call: {e:?}"));
        assert_eq!(record.body, "{}");
    }

    #[test]
    fn sign_in_goes_on_to_the_rewritten_url() {
        let engine = engine();
        let (token, cookie) = csrf(&engine);
        let request = http::Request::post("/api/auth/callback/credentials")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .body(Bytes::from(format!(
                "csrfToken={token}&username=jane&callbackUrl=%2Fdash&json=true"
            )))
            .unwrap();
        let record = drive(&engine, request, 6, |effect| match effect {
            Effect::Hook(HookCall::Redirect { .. }) => {
                Outcome::Redirect(Ok("https://app.example.org/welcome".into()))
            }
            Effect::Authorize(_) => Outcome::Authorized(Ok(Some(json!({"id": "1"})))),
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(record.status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&record.body).unwrap(),
            json!({"url": "https://app.example.org/welcome"})
        );
        assert!(
            record.effects[0].starts_with("Hook(Redirect"),
            "{:?}",
            record.effects
        );
        assert!(
            record
                .transitions
                .iter()
                .any(|t| t.starts_with("credentials:")),
            "{:?}",
            record.transitions
        );
        assert!(header(&record, "set-cookie")
            .iter()
            .any(|c| c.contains("session-token=")));
    }

    #[test]
    fn an_outcome_that_does_not_answer_the_hook_is_a_fault() {
        let request = http::Request::get("/api/auth/signin?callbackUrl=%2Fdash")
            .body(Bytes::new())
            .unwrap();
        let mut run = engine().begin(&request, env(7));
        assert!(matches!(
            run.step(),
            Step::Effect(Effect::Hook(HookCall::Redirect { .. }))
        ));
        run.resume(Outcome::Throttle(true));
        match run.step() {
            Step::Done(response) => assert_eq!(response.status(), 500),
            other => panic!("{other:?}"),
        }
        assert!(run.fault().is_some());
    }
}
