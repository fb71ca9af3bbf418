//! What an OAuth sign-in must have done: the authorisation request, what the provider was
//! sent, the user and account in the store, the provider's tokens, and the logs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cucumber::gherkin::Step;
use cucumber::then;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::oauth::{client_of, fixture, provider, provider_sub};
use crate::provider::{Role, Seen};
use crate::world::AuthWorld;

/// The parameters of the authorisation URL the site sent the browser to.
fn authorization_params(w: &AuthWorld) -> Vec<(String, String)> {
    let url = w.oauth.authorization_url.as_deref().unwrap_or_else(|| {
        panic!(
            "the site did not send the browser to the provider: {:?}",
            w.last
        )
    });
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn authorization_param(w: &AuthWorld, name: &str) -> Option<String> {
    authorization_params(w)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// 32 random bytes in base64url: 43 characters of the URL-safe alphabet.
fn is_random_value(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[then(expr = "I am sent to the provider to authorise {string}")]
async fn sent_to_provider(w: &mut AuthWorld, id: String) {
    let last = w.last().clone();
    let url = w
        .oauth
        .authorization_url
        .clone()
        .unwrap_or_else(|| panic!("not sent to the provider: {last:?}"));
    if last.status == 302 {
        assert_eq!(last.header("location"), Some(url.clone()));
        assert_eq!(last.header("cache-control").as_deref(), Some("no-store"));
    }
    let (client_id, _) = client_of(&id);
    let callback = w.route(&format!("/callback/{id}")).await;
    let app = w.app().await;
    let base = app.config().site.base_url().to_owned();
    assert_eq!(
        authorization_param(w, "client_id").as_deref(),
        Some(client_id.as_str()),
        "{url}"
    );
    assert_eq!(
        authorization_param(w, "redirect_uri"),
        Some(format!("{base}{callback}")),
        "{url}"
    );
}

#[then(expr = "the header {string} is the callback of {string} with the provider's answer")]
async fn rerouted(w: &mut AuthWorld, header: String, id: String) {
    let answer = w.oauth.back.clone().expect("the provider has not answered");
    let pairs: Vec<(&str, &str)> = answer
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let callback = w.route(&format!("/callback/{id}")).await;
    let app = w.app().await;
    let expected = format!(
        "{}{callback}?{}",
        app.config().site.base_url(),
        super::form(&pairs)
    );
    assert_eq!(w.last().header(&header), Some(expected));
}

/// `| name | value |`: `{random}` is a fresh 256-bit value in base64url, `{absent}` says
/// the parameter is not sent; anything else is the exact value.
#[then("the authorisation request carries:")]
async fn authorisation_carries(w: &mut AuthWorld, step: &Step) {
    let table = step.table.as_ref().expect("a table of | name | value |");
    let params = authorization_params(w);
    let mut randoms = Vec::new();
    for row in &table.rows {
        let (name, expected) = (&row[0], w.expand(&row[1]));
        let values: Vec<&String> = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect();
        match expected.as_str() {
            "{absent}" => assert!(values.is_empty(), "{name} is sent: {params:?}"),
            "{random}" => {
                assert_eq!(values.len(), 1, "{name} once: {params:?}");
                assert!(is_random_value(values[0]), "{name} = {:?}", values[0]);
                randoms.push(values[0].clone());
            }
            _ => assert_eq!(values, vec![&expected], "{name}: {params:?}"),
        }
    }
    let mut distinct = randoms.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        randoms.len(),
        "one-time values repeat: {randoms:?}"
    );
}

/// Requests the provider received for `role`.
fn requests(w: &AuthWorld, role: &str) -> Vec<Seen> {
    let role = Role::parse(role);
    provider(w)
        .state()
        .seen
        .iter()
        .filter(|s| s.role == Some(role))
        .cloned()
        .collect()
}

fn last_request(w: &AuthWorld, role: &str) -> Seen {
    requests(w, role)
        .pop()
        .unwrap_or_else(|| panic!("the provider's {role} endpoint was never called"))
}

#[then("the provider's token request carried the PKCE verifier of that challenge")]
async fn pkce_verifier(w: &mut AuthWorld) {
    let challenge = authorization_param(w, "code_challenge").expect("a code_challenge");
    let token = last_request(w, "token");
    let verifier = token.param("code_verifier").expect("a code_verifier");
    assert!(is_random_value(verifier), "{verifier}");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        challenge
    );
}

#[then(regex = r"^the provider's (\S+) endpoint was called (\d+) times?$")]
async fn called_times(w: &mut AuthWorld, role: String, times: usize) {
    let seen = requests(w, &role);
    assert_eq!(seen.len(), times, "{role} requests: {seen:#?}");
}

#[then(expr = "the provider's {word} endpoint was never called")]
async fn never_called(w: &mut AuthWorld, role: String) {
    let seen = requests(w, &role);
    assert!(seen.is_empty(), "{role} requests: {seen:#?}");
}

#[then(expr = "the provider never saw a request for {string}")]
async fn never_saw(w: &mut AuthWorld, path: String) {
    let provider = provider(w);
    let state = provider.state();
    assert!(!state.seen.is_empty(), "the provider saw no request at all");
    assert!(
        state.seen.iter().all(|s| s.path != path),
        "{path} was requested"
    );
}

#[then(expr = "the provider's last {word} request was a {word}")]
async fn last_method(w: &mut AuthWorld, role: String, method: String) {
    assert_eq!(last_request(w, &role).method, method);
}

#[then(expr = "the provider's last {word} request had the header {string} = {string}")]
async fn last_header(w: &mut AuthWorld, role: String, name: String, value: String) {
    let seen = last_request(w, &role);
    assert_eq!(
        seen.header(&name),
        Some(w.expand(&value).as_str()),
        "{seen:#?}"
    );
}

#[then(expr = "the provider's last {word} request had {string} = {string}")]
async fn last_param(w: &mut AuthWorld, role: String, name: String, value: String) {
    let seen = last_request(w, &role);
    assert_eq!(
        seen.param(&name),
        Some(w.expand(&value).as_str()),
        "{seen:#?}"
    );
}

#[then(expr = "the provider's last {word} request had no {string}")]
async fn last_param_absent(w: &mut AuthWorld, role: String, name: String) {
    let seen = last_request(w, &role);
    assert_eq!(seen.param(&name), None, "{seen:#?}");
}

#[then(expr = "the provider's last {word} request carried its latest access token")]
async fn bearer(w: &mut AuthWorld, role: String) {
    let seen = last_request(w, &role);
    let latest = provider(w).state().access_tokens.last().cloned();
    let latest = latest.expect("the provider issued no access token");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {latest}").as_str())
    );
}

#[then("the provider's OAuth 1.0a requests were all signed")]
async fn oauth1_signed(w: &mut AuthWorld) {
    // The provider answers 401 to a bad signature, so a sign-in that got through had
    // each of these signed; here: each was sent, with an OAuth header.
    for role in ["request-token", "access-token", "profile"] {
        let seen = last_request(w, role);
        let header = seen.header("authorization").unwrap_or_default();
        assert!(header.starts_with("OAuth "), "{role}: {seen:#?}");
        assert!(
            header.contains("oauth_signature_method=\"HMAC-SHA1\""),
            "{header}"
        );
    }
    let access = last_request(w, "access-token");
    let header = access.header("authorization").unwrap_or_default();
    assert!(header.contains("oauth_verifier="), "{header}");
}

/// `| id | name |`, in the catalogue's order: the site lists each as v3 does, and no other
/// OAuth provider; the catalogue has exactly these ids.
#[then("the providers answer lists exactly these OAuth providers:")]
async fn lists_presets(w: &mut AuthWorld, step: &Step) {
    let table = step.table.as_ref().expect("a table of | id | name |");
    let listed = w.last().json();
    let listed = listed.as_object().expect("an object of providers");
    let oauth: Vec<&String> = listed
        .iter()
        .filter(|(_, p)| p["type"] == "oauth")
        .map(|(id, _)| id)
        .collect();
    let ids: Vec<&String> = table.rows.iter().map(|row| &row[0]).collect();
    assert_eq!(oauth, ids);
    assert_eq!(portcullis::oauth::PRESET_IDS.to_vec(), ids);
    for row in &table.rows {
        let (id, name) = (&row[0], &row[1]);
        let expected = serde_json::json!({
            "id": id,
            "name": name,
            "type": "oauth",
            "signinUrl": format!("http://localhost:3000/api/auth/signin/{id}"),
            "callbackUrl": format!("http://localhost:3000/api/auth/callback/{id}"),
        });
        assert_eq!(listed[id.as_str()], expected);
    }
}

// ---------------------------------------------------------------------------------------
// Users, accounts and tokens

async fn account_user(w: &mut AuthWorld, id: &str) -> Option<portcullis_domain::model::User> {
    let sub = provider_sub(w);
    let store = w.store().await;
    store
        .backend()
        .get_user_by_account(id, &sub)
        .await
        .expect("the store reads")
}

#[then(expr = "the user {string} has the {string} account of the provider's user")]
async fn has_account(w: &mut AuthWorld, email: String, id: String) {
    let user = account_user(w, &id)
        .await
        .unwrap_or_else(|| panic!("nobody has the {id} account"));
    assert_eq!(user.email.as_deref(), Some(email.as_str()), "{user:?}");
    w.saved.insert("user-id".into(), user.id);
}

#[then(expr = "nobody has the {string} account of the provider's user")]
async fn no_account(w: &mut AuthWorld, id: String) {
    let user = account_user(w, &id).await;
    assert_eq!(user, None);
}

#[then(expr = "the {string} account of the provider's user does not belong to the user {string}")]
async fn account_not_of(w: &mut AuthWorld, id: String, email: String) {
    let user = account_user(w, &id)
        .await
        .unwrap_or_else(|| panic!("nobody has the {id} account"));
    assert_ne!(user.email.as_deref(), Some(email.as_str()), "{user:?}");
}

#[then(expr = "the store has a user {string} named {string}, e-mail not verified")]
async fn stored_user(w: &mut AuthWorld, email: String, name: String) {
    let user = stored_user_named(w, &email, &name).await;
    assert_eq!(user.email_verified, None, "{user:?}");
}

/// A provider that vouches for the address (`email_verified`) makes a verified user.
#[then(expr = "the store has a user {string} named {string}, e-mail verified by the provider")]
async fn stored_user_verified(w: &mut AuthWorld, email: String, name: String) {
    let user = stored_user_named(w, &email, &name).await;
    let verified = user
        .email_verified
        .unwrap_or_else(|| panic!("{email} is not verified: {user:?}"));
    let at = crate::matching::iso(verified);
    if let Err(why) = crate::matching::match_line("{iso:now}", &at, &w.last().window) {
        panic!("{why}");
    }
}

async fn stored_user_named(
    w: &mut AuthWorld,
    email: &str,
    name: &str,
) -> portcullis_domain::model::User {
    let store = w.store().await;
    let user = store
        .backend()
        .get_user_by_email(email)
        .await
        .expect("the store reads")
        .unwrap_or_else(|| panic!("no user {email}"));
    assert_eq!(user.name.as_deref(), Some(name), "{user:?}");
    w.saved.insert("user-id".into(), user.id.clone());
    user
}

/// The store port cannot list users: this counts those with the e-mails the OAuth
/// scenarios use (a duplicate user made from the provider's profile would be one more).
#[then(expr = "the store has {int} user(s)")]
async fn user_count(w: &mut AuthWorld, n: usize) {
    let store = w.store().await;
    let mut found = 0;
    for email in ["jane@example.com", "ann@example.com", "someone@example.com"] {
        if store
            .backend()
            .get_user_by_email(email)
            .await
            .expect("the store reads")
            .is_some()
        {
            found += 1;
        }
    }
    assert_eq!(found, n);
}

#[then(expr = "the {string} account holds the provider's latest tokens")]
async fn account_tokens(w: &mut AuthWorld, id: String) {
    let sub = provider_sub(w);
    // Before the store is opened: on the HTTP target with sled that stops the binary first.
    let now = w.now().unix_timestamp();
    let store = w.store().await;
    let account = store
        .backend()
        .get_account(&id, &sub)
        .await
        .expect("the store reads")
        .unwrap_or_else(|| panic!("no {id} account"));
    let provider = provider(w);
    let state = provider.state();
    let latest = |list: &[String]| list.last().cloned();
    assert_eq!(
        account.access_token.as_ref().map(|t| t.expose().to_owned()),
        latest(&state.access_tokens)
    );
    assert_eq!(
        account
            .refresh_token
            .as_ref()
            .map(|t| t.expose().to_owned()),
        latest(&state.refresh_tokens)
    );
    assert_eq!(account.token_type.as_deref(), Some("Bearer"));
    assert_eq!(account.scope.as_deref(), Some("openid profile email"));
    let id_token = account
        .id_token
        .as_ref()
        .map(|t| t.expose().to_owned())
        .expect("the ID token is kept");
    assert_eq!(state.issued.iter().filter(|i| **i == id_token).count(), 1);
    let expires = account
        .access_token_expires
        .expect("the expiry is kept")
        .unix_timestamp();
    let expected = now + state.expires_in;
    assert!(
        (expected - 5..=expected).contains(&expires),
        "expires at {expires}, expected about {expected}"
    );
}

async fn session_json(w: &mut AuthWorld) -> Value {
    w.read_session().await.json()
}

#[then("the session holds the provider's latest access token")]
async fn session_access_token(w: &mut AuthWorld) {
    let session = session_json(w).await;
    let latest = provider(w).state().access_tokens.last().cloned();
    assert_eq!(
        session.get("accessToken").and_then(Value::as_str),
        latest.as_deref(),
        "{session}"
    );
    assert_eq!(session.get("error"), None, "{session}");
    assert_eq!(
        session.get("refreshToken"),
        None,
        "the refresh token stays in the cookie"
    );
}

#[then(expr = "the session holds the provider's access token number {int} and the error {string}")]
async fn session_error(w: &mut AuthWorld, n: usize, error: String) {
    let session = session_json(w).await;
    let token = provider(w).state().access_tokens.get(n - 1).cloned();
    assert_eq!(
        session.get("accessToken").and_then(Value::as_str),
        token.as_deref(),
        "{session}"
    );
    assert_eq!(
        session.get("error").and_then(Value::as_str),
        Some(error.as_str()),
        "{session}"
    );
}

#[then(expr = "the session cookie holds the provider's refresh token number {int}")]
async fn cookie_refresh_token(w: &mut AuthWorld, n: usize) {
    let claims = super::then::session_claims(w).await;
    let expected = provider(w).state().refresh_tokens.get(n - 1).cloned();
    assert_eq!(
        claims.get("refreshToken").and_then(Value::as_str),
        expected.as_deref(),
        "{claims}"
    );
}

#[then(expr = "the provider was asked to refresh with its refresh token number {int}")]
async fn refreshed_with(w: &mut AuthWorld, n: usize) {
    let expected = provider(w).state().refresh_tokens.get(n - 1).cloned();
    let seen = last_request(w, "token");
    assert_eq!(seen.param("grant_type"), Some("refresh_token"), "{seen:#?}");
    assert_eq!(
        seen.param("refresh_token"),
        expected.as_deref(),
        "{seen:#?}"
    );
}

#[then(expr = "the provider issued {int} access tokens")]
async fn access_token_count(w: &mut AuthWorld, n: usize) {
    assert_eq!(provider(w).state().access_tokens.len(), n);
}

#[then(expr = "the signed-in user is the one of the {string} fixture")]
async fn fixture_user(w: &mut AuthWorld, id: String) {
    let expected = fixture(&id, "expected.json");
    let session = session_json(w).await;
    for (field, key) in [("name", "name"), ("email", "email"), ("image", "image")] {
        assert_eq!(
            session["user"].get(field),
            Some(&expected[key]),
            "{field} of {session} (expected {expected})"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Logs

#[then("no log line holds the client secret, a code, a token or an ID token")]
async fn logs_clean(w: &mut AuthWorld) {
    let lines = w.logs.lines();
    let provider = provider(w);
    let state = provider.state();
    let origin = state.issuer().to_owned();
    assert!(
        lines.iter().any(|l| l.contains(&origin)),
        "nothing was logged about the provider calls: {lines:#?}"
    );
    let mut secrets: Vec<String> = state.clients.values().cloned().collect();
    secrets.extend(state.issued.iter().cloned());
    assert!(
        secrets.len() > state.clients.len(),
        "the provider issued nothing"
    );
    for line in &lines {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a log line leaks {secret:?}: {line}"
            );
        }
    }
}
