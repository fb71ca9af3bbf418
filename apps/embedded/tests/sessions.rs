#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Database sessions from the embedded API: sign in by e-mail on a real (sled) store, list
//! the user's sessions, revoke one, revoke all.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use portcullis::{Portcullis, SessionStrategy, VerificationSender};
use portcullis_domain::mail::VerificationRequest;
use portcullis_store_sled::SledStore;
use serde_json::Value;

#[derive(Default)]
struct Outbox(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl VerificationSender for Outbox {
    async fn send_verification_request(&self, request: &VerificationRequest) -> Result<(), String> {
        self.0.lock().unwrap().push(request.url.clone());
        Ok(())
    }
}

fn cookies(res: &http::Response<String>) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

async fn sign_in(app: &Portcullis, outbox: &Outbox) -> String {
    let res = app
        .handle(
            http::Request::get("/api/auth/csrf")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    let token = serde_json::from_str::<Value>(res.body()).unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let jar = cookies(&res).join("; ");
    let res = app
        .handle(
            http::Request::post("/api/auth/signin/email")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &jar)
                .body(Bytes::from(format!(
                    "csrfToken={token}&email=jane%40example.com"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(
        res.headers()["location"],
        "http://localhost:3000/api/auth/verify-request?provider=email&type=email"
    );
    let link = outbox.0.lock().unwrap().pop().unwrap();
    let path = link
        .strip_prefix("http://localhost:3000")
        .unwrap()
        .to_owned();
    let res = app
        .handle(
            http::Request::get(path.as_str())
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), 302, "{:?}", res.headers());
    let session = cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("next-auth.session-token="))
        .unwrap();
    // The link is single use.
    let again = app
        .handle(
            http::Request::get(path.as_str())
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(
        again.headers()["location"],
        "http://localhost:3000/api/auth/error?error=Verification"
    );
    session
}

#[tokio::test]
async fn list_and_revoke_database_sessions() {
    let outbox = Arc::new(Outbox::default());
    let store = Arc::new(SledStore::temporary().unwrap());
    let app = Portcullis::builder()
        .secret("embedded-sessions-secret-0123456789abcdef")
        .store(store.clone())
        .configure(|c| c.session_strategy(SessionStrategy::Database))
        .email("email", "Email", 600)
        .verification_sender(outbox.clone())
        .build()
        .unwrap();
    let first = sign_in(&app, &outbox).await;
    let second = sign_in(&app, &outbox).await;
    let mut headers = http::HeaderMap::new();
    headers.insert("cookie", first.parse().unwrap());
    let session = app.session(&headers).await.unwrap();
    assert_eq!(session["user"]["email"], "jane@example.com");

    use portcullis::Store;
    let user = store
        .get_user_by_email("jane@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(
        user.email_verified.is_some(),
        "the link verified the address"
    );
    let user_id = user.id.as_str();
    let listed = app.sessions(user_id).await.unwrap();
    assert_eq!(listed.len(), 2);
    let first_token = first.split_once('=').unwrap().1;
    app.revoke_session(first_token).await.unwrap();
    assert!(
        app.session(&headers).await.is_none(),
        "a revoked session reads as none"
    );
    assert_eq!(app.revoke_all_sessions(user_id).await.unwrap(), 1);
    headers.insert("cookie", second.parse().unwrap());
    assert!(app.session(&headers).await.is_none());
}

/// Data at rest (issue 11 §7), end to end on a real store: the sessions table holds the
/// SHA-256 of the cookie, never the cookie; someone who reads the table and presents a
/// stored key as a cookie gets no session (and the row survives); a raw row as NextAuth v3
/// wrote it still reads.
#[tokio::test]
async fn database_sessions_are_stored_hashed_and_a_stored_key_is_no_cookie() {
    use portcullis::Store;
    use sha2::Digest;

    let outbox = Arc::new(Outbox::default());
    let store = Arc::new(SledStore::temporary().unwrap());
    let app = Portcullis::builder()
        .secret("embedded-sessions-secret-0123456789abcdef")
        .store(store.clone())
        .configure(|c| c.session_strategy(SessionStrategy::Database))
        .email("email", "Email", 600)
        .verification_sender(outbox.clone())
        .build()
        .unwrap();
    let cookie = sign_in(&app, &outbox).await;
    let token = cookie.split_once('=').unwrap().1.to_owned();
    let user = store
        .get_user_by_email("jane@example.com")
        .await
        .unwrap()
        .unwrap();
    let rows = store.list_sessions(&user.id).await.unwrap();
    assert_eq!(rows.len(), 1);
    let stored = rows[0].session_token.expose().to_owned();
    assert_ne!(stored, token, "the store must not hold the cookie");
    assert_eq!(
        stored,
        format!("sha256:{:x}", sha2::Sha256::digest(token.as_bytes()))
    );

    // The attack: a database reader presents the stored key as the cookie.
    let mut stolen = http::HeaderMap::new();
    stolen.insert(
        "cookie",
        format!("next-auth.session-token={stored}").parse().unwrap(),
    );
    assert!(
        app.session(&stolen).await.is_none(),
        "a stored key must never read as a session"
    );
    assert_eq!(store.list_sessions(&user.id).await.unwrap().len(), 1);

    // The real cookie reads.
    let mut headers = http::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    assert_eq!(
        app.session(&headers).await.unwrap()["user"]["email"],
        "jane@example.com"
    );

    // A row NextAuth v3 wrote (the token itself) still reads, in the same lookup.
    let v3_token = "a".repeat(64);
    let mut v3_row = rows[0].clone();
    v3_row.session_token = v3_token.as_str().into();
    v3_row.access_token = "b".repeat(64).as_str().into();
    store.create_session(v3_row).await.unwrap();
    let mut v3 = http::HeaderMap::new();
    v3.insert(
        "cookie",
        format!("next-auth.session-token={v3_token}")
            .parse()
            .unwrap(),
    );
    assert_eq!(
        app.session(&v3).await.unwrap()["user"]["email"],
        "jane@example.com"
    );

    // Revoking by the cookie ends the hashed session.
    app.revoke_session(&token).await.unwrap();
    assert!(app.session(&headers).await.is_none());
}

/// A clock the test moves.
struct TestClock(Mutex<time::OffsetDateTime>);

impl portcullis::Clock for TestClock {
    fn now(&self) -> time::OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// The typed read (`read_session`, the axum extractor's) of a database session: the
/// route's lifetimes, the row extended once due and deleted once expired, no request run
/// through the engine.
#[tokio::test]
async fn typed_read_of_a_database_session_extends_and_expires_it_as_the_route_does() {
    let outbox = Arc::new(Outbox::default());
    let store = Arc::new(SledStore::temporary().unwrap());
    let start = time::macros::datetime!(2026-03-01 12:00 UTC);
    let clock = Arc::new(TestClock(Mutex::new(start)));
    let app = Portcullis::builder()
        .secret("embedded-sessions-secret-0123456789abcdef")
        .store(store.clone())
        .clock(clock.clone())
        .configure(|c| c.session_strategy(SessionStrategy::Database))
        .email("email", "Email", 600)
        .verification_sender(outbox.clone())
        .build()
        .unwrap();
    let cookie = sign_in(&app, &outbox).await;
    let mut headers = http::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    let day = time::Duration::days(1);

    let session = app.read_session(&headers).await.unwrap().unwrap();
    assert_eq!(session.user.email.as_deref(), Some("jane@example.com"));
    assert_eq!(session.expires, start + 30 * day);
    let json = app.session(&headers).await.unwrap();
    assert_eq!(json["user"]["email"], "jane@example.com");
    assert_eq!(json["expires"], "2026-03-31T12:00:00.000Z");

    // Two days on: due (updateAge is a day), so the row moves to 30 days from now.
    *clock.0.lock().unwrap() = start + 2 * day;
    let session = app.read_session(&headers).await.unwrap().unwrap();
    assert_eq!(session.expires, start + 32 * day);
    let rows = app.sessions(&session.user.id).await.unwrap();
    assert_eq!(rows[0].expires, start + 32 * day);

    // Past that: no session, and the row is gone.
    *clock.0.lock().unwrap() = start + 33 * day;
    assert_eq!(app.read_session(&headers).await.unwrap(), None);
    assert!(app.sessions(&session.user.id).await.unwrap().is_empty());

    // No cookie, or a stored key's shape presented as a cookie: no session, no lookup.
    assert_eq!(
        app.read_session(&http::HeaderMap::new()).await.unwrap(),
        None
    );
    headers.insert(
        "cookie",
        "next-auth.session-token=sha256:00".parse().unwrap(),
    );
    assert_eq!(app.read_session(&headers).await.unwrap(), None);
}
