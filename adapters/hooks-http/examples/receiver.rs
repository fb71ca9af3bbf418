//! A Portcullis hook receiver in Rust (warp), verifying requests and signing answers with
//! this crate's [`WebhookSecrets`].
//!
//! ```text
//! PORTCULLIS_HOOK_SECRET=whsec_... cargo run -p portcullis-hooks-http --example receiver -- [PORT]
//! ```
//!
//! `PORT` defaults to `$PORT`, then 8787; 0 picks a free port. The first line on stdout is
//! `listening on http://HOST:PORT`; `HOST` is `$HOST`, default 127.0.0.1. Point
//! `[hooks.sign_in]`, `[hooks.jwt]` and `[hooks.session]` at that URL, with the same secret.
//!
//! `tests/receivers.rs` includes this file and drives [`serve`] with the real `HttpHooks`.

use std::net::IpAddr;

use bytes::Bytes;
use portcullis_hooks_http::webhook::HEADER_ID;
use portcullis_hooks_http::WebhookSecrets;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};
use warp::Filter;

const MAX_BODY: u64 = 1 << 20;
const ALLOWED_DOMAIN: &str = "@example.com";
const ADMIN_EMAIL: &str = "admin@example.com";

/// Serves every `POST` on `listener`, whatever its path, until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, secrets: WebhookSecrets) {
    let route = warp::post()
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |headers: HeaderMap, body: Bytes| handle(&secrets, &headers, &body));
    warp::serve(route).incoming(listener).run().await;
}

/// Verify the request, decide, sign the answer with the request's own `webhook-id`.
fn handle(secrets: &WebhookSecrets, headers: &HeaderMap, body: &[u8]) -> Response {
    let header = |name: &str| {
        let value = headers.get(name)?.to_str().ok()?;
        Some(value.to_owned())
    };
    // Timestamp within 5 minutes, any `v1,` signature made with our secret (constant time).
    let verified = secrets.verify(&header, body, now(), None);
    let (Ok(()), Some(id)) = (verified, header(HEADER_ID)) else {
        eprintln!("refused: no valid signature");
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(answer) = serde_json::from_slice(body).ok().and_then(policy) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let payload = answer.to_string();
    let signed = secrets.sign(&id, now(), payload.as_bytes());
    let mut response = payload.into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in signed.headers() {
        let Ok(value) = HeaderValue::try_from(value) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        headers.insert(name, value);
    }
    response
}

/// The answer to one hook call, or `None` for a hook this receiver does not serve.
fn policy(request: Value) -> Option<Value> {
    let data = request.get("data")?;
    let text = |pointer: &str| data.pointer(pointer).and_then(Value::as_str);
    match request.get("type")?.as_str()? {
        "sign_in" => {
            let email = text("/email").or(text("/user/email")).unwrap_or_default();
            let allowed = email.to_lowercase().ends_with(ALLOWED_DOMAIN);
            Some(json!({ "decision": if allowed { "allow" } else { "deny" } }))
        }
        "jwt" => {
            let mut token = data.get("token")?.as_object()?.clone();
            if text("/token/email").is_some_and(|e| e.eq_ignore_ascii_case(ADMIN_EMAIL)) {
                token.insert("role".into(), json!("admin"));
            }
            Some(json!({ "token": token }))
        }
        "session" => {
            let mut session = data.get("session")?.as_object()?.clone();
            if let Some(role) = data.pointer("/token/role") {
                session.insert("role".into(), role.clone());
            }
            Some(json!({ "session": session }))
        }
        _ => None,
    }
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("PORTCULLIS_HOOK_SECRET").unwrap_or_default();
    // The error never repeats the secret.
    let secrets =
        WebhookSecrets::parse(&[secret]).map_err(|e| format!("bad PORTCULLIS_HOOK_SECRET: {e}"))?;
    let port: u16 = match std::env::args().nth(1).or(std::env::var("PORT").ok()) {
        Some(port) => port.parse()?,
        None => 8787,
    };
    let host: IpAddr = std::env::var("HOST")
        .unwrap_or_else(|_| "127.0.0.1".into())
        .parse()?;
    let listener = TcpListener::bind((host, port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, secrets).await;
    Ok(())
}
