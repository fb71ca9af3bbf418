//! What carries an event to its receiver, apart from the outbox and retries around it: the
//! signed webhook POST here, a NATS JetStream publish in `portcullis-events-nats`.

use std::sync::Arc;

use async_trait::async_trait;
use portcullis_domain::http::{Cache, HttpCall, HttpMethod};
use portcullis_domain::secret::SecretString;
use portcullis_ports::{Clock, HttpClient, OutboxEntry};

use crate::WebhookSecrets;

/// One attempt at handing one event to its receiver. [`EventDelivery`](super::EventDelivery)
/// does the rest, the same for every sink: it leases due events from the outbox, bounds each
/// attempt by the configured timeout, acks on `Ok` and reschedules with backoff on `Err`.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Where events go, as logs and `Debug` show it: never a credential, never a query.
    fn url_for_logs(&self) -> &str;

    /// Gets ready before the worker's first pass (connects, checks a stream, …). A failure
    /// is logged and is no reason to stop: events wait in the outbox and `send` tries again.
    async fn prepare(&self) -> Result<(), String> {
        Ok(())
    }

    /// Sends `entry`; `Ok` only once the receiver has taken it (the event is then acked and
    /// never sent again). `Err` carries the reason, logged: no secret, no body.
    async fn send(&self, entry: &OutboxEntry) -> Result<(), String>;
}

/// Events as signed HTTP POSTs (Standard Webhooks); any 2xx answer is a delivery.
pub struct WebhookSink {
    url: String,
    secrets: WebhookSecrets,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
}

impl WebhookSink {
    /// POSTs to `url`, signed with every one of `secrets`, through `http`.
    pub fn new(
        url: String,
        secrets: WebhookSecrets,
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            url,
            secrets,
            http,
            clock,
        }
    }
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &self.url_for_logs())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl EventSink for WebhookSink {
    fn url_for_logs(&self) -> &str {
        self.url.split(['?', '#']).next().unwrap_or_default()
    }

    async fn send(&self, entry: &OutboxEntry) -> Result<(), String> {
        let timestamp = self.clock.now().unix_timestamp();
        let signed = self
            .secrets
            .sign(&entry.id, timestamp, entry.payload.as_bytes());
        let mut headers: Vec<(String, SecretString)> =
            vec![("content-type".into(), "application/json".into())];
        headers.extend(
            signed
                .headers()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), SecretString::new(value))),
        );
        let call = HttpCall {
            method: HttpMethod::Post,
            url: self.url.clone(),
            headers,
            body: Some(SecretString::new(entry.payload.clone())),
            cache: Cache::Bypass,
        };
        match self.http.send(call).await {
            Err(failure) => Err(failure.to_string()),
            Ok(response) if response.is_success() => Ok(()),
            Ok(response) => Err(format!("answered {}", response.status)),
        }
    }
}
