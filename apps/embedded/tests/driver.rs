#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The embedded driver end to end: CSRF → credentials sign-in → session → sign-out.

use bytes::Bytes;
use portcullis::{CredentialField, Portcullis};
use serde_json::{json, Value};

const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

fn app() -> Portcullis {
    Portcullis::builder()
        .url("http://localhost:3000/api/auth")
        .secret(SECRET)
        .credentials(
            "credentials",
            "Credentials",
            vec![CredentialField::new("username", "Username", "text")],
            |c: serde_json::Map<String, Value>, _r| async move {
                Ok((c.get("password") == Some(&json!("pw")))
                    .then(|| json!({"id": 7, "name": "Jane", "email": "jane@example.com"})))
            },
        )
        .build()
        .unwrap()
}

fn cookie_pairs(res: &http::Response<String>) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn credentials_sign_in_session_and_sign_out() {
    let app = app();
    let res = app
        .handle(
            http::Request::get("/api/auth/csrf")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), 200);
    let token = serde_json::from_str::<Value>(res.body()).unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let jar = cookie_pairs(&res).join("; ");

    let body = format!("csrfToken={token}&username=jane&password=pw&json=true");
    let res = app
        .handle(
            http::Request::post("/api/auth/callback/credentials")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &jar)
                .body(Bytes::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.body());
    assert_eq!(res.body(), r#"{"url":"http://localhost:3000"}"#);
    let session_cookie = cookie_pairs(&res)
        .into_iter()
        .find(|c| c.starts_with("next-auth.session-token="))
        .unwrap();

    let mut headers = http::HeaderMap::new();
    headers.insert("cookie", session_cookie.parse().unwrap());
    let session = app.session(&headers).await.unwrap();
    assert_eq!(
        session["user"],
        json!({"name": "Jane", "email": "jane@example.com", "image": null})
    );
    let token_claims = app.get_token(&headers).await.unwrap();
    assert_eq!(token_claims["sub"], json!("7"));
    // The typed read: the same user, from the token itself.
    let typed = app.read_session(&headers).await.unwrap().unwrap();
    assert_eq!(typed.user.id, "7");
    assert_eq!(typed.user.name.as_deref(), Some("Jane"));
    assert_eq!(typed.user.email.as_deref(), Some("jane@example.com"));
    assert_eq!(typed.user.image, None);
    let mut tampered = http::HeaderMap::new();
    tampered.insert("cookie", format!("{session_cookie}x").parse().unwrap());
    assert_eq!(app.read_session(&tampered).await.unwrap(), None);
    assert_eq!(app.session(&tampered).await, None);

    let res = app
        .handle(
            http::Request::post("/api/auth/callback/credentials")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &jar)
                .body(Bytes::from(format!(
                    "csrfToken={token}&username=jane&password=no&json=true"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.body(),
        r#"{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"}"#
    );
}

/// Signs in as Jane; the session cookie (`name=value`) and the CSRF form token and jar.
async fn sign_in(app: &Portcullis) -> (String, String, String) {
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
    let jar = cookie_pairs(&res).join("; ");
    let res = app
        .handle(
            http::Request::post("/api/auth/callback/credentials")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &jar)
                .body(Bytes::from(format!(
                    "csrfToken={token}&username=jane&password=pw&json=true"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let session = cookie_pairs(&res)
        .into_iter()
        .find(|c| c.starts_with("next-auth.session-token="))
        .unwrap();
    (session, token, jar)
}

fn with_cookie(cookie: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    headers
}

/// Callbacks: `jwt` refuses banned users (on every read), `session` adds a field; events
/// are counted. Each is registered by being given.
#[derive(Default)]
struct Callbacks {
    banned: std::sync::atomic::AtomicBool,
    session_events: std::sync::atomic::AtomicUsize,
}

impl Callbacks {
    fn hooks(self: &std::sync::Arc<Self>) -> portcullis::Hooks {
        use std::sync::atomic::Ordering::SeqCst;
        let (jwt, events) = (self.clone(), self.clone());
        portcullis::Hooks::new()
            .on_jwt(move |call: portcullis::JwtCall| {
                let banned = jwt.banned.load(SeqCst);
                async move {
                    match banned {
                        true => Err(portcullis::HookFailure::Error("banned".into())),
                        false => Ok(call.token),
                    }
                }
            })
            .on_session(|mut session: Value, _token: Value| async move {
                session["role"] = json!("reader");
                Ok(session)
            })
            .on_event(move |event: portcullis::AuthEvent| {
                if matches!(event, portcullis::AuthEvent::Session { .. }) {
                    events.session_events.fetch_add(1, SeqCst);
                }
                async {}
            })
    }
}

/// The direct reads keep the route's callbacks: the `jwt` callback can end a session on
/// read (typed and JSON alike); `Portcullis::session` is shaped by the `session` callback
/// and tells the `session` event, the typed read does neither.
#[tokio::test]
async fn direct_session_reads_run_the_callbacks_as_the_route_does() {
    use std::sync::atomic::Ordering::SeqCst;
    let callbacks = std::sync::Arc::new(Callbacks::default());
    let app = Portcullis::builder()
        .url("http://localhost:3000/api/auth")
        .secret(SECRET)
        .hooks(callbacks.hooks())
        .credentials(
            "credentials",
            "Credentials",
            vec![CredentialField::new("username", "Username", "text")],
            |c: serde_json::Map<String, Value>, _r| async move {
                Ok((c.get("password") == Some(&json!("pw")))
                    .then(|| json!({"id": 7, "name": "Jane", "email": "jane@example.com"})))
            },
        )
        .build()
        .unwrap();
    let (cookie, _, _) = sign_in(&app).await;
    let headers = with_cookie(&cookie);
    let events = callbacks.session_events.load(SeqCst);

    let typed = app.read_session(&headers).await.unwrap().unwrap();
    assert_eq!(typed.user.name.as_deref(), Some("Jane"));
    assert_eq!(
        callbacks.session_events.load(SeqCst),
        events,
        "no event for a typed read"
    );
    let shaped = app.session(&headers).await.unwrap();
    assert_eq!(shaped["role"], "reader");
    assert_eq!(shaped["user"]["name"], "Jane");
    assert_eq!(callbacks.session_events.load(SeqCst), events + 1);

    callbacks.banned.store(true, SeqCst);
    assert_eq!(app.read_session(&headers).await.unwrap(), None);
    assert_eq!(app.session(&headers).await, None);
    let route = app
        .handle(
            http::Request::get("/api/auth/session")
                .header("cookie", &cookie)
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(route.body(), "{}", "the route agrees");
}

/// With `jwt.revocable`, a signed-out token reads as no session, typed or not.
#[tokio::test]
async fn a_revoked_token_is_no_typed_session() {
    let store = std::sync::Arc::new(portcullis_store_sled::SledStore::temporary().unwrap());
    let app = Portcullis::builder()
        .url("http://localhost:3000/api/auth")
        .secret(SECRET)
        .store(store)
        .configure(|c| c.jwt_revocable(true))
        .credentials(
            "credentials",
            "Credentials",
            vec![CredentialField::new("username", "Username", "text")],
            |_c: serde_json::Map<String, Value>, _r| async move {
                Ok(Some(json!({"id": 7, "name": "Jane"})))
            },
        )
        .build()
        .unwrap();
    let (cookie, csrf, jar) = sign_in(&app).await;
    let headers = with_cookie(&cookie);
    assert!(app.read_session(&headers).await.unwrap().is_some());
    let res = app
        .handle(
            http::Request::post("/api/auth/signout")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", format!("{jar}; {cookie}"))
                .body(Bytes::from(format!("csrfToken={csrf}&json=true")))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.body());
    assert_eq!(app.read_session(&headers).await.unwrap(), None);
    assert_eq!(app.session(&headers).await, None);
}
