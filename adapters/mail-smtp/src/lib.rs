//! Portcullis's [`Mailer`] over SMTP, on lettre (Tokio, rustls).
//!
//! Configured by one URL, as v3's `server` string (spec §8.1):
//!
//! | URL | transport | default port |
//! |---|---|---|
//! | `smtp://host:port` | plaintext, never upgraded (for a relay on loopback or a trusted network) | 25 |
//! | `smtp://host:port?tls=opportunistic` | STARTTLS if the server offers it, plaintext otherwise (an attacker on the path can strip it) | 587 |
//! | `smtp://host:port?tls=required` | STARTTLS, and the send fails if the server does not offer it | 587 |
//! | `smtps://host:port` | implicit TLS from the first byte | 465 |
//!
//! `user:password@` in the URL (percent-encoded) are the AUTH credentials. They are refused
//! on a plaintext `smtp://` URL unless the host is a loopback address, so a password never
//! crosses a network in the clear by configuration mistake. A path (`smtp://host/name`) sets
//! the EHLO name, as in lettre. Any other query parameter, or `tls` with `smtps://`, is an
//! error: a typo such as `?tsl=required` must not quietly mean "plaintext".
//!
//! Certificates are checked against the Mozilla roots (webpki-roots), plus any CA given in
//! [`SmtpOptions::root_certificates_pem`] (for a relay with a private CA). Host names are
//! verified; there is no switch to turn verification off.
//!
//! # What is sent
//!
//! One `multipart/alternative` message (text, then HTML) to exactly one recipient. The
//! recipient is checked again here: `message.to` must already be the canonical form given by
//! [`portcullis_domain::email_address::canonicalize`], or the send is refused with
//! [`MailError::InvalidRecipient`] before any connection is made. The SMTP envelope is built
//! explicitly with that one address, so the server sees exactly one `RCPT TO`.
//!
//! # Errors and secrets
//!
//! The body carries the sign-in link, so neither the body, the subject, the URL nor the
//! server's reply text ever goes into an error: errors name the class of failure, the SMTP
//! reply code and, for network failures, the operating system's reason. Credentials are not
//! printed by `Debug`.
//!
//! # Time
//!
//! lettre bounds the TCP connect with [`SmtpOptions::connect_timeout`] but does not bound
//! reads on an established connection: a server that accepts and then stays silent would
//! hold a send forever. Every send is therefore also bounded as a whole by
//! [`SmtpOptions::send_timeout`].
//!
//! # Runtime
//!
//! The connection pool is created on the first send, inside the Tokio runtime that runs it
//! (lettre's pool spawns a clean-up task), so [`SmtpMailer::from_url`] can be called before
//! a runtime exists. Use one `SmtpMailer` within one runtime.

mod compose;
mod config;
mod describe;
mod options;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use portcullis_domain::mail::MailMessage;
pub use portcullis_ports::{MailError, Mailer};
use tokio::sync::OnceCell;

use describe::describe;
pub use options::{SmtpOptions, TlsMode};

/// Sends Portcullis's mail over SMTP. Cheap to share behind an `Arc`.
pub struct SmtpMailer {
    builder: AsyncSmtpTransportBuilder,
    transport: OnceCell<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    message_id_domain: String,
    send_timeout: Duration,
    host: String,
    port: u16,
    tls: TlsMode,
    authenticated: bool,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("from", &self.from.email.to_string())
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// How the connection is protected.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// The server's host and port.
    pub fn server(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// Opens a connection to the server and closes it (`NOOP`), within the send timeout:
    /// what a readiness probe asks. Sends nothing.
    pub async fn check_connection(&self) -> Result<(), MailError> {
        let check = async {
            let transport = self
                .transport
                .get_or_init(|| async { self.builder.clone().build() })
                .await;
            transport.test_connection().await
        };
        match tokio::time::timeout(self.send_timeout, check).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(MailError::Transport(
                "the SMTP server did not accept a connection".to_owned(),
            )),
            Ok(Err(error)) => Err(MailError::Transport(describe(&error))),
            Err(_elapsed) => Err(MailError::Transport(format!(
                "no answer from the SMTP server within {} ms",
                self.send_timeout.as_millis()
            ))),
        }
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: MailMessage) -> Result<(), MailError> {
        let email = self.compose(message)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MailError::Transport(
                "the SMTP mailer must run inside a Tokio runtime".to_owned(),
            ));
        }
        let send = async {
            let transport = self
                .transport
                .get_or_init(|| async { self.builder.clone().build() })
                .await;
            transport.send(email).await
        };
        match tokio::time::timeout(self.send_timeout, send).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(error)) => Err(MailError::Transport(describe(&error))),
            Err(_elapsed) => Err(MailError::Transport(format!(
                "no answer from the SMTP server within {} ms",
                self.send_timeout.as_millis()
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
