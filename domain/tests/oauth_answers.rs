#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Provider answers the flows cannot use end on the error page — never a fault (500):
//! here, a token answer without the field the profile URL needs (Bungie's `membership_id`).

use bytes::Bytes;
use portcullis_domain::effect::{Effect, Outcome};
use portcullis_domain::http::HttpResponse;
use portcullis_domain::oauth::{preset, ClientSecret, PresetOptions};
use portcullis_domain::{Config, Engine, Env, Provider, Step};
use rand_chacha::rand_core::SeedableRng;

fn engine() -> Engine {
    let options = PresetOptions {
        client_id: "cid".into(),
        client_secret: ClientSecret::Secret("csecret".into()),
        domain: None,
        tenant: None,
        region: None,
        api_version: None,
        headers: vec![("X-API-Key".into(), "key".into())],
    };
    let bungie = preset("bungie", &options).unwrap();
    Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret("oauth-answers-secret-0123456789abcdef0123")
            .provider(Provider::oauth(bungie.id, bungie.name, bungie.provider))
            .build()
            .unwrap(),
    )
}

/// Runs one request, answering every provider call with `http`.
fn run(
    engine: &Engine,
    request: http::Request<Bytes>,
    http: &dyn Fn() -> HttpResponse,
) -> (http::Response<String>, Option<String>) {
    let mut run = engine.begin(
        &request,
        Env {
            now: time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
            rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(3)),
            client_ip: None,
        },
    );
    let response = loop {
        match run.step() {
            Step::Done(response) => break response,
            Step::Effect(Effect::Http(_)) => run.resume(Outcome::Http(Ok(http()))),
            Step::Effect(other) => panic!("unexpected effect {other:?}"),
        }
    };
    (response, run.fault().map(str::to_owned))
}

fn cookies(response: &http::Response<String>) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn a_token_answer_without_the_profile_url_field_ends_on_oauth_callback() {
    let engine = engine();
    let none = || panic!("no provider call expected");
    let (csrf, _) = run(
        &engine,
        http::Request::get("/api/auth/csrf")
            .body(Bytes::new())
            .unwrap(),
        &none,
    );
    let token: serde_json::Value = serde_json::from_str(csrf.body()).unwrap();
    let token = token["csrfToken"].as_str().unwrap();
    let (signin, fault) = run(
        &engine,
        http::Request::post("/api/auth/signin/bungie")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookies(&csrf))
            .body(Bytes::from(format!("csrfToken={token}")))
            .unwrap(),
        &none,
    );
    assert_eq!(fault, None);
    let location = signin.headers()["location"].to_str().unwrap().to_owned();
    let state = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    // The token endpoint answers, but without `membership_id`.
    let tokens = || HttpResponse {
        status: 200,
        content_type: Some("application/json".into()),
        headers: Vec::new(),
        body: Bytes::from_static(br#"{"access_token":"at","token_type":"Bearer"}"#),
    };
    let (callback, fault) = run(
        &engine,
        http::Request::get(format!("/api/auth/callback/bungie?code=c&state={state}"))
            .header("cookie", cookies(&signin))
            .body(Bytes::new())
            .unwrap(),
        &tokens,
    );
    assert_eq!(fault, None);
    assert_eq!(callback.status(), 302);
    assert_eq!(
        callback.headers()["location"],
        "https://example.com/api/auth/error?error=OAuthCallback"
    );
}
