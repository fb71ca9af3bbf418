//! One preset under one session strategy: the fixture it loads, the app and provider it
//! starts, and the run from sign-in to the report. The browser's part is in `browse`, the
//! checks afterwards in `checks`.

mod browse;
mod checks;

use std::sync::Arc;

use portcullis::oauth::{
    preset, ClientAuth, ClientSecret, OAuthProvider, PresetOptions, ProfileSource, TokenShape,
};
use portcullis::{Portcullis, Store};
use portcullis_domain::http::HttpMethod;
use portcullis_domain::secret::SecretString;
use portcullis_store_sled::SledStore;
use serde_json::{json, Map, Value};

use super::*;
use crate::browser::Browser;
use crate::provider::{pairs, Answer, FixtureProvider, Recorded};

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

pub(crate) fn build(id: &str, apple: &AppleKey) -> (&'static str, OAuthProvider) {
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
pub(crate) struct Report {
    pub(crate) problems: Vec<String>,
    /// The token endpoint was called.
    pub(crate) exchanged: bool,
}

/// What the browser learnt on the way, for the checks afterwards.
#[derive(Default)]
struct Seen {
    code_challenge: Option<String>,
    id_token: Option<String>,
    /// The callback ended signed in (with a session cookie).
    signed_in: bool,
}

pub(crate) struct Run<'k> {
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
    pub(crate) async fn start(
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

    pub(crate) async fn sign_in(self) -> Report {
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
}
