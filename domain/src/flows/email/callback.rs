//! `GET /callback/<email>?email=…&token=…`: a magic link redeemed once, signing in the
//! user who holds the address (or a new one).

use crate::error::ErrorCode;
use crate::flows::common::{user_json, Refused};
use http::StatusCode;
use serde_json::json;

use crate::effect::{AuthEvent, HookFailure, SignInDecision};
use crate::email_address::canonicalize;
use crate::flows::ask::SignInCall;
use crate::flows::issue::{self, SignIn};
use crate::flows::stored;
use crate::flows::{ask, Cx, Fault, Flow};
use crate::model::{Account, NewUser, User, VerificationToken};
use crate::response::Reply;
use crate::secret::hash_with_secret;
use crate::store::StoreError;

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

/// A link being redeemed for a canonical address: what every later state needs.
struct LinkRedemption {
    m: email_callback::Machine,
    provider_id: String,
    email: String,
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

pub(crate) fn start_callback(cx: &mut Cx, provider_id: String) -> Result<Flow<Reply>, Fault> {
    let mut m = email_callback::machine();
    if !cx.config.store {
        m.fire(CE::NoStore, &mut cx.trace)?;
        let reply = cx.redirect(
            cx.error_url(&ErrorCode::Configuration),
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        return Ok(Flow::Done(reply));
    }
    let email = cx.req.query_str("email").and_then(|e| canonicalize(e).ok());
    let token = cx
        .req
        .query_str("token")
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN);
    let (Some(email), Some(token)) = (email, token) else {
        m.fire(CE::LinkIncomplete, &mut cx.trace)?;
        return Ok(Flow::Done(
            cx.redirect(cx.error_url(&ErrorCode::Verification), StatusCode::OK),
        ));
    };
    m.fire(CE::LinkGiven, &mut cx.trace)?;
    let take = stored::use_verification_token(
        email.as_str().to_owned(),
        hash_with_secret(token, cx.config.signing_secret()),
    );
    let limit = cx.config.throttle.email_callback_per_ip;
    let checks = crate::flows::throttle_checks(
        cx,
        &format!("email-callback:{provider_id}"),
        &[],
        limit,
        limit,
    );
    let mut redemption = LinkRedemption {
        m,
        provider_id,
        email: email.as_str().to_owned(),
    };
    crate::flows::throttled(cx, checks, move |cx, within| {
        if !within {
            return redemption.fail(cx, CE::OverLimit, ErrorCode::Verification);
        }
        redemption.m.fire(CE::WithinLimits, &mut cx.trace)?;
        Ok(ask(take, move |cx, taken| {
            redemption.on_redeemed(cx, taken)
        }))
    })
}

impl LinkRedemption {
    fn on_redeemed(
        mut self,
        cx: &mut Cx,
        taken: Result<Option<VerificationToken>, StoreError>,
    ) -> Result<Flow<Reply>, Fault> {
        match taken {
            Ok(Some(row)) if row.expires <= cx.now => {
                self.fail(cx, CE::Expired, ErrorCode::Verification)
            }
            Ok(Some(_)) => {
                self.m.fire(CE::Redeemed, &mut cx.trace)?;
                let lookup = stored::get_user_by_email(self.email.clone());
                Ok(ask(lookup, move |cx, found| self.on_lookup(cx, found)))
            }
            Ok(None) => self.fail(cx, CE::Unknown, ErrorCode::Verification),
            Err(_) => self.fail(cx, CE::StoreFailed, ErrorCode::Callback),
        }
    }

    fn on_lookup(
        mut self,
        cx: &mut Cx,
        found: Result<Option<User>, StoreError>,
    ) -> Result<Flow<Reply>, Fault> {
        let Ok(user) = found else {
            return self.fail(cx, CE::StoreFailed, ErrorCode::Callback);
        };
        match user {
            Some(user) if user.email_verified.is_none() => {
                self.m.fire(CE::Unproven, &mut cx.trace)?;
                let accounts = stored::get_accounts_for_user(user.id.clone());
                Ok(ask(accounts, move |cx, found| {
                    self.on_vetted(cx, user, found)
                }))
            }
            user => {
                self.m.fire(CE::UserLoaded, &mut cx.trace)?;
                let holder = match user {
                    Some(user) => Holder::Existing(user),
                    None => Holder::New { unproven: None },
                };
                self.ask_sign_in(cx, holder)
            }
        }
    }

    /// Whether this user, who never proved the address, signed in with a provider.
    fn on_vetted(
        mut self,
        cx: &mut Cx,
        user: User,
        found: Result<Vec<Account>, StoreError>,
    ) -> Result<Flow<Reply>, Fault> {
        let Ok(accounts) = found else {
            return self.fail(cx, CE::StoreFailed, ErrorCode::Callback);
        };
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

    fn fail(mut self, cx: &mut Cx, event: CE, code: ErrorCode) -> Result<Flow<Reply>, Fault> {
        self.m.fire(event, &mut cx.trace)?;
        Ok(Flow::Done(cx.redirect(cx.error_url(&code), StatusCode::OK)))
    }

    /// `signIn` with the user the link signs in (or `{email}` for a new one).
    fn ask_sign_in(self, cx: &mut Cx, holder: Holder) -> Result<Flow<Reply>, Fault> {
        if cx.config.hooks.sign_in {
            let user = match &holder {
                Holder::Existing(user) => user_json(user),
                Holder::New { .. } => json!({ "email": self.email }),
            };
            let question = SignInCall {
                user,
                account: account(&self.provider_id, &self.email),
                profile: json!({ "email": self.email }),
            };
            return Ok(ask(question, move |cx, decision| {
                self.on_sign_in(cx, holder, decision)
            }));
        }
        self.on_sign_in(cx, holder, Ok(SignInDecision::Allow))
    }

    fn on_sign_in(
        mut self,
        cx: &mut Cx,
        holder: Holder,
        decision: Result<SignInDecision, HookFailure>,
    ) -> Result<Flow<Reply>, Fault> {
        if let Some(refused) = Refused::of(decision) {
            self.m.fire(
                refused.event(CE::Denied, CE::Redirected, CE::HookFailed),
                &mut cx.trace,
            )?;
            return Ok(Flow::Done(refused.reply(cx, StatusCode::OK)));
        }
        match holder {
            Holder::Existing(mut user) => {
                self.m.fire(CE::AllowedExisting, &mut cx.trace)?;
                user.email_verified = Some(cx.now);
                Ok(ask(stored::update_user(user), move |cx, saved| {
                    self.on_saved(cx, false, saved)
                }))
            }
            Holder::New {
                unproven: Some(mut unproven),
            } => {
                self.m.fire(CE::AllowedReclaim, &mut cx.trace)?;
                unproven.email = None;
                Ok(ask(stored::update_user(unproven), move |cx, detached| {
                    let Ok(_) = detached else {
                        return self.fail(cx, CE::StoreFailed, ErrorCode::Callback);
                    };
                    self.m.fire(CE::Saved, &mut cx.trace)?;
                    Ok(self.create_user(cx))
                }))
            }
            Holder::New { unproven: None } => {
                self.m.fire(CE::AllowedNew, &mut cx.trace)?;
                Ok(self.create_user(cx))
            }
        }
    }

    fn create_user(self, cx: &Cx) -> Flow<Reply> {
        let user = NewUser {
            email: Some(self.email.clone()),
            email_verified: Some(cx.now),
            ..NewUser::default()
        };
        ask(stored::create_user(user), move |cx, saved| {
            self.on_saved(cx, true, saved)
        })
    }

    /// The user saved (verified now, or new): sign them in.
    fn on_saved(
        mut self,
        cx: &mut Cx,
        is_new_user: bool,
        saved: Result<User, StoreError>,
    ) -> Result<Flow<Reply>, Fault> {
        let user = match saved {
            Ok(user) => user,
            Err(_) if is_new_user => {
                return self.fail(cx, CE::StoreFailed, ErrorCode::EmailCreateAccount)
            }
            Err(_) => return self.fail(cx, CE::StoreFailed, ErrorCode::Callback),
        };
        self.m.fire(CE::Saved, &mut cx.trace)?;
        let user_json = user_json(&user);
        let account = account(&self.provider_id, &self.email);
        let saved = match is_new_user {
            true => AuthEvent::CreateUser {
                user: user_json.clone(),
            },
            false => AuthEvent::UpdateUser {
                user: user_json.clone(),
            },
        };
        let signed_in = AuthEvent::SignIn {
            user: user_json.clone(),
            account: account.clone(),
            is_new_user: Some(is_new_user),
        };
        let who = SignIn {
            user: user_json,
            user_id: user.id,
            account,
            profile: json!({ "email": self.email }),
            is_new_user: Some(is_new_user),
        };
        let events = vec![saved, signed_in];
        issue::sign_in(cx, who, events, is_new_user)?.then(cx, move |cx, landed| match landed {
            Ok(reply) => {
                self.m.fire(CE::Issued, &mut cx.trace)?;
                Ok(Flow::Done(reply))
            }
            Err(failure) => self.fail(cx, CE::IssueFailed, failure.code()),
        })
    }
}
