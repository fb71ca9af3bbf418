//! What a hook on the session read costs: `GET /session` through the engine with no hook,
//! with the `jwt` hook at sign-in only (the default), with `jwt` on every read
//! (`on_read = true`), and with the `session` hook (every read), each hook a signed HTTP
//! call to the example receiver on loopback.
//!
//! Run: `cargo bench -p portcullis-hooks-http --bench on_read`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../examples/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use portcullis::{CredentialField, OsEntropy, Portcullis, SystemClock};
use portcullis_domain::site::SiteUrl;
use portcullis_hooks_http::{Caller, Endpoint, HttpHooks, WebhookSecrets};
use serde_json::{json, Value};

const SECRET: &str = "benchmark-secret-Zr5Kq9Wm2Xt7Lh4Nv8Pc3Bd";
const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn hooks(url: &str, jwt: Option<bool>, session: bool) -> HttpHooks {
    let http = portcullis_http_reqwest::ReqwestHttpClient::allowing_private_network().unwrap();
    let caller = Caller::new(Arc::new(http), Arc::new(SystemClock), Arc::new(OsEntropy));
    let endpoint = || Endpoint {
        url: url.to_owned(),
        secrets: WebhookSecrets::parse(&[HOOK_SECRET]).unwrap(),
        timeout: Duration::from_secs(2),
    };
    let site = SiteUrl::parse("http://localhost:3000/api/auth").unwrap();
    let mut hooks = HttpHooks::new(caller, site);
    if let Some(on_read) = jwt {
        hooks = hooks.with_jwt(endpoint(), on_read);
    }
    if session {
        hooks = hooks.with_session(endpoint());
    }
    hooks
}

fn app(hooks: Option<HttpHooks>) -> Portcullis {
    let mut builder = Portcullis::builder().secret(SECRET).credentials(
        "credentials",
        "Credentials",
        vec![CredentialField::new("username", "Username", "text")],
        |_c: serde_json::Map<String, Value>, _r| async move {
            Ok(Some(
                json!({"id": "42", "name": "Ada", "email": "admin@example.com"}),
            ))
        },
    );
    if let Some(hooks) = hooks {
        builder = builder.hooks(hooks.into_hooks());
    }
    builder.build().unwrap()
}

fn cookies(res: &http::Response<String>) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Signs in once; the `Cookie` header carrying the session.
async fn signed_in(app: &Portcullis) -> String {
    let csrf = app
        .handle(
            http::Request::get("/api/auth/csrf")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    let token = serde_json::from_str::<Value>(csrf.body()).unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .handle(
            http::Request::post("/api/auth/callback/credentials")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookies(&csrf))
                .body(Bytes::from(format!(
                    "csrfToken={token}&username=ada&json=true"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.body());
    cookies(&res)
}

async fn read_session(app: &Portcullis, cookie: &str) -> http::Response<String> {
    app.handle(
        http::Request::get("/api/auth/session")
            .header("cookie", cookie)
            .body(Bytes::new())
            .unwrap(),
    )
    .await
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let secrets = WebhookSecrets::parse(&[HOOK_SECRET]).unwrap();
        tokio::spawn(receiver::serve(listener, secrets));
        url
    });
    let cases = [
        ("no_hook", None),
        ("jwt_at_sign_in_only", Some(hooks(&url, Some(false), false))),
        ("jwt_on_read", Some(hooks(&url, Some(true), false))),
        // The session hook copies the role the jwt hook put in the token at sign-in (the
        // example receiver's policy), so the jwt hook is on, at sign-in only.
        ("session_hook", Some(hooks(&url, Some(false), true))),
    ];
    let mut group = c.benchmark_group("session_read_with_hooks");
    for (label, hooks) in cases {
        let app = app(hooks);
        let cookie = rt.block_on(signed_in(&app));
        let first = rt.block_on(read_session(&app, &cookie));
        let session: Value = serde_json::from_str(first.body()).unwrap();
        // The hooks ran: the receiver gives admin@example.com the role, in the token (jwt)
        // or in the session JSON (session).
        let mut headers = http::HeaderMap::new();
        headers.insert("cookie", cookie.parse().unwrap());
        let token = app.decode_token(&headers).expect("a session token");
        match label {
            "no_hook" => assert!(token.get("role").is_none()),
            "session_hook" => assert_eq!(session["role"], "admin", "{session}"),
            _ => assert_eq!(token["role"], "admin", "{label}: {token:?}"),
        }
        group.bench_function(label, |b| {
            b.iter(|| rt.block_on(read_session(&app, std::hint::black_box(&cookie))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
