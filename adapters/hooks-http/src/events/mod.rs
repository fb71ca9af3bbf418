//! Events (`[hooks.events]`): signIn, signOut, createUser, updateUser, linkAccount and
//! session, each POSTed to the operator's endpoint (or handed to another [`EventSink`], such
//! as NATS JetStream), nothing lost.
//!
//! - **Never in the response's way.** [`EventRecorder::event`] (the [`Hooks`] port) only
//!   writes the event to an [`Outbox`] and wakes the worker; the request goes on. With a
//!   durable outbox (sled, SQL) that write is on disk or committed before the response, so
//!   a restart or `kill -9` loses no event; the network call never is.
//! - **At least once.** [`EventDelivery`] takes due events with a lease, POSTs each, signed
//!   per Standard Webhooks, and acks it on any 2xx; otherwise it retries with capped
//!   exponential backoff and jitter ([`Backoff`]), forever. `webhook-id` is the event's
//!   id on every attempt, so a receiver de-duplicates retries on it. What carries an event
//!   is an [`EventSink`] ([`WebhookSink`] here); the lease, ack and backoff are the same for
//!   every sink.
//! - **Bounded without a store.** A [`MemoryOutbox`](portcullis_ports::MemoryOutbox) holds
//!   a fixed number of events and drops the oldest, logging an error that counts drops.
//! - **Audited.** Every event is also one `portcullis::audit` log line (name, id, user id,
//!   provider), with no tokens.
//!
//! The body is `{"type":"event","data":{"event":"signIn","id":"msg_…","at":"…",…}}`
//! ([`payload::payload`]); provider tokens, session tokens and passwords are removed.

pub mod delivery;
pub mod payload;
pub mod sink;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_domain::effect::AuthEvent;
use portcullis_ports::{Clock, EventListener, HttpClient, Outbox};
use rand_core::OsRng;
use tokio::sync::Notify;

pub use delivery::{Backoff, EventDelivery, EventWorker, Pass};
pub use sink::{EventSink, WebhookSink};

use crate::WebhookSecrets;

/// Where and how events are sent as webhooks.
#[derive(Debug, Clone)]
pub struct EventsSettings {
    /// The receiver's `http(s)` URL.
    pub url: String,
    /// Every one signs each request (rotation).
    pub secrets: WebhookSecrets,
    /// Bound on one delivery attempt.
    pub timeout: Duration,
    /// Delays between retries of a failed delivery.
    pub backoff: Backoff,
    /// How often the worker looks for retries that have come due.
    pub poll: Duration,
}

impl EventsSettings {
    /// The timeout, backoff and poll: what delivery through any sink needs.
    pub fn delivery(&self) -> DeliverySettings {
        DeliverySettings {
            timeout: self.timeout,
            backoff: self.backoff,
            poll: self.poll,
        }
    }
}

/// How events are delivered, whatever carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Bound on one delivery attempt (and on the sink's [`EventSink::prepare`]).
    pub timeout: Duration,
    /// Delays between retries of a failed delivery.
    pub backoff: Backoff,
    /// How often the worker looks for retries that have come due.
    pub poll: Duration,
}

/// The recorder (a [`Hooks`] with `events` registered) and the delivery worker of one
/// receiver, sharing an outbox.
pub struct Events {
    recorder: Arc<EventRecorder>,
    delivery: Arc<EventDelivery>,
    wake: Arc<Notify>,
    poll: Duration,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("url", &self.delivery.url_for_logs())
            .finish_non_exhaustive()
    }
}

impl Events {
    /// The recorder and worker for webhooks as `settings` says, keeping pending events in
    /// `outbox`.
    pub fn new(
        settings: EventsSettings,
        outbox: Arc<dyn Outbox>,
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let delivery = settings.delivery();
        let sink = WebhookSink::new(settings.url, settings.secrets, http, clock.clone());
        Self::with_sink(Arc::new(sink), delivery, outbox, clock)
    }

    /// The recorder and worker for events carried by `sink`, keeping pending events in
    /// `outbox`.
    pub fn with_sink(
        sink: Arc<dyn EventSink>,
        settings: DeliverySettings,
        outbox: Arc<dyn Outbox>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let poll = settings.poll;
        Self {
            recorder: Arc::new(EventRecorder {
                outbox: outbox.clone(),
                clock: clock.clone(),
                wake: wake.clone(),
            }),
            delivery: Arc::new(EventDelivery {
                outbox,
                sink,
                clock,
                settings,
            }),
            wake,
            poll,
        }
    }

    /// The [`Hooks`] to give the engine.
    pub fn recorder(&self) -> Arc<EventRecorder> {
        self.recorder.clone()
    }

    /// The deliverer, for running a pass by hand ([`EventDelivery::deliver_due`]).
    pub fn delivery(&self) -> Arc<EventDelivery> {
        self.delivery.clone()
    }

    /// Starts the background worker (needs a tokio runtime).
    pub fn start(&self) -> EventWorker {
        self.delivery.clone().spawn(self.wake.clone(), self.poll)
    }
}

/// Records each event in the outbox, logs its audit line, and wakes the worker.
pub struct EventRecorder {
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl EventRecorder {
    /// Records one event; returns its id. `Err`: the outbox refused it (logged, and the
    /// event is lost: the response is not held up or failed for it).
    pub async fn record(&self, event: &AuthEvent) -> Result<String, portcullis_ports::StoreError> {
        let id = WebhookSecrets::new_id(&mut OsRng);
        let now = self.clock.now();
        let body = payload::payload(event, &id, now);
        payload::audit(&body["data"]);
        let text = body.to_string();
        match self.outbox.enqueue(&id, &text, now).await {
            Ok(()) => {
                self.wake.notify_one();
                Ok(id)
            }
            Err(e) => {
                tracing::error!(
                    target: "portcullis::events",
                    event = payload::event_name(event),
                    %id,
                    error = %e,
                    "could not record the event; it will not be delivered"
                );
                Err(e)
            }
        }
    }
}

#[async_trait]
impl EventListener for EventRecorder {
    async fn event(&self, event: AuthEvent) {
        let _ = self.record(&event).await;
    }
}
