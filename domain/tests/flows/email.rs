//! E-mail sign-in: requesting a link, redeeming it (throttled per client IP), refusals.

use super::*;
use portcullis_domain::effect::ThrottleCheck;
use portcullis_domain::model::{Session, User, VerificationToken};
use portcullis_domain::store::{StoreOp, StoreReply};
use portcullis_domain::SessionStrategy;

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

fn request_link(engine: &Engine, email: &str, answer: impl FnMut(&Effect) -> Outcome) -> Record {
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
