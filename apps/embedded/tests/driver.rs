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
