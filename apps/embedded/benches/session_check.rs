//! The in-process session check: `get_token` (decode + verify), the typed `read_session`
//! (decode, verify, the route's lifetimes; no cookie, no JSON) and a full `GET /session`
//! (decode, verify, re-encode, Set-Cookie, JSON), signed and encrypted; and what
//! `jwt.revocable` adds to each (one lookup in the embedded sled store).
//!
//! Run: `cargo bench -p portcullis --bench session_check`

#![allow(clippy::unwrap_used, clippy::expect_used)]
// `criterion_group!` defines a public function it cannot document.
#![allow(missing_docs)]

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use portcullis::{CredentialField, Portcullis};
use serde_json::{json, Value};

const SECRET: &str = "benchmark-secret-7Hq2xWm9Rk4vTz8Lp3Nc6Bj";

fn app(encryption: bool, revocable: bool) -> Portcullis {
    let builder = Portcullis::builder();
    let builder = if revocable {
        let store = portcullis_store_sled::SledStore::temporary().unwrap();
        builder.store(std::sync::Arc::new(store))
    } else {
        builder
    };
    builder
        .secret(SECRET)
        .configure(|c| c.jwt_encryption(encryption).jwt_revocable(revocable))
        .credentials(
            "credentials",
            "Credentials",
            vec![CredentialField::new("username", "Username", "text")],
            |_c: serde_json::Map<String, Value>, _r| async move {
                Ok(Some(json!({"id": "42", "name": "Jane Doe", "email": "jane@example.com", "image": "https://example.com/a.png"})))
            },
        )
        .build()
        .unwrap()
}

/// Signs in once and returns two `Cookie` headers: the session cookie alone, and what a
/// browser sends after that sign-in (the session cookie and the CSRF cookie it already
/// holds, so the read does not mint a new CSRF token).
fn signed_in(rt: &tokio::runtime::Runtime, app: &Portcullis) -> (http::HeaderMap, http::HeaderMap) {
    let csrf = rt.block_on(
        app.handle(
            http::Request::get("/api/auth/csrf")
                .body(Bytes::new())
                .unwrap(),
        ),
    );
    let token = serde_json::from_str::<Value>(csrf.body()).unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let jar = cookies(&csrf);
    let res = rt.block_on(
        app.handle(
            http::Request::post("/api/auth/callback/credentials")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &jar)
                .body(Bytes::from(format!(
                    "csrfToken={token}&username=jane&json=true"
                )))
                .unwrap(),
        ),
    );
    let session = cookies(&res);
    let mut headers = http::HeaderMap::new();
    headers.insert("cookie", session.parse().unwrap());
    let mut browser = http::HeaderMap::new();
    browser.insert("cookie", format!("{jar}; {session}").parse().unwrap());
    (headers, browser)
}

fn cookies(res: &http::Response<String>) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let variants = [
        ("jws", false, false),
        ("jwe", true, false),
        ("jws_revocable", false, true),
    ];
    for (label, encryption, revocable) in variants {
        let app = app(encryption, revocable);
        let (headers, browser) = signed_in(&rt, &app);
        assert!(rt.block_on(app.get_token(&headers)).is_some());
        c.bench_function(&format!("get_token/{label}"), |b| {
            b.iter(|| {
                rt.block_on(app.get_token(std::hint::black_box(&headers)))
                    .unwrap()
            })
        });
        // The typed read the axum extractor makes: no request through the routes.
        c.bench_function(&format!("read_session/{label}"), |b| {
            b.iter(|| {
                let session = rt.block_on(app.read_session(std::hint::black_box(&headers)));
                assert!(matches!(session, Ok(Some(_))));
                session
            })
        });
        let read = |headers: &http::HeaderMap| {
            let mut request = http::Request::get("/api/auth/session")
                .body(Bytes::new())
                .unwrap();
            *request.headers_mut() = headers.clone();
            let res = rt.block_on(app.handle(request));
            assert_eq!(res.status(), 200);
            res
        };
        c.bench_function(&format!("session_read/{label}"), |b| {
            b.iter(|| read(&headers))
        });
        // A browser's read: its CSRF cookie is valid, so none is minted (no random draw,
        // no second `Set-Cookie`).
        let res = read(&browser);
        assert_eq!(res.headers().get_all("set-cookie").iter().count(), 1);
        c.bench_function(&format!("session_read/{label}_browser"), |b| {
            b.iter(|| read(&browser))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
