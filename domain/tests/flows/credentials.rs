//! Credentials sign-in: the limits it counts, every hook it asks, a refusal by the `signIn` hook.

use super::*;
use portcullis_domain::effect::{HookCall, HookFailure, SignInDecision};
use serde_json::json;

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
