//! Building the message: one canonical recipient in the envelope, a one-line subject,
//! a unique Message-ID.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lettre::address::{Address, Envelope};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use portcullis_domain::email_address::canonicalize;
use portcullis_domain::mail::MailMessage;
use portcullis_ports::MailError;

use super::SmtpMailer;

impl SmtpMailer {
    /// Builds the lettre message with its one-recipient envelope, or refuses the recipient.
    pub(crate) fn compose(&self, message: MailMessage) -> Result<Message, MailError> {
        let recipient = canonicalize(&message.to)
            .map_err(|refused| MailError::InvalidRecipient(refused.code().to_owned()))?;
        if recipient.as_str() != message.to {
            return Err(MailError::InvalidRecipient("not_canonical".to_owned()));
        }
        let to = Address::new(recipient.local_part(), recipient.domain())
            .map_err(|_| MailError::InvalidRecipient("refused_by_mail_library".to_owned()))?;
        let envelope = Envelope::new(Some(self.from.email.clone()), vec![to.clone()])
            .map_err(|_| MailError::InvalidRecipient("envelope".to_owned()))?;

        let email = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to.clone()))
            .subject(one_line(&message.subject))
            .date_now()
            .message_id(Some(self.message_id()))
            .envelope(envelope)
            .multipart(MultiPart::alternative_plain_html(
                message.text,
                message.html,
            ))
            .map_err(|e| MailError::Transport(format!("the message could not be built: {e}")))?;

        // The one guarantee this adapter exists for: one RCPT TO, the canonical address.
        if email.envelope().to() != [to] {
            return Err(MailError::InvalidRecipient("envelope".to_owned()));
        }
        Ok(email)
    }

    fn message_id(&self) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!(
            "<{nanos:x}.{:x}.{count:x}@{}>",
            std::process::id(),
            self.message_id_domain
        )
    }
}

/// One header line: control characters become spaces (lettre encodes the rest).
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
