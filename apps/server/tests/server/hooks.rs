//! `[hooks.*]`: the configuration's checks, and sign-in through the real server with an
//! operator's hook receiver on loopback (verifying and signing with `standardwebhooks`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use portcullis_server::config::{HookConfig, HooksSection, JwtHookConfig, Secrets};
use portcullis_server::{build_app, check, spawn, ServerConfig, StartupError};
use serde_json::{json, Value};
use tempfile::TempDir;
use warp::http::HeaderMap;
use warp::Filter;

use crate::support::{client, config_in, cookie_header, set_cookies, PASSWORD};

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SESSION_COOKIE: &str = "next-auth.session-token";

fn hook(url: &str) -> HookConfig {
    HookConfig {
        url: url.into(),
        secret: Some(Secrets::One(HOOK_SECRET.into())),
        timeout_ms: 2000,
    }
}

fn settings_error(config: &ServerConfig) -> String {
    match check(config) {
        Err(StartupError::Settings(message)) => message,
        other => panic!("expected a settings error, got {other:?}"),
    }
}

#[test]
fn bad_hook_settings_are_refused_naming_the_key() {
    let dir = TempDir::new().unwrap();
    let mut config = config_in(dir.path());

    config.hooks.jwt = Some(JwtHookConfig {
        url: "ftp://hooks.example/jwt".into(),
        secret: Some(Secrets::One(HOOK_SECRET.into())),
        timeout_ms: 2000,
        on_read: false,
    });
    assert!(settings_error(&config).starts_with("hooks.jwt.url: "));

    config.hooks.jwt = None;
    config.hooks.sign_in = Some(HookConfig {
        secret: None,
        ..hook("https://hooks.example/sign_in")
    });
    let message = settings_error(&config);
    assert!(
        message.starts_with("hooks.sign_in.secret: missing"),
        "{message}"
    );
    assert!(
        message.contains("PORTCULLIS_HOOK_SIGN_IN_SECRET"),
        "{message}"
    );

    config.hooks.sign_in = Some(HookConfig {
        secret: Some(Secrets::Many(vec![
            HOOK_SECRET.into(),
            "whsec_c2VjcmV0LXRoYXQtaXMtbWVhbnQtdG8tbGVhaw==".into(),
            "not-a-whsec-secret-value".into(),
        ])),
        ..hook("https://hooks.example/sign_in")
    });
    let message = settings_error(&config);
    assert!(
        message.starts_with("hooks.sign_in.secret: secret number 3"),
        "{message}"
    );
    assert!(
        !message.contains("not-a-whsec"),
        "the secret is echoed: {message}"
    );

    config.hooks.sign_in = Some(HookConfig {
        timeout_ms: 0,
        ..hook("https://hooks.example/sign_in")
    });
    assert!(settings_error(&config).starts_with("hooks.sign_in.timeout_ms: "));

    config.hooks.sign_in = Some(hook("https://hooks.example/sign_in"));
    check(&config).unwrap();
}

#[test]
fn an_unknown_hook_or_key_is_refused_by_name() {
    let error = ServerConfig::from_toml("[hooks.signin]\nurl = \"https://h.example\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("[hooks.signin]") && error.contains("unknown field `signin`"),
        "{error}"
    );
    let error =
        ServerConfig::from_toml("[hooks.session]\nurl = \"https://h.example\"\non_read = true\n")
            .unwrap_err()
            .to_string();
    assert!(error.contains("unknown field `on_read`"), "{error}");
}

#[test]
fn hooks_are_read_from_the_file_and_secrets_from_the_environment() {
    let config = ServerConfig::from_toml(
        r#"
[hooks.sign_in]
url = "https://hooks.example/sign_in"
[hooks.jwt]
url = "https://hooks.example/jwt"
secret = ["whsec_new", "whsec_old"]
timeout_ms = 500
on_read = true
"#,
    )
    .unwrap();
    let jwt = config.hooks.jwt.clone().unwrap();
    assert_eq!(jwt.timeout_ms, 500);
    assert!(jwt.on_read);
    assert_eq!(
        jwt.secret.as_ref().unwrap().to_vec(),
        vec!["whsec_new", "whsec_old"]
    );
    assert_eq!(config.hooks.sign_in.as_ref().unwrap().timeout_ms, 2000);
    assert!(config.hooks.sign_in.as_ref().unwrap().secret.is_none());

    let mut config = config;
    let env = |name: &str| {
        (name == "PORTCULLIS_HOOK_SIGN_IN_SECRET").then(|| format!("{HOOK_SECRET} whsec_b"))
    };
    config.apply_env(&env).unwrap();
    assert_eq!(
        config.hooks.sign_in.unwrap().secret.unwrap().to_vec(),
        vec![HOOK_SECRET, "whsec_b"]
    );
    // Only a configured hook takes a secret from the environment.
    assert!(config.hooks.session.is_none());
}

#[test]
fn an_email_provider_needs_no_smtp_with_a_send_email_hook() {
    let dir = TempDir::new().unwrap();
    let mut config = ServerConfig::from_toml(
        "[[providers]]\ntype = \"email\"\nfrom = \"Portcullis <no-reply@example.com>\"\n",
    )
    .unwrap();
    config.url = Some("http://localhost:3000/api/auth".into());
    config.secret = Some(Secrets::One(crate::support::SECRET.into()));
    config.data_dir = Some(dir.path().join("data"));
    assert!(settings_error(&config).contains("[hooks.send_email]"));
    config.hooks = HooksSection {
        send_email: Some(hook("https://mail.example/send")),
        ..HooksSection::default()
    };
    check(&config).unwrap();
}

/// The operator's receiver: `sign_in` denies `bob`, `jwt` adds a role, `session` shows it.
struct Receiver {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<String>>>,
}

async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let route = warp::post()
        .and(warp::path::param::<String>())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |hook: String, headers: HeaderMap, body: Bytes| {
            let webhook = standardwebhooks::Webhook::new(HOOK_SECRET).unwrap();
            webhook.verify(&body, &headers).unwrap();
            seen.lock()
                .unwrap()
                .push(String::from_utf8(body.to_vec()).unwrap());
            let request: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(request["type"], hook);
            let data = &request["data"];
            let answer = match hook.as_str() {
                "sign_in" if data["credentials"]["username"] == "bob" => {
                    json!({"decision": "deny"})
                }
                "sign_in" => json!({"decision": "allow"}),
                "jwt" => {
                    let mut token = data["token"].clone();
                    token["role"] = json!("admin");
                    token["sub"] = json!("forged");
                    json!({ "token": token })
                }
                _ => {
                    let mut session = data["session"].clone();
                    session["role"] = data["token"]["role"].clone();
                    session["sub"] = data["token"]["sub"].clone();
                    json!({ "session": session })
                }
            }
            .to_string();
            let id = headers["webhook-id"].to_str().unwrap().to_owned();
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
            let signature = webhook.sign(&id, timestamp, answer.as_bytes()).unwrap();
            warp::http::Response::builder()
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(answer)
                .unwrap()
        });
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Receiver { addr, bodies }
}

async fn sign_in(
    base: &str,
    username: &str,
    password: &str,
) -> (u16, Value, HashMap<String, String>) {
    let http = client();
    let response = http
        .get(format!("{base}/api/auth/csrf"))
        .send()
        .await
        .unwrap();
    let mut jar = set_cookies(&response);
    let csrf: Value = response.json().await.unwrap();
    let response = http
        .post(format!("{base}/api/auth/callback/credentials"))
        .header("cookie", cookie_header(&jar))
        .form(&[
            ("csrfToken", csrf["csrfToken"].as_str().unwrap()),
            ("username", username),
            ("password", password),
            ("json", "true"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    jar.extend(set_cookies(&response));
    (status, response.json().await.unwrap(), jar)
}

#[tokio::test]
async fn sign_in_jwt_and_session_hooks_decide_through_the_real_server() {
    let hooks = receiver().await;
    let dir = TempDir::new().unwrap();
    let mut config = config_in(dir.path());
    let at = |name: &str| format!("http://{}/{name}", hooks.addr);
    config.hooks = HooksSection {
        sign_in: Some(hook(&at("sign_in"))),
        jwt: Some(JwtHookConfig {
            url: at("jwt"),
            secret: Some(Secrets::One(HOOK_SECRET.into())),
            timeout_ms: 2000,
            on_read: false,
        }),
        session: Some(hook(&at("session"))),
        ..HooksSection::default()
    };
    let app = build_app(&config, false).unwrap();
    let (addr, handle) = spawn(app, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{addr}");

    // bob's password is right, but the sign_in hook denies him.
    let (status, body, jar) = sign_in(&base, "bob", "bob-password").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["url"].as_str().unwrap().contains("error=AccessDenied"));
    assert!(!jar.contains_key(SESSION_COOKIE));

    // jane is allowed; the jwt hook's role reaches the session through the session hook.
    let (status, body, jar) = sign_in(&base, "jane", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let response = client()
        .get(format!("{base}/api/auth/session"))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["role"], "admin", "{session}");
    assert_eq!(session["user"]["name"], "Jane");
    // `sub` is protected: the hook's "forged" was not kept.
    assert_eq!(session["sub"], "user-1");

    let bodies = hooks.bodies.lock().unwrap().clone();
    let kinds: Vec<String> = bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // jwt at sign-in only (on_read = false); session on the read.
    assert_eq!(kinds, ["sign_in", "sign_in", "jwt", "session"]);
    for body in &bodies {
        assert!(
            !body.contains(PASSWORD) && !body.contains("bob-password"),
            "{body}"
        );
    }
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_sign_in_hook_refuses_the_sign_in() {
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = free.local_addr().unwrap();
    drop(free);
    let dir = TempDir::new().unwrap();
    let mut config = config_in(dir.path());
    config.hooks.sign_in = Some(hook(&format!("http://{closed}/sign_in")));
    let app = build_app(&config, false).unwrap();
    let (addr, handle) = spawn(app, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (status, body, jar) = sign_in(&format!("http://{addr}"), "jane", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["url"].as_str().unwrap().contains("error=AccessDenied"),
        "{body}"
    );
    assert!(!jar.contains_key(SESSION_COOKIE));
    handle.shutdown().await.unwrap();
}

#[test]
fn the_redirect_hook_is_checked_and_takes_its_secret_from_the_environment() {
    let dir = TempDir::new().unwrap();
    let mut config = config_in(dir.path());
    config.hooks.redirect = Some(hook("javascript:alert(1)"));
    assert!(settings_error(&config).starts_with("hooks.redirect.url: "));
    config.hooks.redirect = Some(HookConfig {
        secret: None,
        ..hook("https://hooks.example/redirect")
    });
    let message = settings_error(&config);
    assert!(
        message.starts_with("hooks.redirect.secret: missing")
            && message.contains("PORTCULLIS_HOOK_REDIRECT_SECRET"),
        "{message}"
    );
    config.hooks.redirect = Some(HookConfig {
        timeout_ms: 60_001,
        ..hook("https://hooks.example/redirect")
    });
    assert!(settings_error(&config).starts_with("hooks.redirect.timeout_ms: "));
    config.hooks.redirect = Some(hook("https://hooks.example/redirect"));
    check(&config).unwrap();

    let mut config = ServerConfig::from_toml(
        "[hooks.redirect]\nurl = \"https://hooks.example/redirect\"\ntimeout_ms = 300\n",
    )
    .unwrap();
    let env = |name: &str| (name == "PORTCULLIS_HOOK_REDIRECT_SECRET").then(|| HOOK_SECRET.into());
    config.apply_env(&env).unwrap();
    let redirect = config.hooks.redirect.unwrap();
    assert_eq!(redirect.timeout_ms, 300);
    assert_eq!(redirect.secret.unwrap().to_vec(), vec![HOOK_SECRET]);
}

/// Signs jane in with `callbackUrl`; the URL the server answers.
async fn sign_in_to(base: &str, callback_url: &str) -> (u16, Value) {
    let http = client();
    let response = http
        .get(format!("{base}/api/auth/csrf"))
        .send()
        .await
        .unwrap();
    let jar = set_cookies(&response);
    let csrf: Value = response.json().await.unwrap();
    let response = http
        .post(format!("{base}/api/auth/callback/credentials"))
        .header("cookie", cookie_header(&jar))
        .form(&[
            ("csrfToken", csrf["csrfToken"].as_str().unwrap()),
            ("username", "jane"),
            ("password", PASSWORD),
            ("callbackUrl", callback_url),
            ("json", "true"),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn an_unreachable_redirect_hook_sends_the_user_to_the_base_url() {
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = free.local_addr().unwrap();
    drop(free);
    let dir = TempDir::new().unwrap();
    let mut config = config_in(dir.path());
    config.redirects.allowed_origins = vec!["https://app.example.org".into()];
    config.hooks.redirect = Some(hook(&format!("http://{closed}/redirect")));
    let app = build_app(&config, false).unwrap();
    let (addr, handle) = spawn(app, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    // An allowed origin, but the hook did not confirm it.
    let (status, body) = sign_in_to(&format!("http://{addr}"), "https://app.example.org/in").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"url": "http://localhost:3000"}));
    handle.shutdown().await.unwrap();
}
