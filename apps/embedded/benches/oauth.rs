//! The OAuth work Portcullis does itself, without the provider's network time:
//! `POST /signin/<id>` (three random values sealed into three purpose-keyed cookies, the
//! authorisation URL) and verifying an RS256 / ES256 ID token against a key set.
//!
//! Run: `cargo bench -p portcullis --bench oauth`

#![allow(clippy::unwrap_used, clippy::expect_used)]
// `criterion_group!` defines a public function it cannot document.
#![allow(missing_docs)]

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, ES256, RS256};
use josekit::jwt::JwtPayload;
use portcullis::{OAuthProvider, Portcullis};
use portcullis_domain::oauth::id_token::{verify, Expectations};
use portcullis_domain::secret::Nonce;
use serde_json::{json, Value};

const SECRET: &str = "benchmark-secret-7Hq2xWm9Rk4vTz8Lp3Nc6Bj";

fn app() -> Portcullis {
    let mut corp = OAuthProvider::openid("https://idp.example", "client", "client-secret");
    corp.endpoints.authorization = Some("https://idp.example/authorize".into());
    corp.endpoints.token = Some("https://idp.example/token".into());
    corp.endpoints.userinfo = Some("https://idp.example/userinfo".into());
    corp.endpoints.jwks_uri = Some("https://idp.example/jwks".into());
    Portcullis::builder()
        .secret(SECRET)
        .oauth("corp", "Corp", corp)
        .build()
        .unwrap()
}

fn sign_in_start(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let app = app();
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
    let jar: Vec<String> = csrf
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let cookie = jar.join("; ");
    let body = format!("csrfToken={token}&callbackUrl=http%3A%2F%2Flocalhost%3A3000%2F");
    c.bench_function("oauth_signin/openid (state + pkce + nonce sealed)", |b| {
        b.iter(|| {
            let response = rt.block_on(
                app.handle(
                    http::Request::post("/api/auth/signin/corp")
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("cookie", &cookie)
                        .body(Bytes::from(body.clone()))
                        .unwrap(),
                ),
            );
            assert_eq!(response.status(), 302);
            response
        })
    });
}

fn key_set(public: &Jwk) -> Vec<u8> {
    serde_json::to_vec(&json!({ "keys": [serde_json::to_value(public.as_ref()).unwrap()] }))
        .unwrap()
}

fn id_tokens(c: &mut Criterion) {
    let now = 1_800_000_000;
    let claims = json!({
        "iss": "https://idp.example", "sub": "alice", "aud": "client",
        "exp": now + 300, "iat": now, "nonce": "n-1", "email": "alice@example.com",
    });
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let nonce = Nonce::new("n-1");
    let expect = Expectations {
        issuer: "https://idp.example",
        client_id: "client",
        nonce: Some(&nonce),
        now_unix: now,
    };
    let mut rsa = RS256.generate_key_pair(2048).unwrap().to_jwk_key_pair();
    rsa.set_key_id("rsa");
    let mut rsa_public = rsa.to_public_key().unwrap();
    rsa_public.set_key_id("rsa");
    let rsa_token = josekit::jwt::encode_with_signer(
        &payload,
        &JwsHeader::new(),
        &RS256.signer_from_jwk(&rsa).unwrap(),
    )
    .unwrap();
    let rsa_set = key_set(&rsa_public);
    c.bench_function("id_token/RS256 verify", |b| {
        b.iter(|| verify(&rsa_token, &rsa_set, &expect).unwrap())
    });

    let mut ec = ES256.generate_key_pair().unwrap().to_jwk_key_pair();
    ec.set_key_id("ec");
    let mut ec_public = ec.to_public_key().unwrap();
    ec_public.set_key_id("ec");
    let ec_token = josekit::jwt::encode_with_signer(
        &payload,
        &JwsHeader::new(),
        &ES256.signer_from_jwk(&ec).unwrap(),
    )
    .unwrap();
    let ec_set = key_set(&ec_public);
    c.bench_function("id_token/ES256 verify", |b| {
        b.iter(|| verify(&ec_token, &ec_set, &expect).unwrap())
    });
}

criterion_group!(benches, sign_in_start, id_tokens);
criterion_main!(benches);
