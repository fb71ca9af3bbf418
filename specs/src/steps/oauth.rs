//! OAuth sign-in: the site's OAuth providers (on the scenario's test provider), what the
//! provider does, and the browser going to the provider and back.

use std::sync::Arc;

use cucumber::gherkin::Step;
use cucumber::{given, when};
use http::Method;
use portcullis::oauth::{ClientSecret, ProfileSource, Protocol};
use portcullis::{CookieKey, OAuthProvider, PresetOptions};
use portcullis_domain::secret::SecretString;
use serde_json::{Map, Value};

use super::{docstring, form};
use crate::provider::{Canned, Now, Role, Signing, TestProvider};
use crate::world::{AuthWorld, OAuthEntry, ProviderAnswer, Req, Resp, StoreMode, Target};

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

// ---------------------------------------------------------------------------------------
// What the provider does

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
    let text = super::given::resolve_claims(w, &docstring(step));
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

// ---------------------------------------------------------------------------------------
// The browser

impl AuthWorld {
    /// `POST BASE/signin/<id>` as the sign-in page's button does; remembers where the site
    /// sends the browser.
    pub(crate) async fn oauth_sign_in(
        &mut self,
        id: &str,
        callback_url: Option<&str>,
        json: bool,
    ) -> Resp {
        let csrf_cookie = self.cookie_name(CookieKey::CsrfToken).await;
        let csrf = match self.jar.get(&csrf_cookie) {
            Some(_) => self.csrf_or_fetch().await,
            None => self.fetch_csrf().await,
        };
        let target = self.route(&format!("/signin/{id}")).await;
        let mut fields = vec![("csrfToken", csrf.as_str())];
        if let Some(url) = callback_url {
            fields.push(("callbackUrl", url));
        }
        if json {
            fields.push(("json", "true"));
        }
        let resp = self.post_form(&target, form(&fields)).await;
        let url = if json {
            serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| v["url"].as_str().map(str::to_owned))
        } else {
            resp.header("location")
        };
        let origin = self.provider.as_ref().map(|p| p.origin());
        self.oauth.authorization_url =
            url.filter(|u| origin.as_ref().is_some_and(|o| u.starts_with(o.as_str())));
        self.oauth.back = None;
        resp
    }

    /// The browser at the provider's authorisation URL: the provider answers with a redirect
    /// to the site's callback (or, for `form_post`, a page that POSTs the answer there).
    pub(crate) async fn consent(&mut self) {
        let url = self
            .oauth
            .authorization_url
            .clone()
            .expect("the site did not send the browser to the provider");
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.text().await.unwrap_or_default();
        let answer = match (status, location) {
            (302, Some(location)) => {
                let mut parsed = url::Url::parse(&location).expect("a callback URL");
                let fields = parsed
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                parsed.set_query(None);
                ProviderAnswer {
                    url: parsed.into(),
                    fields,
                    post: false,
                }
            }
            (200, None) if body.contains("<form method=\"post\"") => form_post_page(&body),
            _ => panic!("the provider refused the authorisation request ({status}): {body}"),
        };
        self.oauth.back = Some(answer);
    }

    /// The browser carries the provider's answer back to the site. A form POST comes from
    /// the provider's page, cross-site: it carries no SameSite=Lax cookie.
    pub(crate) async fn go_back(&mut self) -> Resp {
        let answer = self
            .oauth
            .back
            .clone()
            .expect("the provider has not answered yet: say `When I consent at the provider`");
        let path = self.on_site(&answer.url).await;
        let pairs: Vec<(&str, &str)> = answer
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if answer.post {
            let mut req = Req::new(Method::POST, &path).form(form(&pairs));
            req.with_jar = false;
            self.send(req).await
        } else {
            let query = form(&pairs);
            let target = if query.is_empty() {
                path
            } else {
                format!("{path}?{query}")
            };
            self.send(Req::new(Method::GET, &target)).await
        }
    }

    fn answer_mut(&mut self) -> &mut ProviderAnswer {
        self.oauth
            .back
            .as_mut()
            .expect("the provider has not answered yet")
    }

    /// Signs in at the provider all the way: the site, the provider, back to the site.
    pub(crate) async fn oauth_round_trip(&mut self, id: &str, callback_url: Option<&str>) -> Resp {
        let resp = self.oauth_sign_in(id, callback_url, false).await;
        assert!(
            self.oauth.authorization_url.is_some(),
            "the site did not send the browser to the provider: {resp:?}"
        );
        self.consent().await;
        self.go_back().await
    }
}

/// The fields of the provider's auto-submitting `form_post` page.
fn form_post_page(page: &str) -> ProviderAnswer {
    let attr = |tag: &str, name: &str| {
        let marker = format!("{name}=\"");
        tag.find(&marker).and_then(|at| {
            let rest = &tag[at + marker.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
    };
    let url = attr(page, "action").expect("the form has an action");
    let fields = page
        .split("<input")
        .skip(1)
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value")?)))
        .collect();
    ProviderAnswer {
        url,
        fields,
        post: true,
    }
}

#[when(expr = "I sign in with {string}")]
async fn sign_in_with(w: &mut AuthWorld, id: String) {
    w.oauth_sign_in(&id, None, false).await;
}

#[when(expr = "I sign in with {string} and the callback URL {string}")]
async fn sign_in_with_callback(w: &mut AuthWorld, id: String, url: String) {
    let url = w.expand(&url);
    w.oauth_sign_in(&id, Some(&url), false).await;
}

#[when(expr = "I sign in with {string} asking for JSON")]
async fn sign_in_json(w: &mut AuthWorld, id: String) {
    w.oauth_sign_in(&id, None, true).await;
}

#[when("I consent at the provider")]
async fn consent(w: &mut AuthWorld) {
    w.consent().await;
}

#[when("I return to the site")]
#[when("I return to the site again")]
async fn go_back(w: &mut AuthWorld) {
    w.go_back().await;
}

#[when(expr = "I return to the site with {word} set to {string}")]
async fn go_back_with(w: &mut AuthWorld, name: String, value: String) {
    let value = w.expand(&value);
    let answer = w.answer_mut();
    answer.fields.retain(|(k, _)| *k != name);
    answer.fields.push((name, value));
    w.go_back().await;
}

#[when(expr = "I return to the site without {word}")]
async fn go_back_without(w: &mut AuthWorld, name: String) {
    w.answer_mut().fields.retain(|(k, _)| *k != name);
    w.go_back().await;
}

#[when(expr = "I return to the site at the callback of {string}")]
async fn go_back_elsewhere(w: &mut AuthWorld, id: String) {
    let answer = w.answer_mut();
    let (base, _) = answer
        .url
        .rsplit_once("/callback/")
        .expect("a callback URL");
    answer.url = format!("{base}/callback/{id}");
    w.go_back().await;
}

#[when(expr = "the provider sends me back with the error {string}")]
async fn provider_error(w: &mut AuthWorld, error: String) {
    let url = w
        .oauth
        .authorization_url
        .clone()
        .expect("the site did not send the browser to the provider");
    let parsed = url::Url::parse(&url).expect("a URL");
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let redirect_uri = param("redirect_uri").expect("a redirect_uri");
    let mut fields = vec![("error".to_owned(), error)];
    if let Some(state) = param("state") {
        fields.push(("state".into(), state));
    }
    w.oauth.back = Some(ProviderAnswer {
        url: redirect_uri,
        fields,
        post: false,
    });
    w.go_back().await;
}

#[given(expr = "I signed in with {string} at the provider")]
#[when(expr = "I sign in with {string} at the provider")]
async fn round_trip(w: &mut AuthWorld, id: String) {
    w.oauth_round_trip(&id, None).await;
}

#[when(expr = "I sign in with {string} at the provider and the callback URL {string}")]
async fn round_trip_to(w: &mut AuthWorld, id: String, url: String) {
    w.oauth_round_trip(&id, Some(&url)).await;
}

#[when(expr = "I lose my {string} cookie")]
async fn lose_cookie(w: &mut AuthWorld, name: String) {
    assert!(
        w.jar.get(&name).is_some(),
        "the browser has no {name} cookie"
    );
    w.jar.remove(&name);
}

#[when(expr = "I remember my {string} cookie as {string}")]
async fn remember_cookie(w: &mut AuthWorld, name: String, saved: String) {
    let value = w
        .jar
        .get(&name)
        .unwrap_or_else(|| panic!("the browser has no {name} cookie"))
        .to_owned();
    w.saved.insert(saved, value);
}

#[when(expr = "my {string} cookie is {string}")]
async fn set_cookie(w: &mut AuthWorld, name: String, value: String) {
    let value = w.expand(&value);
    w.jar.set(&name, &value);
}

#[when(expr = "my session cookie is my {string} cookie")]
async fn check_as_session(w: &mut AuthWorld, name: String) {
    let value = w
        .jar
        .get(&name)
        .unwrap_or_else(|| panic!("the browser has no {name} cookie"))
        .to_owned();
    w.set_session_cookie(&value).await;
}

#[when("the site restarts")]
async fn restart(w: &mut AuthWorld) {
    w.stop().await;
    // A new process: nothing cached (discovery documents, key sets).
    w.setup_mut();
}

// ---------------------------------------------------------------------------------------
// Users and accounts in the store

#[given(expr = "the store links the {string} account of the provider's user to {string}")]
async fn store_link(w: &mut AuthWorld, id: String, email: String) {
    use portcullis_domain::model::Account;
    let sub = provider_sub(w);
    let store = w.store().await;
    let user = store
        .backend()
        .get_user_by_email(&email)
        .await
        .expect("the store reads")
        .unwrap_or_else(|| panic!("no user {email} in the store"));
    store
        .backend()
        .link_account(Account {
            user_id: user.id,
            provider_type: "oauth".into(),
            provider_id: id,
            provider_account_id: sub,
            refresh_token: None,
            access_token: None,
            access_token_expires: None,
            token_type: None,
            scope: None,
            id_token: None,
        })
        .await
        .expect("the account is linked");
}

/// The provider user's `sub`.
pub(crate) fn provider_sub(w: &AuthWorld) -> String {
    provider(w)
        .state()
        .user
        .get("sub")
        .and_then(Value::as_str)
        .expect("the provider's user has a sub")
        .to_owned()
}

#[given(expr = "I am signed in as the stored user {string}")]
async fn signed_in_as(w: &mut AuthWorld, email: String) {
    let store = w.store().await;
    let user = store
        .backend()
        .get_user_by_email(&email)
        .await
        .expect("the store reads")
        .unwrap_or_else(|| panic!("no user {email} in the store"));
    let token = if w.setup().database_sessions {
        use portcullis_domain::model::Session;
        let token = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(user.id.as_bytes()));
        let now = w.now();
        store
            .backend()
            .create_session(Session {
                session_token: token.clone().into(),
                user_id: user.id.clone(),
                expires: now + time::Duration::days(30),
                access_token: format!("{token}-access").into(),
                created: Some(now),
            })
            .await
            .expect("the session is stored");
        token
    } else {
        let now = w.now().unix_timestamp();
        let claims = serde_json::json!({
            "name": user.name, "email": user.email, "picture": null, "sub": user.id,
            "iat": now, "exp": now + 86_400,
        });
        let keys = crate::jose::derive(&w.setup().secrets[0]);
        let jws = crate::jose::sign(
            crate::jose::Alg::Hs512,
            &keys.signing,
            r#"{"alg":"HS512"}"#,
            &claims.to_string(),
        );
        if w.setup().encryption {
            crate::jose::seal(
                &keys.encryption,
                r#"{"alg":"dir","enc":"A256GCM"}"#,
                jws.as_bytes(),
            )
        } else {
            jws
        }
    };
    w.saved.insert("signed-in-as".into(), user.id);
    w.set_session_cookie(&token).await;
}
