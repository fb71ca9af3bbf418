//! The server's configuration: a TOML file, overridden by environment variables, described
//! by a JSON Schema (`portcullis config schema`).
//!
//! Precedence, lowest first: built-in defaults, the file, the environment, command-line
//! flags (applied by the CLI).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use portcullis_domain::config::Branding;
use portcullis_domain::{Pages, SessionStrategy, Theme};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::StartupError;

mod hooks;
mod providers;
mod redis_section;
mod secrets;
mod sections;

pub use hooks::*;
pub use providers::*;
pub use redis_section::*;
pub use secrets::*;
pub use sections::*;

/// Where the server keeps its data unless told otherwise (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "./.portcullis";
/// The tracing filter used unless `PORTCULLIS_LOG` or `log.filter` says otherwise.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// The Portcullis server's configuration file (TOML).
///
/// Every value can also come from the environment, which wins over the file:
/// `NEXTAUTH_URL`, `NEXTAUTH_SECRET`, `PORTCULLIS_LISTEN`, `PORTCULLIS_DATA_DIR`,
/// `PORTCULLIS_DATABASE_URL`, `PORTCULLIS_REDIS_URL`, `PORTCULLIS_JWT_ENCRYPTION`, `PORTCULLIS_JWT_SECRET`,
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

    /// Redis, shared by several instances: rate limits and a cache of database-session
    /// lookups (`[redis]`, see docs/redis.md). Unset: no Redis.
    #[serde(default)]
    pub redis: Option<RedisSection>,

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

    /// Rate limits of e-mail links and credentials attempts (`[throttle]`): see
    /// [`ThrottleSection`]. Unset: the defaults.
    #[serde(default)]
    pub throttle: ThrottleSection,

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
        if let Some(url) = get("PORTCULLIS_REDIS_URL") {
            self.redis.get_or_insert_with(RedisSection::default).url =
                Some(RedisUrl::new(url.trim()));
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
