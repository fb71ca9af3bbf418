//! v3's `callbacks.redirect` as a hook: asked only about a `callbackUrl` given on the
//! request, its answer held to the redirect policy, the base URL when it fails.

use super::*;
use portcullis_domain::effect::{HookCall, HookFailure};
use portcullis_domain::redirect::AllowedOrigins;
use serde_json::json;
use std::sync::Arc;

const BASE: &str = "https://example.com";

fn engine() -> Engine {
    Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret(SECRET)
            .hooks(HookSet {
                redirect: true,
                ..HookSet::default()
            })
            .redirect_policy(Arc::new(
                AllowedOrigins::parse(&["https://app.example.org"]).unwrap(),
            ))
            .provider(Provider::credentials(
                "credentials",
                "Credentials",
                vec![CredentialField::new("username", "Username", "text")],
            ))
            .build()
            .unwrap(),
    )
}

fn header<'a>(record: &'a Record, name: &str) -> Vec<&'a str> {
    record
        .headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The callback-url cookie the response set (decoded), if any.
fn callback_cookie(record: &Record) -> Option<String> {
    header(record, "set-cookie").into_iter().find_map(|c| {
        let (name, rest) = c.split_once('=')?;
        name.ends_with("callback-url").then(|| {
            let value = rest.split(';').next().unwrap_or_default();
            percent_decode(value)
        })
    })
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&value[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// `GET /signin?callbackUrl=<requested>` with the hook answering `answer`: the effects
/// it asked and the callback URL the response remembered.
fn page(requested: &str, answer: Result<&str, HookFailure>) -> (Vec<String>, Option<String>) {
    let target = format!(
        "/api/auth/signin?callbackUrl={}",
        portcullis_domain::cookies::encode_uri_component(requested)
    );
    let request = http::Request::get(target).body(Bytes::new()).unwrap();
    let record = drive(&engine(), request, 3, |effect| match effect {
        Effect::Hook(HookCall::Redirect { url, base_url }) => {
            assert_eq!(url, requested);
            assert_eq!(base_url, BASE);
            Outcome::Redirect(answer.clone().map(str::to_owned))
        }
        other => panic!("unexpected {other:?}"),
    });
    assert_eq!(record.status, 200);
    (record.effects.clone(), callback_cookie(&record))
}

#[test]
fn the_answer_is_followed_within_the_policy() {
    let cases: &[(&str, &str, &str)] = &[
        ("/dash", "/welcome", "https://example.com/welcome"),
        (
            "/dash",
            "https://app.example.org/in",
            "https://app.example.org/in",
        ),
        (
            "https://app.example.org/a",
            "/narrowed",
            "https://example.com/narrowed",
        ),
        ("/dash", BASE, BASE),
        // Never wider than the configured origins.
        ("/dash", "https://evil.example/", BASE),
        ("/dash", "//evil.example", BASE),
        ("/dash", "https://app.example.org.evil.net/", BASE),
        ("/dash", "", BASE),
    ];
    for (requested, answer, expected) in cases {
        let (effects, cookie) = page(requested, Ok(answer));
        assert_eq!(effects.len(), 1, "one hook call for {requested:?}");
        assert_eq!(
            cookie.as_deref(),
            Some(*expected),
            "{requested:?} answered {answer:?}"
        );
    }
}

#[test]
fn a_failed_hook_leaves_the_base_url() {
    for failure in [
        HookFailure::Error("Callback".into()),
        HookFailure::Redirect("https://evil.example/".into()),
        HookFailure::NotConfigured,
    ] {
        let (_, cookie) = page("https://app.example.org/a", Err(failure.clone()));
        assert_eq!(cookie.as_deref(), Some(BASE), "{failure:?}");
    }
}

#[test]
fn no_call_without_a_callback_url_parameter() {
    let from_cookie = http::Request::get("/api/auth/signin")
        .header(
            "cookie",
            "__Secure-next-auth.callback-url=https%3A%2F%2Fapp.example.org%2Fa",
        )
        .body(Bytes::new())
        .unwrap();
    let record = drive(&engine(), from_cookie, 4, |e| panic!("no hook call: {e:?}"));
    assert_eq!(record.status, 200);
    assert!(record.transitions.iter().any(|t| t.contains("CookieGiven")));
    let none = http::Request::get("/api/auth/session")
        .body(Bytes::new())
        .unwrap();
    let record = drive(&engine(), none, 5, |e| panic!("no hook call: {e:?}"));
    assert_eq!(record.body, "{}");
}

#[test]
fn sign_in_goes_on_to_the_rewritten_url() {
    let engine = engine();
    let (token, cookie) = csrf(&engine);
    let request = http::Request::post("/api/auth/callback/credentials")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(Bytes::from(format!(
            "csrfToken={token}&username=jane&callbackUrl=%2Fdash&json=true"
        )))
        .unwrap();
    let record = drive(&engine, request, 6, |effect| match effect {
        Effect::Hook(HookCall::Redirect { .. }) => {
            Outcome::Redirect(Ok("https://app.example.org/welcome".into()))
        }
        Effect::Authorize(_) => Outcome::Authorized(Ok(Some(json!({"id": "1"})))),
        other => panic!("unexpected {other:?}"),
    });
    assert_eq!(record.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&record.body).unwrap(),
        json!({"url": "https://app.example.org/welcome"})
    );
    assert!(
        record.effects[0].starts_with("Hook(Redirect"),
        "{:?}",
        record.effects
    );
    assert!(
        record
            .transitions
            .iter()
            .any(|t| t.starts_with("credentials:")),
        "{:?}",
        record.transitions
    );
    assert!(header(&record, "set-cookie")
        .iter()
        .any(|c| c.contains("session-token=")));
}

#[test]
fn an_outcome_that_does_not_answer_the_hook_is_a_fault() {
    let request = http::Request::get("/api/auth/signin?callbackUrl=%2Fdash")
        .body(Bytes::new())
        .unwrap();
    let mut run = engine().begin(&request, env(7));
    assert!(matches!(
        run.step(),
        Step::Effect(Effect::Hook(HookCall::Redirect { .. }))
    ));
    run.resume(Outcome::Throttle(true));
    match run.step() {
        Step::Done(response) => assert_eq!(response.status(), 500),
        other => panic!("{other:?}"),
    }
    assert!(run.fault().is_some());
}
