//! [`HttpVerificationSender`]: magic links handed to the operator's mail API (SES,
//! Postmark, …) through a signed `send_email` hook, instead of SMTP.

use async_trait::async_trait;
use portcullis_domain::mail::VerificationRequest;
use portcullis_ports::VerificationSender;
use time::format_description::well_known::Rfc3339;

use crate::caller::{Caller, Endpoint};
use crate::wire::{HookName, SendEmailAnswer, SendEmailData};

/// Delivers each sign-in link by calling the `send_email` endpoint.
pub struct HttpVerificationSender {
    caller: Caller,
    endpoint: Endpoint,
}

impl HttpVerificationSender {
    /// A sender that calls `endpoint` through `caller`.
    pub fn new(caller: Caller, endpoint: Endpoint) -> Self {
        Self { caller, endpoint }
    }
}

#[async_trait]
impl VerificationSender for HttpVerificationSender {
    async fn send_verification_request(&self, request: &VerificationRequest) -> Result<(), String> {
        let data = SendEmailData {
            identifier: request.identifier.clone(),
            url: request.url.clone(),
            expires: request
                .expires
                .format(&Rfc3339)
                .map_err(|_| "the link's expiry cannot be formatted".to_owned())?,
            provider: request.provider_id.clone(),
            provider_name: request.provider_name.clone(),
            host: request.host.clone(),
        };
        let answer: SendEmailAnswer = self
            .caller
            .call(HookName::SendEmail, &self.endpoint, data)
            .await
            .map_err(|e| format!("send_email hook: {e}"))?;
        if answer.sent {
            Ok(())
        } else {
            Err("send_email hook answered `sent: false`".into())
        }
    }
}
