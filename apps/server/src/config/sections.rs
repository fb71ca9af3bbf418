//! The configuration's plain sections: sessions, redirects, JWT, cookies, the database
//! pool, health, metrics and logs.

use super::{JwkString, MetricsToken, Secrets};
use portcullis_domain::config::{Limit, ThrottleSettings};
use portcullis_domain::cookies::{CookiePolicy, CookiePrefix};
use portcullis_domain::SessionStrategy;
use schemars::JsonSchema;
use serde::Deserialize;
use std::net::SocketAddr;

/// Session strategy and lifetimes (NextAuth's `session` option).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionSection {
    /// `jwt`: the session is a signed (optionally encrypted) token in the cookie.
    /// `database`: the cookie holds a random token and the session lives in the store
    /// (sliding expiry, revocable). Default, as in NextAuth v3: `database` when `database`
    /// is set, `jwt` otherwise (the embedded sled store, or `stateless`). A configuration
    /// with a credentials provider defaults to `jwt` (credentials sign-in needs it, as in
    /// v3). An explicit value always wins.
    #[serde(default)]
    pub strategy: Option<SessionStrategy>,
    /// Seconds a session lives without use: the session cookie's expiry and the session's
    /// `expires`. Default 2592000 (30 days).
    #[serde(default)]
    pub max_age: Option<i64>,
    /// Seconds between writes that extend a database session. Default 86400 (one day).
    #[serde(default)]
    pub update_age: Option<i64>,
    /// Seconds after signing in during which an OAuth sign-in may link a new provider
    /// account to the signed-in user (later: sign in again first). Default 600.
    #[serde(default)]
    pub link_max_auth_age: Option<i64>,
    /// Seconds a session may last from its sign-in, however often it is used: sliding
    /// renewal never extends it further, then the user signs in again. `0` turns the limit
    /// off. Default 7776000 (90 days).
    #[serde(default)]
    pub absolute_max_age: Option<i64>,
    /// Database sessions: `true` stores each session token as its SHA-256
    /// (`sha256:<hex>`), so the sessions table holds no usable cookie; `false` stores the
    /// token itself, as NextAuth v3 does. Default `true`, except on a database that
    /// `migrate` took over from NextAuth v3 (v3 may still serve it, and reads only raw
    /// tokens): there `false` until you set `true`, once v3 no longer serves the database.
    /// Sessions stored either way keep working after a change.
    #[serde(default)]
    pub hash_tokens: Option<bool>,
}

/// `[redirects]`: v3's `callbacks.redirect` as configuration. A `callbackUrl` on the site's
/// origin is always allowed; these origins are allowed too; anything else becomes the
/// site's base URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectsSection {
    /// Origins (scheme, host, optional port; no path), e.g. `["https://app.example.com"]`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl RedirectsSection {
    /// The engine's redirect policy; the error names the key.
    pub fn policy(&self) -> Result<Option<portcullis_domain::redirect::AllowedOrigins>, String> {
        if self.allowed_origins.is_empty() {
            return Ok(None);
        }
        portcullis_domain::redirect::AllowedOrigins::parse(&self.allowed_origins)
            .map(Some)
            .map_err(|e| format!("redirects.allowed_origins: {e}"))
    }
}

/// Session token settings (NextAuth's `jwt` option).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    /// Seconds a session token is valid (`exp`). Default 2592000 (30 days).
    #[serde(default)]
    pub max_age: Option<i64>,
    /// Encrypts the signed token (JWE `dir`/`A256GCM`), as NextAuth's `jwt.encryption`.
    /// Default false. Env: `PORTCULLIS_JWT_ENCRYPTION` (`true`/`false`).
    #[serde(default)]
    pub encryption: Option<bool>,
    /// Keep the OAuth provider's access and refresh token in the session token and renew
    /// the access token when a session read finds it expired (the session JSON then has
    /// `accessToken`, and `error = "RefreshAccessTokenError"` when the provider refuses).
    /// Needs `encryption = true`. Default false.
    #[serde(default)]
    pub provider_tokens: Option<bool>,
    /// Signing out revokes the session token: its `jti` is kept in the store until the
    /// token expires, and every session read refuses it, on every instance sharing the
    /// store. Costs one store lookup per read; needs a store. Default false.
    #[serde(default)]
    pub revocable: bool,
    /// v3's `jwt.secret`: the secret session-token keys are derived from, when it differs
    /// from `secret` (which still hashes CSRF and e-mail tokens). A list rotates, as
    /// `secret` does. Unset: `secret`. Env: `PORTCULLIS_JWT_SECRET` (one secret).
    #[serde(default)]
    pub secret: Option<Secrets>,
    /// v3's `jwt.signingKey`, as the same JSON string, e.g.
    /// `'{"kty":"oct","kid":"…","alg":"HS512","k":"…"}'` (64 bytes or more): signs and
    /// verifies session tokens instead of the key derived from the secret, so a v3 site
    /// that set it keeps its sessions. Env: `PORTCULLIS_JWT_SIGNING_KEY` (keeps it out of
    /// the file).
    #[serde(default)]
    pub signing_key: Option<JwkString>,
    /// v3's `jwt.encryptionKey`, as the same JSON string, e.g.
    /// `'{"kty":"oct","kid":"…","alg":"A256GCM","k":"…"}'` (32 bytes): encrypts session
    /// tokens (with `encryption = true`) instead of the derived key.
    /// Env: `PORTCULLIS_JWT_ENCRYPTION_KEY`.
    #[serde(default)]
    pub encryption_key: Option<JwkString>,
}

/// Per-cookie replacements (NextAuth's `cookies` option). A replaced cookie takes the whole
/// policy given here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CookiesSection {
    /// `host`: on https the session cookie is `__Host-next-auth.session-token` (no sibling
    /// subdomain can set it). Default `secure`: v3's `__Secure-next-auth.session-token`,
    /// the name Next.js code (`getToken`) reads. A `sessionToken` policy here wins.
    #[serde(default)]
    pub prefix: Option<CookiePrefix>,
    /// The session token cookie (default `next-auth.session-token`).
    #[serde(default)]
    pub session_token: Option<CookiePolicy>,
    /// The callback URL cookie (default `next-auth.callback-url`).
    #[serde(default)]
    pub callback_url: Option<CookiePolicy>,
    /// The CSRF token cookie (default `next-auth.csrf-token`).
    #[serde(default)]
    pub csrf_token: Option<CookiePolicy>,
    /// The PKCE code verifier cookie (default `next-auth.pkce.code_verifier`).
    #[serde(default)]
    pub pkce_code_verifier: Option<CookiePolicy>,
    /// The OAuth `state` cookie (default `next-auth.state`).
    #[serde(default)]
    pub state: Option<CookiePolicy>,
    /// The OpenID `nonce` cookie (default `next-auth.nonce`).
    #[serde(default)]
    pub nonce: Option<CookiePolicy>,
    /// The OAuth 1.0a request-token secret cookie (default `next-auth.oauth1.token_secret`).
    #[serde(default)]
    pub oauth_token_secret: Option<CookiePolicy>,
}

/// Pool size and timeouts of a SQL `database` (unset: the store's defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabasePoolSection {
    /// Most connections open at once. Default 10.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Seconds an operation waits for a connection before it fails. Default 10.
    #[serde(default)]
    pub acquire_timeout_seconds: Option<u64>,
    /// Seconds one statement may run before the server cancels it. Default 30.
    #[serde(default)]
    pub statement_timeout_seconds: Option<u64>,
}

impl DatabasePoolSection {
    /// The store's options with these settings applied.
    pub fn sql_options(&self) -> portcullis_store_sql::SqlOptions {
        let mut options = portcullis_store_sql::SqlOptions::default();
        if let Some(max) = self.max_connections {
            options.max_connections = max.max(1);
        }
        if let Some(seconds) = self.acquire_timeout_seconds {
            options.acquire_timeout = std::time::Duration::from_secs(seconds);
        }
        if let Some(seconds) = self.statement_timeout_seconds {
            options.statement_timeout = Some(std::time::Duration::from_secs(seconds));
        }
        options
    }
}

/// Health endpoints: `GET /healthz` answers 200 while the process serves (liveness);
/// `GET /readyz` answers 200 when the store and every SMTP server answer, else 503
/// naming what failed (readiness). Neither is under the auth base path, neither carries a
/// cookie, and neither says more than `ok` or which dependency is down.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    /// Serve `/healthz` and `/readyz`. Default true; false answers them 404 like any path
    /// outside the base path.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// `[metrics]`: Prometheus's text format at `GET /metrics`, off by default. Sign-ins and
/// failures by provider and v3 error code, session reads, callback and provider latency,
/// rate-limit refusals; labels never carry user data (docs/deploy.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `/metrics` on a listener of its own at this address (keep it off the public
    /// network, e.g. `127.0.0.1:9464`). Unset: served on the main listener, if `token` is set.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Demand `Authorization: Bearer <token>` (compared in constant time); required to
    /// serve `/metrics` on the main listener. Env: `PORTCULLIS_METRICS_TOKEN`.
    #[serde(default)]
    pub token: Option<MetricsToken>,
}

impl MetricsSection {
    /// Whether `/metrics` is served at all.
    pub fn enabled(&self) -> bool {
        self.listen.is_some() || self.token.is_some()
    }
}

impl Default for HealthSection {
    fn default() -> Self {
        Self { enabled: true }
    }
}

fn default_true() -> bool {
    true
}

/// Log output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter, e.g. `info` or `portcullis=debug,warn`. Default `info`.
    /// Env: `PORTCULLIS_LOG`.
    #[serde(default)]
    pub filter: Option<String>,
    /// `text` (default) or `json` (one JSON object per line). Env: `PORTCULLIS_LOG_FORMAT`.
    #[serde(default)]
    pub format: Option<LogFormat>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("expected `text` or `json`, got {other:?}")),
        }
    }
}

/// Rate limits (`[throttle]`), each `{ limit = N, window_seconds = S }`: at most `limit`
/// attempts per key in `window_seconds`. Unset ones keep their defaults (those of
/// [`ThrottleSettings::default`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSection {
    /// Magic links per address (default 3 a minute).
    #[serde(default)]
    pub email_per_address: Option<Limit>,
    /// Magic links per client IP (default 20 a minute).
    #[serde(default)]
    pub email_per_ip: Option<Limit>,
    /// Magic-link redemptions per client IP (default 30 a minute).
    #[serde(default)]
    pub email_callback_per_ip: Option<Limit>,
    /// Credentials attempts per username (default 10 in 5 minutes).
    #[serde(default)]
    pub credentials_per_identifier: Option<Limit>,
    /// Credentials attempts per client IP (default 50 a minute).
    #[serde(default)]
    pub credentials_per_ip: Option<Limit>,
}

impl ThrottleSection {
    /// The engine's limits: these over the defaults. Errors name the key.
    pub fn settings(&self) -> Result<ThrottleSettings, String> {
        let defaults = ThrottleSettings::default();
        let pick = |key: &str, set: Option<Limit>, default: Limit| match set {
            Some(limit) if limit.limit == 0 || limit.window_seconds <= 0 => Err(format!(
                "throttle.{key}: limit and window_seconds must be at least 1"
            )),
            Some(limit) => Ok(limit),
            None => Ok(default),
        };
        Ok(ThrottleSettings {
            email_per_address: pick(
                "email_per_address",
                self.email_per_address,
                defaults.email_per_address,
            )?,
            email_per_ip: pick("email_per_ip", self.email_per_ip, defaults.email_per_ip)?,
            email_callback_per_ip: pick(
                "email_callback_per_ip",
                self.email_callback_per_ip,
                defaults.email_callback_per_ip,
            )?,
            credentials_per_identifier: pick(
                "credentials_per_identifier",
                self.credentials_per_identifier,
                defaults.credentials_per_identifier,
            )?,
            credentials_per_ip: pick(
                "credentials_per_ip",
                self.credentials_per_ip,
                defaults.credentials_per_ip,
            )?,
        })
    }
}
