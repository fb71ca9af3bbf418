//! Issuing a session after a successful sign-in: a new JWT, or a new database row. Every
//! sign-in gets a fresh session token (no fixation, ASVS 3.2.1); with database sessions a
//! session the browser already had is deleted first.

use crate::error::ErrorCode;
use serde_json::{Map, Value};

use super::ask::JwtCall;
use super::{ask, stored, Cx, Fault, Flow};
use crate::config::SessionStrategy;
use crate::cookies::{encode_uri_component, set_cookie, Lifetime};
use crate::effect::{AuthEvent, HookFailure};
use crate::jwt::Claims;
use crate::model::Session;
use crate::response::Reply;
use crate::secret::SecretString;
use crate::session_key::SessionKeys;
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

/// Who signs in, as the `jwt` callback sees them.
pub(super) struct SignIn {
    pub(super) user: Value,
    /// The stored user's id (a database session's `userId`).
    pub(super) user_id: String,
    pub(super) account: Value,
    pub(super) profile: Value,
    pub(super) is_new_user: Option<bool>,
}

/// The end of every sign-in, once the user is known and allowed: a fresh session is
/// issued, `events` go to the app's listeners (drained by the driver after the run), and
/// the browser lands on the callback URL — or, for a new user, the new-user page — with
/// the session cookie. `Err`: no session could be issued; each flow answers that its way.
pub(super) fn sign_in(
    cx: &mut Cx,
    who: SignIn,
    events: Vec<AuthEvent>,
    new_user: bool,
) -> Result<Flow<Result<Reply, IssueFailure>>, Fault> {
    issue(cx, who)?.then(cx, move |cx, issued| {
        Ok(Flow::Done(
            issued.map(|cookie| land(cx, cookie, events, new_user)),
        ))
    })
}

/// Issues a session for `who`: the new session's `Set-Cookie` line, or why not.
fn issue(cx: &mut Cx, who: SignIn) -> Result<Flow<Result<String, IssueFailure>>, Fault> {
    let mut m = session_issue::machine();
    match cx.config.session.strategy {
        SessionStrategy::Jwt => {
            m.fire(E::JwtStrategy, &mut cx.trace)?;
            let mut token = sign_in_claims(cx, &who.user);
            if cx.config.provider_tokens_in_jwt {
                super::session::keep_provider_tokens(&mut token, &who.account);
            }
            if !cx.config.hooks.jwt {
                return encoded(m, cx, Ok(token));
            }
            let question = JwtCall {
                token,
                user: Some(who.user),
                account: Some(who.account),
                profile: Some(who.profile),
                is_new_user: who.is_new_user,
            };
            Ok(ask(question, move |cx, claims| encoded(m, cx, claims)))
        }
        // A cookie with a stored key's shape is none of ours (session_key): not deleted.
        SessionStrategy::Database => match cx.session_cookie().and_then(SessionKeys::for_cookie) {
            Some(previous) => {
                m.fire(E::DatabaseStrategyReplacing, &mut cx.trace)?;
                Ok(ask(stored::delete_session(previous), move |cx, _| {
                    // A failed delete leaves a row that expires by itself; the new session
                    // is what matters.
                    m.fire(E::Replaced, &mut cx.trace)?;
                    Ok(create(m, cx, who.user_id))
                }))
            }
            None => {
                m.fire(E::DatabaseStrategy, &mut cx.trace)?;
                Ok(create(m, cx, who.user_id))
            }
        },
    }
}

/// The `jwt` callback's claims (or the defaults) encoded into the session cookie.
fn encoded(
    mut m: session_issue::Machine,
    cx: &mut Cx,
    claims: Result<Claims, HookFailure>,
) -> Result<Flow<Result<String, IssueFailure>>, Fault> {
    let encoded = match claims {
        Ok(claims) => cx
            .encode_new_session(&claims)
            .map_err(|_| IssueFailure::Encoding),
        Err(failure) => Err(IssueFailure::Hook(failure)),
    };
    let jwt = match encoded {
        Ok(jwt) => jwt,
        Err(failure) => {
            m.fire(E::HookFailed, &mut cx.trace)?;
            return Ok(Flow::Done(Err(failure)));
        }
    };
    m.fire(E::TokenReady, &mut cx.trace)?;
    let expires = cx.now + time::Duration::seconds(cx.config.session.max_age);
    Ok(Flow::Done(Ok(set_cookie(
        &cx.config.cookies.session_token,
        &jwt,
        Lifetime::Until(expires),
    ))))
}

/// A new database session row; the cookie carries its token, the store its `stored_key`.
fn create(
    mut m: session_issue::Machine,
    cx: &mut Cx,
    user_id: String,
) -> Flow<Result<String, IssueFailure>> {
    let token = SecretString::new(cx.random_hex(32));
    let session = Session {
        session_token: cx.config.session.token_storage.stored_key(token.expose()),
        user_id,
        expires: cx.config.session.expiry(cx.now, cx.now),
        access_token: SecretString::new(cx.random_hex(32)),
        created: Some(cx.now),
    };
    ask(stored::create_session(session), move |cx, created| {
        let Ok(session) = created else {
            m.fire(E::StoreFailed, &mut cx.trace)?;
            return Ok(Flow::Done(Err(IssueFailure::Store)));
        };
        m.fire(E::Created, &mut cx.trace)?;
        Ok(Flow::Done(Ok(set_cookie(
            &cx.config.cookies.session_token,
            token.expose(),
            Lifetime::Until(session.expires),
        ))))
    })
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

/// Once the session is issued: the events out, and the browser sent on with the cookie.
fn land(
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
