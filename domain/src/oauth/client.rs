//! The OAuth 2.0 / OpenID Connect client side as pure functions: discovery, the
//! authorisation URL, the token, refresh and userinfo requests, and reading their answers.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::provider::{ClientAuth, ClientSecret, Endpoints, OAuthProvider, TokenShape};
use crate::http::{Cache, HttpCall, HttpMethod, HttpResponse};
use crate::secret::{AuthorizationCode, Nonce, OAuthState, PkceVerifier, SecretString};

/// Why a provider's answer (or our request to it) is unusable. No variant holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The provider answered with this non-success status.
    #[error("provider answered HTTP {0}")]
    Status(u16),
    /// The answer is not the JSON (or form) expected.
    #[error("provider answer does not parse")]
    Unparsable,
    /// The answer lacks a required field (named).
    #[error("provider answer lacks {0}")]
    Missing(&'static str),
    /// The provider refused: its `error` (at most 64 characters), or Slack's `ok: false`.
    #[error("provider said {0:?}")]
    Provider(String),
    /// The discovery document is unusable, and why.
    #[error("discovery: {0}")]
    Discovery(String),
    /// The endpoint (named) is not configured, or not a URL.
    #[error("endpoint {0} is not configured")]
    NoEndpoint(&'static str),
    /// Apple's client secret could not be made.
    #[error("client secret: {0}")]
    ClientSecret(String),
}

/// Parameters Portcullis sets itself; the caller's `authorizationParams` cannot replace
/// them (v3 let `?state=` through, spec §7.3 quirk).
const RESERVED: &[&str] = &[
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "redirect_uri",
    "client_id",
    "response_type",
    "response_mode",
];

/// `GET <issuer>/.well-known/openid-configuration`, cached.
pub fn discovery_call(issuer: &str) -> HttpCall {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    HttpCall::get(url).cache(Cache::Use)
}

/// The provider's endpoints completed from its discovery document. Configured endpoints
/// win; the document must name the configured issuer (OIDC Discovery §4.3).
pub fn apply_discovery(
    provider: &OAuthProvider,
    response: &HttpResponse,
) -> Result<Endpoints, ClientError> {
    let doc = json_object(response)?;
    let text = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_owned);
    let configured = &provider.endpoints;
    if let Some(issuer) = &configured.issuer {
        if text("issuer").as_deref() != Some(issuer.as_str()) {
            return Err(ClientError::Discovery("issuer does not match".into()));
        }
    }
    let endpoints = Endpoints {
        issuer: configured.issuer.clone(),
        authorization: configured
            .authorization
            .clone()
            .or_else(|| text("authorization_endpoint")),
        token: configured.token.clone().or_else(|| text("token_endpoint")),
        userinfo: configured
            .userinfo
            .clone()
            .or_else(|| text("userinfo_endpoint")),
        jwks_uri: configured.jwks_uri.clone().or_else(|| text("jwks_uri")),
        request_token: configured.request_token.clone(),
    };
    let mut checked = provider.clone();
    checked.endpoints = endpoints.clone();
    checked.validate().map_err(ClientError::Discovery)?;
    if endpoints.authorization.is_none() || endpoints.token.is_none() {
        return Err(ClientError::Discovery("endpoints missing".into()));
    }
    Ok(endpoints)
}

/// The endpoints from a discovery answer, `None` when there is none or it does not fit.
pub fn discovered(
    provider: &OAuthProvider,
    answer: Result<HttpResponse, crate::http::HttpFailure>,
) -> Option<Endpoints> {
    apply_discovery(provider, &answer.ok()?).ok()
}

/// The one-time values of a sign-in that go into the authorisation URL.
#[derive(Default)]
pub struct SignInChecks<'a> {
    /// The OAuth 2 `state` to send, when the provider checks it.
    pub state: Option<&'a OAuthState>,
    /// Public: the S256 hash of the PKCE verifier.
    pub code_challenge: Option<&'a str>,
    /// The OpenID `nonce` to send, when the provider checks it.
    pub nonce: Option<&'a Nonce>,
}

/// The authorisation URL (spec §7.5), v3's parameter order, with Portcullis's checks.
pub fn authorization_url(
    provider: &OAuthProvider,
    endpoints: &Endpoints,
    redirect_uri: &str,
    checks: &SignInChecks<'_>,
    extra: &[(String, String)],
) -> Result<String, ClientError> {
    let base = endpoints
        .authorization
        .as_deref()
        .ok_or(ClientError::NoEndpoint("authorization"))?;
    let mut url = url::Url::parse(base).map_err(|_| ClientError::NoEndpoint("authorization"))?;
    let has_response_type = url.query_pairs().any(|(k, _)| k == "response_type");
    {
        let mut q = url.query_pairs_mut();
        if !has_response_type {
            q.append_pair("response_type", "code");
        }
        if let Some(scope) = &provider.scope {
            q.append_pair("scope", scope);
        }
        for (k, v) in &provider.authorization_params {
            if k != "response_type" {
                q.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            if !RESERVED.contains(&k.as_str())
                && !provider.authorization_params.iter().any(|(p, _)| p == k)
            {
                q.append_pair(k, v);
            }
        }
        if let Some(challenge) = checks.code_challenge {
            q.append_pair("code_challenge", challenge);
            q.append_pair("code_challenge_method", "S256");
        }
        if let Some(state) = checks.state {
            q.append_pair("state", state.expose());
        }
        if let Some(nonce) = checks.nonce {
            q.append_pair("nonce", nonce.expose());
        }
        if provider.form_post {
            q.append_pair("response_mode", "form_post");
        }
        q.append_pair("redirect_uri", redirect_uri);
        q.append_pair("client_id", &provider.client_id);
    }
    Ok(url.into())
}

/// The client secret to send now (Apple's is a fresh ES256 JWT).
pub fn client_secret(
    provider: &OAuthProvider,
    now: OffsetDateTime,
) -> Result<SecretString, ClientError> {
    match &provider.client_secret {
        ClientSecret::Secret(secret) => Ok(secret.clone()),
        ClientSecret::AppleKey {
            key_id,
            team_id,
            private_key,
        } => super::apple::client_secret(
            key_id,
            team_id,
            &provider.client_id,
            private_key,
            now.unix_timestamp(),
        )
        .map(SecretString::new)
        .map_err(|e| ClientError::ClientSecret(e.to_string())),
    }
}

/// The token request for an authorisation code (spec §7.7).
pub fn token_call(
    provider: &OAuthProvider,
    endpoints: &Endpoints,
    code: &AuthorizationCode,
    redirect_uri: &str,
    code_verifier: Option<&PkceVerifier>,
    secret: &SecretString,
) -> Result<HttpCall, ClientError> {
    let mut form: Vec<(&str, &str)> = provider
        .token_params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.push(("code", code.expose()));
    form.push(("redirect_uri", redirect_uri));
    if let Some(verifier) = code_verifier {
        form.push(("code_verifier", verifier.expose()));
    }
    grant_call(provider, endpoints, form, secret)
}

/// The refresh request (RFC 6749 §6).
pub fn refresh_call(
    provider: &OAuthProvider,
    endpoints: &Endpoints,
    refresh_token: &SecretString,
    secret: &SecretString,
) -> Result<HttpCall, ClientError> {
    let form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
    ];
    // Two session reads renewing at once must not spend the same refresh token twice.
    Ok(grant_call(provider, endpoints, form, secret)?.cache(Cache::Coalesce))
}

fn grant_call<'a>(
    provider: &'a OAuthProvider,
    endpoints: &Endpoints,
    mut form: Vec<(&'a str, &'a str)>,
    secret: &'a SecretString,
) -> Result<HttpCall, ClientError> {
    let url = endpoints
        .token
        .as_deref()
        .ok_or(ClientError::NoEndpoint("token"))?;
    let basic = match provider.client_auth {
        ClientAuth::Post => {
            form.push(("client_id", &provider.client_id));
            form.push(("client_secret", secret.expose()));
            None
        }
        ClientAuth::Basic => {
            use base64::Engine;
            // RFC 6749 §2.3.1: both parts form-encoded before base64.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(&provider.client_id),
                    enc(secret.expose())
                ))
            ))
        }
    };
    let mut call = HttpCall::post_form(url, &form).header("accept", "application/json");
    if let Some(basic) = basic {
        call = call.header("authorization", SecretString::new(basic));
    }
    for (name, value) in &provider.headers {
        call = call.header(name, value.as_str());
    }
    Ok(call)
}

/// A token endpoint's answer. `Debug` names the fields present, never their values.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token.
    pub access_token: SecretString,
    /// Renews the access token; `None` when the provider gave none.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, from `expires_in` (capped at ten years); `None`: not said.
    pub expires_at: Option<OffsetDateTime>,
    /// Usually `bearer`.
    pub token_type: Option<String>,
    /// The scopes the provider granted, space-separated.
    pub scope: Option<String>,
    /// The OpenID Connect ID token, if the provider gave one.
    pub id_token: Option<SecretString>,
    /// Every other non-secret scalar field (e.g. Bungie's `membership_id`).
    pub extra: Map<String, Value>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("refresh_token", &self.refresh_token.is_some())
            .field("expires_at", &self.expires_at)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Reads a token endpoint's answer: JSON, or a form (GitHub without `Accept`).
pub fn parse_tokens(
    provider: &OAuthProvider,
    response: &HttpResponse,
    now: OffsetDateTime,
) -> Result<TokenSet, ClientError> {
    if !response.is_success() {
        return Err(ClientError::Status(response.status));
    }
    let raw = match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(ClientError::Unparsable),
        Err(_) => {
            let pairs: Map<String, Value> = form_urlencoded::parse(&response.body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            if pairs.is_empty()
                || !pairs.contains_key("access_token") && !pairs.contains_key("error")
            {
                return Err(ClientError::Unparsable);
            }
            pairs
        }
    };
    if let Some(error) = raw.get("error").and_then(Value::as_str) {
        return Err(ClientError::Provider(error.chars().take(64).collect()));
    }
    let text = |map: &Map<String, Value>, name: &str| {
        map.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let access_token = match provider.token_shape {
        TokenShape::Standard => text(&raw, "access_token"),
        TokenShape::Slack => {
            if raw.get("ok") != Some(&Value::Bool(true)) {
                return Err(ClientError::Provider("ok is not true".into()));
            }
            raw.get("authed_user")
                .and_then(Value::as_object)
                .and_then(|user| text(user, "access_token"))
        }
    }
    .ok_or(ClientError::Missing("access_token"))?;
    let expires_at = match raw.get("expires_in") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .filter(|s| *s > 0)
    .map(|s| now + time::Duration::seconds(s.min(10 * 365 * 86_400)));
    const SECRET_FIELDS: &[&str] = &[
        "access_token",
        "refresh_token",
        "id_token",
        "authed_user",
        "oauth_token_secret",
    ];
    let extra = raw
        .iter()
        .filter(|(k, v)| !SECRET_FIELDS.contains(&k.as_str()) && !v.is_object() && !v.is_array())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(TokenSet {
        access_token: SecretString::new(access_token),
        refresh_token: text(&raw, "refresh_token").map(SecretString::new),
        expires_at,
        token_type: text(&raw, "token_type"),
        scope: text(&raw, "scope"),
        id_token: text(&raw, "id_token").map(SecretString::new),
        extra,
    })
}

/// The userinfo (profile) request (spec §7.7).
pub fn userinfo_call(
    provider: &OAuthProvider,
    endpoints: &Endpoints,
    tokens: &TokenSet,
) -> Result<HttpCall, ClientError> {
    let mut url = endpoints
        .userinfo
        .clone()
        .ok_or(ClientError::NoEndpoint("userinfo"))?;
    for (placeholder, field) in &provider.userinfo.url_from_token {
        let value = tokens
            .extra
            .get(field)
            .and_then(super::profile::scalar)
            .ok_or(ClientError::Missing("a token field the profile URL needs"))?;
        let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        url = url.replace(&format!("{{{placeholder}}}"), &encoded);
    }
    if provider.userinfo.token_in_query {
        let mut parsed = url::Url::parse(&url).map_err(|_| ClientError::NoEndpoint("userinfo"))?;
        parsed
            .query_pairs_mut()
            .append_pair("access_token", tokens.access_token.expose());
        url = parsed.into();
    }
    let mut call = match provider.userinfo.method {
        HttpMethod::Get => HttpCall::get(url),
        HttpMethod::Post => {
            let mut call = HttpCall::post_form(url, &[]);
            call.headers.clear();
            call
        }
    };
    for (name, value) in &provider.headers {
        call = call.header(name, value.as_str());
    }
    if provider.userinfo.token_in_header {
        call = call.header(
            "authorization",
            SecretString::new(format!("Bearer {}", tokens.access_token.expose())),
        );
    }
    if provider.userinfo.client_id_header {
        call = call.header("client-id", provider.client_id.as_str());
    }
    Ok(call)
}

/// A JSON object answer (profile, discovery document).
pub fn json_object(response: &HttpResponse) -> Result<Map<String, Value>, ClientError> {
    if !response.is_success() {
        return Err(ClientError::Status(response.status));
    }
    match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ClientError::Unparsable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

    fn github() -> OAuthProvider {
        let mut p = OAuthProvider::oauth2("cid", "csecret");
        p.endpoints.authorization = Some("https://github.com/login/oauth/authorize".into());
        p.endpoints.token = Some("https://github.com/login/oauth/access_token".into());
        p.endpoints.userinfo = Some("https://api.github.com/user".into());
        p.scope = Some("read:user user:email".into());
        p
    }

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            content_type: Some("application/json".into()),
            headers: Vec::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn authorization_url_sets_checks_and_keeps_them_from_the_caller() {
        let p = github();
        let extra = vec![
            ("state".to_owned(), "attacker".to_owned()),
            ("login".to_owned(), "octo".to_owned()),
            ("redirect_uri".to_owned(), "https://evil.example".to_owned()),
        ];
        let url = authorization_url(
            &p,
            &p.endpoints,
            "https://app.example/api/auth/callback/github",
            &SignInChecks {
                state: Some(&OAuthState::new("s1")),
                code_challenge: Some("c1"),
                nonce: None,
            },
            &extra,
        )
        .unwrap();
        assert_eq!(
            url,
            "https://github.com/login/oauth/authorize?response_type=code&scope=read%3Auser+user%3Aemail&login=octo&code_challenge=c1&code_challenge_method=S256&state=s1&redirect_uri=https%3A%2F%2Fapp.example%2Fapi%2Fauth%2Fcallback%2Fgithub&client_id=cid"
        );
    }

    #[test]
    fn token_answers_parse_json_and_forms_and_fail_clearly() {
        let p = github();
        let t = parse_tokens(
            &p,
            &response(200, r#"{"access_token":"at","token_type":"bearer","expires_in":3600,"refresh_token":"rt","scope":"x"}"#),
            NOW,
        )
        .unwrap();
        assert_eq!(t.access_token.expose(), "at");
        assert_eq!(t.refresh_token.as_ref().map(|r| r.expose()), Some("rt"));
        assert_eq!(t.expires_at, Some(NOW + time::Duration::hours(1)));
        assert!(!format!("{t:?}").contains("at\""));
        let form = parse_tokens(&p, &response(200, "access_token=ft&scope=user"), NOW).unwrap();
        assert_eq!(form.access_token.expose(), "ft");
        assert_eq!(
            parse_tokens(&p, &response(500, "oops"), NOW),
            Err(ClientError::Status(500))
        );
        assert_eq!(
            parse_tokens(&p, &response(200, "<html>hi</html>"), NOW),
            Err(ClientError::Unparsable)
        );
        assert_eq!(
            parse_tokens(
                &p,
                &response(200, r#"{"error":"bad_verification_code"}"#),
                NOW
            ),
            Err(ClientError::Provider("bad_verification_code".into()))
        );
        assert_eq!(
            parse_tokens(&p, &response(200, r#"{"token_type":"bearer"}"#), NOW),
            Err(ClientError::Missing("access_token"))
        );
    }

    #[test]
    fn token_call_authenticates_by_post_or_basic() {
        let mut p = github();
        let call = token_call(
            &p,
            &p.endpoints,
            &AuthorizationCode::new("c0de"),
            "https://app/cb",
            Some(&PkceVerifier::new("v")),
            &"s".into(),
        )
        .unwrap();
        assert_eq!(
            call.body.unwrap().expose(),
            "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Fapp%2Fcb&code_verifier=v&client_id=cid&client_secret=s"
        );
        p.client_auth = ClientAuth::Basic;
        let call = token_call(
            &p,
            &p.endpoints,
            &AuthorizationCode::new("c0de"),
            "https://app/cb",
            None,
            &"s".into(),
        )
        .unwrap();
        assert!(!call
            .body
            .as_ref()
            .unwrap()
            .expose()
            .contains("client_secret"));
        assert!(call
            .headers
            .iter()
            .any(|(n, v)| n == "authorization" && v.expose() == "Basic Y2lkOnM="));
    }
}
