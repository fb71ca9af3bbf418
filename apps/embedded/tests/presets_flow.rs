#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every built-in OAuth preset, signed in for real: the embedded app talks HTTP (its default
//! reqwest client) to a fixture provider on loopback that serves the preset's own paths —
//! the preset's endpoints rebased onto the local origin — with
//! `fixtures/providers/<id>/{token,profile}.json`, plus discovery, a key set and a freshly
//! signed ID token where the preset is OpenID. A cookie-keeping browser drives
//! CSRF → sign-in → (provider) → callback → session; afterwards the test checks what the
//! provider received, what the store holds and what `/session` says.
//!
//! Each preset runs twice: database sessions with an RS256 ID token, JWT sessions with an
//! ES256 one. Failures are collected per preset and reported together.

// A test crate's root resolves `mod` beside itself; the helpers live in `presets_flow/`.
#[path = "presets_flow/browser.rs"]
mod browser;
#[path = "presets_flow/keys.rs"]
mod keys;
#[path = "presets_flow/provider.rs"]
mod provider;

use std::sync::Arc;

use portcullis::oauth::{
    preset, ClientAuth, ClientSecret, OAuthProvider, PresetOptions, ProfileSource, Protocol,
    TokenShape, PRESET_IDS,
};
use portcullis::{Portcullis, SessionStrategy, Store};
use portcullis_domain::http::HttpMethod;
use portcullis_domain::secret::SecretString;
use portcullis_store_sled::SledStore;
use serde_json::{json, Map, Value};
use time::macros::datetime;
use time::OffsetDateTime;

use browser::Browser;
use keys::{AppleKey, IdTokenKey};
use provider::{pairs, Answer, FixtureProvider, Recorded};

const BASE: &str = "http://localhost:3000/api/auth";
const CALLBACK_URL: &str = "http://localhost:3000/dashboard";
const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";
const CLIENT_ID: &str = "test-client-id";
/// `:` and `+` must be form-encoded inside HTTP Basic (RFC 6749 §2.3.1).
const CLIENT_SECRET: &str = "test:client+secret";
const API_KEY: &str = "test-api-key";
const APPLE_KEY_ID: &str = "KEY123ABCD";
const APPLE_TEAM_ID: &str = "TEAM456XYZ";
const CODE: &str = "fixture-authorisation-code";
const NOW: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

/// OAuth 1.0a presets: `apps/server/tests/server/oauth.rs` signs in with them against a
/// real oauthlib provider.
const COVERED_ELSEWHERE: &[&str] = &["twitter"];

#[tokio::test]
async fn every_preset_signs_in_through_its_own_endpoints() {
    let rs256 = IdTokenKey::rs256();
    let es256 = IdTokenKey::es256();
    let apple = AppleKey::generate();

    let oauth1: Vec<&str> = PRESET_IDS
        .iter()
        .copied()
        .filter(|id| build(id, &apple).1.protocol == Protocol::OAuth1)
        .collect();
    assert_eq!(
        oauth1, COVERED_ELSEWHERE,
        "the skip list must be exactly the OAuth 1 presets"
    );

    let mut failures = Vec::new();
    // Presets whose every run got as far as exchanging the code at their token endpoint.
    let mut exercised = 0;
    for id in PRESET_IDS
        .iter()
        .filter(|id| !COVERED_ELSEWHERE.contains(id))
    {
        let mut exchanged = true;
        for (strategy, key) in [
            (SessionStrategy::Database, &rs256),
            (SessionStrategy::Jwt, &es256),
        ] {
            let report = Run::start(id, strategy, key, &apple).await.sign_in().await;
            exchanged &= report.exchanged;
            for problem in report.problems {
                failures.push(format!("{id} [{strategy:?} sessions]: {problem}"));
            }
        }
        exercised += usize::from(exchanged);
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(exercised, PRESET_IDS.len() - COVERED_ELSEWHERE.len());
}

// ---- One preset, one session strategy ----

struct Fixture {
    token: Value,
    profile: Value,
    expected: Value,
}

impl Fixture {
    fn load(id: &str) -> Self {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/providers")
            .join(id);
        let read = |file: &str| -> Value {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
        };
        Self {
            token: read("token.json"),
            profile: read("profile.json"),
            expected: read("expected.json"),
        }
    }

    fn expected(&self, field: &str) -> Option<&str> {
        self.expected[field].as_str()
    }
}

fn options(id: &str, apple: &AppleKey) -> PresetOptions {
    PresetOptions {
        client_id: CLIENT_ID.into(),
        client_secret: if id == "apple" {
            ClientSecret::AppleKey {
                key_id: APPLE_KEY_ID.into(),
                team_id: APPLE_TEAM_ID.into(),
                private_key: SecretString::new(apple.private_pem.clone()),
            }
        } else {
            ClientSecret::Secret(SecretString::new(CLIENT_SECRET))
        },
        domain: Some(match id {
            "okta" => "dev-123456.okta.com/oauth2/default".into(),
            _ => "login.example.com".into(),
        }),
        tenant: Some("example-tenant".into()),
        region: Some("eu".into()),
        api_version: Some("20231114".into()),
        headers: if id == "bungie" {
            vec![("X-API-Key".into(), API_KEY.into())]
        } else {
            Vec::new()
        },
    }
}

fn build(id: &str, apple: &AppleKey) -> (&'static str, OAuthProvider) {
    let built = preset(id, &options(id, apple)).unwrap_or_else(|e| panic!("{id}: {e}"));
    (built.name, built.provider)
}

fn url(text: &str) -> url::Url {
    url::Url::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The values of `name` among `pairs`.
fn values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// How often and with what value a parameter must appear.
#[derive(Debug, Clone, Copy)]
enum Want<'a> {
    Absent,
    /// Once, with any non-empty value.
    Any,
    /// Once, with this value.
    Exactly(&'a str),
}

/// The outcome of one run.
struct Report {
    problems: Vec<String>,
    /// The token endpoint was called.
    exchanged: bool,
}

/// What the browser learnt on the way, for the checks afterwards.
#[derive(Default)]
struct Seen {
    code_challenge: Option<String>,
    id_token: Option<String>,
    /// The callback ended signed in (with a session cookie).
    signed_in: bool,
}

struct Run<'k> {
    id: &'static str,
    strategy: SessionStrategy,
    key: &'k IdTokenKey,
    apple: &'k AppleKey,
    fixture: Fixture,
    /// The preset as built, with its real endpoints: the paths every request must use.
    preset: OAuthProvider,
    /// The preset pointed at the fixture provider.
    provider: OAuthProvider,
    idp: FixtureProvider,
    store: Arc<SledStore>,
    app: Portcullis,
}

impl<'k> Run<'k> {
    async fn start(
        id: &'static str,
        strategy: SessionStrategy,
        key: &'k IdTokenKey,
        apple: &'k AppleKey,
    ) -> Self {
        let (name, preset) = build(id, apple);
        let idp = FixtureProvider::start().await;
        let mut provider = preset.clone();
        provider.endpoints = preset.endpoints.rebased(&idp.origin);
        let store = Arc::new(SledStore::temporary().unwrap());
        let app = Portcullis::builder()
            .url(BASE)
            // The fixture provider runs on 127.0.0.1.
            .allow_private_network(true)
            .secret(SECRET)
            .oauth(id, name, provider.clone())
            .store(store.clone())
            .clock(Arc::new(|| NOW))
            .configure(|c| c.session_strategy(strategy))
            .build()
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        Self {
            id,
            strategy,
            key,
            apple,
            fixture: Fixture::load(id),
            preset,
            provider,
            idp,
            store,
            app,
        }
    }

    /// Whether Portcullis verifies an ID token for this preset.
    fn wants_id_token(&self) -> bool {
        self.provider.is_openid() || self.provider.profile_source != ProfileSource::Userinfo
    }

    fn jwks_url(&self) -> String {
        self.provider
            .endpoints
            .jwks_uri
            .clone()
            .unwrap_or_else(|| format!("{}/fixture/jwks.json", self.idp.origin))
    }

    fn redirect_uri(&self) -> String {
        format!("{BASE}/callback/{}", self.id)
    }

    /// The access token where the preset's token shape keeps it.
    fn access_token(&self) -> &str {
        let token = &self.fixture.token;
        match self.provider.token_shape {
            TokenShape::Standard => token["access_token"].as_str(),
            TokenShape::Slack => token["authed_user"]["access_token"].as_str(),
        }
        .unwrap_or_default()
    }

    /// The preset's userinfo URL with `{placeholder}`s filled from the token answer.
    fn userinfo_url(&self) -> Option<url::Url> {
        let mut text = self.preset.endpoints.userinfo.clone()?;
        for (placeholder, field) in &self.provider.userinfo.url_from_token {
            let value = match &self.fixture.token[field] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            text = text.replace(&format!("{{{placeholder}}}"), &value);
        }
        Some(url(&text))
    }

    async fn sign_in(self) -> Report {
        let mut problems = Vec::new();
        let mut seen = Seen::default();
        self.serve_metadata();
        if let Err(fatal) = self.drive(&mut seen, &mut problems).await {
            problems.push(fatal);
        } else {
            self.check_store_and_session(&seen, &mut problems).await;
        }
        let exchanged = self.check_provider_requests(&seen, &mut problems);
        let Run { idp, app, .. } = self;
        drop(app); // closes its pooled connections, so the provider stops at once
        idp.stop().await;
        Report {
            problems,
            exchanged,
        }
    }

    /// Discovery (when the preset needs it) and the key set.
    fn serve_metadata(&self) {
        if !self.wants_id_token() {
            return;
        }
        let jwks = self.jwks_url();
        self.idp
            .serve(url(&jwks).path(), Answer::json(&self.key.jwks));
        let e = &self.provider.endpoints;
        if e.needs_discovery() {
            let issuer = e.issuer.clone().unwrap_or_default();
            // OpenID Connect Discovery §4: the issuer, less a trailing '/', + the well-known path.
            let path = format!(
                "{}/.well-known/openid-configuration",
                url(&issuer).path().trim_end_matches('/')
            );
            let document = json!({
                "issuer": issuer,
                "authorization_endpoint": e.authorization,
                "token_endpoint": e.token,
                "userinfo_endpoint": e.userinfo,
                "jwks_uri": jwks,
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [self.key.alg],
                "code_challenge_methods_supported": ["S256"],
            });
            self.idp.serve(&path, Answer::json(&document));
        }
    }

    /// The browser's part; `Err` ends the run (what the provider saw is still checked).
    async fn drive(&self, seen: &mut Seen, problems: &mut Vec<String>) -> Result<(), String> {
        let id = self.id;
        let cookies = &self.app.config().cookies;
        let mut browser = Browser::new(&self.app);

        let page = browser.get("/api/auth/csrf").await;
        let csrf: Value = serde_json::from_str(&page.body).map_err(|e| format!("csrf: {e}"))?;
        let csrf = csrf["csrfToken"]
            .as_str()
            .ok_or("csrf: no csrfToken")?
            .to_owned();

        let page = browser
            .post_form(
                &format!("/api/auth/signin/{id}"),
                &[("csrfToken", csrf.as_str()), ("callbackUrl", CALLBACK_URL)],
                true,
            )
            .await;
        let authorization = match (page.status, page.location) {
            (302, Some(location)) => location,
            (status, location) => {
                return Err(format!(
                    "sign-in answered {status} {location:?}, not a redirect to the provider"
                ))
            }
        };
        let query = self.check_authorization_url(&authorization, problems)?;
        let state = values(&query, "state").first().map(|s| s.to_string());
        let nonce = values(&query, "nonce").first().map(|s| s.to_string());
        seen.code_challenge = values(&query, "code_challenge")
            .first()
            .map(|s| s.to_string());

        // The provider's answers, now that the nonce is known.
        let mut token = self.fixture.token.clone();
        if self.wants_id_token() {
            let id_token = self.id_token(nonce.as_deref());
            token["id_token"] = json!(id_token);
            seen.id_token = Some(id_token);
        }
        let token_path = url(self.preset.endpoints.token.as_deref().unwrap_or_default());
        self.idp.serve(token_path.path(), Answer::json(&token));
        if self.provider.profile_source != ProfileSource::IdToken {
            let userinfo = self
                .userinfo_url()
                .ok_or("the preset has no userinfo URL")?;
            self.idp
                .serve(userinfo.path(), Answer::json(&self.fixture.profile));
        }

        // The provider sends the browser back.
        let mut back = vec![("code", CODE)];
        if let Some(state) = &state {
            back.push(("state", state));
        }
        let callback_path = format!("/api/auth/callback/{id}");
        let page = if self.provider.form_post {
            let post = browser.post_form(&callback_path, &back, false).await;
            // 303 makes every client repeat the request as a GET; a 302 after a POST
            // only does so by browser custom (RFC 9110 §15.4.3). Noted, then followed.
            let location = match (post.status, post.location) {
                (status @ (302 | 303), Some(location)) => {
                    if status != 303 {
                        problems.push(format!(
                            "form_post callback without check cookies answered {status}, not 303"
                        ));
                    }
                    location
                }
                (status, location) => {
                    return Err(format!(
                        "form_post callback without check cookies answered {status} {location:?}, not a redirect"
                    ))
                }
            };
            // The POST carried none of the browser's cookies, so whatever the answer sets
            // (a default callback URL, a fresh CSRF token) overwrites what the browser had.
            if !post.set_cookies.is_empty() {
                problems.push(format!(
                    "the form_post reroute overwrites the browser's cookies {:?}",
                    post.set_cookies
                ));
            }
            let target = url(&location);
            let expected: Vec<(String, String)> = back
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            if target.as_str().split('?').next() != Some(&self.redirect_uri())
                || pairs(target.query().unwrap_or_default().as_bytes()) != expected
            {
                problems.push(format!(
                    "form_post reroute went to {location}, not the GET callback with code and state"
                ));
            }
            let path_and_query = &location[target.origin().ascii_serialization().len()..];
            browser.get(path_and_query).await
        } else {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&back)
                .finish();
            browser.get(&format!("{callback_path}?{query}")).await
        };
        match (page.status, page.location.as_deref()) {
            (302, Some(CALLBACK_URL)) => {}
            (status, location) => {
                return Err(format!(
                    "callback answered {status} {location:?}, not 302 to {CALLBACK_URL}"
                ))
            }
        }
        if browser
            .cookie(&cookies.session_token.name)
            .is_none_or(str::is_empty)
        {
            return Err("the callback set no session cookie".into());
        }
        seen.signed_in = true;
        for policy in [&cookies.state, &cookies.pkce_code_verifier, &cookies.nonce] {
            if browser.cookie(&policy.name).is_some() {
                problems.push(format!("check cookie {} was not cleared", policy.name));
            }
        }

        let page = browser.get("/api/auth/session").await;
        let session: Value =
            serde_json::from_str(&page.body).map_err(|e| format!("session: {e}"))?;
        let expected = &self.fixture.expected;
        let user = json!({
            "name": expected["name"],
            "email": expected["email"],
            "image": expected["image"],
        });
        if session["user"] != user {
            problems.push(format!(
                "/session user is {}, expected {user}",
                session["user"]
            ));
        }
        Ok(())
    }

    /// The authorisation URL: the preset's path and fixed parameters on the local origin,
    /// with Portcullis's parameters exactly once each. Returns its query.
    fn check_authorization_url(
        &self,
        location: &str,
        problems: &mut Vec<String>,
    ) -> Result<Vec<(String, String)>, String> {
        let got = url::Url::parse(location)
            .map_err(|e| format!("authorisation URL {location:?}: {e}"))?;
        let preset = url(self
            .preset
            .endpoints
            .authorization
            .as_deref()
            .unwrap_or_default());
        if got.origin().ascii_serialization() != self.idp.origin || got.path() != preset.path() {
            return Err(format!(
                "authorisation URL {location} is not the preset's path {} on {}",
                preset.path(),
                self.idp.origin
            ));
        }
        let query: Vec<(String, String)> = got.query_pairs().into_owned().collect();
        let mut problem = |p: String| problems.push(format!("authorisation URL: {p}"));
        for (k, v) in preset.query_pairs() {
            if !values(&query, &k).contains(&v.as_ref()) {
                problem(format!("lost the preset's {k}={v}"));
            }
        }
        for (k, v) in &self.provider.authorization_params {
            if values(&query, k) != [v.as_str()] {
                problem(format!("{k} is {:?}, expected [{v:?}]", values(&query, k)));
            }
        }
        let redirect_uri = self.redirect_uri();
        let checks = self.provider.checks;
        let once = |name: &str, wanted: Want| -> Option<String> {
            let found = values(&query, name);
            let ok = match wanted {
                Want::Absent => found.is_empty(),
                Want::Any => found.len() == 1 && !found[0].is_empty(),
                Want::Exactly(value) => found == [value],
            };
            (!ok).then(|| format!("{name} is {found:?}, expected {wanted:?}"))
        };
        let when = |on: bool, want: Want<'static>| if on { want } else { Want::Absent };
        let expectations = [
            ("response_type", Want::Exactly("code")),
            ("client_id", Want::Exactly(CLIENT_ID)),
            ("redirect_uri", Want::Exactly(&redirect_uri)),
            (
                "scope",
                self.provider
                    .scope
                    .as_deref()
                    .map_or(Want::Absent, Want::Exactly),
            ),
            ("state", when(checks.state, Want::Any)),
            ("code_challenge", when(checks.pkce, Want::Any)),
            (
                "code_challenge_method",
                when(checks.pkce, Want::Exactly("S256")),
            ),
            ("nonce", when(checks.nonce, Want::Any)),
        ];
        for (name, wanted) in expectations {
            if let Some(p) = once(name, wanted) {
                problem(p);
            }
        }
        if self.provider.form_post {
            if let Some(p) = once("response_mode", Want::Exactly("form_post")) {
                problem(p);
            }
        }
        if !checks.state {
            return Err("the preset turned state off".into());
        }
        Ok(query)
    }

    /// An ID token as the provider would sign it: the fixture profile's claims plus the
    /// registered ones, bound to the sign-in's nonce.
    fn id_token(&self, nonce: Option<&str>) -> String {
        let mut claims: Map<String, Value> = self
            .fixture
            .profile
            .as_object()
            .cloned()
            .unwrap_or_default();
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .or(self.fixture.expected("id"))
            .unwrap_or_default()
            .to_owned();
        let issuer = self.provider.endpoints.issuer.clone().unwrap_or_default();
        let now = NOW.unix_timestamp();
        claims.insert("iss".into(), json!(issuer));
        claims.insert("aud".into(), json!(CLIENT_ID));
        claims.insert("sub".into(), json!(sub));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 600));
        match nonce {
            Some(nonce) => claims.insert("nonce".into(), json!(nonce)),
            None => claims.remove("nonce"),
        };
        self.key.sign(claims)
    }

    async fn check_store_and_session(&self, seen: &Seen, problems: &mut Vec<String>) {
        let account_id = self.fixture.expected("id").unwrap_or_default();
        let account = match self.store.get_account(self.id, account_id).await {
            Ok(Some(account)) => account,
            other => {
                problems.push(format!("store: no account {account_id:?}: {other:?}"));
                return;
            }
        };
        let mut problem = |p: String| problems.push(format!("store: {p}"));
        let expose = |s: &Option<SecretString>| s.as_ref().map(|s| s.expose().to_owned());
        let token = &self.fixture.token;
        let text = |field: &str| token[field].as_str().map(str::to_owned);
        let expires_in = match &token["expires_in"] {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .filter(|s| *s > 0); // 0: the token does not expire (Mailchimp)
        let id_token = seen.id_token.clone().or_else(|| text("id_token"));
        let fields = [
            (
                "provider_type",
                Some(account.provider_type.clone()),
                Some("oauth".to_owned()),
            ),
            (
                "access_token",
                expose(&account.access_token),
                Some(self.access_token().to_owned()),
            ),
            (
                "refresh_token",
                expose(&account.refresh_token),
                text("refresh_token"),
            ),
            (
                "access_token_expires",
                account.access_token_expires.map(|t| t.to_string()),
                expires_in.map(|s| (NOW + time::Duration::seconds(s)).to_string()),
            ),
            ("scope", account.scope.clone(), text("scope")),
            ("token_type", account.token_type.clone(), text("token_type")),
            ("id_token", expose(&account.id_token), id_token),
        ];
        for (name, got, expected) in fields {
            if got != expected {
                problem(format!("account {name} is {got:?}, expected {expected:?}"));
            }
        }

        let user = match self.store.get_user(&account.user_id).await {
            Ok(Some(user)) => user,
            other => return problem(format!("no user {:?}: {other:?}", account.user_id)),
        };
        let expected = |f| self.fixture.expected(f).map(str::to_owned);
        for (name, got, want) in [
            ("name", &user.name, expected("name")),
            ("email", &user.email, expected("email")),
            ("image", &user.image, expected("image")),
        ] {
            if *got != want {
                problem(format!("user {name} is {got:?}, expected {want:?}"));
            }
        }
        match self.store.get_user_by_account(self.id, account_id).await {
            Ok(Some(linked)) if linked.id == user.id => {}
            other => problem(format!("account does not lead to its user: {other:?}")),
        }
        let sessions = self.store.list_sessions(&user.id).await.map(|s| s.len());
        let wanted = match self.strategy {
            SessionStrategy::Database => 1,
            SessionStrategy::Jwt => 0,
        };
        if sessions != Ok(wanted) {
            problem(format!("{sessions:?} database sessions, expected {wanted}"));
        }
    }

    /// What the provider received: one token request and (unless the profile is the ID
    /// token) one userinfo request, each as the preset declares; keys and discovery for
    /// OpenID presets; nothing else. Returns whether the token endpoint was called.
    fn check_provider_requests(&self, seen: &Seen, problems: &mut Vec<String>) -> bool {
        let log = self.idp.requests();
        for r in log.iter().filter(|r| !r.served) {
            problems.push(format!(
                "provider: unexpected {} {}?{} (not one of the preset's endpoints)",
                r.method, r.path, r.query
            ));
        }
        let to = |path: &str| -> Vec<&Recorded> { log.iter().filter(|r| r.path == path).collect() };

        let token_url = url(self.preset.endpoints.token.as_deref().unwrap_or_default());
        let token_requests = to(token_url.path());
        match token_requests.as_slice() {
            [request] => self.check_token_request(request, &token_url, seen, problems),
            [] => {} // the run ended before the exchange; its error says why
            many => problems.push(format!(
                "token endpoint: {} requests, expected 1",
                many.len()
            )),
        }

        if self.provider.profile_source != ProfileSource::IdToken {
            if let Some(userinfo) = self.userinfo_url() {
                match to(userinfo.path()).as_slice() {
                    [request] => self.check_userinfo_request(request, &userinfo, problems),
                    [] => {}
                    many => problems.push(format!(
                        "userinfo endpoint: {} requests, expected 1",
                        many.len()
                    )),
                }
            }
        }

        if self.wants_id_token() && seen.signed_in {
            let jwks = self.jwks_url();
            if to(url(&jwks).path())
                .iter()
                .all(|r| r.method != http::Method::GET)
            {
                problems.push("provider: the key set was never fetched".into());
            }
            let discovered = log
                .iter()
                .any(|r| r.path.ends_with("/.well-known/openid-configuration"));
            if discovered != self.provider.endpoints.needs_discovery() {
                problems.push(format!("provider: discovery fetched: {discovered}"));
            }
        }
        !token_requests.is_empty()
    }

    fn check_token_request(
        &self,
        request: &Recorded,
        token_url: &url::Url,
        seen: &Seen,
        problems: &mut Vec<String>,
    ) {
        let mut problem = |p: String| problems.push(format!("token request: {p}"));
        let p = &self.provider;
        if request.method != http::Method::POST {
            problem(format!("method {}", request.method));
        }
        let preset_query = pairs(token_url.query().unwrap_or_default().as_bytes());
        if request.query_pairs() != preset_query {
            problem(format!(
                "query {:?}, expected the preset's {preset_query:?}",
                request.query
            ));
        }
        let content_type = request.header("content-type").unwrap_or_default();
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            problem(format!("content-type {content_type:?}"));
        }
        let form = request.form();

        let mut expected_fields: Vec<&str> =
            p.token_params.iter().map(|(k, _)| k.as_str()).collect();
        expected_fields.extend(["code", "redirect_uri"]);
        if p.checks.pkce {
            expected_fields.push("code_verifier");
        }
        if p.client_auth == ClientAuth::Post {
            expected_fields.extend(["client_id", "client_secret"]);
        }
        expected_fields.sort_unstable();
        let mut fields: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        fields.sort_unstable();
        if fields != expected_fields {
            problem(format!(
                "form fields {fields:?}, expected {expected_fields:?}"
            ));
        }
        for (k, v) in &p.token_params {
            if values(&form, k) != [v.as_str()] {
                problem(format!("{k} is {:?}, expected {v:?}", values(&form, k)));
            }
        }
        if values(&form, "code") != [CODE] {
            problem(format!("code is {:?}", values(&form, "code")));
        }
        if values(&form, "redirect_uri") != [self.redirect_uri().as_str()] {
            problem(format!(
                "redirect_uri is {:?}",
                values(&form, "redirect_uri")
            ));
        }
        if p.checks.pkce {
            let verifier = values(&form, "code_verifier");
            let challenge = verifier.first().map(|v| pkce_challenge(v));
            if challenge.is_none() || challenge != seen.code_challenge {
                problem("code_verifier does not match the code_challenge (S256)".into());
            }
        }

        let authorization = request.header("authorization");
        match p.client_auth {
            ClientAuth::Post => {
                if authorization.is_some() {
                    problem("an Authorization header beside form authentication".into());
                }
                if values(&form, "client_id") != [CLIENT_ID] {
                    problem(format!("client_id is {:?}", values(&form, "client_id")));
                }
                let secret = values(&form, "client_secret");
                match (&p.client_secret, secret.as_slice()) {
                    (ClientSecret::AppleKey { .. }, [jwt]) => {
                        if let Err(e) = self.check_apple_secret(jwt) {
                            problem(e);
                        }
                    }
                    (ClientSecret::Secret(_), [CLIENT_SECRET]) => {}
                    _ => problem("client_secret is missing or wrong".into()),
                }
            }
            ClientAuth::Basic => {
                use base64::Engine;
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        enc(CLIENT_ID),
                        enc(CLIENT_SECRET)
                    ))
                );
                if authorization != Some(expected.as_str()) {
                    problem("Authorization is not HTTP Basic with the client credentials".into());
                }
            }
        }
        for (name, value) in &p.headers {
            if request.header(name) != Some(value.as_str()) {
                problem(format!("header {name} missing"));
            }
        }
    }

    /// Apple's `client_secret`: an ES256 JWT of the site's key, with v3's claims (spec §7.9).
    fn check_apple_secret(&self, jwt: &str) -> Result<(), String> {
        let (claims, header) = self.apple.open(jwt)?;
        let now = NOW.unix_timestamp();
        let expected = json!({
            "iss": APPLE_TEAM_ID,
            "sub": CLIENT_ID,
            "aud": "https://appleid.apple.com",
            "iat": now,
            "exp": now + 15_552_000,
        });
        if Value::Object(claims.clone()) != expected || header.key_id() != Some(APPLE_KEY_ID) {
            return Err(format!(
                "Apple client secret has claims {claims:?} and kid {:?}",
                header.key_id()
            ));
        }
        Ok(())
    }

    fn check_userinfo_request(
        &self,
        request: &Recorded,
        userinfo: &url::Url,
        problems: &mut Vec<String>,
    ) {
        let mut problem = |p: String| problems.push(format!("userinfo request: {p}"));
        let p = &self.provider;
        let method = match p.userinfo.method {
            HttpMethod::Get => http::Method::GET,
            HttpMethod::Post => http::Method::POST,
        };
        if request.method != method {
            problem(format!("method {}, expected {method}", request.method));
        }
        if !request.body.is_empty() {
            problem("has a body".into());
        }
        let mut query = pairs(userinfo.query().unwrap_or_default().as_bytes());
        if p.userinfo.token_in_query {
            query.push(("access_token".into(), self.access_token().into()));
        }
        let names =
            |pairs: &[(String, String)]| pairs.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        if request.query_pairs() != query {
            // Names only: the query may carry the access token.
            let got = names(&request.query_pairs());
            problem(format!(
                "query parameters {got:?} differ from the expected {:?} (names or values)",
                names(&query)
            ));
        }
        let bearer = format!("Bearer {}", self.access_token());
        let expected = p.userinfo.token_in_header.then_some(bearer.as_str());
        if request.header("authorization") != expected {
            problem(match expected {
                Some(_) => "no Authorization: Bearer <access token>".into(),
                None => "an Authorization header the preset does not send".into(),
            });
        }
        let client_id = p.userinfo.client_id_header.then_some(CLIENT_ID);
        if request.header("client-id") != client_id {
            problem(format!(
                "Client-ID is {:?}, expected {client_id:?}",
                request.header("client-id")
            ));
        }
        for (name, value) in &p.headers {
            if request.header(name) != Some(value.as_str()) {
                problem(format!("header {name} missing"));
            }
        }
    }
}
