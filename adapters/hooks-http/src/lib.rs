//! # Hooks over HTTP
//!
//! The server's adapter of the [`portcullis_ports::Hooks`] port: each decision point is an
//! HTTP endpoint of the operator's, called through the HTTP port. Every request is signed
//! per [Standard Webhooks](https://www.standardwebhooks.com/) (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), and so is every answer the engine reads.

pub mod events;
pub mod webhook;

pub use webhook::{SignatureError, Signed, WebhookSecret, WebhookSecrets};
