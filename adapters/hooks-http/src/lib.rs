//! # Hooks over HTTP
//!
//! The server's adapter of the [`portcullis_ports::Hooks`] port: each decision point is an
//! HTTP endpoint of the operator's, called through the HTTP port. Every request is signed
//! per [Standard Webhooks](https://www.standardwebhooks.com/) (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), and so is every answer the engine reads.
//!
//! ## Wire protocol
//!
//! - **Request**: `POST <url>`, `content-type: application/json`, the three Standard
//!   Webhooks headers (a fresh `webhook-id` `msg_…`, the Unix time, one `v1,…` signature
//!   per configured secret), body `{"type": "<hook>", "data": {…}}` ([`wire`]).
//! - **Answer**: HTTP 200, a JSON body of the hook's answer type, signed the same way with
//!   one of the hook's secrets **and with the request's `webhook-id`**, so an answer
//!   recorded earlier cannot be replayed to another request. The timestamp must be within
//!   five minutes of now.
//! - **Fails closed**: no answer within the hook's timeout, a transport error, any status
//!   but 200, an answer without a valid signature for this request, or JSON that is not the
//!   answer type: the hook refuses ([`hooks::SIGN_IN_FAILED`], [`hooks::CALLBACK_FAILED`];
//!   `send_email` reports the link as not sent). The failure is logged under the target
//!   `portcullis` with the hook's name, its URL without the query, and the reason; never a
//!   secret, a header value or a body.
//!
//! The hooks:
//! - `sign_in` ([`wire::SignInData`] → [`wire::SignInAnswer`]): `allow`, `deny`, or
//!   `redirect` to a URL on the site's origin (any other URL is a failure). Credentials'
//!   fields of type `password` are never sent.
//! - `jwt` ([`wire::JwtData`] → [`wire::JwtAnswer`]): claims in, claims out; `sub`, `iat`,
//!   `exp`, `jti` keep the engine's values. At sign-in, and on every session read only
//!   with `on_read`.
//! - `session` ([`wire::SessionData`] → [`wire::SessionAnswer`]): the session JSON.
//! - `redirect` ([`wire::RedirectData`] → [`wire::RedirectAnswer`]): where a requested
//!   `callbackUrl` leads; the engine still holds the answer to its redirect policy, and a
//!   failure sends the user to the site's base URL.
//! - `send_email` ([`wire::SendEmailData`] → [`wire::SendEmailAnswer`]): a
//!   [`portcullis_ports::VerificationSender`] handing the sign-in link to a mail API.

pub mod caller;
pub mod events;
pub mod hooks;
pub mod send_email;
pub mod webhook;
pub mod wire;

pub use caller::{CallError, Caller, Endpoint, DEFAULT_TIMEOUT};
pub use hooks::HttpHooks;
pub use send_email::HttpVerificationSender;
pub use webhook::{SignatureError, Signed, WebhookSecret, WebhookSecrets};
pub use wire::{schemas, HookName};
