//! `POST /signin/<email>`: a magic link asked for, mailed once the limits and the
//! `signIn` callback allow it. The answer is the same whether the address is known,
//! unknown or throttled.

use crate::error::ErrorCode;
use crate::flows::common::{user_json, Refused};
use http::StatusCode;
use serde_json::json;

use crate::cookies::encode_uri_component;
use crate::effect::{HookFailure, SignInDecision};
use crate::email_address::canonicalize;
use crate::flows::ask::SignInCall;
use crate::flows::{ask, stored, Cx, Fault, Flow};
use crate::mail::VerificationRequest;
use crate::model::{User, VerificationToken};
use crate::response::Reply;
use crate::secret::{hash_with_secret, SecretString};
use crate::store::StoreError;

use super::account;

crate::flow! {
    /// Ask for a magic link.
    pub(crate) mod email_request = "email_request" {
        states { Received, Throttling, LookingUp, CheckingSignIn, Storing, Sending, Requested, Quiet, Failed }
        events { NoStore, AddressRefused, AddressAccepted, WithinLimits, OverLimit, UserLoaded, StoreFailed, Allowed, Denied, Redirected, HookFailed, Stored, Sent, SendFailed }
        initial Received;
        Received + NoStore => Failed, guard "no store configured", effect "500 / redirect error?error=Configuration";
        Received + AddressRefused => Failed, guard "not exactly one valid mailbox", effect "redirect error?error=EmailInvalid&reason=<code>";
        Received + AddressAccepted => Throttling, guard "canonical address", effect "Throttle: per address, then per client IP";
        Throttling + WithinLimits => LookingUp, guard "", effect "Store: get user by e-mail";
        Throttling + OverLimit => Quiet, guard "a limit is reached", effect "redirect verify-request (same answer, no mail)";
        LookingUp + UserLoaded => CheckingSignIn, guard "user or none", effect "Hook: signIn(user or {email}, account, {email, verificationRequest})";
        LookingUp + StoreFailed => Failed, guard "store error", effect "redirect error?error=EmailSignin";
        CheckingSignIn + Allowed => Storing, guard "signIn allows", effect "Store: create verification token (hash of token + secret only)";
        CheckingSignIn + Denied => Failed, guard "signIn returns false", effect "redirect error?error=AccessDenied";
        CheckingSignIn + Redirected => Failed, guard "signIn returns a URL", effect "redirect to that URL";
        CheckingSignIn + HookFailed => Failed, guard "signIn fails", effect "redirect error?error=<message>";
        Storing + Stored => Sending, guard "", effect "Send: magic link to the canonical address";
        Storing + StoreFailed => Failed, guard "store error", effect "redirect error?error=EmailSignin";
        Sending + Sent => Requested, guard "", effect "redirect verify-request?provider=<id>&type=email";
        Sending + SendFailed => Failed, guard "mail not delivered", effect "redirect error?error=EmailSignin";
    }
}

use email_request::Event as RE;

/// A link request for an accepted address: what every later state needs.
struct LinkRequest {
    m: email_request::Machine,
    provider_id: String,
    /// Seconds a link stays valid (the provider's `max_age`).
    max_age: i64,
    email: String,
}

pub(crate) fn start_request(
    cx: &mut Cx,
    provider_id: String,
    max_age: i64,
) -> Result<Flow<Reply>, Fault> {
    let mut m = email_request::machine();
    if !cx.config.store {
        m.fire(RE::NoStore, &mut cx.trace)?;
        let reply = cx.redirect(
            cx.error_url(&ErrorCode::Configuration),
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        return Ok(Flow::Done(reply));
    }
    let checked = canonicalize(cx.req.body_str("email").unwrap_or(""))
        .map_err(|refused| refused.code())
        .and_then(|email| match &cx.config.address_rule {
            Some(rule) => rule.check(&email).map(|()| email),
            None => Ok(email),
        });
    let email = match checked {
        Ok(email) => email.as_str().to_owned(),
        Err(code) => {
            m.fire(RE::AddressRefused, &mut cx.trace)?;
            let target = format!(
                "{}&reason={}",
                cx.error_url(&ErrorCode::EmailInvalid),
                encode_uri_component(code)
            );
            return Ok(Flow::Done(cx.redirect(target, StatusCode::OK)));
        }
    };
    m.fire(RE::AddressAccepted, &mut cx.trace)?;
    let limits = cx.config.throttle;
    let checks = crate::flows::throttle_checks(
        cx,
        "email",
        std::slice::from_ref(&email),
        limits.email_per_address,
        limits.email_per_ip,
    );
    let mut request = LinkRequest {
        m,
        provider_id,
        max_age,
        email,
    };
    crate::flows::throttled(cx, checks, move |cx, within| {
        if !within {
            request.m.fire(RE::OverLimit, &mut cx.trace)?;
            return Ok(Flow::Done(request.requested(cx)));
        }
        request.m.fire(RE::WithinLimits, &mut cx.trace)?;
        let lookup = stored::get_user_by_email(request.email.clone());
        Ok(ask(lookup, move |cx, found| request.on_lookup(cx, found)))
    })
}

impl LinkRequest {
    fn on_lookup(
        mut self,
        cx: &mut Cx,
        found: Result<Option<User>, StoreError>,
    ) -> Result<Flow<Reply>, Fault> {
        let Ok(user) = found else {
            return self.failed(cx, RE::StoreFailed);
        };
        self.m.fire(RE::UserLoaded, &mut cx.trace)?;
        let user = user
            .as_ref()
            .map(user_json)
            .unwrap_or_else(|| json!({ "email": self.email }));
        if cx.config.hooks.sign_in {
            let question = SignInCall {
                user,
                account: account(&self.provider_id, &self.email),
                profile: json!({ "email": self.email, "verificationRequest": true }),
            };
            return Ok(ask(question, move |cx, decision| {
                self.on_sign_in(cx, decision)
            }));
        }
        self.on_sign_in(cx, Ok(SignInDecision::Allow))
    }

    fn on_sign_in(
        mut self,
        cx: &mut Cx,
        decision: Result<SignInDecision, HookFailure>,
    ) -> Result<Flow<Reply>, Fault> {
        if let Some(refused) = Refused::of(decision) {
            self.m.fire(
                refused.event(RE::Denied, RE::Redirected, RE::HookFailed),
                &mut cx.trace,
            )?;
            return Ok(Flow::Done(refused.reply(cx, StatusCode::OK)));
        }
        self.m.fire(RE::Allowed, &mut cx.trace)?;
        let token = match cx.config.token_generator.clone() {
            Some(generator) => generator.generate(&mut *cx.rng),
            None => cx.random_hex(32),
        };
        let row = VerificationToken {
            identifier: self.email.clone(),
            token_hash: hash_with_secret(&token, cx.config.signing_secret()),
            expires: cx.now + time::Duration::seconds(self.max_age),
        };
        // The link's token: only the e-mail carries it; the store keeps its hash.
        let token = SecretString::new(token);
        Ok(ask(
            stored::create_verification_token(row),
            move |cx, stored| match stored {
                Ok(_) => self.send(cx, &token),
                Err(_) => self.failed(cx, RE::StoreFailed),
            },
        ))
    }

    /// The stored link, mailed to the canonical address.
    fn send(mut self, cx: &mut Cx, token: &SecretString) -> Result<Flow<Reply>, Fault> {
        self.m.fire(RE::Stored, &mut cx.trace)?;
        let url = format!(
            "{}?email={}&token={}",
            cx.route(&format!(
                "/callback/{}",
                encode_uri_component(&self.provider_id)
            )),
            encode_uri_component(&self.email),
            encode_uri_component(token.expose())
        );
        let provider_name = cx
            .config
            .provider(&self.provider_id)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let host = cx
            .config
            .site
            .base_url()
            .split_once("://")
            .map(|(_, h)| h.to_owned())
            .unwrap_or_default();
        let message = VerificationRequest {
            identifier: self.email.clone(),
            url,
            host,
            provider_id: self.provider_id.clone(),
            provider_name,
            expires: cx.now + time::Duration::seconds(self.max_age),
        };
        Ok(ask(message, move |cx, sent| match sent {
            Ok(()) => {
                self.m.fire(RE::Sent, &mut cx.trace)?;
                Ok(Flow::Done(self.requested(cx)))
            }
            Err(_) => self.failed(cx, RE::SendFailed),
        }))
    }

    /// `error?error=EmailSignin`.
    fn failed(mut self, cx: &mut Cx, event: RE) -> Result<Flow<Reply>, Fault> {
        self.m.fire(event, &mut cx.trace)?;
        Ok(Flow::Done(cx.redirect(
            cx.error_url(&ErrorCode::EmailSignin),
            StatusCode::OK,
        )))
    }

    fn requested(&self, cx: &Cx) -> Reply {
        let target = format!(
            "{}?provider={}&type=email",
            cx.route("/verify-request"),
            encode_uri_component(&self.provider_id)
        );
        cx.redirect(target, StatusCode::OK)
    }
}
