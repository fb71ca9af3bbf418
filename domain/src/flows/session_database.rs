//! `GET /session` with database sessions (spec §6.3): one lookup of session and user,
//! expiry decided here (stores do not read the clock), sliding expiry written at most once
//! per `updateAge`.

use serde_json::Value;

use super::{Cx, DatabaseSessionState, Fault, Next, RouteFlow, Started};
use crate::cookies::{set_cookie, Lifetime};
use crate::effect::{AuthEvent, Effect, HookCall, HookFailure, Outcome};
use crate::model::{Session, User};
use crate::response::Reply;
use crate::session_key::SessionKeys;
use crate::store::{StoreOp, StoreReply};

crate::flow! {
    /// Read a database session; extend it when due; delete it when expired.
    pub(crate) mod session_database = "session_database" {
        states { Received, Anonymous, Loading, Expiring, Extending, Shaping, Served, Cleared, Failed }
        events { NoCookie, CookieSent, NotFound, Expired, Fresh, DueForExtension, Deleted, Extended, SessionReady, HookFailed, StoreFailed }
        initial Received;
        Received + NoCookie => Anonymous, guard "no session cookie", effect "{}";
        Received + CookieSent => Loading, guard "session cookie", effect "Store: get session and user (one lookup)";
        Loading + NotFound => Cleared, guard "no such session, or its user is gone", effect "clear session cookie; {}";
        Loading + Expired => Expiring, guard "expires <= now, or signed in longer ago than absolute_max_age", effect "Store: delete session";
        Loading + Fresh => Shaping, guard "extended less than updateAge ago, or at its absolute end already", effect "Hook: session(session, user)";
        Loading + DueForExtension => Extending, guard "now > expires - maxAge + updateAge, or the stored expiry lies past created + absolute_max_age", effect "Store: expires = now + maxAge, at most created + absolute_max_age";
        Loading + StoreFailed => Failed, guard "store error", effect "{} (cookie kept)";
        Expiring + Deleted => Cleared, guard "", effect "clear session cookie; {}";
        Expiring + StoreFailed => Cleared, guard "store error", effect "clear session cookie; {}";
        Extending + Extended => Shaping, guard "", effect "Hook: session(session, user)";
        Extending + StoreFailed => Failed, guard "store error", effect "{} (cookie kept)";
        Shaping + SessionReady => Served, guard "", effect "Set-Cookie: session-token (same token, Expires = session expiry); Event: session; session JSON";
        Shaping + HookFailed => Failed, guard "session callback fails", effect "{} (cookie kept)";
    }
}

use session_database::Event as E;

struct DatabaseSessionRead {
    m: session_database::Machine,
    token: String,
    waiting: Waiting,
}

/// What the read waits for, with what that state needs.
enum Waiting {
    /// The session and its user.
    Loading,
    /// The delete of the expired session.
    Expiring,
    /// The new expiry written; then this session (already extended) is served.
    Extending(Found),
    /// The `session` callback, about this session.
    Shaping(Found),
    /// Nothing: answered.
    Done,
}

/// The session row and its user.
type Found = Box<(Session, User)>;

pub(super) fn start(cx: &mut Cx) -> Result<Started, Fault> {
    let mut m = session_database::machine();
    let Some(token) = cx.session_cookie().map(str::to_owned) else {
        m.fire(E::NoCookie, &mut cx.trace)?;
        return Ok((Next::Done(super::no_session()), None));
    };
    m.fire(E::CookieSent, &mut cx.trace)?;
    let Some(keys) = SessionKeys::for_cookie(&token) else {
        // A stored key's shape: no session of ours, and never looked up (session_key).
        m.fire(E::NotFound, &mut cx.trace)?;
        return Ok((Next::Done(super::no_session_cleared(cx)), None));
    };
    let flow = DatabaseSessionRead {
        m,
        token,
        waiting: Waiting::Loading,
    };
    let effect = Effect::Store(StoreOp::GetSessionAndUser(keys));
    Ok((Next::Effect(effect), Some(Box::new(flow))))
}

impl RouteFlow for DatabaseSessionRead {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (std::mem::replace(&mut self.waiting, Waiting::Done), outcome) {
            (Waiting::Loading, Outcome::Store(Ok(StoreReply::MaybeSessionAndUser(found)))) => {
                self.on_loaded(cx, found)
            }
            (Waiting::Loading, Outcome::Store(Err(_))) => {
                self.m.fire(E::StoreFailed, &mut cx.trace)?;
                Ok(Next::Done(super::no_session()))
            }
            (Waiting::Expiring, Outcome::Store(result)) => {
                let event = if result.is_ok() {
                    E::Deleted
                } else {
                    E::StoreFailed
                };
                self.m.fire(event, &mut cx.trace)?;
                Ok(Next::Done(super::no_session_cleared(cx)))
            }
            (Waiting::Extending(found), Outcome::Store(Ok(_))) => {
                self.m.fire(E::Extended, &mut cx.trace)?;
                self.shape(cx, found)
            }
            (Waiting::Extending(_), Outcome::Store(Err(_))) => {
                self.m.fire(E::StoreFailed, &mut cx.trace)?;
                Ok(Next::Done(super::no_session()))
            }
            (Waiting::Shaping(found), Outcome::Session(result)) => {
                self.on_session(cx, &found.0, result)
            }
            _ => Err(Fault::Unexpected(
                "session_database: outcome does not answer the effect",
            )),
        }
    }
}

impl DatabaseSessionRead {
    fn on_loaded(&mut self, cx: &mut Cx, found: Option<(Session, User)>) -> Result<Next, Fault> {
        let Some((mut session, user)) = found else {
            self.m.fire(E::NotFound, &mut cx.trace)?;
            return Ok(Next::Done(super::no_session_cleared(cx)));
        };
        match super::judge_database_session(&cx.config.session, &session, cx.now) {
            DatabaseSessionState::Expired => {
                self.m.fire(E::Expired, &mut cx.trace)?;
                self.waiting = Waiting::Expiring;
                Ok(Next::Effect(Effect::Store(StoreOp::DeleteSession(
                    SessionKeys::stored(&session.session_token),
                ))))
            }
            DatabaseSessionState::Extend(expires) => {
                self.m.fire(E::DueForExtension, &mut cx.trace)?;
                session.expires = expires;
                let stored_key = session.session_token.clone();
                self.waiting = Waiting::Extending(Box::new((session, user)));
                Ok(Next::Effect(Effect::Store(StoreOp::UpdateSessionExpiry {
                    session_token: stored_key,
                    expires,
                })))
            }
            DatabaseSessionState::Fresh => {
                self.m.fire(E::Fresh, &mut cx.trace)?;
                self.shape(cx, Box::new((session, user)))
            }
        }
    }

    /// v3's default session object for a database session, then the session callback.
    fn shape(&mut self, cx: &mut Cx, found: Found) -> Result<Next, Fault> {
        let (session, user) = &*found;
        let default = super::database_session_json(session, user);
        if cx.config.hooks.session {
            let user = serde_json::to_value(user).unwrap_or(Value::Null);
            self.waiting = Waiting::Shaping(found);
            return Ok(Next::Effect(Effect::Hook(HookCall::Session {
                session: default,
                token: user,
            })));
        }
        self.on_session(cx, &found.0, Ok(default))
    }

    fn on_session(
        &mut self,
        cx: &mut Cx,
        session: &Session,
        result: Result<Value, HookFailure>,
    ) -> Result<Next, Fault> {
        let Ok(shaped) = result else {
            self.m.fire(E::HookFailed, &mut cx.trace)?;
            return Ok(Next::Done(super::no_session()));
        };
        self.m.fire(E::SessionReady, &mut cx.trace)?;
        let cookie = set_cookie(
            &cx.config.cookies.session_token,
            &self.token,
            Lifetime::Until(session.expires),
        );
        if cx.config.hooks.events {
            cx.emit(AuthEvent::Session {
                session: shaped.clone(),
                token: None,
            });
        }
        Ok(Next::Done(
            Reply::json(shaped).with_cookie(cookie).no_store(),
        ))
    }
}
