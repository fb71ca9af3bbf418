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
    pub mod session_database = "session_database" {
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

use session_database::{Event as E, State as S};

struct DatabaseSessionRead {
    m: session_database::Machine,
    token: String,
    found: Option<(Session, User)>,
}

pub(super) fn start(cx: &mut Cx) -> Result<Started, Fault> {
    let mut m = session_database::machine();
    let Some(token) = cx.session_cookie().map(str::to_owned) else {
        m.fire(E::NoCookie, &mut cx.trace)?;
        return Ok((Next::Reply(super::no_session()), None));
    };
    m.fire(E::CookieSent, &mut cx.trace)?;
    let Some(keys) = SessionKeys::for_cookie(&token) else {
        // A stored key's shape: no session of ours, and never looked up (session_key).
        m.fire(E::NotFound, &mut cx.trace)?;
        return Ok((Next::Reply(super::no_session_cleared(cx)), None));
    };
    let flow = DatabaseSessionRead {
        m,
        token,
        found: None,
    };
    let effect = Effect::Store(StoreOp::GetSessionAndUser(keys));
    Ok((Next::Effect(effect), Some(Box::new(flow))))
}

impl RouteFlow for DatabaseSessionRead {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (self.m.state(), outcome) {
            (S::Loading, Outcome::Store(result)) => self.on_loaded(cx, result),
            (S::Expiring, Outcome::Store(result)) => {
                let event = if result.is_ok() {
                    E::Deleted
                } else {
                    E::StoreFailed
                };
                self.m.fire(event, &mut cx.trace)?;
                Ok(Next::Reply(super::no_session_cleared(cx)))
            }
            (S::Extending, Outcome::Store(Ok(_))) => {
                self.m.fire(E::Extended, &mut cx.trace)?;
                self.shape(cx)
            }
            (S::Extending, Outcome::Store(Err(_))) => {
                self.m.fire(E::StoreFailed, &mut cx.trace)?;
                Ok(Next::Reply(super::no_session()))
            }
            (S::Shaping, Outcome::Session(result)) => self.on_session(cx, result),
            _ => Err(Fault::Unexpected(
                "session_database: outcome does not answer the effect",
            )),
        }
    }
}

impl DatabaseSessionRead {
    fn on_loaded(
        &mut self,
        cx: &mut Cx,
        result: Result<StoreReply, crate::store::StoreError>,
    ) -> Result<Next, Fault> {
        let (mut session, user) = match result {
            Ok(StoreReply::MaybeSessionAndUser(Some(found))) => found,
            Ok(StoreReply::MaybeSessionAndUser(None)) => {
                self.m.fire(E::NotFound, &mut cx.trace)?;
                return Ok(Next::Reply(super::no_session_cleared(cx)));
            }
            Ok(_) => {
                return Err(Fault::Unexpected(
                    "session_database: store answered another question",
                ))
            }
            Err(_) => {
                self.m.fire(E::StoreFailed, &mut cx.trace)?;
                return Ok(Next::Reply(super::no_session()));
            }
        };
        match super::judge_database_session(&cx.config.session, &session, cx.now) {
            DatabaseSessionState::Expired => {
                self.m.fire(E::Expired, &mut cx.trace)?;
                return Ok(Next::Effect(Effect::Store(StoreOp::DeleteSession(
                    SessionKeys::stored(&session.session_token),
                ))));
            }
            DatabaseSessionState::Extend(expires) => {
                self.m.fire(E::DueForExtension, &mut cx.trace)?;
                session.expires = expires;
                let stored_key = session.session_token.clone();
                self.found = Some((session, user));
                return Ok(Next::Effect(Effect::Store(StoreOp::UpdateSessionExpiry {
                    session_token: stored_key,
                    expires,
                })));
            }
            DatabaseSessionState::Fresh => {}
        }
        self.m.fire(E::Fresh, &mut cx.trace)?;
        self.found = Some((session, user));
        self.shape(cx)
    }

    /// v3's default session object for a database session, then the session callback.
    fn shape(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        let Some((session, user)) = &self.found else {
            return Err(Fault::Unexpected(
                "session_database: shaping without a session",
            ));
        };
        let default = super::database_session_json(session, user);
        if cx.config.hooks.session {
            let user = serde_json::to_value(user).unwrap_or(Value::Null);
            return Ok(Next::Effect(Effect::Hook(HookCall::Session {
                session: default,
                token: user,
            })));
        }
        self.on_session(cx, Ok(default))
    }

    fn on_session(
        &mut self,
        cx: &mut Cx,
        result: Result<Value, HookFailure>,
    ) -> Result<Next, Fault> {
        let (Ok(shaped), Some((session, _))) = (result, &self.found) else {
            self.m.fire(E::HookFailed, &mut cx.trace)?;
            return Ok(Next::Reply(super::no_session()));
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
        Ok(Next::Reply(
            Reply::json(shaped).with_cookie(cookie).no_store(),
        ))
    }
}
