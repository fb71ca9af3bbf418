//! # Events to NATS JetStream
//!
//! An [`EventSink`](portcullis_hooks_http::events::EventSink) for `[hooks.events]` that
//! publishes each event to a JetStream subject instead of POSTing it: the payload is the
//! same JSON a webhook receiver gets (`{"type":"event","data":{…}}`), with the headers
//! `Nats-Msg-Id: <event id>` and `Content-Type: application/json`.
//!
//! - **At least once.** An event counts as delivered only when the stream's publish ack
//!   arrives; then the outbox forgets it. Anything else (no connection, no stream for the
//!   subject, no ack within the timeout) leaves it in the outbox for a retry with backoff.
//! - **De-duplicated by the stream.** Every attempt carries the event's id as
//!   `Nats-Msg-Id`, so a retry after a lost ack is dropped by JetStream within the stream's
//!   duplicate window (two minutes unless the stream says otherwise); the ack then says
//!   `duplicate`, and the event counts as delivered.
//! - **Never in the way.** The connection is made on first use (or when the worker starts)
//!   with a bounded timeout; NATS being down at startup only delays delivery. Once
//!   connected, `async-nats` reconnects by itself.
//! - **No secrets in logs.** Credentials in the URL (`nats://user:password@host`,
//!   `nats://token@host`) are taken out before the client sees the URL, and never appear in
//!   `Debug`, logs or errors.
//! - **Stream.** With [`StreamSettings`], the stream is created if it is missing, checked to
//!   take the subject, and every publish says which stream must store it
//!   (`Nats-Expected-Stream`).

mod servers;
mod sink;
pub mod subject;

pub use servers::redact;
pub use sink::{InvalidSetting, NatsSettings, NatsSink, StreamSettings};
