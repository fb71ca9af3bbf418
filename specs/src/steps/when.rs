//! Requests.

use bytes::Bytes;
use cucumber::gherkin::Step;
use cucumber::{given, when};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::{docstring, form, require_embedded};
use crate::jose;
use crate::world::{AuthWorld, Req};

#[when(expr = "I GET {string}")]
async fn get(w: &mut AuthWorld, target: String) {
    w.get(&target).await;
}

#[when(expr = "I send {word} {string}")]
async fn send_method(w: &mut AuthWorld, method: String, target: String) {
    let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    w.send(Req::new(method, &target)).await;
}

#[when(expr = "I POST {string} with the form:")]
async fn post_form_table(w: &mut AuthWorld, target: String, step: &Step) {
    let table = step
        .table
        .as_ref()
        .expect("this step takes a table of fields");
    let fields: Vec<(String, String)> = table
        .rows
        .iter()
        .map(|row| {
            assert_eq!(row.len(), 2, "each row is | name | value |");
            (row[0].clone(), w.expand(&row[1]))
        })
        .collect();
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    w.post_form(&target, form(&pairs)).await;
}

#[when(regex = r#"^I POST "([^"]+)" with the raw form "(.*)"$"#)]
async fn post_raw_form(w: &mut AuthWorld, target: String, body: String) {
    let body = w.expand(&body);
    w.post_form(&target, body).await;
}

#[when(expr = "I POST {string} with the JSON:")]
async fn post_json(w: &mut AuthWorld, target: String, step: &Step) {
    let body = w.expand(&docstring(step));
    let mut req = Req::new(Method::POST, &target)
        .header("content-type", HeaderValue::from_static("application/json"));
    req.body = Bytes::from(body);
    w.send(req).await;
}

#[when(regex = r#"^I POST "([^"]+)" with content type "([^"]+)" and body "(.*)"$"#)]
async fn post_typed(w: &mut AuthWorld, target: String, content_type: String, body: String) {
    let body = w.expand(&body);
    let mut req = Req::new(Method::POST, &target).header(
        "content-type",
        HeaderValue::from_str(&content_type).expect("a content type"),
    );
    req.body = Bytes::from(body);
    w.send(req).await;
}

#[when(expr = "I POST {string} with a body of {int} MB")]
async fn post_megabytes(w: &mut AuthWorld, target: String, mb: usize) {
    let body = format!(
        "csrfToken={}&x={}",
        w.csrf.clone().unwrap_or_default(),
        "a".repeat(mb << 20)
    );
    let mut req = Req::new(Method::POST, &target).form(body);
    req.raw = true;
    w.send(req).await;
}

#[when(expr = "I POST {string} with a body of {int} bytes")]
async fn post_bytes(w: &mut AuthWorld, target: String, n: usize) {
    let mut req = Req::new(Method::POST, &target).form("a".repeat(n));
    req.raw = true;
    w.send(req).await;
}

fn non_utf8_cookie() -> HeaderValue {
    HeaderValue::from_bytes(
        b"next-auth.session-token=\xff\xfe\xfd; next-auth.csrf-token=\xc3\x28%7C\xa0",
    )
    .expect("obs-text is a valid header value")
}

#[when(expr = "I GET {string} with a Cookie header of non-UTF-8 bytes")]
async fn get_non_utf8(w: &mut AuthWorld, target: String) {
    let req = Req::new(Method::GET, &target).header("cookie", non_utf8_cookie());
    w.send(req).await;
}

#[when(expr = "I POST {string} with a Cookie header of non-UTF-8 bytes")]
async fn post_non_utf8(w: &mut AuthWorld, target: String) {
    let req = Req::new(Method::POST, &target)
        .form("csrfToken=%C3%28".into())
        .header("cookie", non_utf8_cookie());
    w.send(req).await;
}

#[when(expr = "I GET {string} with a Cookie header of {int} KB")]
async fn get_huge_cookie(w: &mut AuthWorld, target: String, kb: usize) {
    let mut header = String::new();
    let mut i = 0;
    while header.len() < kb * 1024 {
        header.push_str(&format!("c{i}={}; ", "v".repeat(60)));
        i += 1;
    }
    let value = HeaderValue::from_str(&header).expect("ASCII");
    w.send(Req::new(Method::GET, &target).header("cookie", value))
        .await;
}

#[when(expr = "I GET {string} with the header {string} = {string}")]
async fn get_with_header(w: &mut AuthWorld, target: String, name: String, value: String) {
    let value = HeaderValue::from_str(&w.expand(&value)).expect("a header value");
    w.send(Req::new(Method::GET, &target).header(&name, value))
        .await;
}

#[given("I fetch a CSRF token")]
#[when("I fetch a CSRF token")]
async fn fetch_csrf(w: &mut AuthWorld) {
    w.fetch_csrf().await;
}

#[when(expr = "I remember the CSRF token as {string}")]
async fn remember_csrf(w: &mut AuthWorld, name: String) {
    let token = w.csrf.clone().expect("no CSRF token yet");
    w.saved.insert(name, token);
}

#[when(expr = "I remember the session cookie as {string}")]
async fn remember_session(w: &mut AuthWorld, name: String) {
    let value = w.session_cookie().await;
    w.saved.insert(name, value);
}

/// A claim of the current session cookie, for a later `{saved:name}` (e.g. `auth_time`,
/// which renewals must keep while `iat` moves).
#[when(expr = "I remember the session cookie's claim {string} as {string}")]
async fn remember_claim(w: &mut AuthWorld, claim: String, name: String) {
    let claims = super::then::session_claims(w).await;
    let value = claims
        .get(&claim)
        .unwrap_or_else(|| panic!("no claim {claim:?} in {claims}"));
    w.saved.insert(name, value.to_string());
}

#[when("I forget my cookies")]
async fn forget_cookies(w: &mut AuthWorld) {
    w.jar.clear();
}

#[when(expr = "another browser fetches a CSRF token, remembered as {string}")]
async fn other_browser_csrf(w: &mut AuthWorld, name: String) {
    let (jar, csrf) = (w.jar.clone(), w.csrf.clone());
    w.jar.clear();
    let theirs = w.fetch_csrf().await;
    assert_ne!(
        Some(&theirs),
        csrf.as_ref(),
        "two browsers got the same CSRF token"
    );
    w.saved.insert(name, theirs);
    w.jar = jar;
    w.csrf = csrf;
}

#[when(expr = "I sign in as {string} with password {string}")]
async fn sign_in_as(w: &mut AuthWorld, username: String, password: String) {
    w.sign_in(&username, &password).await;
}

#[when(expr = "I sign in as {string} with password {string} {int} times")]
async fn sign_in_times(w: &mut AuthWorld, username: String, password: String, times: usize) {
    for _ in 0..times {
        w.sign_in(&username, &password).await;
    }
}

#[when("I sign out")]
async fn sign_out(w: &mut AuthWorld) {
    w.sign_out().await;
}

#[when("I follow the redirect")]
async fn follow(w: &mut AuthWorld) {
    let location = w
        .last()
        .header("location")
        .expect("the last answer has no Location");
    let target = w.on_site(&location).await;
    w.get(&target).await;
}

#[when(expr = "I change the name in the session cookie's payload to {string}")]
async fn tamper(w: &mut AuthWorld, name: String) {
    let token = w.session_cookie().await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWS: {token}");
    let (_, mut payload) = jose::jws_parts(&token).expect("a JWS");
    payload["name"] = serde_json::Value::String(name);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        jose::b64(payload.to_string().as_bytes()),
        parts[2]
    );
    w.set_session_cookie(&forged).await;
}

#[when(expr = "the app checks the token with the header {string} = {string}")]
async fn check_token(w: &mut AuthWorld, name: String, value: String) {
    require_embedded(w, "the in-process token check");
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
        HeaderValue::from_str(&w.expand(&value)).expect("a header value"),
    );
    let app = w.app().await;
    w.token_check = Some(app.get_token(&headers).await);
}
