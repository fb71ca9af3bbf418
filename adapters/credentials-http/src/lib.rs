//! # Credentials checked by the operator's HTTP service
//!
//! [`HttpService`] implements the [`Authorize`] port by asking a service of the operator's:
//! a `POST` of the submitted form (every field but `csrfToken`) as JSON,
//!
//! ```json
//! {"provider": "app", "credentials": {"username": "jane", "password": "…"}}
//! ```
//!
//! signed per [Standard Webhooks](https://www.standardwebhooks.com/) (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature` with the configured `whsec_…` secrets). The
//! service answers `200` with `{"user": {"id": …, "name": …, "email": …, "image": …}}` to
//! sign the user in, or `{"user": null}` to refuse, and signs its answer the same way,
//! its `webhook-id` echoing the request's (so an old answer cannot be replayed).
//!
//! Everything else fails closed, as a refusal with a logged reason (never a 500): no
//! answer within the timeout, a status other than 200, an unsigned or wrongly signed
//! answer, a body that is not that JSON, a user without an id. The password is sent (that
//! is the point) but never logged: logs name the provider and the reason only.
//!
//! The call goes through the HTTP port ([`HttpClient`]), which follows no redirect and
//! bounds the body size.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_domain::effect::{HookFailure, RequestInfo};
use portcullis_domain::http::{Cache, HttpCall, HttpMethod};
use portcullis_domain::secret::SecretString;
use portcullis_hooks_http::WebhookSecrets;
use portcullis_ports::{Authorize, HttpClient};
use serde_json::{json, Map, Value};

/// The fields never forwarded: the CSRF token belongs to the site, not to the service.
const DROPPED_FIELDS: [&str; 1] = ["csrfToken"];

/// The operator's credentials service: the [`Authorize`] backend. Cheap to clone.
#[derive(Clone)]
pub struct HttpService {
    name: Arc<str>,
    url: Arc<str>,
    secrets: WebhookSecrets,
    timeout: Duration,
    client: Arc<dyn HttpClient>,
}

impl std::fmt::Debug for HttpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpService")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why a service answer is refused (logged; the sign-in fails).
#[derive(Debug)]
enum Refusal {
    Transport(String),
    Status(u16),
    Signature(String),
    Malformed(&'static str),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Transport(e) => write!(f, "no answer: {e}"),
            Refusal::Status(status) => write!(f, "answered HTTP {status} (expected 200)"),
            Refusal::Signature(e) => write!(f, "the answer's signature is refused: {e}"),
            Refusal::Malformed(what) => write!(f, "the answer is malformed: {what}"),
        }
    }
}

impl HttpService {
    /// A backend posting to `url`, which must be `https://` or `http://` on a loopback
    /// host (the password travels in the body). `name` names it in logs (the provider id,
    /// also sent as `provider`). Errors name what is wrong, never a secret.
    pub fn new(
        name: &str,
        url: &str,
        secrets: WebhookSecrets,
        timeout: Duration,
        client: Arc<dyn HttpClient>,
    ) -> Result<Self, String> {
        check_url(url)?;
        if timeout.is_zero() {
            return Err("the timeout must be more than 0 ms".into());
        }
        Ok(Self {
            name: name.into(),
            url: url.into(),
            secrets,
            timeout,
            client,
        })
    }

    /// The user the service signs in, or `None` (refused, or any failure, logged).
    pub async fn check(&self, credentials: &Map<String, Value>) -> Option<Value> {
        match self.ask(credentials).await {
            Ok(user) => user,
            Err(refusal) => {
                tracing::error!(
                    target: "portcullis::credentials_http",
                    provider = %self.name,
                    "sign-in refused: the credentials service {refusal}"
                );
                None
            }
        }
    }

    async fn ask(&self, credentials: &Map<String, Value>) -> Result<Option<Value>, Refusal> {
        let forwarded: Map<String, Value> = credentials
            .iter()
            .filter(|(name, _)| !DROPPED_FIELDS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let body = json!({ "provider": &*self.name, "credentials": forwarded }).to_string();
        let id = WebhookSecrets::new_id(&mut rand_core::OsRng);
        let signed = self.secrets.sign(&id, now(), body.as_bytes());
        let mut call = HttpCall {
            method: HttpMethod::Post,
            url: self.url.to_string(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(SecretString::new(body)),
            cache: Cache::Bypass,
        };
        for (name, value) in signed.headers() {
            call = call.header(name, value);
        }
        let response = tokio::time::timeout(self.timeout, self.client.send(call))
            .await
            .map_err(|_| {
                Refusal::Transport(format!("timed out after {} ms", self.timeout.as_millis()))
            })?
            .map_err(|e| Refusal::Transport(e.to_string()))?;
        if response.status != 200 {
            return Err(Refusal::Status(response.status));
        }
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        self.secrets
            .verify(&header, &response.body, now(), Some(&id))
            .map_err(|e| Refusal::Signature(e.to_string()))?;
        let answer: Value =
            serde_json::from_slice(&response.body).map_err(|_| Refusal::Malformed("not JSON"))?;
        match answer.get("user") {
            Some(Value::Null) => Ok(None),
            Some(Value::Object(user)) => user_json(user).map(Some),
            _ => Err(Refusal::Malformed(
                "expected {\"user\": {…}} or {\"user\": null}",
            )),
        }
    }
}

/// The session's user from the service's: a non-empty string or numeric `id`, and text
/// or null `name`, `email`, `image`. A field the service left out stays out, as a v3
/// `authorize` that returns no `image` puts no `picture` claim in the session token.
fn user_json(user: &Map<String, Value>) -> Result<Value, Refusal> {
    let id = match user.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Value::String(id.clone()),
        Some(Value::Number(n)) => Value::String(n.to_string()),
        _ => {
            return Err(Refusal::Malformed(
                "the user has no `id` (a non-empty string or a number)",
            ))
        }
    };
    let mut out = Map::new();
    out.insert("id".into(), id);
    for name in ["name", "email", "image"] {
        match user.get(name) {
            None => {}
            Some(Value::Null) => {
                out.insert(name.into(), Value::Null);
            }
            Some(Value::String(s)) => {
                out.insert(name.into(), Value::String(s.clone()));
            }
            Some(_) => {
                return Err(Refusal::Malformed(
                    "`name`, `email` and `image` must be strings or null",
                ))
            }
        }
    }
    Ok(Value::Object(out))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `https://`, or `http://` to a loopback host.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(host)) => host.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(
            "must be https:// (the password travels in the body); http:// is allowed on a \
             loopback host only"
                .into(),
        ),
        _ => Err("must be an https:// URL".into()),
    }
}

#[async_trait]
impl Authorize for HttpService {
    async fn authorize(
        &self,
        credentials: &Map<String, Value>,
        _request: &RequestInfo,
    ) -> Result<Option<Value>, HookFailure> {
        Ok(self.check(credentials).await)
    }
}
