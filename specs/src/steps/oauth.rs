//! OAuth sign-in: the site's OAuth providers (on the scenario's test provider), what the
//! provider does, and the browser going to the provider and back.

mod provider_does;
mod round_trip;
mod stored;

use std::sync::Arc;

use cucumber::given;
use portcullis::oauth::{ClientSecret, ProfileSource, Protocol};
use portcullis::{OAuthProvider, PresetOptions};
use portcullis_domain::secret::SecretString;
use serde_json::Value;

use crate::provider::{Now, Role, TestProvider};
use crate::world::{AuthWorld, OAuthEntry, StoreMode, Target};

pub(crate) use stored::provider_sub;

// ---------------------------------------------------------------------------------------
// The test provider and the site's OAuth providers

/// The scenario's test provider, started on first use with the site's clock.
pub(crate) async fn test_provider(w: &mut AuthWorld) -> Arc<TestProvider> {
    if let Some(provider) = &w.provider {
        return provider.clone();
    }
    let server_config = w.setup.as_ref().is_some_and(|s| s.server_config.is_some());
    let now: Now = match w.target {
        Target::Embedded if !server_config => {
            let clock = w.clock.clone();
            Arc::new(move || clock.unix())
        }
        _ => system_now(),
    };
    let provider = Arc::new(TestProvider::start(now).await);
    w.saved.insert("provider".into(), provider.origin());
    w.provider = Some(provider.clone());
    provider
}

pub(crate) fn system_now() -> Now {
    Arc::new(|| time::OffsetDateTime::now_utc().unix_timestamp())
}

/// The running test provider (a step must have configured one).
pub(crate) fn provider(w: &AuthWorld) -> Arc<TestProvider> {
    w.provider
        .clone()
        .expect("no test provider: start with `Given an OpenID provider \"…\"` or similar")
}

/// The client id and secret the site's provider `id` is registered with.
pub(crate) fn client_of(id: &str) -> (String, String) {
    (
        format!("{id}-client"),
        format!("{id}-secret-0123456789abcdef"),
    )
}

async fn add(
    w: &mut AuthWorld,
    id: &str,
    make: impl FnOnce(&crate::provider::State) -> OAuthProvider,
) {
    let test = test_provider(w).await;
    let (client_id, secret) = client_of(id);
    let provider = {
        let mut state = test.state();
        state.clients.insert(client_id, secret);
        make(&state)
    };
    w.setup_mut().oauth.push(OAuthEntry {
        id: id.to_owned(),
        name: format!("Test {id}"),
        provider,
        preset: false,
    });
}

/// The site's OAuth provider `id`, to change before the site starts.
pub(crate) fn entry<'a>(w: &'a mut AuthWorld, id: &str) -> &'a mut OAuthProvider {
    w.setup_mut()
        .oauth
        .iter_mut()
        .find(|e| e.id == id)
        .map(|e| &mut e.provider)
        .unwrap_or_else(|| panic!("no OAuth provider {id:?} on the site"))
}

#[given(expr = "an OpenID provider {string}")]
async fn openid_provider(w: &mut AuthWorld, id: String) {
    let (client_id, secret) = client_of(&id);
    add(w, &id, |s| {
        let mut p = OAuthProvider::openid(s.issuer(), client_id, secret);
        p.endpoints.authorization = Some(s.url(Role::Authorize));
        p.endpoints.token = Some(s.url(Role::Token));
        p.endpoints.userinfo = Some(s.url(Role::Userinfo));
        p.endpoints.jwks_uri = Some(s.url(Role::Jwks));
        p
    })
    .await;
}

#[given(expr = "an OpenID provider {string} found by discovery")]
async fn discovered_provider(w: &mut AuthWorld, id: String) {
    let (client_id, secret) = client_of(&id);
    add(w, &id, |s| {
        OAuthProvider::openid(s.issuer(), client_id, secret)
    })
    .await;
}

#[given(expr = "an OAuth 2 provider {string}")]
async fn oauth2_provider(w: &mut AuthWorld, id: String) {
    let (client_id, secret) = client_of(&id);
    add(w, &id, |s| {
        let mut p = OAuthProvider::oauth2(client_id, secret);
        p.endpoints.authorization = Some(s.url(Role::Authorize));
        p.endpoints.token = Some(s.url(Role::Token));
        p.endpoints.userinfo = Some(s.url(Role::Userinfo));
        p.scope = Some("profile email".into());
        p
    })
    .await;
}

#[given(expr = "an OAuth 1.0a provider {string}")]
async fn oauth1_provider(w: &mut AuthWorld, id: String) {
    let (client_id, secret) = client_of(&id);
    add(w, &id, |s| {
        let mut p = OAuthProvider::oauth1(client_id, secret);
        p.endpoints.request_token = Some(s.url(Role::RequestToken));
        p.endpoints.authorization = Some(s.url(Role::OAuth1Authorize));
        p.endpoints.token = Some(s.url(Role::AccessToken));
        p.endpoints.userinfo = Some(s.url(Role::Profile));
        p
    })
    .await;
}

/// The options every preset is built with (tenant hosts, region … where one is needed).
pub(crate) fn preset_options(id: &str) -> PresetOptions {
    let (client_id, secret) = client_of(id);
    PresetOptions {
        client_id,
        client_secret: ClientSecret::Secret(SecretString::new(secret)),
        domain: Some("tenant.example.com".into()),
        tenant: Some("tenant".into()),
        region: Some("eu".into()),
        api_version: Some("20231114".into()),
        headers: vec![("X-API-Key".into(), "bungie-api-key".into())],
    }
}

/// A fixture of `fixtures/providers/<id>/`.
pub(crate) fn fixture(id: &str, file: &str) -> Value {
    let path = crate::fixtures::workspace().join(format!("fixtures/providers/{id}/{file}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[given(expr = "the built-in provider {string}, its endpoints on the test provider")]
async fn preset_provider(w: &mut AuthWorld, id: String) {
    let preset = portcullis::oauth::preset(&id, &preset_options(&id))
        .unwrap_or_else(|e| panic!("the preset {id} does not build: {e}"));
    let test = test_provider(w).await;
    let mut provider = preset.provider;
    provider.endpoints = provider.endpoints.rebased(&test.origin());
    {
        let mut state = test.state();
        let (client_id, secret) = client_of(&id);
        state.clients.insert(client_id, secret);
        let oauth1 = provider.protocol == Protocol::OAuth1;
        let e = &provider.endpoints;
        let roles = [
            (
                &e.authorization,
                if oauth1 {
                    Role::OAuth1Authorize
                } else {
                    Role::Authorize
                },
            ),
            (
                &e.token,
                if oauth1 {
                    Role::AccessToken
                } else {
                    Role::Token
                },
            ),
            (
                &e.userinfo,
                if oauth1 {
                    Role::Profile
                } else {
                    Role::Userinfo
                },
            ),
            (&e.jwks_uri, Role::Jwks),
            (&e.request_token, Role::RequestToken),
        ];
        for (url, role) in roles {
            if let Some(path) = url.as_deref().and_then(|u| url::Url::parse(u).ok()) {
                state.aliases.insert(path.path().to_owned(), role);
            }
        }
        state.token_body = Some(fixture(&id, "token.json"));
        state.userinfo_body = Some(fixture(&id, "profile.json"));
    }
    w.setup_mut().oauth.push(OAuthEntry {
        id: id.clone(),
        name: preset.name.to_owned(),
        provider,
        preset: true,
    });
}

#[given("every built-in provider, with a client id and secret")]
async fn every_preset(w: &mut AuthWorld) {
    for id in portcullis::oauth::PRESET_IDS {
        let preset = portcullis::oauth::preset(id, &preset_options(id))
            .unwrap_or_else(|e| panic!("the preset {id} does not build: {e}"));
        w.setup_mut().oauth.push(OAuthEntry {
            id: preset.id.to_owned(),
            name: preset.name.to_owned(),
            provider: preset.provider,
            preset: true,
        });
    }
}

#[given(expr = "the OAuth provider {string} links accounts by verified e-mail")]
async fn dangerous_linking(w: &mut AuthWorld, id: String) {
    entry(w, &id).allow_dangerous_email_account_linking = true;
}

#[given(expr = "the OAuth provider {string} takes the profile from the ID token only")]
async fn id_token_profile(w: &mut AuthWorld, id: String) {
    entry(w, &id).profile_source = ProfileSource::IdToken;
}

#[given(expr = "the OAuth provider {string} answers by form POST")]
async fn form_post(w: &mut AuthWorld, id: String) {
    entry(w, &id).form_post = true;
}

#[given("the site keeps users and accounts in its store")]
async fn store_attached(w: &mut AuthWorld) {
    w.setup_mut().store = StoreMode::Backed;
}

#[given("the site keeps the provider's tokens in its encrypted JWT sessions")]
async fn tokens_in_jwt(w: &mut AuthWorld) {
    let setup = w.setup_mut();
    setup.provider_tokens_in_jwt = true;
    setup.encryption = true;
}
