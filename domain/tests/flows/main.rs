#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Flows driven with canned outcomes: no servers, no mocks. Each test snapshots the effects
//! a request yields and the response it ends with (insta), so a change in what the engine
//! asks for or answers is reviewed.
//!
//! One test binary (link time): this file is the driver the modules share (`engine`, `drive`,
//! `csrf`); each module drives one flow.

mod credentials;
mod database_sessions;
mod email;
mod jwt_sessions;
mod pages;
mod redirect_hook;
mod sessions_at_rest;

use bytes::Bytes;
use portcullis_domain::effect::{Effect, Outcome};
use portcullis_domain::{Config, CredentialField, Engine, Env, HookSet, Provider, Step};
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;
use time::macros::datetime;
use time::OffsetDateTime;

const SECRET: &str = "flow-test-secret-7Hq2xWm9Rk4vTz8Lp3Nc6Bj";
const NOW: OffsetDateTime = datetime!(2023-11-14 22:13:20 UTC);

fn engine(hooks: HookSet) -> Engine {
    Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret(SECRET)
            .hooks(hooks)
            .provider(Provider::credentials(
                "credentials",
                "Credentials",
                vec![
                    CredentialField::new("username", "Username", "text"),
                    CredentialField::new("password", "Password", "password"),
                ],
            ))
            .build()
            .unwrap(),
    )
}

fn env(seed: u64) -> Env {
    Env {
        now: NOW,
        rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
        client_ip: None,
    }
}

/// What a request did: each effect (as debug text), the final response, the transitions.
#[derive(serde::Serialize)]
struct Record {
    effects: Vec<String>,
    /// The events drained for the listeners once the run was done.
    events: Vec<String>,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    transitions: Vec<String>,
}

fn drive(
    engine: &Engine,
    request: http::Request<Bytes>,
    seed: u64,
    mut answer: impl FnMut(&Effect) -> Outcome,
) -> Record {
    let mut run = engine.begin(&request, env(seed));
    let mut effects = Vec::new();
    let response = loop {
        match run.step() {
            Step::Done(response) => break response,
            // Credentials attempts are throttled: these tests stay within the limits.
            Step::Effect(Effect::Throttle(check)) if check.key.starts_with("credentials:") => {
                effects.push(format!("{:?}", Effect::Throttle(check)));
                run.resume(Outcome::Throttle(true));
            }
            Step::Effect(effect) => {
                let outcome = answer(&effect);
                effects.push(format!("{effect:?}"));
                run.resume(outcome);
            }
        }
    };
    assert!(run.fault().is_none(), "fault: {:?}", run.fault());
    let all = portcullis_domain::flows::all_transitions();
    Record {
        effects,
        events: run
            .take_events()
            .iter()
            .map(|event| format!("{event:?}"))
            .collect(),
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect(),
        body: response.body().clone(),
        transitions: run
            .trace()
            .iter()
            .map(|t| {
                all.iter()
                    .find(|i| i.flow == t.flow && i.index == t.index)
                    .unwrap()
                    .to_string()
            })
            .collect(),
    }
}

/// A valid CSRF cookie + token pair for `SECRET` (from a first GET /csrf).
fn csrf(engine: &Engine) -> (String, String) {
    let rec = drive(
        engine,
        http::Request::get("/api/auth/csrf")
            .body(Bytes::new())
            .unwrap(),
        1,
        |_| panic!("no effects"),
    );
    let token = serde_json::from_str::<Value>(&rec.body).unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = rec
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("__Host-"))
        .unwrap()
        .1
        .clone();
    (token, cookie.split(';').next().unwrap().to_owned())
}

fn sign_in_request(engine: &Engine, json_mode: bool) -> http::Request<Bytes> {
    let (token, cookie) = csrf(engine);
    let json_field = if json_mode { "&json=true" } else { "" };
    http::Request::post("/api/auth/callback/credentials")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .header("authorization", "Basic c2VjcmV0")
        .body(Bytes::from(format!(
            "csrfToken={token}&username=jane&password=pw&callbackUrl=%2Fdash{json_field}"
        )))
        .unwrap()
}
