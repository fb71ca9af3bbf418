//! `[providers.ldap]`: a credentials provider checked against an LDAP directory
//! (`portcullis-credentials-ldap`).
//!
//! ```toml
//! [[providers]]
//! type = "credentials"
//! id = "corp"
//! name = "Corporate"
//! [providers.ldap]
//! url = "ldaps://ldap.example.org"
//! bind_dn = "cn=portcullis,ou=services,dc=example,dc=org"
//! # bind_password: PORTCULLIS_LDAP_BIND_PASSWORD
//! base_dn = "ou=people,dc=example,dc=org"
//! user_filter = "(uid={username})"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_credentials_ldap::{
    AttributeMap, BindPassword, LdapAuthorizer, LdapSettings, ServiceAccount, UserLookup,
    DEFAULT_USER_FILTER,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::StartupError;

/// The environment variable that sets `bind_password` (wins over the file).
pub const BIND_PASSWORD_ENV: &str = "PORTCULLIS_LDAP_BIND_PASSWORD";

/// An LDAP directory that checks the `username` and `password` fields (OpenLDAP, Active
/// Directory, …). Each sign-in opens a connection, finds the user's entry (a search as
/// `bind_dn` under `base_dn`, or the `user_dn` template), binds as it with the password,
/// and maps its attributes to the user. Set either `base_dn` (search, optionally with
/// `bind_dn`/`bind_password`) or `user_dn` (template), not both. A wrong password, an
/// unknown user, a locked account and an empty password all answer `CredentialsSignin`
/// (the reason is logged); a directory that is down or times out answers
/// `error=CredentialsUnavailable`.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapBackendConfig {
    /// The directory: `ldap://host[:port]` (port 389; add `starttls = true` to encrypt)
    /// or `ldaps://host[:port]` (port 636, TLS from the first byte). Nothing after the
    /// port: the base DN and filter are settings of their own.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before any password is sent.
    /// Default false. Not with `ldaps://`.
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of the certificate authorities trusted for StartTLS/LDAPS, e.g. a
    /// company CA or a self-signed test CA. Unset: the system's trusted CAs. A relative
    /// path is taken from the config file's directory.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The service account that searches for users, e.g.
    /// `cn=portcullis,ou=services,dc=example,dc=org`. Unset: the search is anonymous.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// The service account's password. Env: `PORTCULLIS_LDAP_BIND_PASSWORD` (keeps it
    /// out of the file; wins over it).
    #[serde(default)]
    pub bind_password: Option<String>,
    /// Where users are searched (the whole subtree), e.g. `ou=people,dc=example,dc=org`.
    /// Search-then-bind mode; not with `user_dn`.
    #[serde(default)]
    pub base_dn: Option<String>,
    /// The search filter; `{username}` becomes the typed username, escaped (RFC 4515).
    /// Default `(uid={username})`; Active Directory: `(sAMAccountName={username})`.
    #[serde(default)]
    pub user_filter: Option<String>,
    /// DN template mode: bind directly as this DN, where `{username}` becomes the typed
    /// username, escaped (RFC 4514), e.g. `uid={username},ou=people,dc=example,dc=org`.
    /// The attributes are then read as the user. Not with `base_dn`.
    #[serde(default)]
    pub user_dn: Option<String>,
    /// The attribute that becomes the user's `id` (the session's `sub`). Default `uid`
    /// (`entryUUID` or `objectGUID` survive renames).
    #[serde(default)]
    pub id_attribute: Option<String>,
    /// The attribute that becomes the user's `name`. Default `cn`.
    #[serde(default)]
    pub name_attribute: Option<String>,
    /// The attribute that becomes the user's `email`. Default `mail`.
    #[serde(default)]
    pub email_attribute: Option<String>,
    /// Seconds the connection (TCP and TLS) and each LDAP operation may take. Default 5.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

// The bind password never shows.
impl std::fmt::Debug for LdapBackendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapBackendConfig")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("bind_dn", &self.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "[redacted]"),
            )
            .field("base_dn", &self.base_dn)
            .field("user_dn", &self.user_dn)
            .finish_non_exhaustive()
    }
}

impl LdapBackendConfig {
    /// Makes a relative `ca_file` relative to `dir` (the config file's directory).
    pub fn resolve_paths(&mut self, dir: &Path) {
        if let Some(ca_file) = &mut self.ca_file {
            if ca_file.is_relative() {
                *ca_file = dir.join(&*ca_file);
            }
        }
    }

    /// The backend, checked (URL, mode, placeholders, CA file); connects to nothing.
    /// Errors name the key, e.g. `providers[corp].ldap.url: …`.
    pub fn build(&self, provider_id: &str) -> Result<LdapAuthorizer, StartupError> {
        let at = |key: &str, message: String| {
            let dot = if key.is_empty() { "" } else { "." };
            StartupError::Settings(format!(
                "providers[{provider_id}].ldap{dot}{key}: {message}"
            ))
        };
        self.settings()
            .map_err(|message| at("", message))
            .and_then(|settings| LdapAuthorizer::new(settings).map_err(|e| at(e.key, e.message)))
    }

    fn settings(&self) -> Result<LdapSettings, String> {
        let lookup = match (&self.base_dn, &self.user_dn) {
            (Some(_), Some(_)) => {
                return Err(
                    "set either `base_dn` (search then bind) or `user_dn` (DN template), not both"
                        .into(),
                )
            }
            (None, None) => {
                return Err(
                    "set `base_dn` (search then bind) or `user_dn` (DN template, e.g. \
                     \"uid={username},ou=people,dc=example,dc=org\")"
                        .into(),
                )
            }
            (None, Some(template)) => {
                if self.bind_dn.is_some() || self.user_filter.is_some() {
                    return Err(
                        "`bind_dn` and `user_filter` belong to search mode (`base_dn`), not to `user_dn`"
                            .into(),
                    );
                }
                UserLookup::DnTemplate(template.clone())
            }
            (Some(base_dn), None) => {
                let service = match (&self.bind_dn, &self.bind_password) {
                    (Some(dn), Some(password)) => Some(ServiceAccount {
                        dn: dn.clone(),
                        password: BindPassword::new(password.clone()),
                    }),
                    (Some(_), None) => {
                        return Err(format!(
                            "`bind_dn` needs `bind_password` (or {BIND_PASSWORD_ENV})"
                        ))
                    }
                    (None, Some(_)) => {
                        return Err("`bind_password` is set without `bind_dn`".into());
                    }
                    (None, None) => None,
                };
                UserLookup::Search {
                    service,
                    base_dn: base_dn.clone(),
                    filter: self
                        .user_filter
                        .clone()
                        .unwrap_or_else(|| DEFAULT_USER_FILTER.into()),
                }
            }
        };
        let defaults = AttributeMap::default();
        let mut settings = LdapSettings::new(self.url.trim(), lookup);
        settings.starttls = self.starttls;
        settings.ca_file = self.ca_file.clone();
        settings.attributes = AttributeMap {
            id: self.id_attribute.clone().unwrap_or(defaults.id),
            name: self.name_attribute.clone().unwrap_or(defaults.name),
            email: self.email_attribute.clone().unwrap_or(defaults.email),
        };
        if let Some(seconds) = self.timeout_seconds {
            settings.timeout = Duration::from_secs(seconds);
        }
        Ok(settings)
    }
}
