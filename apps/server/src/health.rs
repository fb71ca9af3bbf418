//! `GET /healthz` and `GET /readyz` for an orchestrator (Kubernetes probes, a load
//! balancer's health check), outside the auth base path.
//!
//! - `/healthz` (liveness): 200 `ok` whenever the process answers at all.
//! - `/readyz` (readiness): 200 `ok` when the store answers a lookup and every configured
//!   SMTP server accepts a connection; else 503 naming the dependency that failed (never
//!   an address, a URL or a credential), so the orchestrator stops routing sign-ins here.

use std::sync::Arc;

use http::StatusCode;
use portcullis_mail_smtp::SmtpMailer;
use portcullis_ports::Store;
use warp::Filter;

use crate::config::{ProviderConfig, ServerConfig};

/// What `/readyz` checks.
#[derive(Clone, Default)]
pub struct Readiness {
    store: Option<Arc<dyn Store>>,
    /// The SMTP server of each e-mail provider, by provider id.
    mailers: Vec<(String, Arc<SmtpMailer>)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("store", &self.store.is_some())
            .field("mailers", &self.mailers.len())
            .finish()
    }
}

/// An address no user has (the `.invalid` TLD is reserved): looking it up costs the store
/// one real query on every backend, and finds nothing.
const PROBE_EMAIL: &str = "readiness-probe@portcullis.invalid";

impl Readiness {
    /// The store and the SMTP servers of `config` (separate mailer instances: a probe
    /// connection never shares the sending one's state).
    pub fn new(config: &ServerConfig, store: Option<Arc<dyn Store>>) -> Self {
        let mailers = config
            .providers
            .iter()
            .filter_map(|provider| match provider {
                ProviderConfig::Email(e) if config.hooks.send_email.is_none() => {
                    let url = e.smtp.as_ref()?.expose();
                    let options = portcullis_mail_smtp::SmtpOptions::new(e.from.clone());
                    let mailer = SmtpMailer::from_url(url, options).ok()?;
                    Some((e.id.clone(), Arc::new(mailer)))
                }
                _ => None,
            })
            .collect();
        Self { store, mailers }
    }

    /// `Err` names the first dependency that does not answer.
    pub async fn check(&self) -> Result<(), String> {
        if let Some(store) = &self.store {
            if let Err(error) = store.get_user_by_email(PROBE_EMAIL).await {
                tracing::warn!(target: "portcullis", %error, "readiness: the store does not answer");
                return Err("store".to_owned());
            }
        }
        for (id, mailer) in &self.mailers {
            if let Err(error) = mailer.check_connection().await {
                tracing::warn!(target: "portcullis", provider = %id, %error, "readiness: the SMTP server does not answer");
                return Err(format!("smtp of provider {id}"));
            }
        }
        Ok(())
    }
}

/// `GET`/`HEAD` `/healthz` and `/readyz`; every other request falls through, and every
/// request when `readiness` is `None` (`[health] enabled = false`).
pub fn routes(
    readiness: Option<Readiness>,
) -> impl Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    let enabled = readiness.is_some();
    let readiness = Arc::new(readiness.unwrap_or_default());
    let on = warp::any()
        .and_then(move || async move {
            if enabled {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one();
    let get_or_head = warp::get().or(warp::head()).unify();
    let live = warp::path!("healthz")
        .and(get_or_head)
        .map(|| answer(StatusCode::OK, "ok".to_owned()));
    let ready = warp::path!("readyz")
        .and(get_or_head)
        .and(warp::any().map(move || readiness.clone()))
        .and_then(|readiness: Arc<Readiness>| async move {
            let response = match readiness.check().await {
                Ok(()) => answer(StatusCode::OK, "ok".to_owned()),
                Err(what) => answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {what}"),
                ),
            };
            Ok::<_, std::convert::Infallible>(response)
        });
    on.and(live.or(ready).unify())
}

fn answer(status: StatusCode, body: String) -> http::Response<String> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}
