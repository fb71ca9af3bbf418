#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The example app on a real socket, driven by an HTTP client with a cookie jar:
//! CSRF → credentials sign-in → protected route → session → sign-out → protected route.

use portcullis_example_axum::{app, auth, DEMO_NAME, DEMO_PASSWORD, DEMO_USERNAME};
use serde_json::Value;

const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

/// The app on 127.0.0.1 (a free port), and its base URL.
async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    let engine = auth(&format!("{site}/api/auth"), SECRET).unwrap();
    tokio::spawn(portcullis_example_axum::serve(listener, app(engine)));
    site
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn csrf_token(client: &reqwest::Client, site: &str) -> String {
    let res = client
        .get(format!("{site}/api/auth/csrf"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["csrfToken"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sign_in_read_the_protected_route_and_sign_out() {
    let site = start().await;
    let client = browser();

    let me = client.get(format!("{site}/me")).send().await.unwrap();
    assert_eq!(me.status(), 401, "no session yet");

    let csrf = csrf_token(&client, &site).await;
    let res = client
        .post(format!("{site}/api/auth/callback/credentials"))
        .form(&[
            ("csrfToken", csrf.as_str()),
            ("username", DEMO_USERNAME),
            ("password", "wrong"),
            ("json", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a wrong password signs no one in");
    assert_eq!(
        client
            .get(format!("{site}/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let res = client
        .post(format!("{site}/api/auth/callback/credentials"))
        .form(&[
            ("csrfToken", csrf.as_str()),
            ("username", DEMO_USERNAME),
            ("password", DEMO_PASSWORD),
            ("json", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["url"], site.as_str());

    let me = client.get(format!("{site}/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.text().await.unwrap(), DEMO_NAME);
    let home = client.get(format!("{site}/")).send().await.unwrap();
    assert_eq!(
        home.text().await.unwrap(),
        format!("Signed in as {DEMO_NAME}")
    );

    let session: Value = client
        .get(format!("{site}/api/auth/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["user"]["name"], DEMO_NAME);
    assert_eq!(session["user"]["email"], "ali@example.com");

    let res = client
        .post(format!("{site}/api/auth/signout"))
        .form(&[("csrfToken", csrf.as_str()), ("json", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let me = client.get(format!("{site}/me")).send().await.unwrap();
    assert_eq!(me.status(), 401, "signed out");
    let session = client
        .get(format!("{site}/api/auth/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(session.text().await.unwrap(), "{}");
}

#[tokio::test]
async fn the_engine_answers_under_the_base_path_and_the_app_elsewhere() {
    let site = start().await;
    let client = browser();

    // An unknown action under the base path: the engine's own answer (v3's text).
    let res = client
        .get(format!("{site}/api/auth/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.text().await.unwrap(),
        "Error: This action with HTTP GET is not supported by NextAuth.js"
    );

    // Outside it: the app's router (its routes, then axum's 404).
    let res = client.get(format!("{site}/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "Not signed in: /api/auth/signin");
    for outside in ["/nope", "/api/other", "/api/authx/csrf"] {
        let res = client.get(format!("{site}{outside}")).send().await.unwrap();
        assert_eq!(res.status(), 404, "{outside}");
        assert_eq!(
            res.text().await.unwrap(),
            "",
            "{outside}: axum's 404, not the engine's"
        );
    }

    // A body over the engine's limit is refused as it arrives.
    let csrf = csrf_token(&client, &site).await;
    let big = "a".repeat(64 * 1024 + 1);
    let res = client
        .post(format!("{site}/api/auth/callback/credentials"))
        .form(&[("csrfToken", csrf.as_str()), ("username", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

/// The socket peer reaches the engine (axum's `ConnectInfo`): with a per-IP limit of two
/// credentials attempts, a third from this address is refused even with the right
/// password and a username not tried before. Without the address only the per-username
/// limit would count, and it would pass.
#[tokio::test]
async fn the_per_ip_limit_counts_the_socket_peer() {
    use portcullis_domain::config::{Limit, ThrottleSettings};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    let throttle = ThrottleSettings {
        credentials_per_ip: Limit {
            limit: 2,
            window_seconds: 3600,
        },
        ..ThrottleSettings::default()
    };
    let engine = portcullis_example_axum::builder(&format!("{site}/api/auth"), SECRET)
        .configure(|c| c.throttle(throttle))
        .build()
        .unwrap();
    tokio::spawn(portcullis_example_axum::serve(listener, app(engine)));
    let client = browser();
    let csrf = csrf_token(&client, &site).await;
    let attempt = |username: &'static str, password: &'static str| {
        client
            .post(format!("{site}/api/auth/callback/credentials"))
            .form(&[
                ("csrfToken", csrf.as_str()),
                ("username", username),
                ("password", password),
                ("json", "true"),
            ])
            .send()
    };
    assert_eq!(attempt("mallory", "x").await.unwrap().status(), 401);
    assert_eq!(attempt("eve", "x").await.unwrap().status(), 401);
    let third = attempt(DEMO_USERNAME, DEMO_PASSWORD).await.unwrap();
    assert_eq!(third.status(), 401, "over the per-IP limit");
    assert_eq!(
        client
            .get(format!("{site}/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}
