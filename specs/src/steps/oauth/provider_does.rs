//! What the test provider does, as a scenario sets it: its user, its ID tokens and keys,
//! its issuer, canned or unreachable endpoints.

use cucumber::gherkin::Step;
use cucumber::{given, when};
use serde_json::{Map, Value};

use super::{provider, test_provider};
use crate::provider::{Canned, Role, Signing};
use crate::steps::docstring;
use crate::world::AuthWorld;

fn json_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        other => panic!("expected a JSON object, got {other:?}"),
    }
}

#[given("the provider's user is:")]
async fn provider_user(w: &mut AuthWorld, step: &Step) {
    let user = json_object(&docstring(step));
    test_provider(w).await.state().user = user;
}

#[given("the provider's ID tokens have the claims:")]
async fn id_token_claims(w: &mut AuthWorld, step: &Step) {
    let text = crate::steps::given::resolve_claims(w, &docstring(step));
    let claims = json_object(&text);
    test_provider(w)
        .await
        .state()
        .id_token_claims
        .extend(claims);
}

#[given("the provider's userinfo answers the claims:")]
async fn userinfo_claims(w: &mut AuthWorld, step: &Step) {
    let claims = json_object(&docstring(step));
    test_provider(w)
        .await
        .state()
        .userinfo_claims
        .extend(claims);
}

#[given(regex = r"^the provider signs its ID tokens (.+)$")]
async fn id_token_signing(w: &mut AuthWorld, how: String) {
    let signing = match how.as_str() {
        "with alg none" => Signing::None,
        "with HS256 keyed with its public key" => Signing::Hs256WithPublicKey,
        "with a key other than the one its kid names" => Signing::WrongKey,
        "with a key it does not publish" => Signing::Key(1),
        other => panic!("the provider cannot sign {other:?}"),
    };
    test_provider(w).await.state().signing = signing;
}

#[when("the provider starts signing with a new key and publishes it")]
async fn rotate(w: &mut AuthWorld) {
    let provider = provider(w);
    let mut state = provider.state();
    state.signing = Signing::Key(1);
    state.published = vec![0, 1];
}

#[given(expr = "the provider's discovery document names the issuer {string}")]
async fn discovery_issuer(w: &mut AuthWorld, issuer: String) {
    test_provider(w).await.state().discovery_issuer = Some(issuer);
}

#[given("the provider names itself in its authorisation answers")]
async fn sends_own_iss(w: &mut AuthWorld) {
    let provider = test_provider(w).await;
    let mut state = provider.state();
    state.send_iss = Some(state.issuer().to_owned());
}

#[given(expr = "the provider names the issuer {string} in its authorisation answers")]
async fn sends_iss(w: &mut AuthWorld, iss: String) {
    test_provider(w).await.state().send_iss = Some(iss);
}

#[given(expr = "the provider's access tokens expire in {int} seconds")]
async fn expires_in(w: &mut AuthWorld, seconds: i64) {
    test_provider(w).await.state().expires_in = seconds;
}

#[given("the provider refuses to refresh tokens")]
#[when("the provider refuses to refresh tokens")]
async fn refuse_refresh(w: &mut AuthWorld) {
    test_provider(w).await.state().refuse_refresh = true;
}

async fn can(w: &mut AuthWorld, role: &str, canned: Canned) {
    test_provider(w)
        .await
        .state()
        .canned
        .insert(Role::parse(role), canned);
}

#[given(expr = "the provider's {word} endpoint answers {int}")]
#[when(expr = "the provider's {word} endpoint answers {int}")]
async fn answers_status(w: &mut AuthWorld, role: String, status: u16) {
    let canned = Canned::Status {
        status,
        content_type: None,
        body: Vec::new(),
    };
    can(w, &role, canned).await;
}

#[given(expr = "the provider's {word} endpoint answers {int} with a {string} body:")]
async fn answers_body(
    w: &mut AuthWorld,
    role: String,
    status: u16,
    content_type: String,
    step: &Step,
) {
    let canned = Canned::Status {
        status,
        content_type: Some(content_type),
        body: docstring(step).into_bytes(),
    };
    can(w, &role, canned).await;
}

#[given(expr = "the provider's {word} endpoint answers with a body of {int} MB")]
async fn answers_huge(w: &mut AuthWorld, role: String, mb: usize) {
    can(w, &role, Canned::Huge(mb << 20)).await;
}

#[given(expr = "the provider's {word} endpoint redirects to its {string} path")]
async fn answers_redirect(w: &mut AuthWorld, role: String, path: String) {
    let location = format!("{}{path}", test_provider(w).await.origin());
    can(w, &role, Canned::Redirect(location)).await;
}

#[given(expr = "the provider's {word} endpoint cannot be reached")]
async fn unreachable(w: &mut AuthWorld, role: String) {
    let role = Role::parse(&role);
    let test = test_provider(w).await;
    let (live, dead, origin, dead_origin) = {
        let mut state = test.state();
        let live = state.url(role);
        state.dead.insert(role);
        let dead = state.url(role);
        let origin = state.issuer().to_owned();
        let dead_origin = dead.trim_end_matches(role.path()).to_owned();
        (live, dead, origin, dead_origin)
    };
    // The site's configured endpoints move to the unreachable port too; an unreachable
    // discovery document is an issuer nobody answers for.
    for e in &mut w.setup_mut().oauth {
        let endpoints = &mut e.provider.endpoints;
        for url in [
            &mut endpoints.authorization,
            &mut endpoints.token,
            &mut endpoints.userinfo,
            &mut endpoints.jwks_uri,
            &mut endpoints.request_token,
        ]
        .into_iter()
        .flatten()
        {
            if *url == live {
                url.clone_from(&dead);
            }
        }
        if role == Role::Discovery && endpoints.issuer.as_deref() == Some(origin.as_str()) {
            endpoints.issuer = Some(dead_origin.clone());
        }
    }
}
