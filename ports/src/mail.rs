//! The mailer port: delivers one message to exactly one recipient.

use async_trait::async_trait;
use portcullis_domain::mail::MailMessage;

/// Why a message was not delivered. Messages name no secret (no link, no token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The address was refused before sending (not exactly one valid mailbox).
    #[error("invalid recipient: {0}")]
    InvalidRecipient(String),
    /// The mail server could not be reached or refused the message.
    #[error("transport: {0}")]
    Transport(String),
}

/// Sends mail. Implementations deliver `message` to `message.to` and nobody else.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers `message` to its recipient.
    async fn send(&self, message: MailMessage) -> Result<(), MailError>;
}
