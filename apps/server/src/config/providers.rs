//! `[[providers]]`: e-mail, credentials (and their backends) and OAuth presets.

use super::{DatabaseUrl, Secrets, SmtpUrl};
use portcullis_domain::CredentialField;
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::PathBuf;

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
