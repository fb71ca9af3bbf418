//! `[hooks.events]` wired into the server: the settings checked, an outbox chosen for the
//! store (durable in sled and SQL, bounded memory otherwise), the carrier (a signed webhook
//! through the HTTP client, or NATS JetStream) and the background worker (started by `serve`,
//! stopped with it).

use std::sync::Arc;
use std::time::Duration;

use portcullis_events_nats::{NatsSettings, NatsSink, StreamSettings};
use portcullis_hooks_http::events::{Backoff, DeliverySettings, Events, WebhookSink};
use portcullis_hooks_http::WebhookSecrets;
use portcullis_ports::{Clock, MemoryOutbox, Outbox};

use crate::app::AppStore;
use crate::config::{EventsHookConfig, NatsEventsConfig, ServerConfig};
use crate::error::StartupError;

/// `[hooks.events]` checked: how to deliver, and what carries events.
#[derive(Debug, Clone)]
pub struct EventsPlan {
    /// Timeout, backoff and poll, whatever the carrier.
    pub delivery: DeliverySettings,
    /// Where events go.
    pub carrier: Carrier,
}

/// What carries events: exactly one per `[hooks.events]`.
#[derive(Debug, Clone)]
pub enum Carrier {
    /// `url` and `secret`: signed POSTs.
    Webhook {
        /// The receiver's URL.
        url: String,
        /// Every one signs each request.
        secrets: WebhookSecrets,
    },
    /// `[hooks.events.nats]`: JetStream publishes.
    Nats(NatsSettings),
}

/// The checked settings of `[hooks.events]`, or `None` when it is not configured. Every
/// error names the key.
pub fn settings(config: &ServerConfig) -> Result<Option<EventsPlan>, StartupError> {
    let Some(events) = &config.hooks.events else {
        return Ok(None);
    };
    check(events).map(Some).map_err(StartupError::Settings)
}

fn check(c: &EventsHookConfig) -> Result<EventsPlan, String> {
    if c.timeout_ms == 0 || c.timeout_ms > 120_000 {
        return Err("hooks.events.timeout_ms: must be 1 to 120000 (milliseconds)".into());
    }
    if c.retry_initial_ms == 0 {
        return Err("hooks.events.retry_initial_ms: must be at least 1 (milliseconds)".into());
    }
    if c.retry_max_ms < c.retry_initial_ms {
        return Err("hooks.events.retry_max_ms: must be at least retry_initial_ms".into());
    }
    if c.queue_capacity == 0 {
        return Err("hooks.events.queue_capacity: must be at least 1".into());
    }
    let timeout = Duration::from_millis(c.timeout_ms);
    let initial = Duration::from_millis(c.retry_initial_ms);
    let delivery = DeliverySettings {
        timeout,
        backoff: Backoff {
            initial,
            max: Duration::from_millis(c.retry_max_ms),
        },
        // Retries come due at any time: look at least every second (sooner for short
        // backoffs).
        poll: initial.min(Duration::from_secs(1)),
    };
    let carrier =
        match (&c.url, &c.nats) {
            (Some(_), Some(_)) => return Err(
                "hooks.events: `url` (a webhook) and `[hooks.events.nats]` exclude each other; \
                 events go to one of them"
                    .into(),
            ),
            (None, None) => {
                return Err(
                    "hooks.events: needs `url` and `secret` (a webhook) or `[hooks.events.nats]`"
                        .into(),
                )
            }
            (Some(url), None) => webhook(url, c)?,
            (None, Some(nats)) => {
                if c.secret.is_some() {
                    return Err(
                        "hooks.events.secret: signs webhooks only; NATS publishes are not signed \
                     (remove it, or use `url`)"
                            .into(),
                    );
                }
                Carrier::Nats(nats_settings(nats, timeout)?)
            }
        };
    Ok(EventsPlan { delivery, carrier })
}

fn webhook(url: &str, c: &EventsHookConfig) -> Result<Carrier, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "hooks.events.url: not a URL".to_owned())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err("hooks.events.url: must be an http:// or https:// URL with a host".into());
    }
    let secret = c
        .secret
        .as_ref()
        .ok_or("hooks.events.secret: required with `url` (whsec_…)")?;
    let secrets =
        WebhookSecrets::parse(&secret.to_vec()).map_err(|e| format!("hooks.events.secret: {e}"))?;
    Ok(Carrier::Webhook {
        url: url.to_owned(),
        secrets,
    })
}

fn nats_settings(c: &NatsEventsConfig, timeout: Duration) -> Result<NatsSettings, String> {
    if c.subjects.is_some() && c.stream.is_none() {
        return Err("hooks.events.nats.subjects: only with `stream` (the stream to create)".into());
    }
    let settings = NatsSettings {
        url: c.url.expose().to_owned(),
        subject: c.subject.clone(),
        stream: c.stream.as_ref().map(|name| StreamSettings {
            name: name.clone(),
            subjects: c
                .subjects
                .clone()
                .unwrap_or_else(|| vec![c.subject.clone()]),
        }),
        timeout,
    };
    // Checks every setting now, so `config check` refuses what `serve` would.
    NatsSink::new(settings.clone()).map_err(|e| format!("hooks.events.nats.{e}"))?;
    Ok(settings)
}

/// The events of `config` on `store`'s outbox, or `None` without `[hooks.events]`.
pub fn wire(config: &ServerConfig, store: &AppStore) -> Result<Option<Arc<Events>>, StartupError> {
    let Some(plan) = settings(config)? else {
        return Ok(None);
    };
    let capacity = config.hooks.events.as_ref().map_or(1, |e| e.queue_capacity);
    let memory = || Arc::new(MemoryOutbox::new(capacity)) as Arc<dyn Outbox>;
    let outbox: Arc<dyn Outbox> = match store {
        AppStore::Sled(sled) => Arc::new(sled.outbox().map_err(StartupError::Database)?),
        AppStore::Sql(sql) => Arc::new(portcullis_store_sql::SqlOutbox::new(sql.clone())),
        AppStore::Mongo(_) => {
            tracing::warn!(
                target: "portcullis",
                capacity,
                "hooks.events: MongoDB keeps no event outbox yet; undelivered events are held \
                 in memory (at most `queue_capacity`) and a restart loses them"
            );
            memory()
        }
        AppStore::Stateless => memory(),
    };
    let clock: Arc<dyn Clock> = Arc::new(portcullis::SystemClock);
    let sink: Arc<dyn portcullis_hooks_http::events::EventSink> = match plan.carrier {
        Carrier::Webhook { url, secrets } => {
            let http = portcullis_http_reqwest::ReqwestHttpClient::with_settings(
                portcullis_http_reqwest::Settings {
                    total_timeout: plan.delivery.timeout,
                    connect_timeout: plan.delivery.timeout.min(Duration::from_secs(5)),
                    // The operator's own receiver, typically on the internal network.
                    allow_private_network: true,
                    ..portcullis_http_reqwest::Settings::default()
                },
            )
            .map_err(|e| StartupError::Settings(format!("hooks.events: {e}")))?;
            Arc::new(WebhookSink::new(
                url,
                secrets,
                Arc::new(http),
                clock.clone(),
            ))
        }
        Carrier::Nats(settings) => Arc::new(
            NatsSink::new(settings)
                .map_err(|e| StartupError::Settings(format!("hooks.events.nats.{e}")))?,
        ),
    };
    Ok(Some(Arc::new(Events::with_sink(
        sink,
        plan.delivery,
        outbox,
        clock,
    ))))
}
