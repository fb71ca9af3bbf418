//! Database sessions: a read served, extended, expired or unknown, and sign-out deleting the row.

use super::*;
use portcullis_domain::effect::HookCall;
use portcullis_domain::model::{Session, User};
use portcullis_domain::secret::SecretString;
use portcullis_domain::session_key::hashed_key;
use portcullis_domain::store::{StoreError, StoreOp, StoreReply};
use portcullis_domain::SessionStrategy;
use serde_json::json;

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
            Effect::Store(StoreOp::GetSessionAndUser(_)) => found(NOW + time::Duration::days(28)),
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
    assert_eq!((failed.status, failed.body.as_str()), (503, "{}"));
    assert!(failed
        .headers
        .iter()
        .any(|(k, v)| k == "retry-after" && v == "1"));
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
