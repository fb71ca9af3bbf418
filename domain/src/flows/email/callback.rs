//! `GET /callback/<email>?email=…&token=…`: a magic link redeemed once, signing in the
//! user who holds the address (or a new one).

use crate::error::ErrorCode;
use crate::flows::common::{user_json, Refused};
use http::StatusCode;
use serde_json::json;

use crate::effect::{
    AuthEvent, Effect, HookCall, HookFailure, Outcome, SignInDecision, ThrottleCheck,
};
use crate::email_address::canonicalize;
use crate::flows::issue::{land, Issue, SessionIssue};
use crate::flows::{Cx, Fault, Next, RouteFlow, Started};
use crate::model::{NewUser, User};
use crate::secret::hash_with_secret;
use crate::store::{StoreOp, StoreReply};

use super::account;

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

pub(crate) fn start_callback(cx: &mut Cx, provider_id: String) -> Result<Started, Fault> {
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
    let checks = crate::flows::throttle_checks(
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
