//! What every sign-in shares, whichever way the user proved who they are: the user as
//! callbacks and events see it, the `signIn` callback's verdict, and where a failed
//! callback sends the user. (Issuing the session and landing are `issue`.)

use http::StatusCode;
use serde_json::{json, Value};

use super::Cx;
use crate::effect::{HookFailure, SignInDecision};
use crate::error::ErrorCode;
use crate::model::User;
use crate::response::Reply;

/// A stored user as v3's callbacks and events see it.
pub(super) fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "emailVerified": user.email_verified.map(super::iso),
        "image": user.image,
    })
}

/// Where a failed callback sends the user (spec §9, §12.1).
pub(super) fn failure_reply(cx: &Cx, failure: HookFailure) -> Reply {
    match failure {
        HookFailure::Error(code) => cx.redirect(cx.error_url(&code), StatusCode::OK),
        HookFailure::Redirect(url) => cx.redirect(url, StatusCode::OK),
        HookFailure::NotConfigured => cx.redirect(
            cx.error_url(&ErrorCode::Configuration),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    }
}

/// A sign-in the `signIn` callback did not allow (spec §12.1).
pub(super) enum Refused {
    Denied,
    Redirected(String),
    Failed(HookFailure),
}

impl Refused {
    /// `None` when the callback allows the sign-in.
    pub(super) fn of(answer: Result<SignInDecision, HookFailure>) -> Option<Self> {
        match answer {
            Ok(SignInDecision::Allow) => None,
            Ok(SignInDecision::Deny) => Some(Self::Denied),
            Ok(SignInDecision::Redirect(url)) => Some(Self::Redirected(url)),
            Err(failure) => Some(Self::Failed(failure)),
        }
    }

    /// The flow's event for this refusal, from its three.
    pub(super) fn event<E>(&self, denied: E, redirected: E, failed: E) -> E {
        match self {
            Self::Denied => denied,
            Self::Redirected(_) => redirected,
            Self::Failed(_) => failed,
        }
    }

    /// The reply that ends the sign-in: `AccessDenied` (answered with `denied_status`),
    /// the callback's own destination, or the failure's.
    pub(super) fn reply(self, cx: &Cx, denied_status: StatusCode) -> Reply {
        match self {
            Self::Denied => cx.redirect(cx.error_url(&ErrorCode::AccessDenied), denied_status),
            Self::Redirected(url) => cx.redirect(url, StatusCode::OK),
            Self::Failed(failure) => failure_reply(cx, failure),
        }
    }
}
