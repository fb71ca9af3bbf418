//! `[[providers]]` entries with `type = "oauth"`: a built-in preset by id (`preset =
//! "github"`), or a provider described in full (any OAuth 2.0 / OpenID Connect server,
//! or OAuth 1.0a).
//!
//! ```toml
//! [[providers]]
//! type = "oauth"
//! preset = "github"
//! client_id = "Iv1.0123"
//! # client_secret from PORTCULLIS_PROVIDER_GITHUB_CLIENT_SECRET
//!
//! [[providers]]
//! type = "oauth"
//! id = "corp"
//! name = "Corp SSO"
//! issuer = "https://sso.corp.example"
//! client_id = "portcullis"
//! ```

use std::collections::BTreeMap;

use portcullis_domain::oauth::{
    self, Checks, ClientAuth, ClientSecret, Field, OAuthProvider, PresetOptions, ProfileMap,
    ProfileSource, Protocol,
};
use portcullis_domain::secret::SecretString;
use schemars::JsonSchema;
use serde::Deserialize;

/// An OAuth 1.0a, OAuth 2.0 or OpenID Connect provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthProviderConfig {
    /// A built-in provider (`github`, `google`, `apple`, … — every NextAuth v3 provider).
    /// Unset: describe the provider with the endpoint fields below.
    #[serde(default)]
    pub preset: Option<String>,
    /// URL segment (`/signin/<id>`, `/callback/<id>`). Default: the preset id.
    #[serde(default)]
    pub id: Option<String>,
    /// Shown on the sign-in page. Default: the preset's name, else the id.
    #[serde(default)]
    pub name: Option<String>,
    /// The client id the provider issued.
    pub client_id: String,
    /// Env: `PORTCULLIS_PROVIDER_<ID>_CLIENT_SECRET` (ID upper-cased, `-` as `_`), which
    /// keeps it out of the file.
    #[serde(default)]
    pub client_secret: Option<ProviderSecret>,
    /// Apple: the signing key id, team id and PKCS#8 PEM key that make the client secret.
    /// Env for the key: `PORTCULLIS_PROVIDER_<ID>_PRIVATE_KEY`.
    #[serde(default)]
    pub apple_key_id: Option<String>,
    /// Apple: the team id.
    #[serde(default)]
    pub apple_team_id: Option<String>,
    /// Apple: the PKCS#8 PEM private key.
    #[serde(default)]
    pub apple_private_key: Option<ProviderSecret>,
    /// Preset options: tenant host (Auth0, Okta, Cognito …).
    #[serde(default)]
    pub domain: Option<String>,
    /// Preset options: Azure AD B2C / FusionAuth tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Preset options: Battle.net region.
    #[serde(default)]
    pub region: Option<String>,
    /// Preset options: Foursquare API version.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Extra headers on token and profile requests (Bungie's `X-API-Key`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `oauth2` (default) or `oauth1` (OAuth 1.0a).
    #[serde(default)]
    pub protocol: Option<ProtocolName>,
    /// OpenID issuer: endpoints come from its discovery document, the ID token is verified.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The authorisation endpoint.
    #[serde(default)]
    pub authorization_url: Option<String>,
    /// The token endpoint.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The userinfo endpoint.
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// The JWKS of the ID token's signing keys.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// OAuth 1.0a only.
    #[serde(default)]
    pub request_token_url: Option<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Extra authorisation URL parameters.
    #[serde(default)]
    pub authorization_params: BTreeMap<String, String>,
    /// Extra token request form fields.
    #[serde(default)]
    pub token_params: BTreeMap<String, String>,
    /// Turn checks on or off (default: state and PKCE on; nonce on for OpenID).
    #[serde(default)]
    pub checks: Option<ChecksConfig>,
    /// `post` (default: client_id and client_secret in the form) or `basic`.
    #[serde(default)]
    pub client_auth: Option<ClientAuthName>,
    /// Where the profile comes from: `userinfo`, `id_token` or `id_token_and_userinfo`.
    #[serde(default)]
    pub profile_source: Option<ProfileSourceName>,
    /// Dot paths into the raw profile (default OpenID claims: sub, name, email, picture).
    #[serde(default)]
    pub profile: Option<ProfilePaths>,
    /// Link to an existing user with the same e-mail when the provider says the address
    /// is verified. Default false: it trusts this provider with account takeover.
    #[serde(default)]
    pub allow_dangerous_email_account_linking: bool,
}

/// A provider secret; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ProviderSecret(String);

impl ProviderSecret {
    /// Wraps a provider secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}

impl std::fmt::Debug for ProviderSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The OAuth protocol version (`protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolName {
    /// OAuth 2.0 (with OpenID Connect when there is an `issuer`).
    Oauth2,
    /// OAuth 1.0a.
    Oauth1,
}

/// How the client authenticates at the token endpoint (`client_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthName {
    /// `client_id` and `client_secret` in the form body.
    Post,
    /// HTTP Basic authentication.
    Basic,
}

/// Where the profile comes from (`profile_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProfileSourceName {
    /// The userinfo endpoint.
    Userinfo,
    /// The ID token's claims.
    IdToken,
    /// The ID token's claims, then the userinfo endpoint's.
    IdTokenAndUserinfo,
}

/// The OAuth checks a provider runs (`checks`); unset ones keep their default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    /// The `state` parameter.
    #[serde(default)]
    pub state: Option<bool>,
    /// PKCE (S256). Turn off only for a provider that breaks with it.
    #[serde(default)]
    pub pkce: Option<bool>,
    /// The OpenID `nonce`.
    #[serde(default)]
    pub nonce: Option<bool>,
}

/// Dot paths into the raw profile for each user field (`profile`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePaths {
    /// The user's `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// The user's `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// The user's `email`.
    #[serde(default)]
    pub email: Option<String>,
    /// The user's `image`.
    #[serde(default)]
    pub image: Option<String>,
    /// Whether the provider verified the e-mail address.
    #[serde(default)]
    pub email_verified: Option<String>,
}

/// `PORTCULLIS_PROVIDER_<ID>_<SUFFIX>`.
pub fn env_name(id: &str, suffix: &str) -> String {
    let id: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PORTCULLIS_PROVIDER_{id}_{suffix}")
}

impl OAuthProviderConfig {
    /// The provider's id.
    pub fn id(&self) -> &str {
        self.id
            .as_deref()
            .or(self.preset.as_deref())
            .unwrap_or_default()
    }

    /// Takes secrets from the environment (they win over the file).
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let id = self.id().to_owned();
        if let Some(secret) = env(&env_name(&id, "CLIENT_SECRET")).filter(|v| !v.is_empty()) {
            self.client_secret = Some(ProviderSecret(secret));
        }
        if let Some(key) = env(&env_name(&id, "PRIVATE_KEY")).filter(|v| !v.is_empty()) {
            self.apple_private_key = Some(ProviderSecret(key));
        }
    }

    /// The domain's provider description (preset, then the file's overrides).
    pub fn build(&self) -> Result<(String, String, OAuthProvider), String> {
        let id = self.id();
        if id.is_empty() {
            return Err("an OAuth provider needs `preset` or `id`".into());
        }
        let secret = match (
            &self.apple_key_id,
            &self.apple_team_id,
            &self.apple_private_key,
        ) {
            (Some(key_id), Some(team_id), Some(key)) => ClientSecret::AppleKey {
                key_id: key_id.clone(),
                team_id: team_id.clone(),
                private_key: SecretString::new(key.0.clone()),
            },
            _ => ClientSecret::Secret(SecretString::new(
                self.client_secret
                    .as_ref()
                    .map(|s| s.0.clone())
                    .ok_or_else(|| {
                        format!("set client_secret (or {})", env_name(id, "CLIENT_SECRET"))
                    })?,
            )),
        };
        let (name, mut provider) = match &self.preset {
            Some(preset) => {
                let options = PresetOptions {
                    client_id: self.client_id.clone(),
                    client_secret: secret,
                    domain: self.domain.clone(),
                    tenant: self.tenant.clone(),
                    region: self.region.clone(),
                    api_version: self.api_version.clone(),
                    headers: self
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                let built = oauth::preset(preset, &options).map_err(|e| e.to_string())?;
                (built.name.to_owned(), built.provider)
            }
            None => {
                let mut provider = match (self.protocol, &self.issuer) {
                    (Some(ProtocolName::Oauth1), _) => {
                        OAuthProvider::oauth1(self.client_id.clone(), SecretString::new(""))
                    }
                    (_, Some(issuer)) => OAuthProvider::openid(
                        issuer.clone(),
                        self.client_id.clone(),
                        SecretString::new(""),
                    ),
                    _ => OAuthProvider::oauth2(self.client_id.clone(), SecretString::new("")),
                };
                provider.client_secret = secret;
                provider.headers = self
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (id.to_owned(), provider)
            }
        };
        self.apply_overrides(&mut provider);
        let name = self.name.clone().unwrap_or(name);
        Ok((id.to_owned(), name, provider))
    }

    fn apply_overrides(&self, provider: &mut OAuthProvider) {
        let e = &mut provider.endpoints;
        let set = |slot: &mut Option<String>, value: &Option<String>| {
            if value.is_some() {
                *slot = value.clone();
            }
        };
        set(&mut e.issuer, &self.issuer);
        set(&mut e.authorization, &self.authorization_url);
        set(&mut e.token, &self.token_url);
        set(&mut e.userinfo, &self.userinfo_url);
        set(&mut e.jwks_uri, &self.jwks_uri);
        set(&mut e.request_token, &self.request_token_url);
        if self.scope.is_some() {
            provider.scope = self.scope.clone();
        }
        for (k, v) in &self.authorization_params {
            provider.authorization_params.retain(|(p, _)| p != k);
            provider.authorization_params.push((k.clone(), v.clone()));
        }
        for (k, v) in &self.token_params {
            provider.token_params.retain(|(p, _)| p != k);
            provider.token_params.push((k.clone(), v.clone()));
        }
        if let Some(checks) = self.checks {
            let c: &mut Checks = &mut provider.checks;
            c.state = checks.state.unwrap_or(c.state);
            c.pkce = checks.pkce.unwrap_or(c.pkce);
            c.nonce = checks.nonce.unwrap_or(c.nonce);
        }
        match self.client_auth {
            Some(ClientAuthName::Basic) => provider.client_auth = ClientAuth::Basic,
            Some(ClientAuthName::Post) => provider.client_auth = ClientAuth::Post,
            None => {}
        }
        match self.profile_source {
            Some(ProfileSourceName::Userinfo) => provider.profile_source = ProfileSource::Userinfo,
            Some(ProfileSourceName::IdToken) => provider.profile_source = ProfileSource::IdToken,
            Some(ProfileSourceName::IdTokenAndUserinfo) => {
                provider.profile_source = ProfileSource::IdTokenAndUserinfo
            }
            None => {}
        }
        if let Some(paths) = &self.profile {
            let map: &mut ProfileMap = &mut provider.profile;
            let set = |field: &mut Field, path: &Option<String>| {
                if let Some(path) = path {
                    *field = Field::Path(path.clone());
                }
            };
            set(&mut map.id, &paths.id);
            set(&mut map.name, &paths.name);
            set(&mut map.email, &paths.email);
            set(&mut map.image, &paths.image);
            set(&mut map.email_verified, &paths.email_verified);
        }
        if provider.protocol == Protocol::OAuth1 {
            provider.checks = Checks {
                state: false,
                pkce: false,
                nonce: false,
            };
        }
        provider.allow_dangerous_email_account_linking = self.allow_dangerous_email_account_linking;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> OAuthProviderConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn a_custom_openid_provider_builds_with_env_secret() {
        let mut config = parse(
            r#"
            id = "corp"
            issuer = "https://sso.corp.example"
            client_id = "portcullis"
            "#,
        );
        assert!(config.build().is_err(), "no secret yet");
        config.apply_env(&|name| {
            (name == "PORTCULLIS_PROVIDER_CORP_CLIENT_SECRET").then(|| "s3cret".to_owned())
        });
        let (id, name, provider) = config.build().unwrap();
        assert_eq!((id.as_str(), name.as_str()), ("corp", "corp"));
        assert!(provider.is_openid());
        assert!(provider.checks.nonce && provider.checks.pkce && provider.checks.state);
        assert_eq!(provider.validate(), Ok(()));
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn env_names_are_upper_snake() {
        assert_eq!(
            env_name("azure-ad-b2c", "CLIENT_SECRET"),
            "PORTCULLIS_PROVIDER_AZURE_AD_B2C_CLIENT_SECRET"
        );
    }
}
