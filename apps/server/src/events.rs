//! `[hooks.events]` wired into the server: the settings checked, an outbox chosen for the
//! store (durable in sled and SQL, bounded memory otherwise), the HTTP client and the
//! background worker (started by `serve`, stopped with it).

use std::sync::Arc;
use std::time::Duration;

use portcullis_hooks_http::events::{Backoff, Events, EventsSettings};
use portcullis_hooks_http::WebhookSecrets;
use portcullis_ports::{MemoryOutbox, Outbox};

use crate::app::AppStore;
use crate::config::{EventsHookConfig, ServerConfig};
use crate::error::StartupError;

/// The checked settings of `[hooks.events]`, or `None` when it is not configured. Every
/// error names the key.
pub fn settings(config: &ServerConfig) -> Result<Option<EventsSettings>, StartupError> {
    let Some(events) = &config.hooks.events else {
        return Ok(None);
    };
    check(events).map(Some).map_err(StartupError::Settings)
}

fn check(c: &EventsHookConfig) -> Result<EventsSettings, String> {
    let uri: http::Uri = c
        .url
        .parse()
        .map_err(|_| "hooks.events.url: not a URL".to_owned())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err("hooks.events.url: must be an http:// or https:// URL with a host".into());
    }
    let secrets = WebhookSecrets::parse(&c.secret.to_vec())
        .map_err(|e| format!("hooks.events.secret: {e}"))?;
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
    let initial = Duration::from_millis(c.retry_initial_ms);
    Ok(EventsSettings {
        url: c.url.clone(),
        secrets,
        timeout: Duration::from_millis(c.timeout_ms),
        backoff: Backoff {
            initial,
            max: Duration::from_millis(c.retry_max_ms),
        },
        // Retries come due at any time: look at least every second (sooner for short
        // backoffs).
        poll: initial.min(Duration::from_secs(1)),
    })
}

/// The events of `config` on `store`'s outbox, or `None` without `[hooks.events]`.
pub fn wire(config: &ServerConfig, store: &AppStore) -> Result<Option<Arc<Events>>, StartupError> {
    let Some(settings) = settings(config)? else {
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
    let http = portcullis_http_reqwest::ReqwestHttpClient::with_settings(
        portcullis_http_reqwest::Settings {
            total_timeout: settings.timeout,
            connect_timeout: settings.timeout.min(Duration::from_secs(5)),
            // The operator's own receiver, typically on the internal network.
            allow_private_network: true,
            ..portcullis_http_reqwest::Settings::default()
        },
    )
    .map_err(|e| StartupError::Settings(format!("hooks.events: {e}")))?;
    Ok(Some(Arc::new(Events::new(
        settings,
        outbox,
        Arc::new(http),
        Arc::new(portcullis::SystemClock),
    ))))
}
