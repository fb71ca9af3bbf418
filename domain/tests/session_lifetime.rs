#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Sessions that end: a JWT session kept alive by sliding renewal still ends at the
//! absolute lifetime counted from sign-in (`session.absolute_max_age`).

use bytes::Bytes;
use portcullis_domain::effect::{Effect, Outcome};
use portcullis_domain::{Config, ConfigBuilder, CredentialField, Engine, Env, Provider, Step};
use rand_chacha::rand_core::SeedableRng;
use serde_json::{json, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const SECRET: &str = "lifetime-test-secret-0123456789abcdef0123456789";
const SIGN_IN: OffsetDateTime = datetime!(2024-03-01 09:00:00 UTC);
const COOKIE: &str = "next-auth.session-token";

fn engine(configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Engine {
    let builder = Config::builder()
        .url("http://localhost:3000/api/auth")
        .secret(SECRET)
        .provider(Provider::credentials(
            "credentials",
            "Credentials",
            vec![CredentialField::new("username", "Username", "text")],
        ));
    Engine::new(configure(builder).build().unwrap())
}

/// Runs `request` at `now`; the user is always `u1`. The response's headers and body.
fn run(
    engine: &Engine,
    request: http::Request<Bytes>,
    now: OffsetDateTime,
) -> (Vec<String>, String) {
    let env = Env {
        now,
        rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(7)),
        client_ip: None,
    };
    let mut run = engine.begin(&request, env);
    let response = loop {
        match run.step() {
            Step::Done(response) => break response,
            Step::Effect(Effect::Throttle(_)) => run.resume(Outcome::Throttle(true)),
            Step::Effect(Effect::Authorize(_)) => run.resume(Outcome::Authorized(Ok(Some(
                json!({"id": "u1", "name": "Jane"}),
            )))),
            Step::Effect(other) => panic!("unexpected {other:?}"),
        }
    };
    assert!(run.fault().is_none(), "fault: {:?}", run.fault());
    let cookies = response
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (cookies, response.body().clone())
}

/// The value a `Set-Cookie` line gives `name`, if any.
fn cookie<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|l| l.split(';').next()?.strip_prefix(&format!("{name}=")))
}

/// Signs in at `SIGN_IN`: the session cookie.
fn sign_in(engine: &Engine) -> String {
    let (cookies, body) = run(
        engine,
        http::Request::get("/api/auth/csrf")
            .body(Bytes::new())
            .unwrap(),
        SIGN_IN,
    );
    let csrf = serde_json::from_str::<Value>(&body).unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf_cookie = cookie(&cookies, "next-auth.csrf-token").unwrap().to_owned();
    let (cookies, _) = run(
        engine,
        http::Request::post("/api/auth/callback/credentials")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("next-auth.csrf-token={csrf_cookie}"))
            .body(Bytes::from(format!(
                "csrfToken={csrf}&username=jane&json=true"
            )))
            .unwrap(),
        SIGN_IN,
    );
    cookie(&cookies, COOKIE)
        .expect("a session cookie")
        .to_owned()
}

/// `GET /session` at `now` with `token`: the session JSON and the renewed token (if any).
fn read(engine: &Engine, token: &str, now: OffsetDateTime) -> (Value, Option<String>) {
    let (cookies, body) = run(
        engine,
        http::Request::get("/api/auth/session")
            .header("cookie", format!("{COOKIE}={token}"))
            .body(Bytes::new())
            .unwrap(),
        now,
    );
    let renewed = cookie(&cookies, COOKIE)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    (serde_json::from_str(&body).unwrap(), renewed)
}

/// Reads the session every `step` from sign-in until `until`, always with the newest
/// cookie: the last answer.
fn keep_alive(engine: &Engine, step: Duration, until: OffsetDateTime) -> Value {
    let mut token = sign_in(engine);
    let mut now = SIGN_IN;
    loop {
        now = (now + step).min(until);
        let (session, renewed) = read(engine, &token, now);
        if now == until || session == json!({}) {
            return session;
        }
        token = renewed.expect("a live session is renewed");
    }
}

#[test]
fn a_session_in_daily_use_ends_ninety_days_after_sign_in_by_default() {
    let engine = engine(|c| c);
    // For its first 60 days a session slides as in v3: `expires` = now + maxAge.
    let early = keep_alive(&engine, Duration::days(1), SIGN_IN + Duration::days(20));
    assert_eq!(early["expires"], "2024-04-20T09:00:00.000Z");
    let alive = keep_alive(&engine, Duration::days(1), SIGN_IN + Duration::days(89));
    assert_eq!(alive["user"]["name"], "Jane");
    // Renewal no longer slides past the absolute limit.
    assert_eq!(
        alive["expires"], "2024-05-30T09:00:00.000Z",
        "expires = sign-in + 90 days, not now + maxAge"
    );
    let ended = keep_alive(
        &engine,
        Duration::days(1),
        SIGN_IN + Duration::days(90) + Duration::seconds(1),
    );
    assert_eq!(
        ended,
        json!({}),
        "sliding renewal must not outlive the absolute lifetime"
    );
}

#[test]
fn the_absolute_lifetime_is_configurable_and_can_be_turned_off() {
    let hour = engine(|c| c.session_absolute_max_age(3600));
    let at = |minutes| SIGN_IN + Duration::minutes(minutes);
    assert_eq!(
        keep_alive(&hour, Duration::minutes(10), at(60))["user"]["name"],
        "Jane"
    );
    assert_eq!(keep_alive(&hour, Duration::minutes(10), at(61)), json!({}));

    let off = engine(|c| c.session_absolute_max_age(0));
    let later = SIGN_IN + Duration::days(90);
    assert_eq!(
        keep_alive(&off, Duration::days(1), later)["user"]["name"],
        "Jane"
    );

    assert!(Config::builder()
        .secret(SECRET)
        .session_absolute_max_age(-1)
        .build()
        .unwrap_err()
        .to_string()
        .contains("session.absolute_max_age"));
}
