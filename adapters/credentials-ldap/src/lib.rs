//! A credentials backend that checks passwords against an LDAP directory (OpenLDAP,
//! Active Directory, …) with the `ldap3` crate over rustls.
//!
//! Each sign-in opens its own connection (plain, StartTLS or LDAPS), then either
//! searches for the user as a service account and binds as the entry found
//! ([`UserLookup::Search`]), or binds as a DN made from a template
//! ([`UserLookup::DnTemplate`]). The user's `id`, `name` and `email` come from mapped
//! attributes.
//!
//! What the client hears: a user, or `None` (v3's `CredentialsSignin`) for a wrong
//! password, an unknown user, a locked account or an empty password alike; the reason
//! goes to the log. A directory that cannot be reached, times out or refuses the service
//! account answers [`HookFailure::Error`] with [`UNAVAILABLE`].

mod refusal;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::{dn_escape, ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use portcullis_domain::effect::{HookFailure, RequestInfo};
use portcullis_domain::error::ErrorCode;
use portcullis_ports::Authorize;
use serde_json::{json, Map, Value};

pub use refusal::Refusal;
pub use settings::{
    AttributeMap, BindPassword, LdapSettings, ServiceAccount, SettingsError, UserLookup,
    DEFAULT_TIMEOUT, DEFAULT_USER_FILTER, USERNAME_PLACEHOLDER,
};

/// The `?error=` code when the directory cannot answer (down, timed out, service account
/// refused): the error page shows its generic message with status 200, never a 500.
pub const UNAVAILABLE: &str = "CredentialsUnavailable";

/// Read to tell a locked OpenLDAP (ppolicy) account in the log; operational, so asked for
/// by name.
const LOCKED_TIME_ATTRIBUTE: &str = "pwdAccountLockedTime";

/// The RDN bound to when a search finds nobody, so that an unknown user costs a bind
/// round trip as a known one does. No entry has it, so the bind always fails.
const NO_SUCH_USER_RDN: &str = "cn=portcullis-no-such-user";

/// The LDAP credentials backend: [`Authorize`] reading the `username` and `password`
/// fields.
#[derive(Clone)]
pub struct LdapAuthorizer {
    inner: Arc<Inner>,
}

struct Inner {
    settings: LdapSettings,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for LdapAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapAuthorizer")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in could not be decided.
#[derive(Debug, thiserror::Error)]
enum Unavailable {
    #[error("cannot connect: {0}")]
    Connect(ldap3::LdapError),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("{what}: {error}")]
    Operation {
        what: &'static str,
        error: ldap3::LdapError,
    },
    #[error("the service account's bind was refused (result code {rc}: {text})")]
    ServiceBind { rc: u32, text: String },
    #[error("{what} failed with result code {rc}: {text}")]
    Result {
        what: &'static str,
        rc: u32,
        text: String,
    },
}

/// How one attempt ended.
enum Verdict {
    User(Value),
    Refused(Refusal),
    /// The bind succeeded but the entry lacks the id attribute: a configuration error.
    NoId,
}

impl LdapAuthorizer {
    /// Checks the settings and loads the CA certificates (the `ca_file`, or the system's).
    /// Connects to nothing.
    pub fn new(settings: LdapSettings) -> Result<Self, SettingsError> {
        settings::check(&settings)?;
        let tls = tls_config(settings.ca_file.as_deref())?;
        if !settings.starttls && !settings.url.starts_with("ldaps:") && !is_loopback(&settings.url)
        {
            tracing::warn!(
                target: "portcullis::ldap",
                url = %settings.url,
                "passwords go to the LDAP server unencrypted: use ldaps:// or starttls = true"
            );
        }
        Ok(Self {
            inner: Arc::new(Inner { settings, tls }),
        })
    }

    /// The user's session JSON (`id`, `name`, `email`, `image`) if `password` is theirs,
    /// `None` if not (or the username or password is empty).
    pub async fn check(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Value>, HookFailure> {
        // An empty password would make an "unauthenticated bind" (RFC 4513 §5.1.2),
        // which many directories answer with success without checking anything.
        if username.is_empty() || password.is_empty() {
            tracing::info!(target: "portcullis::ldap", "sign-in refused: empty username or password");
            return Ok(None);
        }
        let timeout = self.inner.settings.timeout;
        // One bound for the whole attempt too: each step has its own, this caps their sum.
        let total = timeout.saturating_mul(4);
        let attempt = tokio::time::timeout(total, self.attempt(username, password)).await;
        match attempt.unwrap_or(Err(Unavailable::Timeout(total))) {
            Ok(Verdict::User(user)) => Ok(Some(user)),
            Ok(Verdict::Refused(refusal)) => {
                tracing::info!(
                    target: "portcullis::ldap",
                    reason = refusal.as_str(),
                    "sign-in refused by the directory"
                );
                Ok(None)
            }
            Ok(Verdict::NoId) => {
                tracing::error!(
                    target: "portcullis::ldap",
                    id_attribute = %self.inner.settings.attributes.id,
                    "the user's entry has no value for the id attribute: set id_attribute to one every user has"
                );
                Err(HookFailure::Error(ErrorCode::Configuration))
            }
            Err(error) => {
                tracing::error!(
                    target: "portcullis::ldap",
                    url = %self.inner.settings.url,
                    %error,
                    "the LDAP directory cannot check credentials"
                );
                Err(HookFailure::Error(UNAVAILABLE.into()))
            }
        }
    }

    async fn attempt(&self, username: &str, password: &str) -> Result<Verdict, Unavailable> {
        let mut ldap = self.connect().await?;
        let verdict = match &self.inner.settings.lookup {
            UserLookup::Search {
                service,
                base_dn,
                filter,
            } => {
                self.search_then_bind(
                    &mut ldap,
                    service.as_ref(),
                    base_dn,
                    filter,
                    username,
                    password,
                )
                .await
            }
            UserLookup::DnTemplate(template) => {
                let dn = template.replace(USERNAME_PLACEHOLDER, &dn_escape(username));
                self.bind_as_template(&mut ldap, &dn, password).await
            }
        };
        // Best effort: the connection closes when dropped anyway.
        let _ = tokio::time::timeout(self.inner.settings.timeout, ldap.unbind()).await;
        verdict
    }

    async fn connect(&self) -> Result<Ldap, Unavailable> {
        let settings = &self.inner.settings;
        let conn_settings = LdapConnSettings::new()
            .set_conn_timeout(settings.timeout)
            .set_starttls(settings.starttls)
            .set_config(self.inner.tls.clone());
        let (conn, ldap) = LdapConnAsync::with_settings(conn_settings, &settings.url)
            .await
            .map_err(|e| match e {
                ldap3::LdapError::Timeout { .. } => Unavailable::Timeout(settings.timeout),
                other => Unavailable::Connect(other),
            })?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// Search as the service account, then bind as the one entry found. When none (or
    /// several) is found, bind as an entry that does not exist, so that the attempt costs
    /// the same round trips either way.
    async fn search_then_bind(
        &self,
        ldap: &mut Ldap,
        service: Option<&ServiceAccount>,
        base_dn: &str,
        filter: &str,
        username: &str,
        password: &str,
    ) -> Result<Verdict, Unavailable> {
        let timeout = self.inner.settings.timeout;
        if let Some(service) = service {
            let result = ldap
                .with_timeout(timeout)
                .simple_bind(&service.dn, service.password.expose())
                .await
                .map_err(|e| operation("service account bind", e, timeout))?;
            if result.rc != 0 {
                return Err(Unavailable::ServiceBind {
                    rc: result.rc,
                    text: result.text,
                });
            }
        }
        let filter = filter.replace(USERNAME_PLACEHOLDER, &ldap_escape(username));
        let attributes = &self.inner.settings.attributes;
        let wanted = [
            attributes.id.as_str(),
            attributes.name.as_str(),
            attributes.email.as_str(),
            LOCKED_TIME_ATTRIBUTE,
        ];
        // Two are enough to tell "exactly one" from "ambiguous".
        let ldap3::SearchResult(entries, result) = ldap
            .with_timeout(timeout)
            .with_search_options(ldap3::SearchOptions::new().sizelimit(2))
            .search(base_dn, Scope::Subtree, &filter, wanted.to_vec())
            .await
            .map_err(|e| operation("user search", e, timeout))?;
        // 0 success, 4 sizeLimitExceeded (more than one match), 32 noSuchObject (no base).
        if !matches!(result.rc, 0 | 4 | 32) {
            return Err(Unavailable::Result {
                what: "user search",
                rc: result.rc,
                text: result.text,
            });
        }
        let mut entries = entries.into_iter().map(SearchEntry::construct);
        let entry = match (entries.next(), entries.next()) {
            (Some(entry), None) => Some(entry),
            (Some(_), Some(_)) => {
                tracing::warn!(
                    target: "portcullis::ldap",
                    "user_filter matches several entries for one username: refused; make it match one"
                );
                None
            }
            _ => None,
        };
        let dn = match &entry {
            Some(entry) => entry.dn.clone(),
            None => format!("{NO_SUCH_USER_RDN},{base_dn}"),
        };
        let (rc, refusal) = self.user_bind(ldap, &dn, password, entry.as_ref()).await?;
        match (entry, rc) {
            (Some(entry), 0) => Ok(self.user_from(&entry)),
            (None, 0) => {
                // Only a directory that accepts any bind gets here; never a sign-in.
                tracing::error!(
                    target: "portcullis::ldap",
                    "the directory accepted a bind as an entry that does not exist: it allows unauthenticated binds"
                );
                Ok(Verdict::Refused(Refusal::BadCredentials))
            }
            _ => Ok(Verdict::Refused(refusal)),
        }
    }

    /// Bind as the templated DN; on success read the user's attributes as the user.
    async fn bind_as_template(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        password: &str,
    ) -> Result<Verdict, Unavailable> {
        let (rc, refusal) = self.user_bind(ldap, dn, password, None).await?;
        if rc != 0 {
            return Ok(Verdict::Refused(refusal));
        }
        let timeout = self.inner.settings.timeout;
        let attributes = &self.inner.settings.attributes;
        let wanted = vec![
            attributes.id.as_str(),
            attributes.name.as_str(),
            attributes.email.as_str(),
        ];
        let ldap3::SearchResult(entries, result) = ldap
            .with_timeout(timeout)
            .search(dn, Scope::Base, "(objectClass=*)", wanted)
            .await
            .map_err(|e| operation("reading the user's entry", e, timeout))?;
        match entries.into_iter().next() {
            Some(entry) if result.rc == 0 => Ok(self.user_from(&SearchEntry::construct(entry))),
            _ => Err(Unavailable::Result {
                what: "reading the user's entry after a successful bind",
                rc: result.rc,
                text: result.text,
            }),
        }
    }

    /// Binds as `dn` with the Password Policy control: `(0, _)` on success, else the
    /// result code and why. Codes that say the directory is unwell are errors.
    async fn user_bind(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        password: &str,
        entry: Option<&SearchEntry>,
    ) -> Result<(u32, Refusal), Unavailable> {
        let timeout = self.inner.settings.timeout;
        let result = ldap
            .with_timeout(timeout)
            .with_controls(vec![refusal::ppolicy_request()])
            .simple_bind(dn, password)
            .await
            .map_err(|e| operation("user bind", e, timeout))?;
        match result.rc {
            0 => Ok((0, Refusal::BadCredentials)),
            // busy, unavailable, other: the directory could not decide.
            51 | 52 | 80 => Err(Unavailable::Result {
                what: "user bind",
                rc: result.rc,
                text: result.text,
            }),
            rc => {
                let locked = entry.is_some_and(|e| attribute(e, LOCKED_TIME_ATTRIBUTE).is_some());
                Ok((rc, refusal::classify(&result.ctrls, &result.text, locked)))
            }
        }
    }

    fn user_from(&self, entry: &SearchEntry) -> Verdict {
        let attributes = &self.inner.settings.attributes;
        let Some(id) = attribute(entry, &attributes.id) else {
            return Verdict::NoId;
        };
        Verdict::User(json!({
            "id": id,
            "name": attribute(entry, &attributes.name),
            "email": attribute(entry, &attributes.email),
            "image": null,
        }))
    }
}

/// The first value of an attribute, its name matched case-insensitively.
fn attribute<'a>(entry: &'a SearchEntry, name: &str) -> Option<&'a str> {
    entry
        .attrs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, values)| values.first())
        .map(String::as_str)
}

fn operation(what: &'static str, error: ldap3::LdapError, timeout: Duration) -> Unavailable {
    match error {
        ldap3::LdapError::Timeout { .. } => Unavailable::Timeout(timeout),
        error => Unavailable::Operation { what, error },
    }
}

fn is_loopback(url: &str) -> bool {
    // ldap:// is not a "special" scheme to `url`: its host is an opaque string.
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()));
    host.is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// rustls with ring (explicitly: no process-wide default is assumed), trusting the CA
/// file's certificates, or the system's when there is none.
fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> Result<Arc<rustls::ClientConfig>, SettingsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let refuse = |message: String| SettingsError {
        key: "ca_file",
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| refuse(format!("{}: {e}", path.display())))?;
            if certificates.is_empty() {
                return Err(refuse(format!(
                    "{}: holds no PEM certificate",
                    path.display()
                )));
            }
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|e| refuse(format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| refuse(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[async_trait]
impl Authorize for LdapAuthorizer {
    /// Reads the `username` and `password` fields; anything missing or not a string is a
    /// failed sign-in.
    async fn authorize(
        &self,
        credentials: &Map<String, Value>,
        _request: &RequestInfo,
    ) -> Result<Option<Value>, HookFailure> {
        let field = |name: &str| credentials.get(name).and_then(Value::as_str);
        match (field("username"), field("password")) {
            (Some(username), Some(password)) => self.check(username, password).await,
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for url in [
            "ldap://127.0.0.1:3389",
            "ldap://localhost",
            "ldap://[::1]:389",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in ["ldap://ldap.example.org", "ldap://10.0.0.1", "not a url"] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
