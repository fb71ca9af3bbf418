//! The server's configuration: a TOML file, overridden by environment variables, described
//! by a JSON Schema (`portcullis config schema`).
//!
//! Precedence, lowest first: built-in defaults, the file, the environment, command-line
//! flags (applied by the CLI).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use portcullis_domain::config::Branding;
use portcullis_domain::cookies::{CookiePolicy, CookiePrefix};
use portcullis_domain::{CredentialField, Pages, SessionStrategy, Theme};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::StartupError;

/// Where the server keeps its data unless told otherwise (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "./.portcullis";
/// The tracing filter used unless `PORTCULLIS_LOG` or `log.filter` says otherwise.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// The Portcullis server's configuration file (TOML).
///
/// Every value can also come from the environment, which wins over the file:
/// `NEXTAUTH_URL`, `NEXTAUTH_SECRET`, `PORTCULLIS_LISTEN`, `PORTCULLIS_DATA_DIR`,
/// `PORTCULLIS_DATABASE_URL`, `PORTCULLIS_JWT_ENCRYPTION`, `PORTCULLIS_JWT_SECRET`,
/// `PORTCULLIS_JWT_SIGNING_KEY`, `PORTCULLIS_JWT_ENCRYPTION_KEY`, `PORTCULLIS_LOG`,
/// `PORTCULLIS_LOG_FORMAT`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The site's public URL with the auth base path, as NextAuth's `NEXTAUTH_URL`
    /// (e.g. `https://example.com/api/auth`; without a path the base path is `/api/auth`).
    /// An `https` URL turns on secure cookies. Required, except under `serve --dev`, where
    /// it defaults to `http://localhost:<port>/api/auth` with the port of `listen`.
    /// Env: `NEXTAUTH_URL`.
    #[serde(default)]
    pub url: Option<String>,

    /// The secret that signs and derives the keys of session tokens, CSRF tokens and
    /// e-mail tokens: at least 32 random bytes (`openssl rand -base64 32`). A list rotates
    /// secrets: the first signs, every one verifies. Required unless in dev mode.
    /// Env: `NEXTAUTH_SECRET` (one secret; replaces the file's).
    #[serde(default)]
    pub secret: Option<Secrets>,

    /// Accept a secret (and `jwt.secret`) shorter than 32 bytes: only to keep an existing
    /// NextAuth v3 deployment's secret, and its users' sessions. Tokens are then only as
    /// hard to forge as that secret is to guess; a warning is logged at start. Default false.
    #[serde(default)]
    pub allow_short_secret: bool,

    /// Store provider access and refresh tokens encrypted (AES-256-GCM; the key is derived
    /// from each `secret` with HKDF, for this purpose alone). The first secret encrypts,
    /// every secret decrypts, so keep an old secret in the list until the tokens it
    /// encrypted were refreshed or re-linked. Tokens stored before (or by NextAuth v3) still
    /// read, and turning it off later loses nothing. NextAuth v3 serving the same database
    /// cannot read encrypted tokens. Default false.
    #[serde(default)]
    pub encrypt_provider_tokens: bool,
    /// Let provider endpoints (authorization, token, userinfo, JWKS, issuer discovery,
    /// OAuth 1 endpoints) be on loopback, link-local or private addresses. Off by default:
    /// each host is resolved when it is called and refused if any of its addresses is not
    /// public, so a provider URL or a discovery document cannot aim the server at its own
    /// network (SSRF). For test setups and providers on the internal network. Hooks,
    /// events and credentials services are the operator's own and may always be private.
    #[serde(default)]
    pub allow_private_network: bool,

    /// Address and port to listen on. Default `127.0.0.1:3000`. Env: `PORTCULLIS_LISTEN`.
    /// When neither sets it, the platform convention applies (Heroku, Cloud Run, most
    /// container hosts): `PORT` (then on `0.0.0.0`, where the platform's router reaches
    /// it) and `HOST`. See [`ServerConfig::listen_addr`].
    #[serde(default)]
    pub listen: Option<SocketAddr>,

    /// Directory for the server's data (the embedded sled store in `<data_dir>/store`, the
    /// dev-mode secret). Default `./.portcullis` (working directory); a relative path in
    /// the file is taken from the file's directory. Env: `PORTCULLIS_DATA_DIR`.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,

    /// The database holding users, accounts, sessions and e-mail sign-ins, in NextAuth
    /// v3's schema: `postgres://…`, `mysql://…` (or `mariadb://…`), `sqlite://PATH` (a
    /// relative path is taken from the config file's directory), or `mongodb://host/NAME`
    /// (v3's collections; database `NAME`, default `portcullis`). `serve` applies pending
    /// migrations at startup unless `--no-migrate`; `portcullis migrate` applies them
    /// alone. Unset: the embedded sled store in `<data_dir>/store`.
    /// Env: `PORTCULLIS_DATABASE_URL`.
    #[serde(default)]
    pub database: Option<DatabaseUrl>,

    /// Run with no store at all: nothing is written to disk, sessions are JWTs, and only
    /// credentials sign-in works (e-mail sign-in and database sessions need a store, so
    /// the server refuses to start with them). Default false.
    #[serde(default)]
    pub stateless: bool,

    /// Count rate limits (e-mail links and credentials attempts, per address or username
    /// and per client IP) in the `database`, so that several server instances behind one
    /// load balancer share them; needs `database` (the server refuses to start without
    /// one). Default false: each instance counts in its own memory, so N instances allow
    /// N times the limits. When the database cannot answer, attempts are allowed and an
    /// error is logged.
    #[serde(default)]
    pub throttle_shared: bool,

    /// Reverse proxies in front of the server (address blocks, e.g. `["10.0.0.0/8"]`).
    /// A request from one of them is attributed to the rightmost address in
    /// `client_ip_header` that is not itself a trusted proxy; per-IP rate limits count that
    /// address (an IPv6 client by its /64). Default empty: the socket's peer is the client
    /// and forwarding headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<portcullis_domain::client_ip::IpCidr>,

    /// The header trusted proxies write: `x-forwarded-for` (default) or `forwarded`
    /// (RFC 7239). Only this one is read.
    #[serde(default)]
    pub client_ip_header: portcullis_domain::client_ip::ForwardedHeader,

    /// The SQL database's connection pool.
    #[serde(default)]
    pub database_pool: DatabasePoolSection,

    /// Session lifetimes.
    #[serde(default)]
    pub session: SessionSection,

    /// Where users may be sent after signing in or out (v3's `callbacks.redirect`).
    #[serde(default)]
    pub redirects: RedirectsSection,

    /// Session token (JWT) settings.
    #[serde(default)]
    pub jwt: JwtSection,

    /// Forces secure cookies (`__Secure-`/`__Host-` names, `Secure`) even on an `http`
    /// URL; on `https` they are always on.
    #[serde(default)]
    pub use_secure_cookies: Option<bool>,

    /// Replaces the policy (name, path, domain, flags) of individual cookies.
    #[serde(default)]
    pub cookies: CookiesSection,

    /// Custom pages: when set, the built-in page redirects there.
    #[serde(default)]
    pub pages: Pages,

    /// Colour scheme of the built-in pages: `auto` (default, follows the visitor's
    /// system setting), `light` or `dark`.
    #[serde(default)]
    pub theme: Theme,

    /// The brand on the built-in pages, e.g.
    /// `[branding]` `name = "Acme"`, `logo_url = "https://cdn.acme.example/logo.svg"`,
    /// `accent_color = "#0a7f3c"`. The logo must be an `https://` URL or a path on the site;
    /// the colour `#rgb` or `#rrggbb`. Unset: no logo or name, a blue accent.
    #[serde(default)]
    pub branding: Branding,

    /// Sign-in providers, each a table with a `type`.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,

    /// Logging.
    #[serde(default)]
    pub log: LogSection,

    /// `GET /healthz` and `GET /readyz` for an orchestrator, outside the auth base path.
    #[serde(default)]
    pub health: HealthSection,

    /// A Prometheus endpoint, `GET /metrics`: off unless `listen` or `token` is set.
    #[serde(default)]
    pub metrics: MetricsSection,

    /// Hooks: the operator's HTTP endpoints, called signed (Standard Webhooks) at decision
    /// points (`[hooks.sign_in]`, `[hooks.jwt]`, `[hooks.session]`, `[hooks.redirect]`,
    /// `[hooks.send_email]`)
    /// and for events (`[hooks.events]`). See docs/hooks.md.
    #[serde(default)]
    pub hooks: HooksSection,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 3000))
}

/// The platform convention, below the file and `PORTCULLIS_LISTEN`: `PORT` (a port number)
/// and `HOST` (an IP address). `PORT` alone listens on every interface, since the platform
/// routes to the container from outside; `HOST` alone keeps port 3000. Neither: `None`.
fn platform_listen(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SocketAddr>, StartupError> {
    let port = get("PORT")
        .map(|port| {
            port.trim().parse::<u16>().map_err(|e| StartupError::Env {
                var: "PORT",
                message: format!("{e}: expected a port number such as 8080"),
            })
        })
        .transpose()?;
    let host = get("HOST")
        .map(|host| match host.trim() {
            "localhost" => Ok(std::net::IpAddr::from([127, 0, 0, 1])),
            host => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .map_err(|e| StartupError::Env {
                    var: "HOST",
                    message: format!("{e}: expected an IP address such as 0.0.0.0 or ::"),
                }),
        })
        .transpose()?;
    Ok(match (host, port) {
        (None, None) => None,
        (Some(host), port) => Some(SocketAddr::new(host, port.unwrap_or(3000))),
        (None, Some(port)) => Some(SocketAddr::from(([0, 0, 0, 0], port))),
    })
}

/// One secret, or a list of them (the first signs, every one verifies).
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Secrets {
    /// A single secret.
    One(String),
    /// Several secrets, newest first: the first signs, every one verifies.
    Many(Vec<String>),
}

impl Secrets {
    /// The secrets in order: the first signs.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Secrets::One(secret) => vec![secret.clone()],
            Secrets::Many(secrets) => secrets.clone(),
        }
    }
}

// Never prints a secret.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = match self {
            Secrets::One(_) => 1,
            Secrets::Many(secrets) => secrets.len(),
        };
        write!(f, "Secrets([{count} redacted])")
    }
}

/// A database URL. It may hold a password, so `Debug` shows only its scheme.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a database URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself (with any password in it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A `sqlite://` URL's relative file path made relative to `dir`.
    fn resolve_sqlite_path(&mut self, dir: &Path) {
        let Some(rest) = self.0.strip_prefix("sqlite://") else {
            return;
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        if path.is_empty() || path.starts_with(':') || Path::new(path).is_absolute() {
            return;
        }
        let joined = dir.join(path);
        self.0 = match query {
            Some(query) => format!("sqlite://{}?{query}", joined.display()),
            None => format!("sqlite://{}", joined.display()),
        };
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.0.split_once(':').map_or("?", |(scheme, _)| scheme);
        write!(f, "DatabaseUrl({scheme}://[redacted])")
    }
}

/// A JSON Web Key given as v3's JSON string (`jwt.signingKey`, `jwt.encryptionKey`). It is
/// key material, so `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct JwkString(String);

impl JwkString {
    /// Wraps a JWK's JSON text.
    pub fn new(jwk: impl Into<String>) -> Self {
        Self(jwk.into())
    }

    /// The JWK's JSON text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for JwkString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwkString([redacted])")
    }
}

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

/// A sign-in provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ProviderConfig {
    /// Username and password, checked by one backend: a users file of Argon2id hashes
    /// (`users_file`), an LDAP directory (`[providers.ldap]`), a SQL password table
    /// (`[providers.sql]`) or an HTTP service (`[providers.http]`).
    Credentials(CredentialsProviderConfig),
    /// A sign-in link sent by e-mail (needs a store for its single-use tokens).
    Email(EmailProviderConfig),
    /// OAuth 1.0a, OAuth 2.0 or OpenID Connect: a built-in preset or a described provider.
    Oauth(Box<crate::oauth_config::OAuthProviderConfig>),
}

/// An e-mail (magic link) provider, delivering through an SMTP server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailProviderConfig {
    /// URL segment: `POST <base>/signin/<id>`. Default `email`.
    #[serde(default = "default_email_id")]
    pub id: String,
    /// Shown on the sign-in page: "Sign in with <name>". Default `Email`.
    #[serde(default = "default_email_name")]
    pub name: String,
    /// The SMTP server: `smtp://host:port` (add `?tls=required` for STARTTLS, or
    /// `?tls=opportunistic`), `smtps://host:port` (implicit TLS); credentials as
    /// `smtp://user:password@host`. Env: `PORTCULLIS_SMTP_URL` (keeps the password out of
    /// the file).
    #[serde(default)]
    pub smtp: Option<SmtpUrl>,
    /// The sender, e.g. `Portcullis <no-reply@example.com>`.
    pub from: String,
    /// Seconds a link stays valid. Default 86400 (v3's 24 hours); OWASP ASVS 2.7.2 asks
    /// for 600 (10 minutes).
    #[serde(default = "default_email_max_age")]
    pub max_age: i64,
    /// The sign-in e-mail from your own template files instead of the built-in one:
    /// `[providers.template]` `subject = "mail/subject.txt"`, `text = "mail/text.txt"`,
    /// `html = "mail/body.html"` (relative paths are taken from the config file's
    /// directory). minijinja syntax; the variables are `url` (the sign-in link), `host`
    /// (the site), `provider_name` and `expires` (RFC 3339). The recipient's address is not
    /// offered (it may be hostile text). The HTML is auto-escaped; the subject is made one
    /// line. An unknown variable fails `portcullis config check`; `portcullis mail preview`
    /// shows the result.
    #[serde(default)]
    pub template: Option<MailTemplateFiles>,
}

/// The three template files of an e-mail provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailTemplateFiles {
    /// The subject line (one line; surrounding whitespace and line breaks are collapsed).
    pub subject: PathBuf,
    /// The plain-text part.
    pub text: PathBuf,
    /// The HTML part (auto-escaped).
    pub html: PathBuf,
}

fn default_email_id() -> String {
    "email".into()
}

fn default_email_name() -> String {
    "Email".into()
}

fn default_email_max_age() -> i64 {
    portcullis_domain::provider::DEFAULT_EMAIL_MAX_AGE
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

/// An SMTP URL. It may hold a password, so `Debug` shows only its scheme.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    /// Wraps an SMTP URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.0.split_once("://").map(|(s, _)| s).unwrap_or("?");
        write!(f, "SmtpUrl({scheme}://[redacted])")
    }
}

impl ProviderConfig {
    /// The provider's id (its URL segment).
    pub fn id(&self) -> &str {
        match self {
            ProviderConfig::Credentials(c) => &c.id,
            ProviderConfig::Email(e) => &e.id,
            ProviderConfig::Oauth(o) => o.id(),
        }
    }
}

/// A credentials provider, backed by exactly one of `users_file`, `[providers.ldap]`,
/// `[providers.sql]` or `[providers.http]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsProviderConfig {
    /// URL segment: `POST <base>/callback/<id>`. 1-64 characters of a-z, A-Z, 0-9, - and _.
    pub id: String,
    /// Shown on the sign-in page: "Sign in with <name>".
    pub name: String,
    /// TOML file of `[[users]]` with `username`, `password_hash` (Argon2id PHC string from
    /// `portcullis hash-password`), optional `name`, `email` and `id` (default: the
    /// username). A relative path is taken from the config file's directory.
    #[serde(default)]
    pub users_file: Option<PathBuf>,
    /// Backend: an LDAP directory (search then bind, or a DN template; StartTLS or LDAPS).
    #[serde(default)]
    // Boxed: the table is large beside the other provider types (clippy::large_enum_variant).
    pub ldap: Option<Box<crate::ldap_config::LdapBackendConfig>>,
    /// Backend: an existing password table in a SQL database (see [`SqlBackendConfig`]).
    #[serde(default)]
    pub sql: Option<SqlBackendConfig>,
    /// Backend: the operator's HTTP service (see [`HttpBackendConfig`]).
    #[serde(default)]
    pub http: Option<HttpBackendConfig>,
    /// The form's inputs. Default: `username` (text) and `password` (password). The users
    /// file backend reads `username` and `password`.
    #[serde(default)]
    pub fields: Option<Vec<CredentialField>>,
}

/// `[providers.sql]`: credentials checked against a password table the operator already has
/// (PostgreSQL, MySQL/MariaDB or SQLite), e.g.
/// `query = "SELECT id, name, email, password_hash FROM users WHERE email = $1"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlBackendConfig {
    /// The `SELECT` finding one user, with the username as its only parameter (`$1` on
    /// PostgreSQL, `?` on MySQL/MariaDB and SQLite; bound, never interpolated). Its select
    /// list must name the columns `id` (integer or text), `name`, `email` and
    /// `password_hash` (alias them: `SELECT user_id AS id, pw AS password_hash, …`), and may
    /// add `image`; `SELECT *` is refused. `config check` reads the select list from the
    /// query's text (it does not connect).
    pub query: String,
    /// The database holding the table: `postgres://…`, `mysql://…` (or `mariadb://…`), or
    /// `sqlite://PATH` (a relative path is taken from the config file's directory). Unset:
    /// the server's `database` (which must then be SQL).
    #[serde(default)]
    pub url: Option<DatabaseUrl>,
    /// The form field bound as the query's parameter. Default `username`. The password
    /// is read from the field `password`.
    #[serde(default = "default_username_field")]
    pub username_field: String,
    /// Hash schemes accepted, of `argon2id`, `argon2i`, `argon2d`, `bcrypt`, `scrypt`,
    /// `pbkdf2-sha256`, `pbkdf2-sha512`. Default: all of them. A stored hash of another
    /// scheme refuses the sign-in (logged).
    #[serde(default)]
    pub allowed_schemes: Option<Vec<String>>,
    /// After a successful sign-in whose hash is not Argon2id at today's cost (19 MiB, 2
    /// passes), store a new Argon2id hash with `update`. Default false.
    #[serde(default)]
    pub rehash: bool,
    /// The statement `rehash` runs: the new hash is its first parameter, the user's `id`
    /// (as the query returned it) its second, e.g.
    /// `UPDATE users SET password_hash = $1 WHERE id = $2`. Required with `rehash`.
    #[serde(default)]
    pub update: Option<String>,
    /// Most connections this backend opens at once. Default 5.
    #[serde(default)]
    pub max_connections: Option<u32>,
}

fn default_username_field() -> String {
    "username".into()
}

/// `[providers.http]`: credentials checked by the operator's HTTP service: a JSON `POST`
/// signed per Standard Webhooks, answered `{"user": {id, name, email, image}}` or
/// `{"user": null}`, signed the same way.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpBackendConfig {
    /// The service's endpoint: `https://…` (`http://` only on a loopback host: the
    /// password travels in the body).
    pub url: String,
    /// The Standard Webhooks secret (`whsec_` and the base64 of 24 to 64 random bytes),
    /// or a list while rotating (each signs the request; an answer signed by any one
    /// is accepted).
    pub secret: Secrets,
    /// Milliseconds to wait for the answer before refusing the sign-in. Default 5000.
    #[serde(default = "default_http_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_http_timeout_ms() -> u64 {
    5000
}

/// The hooks (docs/hooks.md). A hook left out keeps NextAuth v3's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HooksSection {
    /// v3's `callbacks.signIn`: answers allow, deny or a redirect on the site.
    #[serde(default)]
    pub sign_in: Option<HookConfig>,
    /// v3's `callbacks.jwt`: claims in, claims out (`sub`, `iat`, `exp`, `jti` protected).
    #[serde(default)]
    pub jwt: Option<JwtHookConfig>,
    /// v3's `callbacks.session`: the session JSON the client sees; runs on every session
    /// read (the session JSON only exists there).
    #[serde(default)]
    pub session: Option<HookConfig>,
    /// v3's `callbacks.redirect`: asked where a `callbackUrl` given on a request leads.
    /// Its answer stays within the site's origin and `[redirects] allowed_origins`; a
    /// failed call sends the user to the site's base URL.
    #[serde(default)]
    pub redirect: Option<HookConfig>,
    /// Delivers sign-in links through the operator's mail API instead of SMTP: e-mail
    /// providers then need no `smtp`.
    #[serde(default)]
    pub send_email: Option<HookConfig>,
    /// v3's `events`: signIn, signOut, createUser, updateUser, linkAccount and session,
    /// POSTed to the operator's receiver (docs/hooks.md, "Events").
    #[serde(default)]
    pub events: Option<EventsHookConfig>,
}

/// One hook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// The endpoint: an `http://` or `https://` URL, called with `POST`.
    pub url: String,
    /// The Standard Webhooks secret `whsec_<base64 of 24 to 64 random bytes>`, or a list
    /// while rotating (each signs the request; an answer signed by any one is accepted).
    /// Env: `PORTCULLIS_HOOK_<NAME>_SECRET` (e.g. `PORTCULLIS_HOOK_SIGN_IN_SECRET`; several
    /// separated by spaces), which keeps it out of the file.
    #[serde(default)]
    pub secret: Option<Secrets>,
    /// Milliseconds the whole call may take; then the hook fails closed. Default 2000.
    #[serde(default = "default_hook_timeout_ms")]
    pub timeout_ms: u64,
}

/// The `jwt` hook's endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtHookConfig {
    /// As in every hook: an `http://` or `https://` URL.
    pub url: String,
    /// As in every hook: `whsec_…` or a list. Env: `PORTCULLIS_HOOK_JWT_SECRET`.
    #[serde(default)]
    pub secret: Option<Secrets>,
    /// As in every hook. Default 2000.
    #[serde(default = "default_hook_timeout_ms")]
    pub timeout_ms: u64,
    /// Also call the hook on every session read (one HTTP call per read). Default false:
    /// at sign-in only; reads serve the claims the token carries.
    #[serde(default)]
    pub on_read: bool,
}

/// The default bound on one hook call.
pub const DEFAULT_HOOK_TIMEOUT_MS: u64 = 2000;

fn default_hook_timeout_ms() -> u64 {
    DEFAULT_HOOK_TIMEOUT_MS
}

impl JwtHookConfig {
    /// The endpoint part, as any hook has it.
    pub fn endpoint(&self) -> HookConfig {
        HookConfig {
            url: self.url.clone(),
            secret: self.secret.clone(),
            timeout_ms: self.timeout_ms,
        }
    }
}

impl HooksSection {
    /// The configured endpoints, by hook name (`sign_in`, `jwt`, …).
    pub fn endpoints(&self) -> Vec<(&'static str, HookConfig)> {
        [
            ("sign_in", self.sign_in.clone()),
            ("jwt", self.jwt.as_ref().map(JwtHookConfig::endpoint)),
            ("session", self.session.clone()),
            ("redirect", self.redirect.clone()),
            ("send_email", self.send_email.clone()),
        ]
        .into_iter()
        .filter_map(|(name, hook)| hook.map(|hook| (name, hook)))
        .collect()
    }

    /// `PORTCULLIS_HOOK_<NAME>_SECRET` replaces the secret of a configured hook.
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) {
        let from_env = |name: &str| {
            get(&format!(
                "PORTCULLIS_HOOK_{}_SECRET",
                name.to_ascii_uppercase()
            ))
            .map(|v| Secrets::Many(v.split_whitespace().map(str::to_owned).collect()))
        };
        let slots = [
            ("sign_in", self.sign_in.as_mut().map(|h| &mut h.secret)),
            ("jwt", self.jwt.as_mut().map(|h| &mut h.secret)),
            ("session", self.session.as_mut().map(|h| &mut h.secret)),
            ("redirect", self.redirect.as_mut().map(|h| &mut h.secret)),
            (
                "send_email",
                self.send_email.as_mut().map(|h| &mut h.secret),
            ),
        ];
        for (name, slot) in slots {
            if let (Some(slot), Some(secrets)) = (slot, from_env(name)) {
                *slot = Some(secrets);
            }
        }
    }
}

impl CredentialsProviderConfig {
    /// The backend keys that are set (exactly one must be).
    fn backends_set(&self) -> Vec<&'static str> {
        [
            ("users_file", self.users_file.is_some()),
            ("ldap", self.ldap.is_some()),
            ("sql", self.sql.is_some()),
            ("http", self.http.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }

    /// How many backends are set (exactly one must be).
    pub fn backend_count(&self) -> usize {
        self.backends_set().len()
    }

    /// Exactly one backend is set; the error names the provider and the keys.
    pub fn check_backends(&self) -> Result<(), String> {
        const CHOICES: &str =
            "`users_file`, `[providers.ldap]`, `[providers.sql]` or `[providers.http]`";
        let set = self.backends_set();
        match set.len() {
            1 => Ok(()),
            0 => Err(format!(
                "provider {:?}: set one credentials backend: {CHOICES}",
                self.id
            )),
            _ => Err(format!(
                "provider {:?}: set only one credentials backend, not {}",
                self.id,
                set.join(" and ")
            )),
        }
    }
}

/// `[hooks.events]`: events go to `url`, signed, retried until delivered. They are kept in
/// the store until then (sled or SQL: a restart loses none); without one (`stateless`, or
/// MongoDB for now) in a bounded memory queue that drops the oldest when full.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsHookConfig {
    /// The receiver: an `http://` or `https://` URL.
    pub url: String,
    /// A Standard Webhooks secret, `whsec_` and the base64 of 24 to 64 random bytes
    /// (`echo whsec_$(openssl rand -base64 32)`), or a list while rotating: every one
    /// signs each request.
    pub secret: Secrets,
    /// Bound on one delivery attempt, in milliseconds. Default 5000.
    #[serde(default = "default_events_timeout_ms")]
    pub timeout_ms: u64,
    /// The first retry's delay, in milliseconds; each later one doubles, with jitter.
    /// Default 1000.
    #[serde(default = "default_events_retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// The longest delay between two retries, in milliseconds. Default 600000 (10 min).
    #[serde(default = "default_events_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Without a durable store: events held in memory at most; when full, the oldest is
    /// dropped (an error is logged). Default 10000.
    #[serde(default = "default_events_queue_capacity")]
    pub queue_capacity: usize,
}

fn default_events_timeout_ms() -> u64 {
    5000
}

fn default_events_retry_initial_ms() -> u64 {
    1000
}

fn default_events_retry_max_ms() -> u64 {
    600_000
}

fn default_events_queue_capacity() -> usize {
    10_000
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

/// The bearer token of `/metrics`: redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// Wraps a bearer token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// Whether `presented` is this token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        portcullis_domain::secret::constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }

    /// Its length in bytes (not secret: it only says whether it is long enough).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the token is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken([redacted])")
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

impl ServerConfig {
    /// Reads a configuration file; relative paths in it are resolved against its directory.
    /// A syntax error, an unknown field or a bad value names the line.
    pub fn from_file(path: &Path) -> Result<Self, StartupError> {
        let text = std::fs::read_to_string(path).map_err(|source| StartupError::Io {
            what: "read the config file",
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml(&text).map_err(|e| match e {
            StartupError::ConfigFile { message, .. } => StartupError::ConfigFile {
                path: path.to_owned(),
                message,
            },
            other => other,
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        config.resolve_paths(dir);
        Ok(config)
    }

    /// Parses TOML text (paths are left as written).
    pub fn from_toml(text: &str) -> Result<Self, StartupError> {
        toml::from_str(text).map_err(|e: toml::de::Error| StartupError::ConfigFile {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })
    }

    /// Makes relative file paths relative to `dir` (the config file's directory).
    pub fn resolve_paths(&mut self, dir: &Path) {
        if dir.as_os_str().is_empty() {
            return;
        }
        if let Some(data_dir) = &mut self.data_dir {
            if data_dir.is_relative() {
                *data_dir = dir.join(&*data_dir);
            }
        }
        if let Some(database) = &mut self.database {
            database.resolve_sqlite_path(dir);
        }
        for provider in &mut self.providers {
            match provider {
                ProviderConfig::Credentials(c) => {
                    if let Some(users_file) = &mut c.users_file {
                        if users_file.is_relative() {
                            *users_file = dir.join(&*users_file);
                        }
                    }
                    if let Some(ldap) = &mut c.ldap {
                        ldap.resolve_paths(dir);
                    }
                    if let Some(url) = c.sql.as_mut().and_then(|sql| sql.url.as_mut()) {
                        url.resolve_sqlite_path(dir);
                    }
                }
                ProviderConfig::Email(e) => {
                    if let Some(template) = &mut e.template {
                        for path in [
                            &mut template.subject,
                            &mut template.text,
                            &mut template.html,
                        ] {
                            if path.is_relative() {
                                *path = dir.join(&*path);
                            }
                        }
                    }
                }
                ProviderConfig::Oauth(_) => {}
            }
        }
    }

    /// Applies the environment (`NEXTAUTH_URL`, `NEXTAUTH_SECRET`, `PORTCULLIS_*`), which
    /// wins over the file. `env` looks a variable up; [`process_env`] reads the process's.
    /// An empty variable counts as unset.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), StartupError> {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(url) = get("NEXTAUTH_URL") {
            self.url = Some(url);
        }
        if let Some(secret) = get("NEXTAUTH_SECRET") {
            self.secret = Some(Secrets::One(secret));
        }
        if let Some(smtp) = get("PORTCULLIS_SMTP_URL") {
            for provider in &mut self.providers {
                if let ProviderConfig::Email(email) = provider {
                    email.smtp = Some(SmtpUrl::new(smtp.trim()));
                }
            }
        }
        for provider in &mut self.providers {
            if let ProviderConfig::Oauth(oauth) = provider {
                oauth.apply_env(env);
            }
        }
        self.hooks.apply_env(&get);
        if let Some(password) = get(crate::ldap_config::BIND_PASSWORD_ENV) {
            for provider in &mut self.providers {
                if let ProviderConfig::Credentials(c) = provider {
                    // Only for a service account: a template or anonymous search has none.
                    if let Some(ldap) = c.ldap.as_mut().filter(|l| l.bind_dn.is_some()) {
                        ldap.bind_password = Some(password.clone());
                    }
                }
            }
        }
        if let Some(listen) = get("PORTCULLIS_LISTEN") {
            self.listen = Some(listen.trim().parse().map_err(|e| StartupError::Env {
                var: "PORTCULLIS_LISTEN",
                message: format!("{e}: expected an address and port such as 127.0.0.1:3000"),
            })?);
        }
        if self.listen.is_none() {
            self.listen = platform_listen(&get)?;
        }
        if let Some(token) = get("PORTCULLIS_METRICS_TOKEN") {
            self.metrics.token = Some(MetricsToken::new(token.trim()));
        }
        if let Some(dir) = get("PORTCULLIS_DATA_DIR") {
            self.data_dir = Some(PathBuf::from(dir));
        }
        if let Some(url) = get("PORTCULLIS_DATABASE_URL") {
            self.database = Some(DatabaseUrl::new(url.trim()));
        }
        if let Some(encryption) = get("PORTCULLIS_JWT_ENCRYPTION") {
            self.jwt.encryption = Some(match encryption.trim() {
                "true" => true,
                "false" => false,
                other => {
                    return Err(StartupError::Env {
                        var: "PORTCULLIS_JWT_ENCRYPTION",
                        message: format!("expected `true` or `false`, got {other:?}"),
                    })
                }
            });
        }
        if let Some(secret) = get("PORTCULLIS_JWT_SECRET") {
            self.jwt.secret = Some(Secrets::One(secret));
        }
        if let Some(jwk) = get("PORTCULLIS_JWT_SIGNING_KEY") {
            self.jwt.signing_key = Some(JwkString::new(jwk.trim()));
        }
        if let Some(jwk) = get("PORTCULLIS_JWT_ENCRYPTION_KEY") {
            self.jwt.encryption_key = Some(JwkString::new(jwk.trim()));
        }
        if let Some(filter) = get("PORTCULLIS_LOG") {
            self.log.filter = Some(filter);
        }
        if let Some(format) = get("PORTCULLIS_LOG_FORMAT") {
            self.log.format = Some(format.parse().map_err(|message| StartupError::Env {
                var: "PORTCULLIS_LOG_FORMAT",
                message,
            })?);
        }
        Ok(())
    }

    /// Loads the configuration: the file (if any), then the environment.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, StartupError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    /// Where to listen: `--listen`, `PORTCULLIS_LISTEN`, the file's `listen`, the
    /// platform's `PORT`/`HOST`, in that order; else `127.0.0.1:3000`.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.unwrap_or_else(default_listen)
    }

    /// `NEXTAUTH_URL` as configured, or `http://localhost:<port>/api/auth` (`listen`'s
    /// port; its address when it is neither loopback nor unspecified).
    pub fn effective_url(&self) -> String {
        if let Some(url) = &self.url {
            return url.clone();
        }
        let listen = self.listen_addr();
        let ip = listen.ip();
        let host = if ip.is_loopback() || ip.is_unspecified() {
            "localhost".to_owned()
        } else {
            match ip {
                std::net::IpAddr::V4(v4) => v4.to_string(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            }
        };
        format!("http://{host}:{}/api/auth", listen.port())
    }

    /// The session strategy in force: the configured one, else v3's default (`database`
    /// when a `database` is set and no credentials provider needs JWTs, `jwt` otherwise).
    pub fn session_strategy(&self) -> SessionStrategy {
        if let Some(strategy) = self.session.strategy {
            return strategy;
        }
        let credentials = self
            .providers
            .iter()
            .any(|p| matches!(p, ProviderConfig::Credentials(_)));
        if self.database.is_some() && !credentials {
            SessionStrategy::Database
        } else {
            SessionStrategy::Jwt
        }
    }

    /// The data directory (default `./.portcullis`).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The tracing filter (default `info`).
    pub fn log_filter(&self) -> &str {
        self.log.filter.as_deref().unwrap_or(DEFAULT_LOG_FILTER)
    }

    /// The log format (default text).
    pub fn log_format(&self) -> LogFormat {
        self.log.format.unwrap_or_default()
    }

    /// The JSON Schema of the configuration file, pretty-printed.
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(ServerConfig);
        serde_json::to_string_pretty(&schema).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Looks a variable up in the process environment (non-UTF-8 values count as unset).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn branding_is_read_next_to_the_theme() {
        let config = ServerConfig::from_toml(
            "theme = \"dark\"\n[branding]\nname = \"Acme\"\nlogo_url = \"/logo.svg\"\naccent_color = \"#0a7f3c\"\n",
        )
        .unwrap();
        assert_eq!(config.theme, Theme::Dark);
        assert_eq!(config.branding.name.as_deref(), Some("Acme"));
        assert_eq!(config.branding.logo_url.as_deref(), Some("/logo.svg"));
        assert_eq!(config.branding.accent_color.as_deref(), Some("#0a7f3c"));
        assert!(ServerConfig::from_toml("[branding]\ncolour = \"#fff\"\n").is_err());
        let schema: serde_json::Value = serde_json::from_str(&ServerConfig::json_schema()).unwrap();
        assert!(schema["properties"]["branding"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("accent_color")));
    }
}
