//! The operator's hook server (C18): what `[hooks.*]` point the real server at. It checks
//! every request's Standard Webhooks signature with the reference `standardwebhooks` crate,
//! answers as the scenario scripted, signed for the request's id, and records the events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{given, then};
use serde_json::{json, Map, Value};

use crate::world::{AuthWorld, REQUEST_TIMEOUT};

/// The scripted answers, by hook, and what the server heard.
#[derive(Debug, Default)]
struct Script {
    answers: Vec<(String, String)>,
    /// The event requests received.
    events: Vec<Value>,
    /// Requests whose signature did not verify.
    forged: usize,
    /// The hook of every signed request received, in order.
    calls: Vec<String>,
}

/// The scenario's hook server, serving until the world drops it.
pub(crate) struct HookServer {
    script: Arc<Mutex<Script>>,
    _server: portcullis_server::ShutdownHandle,
}

fn answer(script: &Script, hook: &str, data: &Value) -> Result<Value, ()> {
    let plan = script
        .answers
        .iter()
        .find(|(name, _)| name == hook)
        .map(|(_, plan)| plan.as_str())
        .unwrap_or("");
    let words: Vec<&str> = plan.split_whitespace().collect();
    match (hook, words.as_slice()) {
        (_, ["fail"]) => Err(()),
        ("sign_in", [] | ["allow"]) => Ok(json!({"decision": "allow"})),
        ("sign_in", ["deny"]) => Ok(json!({"decision": "deny"})),
        ("sign_in", ["redirect", "to", url]) => Ok(json!({"decision": "redirect", "url": url})),
        ("jwt", []) => Ok(json!({"token": data["token"]})),
        ("jwt", ["add", "the", "claim", name, "=", value]) => {
            let mut token = data["token"].as_object().cloned().unwrap_or_default();
            token.insert((*name).to_owned(), Value::String((*value).to_owned()));
            Ok(json!({ "token": token }))
        }
        ("session", []) => Ok(json!({"session": data["session"]})),
        ("redirect", [] | ["keep"]) => Ok(json!({"url": data["url"]})),
        ("redirect", ["rewrite", "to", url]) => Ok(json!({ "url": url })),
        ("session", ["copy", "the", "claim", name]) => {
            let mut session = data["session"].as_object().cloned().unwrap_or_default();
            session.insert((*name).to_owned(), data["token"][*name].clone());
            Ok(json!({ "session": session }))
        }
        _ => panic!("the hook server has no answer {plan:?} for {hook}"),
    }
}

/// Starts the hook server with the table's answers (`| hook | answer |`): `sign_in`
/// allow / deny / redirect to URL / fail; `jwt` add the claim NAME = VALUE / fail;
/// `session` copy the claim NAME / fail; `redirect` keep / rewrite to URL / fail. Saves `{saved:hook_url}` (append `/<hook>`) and
/// `{saved:hook_secret}`.
#[given("the operator's hook server answering:")]
async fn hook_server(w: &mut AuthWorld, step: &Step) {
    use warp::Filter as _;
    let mut script = Script::default();
    if let Some(table) = &step.table {
        for row in table.rows.iter().skip(1) {
            script.answers.push((row[0].clone(), row[1].clone()));
        }
    }
    let script = Arc::new(Mutex::new(script));
    let secret = crate::webhooks::fresh_secret();
    let webhook = Arc::new(standardwebhooks::Webhook::new(&secret).expect("a webhook secret"));
    let shared = script.clone();
    let route = warp::post()
        .and(warp::path::param::<String>())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(
            move |hook: String, headers: http::HeaderMap, body: bytes::Bytes| {
                let mut script = shared.lock().unwrap_or_else(|e| e.into_inner());
                let reply = |status: u16, body: String| {
                    warp::http::Response::builder()
                        .status(status)
                        .body(body)
                        .expect("a response")
                };
                if let Some(refusal) = crate::webhooks::refuse_unsigned(&webhook, &headers, &body) {
                    script.forged += 1;
                    return refusal;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                script.calls.push(hook.clone());
                if hook == "events" {
                    script.events.push(request);
                    return reply(200, String::new());
                }
                let Ok(answer) = answer(&script, &hook, &request["data"]) else {
                    return reply(500, "scripted failure".into());
                };
                crate::webhooks::signed_json(&webhook, &headers, answer.to_string())
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the hook server binds 127.0.0.1:0");
    let (addr, server) = portcullis_server::serve_on(listener, route, futures::future::pending())
        .expect("the hook server serves");
    w.saved.insert("hook_url".into(), format!("http://{addr}"));
    w.saved.insert("hook_secret".into(), secret);
    w.hook_server = Some(HookServer {
        script,
        _server: server,
    });
}

/// `signIn(Jane Doe, credentials)`-style summaries of the events received so far.
fn summaries(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            let data = event["data"].as_object().cloned().unwrap_or_else(Map::new);
            let user = data
                .get("user")
                .and_then(|u| u.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned();
            // v3's account names its provider in `provider`; a credentials account (v3's
            // `{ id: provider.id, type: "credentials" }`) in `id`.
            let provider = data
                .get("account")
                .and_then(|a| match a.get("type").and_then(Value::as_str) {
                    Some("credentials") => a.get("id"),
                    _ => a.get("provider"),
                })
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned();
            let name = data.get("event").and_then(Value::as_str).unwrap_or("?");
            format!("{name}({user}, {provider})")
        })
        .collect()
}

/// Events are delivered in the background: waits (polling, bounded) until `expected`
/// is among them.
#[then(expr = "the hook server receives the event {string}")]
async fn receives_event(w: &mut AuthWorld, expected: String) {
    let server = w
        .hook_server
        .as_ref()
        .expect("no hook server in this scenario");
    let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
    loop {
        let seen = summaries(&server.script.lock().expect("script").events);
        if seen.contains(&expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hook server did not receive {expected:?}; it received {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[then("every request the hook server received was signed")]
async fn all_signed(w: &mut AuthWorld) {
    let server = w
        .hook_server
        .as_ref()
        .expect("no hook server in this scenario");
    assert_eq!(server.script.lock().expect("script").forged, 0);
}

#[then(expr = "the hook server received {int} {word} request(s)")]
async fn received_calls(w: &mut AuthWorld, count: usize, hook: String) {
    let server = w
        .hook_server
        .as_ref()
        .expect("no hook server in this scenario");
    let calls = server.script.lock().expect("script").calls.clone();
    let received = calls.iter().filter(|c| **c == hook).count();
    assert_eq!(received, count, "the hook server received {calls:?}");
}
