//! JWT sessions: a read through the `jwt` and `session` hooks, sign-out with its event, and
//! the `jwt` hook asked at sign-in only when it is not asked on reads.

use super::*;
use portcullis_domain::effect::HookCall;
use serde_json::json;

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
