#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 11 §7, data at rest: with `encrypt_provider_tokens`, the account an OAuth sign-in
//! links is stored with its access and refresh token sealed (`enc:v1:…`), decryptable with
//! the configured secrets; without it, as before (NextAuth v3's plain columns).

use bytes::Bytes;
use portcullis_domain::effect::{Effect, Outcome};
use portcullis_domain::http::HttpResponse;
use portcullis_domain::model::Account;
use portcullis_domain::oauth::OAuthProvider;
use portcullis_domain::store::{StoreOp, StoreReply};
use portcullis_domain::token_cipher::TokenField;
use portcullis_domain::{Config, Engine, Env, Provider, Step};
use rand_chacha::rand_core::SeedableRng;

const SECRET: &str = "at-rest-secret-Vq8Lz3Rm7Tk2Wx9Pn4Hc6Jd";

fn engine(encrypt: bool) -> Engine {
    let mut corp = OAuthProvider::oauth2("cid", "csecret");
    corp.endpoints.authorization = Some("https://sso.corp.example/authorize".into());
    corp.endpoints.token = Some("https://sso.corp.example/token".into());
    corp.endpoints.userinfo = Some("https://sso.corp.example/userinfo".into());
    Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret(SECRET)
            .store(true)
            .encrypt_provider_tokens(encrypt)
            .provider(Provider::oauth("corp", "Corp", corp))
            .build()
            .unwrap(),
    )
}

fn json(body: &str) -> HttpResponse {
    HttpResponse {
        status: 200,
        content_type: Some("application/json".into()),
        headers: Vec::new(),
        body: Bytes::from(body.to_owned()),
    }
}

/// Runs one request; provider calls and store operations are answered here. Returns the
/// response and the account the flow asked to link, if any.
fn run(
    engine: &Engine,
    request: http::Request<Bytes>,
) -> (http::Response<String>, Option<Account>) {
    let mut run = engine.begin(
        &request,
        Env {
            now: time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
            rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(3)),
            client_ip: None,
        },
    );
    let mut linked = None;
    let response = loop {
        let outcome = match run.step() {
            Step::Done(response) => break response,
            Step::Effect(Effect::Http(call)) if call.url.ends_with("/token") => {
                Outcome::Http(Ok(json(
                    r#"{"access_token":"at-clear","refresh_token":"rt-clear","token_type":"Bearer","expires_in":3600}"#,
                )))
            }
            Step::Effect(Effect::Http(_)) => Outcome::Http(Ok(json(
                r#"{"sub":"jane-at-corp","name":"Jane","email":"jane@example.com","email_verified":true}"#,
            ))),
            Step::Effect(Effect::Store(StoreOp::GetUserByAccount { .. }))
            | Step::Effect(Effect::Store(StoreOp::GetUserByEmail(_))) => {
                Outcome::Store(Ok(StoreReply::MaybeUser(None)))
            }
            Step::Effect(Effect::Store(StoreOp::CreateUser(new))) => {
                Outcome::Store(Ok(StoreReply::User(new.with_id("7"))))
            }
            Step::Effect(Effect::Store(StoreOp::LinkAccount(account))) => {
                linked = Some(account.clone());
                Outcome::Store(Ok(StoreReply::Account(account)))
            }
            Step::Effect(other) => panic!("unexpected effect {other:?}"),
        };
        run.resume(outcome);
    };
    assert_eq!(run.fault(), None);
    (response, linked)
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

/// Sign-in at `corp` up to the linked account.
fn sign_in(engine: &Engine) -> Account {
    let (csrf, _) = run(
        engine,
        http::Request::get("/api/auth/csrf")
            .body(Bytes::new())
            .unwrap(),
    );
    let token: serde_json::Value = serde_json::from_str(csrf.body()).unwrap();
    let token = token["csrfToken"].as_str().unwrap();
    let (signin, _) = run(
        engine,
        http::Request::post("/api/auth/signin/corp")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookies(&csrf))
            .body(Bytes::from(format!("csrfToken={token}")))
            .unwrap(),
    );
    let location = signin.headers()["location"].to_str().unwrap().to_owned();
    let state = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let (callback, linked) = run(
        engine,
        http::Request::get(format!("/api/auth/callback/corp?code=c&state={state}"))
            .header("cookie", cookies(&signin))
            .body(Bytes::new())
            .unwrap(),
    );
    assert_eq!(callback.status(), 302, "{:?}", callback.headers());
    linked.expect("the sign-in links the account")
}

#[test]
fn linked_provider_tokens_are_stored_sealed_when_asked() {
    let engine = engine(true);
    let account = sign_in(&engine);
    let access = account.access_token.clone().unwrap();
    let refresh = account.refresh_token.clone().unwrap();
    for (stored, clear) in [(&access, "at-clear"), (&refresh, "rt-clear")] {
        assert!(stored.expose().starts_with("enc:v1:"), "sealed");
        assert!(!stored.expose().contains(clear), "not in the clear");
    }
    let cipher = &engine.config().token_cipher;
    assert_eq!(
        cipher
            .decrypt(&access, "corp", "jane-at-corp", TokenField::AccessToken)
            .unwrap()
            .expose(),
        "at-clear"
    );
    assert_eq!(
        cipher
            .decrypt(&refresh, "corp", "jane-at-corp", TokenField::RefreshToken)
            .unwrap()
            .expose(),
        "rt-clear"
    );
}

#[test]
fn without_the_option_tokens_are_stored_as_v3_stores_them() {
    let account = sign_in(&engine(false));
    assert_eq!(account.access_token.unwrap().expose(), "at-clear");
    assert_eq!(account.refresh_token.unwrap().expose(), "rt-clear");
}
