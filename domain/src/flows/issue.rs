//! Issuing a session after a successful sign-in: a new JWT, or a new database row. Every
//! sign-in gets a fresh session token (no fixation, ASVS 3.2.1); with database sessions a
//! session the browser already had is deleted first.

use crate::error::ErrorCode;
use serde_json::{Map, Value};

use super::{Cx, Fault};
use crate::config::SessionStrategy;
use crate::cookies::encode_uri_component;
use crate::cookies::{set_cookie, Lifetime};
use crate::effect::AuthEvent;
use crate::effect::{Effect, HookCall, HookFailure, Outcome};
use crate::jwt::Claims;
use crate::model::Session;
use crate::secret::SecretString;
use crate::session_key::SessionKeys;
use crate::store::{StoreOp, StoreReply};
use http::StatusCode;

crate::flow! {
    /// Turn a signed-in user into a session cookie.
    pub(crate) mod session_issue = "session_issue" {
        states { Received, Encoding, Replacing, Creating, Issued, Failed }
        events { JwtStrategy, DatabaseStrategy, DatabaseStrategyReplacing, TokenReady, HookFailed, Replaced, Created, StoreFailed }
        initial Received;
        Received + JwtStrategy => Encoding, guard "JWT sessions", effect "Hook: jwt(token, user, account, profile, isNewUser)";
        Encoding + TokenReady => Issued, guard "token encodes", effect "Set-Cookie: session-token (new JWT)";
        Encoding + HookFailed => Failed, guard "jwt callback or encoding fails", effect "error Configuration";
        Received + DatabaseStrategy => Creating, guard "database sessions, no session cookie", effect "Store: create session (256-bit token)";
        Received + DatabaseStrategyReplacing => Replacing, guard "database sessions, a session cookie was sent", effect "Store: delete that session";
        Replacing + Replaced => Creating, guard "", effect "Store: create session (256-bit token)";
        Creating + Created => Issued, guard "", effect "Set-Cookie: session-token (new token)";
        Creating + StoreFailed => Failed, guard "store error", effect "error Callback";
    }
}

use session_issue::Event as E;

/// What issuing wants next: an effect, or the new session's `Set-Cookie` line (or the
/// error code to redirect to).
pub(super) type Issue = crate::engine::Step<Result<String, IssueFailure>>;

/// Why no session could be issued.
pub(super) enum IssueFailure {
    /// The `jwt` callback failed.
    Hook(HookFailure),
    /// The token did not encode.
    Encoding,
    /// The store did not take the new session.
    Store,
}

impl IssueFailure {
    /// The error code an e-mail or OAuth sign-in answers with (credentials answers a
    /// failed callback with the callback's own error, as v3 does).
    pub(super) fn code(&self) -> ErrorCode {
        match self {
            Self::Store => ErrorCode::Callback,
            Self::Hook(_) | Self::Encoding => ErrorCode::Configuration,
        }
    }
}

/// The sign-in being turned into a session.
pub(super) struct SessionIssue {
    m: session_issue::Machine,
    user: Value,
    user_id: String,
    account: Value,
    profile: Value,
    is_new_user: Option<bool>,
    waiting: Waiting,
}

/// What issuing waits for, with what that state needs.
enum Waiting {
    /// The `jwt` callback's claims.
    Token,
    /// The delete of the session the browser had.
    Replacing,
    /// The new row: the new session's cookie value (the store keeps its `stored_key`).
    Creating(SecretString),
    /// Nothing: the session is issued or failed.
    Done,
}

impl SessionIssue {
    pub(super) fn start(
        cx: &mut Cx,
        user: Value,
        user_id: String,
        account: Value,
        profile: Value,
        is_new_user: Option<bool>,
    ) -> Result<(Self, Issue), Fault> {
        let mut issue = Self {
            m: session_issue::machine(),
            user,
            user_id,
            account,
            profile,
            is_new_user,
            waiting: Waiting::Done,
        };
        let step = match cx.config.session.strategy {
            SessionStrategy::Jwt => {
                issue.m.fire(E::JwtStrategy, &mut cx.trace)?;
                let mut token = sign_in_claims(cx, &issue.user);
                if cx.config.provider_tokens_in_jwt {
                    super::session::keep_provider_tokens(&mut token, &issue.account);
                }
                if cx.config.hooks.jwt {
                    issue.waiting = Waiting::Token;
                    Issue::Effect(Effect::Hook(HookCall::Jwt {
                        token,
                        user: Some(issue.user.clone()),
                        account: Some(issue.account.clone()),
                        profile: Some(issue.profile.clone()),
                        is_new_user: issue.is_new_user,
                    }))
                } else {
                    issue.on_token(cx, Ok(token))?
                }
            }
            // A cookie with a stored key's shape is none of ours (session_key): not deleted.
            SessionStrategy::Database => {
                match cx.session_cookie().and_then(SessionKeys::for_cookie) {
                    Some(previous) => {
                        issue.m.fire(E::DatabaseStrategyReplacing, &mut cx.trace)?;
                        issue.waiting = Waiting::Replacing;
                        Issue::Effect(Effect::Store(StoreOp::DeleteSession(previous)))
                    }
                    None => {
                        issue.m.fire(E::DatabaseStrategy, &mut cx.trace)?;
                        issue.create(cx)
                    }
                }
            }
        };
        Ok((issue, step))
    }

    pub(super) fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Issue, Fault> {
        match (std::mem::replace(&mut self.waiting, Waiting::Done), outcome) {
            (Waiting::Token, Outcome::Token(result)) => self.on_token(cx, result),
            (Waiting::Replacing, Outcome::Store(_)) => {
                // A failed delete leaves a row that expires by itself; the new session is
                // what matters.
                self.m.fire(E::Replaced, &mut cx.trace)?;
                Ok(self.create(cx))
            }
            (Waiting::Creating(token), Outcome::Store(Ok(StoreReply::Session(session)))) => {
                self.m.fire(E::Created, &mut cx.trace)?;
                let cookie = set_cookie(
                    &cx.config.cookies.session_token,
                    token.expose(),
                    Lifetime::Until(session.expires),
                );
                Ok(Issue::Done(Ok(cookie)))
            }
            (Waiting::Creating(_), Outcome::Store(_)) => {
                self.m.fire(E::StoreFailed, &mut cx.trace)?;
                Ok(Issue::Done(Err(IssueFailure::Store)))
            }
            _ => Err(Fault::Unexpected(
                "session_issue: outcome does not answer the effect",
            )),
        }
    }

    fn on_token(
        &mut self,
        cx: &mut Cx,
        result: Result<Claims, HookFailure>,
    ) -> Result<Issue, Fault> {
        let encoded = match result {
            Ok(claims) => cx
                .encode_new_session(&claims)
                .map_err(|_| IssueFailure::Encoding),
            Err(failure) => Err(IssueFailure::Hook(failure)),
        };
        let jwt = match encoded {
            Ok(jwt) => jwt,
            Err(failure) => {
                self.m.fire(E::HookFailed, &mut cx.trace)?;
                return Ok(Issue::Done(Err(failure)));
            }
        };
        self.m.fire(E::TokenReady, &mut cx.trace)?;
        let expires = cx.now + time::Duration::seconds(cx.config.session.max_age);
        Ok(Issue::Done(Ok(set_cookie(
            &cx.config.cookies.session_token,
            &jwt,
            Lifetime::Until(expires),
        ))))
    }

    fn create(&mut self, cx: &mut Cx) -> Issue {
        let token = cx.random_hex(32);
        let stored_key = cx.config.session.token_storage.stored_key(&token);
        self.waiting = Waiting::Creating(SecretString::new(token));
        let session = Session {
            session_token: stored_key,
            user_id: self.user_id.clone(),
            expires: cx.config.session.expiry(cx.now, cx.now),
            access_token: SecretString::new(cx.random_hex(32)),
            created: Some(cx.now),
        };
        Issue::Effect(Effect::Store(StoreOp::CreateSession(session)))
    }

    pub(super) fn user(&self) -> &Value {
        &self.user
    }

    pub(super) fn account(&self) -> &Value {
        &self.account
    }
}

/// The claims of a new session token: v3's defaults, a random `jti`, so every sign-in
/// gets a token of its own even within the same second (ASVS 3.2.1), and `auth_time`.
fn sign_in_claims(cx: &mut Cx, user: &Value) -> Claims {
    let mut claims = default_claims(user);
    claims.insert("jti".into(), Value::String(cx.random_hex(16)));
    claims.insert(
        super::AUTH_TIME.into(),
        Value::from(cx.now.unix_timestamp()),
    );
    claims
}

/// v3's claims for a freshly signed-in user (spec §5.4): `name`, `email`, `picture`,
/// `sub`; absent members omitted, `null` kept.
fn default_claims(user: &Value) -> Claims {
    let mut claims = Map::new();
    for (claim, field) in [("name", "name"), ("email", "email"), ("picture", "image")] {
        if let Some(value) = user.get(field) {
            claims.insert(claim.into(), value.clone());
        }
    }
    match user.get("id") {
        Some(Value::String(id)) => {
            claims.insert("sub".into(), Value::String(id.clone()));
        }
        Some(Value::Number(id)) => {
            claims.insert("sub".into(), Value::String(id.to_string()));
        }
        _ => {}
    }
    claims
}

/// The end of every sign-in, once the session is issued: the events go to the app's
/// listeners (drained by the driver after the run), and the browser is sent to the
/// callback URL (or, for a new user, the new-user page) with the session cookie.
pub(super) fn land(
    cx: &mut Cx,
    cookie: String,
    events: Vec<AuthEvent>,
    is_new_user: bool,
) -> crate::response::Reply {
    for event in events {
        cx.emit(event);
    }
    let target = match (&cx.config.pages.new_user, is_new_user) {
        (Some(page), true) => format!(
            "{page}{}callbackUrl={}",
            if page.contains('?') { '&' } else { '?' },
            encode_uri_component(&cx.callback_url)
        ),
        _ => cx.callback_url.clone(),
    };
    cx.redirect(target, StatusCode::OK)
        .no_store()
        .with_cookie(cookie)
}
