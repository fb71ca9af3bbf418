//! Assertions: exact statuses, bodies, headers and `Set-Cookie` lines.

use cucumber::gherkin::Step;
use cucumber::then;
use portcullis::CookieKey;
use serde_json::Value;

use super::docstring;
use crate::fixtures::vector;
use crate::jose;
use crate::matching::{match_json, match_line, Window};
use crate::world::{AuthWorld, StoreMode};

#[then(expr = "the status is {int}")]
async fn status_is(w: &mut AuthWorld, status: u16) {
    let last = w.last();
    assert_eq!(last.status, status, "answer: {last:?}");
}

#[then(expr = "the status is {int} or {int}")]
async fn status_is_either(w: &mut AuthWorld, a: u16, b: u16) {
    let last = w.last();
    assert!(last.status == a || last.status == b, "answer: {last:?}");
}

#[then(regex = r#"^the body is "(.*)"$"#)]
async fn body_is(w: &mut AuthWorld, body: String) {
    let expected = w.expand(&body);
    assert_eq!(w.last().body, expected, "answer: {:?}", w.last());
}

#[then("the body is empty")]
async fn body_is_empty(w: &mut AuthWorld) {
    assert_eq!(w.last().body, "", "answer: {:?}", w.last());
}

fn assert_json(w: &AuthWorld, expected: &str) {
    let expected: Value = serde_json::from_str(&w.expand(expected))
        .unwrap_or_else(|e| panic!("the expected JSON does not parse ({e}): {expected}"));
    let last = w.last();
    let actual: Value = serde_json::from_str(&last.body)
        .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {last:?}"));
    if let Err(why) = match_json(&expected, &actual, &last.window, "$") {
        panic!("{why}\n  body: {}", last.body);
    }
}

#[then(regex = r"^the JSON is '(.*)'$")]
async fn json_is(w: &mut AuthWorld, expected: String) {
    assert_json(w, &expected);
}

#[then("the JSON is:")]
async fn json_is_doc(w: &mut AuthWorld, step: &Step) {
    assert_json(w, &docstring(step));
}

#[then(regex = r"^the JSON is not '(.*)'$")]
async fn json_is_not(w: &mut AuthWorld, unexpected: String) {
    let unexpected: Value = serde_json::from_str(&w.expand(&unexpected)).expect("JSON");
    let actual = w.last().json();
    assert_ne!(actual, unexpected);
}

#[then(expr = "the header {string} is {string}")]
async fn header_is(w: &mut AuthWorld, name: String, value: String) {
    let last = w.last();
    let all: Vec<_> = last.headers.get_all(name.as_str()).iter().collect();
    assert_eq!(all.len(), 1, "header {name}: {all:?}");
    assert_eq!(
        last.header(&name).as_deref(),
        Some(value.as_str()),
        "answer: {last:?}"
    );
}

#[then(expr = "the header {string} is absent")]
async fn header_absent(w: &mut AuthWorld, name: String) {
    let last = w.last();
    assert_eq!(last.header(&name), None, "answer: {last:?}");
}

#[then(expr = "I am redirected to {string}")]
async fn redirected_to(w: &mut AuthWorld, location: String) {
    let last = w.last();
    assert_eq!(last.status, 302, "answer: {last:?}");
    assert_eq!(
        last.header("location").as_deref(),
        Some(location.as_str()),
        "answer: {last:?}"
    );
    assert_eq!(last.body, "", "a redirect has an empty body");
}

#[then("the response sets the cookies:")]
async fn sets_cookies(w: &mut AuthWorld, step: &Step) {
    let expected = w.expand(&docstring(step));
    let expected: Vec<&str> = expected.lines().map(str::trim).collect();
    let last = w.last();
    let actual = last.set_cookies();
    assert_eq!(
        actual.len(),
        expected.len(),
        "Set-Cookie lines:\n  {}\nexpected:\n  {}",
        actual.join("\n  "),
        expected.join("\n  ")
    );
    for (pattern, line) in expected.iter().zip(&actual) {
        if let Err(why) = match_line(pattern, line, &last.window) {
            panic!("{why}");
        }
    }
}

#[then("the response sets no cookie")]
async fn sets_no_cookie(w: &mut AuthWorld) {
    let cookies = w.last().set_cookies();
    assert!(cookies.is_empty(), "Set-Cookie: {cookies:?}");
}

fn sets(w: &AuthWorld, name: &str) -> bool {
    w.last()
        .set_cookies()
        .iter()
        .any(|line| line.split_once('=').is_some_and(|(n, _)| n == name))
}

#[then(expr = "the response sets cookie {string}")]
async fn sets_cookie(w: &mut AuthWorld, name: String) {
    assert!(sets(w, &name), "no {name} in {:?}", w.last().set_cookies());
}

#[then(expr = "the response does not set the cookie {string}")]
async fn does_not_set(w: &mut AuthWorld, name: String) {
    assert!(!sets(w, &name), "{name} set: {:?}", w.last().set_cookies());
}

#[then("the session cookie is cleared")]
async fn session_cleared(w: &mut AuthWorld) {
    let name = w.cookie_name(CookieKey::SessionToken).await;
    let prefix = format!("{name}=; Max-Age=0; ");
    let cookies = w.last().set_cookies();
    assert!(
        cookies.iter().any(|line| line.starts_with(&prefix)),
        "no deletion of {name} in {cookies:?}"
    );
    assert_eq!(w.jar.get(&name), None);
}

#[then(expr = "the session reads back as {string}")]
async fn session_reads_back(w: &mut AuthWorld, name: String) {
    let resp = w.read_session().await;
    let session = resp.json();
    assert_eq!(
        session.pointer("/user/name").and_then(Value::as_str),
        Some(name.as_str()),
        "session: {}",
        resp.body
    );
}

#[then("I have no session")]
async fn no_session(w: &mut AuthWorld) {
    let resp = w.read_session().await;
    assert_eq!(resp.body, "{}", "session: {resp:?}");
}

/// The session cookie's claims, opening a JWE with the site's first secret.
pub(crate) async fn session_claims(w: &mut AuthWorld) -> Value {
    let token = w.session_cookie().await;
    let jws = if token.split('.').count() == 5 {
        let secret = w.setup().secrets[0].clone();
        let (_, inner) = jose::open(&jose::derive(&secret).encryption, &token).expect("opens");
        String::from_utf8(inner).expect("UTF-8")
    } else {
        token
    };
    jose::jws_parts(&jws).expect("a JWS").1
}

#[then("the session cookie's claims are:")]
async fn claims_are(w: &mut AuthWorld, step: &Step) {
    let claims = session_claims(w).await;
    let name = w.cookie_name(CookieKey::SessionToken).await;
    let window = w
        .cookie_windows
        .get(&name)
        .copied()
        .unwrap_or_else(|| Window::at(w.now()));
    let expected: Value =
        serde_json::from_str(&w.expand(&docstring(step))).expect("claims as JSON");
    if let Err(why) = match_json(&expected, &claims, &window, "$") {
        panic!("{why}\n  claims: {claims}");
    }
}

#[then(expr = "the session cookie is a JWS with the header {string}")]
async fn is_jws(w: &mut AuthWorld, header: String) {
    let token = w.session_cookie().await;
    let (actual, _) = jose::jws_parts(&token).expect("a compact JWS");
    assert_eq!(actual, header);
}

#[then(expr = "the session cookie is a JWE with the header {string}")]
async fn is_jwe(w: &mut AuthWorld, header: String) {
    let token = w.session_cookie().await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 5, "not a compact JWE: {token}");
    assert!(parts[1].is_empty(), "dir has no encrypted key");
    let actual = String::from_utf8(jose::unb64(parts[0]).expect("b64")).expect("UTF-8");
    assert_eq!(actual, header);
    assert_eq!(jose::unb64(parts[2]).expect("b64").len(), 12, "a 96-bit IV");
    assert_eq!(
        jose::unb64(parts[4]).expect("b64").len(),
        16,
        "a 128-bit tag"
    );
}

#[then(expr = "the session cookie starts with {string}")]
async fn starts_with(w: &mut AuthWorld, prefix: String) {
    let token = w.session_cookie().await;
    assert!(token.starts_with(&prefix), "{token}");
}

#[then(expr = "the session cookie is {string}")]
async fn session_cookie_is(w: &mut AuthWorld, value: String) {
    let expected = w.expand(&value);
    assert_eq!(w.session_cookie().await, expected);
}

fn verify(token: &str, key: &[u8]) {
    assert!(
        jose::verify_hs512(token, key).expect("a JWS"),
        "the HS512 signature does not verify with that key: {token}"
    );
}

#[then(expr = "the session cookie's signature verifies with the key derived from {string}")]
async fn verifies_with(w: &mut AuthWorld, secret: String) {
    let token = w.session_cookie().await;
    verify(&token, &jose::derive(&secret).signing);
}

#[then("the session cookie's signature verifies with the §19 signing key")]
async fn verifies_with_vector(w: &mut AuthWorld) {
    let token = w.session_cookie().await;
    verify(
        &token,
        &hex::decode(vector("/hkdf/signing/okm_hex")).expect("hex"),
    );
}

fn open_to_jws(token: &str, key: &[u8], header: &str) -> String {
    let (_, inner) = jose::open(key, token).expect("the JWE opens with that key");
    let inner = String::from_utf8(inner).expect("UTF-8");
    let (actual, _) = jose::jws_parts(&inner).expect("a JWS inside");
    assert_eq!(actual, header);
    inner
}

#[then(
    expr = "the session cookie opens with the key derived from {string} to a JWS with the header {string}"
)]
async fn opens_with(w: &mut AuthWorld, secret: String, header: String) {
    let token = w.session_cookie().await;
    let keys = jose::derive(&secret);
    let inner = open_to_jws(&token, &keys.encryption, &header);
    verify(&inner, &keys.signing);
}

#[then(
    "the session cookie opens with the §19 encryption key to a JWS signed with the §19 signing key"
)]
async fn opens_with_vector(w: &mut AuthWorld) {
    let token = w.session_cookie().await;
    let key = hex::decode(vector("/hkdf/encryption/okm_hex")).expect("hex");
    let inner = open_to_jws(&token, &key, r#"{"alg":"HS512"}"#);
    verify(
        &inner,
        &hex::decode(vector("/hkdf/signing/okm_hex")).expect("hex"),
    );
}

#[then(expr = "the engine derives the §19 signing and encryption keys from {string}")]
async fn engine_derives(_w: &mut AuthWorld, secret: String) {
    use portcullis_domain::jwt::{hkdf_sha256, ENCRYPTION_KEY_INFO, SIGNING_KEY_INFO};
    let signing =
        hkdf_sha256(secret.as_bytes(), b"", SIGNING_KEY_INFO.as_bytes(), 64).expect("HKDF");
    let encryption =
        hkdf_sha256(secret.as_bytes(), b"", ENCRYPTION_KEY_INFO.as_bytes(), 32).expect("HKDF");
    assert_eq!(hex::encode(signing), vector("/hkdf/signing/okm_hex"));
    assert_eq!(hex::encode(encryption), vector("/hkdf/encryption/okm_hex"));
    assert_eq!(SIGNING_KEY_INFO, vector("/hkdf/signing/info"));
    assert_eq!(ENCRYPTION_KEY_INFO, vector("/hkdf/encryption/info"));
    // The specs' own derivation agrees, so the end-to-end checks above mean something.
    let ours = jose::derive(&secret);
    assert_eq!(hex::encode(ours.signing), vector("/hkdf/signing/okm_hex"));
    assert_eq!(
        hex::encode(ours.encryption),
        vector("/hkdf/encryption/okm_hex")
    );
}

#[then(regex = r#"^the page contains "(.*)"$"#)]
async fn page_contains(w: &mut AuthWorld, text: String) {
    let text = w.expand(&text);
    let body = &w.last().body;
    assert!(body.contains(&text), "the page lacks {text:?}:\n{body}");
}

#[then(regex = r#"^the page does not contain "(.*)"$"#)]
async fn page_lacks(w: &mut AuthWorld, text: String) {
    let body = &w.last().body;
    assert!(!body.contains(&text), "the page has {text:?}:\n{body}");
}

/// The page's one inline stylesheet, as a CSP source: `'sha256-<base64>'`.
fn style_hash(body: &str) -> String {
    use base64::Engine as _;
    use sha2::{Digest as _, Sha256};
    let start = body.find("<style>").expect("the page has a <style>") + "<style>".len();
    let len = body[start..]
        .find("</style>")
        .expect("the <style> is closed");
    let digest = Sha256::digest(&body.as_bytes()[start..start + len]);
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// `{style-hash}` in `policy` stands for the hash of the page's own stylesheet, so the
/// policy allows exactly that stylesheet and nothing else.
#[then(expr = "the Content-Security-Policy is {string}")]
async fn csp_is(w: &mut AuthWorld, policy: String) {
    let last = w.last();
    let expected = policy.replace("{style-hash}", &style_hash(&last.body));
    let all: Vec<_> = last
        .headers
        .get_all("content-security-policy")
        .iter()
        .collect();
    assert_eq!(all.len(), 1, "content-security-policy: {all:?}");
    assert_eq!(
        last.header("content-security-policy").as_deref(),
        Some(expected.as_str()),
        "answer: {last:?}"
    );
}

#[then("the page contains no inline script, style attribute or external resource")]
async fn page_is_self_contained(w: &mut AuthWorld) {
    let body = w.last().body.to_ascii_lowercase();
    for banned in ["<script", " style=", "<link", " src=", "url("] {
        assert!(!body.contains(banned), "the page has {banned:?}:\n{body}");
    }
    // Event handler attributes: ` onclick=`, ` onload=` …
    let handler = body.match_indices(" on").any(|(at, _)| {
        let rest = &body[at + 3..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        letters > 0 && rest[letters..].starts_with('=')
    });
    assert!(!handler, "the page has an event handler attribute:\n{body}");
}

/// The providers' forms in page order, by the id their action ends with
/// (`/signin/<id>`, `/callback/<id>`).
#[then(expr = "the page lists the sign-in options in the order {string}")]
async fn sign_in_order(w: &mut AuthWorld, order: String) {
    let body = &w.last().body;
    let ids: Vec<&str> = body
        .split("<form action=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter_map(|action| action.rsplit('/').next())
        .collect();
    let expected: Vec<&str> = order.split(", ").collect();
    assert_eq!(ids, expected, "the page:\n{body}");
}

#[then(expr = "the sign-in page shows the error {string}")]
async fn signin_error(w: &mut AuthWorld, message: String) {
    let snippet = format!("<div class=\"error\" role=\"alert\"><p>{message}</p></div>");
    let body = &w.last().body;
    assert!(
        body.contains(&snippet),
        "the page lacks {snippet:?}:\n{body}"
    );
}

#[then(expr = "the page's heading is {string}")]
async fn heading_is(w: &mut AuthWorld, heading: String) {
    let body = &w.last().body;
    let snippet = format!("<h1>{heading}</h1>");
    assert!(
        body.contains(&snippet),
        "the page lacks {snippet:?}:\n{body}"
    );
    assert_eq!(body.matches("<h1>").count(), 1, "one heading:\n{body}");
}

#[then(expr = "the page's title is {string}")]
async fn title_is(w: &mut AuthWorld, title: String) {
    let body = &w.last().body;
    let snippet = format!("<title>{title}</title>");
    assert!(
        body.contains(&snippet),
        "the page lacks {snippet:?}:\n{body}"
    );
}

#[then("the CSRF token is the one in the CSRF cookie")]
async fn csrf_matches_cookie(w: &mut AuthWorld) {
    let token = super::csrf_in(w.last()).expect("the answer hands out no CSRF token");
    assert_eq!(token.len(), 64, "a 256-bit token in hex: {token}");
    let name = w.cookie_name(CookieKey::CsrfToken).await;
    let cookie = w
        .jar
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} cookie"));
    let (in_cookie, hash) = cookie.split_once("%7C").expect("token%7Chash");
    assert_eq!(in_cookie, token);
    assert_eq!(hash.len(), 64);
    w.csrf = Some(token);
}

#[then("the backend was given the credentials:")]
async fn backend_given(w: &mut AuthWorld, step: &Step) {
    let expected: Value = serde_json::from_str(&w.expand(&docstring(step))).expect("JSON");
    let seen = w
        .authorize_seen
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the backend was not called");
    let actual = Value::Object(seen.credentials);
    if let Err(why) = match_json(&expected, &actual, &Window::at(w.now()), "$") {
        panic!("{why}\n  given: {actual}");
    }
}

#[then(expr = "the backend saw a {word} request without its Cookie header")]
async fn backend_saw(w: &mut AuthWorld, method: String) {
    let seen = w
        .authorize_seen
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the backend was not called");
    assert_eq!(seen.request.method, method);
    let names: Vec<&str> = seen
        .request
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(names.contains(&"content-type"), "headers: {names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("cookie") || n.eq_ignore_ascii_case("authorization")),
        "headers: {names:?}"
    );
}

#[then(expr = "the backend was called {int} times")]
async fn backend_called(w: &mut AuthWorld, times: usize) {
    let seen = w.authorize_seen.lock().unwrap();
    assert_eq!(seen.len(), times);
}

#[then("the backend was never called")]
async fn backend_never(w: &mut AuthWorld) {
    let seen = w.authorize_seen.lock().unwrap();
    assert!(
        seen.is_empty(),
        "the backend was called {} time(s)",
        seen.len()
    );
}

#[then("the store was never called")]
async fn store_never(w: &mut AuthWorld) {
    assert_ne!(w.setup().store, StoreMode::None, "no store is attached");
    let store = w.store().await;
    let calls = store.calls.lock().unwrap();
    assert!(calls.is_empty(), "store calls: {calls:?}");
}

async fn stored_session(w: &mut AuthWorld) -> Option<portcullis_domain::model::Session> {
    let token = w
        .saved
        .get("db-token")
        .cloned()
        .expect("no database session was made");
    let store = w.store().await;
    store
        .backend()
        .get_session_and_user(&crate::cookie_keys(&token).exposed())
        .await
        .expect("the store reads")
        .map(|(session, _)| session)
}

#[then("the store no longer holds the session")]
async fn session_gone(w: &mut AuthWorld) {
    assert_eq!(stored_session(w).await, None);
}

#[then(expr = "the stored session expires {string}")]
async fn stored_expiry(w: &mut AuthWorld, pattern: String) {
    let session = stored_session(w)
        .await
        .expect("the session is still stored");
    let text = crate::matching::iso(session.expires);
    let pattern = w.expand(&pattern);
    if let Err(why) = match_line(&pattern, &text, &w.last().window) {
        panic!("{why}");
    }
}

#[then(expr = "the store was asked to {word}")]
async fn store_asked(w: &mut AuthWorld, op: String) {
    let store = w.store().await;
    let calls = store.calls.lock().unwrap();
    assert!(calls.iter().any(|c| *c == op), "store calls: {calls:?}");
}

#[then(regex = r"^the store was asked to (\w+) (\d+) times? in all$")]
async fn store_asked_times(w: &mut AuthWorld, op: String, times: usize) {
    let store = w.store().await;
    assert_eq!(
        store.count(&op),
        times,
        "store calls: {:?}",
        store.calls.lock().unwrap()
    );
}

#[then(expr = "the events are {string}")]
async fn events_are(w: &mut AuthWorld, expected: String) {
    let expected = w.expand(&expected);
    let events = w.events.lock().unwrap().join(", ");
    assert_eq!(events, expected);
}

#[then(expr = "the app finds the token of subject {string}")]
async fn token_found(w: &mut AuthWorld, sub: String) {
    let found = w.token_check.clone().expect("no token check ran");
    let claims = found.expect("the app found no token");
    assert_eq!(
        claims.get("sub").and_then(Value::as_str),
        Some(sub.as_str())
    );
}

#[then("the app finds no token")]
async fn token_not_found(w: &mut AuthWorld) {
    let found = w.token_check.clone().expect("no token check ran");
    assert!(found.is_none(), "found {found:?}");
}

#[then(expr = "the server exits with status {int}, saying {string}")]
async fn server_exits(w: &mut AuthWorld, code: i32, message: String) {
    let (status, stderr) = w
        .refused
        .as_ref()
        .expect("no server was started: `When the server is started with the configuration:`");
    assert_eq!(*status, Some(code), "its standard error:\n{stderr}");
    assert!(
        stderr.lines().any(|line| line == message),
        "no line of its standard error is {message:?}:\n{stderr}"
    );
}
