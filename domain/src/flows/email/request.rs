//! `POST /signin/<email>`: a magic link asked for, mailed once the limits and the
//! `signIn` callback allow it. The answer is the same whether the address is known,
//! unknown or throttled.

use crate::error::ErrorCode;
use crate::flows::common::{user_json, Refused};
use http::StatusCode;
use serde_json::json;

use crate::cookies::encode_uri_component;
use crate::effect::{Effect, HookCall, HookFailure, Outcome, SignInDecision, ThrottleCheck};
use crate::email_address::canonicalize;
use crate::flows::{Cx, Fault, Next, RouteFlow, Started};
use crate::mail::VerificationRequest;
use crate::model::VerificationToken;
use crate::secret::{hash_with_secret, SecretString};
use crate::store::{StoreOp, StoreReply};

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

struct LinkRequest {
    m: email_request::Machine,
    provider_id: String,
    /// Seconds a link stays valid (the provider's `max_age`).
    max_age: i64,
    email: String,
    waiting: Requesting,
}

/// What the link request waits for, with what that state needs.
enum Requesting {
    /// A rate-limit check: the ones still to run.
    Throttling(std::collections::VecDeque<ThrottleCheck>),
    /// The user holding the address, if any.
    LookingUp,
    /// The `signIn` callback.
    CheckingSignIn,
    /// The token row stored: the link's token, which only the e-mail will carry.
    Storing(SecretString),
    /// The message handed to the mailer.
    Sending,
    /// Nothing: answered.
    Done,
}

pub(crate) fn start_request(
    cx: &mut Cx,
    provider_id: String,
    max_age: i64,
) -> Result<Started, Fault> {
    let mut m = email_request::machine();
    if !cx.config.store {
        m.fire(RE::NoStore, &mut cx.trace)?;
        let reply = cx.redirect(
            cx.error_url(&ErrorCode::Configuration),
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        return Ok((Next::Done(reply), None));
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
            return Ok((Next::Done(cx.redirect(target, StatusCode::OK)), None));
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
    let mut flow = LinkRequest {
        m,
        provider_id,
        max_age,
        email,
        waiting: Requesting::Done,
    };
    let next = flow.next_check(cx, checks)?;
    Ok((next, Some(Box::new(flow))))
}

impl RouteFlow for LinkRequest {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (
            std::mem::replace(&mut self.waiting, Requesting::Done),
            outcome,
        ) {
            (Requesting::Throttling(checks), Outcome::Throttle(true)) => {
                self.next_check(cx, checks)
            }
            (Requesting::Throttling(_), Outcome::Throttle(false)) => {
                self.m.fire(RE::OverLimit, &mut cx.trace)?;
                Ok(Next::Done(self.requested(cx)))
            }
            (Requesting::LookingUp, Outcome::Store(Ok(StoreReply::MaybeUser(user)))) => {
                self.m.fire(RE::UserLoaded, &mut cx.trace)?;
                let user = user
                    .as_ref()
                    .map(user_json)
                    .unwrap_or_else(|| json!({ "email": self.email }));
                if cx.config.hooks.sign_in {
                    self.waiting = Requesting::CheckingSignIn;
                    return Ok(Next::Effect(Effect::Hook(HookCall::SignIn {
                        user,
                        account: account(&self.provider_id, &self.email),
                        profile: json!({ "email": self.email, "verificationRequest": true }),
                    })));
                }
                self.on_sign_in(cx, Ok(SignInDecision::Allow))
            }
            (Requesting::LookingUp, Outcome::Store(_)) => {
                self.m.fire(RE::StoreFailed, &mut cx.trace)?;
                Ok(Next::Done(cx.redirect(
                    cx.error_url(&ErrorCode::EmailSignin),
                    StatusCode::OK,
                )))
            }
            (Requesting::CheckingSignIn, Outcome::SignIn(result)) => self.on_sign_in(cx, result),
            (Requesting::Storing(token), Outcome::Store(Ok(_))) => {
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
                self.waiting = Requesting::Sending;
                Ok(Next::Effect(Effect::SendVerification(
                    VerificationRequest {
                        identifier: self.email.clone(),
                        url,
                        host,
                        provider_id: self.provider_id.clone(),
                        provider_name,
                        expires: cx.now + time::Duration::seconds(self.max_age),
                    },
                )))
            }
            (Requesting::Storing(_), Outcome::Store(Err(_))) => {
                self.m.fire(RE::StoreFailed, &mut cx.trace)?;
                Ok(Next::Done(cx.redirect(
                    cx.error_url(&ErrorCode::EmailSignin),
                    StatusCode::OK,
                )))
            }
            (Requesting::Sending, Outcome::Sent(Ok(()))) => {
                self.m.fire(RE::Sent, &mut cx.trace)?;
                Ok(Next::Done(self.requested(cx)))
            }
            (Requesting::Sending, Outcome::Sent(Err(_))) => {
                self.m.fire(RE::SendFailed, &mut cx.trace)?;
                Ok(Next::Done(cx.redirect(
                    cx.error_url(&ErrorCode::EmailSignin),
                    StatusCode::OK,
                )))
            }
            _ => Err(Fault::Unexpected(
                "email_request: outcome does not answer the effect",
            )),
        }
    }
}

impl LinkRequest {
    fn next_check(
        &mut self,
        cx: &mut Cx,
        mut checks: std::collections::VecDeque<ThrottleCheck>,
    ) -> Result<Next, Fault> {
        if let Some(check) = checks.pop_front() {
            self.waiting = Requesting::Throttling(checks);
            return Ok(Next::Effect(Effect::Throttle(check)));
        }
        self.m.fire(RE::WithinLimits, &mut cx.trace)?;
        self.waiting = Requesting::LookingUp;
        Ok(Next::Effect(Effect::Store(StoreOp::GetUserByEmail(
            self.email.clone(),
        ))))
    }

    fn on_sign_in(
        &mut self,
        cx: &mut Cx,
        result: Result<SignInDecision, HookFailure>,
    ) -> Result<Next, Fault> {
        if let Some(refused) = Refused::of(result) {
            self.m.fire(
                refused.event(RE::Denied, RE::Redirected, RE::HookFailed),
                &mut cx.trace,
            )?;
            return Ok(Next::Done(refused.reply(cx, StatusCode::OK)));
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
        self.waiting = Requesting::Storing(SecretString::new(token));
        Ok(Next::Effect(Effect::Store(
            StoreOp::CreateVerificationToken(row),
        )))
    }

    fn requested(&self, cx: &Cx) -> crate::response::Reply {
        let target = format!(
            "{}?provider={}&type=email",
            cx.route("/verify-request"),
            encode_uri_component(&self.provider_id)
        );
        cx.redirect(target, StatusCode::OK)
    }
}
