//! Values of the configuration that are secrets or carry them: their `Debug` shows none.

use schemars::JsonSchema;
use serde::Deserialize;
use std::path::Path;

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
    pub(super) fn resolve_sqlite_path(&mut self, dir: &Path) {
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

/// A NATS server URL (or several, comma-separated). It may hold a user and password or a
/// token, so `Debug` shows only its scheme.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct NatsUrl(String);

impl NatsUrl {
    /// Wraps a NATS URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, credentials included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NatsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.0.split_once("://").map(|(s, _)| s).unwrap_or("?");
        write!(f, "NatsUrl({scheme}://[redacted])")
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

/// A Redis URL. It may hold a password, so `Debug` shows only its scheme.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Wraps a Redis URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.0.split_once("://").map(|(s, _)| s).unwrap_or("?");
        write!(f, "RedisUrl({scheme}://[redacted])")
    }
}
