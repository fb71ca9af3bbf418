#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Whatever arrives, the engine answers: never a panic, never a 5xx (but the documented
//! `Configuration` error page), never an undeclared move.

use bytes::Bytes;
use portcullis_domain::effect::{Effect, Outcome};
use portcullis_domain::{Config, CredentialField, Engine, Env, HookSet, Provider, Step};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use serde_json::json;

fn engine() -> Engine {
    Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret("robustness-secret-0123456789abcdef0123456789")
            .hooks(HookSet {
                sign_in: true,
                jwt: true,
                session: true,
                events: true,
                redirect: true,
                jwt_on_read: true,
            })
            .provider(Provider::credentials(
                "credentials",
                "Credentials",
                vec![CredentialField::new("username", "Username", "text")],
            ))
            .build()
            .unwrap(),
    )
}

fn answer(effect: &Effect) -> Outcome {
    match effect {
        Effect::Authorize(_) => Outcome::Authorized(Ok(Some(json!({"id": "1"})))),
        Effect::Hook(portcullis_domain::HookCall::SignIn { .. }) => {
            Outcome::SignIn(Ok(portcullis_domain::SignInDecision::Allow))
        }
        Effect::Hook(portcullis_domain::HookCall::Jwt { token, .. }) => {
            Outcome::Token(Ok(token.clone()))
        }
        Effect::Hook(portcullis_domain::HookCall::Session { session, .. }) => {
            Outcome::Session(Ok(session.clone()))
        }
        Effect::Hook(portcullis_domain::HookCall::Redirect { url, .. }) => {
            Outcome::Redirect(Ok(url.clone()))
        }
        Effect::Throttle(_) => Outcome::Throttle(true),
        Effect::Store(_) | Effect::SendVerification(_) | Effect::Http(_) => {
            panic!("no store, mail or provider calls without e-mail, OAuth or database sessions")
        }
    }
}

fn run(engine: &Engine, request: &http::Request<Bytes>) -> http::Response<String> {
    let mut run = engine.begin(
        request,
        Env {
            now: time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(19_000),
            rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(9)),
            client_ip: None,
        },
    );
    let response = loop {
        match run.step() {
            Step::Done(response) => break response,
            Step::Effect(effect) => run.resume(answer(&effect)),
        }
    };
    assert!(run.fault().is_none(), "fault {:?}", run.fault());
    response
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("signin".to_owned()),
        Just("signout".to_owned()),
        Just("callback".to_owned()),
        Just("credentials".to_owned()),
        Just("session".to_owned()),
        Just("csrf".to_owned()),
        Just("providers".to_owned()),
        Just("error".to_owned()),
        Just("verify-request".to_owned()),
        Just("_log".to_owned()),
        "[a-zA-Z0-9%._~-]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_request_gets_an_answer(
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("HEAD"), Just("DELETE")],
        segments in proptest::collection::vec(segment(), 0..4),
        query in "[ -~]{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..200),
        json_body in any::<bool>(),
        cookie in proptest::collection::vec(any::<u8>(), 0..120),
        authorization in "[ -~]{0,40}",
    ) {
        let engine = engine();
        let query = query.replace(['#', ' '], "");
        let uri = format!("/api/auth/{}?{}", segments.join("/"), query);
        let Ok(uri) = uri.parse::<http::Uri>() else { return Ok(()); };
        let mut builder = http::Request::builder().method(method).uri(uri);
        builder = builder.header("content-type", if json_body { "application/json" } else { "application/x-www-form-urlencoded" });
        if let Ok(value) = http::HeaderValue::from_bytes(&cookie) {
            builder = builder.header("cookie", value);
        }
        if let Ok(value) = http::HeaderValue::from_str(&authorization) {
            builder = builder.header("authorization", value);
        }
        let request = builder.body(Bytes::from(body)).unwrap();
        let response = run(&engine, &request);
        let status = response.status().as_u16();
        let configuration_page = response.body().contains("There is a problem with the server configuration.");
        prop_assert!(status < 500 || configuration_page, "{status} for {:?} {}", request.method(), request.uri());
    }

    #[test]
    fn forged_session_cookies_read_as_no_session(value in "[A-Za-z0-9._~%-]{0,300}") {
        let engine = engine();
        let request = http::Request::get("/api/auth/session")
            .header("cookie", format!("__Secure-next-auth.session-token={value}"))
            .body(Bytes::new())
            .unwrap();
        let response = run(&engine, &request);
        prop_assert_eq!(response.status(), 200);
        prop_assert_eq!(response.body(), "{}");
    }
}
