//! Credentials sign-in (spec §9): `POST /callback/<id>` checked by the app's backend.

use super::common::{failure_reply, Refused};
use crate::error::ErrorCode;
use http::StatusCode;
use serde_json::{json, Value};

use super::issue::{Issue, IssueFailure, SessionIssue};
use super::{Cx, Fault, Next, RouteFlow, Started};
use crate::effect::{
    AuthEvent, AuthorizeCall, Effect, HookCall, HookFailure, Outcome, RequestInfo, SignInDecision,
};
use crate::response::Reply;
crate::flow! {
    /// Sign in with credentials checked by the provider's `authorize` backend.
    pub(crate) mod credentials = "credentials" {
        states { Received, Throttling, Authorizing, CheckingSignIn, IssuingToken, SignedIn, Rejected, Failed }
        events { CsrfRejected, CsrfVerified, WithinLimits, OverLimit, UserReturned, NoUser, BackendFailed, Allowed, Denied, Redirected, HookFailed, TokenReady }
        initial Received;
        Received + CsrfRejected => Rejected, guard "csrfToken not verified", effect "redirect signin?csrf=true";
        Received + CsrfVerified => Throttling, guard "csrfToken verified", effect "Throttle: per client IP, then per username and per e-mail";
        Throttling + WithinLimits => Authorizing, guard "", effect "Authorize: provider backend";
        Throttling + OverLimit => Failed, guard "a limit is reached", effect "401 / redirect error?error=CredentialsSignin (the wrong-credentials answer)";
        Authorizing + UserReturned => CheckingSignIn, guard "backend returned a user object", effect "Hook: signIn";
        Authorizing + NoUser => Failed, guard "backend returned no user", effect "401 / redirect error?error=CredentialsSignin&provider=<id>";
        Authorizing + BackendFailed => Failed, guard "backend failed, is not configured, or returned a user without id", effect "redirect error?error=<message> (Configuration: 500)";
        CheckingSignIn + Allowed => IssuingToken, guard "signIn allows", effect "Hook: jwt(token, user, account, profile, false)";
        CheckingSignIn + Denied => Failed, guard "signIn returns false", effect "403 / redirect error?error=AccessDenied";
        CheckingSignIn + Redirected => Failed, guard "signIn returns a URL", effect "redirect to that URL";
        CheckingSignIn + HookFailed => Failed, guard "signIn fails", effect "redirect error?error=<message>";
        IssuingToken + TokenReady => SignedIn, guard "token encodes", effect "Set-Cookie: session-token (new); Event: signIn; redirect callbackUrl";
        IssuingToken + HookFailed => Failed, guard "jwt callback or encoding fails", effect "redirect error?error=<message> (callback) or Configuration (encoding)";
    }
}

use credentials::Event as E;

struct Credentials {
    m: credentials::Machine,
    provider_id: String,
    waiting: Waiting,
}

/// What the attempt waits for, with what that state needs.
enum Waiting {
    /// A rate-limit check: the ones still to run, then the backend call they guard.
    Throttling {
        checks: std::collections::VecDeque<crate::effect::ThrottleCheck>,
        call: AuthorizeCall,
    },
    /// The backend's answer.
    Authorizing,
    /// The `signIn` callback, about the user the backend returned.
    CheckingSignIn(Value),
    /// The session being issued (the `jwt` callback), for that user.
    Issuing(Box<SessionIssue>),
    /// Nothing: answered.
    Done,
}

pub(super) fn start(cx: &mut Cx, provider_id: String) -> Result<Started, Fault> {
    let mut m = credentials::machine();
    if !cx.csrf_verified {
        m.fire(E::CsrfRejected, &mut cx.trace)?;
        let target = format!("{}?csrf=true", cx.route("/signin"));
        return Ok((Next::Done(cx.redirect(target, StatusCode::OK)), None));
    }
    m.fire(E::CsrfVerified, &mut cx.trace)?;
    // Every identifying field a backend may read: limiting only the first would let a
    // second one through unlimited.
    let identifiers: Vec<String> = ["username", "email"]
        .iter()
        .filter_map(|field| cx.req.body_str(field))
        .map(|id| id.trim().to_lowercase())
        .filter(|id| !id.is_empty())
        .collect();
    let limits = cx.config.throttle;
    let checks = super::throttle_checks(
        cx,
        &format!("credentials:{provider_id}"),
        &identifiers,
        limits.credentials_per_identifier,
        limits.credentials_per_ip,
    );
    let call = AuthorizeCall {
        provider_id: provider_id.clone(),
        credentials: cx.req.body.clone(),
        request: RequestInfo {
            method: cx.req.method.to_string(),
            query: cx.req.query.clone(),
            headers: cx
                .req
                .headers
                .iter()
                .filter(|(name, _)| {
                    *name != http::header::COOKIE && *name != http::header::AUTHORIZATION
                })
                .filter_map(|(name, value)| {
                    Some((name.to_string(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
        },
    };
    let mut flow = Credentials {
        m,
        provider_id,
        waiting: Waiting::Done,
    };
    let next = flow.next_check(cx, checks, call)?;
    Ok((next, Some(Box::new(flow))))
}

impl RouteFlow for Credentials {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (std::mem::replace(&mut self.waiting, Waiting::Done), outcome) {
            (Waiting::Throttling { checks, call }, Outcome::Throttle(true)) => {
                self.next_check(cx, checks, call)
            }
            (Waiting::Throttling { .. }, Outcome::Throttle(false)) => {
                self.m.fire(E::OverLimit, &mut cx.trace)?;
                Ok(Next::Done(self.wrong_credentials(cx)))
            }
            (Waiting::Authorizing, Outcome::Authorized(result)) => self.on_authorized(cx, result),
            (Waiting::CheckingSignIn(user), Outcome::SignIn(result)) => {
                self.on_sign_in(cx, user, result)
            }
            (Waiting::Issuing(mut issue), outcome) => {
                let step = issue.resume(cx, outcome)?;
                self.on_issue(cx, issue, step)
            }
            _ => Err(Fault::Unexpected(
                "credentials: outcome does not answer the effect",
            )),
        }
    }
}

impl Credentials {
    fn next_check(
        &mut self,
        cx: &mut Cx,
        mut checks: std::collections::VecDeque<crate::effect::ThrottleCheck>,
        call: AuthorizeCall,
    ) -> Result<Next, Fault> {
        if let Some(check) = checks.pop_front() {
            self.waiting = Waiting::Throttling { checks, call };
            return Ok(Next::Effect(Effect::Throttle(check)));
        }
        self.m.fire(E::WithinLimits, &mut cx.trace)?;
        self.waiting = Waiting::Authorizing;
        Ok(Next::Effect(Effect::Authorize(call)))
    }

    /// 401 and `CredentialsSignin`: the same for wrong credentials and for throttling.
    fn wrong_credentials(&self, cx: &Cx) -> Reply {
        let target = format!(
            "{}&provider={}",
            cx.error_url(&ErrorCode::CredentialsSignin),
            crate::cookies::encode_uri_component(&self.provider_id)
        );
        cx.redirect(target, StatusCode::UNAUTHORIZED)
    }

    fn account(&self) -> Value {
        json!({ "id": self.provider_id, "type": "credentials" })
    }

    fn on_authorized(
        &mut self,
        cx: &mut Cx,
        result: Result<Option<Value>, HookFailure>,
    ) -> Result<Next, Fault> {
        match result {
            // A user must have an id: it becomes the session's `sub`.
            Ok(Some(user)) if user.is_object() && has_id(&user) => {
                self.m.fire(E::UserReturned, &mut cx.trace)?;
                if cx.config.hooks.sign_in {
                    let call = HookCall::SignIn {
                        user: user.clone(),
                        account: self.account(),
                        profile: Value::Object(cx.req.body.clone()),
                    };
                    self.waiting = Waiting::CheckingSignIn(user);
                    return Ok(Next::Effect(Effect::Hook(call)));
                }
                self.on_sign_in(cx, user, Ok(SignInDecision::Allow))
            }
            Ok(Some(_)) => {
                self.m.fire(E::BackendFailed, &mut cx.trace)?;
                Ok(Next::Done(failure_reply(cx, HookFailure::NotConfigured)))
            }
            Ok(None) => {
                self.m.fire(E::NoUser, &mut cx.trace)?;
                Ok(Next::Done(self.wrong_credentials(cx)))
            }
            Err(failure) => {
                self.m.fire(E::BackendFailed, &mut cx.trace)?;
                Ok(Next::Done(failure_reply(cx, failure)))
            }
        }
    }

    fn on_sign_in(
        &mut self,
        cx: &mut Cx,
        user: Value,
        result: Result<SignInDecision, HookFailure>,
    ) -> Result<Next, Fault> {
        if let Some(refused) = Refused::of(result) {
            self.m.fire(
                refused.event(E::Denied, E::Redirected, E::HookFailed),
                &mut cx.trace,
            )?;
            return Ok(Next::Done(refused.reply(cx, StatusCode::FORBIDDEN)));
        }
        self.m.fire(E::Allowed, &mut cx.trace)?;
        // Only database sessions store the id; credentials sign in to JWT sessions only.
        let user_id = match &user["id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        };
        let profile = user.clone();
        let account = self.account();
        let (issue, step) = SessionIssue::start(cx, user, user_id, account, profile, Some(false))?;
        self.on_issue(cx, Box::new(issue), step)
    }

    fn on_issue(
        &mut self,
        cx: &mut Cx,
        issue: Box<SessionIssue>,
        step: Issue,
    ) -> Result<Next, Fault> {
        let cookie = match step {
            Issue::Effect(effect) => {
                self.waiting = Waiting::Issuing(issue);
                return Ok(Next::Effect(effect));
            }
            Issue::Done(Ok(cookie)) => cookie,
            Issue::Done(Err(failure)) => {
                self.m.fire(E::HookFailed, &mut cx.trace)?;
                return Ok(Next::Done(match failure {
                    // The app's callback refused (or its endpoint failed): its error, not a 500.
                    IssueFailure::Hook(failure) => failure_reply(cx, failure),
                    IssueFailure::Encoding | IssueFailure::Store => cx.redirect(
                        cx.error_url(&ErrorCode::Configuration),
                        StatusCode::INTERNAL_SERVER_ERROR,
                    ),
                }));
            }
        };
        self.m.fire(E::TokenReady, &mut cx.trace)?;
        let signed_in = AuthEvent::SignIn {
            user: issue.user().clone(),
            account: issue.account().clone(),
            is_new_user: None,
        };
        Ok(Next::Done(super::issue::land(
            cx,
            cookie,
            vec![signed_in],
            false,
        )))
    }
}

fn has_id(user: &Value) -> bool {
    match user.get("id") {
        Some(Value::String(id)) => !id.is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}
