//! What the backend is told: where the directory is, how a username becomes an entry, and
//! which attributes make the user. Checked once, before any connection.

use std::path::PathBuf;
use std::time::Duration;

/// The placeholder replaced by the (escaped) username in `user_filter` and `user_dn`.
pub const USERNAME_PLACEHOLDER: &str = "{username}";
/// The default search filter.
pub const DEFAULT_USER_FILTER: &str = "(uid={username})";
/// The default timeout of the connection and of each operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A password that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct BindPassword(String);

impl BindPassword {
    /// Wraps a bind password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, to send in a bind.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BindPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BindPassword([redacted])")
    }
}

/// How a username is turned into the entry whose password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    /// Search `base_dn` (whole subtree) with `filter`, where `{username}` is replaced by
    /// the username escaped per RFC 4515; then bind as the one entry found. The search
    /// runs as `service` (a service account) or, without one, anonymously.
    Search {
        /// The account the search binds as; `None`: anonymous.
        service: Option<ServiceAccount>,
        /// Where the subtree search starts.
        base_dn: String,
        /// The search filter, with `{username}` where the escaped username goes.
        filter: String,
    },
    /// Bind directly as this DN, where `{username}` is replaced by the username escaped
    /// per RFC 4514 (e.g. `uid={username},ou=people,dc=example,dc=org`); the user's
    /// attributes are then read as the user.
    DnTemplate(String),
}

/// The account that searches for users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// The service account's DN.
    pub dn: String,
    /// The service account's password.
    pub password: BindPassword,
}

/// Which entry attributes become the user's `id`, `name` and `email`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeMap {
    /// The attribute that becomes the user's `id`.
    pub id: String,
    /// The attribute that becomes the user's `name`.
    pub name: String,
    /// The attribute that becomes the user's `email`.
    pub email: String,
}

impl Default for AttributeMap {
    fn default() -> Self {
        Self {
            id: "uid".into(),
            name: "cn".into(),
            email: "mail".into(),
        }
    }
}

/// The backend's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapSettings {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before anything is sent.
    pub starttls: bool,
    /// PEM file of the certificate authorities to trust for TLS; unset: the system's.
    pub ca_file: Option<PathBuf>,
    /// How a username becomes the entry to bind as.
    pub lookup: UserLookup,
    /// Which attributes make the user.
    pub attributes: AttributeMap,
    /// Bounds the connection (TCP and TLS) and each LDAP operation.
    pub timeout: Duration,
}

impl LdapSettings {
    /// Settings with the defaults: no StartTLS, the system's CAs, `uid`/`cn`/`mail`,
    /// a 5-second timeout.
    pub fn new(url: impl Into<String>, lookup: UserLookup) -> Self {
        Self {
            url: url.into(),
            starttls: false,
            ca_file: None,
            lookup,
            attributes: AttributeMap::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A setting the backend cannot work with. `key` is the setting's name as the server's
/// configuration spells it, so the caller can prefix where it sits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    /// The setting's name, as the server's configuration spells it.
    pub key: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn refuse(key: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError {
        key,
        message: message.into(),
    }
}

/// Whether TLS comes from the URL's scheme.
pub(crate) fn check(settings: &LdapSettings) -> Result<bool, SettingsError> {
    let url = url::Url::parse(&settings.url).map_err(|e| {
        refuse(
            "url",
            format!("{e}: expected ldap://host[:port] or ldaps://host[:port]"),
        )
    })?;
    let ldaps = match url.scheme() {
        "ldap" => false,
        "ldaps" => true,
        other => {
            return Err(refuse(
                "url",
                format!("scheme {other:?} is not ldap or ldaps: expected ldap://host[:port] or ldaps://host[:port]"),
            ))
        }
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("url", "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "url",
            "must not hold credentials: use bind_dn and bind_password",
        ));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(refuse(
            "url",
            "must be only ldap[s]://host[:port]: the base DN and filter are settings of their own",
        ));
    }
    if ldaps && settings.starttls {
        return Err(refuse(
            "starttls",
            "an ldaps:// URL is TLS already; StartTLS is for ldap:// URLs",
        ));
    }
    if settings.timeout.is_zero() {
        return Err(refuse("timeout_seconds", "must be at least 1"));
    }
    match &settings.lookup {
        UserLookup::Search {
            service,
            base_dn,
            filter,
        } => {
            if base_dn.trim().is_empty() {
                return Err(refuse("base_dn", "is empty"));
            }
            if !filter.contains(USERNAME_PLACEHOLDER) {
                return Err(refuse(
                    "user_filter",
                    format!("must contain {USERNAME_PLACEHOLDER}, e.g. {DEFAULT_USER_FILTER}"),
                ));
            }
            if !(filter.starts_with('(') && filter.ends_with(')')) {
                return Err(refuse(
                    "user_filter",
                    format!("must be one parenthesised filter, e.g. {DEFAULT_USER_FILTER}"),
                ));
            }
            if let Some(service) = service {
                if service.dn.trim().is_empty() {
                    return Err(refuse("bind_dn", "is empty"));
                }
                // An empty password makes an "unauthenticated bind", which succeeds
                // without checking anything.
                if service.password.expose().is_empty() {
                    return Err(refuse(
                        "bind_password",
                        "is empty (set it, or PORTCULLIS_LDAP_BIND_PASSWORD)",
                    ));
                }
            }
        }
        UserLookup::DnTemplate(template) => {
            if !template.contains(USERNAME_PLACEHOLDER) {
                return Err(refuse(
                    "user_dn",
                    format!("must contain {USERNAME_PLACEHOLDER}, e.g. uid={USERNAME_PLACEHOLDER},ou=people,dc=example,dc=org"),
                ));
            }
        }
    }
    for (key, name) in [
        ("id_attribute", &settings.attributes.id),
        ("name_attribute", &settings.attributes.name),
        ("email_attribute", &settings.attributes.email),
    ] {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ';');
        if !valid {
            return Err(refuse(
                key,
                format!("{name:?} is not an attribute name (e.g. uid, cn, mail)"),
            ));
        }
    }
    Ok(ldaps)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn search() -> UserLookup {
        UserLookup::Search {
            service: None,
            base_dn: "dc=example,dc=org".into(),
            filter: DEFAULT_USER_FILTER.into(),
        }
    }

    #[test]
    fn urls_need_the_ldap_or_ldaps_scheme() {
        assert_eq!(
            check(&LdapSettings::new("ldap://127.0.0.1:3389", search())),
            Ok(false)
        );
        assert_eq!(
            check(&LdapSettings::new("ldaps://ldap.example.org", search())),
            Ok(true)
        );
        for bad in [
            "127.0.0.1:3389",
            "ldap.example.org",
            "http://ldap.example.org",
            "ldapi://%2Frun%2Fslapd",
            "ldap://",
            "ldap://u:p@host",
            "ldap://host/dc=example?uid",
        ] {
            let error = check(&LdapSettings::new(bad, search())).unwrap_err();
            assert_eq!(error.key, "url", "{bad}: {error}");
        }
    }

    #[test]
    fn placeholders_passwords_and_tls_are_checked() {
        let mut settings = LdapSettings::new("ldaps://host", search());
        settings.starttls = true;
        assert_eq!(check(&settings).unwrap_err().key, "starttls");
        let with = |lookup| LdapSettings::new("ldap://host", lookup);
        let error = check(&with(UserLookup::DnTemplate("uid=x,dc=org".into()))).unwrap_err();
        assert_eq!(error.key, "user_dn");
        let error = check(&with(UserLookup::Search {
            service: None,
            base_dn: "dc=org".into(),
            filter: "uid={username}".into(),
        }))
        .unwrap_err();
        assert_eq!(error.key, "user_filter");
        let error = check(&with(UserLookup::Search {
            service: Some(ServiceAccount {
                dn: "cn=svc".into(),
                password: BindPassword::new(""),
            }),
            base_dn: "dc=org".into(),
            filter: DEFAULT_USER_FILTER.into(),
        }))
        .unwrap_err();
        assert_eq!(error.key, "bind_password");
        let mut settings = with(search());
        settings.attributes.email = "mail)(x".into();
        assert_eq!(check(&settings).unwrap_err().key, "email_attribute");
    }

    #[test]
    fn debug_hides_the_bind_password() {
        let lookup = UserLookup::Search {
            service: Some(ServiceAccount {
                dn: "cn=svc".into(),
                password: BindPassword::new("hunter2-secret"),
            }),
            base_dn: "dc=org".into(),
            filter: DEFAULT_USER_FILTER.into(),
        };
        let text = format!("{:?}", LdapSettings::new("ldap://host", lookup));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("redacted"));
    }
}
