//! How to talk to one OAuth 1.0a, OAuth 2.0 or OpenID Connect provider, as data. Presets
//! (`super::presets`) and config-file providers both produce an [`OAuthProvider`].

use serde_json::Value;

use super::profile::ProfileMap;
use crate::secret::SecretString;

/// Everything the OAuth flows need to know about one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthProvider {
    /// OAuth 2.0 (with or without OpenID Connect) or OAuth 1.0a.
    pub protocol: Protocol,
    /// The client id the provider issued to this site.
    pub client_id: String,
    /// How the client proves itself at the token endpoint.
    pub client_secret: ClientSecret,
    /// Where to send the browser and the back-channel requests.
    pub endpoints: Endpoints,
    /// Sent as one `scope` parameter; `None` sends none.
    pub scope: Option<String>,
    /// Extra query parameters of the authorisation URL (fixed ones such as
    /// `response_type=code` may also sit in the endpoint URL itself).
    pub authorization_params: Vec<(String, String)>,
    /// Extra form fields of the token request (v3's `params`), e.g. `grant_type`.
    pub token_params: Vec<(String, String)>,
    /// Extra headers of the token and userinfo requests (v3's `headers`).
    pub headers: Vec<(String, String)>,
    /// Which one-time checks (state, PKCE, nonce) bind the callback to its sign-in.
    pub checks: Checks,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
    /// Where the token endpoint's answer keeps the access token.
    pub token_shape: TokenShape,
    /// Whether the profile comes from userinfo, the ID token, or both.
    pub profile_source: ProfileSource,
    /// How the userinfo request is made.
    pub userinfo: UserinfoRequest,
    /// Where in the provider's profile the id, name, e-mail and image are.
    pub profile: ProfileMap,
    /// The provider answers the callback with a form POST (Apple).
    pub form_post: bool,
    /// Link this provider's account to an existing user with the same e-mail, but only
    /// when the provider asserts the address is verified. Off by default: turning it on
    /// trusts the provider with account takeover.
    pub allow_dangerous_email_account_linking: bool,
    /// The built-in preset this provider was made from (`github`, …), whatever its id:
    /// the sign-in page draws that brand's button.
    pub preset: Option<&'static str>,
}

/// The protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OAuth 2.0 authorisation code flow (OpenID Connect when an `issuer` is known and
    /// `openid` is in the scope).
    OAuth2,
    /// OAuth 1.0a with HMAC-SHA1 (spec §7.6).
    OAuth1,
}

/// The client's secret: a string, or Apple's signing key from which a short-lived ES256
/// client secret is made for each token request (spec §7.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSecret {
    /// A plain client secret.
    Secret(SecretString),
    /// Apple's Sign in with Apple key.
    AppleKey {
        /// The key's id (the client secret's `kid`).
        key_id: String,
        /// The Apple developer team id (the client secret's `iss`).
        team_id: String,
        /// PKCS#8 PEM of the P-256 key.
        private_key: SecretString,
    },
}

impl ClientSecret {
    /// The plain secret; `None` for a signing key.
    pub fn plain(&self) -> Option<&SecretString> {
        match self {
            ClientSecret::Secret(secret) => Some(secret),
            ClientSecret::AppleKey { .. } => None,
        }
    }

    /// The OAuth 1.0a consumer secret (a plain secret; empty for a signing key).
    pub fn consumer_secret(&self) -> &str {
        self.plain().map(SecretString::expose).unwrap_or_default()
    }
}

/// Provider URLs. With an `issuer` the missing ones come from its discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoints {
    /// OpenID issuer identifier; also what the ID token's `iss` and RFC 9207's `iss`
    /// response parameter must equal.
    pub issuer: Option<String>,
    /// The authorisation URL the browser is sent to.
    pub authorization: Option<String>,
    /// The token endpoint (or OAuth 1.0a's access-token URL).
    pub token: Option<String>,
    /// The userinfo (profile) endpoint.
    pub userinfo: Option<String>,
    /// The keys that verify ID tokens.
    pub jwks_uri: Option<String>,
    /// OAuth 1.0a only.
    pub request_token: Option<String>,
}

impl Endpoints {
    /// Whether discovery is needed before the flow can go on.
    pub fn needs_discovery(&self) -> bool {
        self.issuer.is_some()
            && (self.authorization.is_none() || self.token.is_none() || self.jwks_uri.is_none())
    }

    /// Every endpoint with its origin replaced by `origin` (path and query kept): points a
    /// preset at a local test server, or at a self-hosted instance.
    pub fn rebased(&self, origin: &str) -> Self {
        let rebase = |url: &Option<String>| url.as_deref().map(|u| rebase_url(u, origin));
        Self {
            issuer: rebase(&self.issuer),
            authorization: rebase(&self.authorization),
            token: rebase(&self.token),
            userinfo: rebase(&self.userinfo),
            jwks_uri: rebase(&self.jwks_uri),
            request_token: rebase(&self.request_token),
        }
    }
}

fn rebase_url(url: &str, origin: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => {
            let rest = &url[parsed.origin().ascii_serialization().len()..];
            format!("{}{}", origin.trim_end_matches('/'), rest)
        }
        Err(_) => url.to_owned(),
    }
}

/// The callback checks. PKCE and state are on by default; `nonce` for OpenID providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// Send a sealed single-use `state` and require it back.
    pub state: bool,
    /// PKCE with S256 (never `plain`).
    pub pkce: bool,
    /// Send an OpenID `nonce` and require it in the ID token.
    pub nonce: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            state: true,
            pkce: true,
            nonce: false,
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as form fields (v3's only way).
    #[default]
    Post,
    /// `Authorization: Basic base64(client_id:client_secret)` (Reddit, FACEIT).
    Basic,
}

/// Where a token endpoint's answer keeps the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenShape {
    /// RFC 6749 §5.1: `access_token`, `token_type`, `expires_in`, `refresh_token`, `scope`.
    #[default]
    Standard,
    /// Slack's `oauth.v2.access`: `ok` must be true, the user token is
    /// `authed_user.access_token`.
    Slack,
}

/// Where the profile comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProfileSource {
    /// The userinfo endpoint.
    #[default]
    Userinfo,
    /// The verified ID token's claims (Apple, and OpenID providers without userinfo).
    IdToken,
    /// The ID token's claims merged under the userinfo answer.
    IdTokenAndUserinfo,
}

/// How the userinfo (profile) request is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserinfoRequest {
    /// `GET` or `POST`.
    pub method: crate::http::HttpMethod,
    /// Also send the access token as `?access_token=` (Mail.ru, VK) or only there
    /// (`useAuthTokenHeader: false`).
    pub token_in_query: bool,
    /// Send the access token as `Authorization: Bearer` (default true).
    pub token_in_header: bool,
    /// Send `Client-ID: <client id>` (Twitch).
    pub client_id_header: bool,
    /// Replace `{name}` in the URL with this token-response field (Bungie's
    /// `{membershipId}` ← `membership_id`).
    pub url_from_token: Vec<(String, String)>,
}

impl Default for UserinfoRequest {
    fn default() -> Self {
        Self {
            method: crate::http::HttpMethod::Get,
            token_in_query: false,
            token_in_header: true,
            client_id_header: false,
            url_from_token: Vec::new(),
        }
    }
}

/// A normalised profile (spec §7.2): what a user record is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The provider's account id (numbers become their decimal string).
    pub id: String,
    /// Display name, if the profile has one.
    pub name: Option<String>,
    /// Lower-cased.
    pub email: Option<String>,
    /// Avatar URL, if the profile has one.
    pub image: Option<String>,
    /// The provider asserts it verified `email` (OpenID's `email_verified`).
    pub email_verified: bool,
    /// The raw profile (v3's `OAuthProfile`), for the `signIn` hook.
    pub raw: Value,
}

impl OAuthProvider {
    /// An OAuth 2.0 provider with v3's defaults and Portcullis's checks (state and PKCE).
    pub fn oauth2(client_id: impl Into<String>, client_secret: impl Into<SecretString>) -> Self {
        Self {
            protocol: Protocol::OAuth2,
            client_id: client_id.into(),
            client_secret: ClientSecret::Secret(client_secret.into()),
            endpoints: Endpoints::default(),
            scope: None,
            authorization_params: Vec::new(),
            token_params: vec![("grant_type".into(), "authorization_code".into())],
            headers: Vec::new(),
            checks: Checks::default(),
            client_auth: ClientAuth::Post,
            token_shape: TokenShape::Standard,
            profile_source: ProfileSource::Userinfo,
            userinfo: UserinfoRequest::default(),
            profile: ProfileMap::openid(),
            form_post: false,
            allow_dangerous_email_account_linking: false,
            preset: None,
        }
    }

    /// An OpenID Connect provider found by discovery from `issuer`: nonce on, the profile
    /// from the verified ID token and userinfo, standard claims.
    pub fn openid(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        let mut provider = Self::oauth2(client_id, client_secret);
        provider.endpoints.issuer = Some(issuer.into());
        provider.scope = Some("openid profile email".into());
        provider.checks.nonce = true;
        provider.profile_source = ProfileSource::IdTokenAndUserinfo;
        provider
    }

    /// An OAuth 1.0a provider.
    pub fn oauth1(
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<SecretString>,
    ) -> Self {
        let mut provider = Self::oauth2(consumer_key, consumer_secret);
        provider.protocol = Protocol::OAuth1;
        provider.token_params.clear();
        provider.checks = Checks {
            state: false,
            pkce: false,
            nonce: false,
        };
        provider
    }

    /// Whether this is an OpenID Connect provider (ID token expected and verified).
    pub fn is_openid(&self) -> bool {
        self.protocol == Protocol::OAuth2
            && self.endpoints.issuer.is_some()
            && self
                .scope
                .as_deref()
                .is_some_and(|s| s.split(' ').any(|part| part == "openid"))
    }

    /// Configuration mistakes that would make every sign-in fail, or fail open.
    pub fn validate(&self) -> Result<(), String> {
        if self.client_id.trim().is_empty() {
            return Err("client_id must not be empty".into());
        }
        if self.client_secret.plain().is_some_and(|s| s.is_empty()) {
            return Err("client_secret must not be empty".into());
        }
        let e = &self.endpoints;
        match self.protocol {
            Protocol::OAuth1 => {
                for (name, url) in [
                    ("request_token_url", &e.request_token),
                    ("authorization_url", &e.authorization),
                    ("token_url", &e.token),
                    ("userinfo_url", &e.userinfo),
                ] {
                    if url.is_none() {
                        return Err(format!("OAuth 1.0a needs {name}"));
                    }
                }
            }
            Protocol::OAuth2 => {
                if e.issuer.is_none() && (e.authorization.is_none() || e.token.is_none()) {
                    return Err("needs an issuer, or authorization_url and token_url".into());
                }
                if self.profile_source == ProfileSource::Userinfo
                    && e.userinfo.is_none()
                    && e.issuer.is_none()
                {
                    return Err("needs userinfo_url (or an issuer)".into());
                }
                if self.profile_source != ProfileSource::Userinfo && e.issuer.is_none() {
                    return Err("an ID-token profile needs an issuer to verify it".into());
                }
                if self.checks.nonce && e.issuer.is_none() {
                    return Err("nonce needs an OpenID issuer".into());
                }
                let implicit = self
                    .authorization_params
                    .iter()
                    .any(|(k, v)| k == "response_type" && v != "code");
                if implicit || e.authorization.as_deref().is_some_and(implicit_in_url) {
                    return Err("only response_type=code is supported (RFC 9700 §2.1.2)".into());
                }
                if self
                    .authorization_params
                    .iter()
                    .any(|(k, v)| k == "code_challenge_method" && v != "S256")
                {
                    return Err("PKCE uses S256 only (RFC 9700 §2.1.1)".into());
                }
            }
        }
        for url in [
            &e.issuer,
            &e.authorization,
            &e.token,
            &e.userinfo,
            &e.jwks_uri,
            &e.request_token,
        ]
        .into_iter()
        .flatten()
        {
            check_endpoint(url)?;
        }
        Ok(())
    }
}

fn implicit_in_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.query_pairs()
            .any(|(k, v)| k == "response_type" && v != "code")
    })
}

/// Provider endpoints are `https://`, or `http://` on loopback (development and tests).
fn check_endpoint(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("{url:?} is not a URL"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "{url:?}: provider endpoints must be https:// (http:// only on loopback)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_keeps_path_and_query() {
        let endpoints = Endpoints {
            authorization: Some("https://github.com/login/oauth/authorize?x=1".into()),
            userinfo: Some("https://api.github.com/user".into()),
            ..Endpoints::default()
        };
        let local = endpoints.rebased("http://127.0.0.1:9000");
        assert_eq!(
            local.authorization.as_deref(),
            Some("http://127.0.0.1:9000/login/oauth/authorize?x=1")
        );
        assert_eq!(
            local.userinfo.as_deref(),
            Some("http://127.0.0.1:9000/user")
        );
        assert_eq!(local.token, None);
    }

    #[test]
    fn validation_refuses_what_would_fail_open() {
        let mut p = OAuthProvider::oauth2("id", "secret");
        p.endpoints.authorization = Some("https://as.example/authorize".into());
        p.endpoints.token = Some("https://as.example/token".into());
        p.endpoints.userinfo = Some("https://as.example/me".into());
        assert_eq!(p.validate(), Ok(()));

        let mut implicit = p.clone();
        implicit
            .authorization_params
            .push(("response_type".into(), "token".into()));
        assert!(implicit.validate().is_err());

        let mut plain = p.clone();
        plain
            .authorization_params
            .push(("code_challenge_method".into(), "plain".into()));
        assert!(plain.validate().is_err());

        let mut cleartext = p.clone();
        cleartext.endpoints.token = Some("http://as.example/token".into());
        assert!(cleartext.validate().is_err());
        cleartext.endpoints.token = Some("http://127.0.0.1:4000/token".into());
        assert_eq!(cleartext.validate(), Ok(()));

        let mut no_secret = p.clone();
        no_secret.client_secret = ClientSecret::Secret(SecretString::new(""));
        assert!(no_secret.validate().is_err());

        let openid = OAuthProvider::openid("https://idp.example", "id", "secret");
        assert!(openid.is_openid());
        assert_eq!(openid.validate(), Ok(()));
    }
}
