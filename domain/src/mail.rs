//! E-mail as data: the verification request a flow wants sent, and a rendered message.

pub use crate::mail_template::render_verification_email;

/// A magic link to deliver (v3's `sendVerificationRequest` arguments, spec §8.5).
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationRequest {
    /// The canonical address: the only recipient.
    pub identifier: String,
    /// The sign-in link (carries the token: a secret until used).
    pub url: String,
    /// The site's host, e.g. `example.com`.
    pub host: String,
    /// The e-mail provider's id.
    pub provider_id: String,
    /// The e-mail provider's display name.
    pub provider_name: String,
    /// When the link stops working.
    pub expires: time::OffsetDateTime,
}

impl std::fmt::Debug for VerificationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationRequest")
            .field("identifier", &self.identifier)
            .field("url", &"[redacted]")
            .field("host", &self.host)
            .field("provider_id", &self.provider_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// One message to exactly one recipient, with a text and an HTML part.
#[derive(Clone, PartialEq, Eq)]
pub struct MailMessage {
    /// The canonical address (one RCPT TO).
    pub to: String,
    /// The `Subject` header.
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
}

impl std::fmt::Debug for MailMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailMessage")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}
