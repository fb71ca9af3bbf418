//! Credentials sign-in (spec §9): `POST /callback/<id>` checked by the app's backend.

use super::common::{failure_reply, Refused};
use crate::error::ErrorCode;
use http::StatusCode;
use serde_json::{json, Value};

use super::ask::SignInCall;
use super::issue::{self, IssueFailure, SignIn};
use super::{ask, Cx, Fault, Flow};
use crate::effect::{AuthEvent, AuthorizeCall, HookFailure, RequestInfo, SignInDecision};
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

/// An attempt past the CSRF check: what every later state needs.
struct Credentials {
    m: credentials::Machine,
    provider_id: String,
}

pub(super) fn start(cx: &mut Cx, provider_id: String) -> Result<Flow<Reply>, Fault> {
    let mut m = credentials::machine();
    if !cx.csrf_verified {
        m.fire(E::CsrfRejected, &mut cx.trace)?;
        let target = format!("{}?csrf=true", cx.route("/signin"));
        return Ok(Flow::Done(cx.redirect(target, StatusCode::OK)));
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
    let mut attempt = Credentials { m, provider_id };
    super::throttled(cx, checks, move |cx, within| {
        if !within {
            attempt.m.fire(E::OverLimit, &mut cx.trace)?;
            return Ok(Flow::Done(attempt.wrong_credentials(cx)));
        }
        attempt.m.fire(E::WithinLimits, &mut cx.trace)?;
        Ok(ask(call, move |cx, result| {
            attempt.on_authorized(cx, result)
        }))
    })
}

impl Credentials {
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
        mut self,
        cx: &mut Cx,
        result: Result<Option<Value>, HookFailure>,
    ) -> Result<Flow<Reply>, Fault> {
        match result {
            // A user must have an id: it becomes the session's `sub`.
            Ok(Some(user)) if user.is_object() && has_id(&user) => {
                self.m.fire(E::UserReturned, &mut cx.trace)?;
                if cx.config.hooks.sign_in {
                    let question = SignInCall {
                        user: user.clone(),
                        account: self.account(),
                        profile: Value::Object(cx.req.body.clone()),
                    };
                    return Ok(ask(question, move |cx, decision| {
                        self.on_sign_in(cx, user, decision)
                    }));
                }
                self.on_sign_in(cx, user, Ok(SignInDecision::Allow))
            }
            Ok(Some(_)) => {
                self.m.fire(E::BackendFailed, &mut cx.trace)?;
                Ok(Flow::Done(failure_reply(cx, HookFailure::NotConfigured)))
            }
            Ok(None) => {
                self.m.fire(E::NoUser, &mut cx.trace)?;
                Ok(Flow::Done(self.wrong_credentials(cx)))
            }
            Err(failure) => {
                self.m.fire(E::BackendFailed, &mut cx.trace)?;
                Ok(Flow::Done(failure_reply(cx, failure)))
            }
        }
    }

    fn on_sign_in(
        mut self,
        cx: &mut Cx,
        user: Value,
        decision: Result<SignInDecision, HookFailure>,
    ) -> Result<Flow<Reply>, Fault> {
        if let Some(refused) = Refused::of(decision) {
            self.m.fire(
                refused.event(E::Denied, E::Redirected, E::HookFailed),
                &mut cx.trace,
            )?;
            return Ok(Flow::Done(refused.reply(cx, StatusCode::FORBIDDEN)));
        }
        self.m.fire(E::Allowed, &mut cx.trace)?;
        // Only database sessions store the id; credentials sign in to JWT sessions only.
        let user_id = match &user["id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        };
        let signed_in = AuthEvent::SignIn {
            user: user.clone(),
            account: self.account(),
            is_new_user: None,
        };
        let who = SignIn {
            profile: user.clone(),
            user,
            user_id,
            account: self.account(),
            is_new_user: Some(false),
        };
        let mut m = self.m;
        issue::sign_in(cx, who, vec![signed_in], false)?.then(cx, move |cx, landed| {
            let reply = match landed {
                Ok(reply) => {
                    m.fire(E::TokenReady, &mut cx.trace)?;
                    reply
                }
                Err(failure) => {
                    m.fire(E::HookFailed, &mut cx.trace)?;
                    match failure {
                        // The app's callback refused (or its endpoint failed): its error,
                        // not a 500.
                        IssueFailure::Hook(failure) => failure_reply(cx, failure),
                        IssueFailure::Encoding | IssueFailure::Store => cx.redirect(
                            cx.error_url(&ErrorCode::Configuration),
                            StatusCode::INTERNAL_SERVER_ERROR,
                        ),
                    }
                }
            };
            Ok(Flow::Done(reply))
        })
    }
}

fn has_id(user: &Value) -> bool {
    match user.get("id") {
        Some(Value::String(id)) => !id.is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}
