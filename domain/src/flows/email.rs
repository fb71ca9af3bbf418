//! Passwordless sign-in by e-mail (spec §8, §11.1): `POST /signin/<email>` sends a magic
//! link; `GET /callback/<email>?email=…&token=…` redeems it once.
//!
//! The address is canonicalised once, first; the same canonical address is stored, hashed
//! with the token, and is the only recipient. The answer to a link request is the same
//! whether the address is known, unknown or throttled.

use super::common::{user_json, Refused};
use crate::error::ErrorCode;
use http::StatusCode;
use serde_json::{json, Value};

use super::issue::{land, Issue, SessionIssue};
use super::{Cx, Fault, Next, RouteFlow, Started};
use crate::cookies::encode_uri_component;
use crate::effect::{
    AuthEvent, Effect, HookCall, HookFailure, Outcome, SignInDecision, ThrottleCheck,
};
use crate::email_address::canonicalize;
use crate::mail::VerificationRequest;
use crate::model::{NewUser, User, VerificationToken};
use crate::secret::{hash_with_secret, SecretString};
use crate::store::{StoreOp, StoreReply};

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

crate::flow! {
    /// Redeem a magic link: single use, bound to its address, expiring.
    pub(crate) mod email_callback = "email_callback" {
        states { Received, Throttling, Redeeming, LookingUp, Vetting, CheckingSignIn, Updating, Detaching, Creating, Issuing, SignedIn, Failed }
        events { NoStore, LinkIncomplete, LinkGiven, WithinLimits, OverLimit, Redeemed, Unknown, Expired, StoreFailed, UserLoaded, Unproven, Owned, NotOwned, AllowedExisting, AllowedReclaim, AllowedNew, Denied, Redirected, HookFailed, Saved, Issued, IssueFailed }
        initial Received;
        Received + NoStore => Failed, guard "no store configured", effect "redirect error?error=Configuration";
        Received + LinkIncomplete => Failed, guard "email or token missing or malformed", effect "redirect error?error=Verification";
        Received + LinkGiven => Throttling, guard "", effect "Throttle: per client IP";
        Throttling + WithinLimits => Redeeming, guard "", effect "Store: take token (canonical e-mail, sha256(token + secret))";
        Throttling + OverLimit => Failed, guard "a limit is reached", effect "redirect error?error=Verification (no store read)";
        Redeeming + Redeemed => LookingUp, guard "row taken and not expired", effect "Store: get user by e-mail";
        Redeeming + Unknown => Failed, guard "no such row: unknown, used, or another address's", effect "redirect error?error=Verification";
        Redeeming + Expired => Failed, guard "expires <= now (the row is gone too)", effect "redirect error?error=Verification";
        Redeeming + StoreFailed => Failed, guard "store error", effect "redirect error?error=Callback";
        LookingUp + UserLoaded => CheckingSignIn, guard "no user, or one whose e-mail was verified", effect "Hook: signIn(user or {email}, account, {email})";
        LookingUp + Unproven => Vetting, guard "a user whose e-mail was never verified", effect "Store: that user's provider accounts";
        LookingUp + StoreFailed => Failed, guard "store error", effect "redirect error?error=Callback";
        Vetting + Owned => CheckingSignIn, guard "no provider account: a user the app made", effect "Hook: signIn(user, account, {email})";
        Vetting + NotOwned => CheckingSignIn, guard "provider accounts: made from an address its provider did not verify", effect "Hook: signIn({email}, account, {email}) for a new user";
        Vetting + StoreFailed => Failed, guard "store error", effect "redirect error?error=Callback";
        CheckingSignIn + AllowedExisting => Updating, guard "signIn allows; user exists", effect "Store: update user (emailVerified = now)";
        CheckingSignIn + AllowedNew => Creating, guard "signIn allows; no user", effect "Store: create user (emailVerified = now)";
        CheckingSignIn + AllowedReclaim => Detaching, guard "signIn allows; the address's user is not its owner's", effect "Store: update that user without the e-mail";
        Detaching + Saved => Creating, guard "", effect "Store: create user (emailVerified = now)";
        Detaching + StoreFailed => Failed, guard "store error", effect "redirect error?error=Callback";
        CheckingSignIn + Denied => Failed, guard "signIn returns false", effect "redirect error?error=AccessDenied";
        CheckingSignIn + Redirected => Failed, guard "signIn returns a URL", effect "redirect to that URL";
        CheckingSignIn + HookFailed => Failed, guard "signIn fails", effect "redirect error?error=<message>";
        Updating + Saved => Issuing, guard "", effect "session_issue";
        Updating + StoreFailed => Failed, guard "store error", effect "redirect error?error=Callback";
        Creating + Saved => Issuing, guard "", effect "session_issue";
        Creating + StoreFailed => Failed, guard "store error (e.g. the address was taken meanwhile)", effect "redirect error?error=EmailCreateAccount";
        Issuing + Issued => SignedIn, guard "", effect "Set-Cookie: session; Events: createUser/updateUser, signIn; redirect callbackUrl (or the new-user page)";
        Issuing + IssueFailed => Failed, guard "", effect "redirect error?error=<Configuration|Callback>";
    }
}

fn account(provider_id: &str, email: &str) -> Value {
    json!({ "id": provider_id, "type": "email", "providerAccountId": email })
}

// ---------------------------------------------------------------------------------------
// Request a link

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

pub(super) fn start_request(
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
    let checks = super::throttle_checks(
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

// ---------------------------------------------------------------------------------------
// Redeem a link

use email_callback::Event as CE;

struct LinkRedemption {
    m: email_callback::Machine,
    provider_id: String,
    email: String,
    waiting: Waiting,
}

/// What the redemption waits for, with what that state needs.
enum Waiting {
    /// A rate-limit check: the ones still to run, then the redemption they guard.
    Throttling {
        checks: std::collections::VecDeque<ThrottleCheck>,
        take: StoreOp,
    },
    /// The token row, taken.
    Redeeming,
    /// The user holding the address.
    LookingUp,
    /// Whether this user, who never proved the address, signed in with a provider.
    Vetting(User),
    /// The `signIn` callback, about whoever the link signs in.
    CheckingSignIn(Holder),
    /// The address taken off the user who never proved it, before a new user gets it.
    Detaching,
    /// The saved user: an existing one (now verified), or (`true`) a new one.
    Saving { is_new_user: bool },
    /// The session, for the user saved with this event.
    Issuing {
        issue: Box<SessionIssue>,
        is_new_user: bool,
        saved: AuthEvent,
    },
    /// Nothing: answered.
    Done,
}

/// Who a redeemed link signs in.
enum Holder {
    /// The user who holds the address.
    Existing(User),
    /// Nobody who proved it: the address goes to a new user, taken off this one if any.
    New { unproven: Option<User> },
}

/// Longest token read from a link (ours are 64 hex characters).
const MAX_TOKEN_LEN: usize = 512;

pub(super) fn start_callback(cx: &mut Cx, provider_id: String) -> Result<Started, Fault> {
    let mut m = email_callback::machine();
    if !cx.config.store {
        m.fire(CE::NoStore, &mut cx.trace)?;
        let reply = cx.redirect(
            cx.error_url(&ErrorCode::Configuration),
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        return Ok((Next::Done(reply), None));
    }
    let email = cx.req.query_str("email").and_then(|e| canonicalize(e).ok());
    let token = cx
        .req
        .query_str("token")
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN);
    let (Some(email), Some(token)) = (email, token) else {
        m.fire(CE::LinkIncomplete, &mut cx.trace)?;
        return Ok((
            Next::Done(cx.redirect(cx.error_url(&ErrorCode::Verification), StatusCode::OK)),
            None,
        ));
    };
    m.fire(CE::LinkGiven, &mut cx.trace)?;
    let take = StoreOp::UseVerificationToken {
        identifier: email.as_str().to_owned(),
        token_hash: hash_with_secret(token, cx.config.signing_secret()),
    };
    let limit = cx.config.throttle.email_callback_per_ip;
    let checks = super::throttle_checks(
        cx,
        &format!("email-callback:{provider_id}"),
        &[],
        limit,
        limit,
    );
    let mut flow = LinkRedemption {
        m,
        provider_id,
        email: email.as_str().to_owned(),
        waiting: Waiting::Done,
    };
    let next = flow.next_check(cx, checks, take)?;
    Ok((next, Some(Box::new(flow))))
}

impl RouteFlow for LinkRedemption {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        use StoreReply as R;
        match (std::mem::replace(&mut self.waiting, Waiting::Done), outcome) {
            (Waiting::Throttling { checks, take }, Outcome::Throttle(true)) => {
                self.next_check(cx, checks, take)
            }
            (Waiting::Throttling { .. }, Outcome::Throttle(false)) => {
                self.fail(cx, CE::OverLimit, ErrorCode::Verification)
            }
            (Waiting::Redeeming, Outcome::Store(Ok(R::MaybeVerificationToken(Some(row))))) => {
                if row.expires <= cx.now {
                    self.m.fire(CE::Expired, &mut cx.trace)?;
                    return Ok(Next::Done(
                        cx.redirect(cx.error_url(&ErrorCode::Verification), StatusCode::OK),
                    ));
                }
                self.m.fire(CE::Redeemed, &mut cx.trace)?;
                self.waiting = Waiting::LookingUp;
                Ok(Next::Effect(Effect::Store(StoreOp::GetUserByEmail(
                    self.email.clone(),
                ))))
            }
            (Waiting::Redeeming, Outcome::Store(Ok(R::MaybeVerificationToken(None)))) => {
                self.m.fire(CE::Unknown, &mut cx.trace)?;
                Ok(Next::Done(cx.redirect(
                    cx.error_url(&ErrorCode::Verification),
                    StatusCode::OK,
                )))
            }
            (Waiting::LookingUp, Outcome::Store(Ok(R::MaybeUser(Some(user)))))
                if user.email_verified.is_none() =>
            {
                self.m.fire(CE::Unproven, &mut cx.trace)?;
                let id = user.id.clone();
                self.waiting = Waiting::Vetting(user);
                Ok(Next::Effect(Effect::Store(StoreOp::GetAccountsForUser(id))))
            }
            (Waiting::LookingUp, Outcome::Store(Ok(R::MaybeUser(user)))) => {
                self.m.fire(CE::UserLoaded, &mut cx.trace)?;
                let holder = match user {
                    Some(user) => Holder::Existing(user),
                    None => Holder::New { unproven: None },
                };
                self.ask_sign_in(cx, holder)
            }
            (Waiting::Vetting(user), Outcome::Store(Ok(R::Accounts(accounts)))) => {
                let holder = if accounts.is_empty() {
                    self.m.fire(CE::Owned, &mut cx.trace)?;
                    Holder::Existing(user)
                } else {
                    // Made by an OAuth sign-in whose provider did not vouch for the address:
                    // whoever signed in there does not own it, the link's holder does.
                    self.m.fire(CE::NotOwned, &mut cx.trace)?;
                    Holder::New {
                        unproven: Some(user),
                    }
                };
                self.ask_sign_in(cx, holder)
            }
            (Waiting::Detaching, Outcome::Store(Ok(R::User(_)))) => {
                self.m.fire(CE::Saved, &mut cx.trace)?;
                Ok(self.create_user(cx))
            }
            (Waiting::CheckingSignIn(holder), Outcome::SignIn(result)) => {
                self.on_sign_in(cx, holder, result)
            }
            (Waiting::Saving { is_new_user }, Outcome::Store(Ok(R::User(user)))) => {
                self.m.fire(CE::Saved, &mut cx.trace)?;
                let saved = match is_new_user {
                    true => AuthEvent::CreateUser {
                        user: user_json(&user),
                    },
                    false => AuthEvent::UpdateUser {
                        user: user_json(&user),
                    },
                };
                let (issue, step) = SessionIssue::start(
                    cx,
                    user_json(&user),
                    user.id.clone(),
                    account(&self.provider_id, &self.email),
                    json!({ "email": self.email }),
                    Some(is_new_user),
                )?;
                self.on_issue(cx, Box::new(issue), is_new_user, saved, step)
            }
            (Waiting::Saving { is_new_user: true }, Outcome::Store(_)) => {
                self.fail(cx, CE::StoreFailed, ErrorCode::EmailCreateAccount)
            }
            (
                Waiting::Redeeming
                | Waiting::LookingUp
                | Waiting::Vetting(_)
                | Waiting::Detaching
                | Waiting::Saving { .. },
                Outcome::Store(_),
            ) => self.fail(cx, CE::StoreFailed, ErrorCode::Callback),
            (
                Waiting::Issuing {
                    mut issue,
                    is_new_user,
                    saved,
                },
                outcome,
            ) => {
                let step = issue.resume(cx, outcome)?;
                self.on_issue(cx, issue, is_new_user, saved, step)
            }
            _ => Err(Fault::Unexpected(
                "email_callback: outcome does not answer the effect",
            )),
        }
    }
}

impl LinkRedemption {
    fn next_check(
        &mut self,
        cx: &mut Cx,
        mut checks: std::collections::VecDeque<ThrottleCheck>,
        take: StoreOp,
    ) -> Result<Next, Fault> {
        if let Some(check) = checks.pop_front() {
            self.waiting = Waiting::Throttling { checks, take };
            return Ok(Next::Effect(Effect::Throttle(check)));
        }
        self.m.fire(CE::WithinLimits, &mut cx.trace)?;
        self.waiting = Waiting::Redeeming;
        Ok(Next::Effect(Effect::Store(take)))
    }

    fn fail(&mut self, cx: &mut Cx, event: CE, code: ErrorCode) -> Result<Next, Fault> {
        self.m.fire(event, &mut cx.trace)?;
        Ok(Next::Done(cx.redirect(cx.error_url(&code), StatusCode::OK)))
    }

    /// `signIn` with the user the link signs in (or `{email}` for a new one).
    fn ask_sign_in(&mut self, cx: &mut Cx, holder: Holder) -> Result<Next, Fault> {
        if cx.config.hooks.sign_in {
            let user = match &holder {
                Holder::Existing(user) => user_json(user),
                Holder::New { .. } => json!({ "email": self.email }),
            };
            let call = HookCall::SignIn {
                user,
                account: account(&self.provider_id, &self.email),
                profile: json!({ "email": self.email }),
            };
            self.waiting = Waiting::CheckingSignIn(holder);
            return Ok(Next::Effect(Effect::Hook(call)));
        }
        self.on_sign_in(cx, holder, Ok(SignInDecision::Allow))
    }

    fn create_user(&mut self, cx: &Cx) -> Next {
        self.waiting = Waiting::Saving { is_new_user: true };
        Next::Effect(Effect::Store(StoreOp::CreateUser(NewUser {
            email: Some(self.email.clone()),
            email_verified: Some(cx.now),
            ..NewUser::default()
        })))
    }

    fn on_sign_in(
        &mut self,
        cx: &mut Cx,
        holder: Holder,
        result: Result<SignInDecision, HookFailure>,
    ) -> Result<Next, Fault> {
        if let Some(refused) = Refused::of(result) {
            self.m.fire(
                refused.event(CE::Denied, CE::Redirected, CE::HookFailed),
                &mut cx.trace,
            )?;
            return Ok(Next::Done(refused.reply(cx, StatusCode::OK)));
        }
        match holder {
            Holder::Existing(mut user) => {
                self.m.fire(CE::AllowedExisting, &mut cx.trace)?;
                user.email_verified = Some(cx.now);
                self.waiting = Waiting::Saving { is_new_user: false };
                Ok(Next::Effect(Effect::Store(StoreOp::UpdateUser(user))))
            }
            Holder::New {
                unproven: Some(mut unproven),
            } => {
                self.m.fire(CE::AllowedReclaim, &mut cx.trace)?;
                unproven.email = None;
                self.waiting = Waiting::Detaching;
                Ok(Next::Effect(Effect::Store(StoreOp::UpdateUser(unproven))))
            }
            Holder::New { unproven: None } => {
                self.m.fire(CE::AllowedNew, &mut cx.trace)?;
                Ok(self.create_user(cx))
            }
        }
    }

    fn on_issue(
        &mut self,
        cx: &mut Cx,
        issue: Box<SessionIssue>,
        is_new_user: bool,
        saved: AuthEvent,
        step: Issue,
    ) -> Result<Next, Fault> {
        match step {
            Issue::Effect(effect) => {
                self.waiting = Waiting::Issuing {
                    issue,
                    is_new_user,
                    saved,
                };
                Ok(Next::Effect(effect))
            }
            Issue::Done(Err(failure)) => self.fail(cx, CE::IssueFailed, failure.code()),
            Issue::Done(Ok(cookie)) => {
                self.m.fire(CE::Issued, &mut cx.trace)?;
                let signed_in = AuthEvent::SignIn {
                    user: issue.user().clone(),
                    account: issue.account().clone(),
                    is_new_user: Some(is_new_user),
                };
                let events = vec![saved, signed_in];
                Ok(Next::Done(land(cx, cookie, events, is_new_user)))
            }
        }
    }
}
