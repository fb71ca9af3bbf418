//! `GET /session` with database sessions (spec §6.3): one lookup of session and user,
//! expiry decided here (stores do not read the clock), sliding expiry written at most once
//! per `updateAge`.

use serde_json::Value;

use super::ask::SessionCall;
use super::{ask, stored, Cx, DatabaseSessionState, Fault, Flow};
use crate::cookies::{set_cookie, Lifetime};
use crate::effect::{AuthEvent, HookFailure};
use crate::model::{Session, User};
use crate::response::Reply;
use crate::session_key::SessionKeys;
use crate::store::StoreError;

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
        Loading + StoreFailed => Failed, guard "store error", effect "503 {} with Retry-After (cookie kept)";
        Expiring + Deleted => Cleared, guard "", effect "clear session cookie; {}";
        Expiring + StoreFailed => Cleared, guard "store error", effect "clear session cookie; {}";
        Extending + Extended => Shaping, guard "", effect "Hook: session(session, user)";
        Extending + StoreFailed => Failed, guard "store error", effect "503 {} with Retry-After (cookie kept)";
        Shaping + SessionReady => Served, guard "", effect "Set-Cookie: session-token (same token, Expires = session expiry); Event: session; session JSON";
        Shaping + HookFailed => Failed, guard "session callback fails", effect "{} (cookie kept)";
    }
}

use session_database::Event as E;

/// The read's machine and the cookie's token: what every state of the read carries.
struct Read {
    m: session_database::Machine,
    token: String,
}

pub(super) fn start(cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
    let mut m = session_database::machine();
    let Some(token) = cx.session_cookie().map(str::to_owned) else {
        m.fire(E::NoCookie, &mut cx.trace)?;
        return Ok(Flow::Done(super::no_session()));
    };
    m.fire(E::CookieSent, &mut cx.trace)?;
    let Some(keys) = SessionKeys::for_cookie(&token) else {
        // A stored key's shape: no session of ours, and never looked up (session_key).
        m.fire(E::NotFound, &mut cx.trace)?;
        return Ok(Flow::Done(super::no_session_cleared(cx)));
    };
    let read = Read { m, token };
    Ok(ask(stored::get_session_and_user(keys), move |cx, found| {
        read.loaded(cx, found)
    }))
}

impl Read {
    fn loaded(
        mut self,
        cx: &mut Cx,
        found: Result<Option<(Session, User)>, StoreError>,
    ) -> Result<Flow<Reply>, Fault> {
        let Ok(found) = found else {
            return self.failed(cx, E::StoreFailed);
        };
        let Some((mut session, user)) = found else {
            self.m.fire(E::NotFound, &mut cx.trace)?;
            return Ok(Flow::Done(super::no_session_cleared(cx)));
        };
        match super::judge_database_session(&cx.config.session, &session, cx.now) {
            DatabaseSessionState::Expired => {
                self.m.fire(E::Expired, &mut cx.trace)?;
                let delete = stored::delete_session(SessionKeys::stored(&session.session_token));
                Ok(ask(delete, move |cx, deleted| {
                    let event = match deleted {
                        Ok(_) => E::Deleted,
                        Err(_) => E::StoreFailed,
                    };
                    self.m.fire(event, &mut cx.trace)?;
                    Ok(Flow::Done(super::no_session_cleared(cx)))
                }))
            }
            DatabaseSessionState::Extend(expires) => {
                self.m.fire(E::DueForExtension, &mut cx.trace)?;
                session.expires = expires;
                let extend = stored::update_session_expiry(session.session_token.clone(), expires);
                Ok(ask(extend, move |cx, extended| match extended {
                    Ok(_) => {
                        self.m.fire(E::Extended, &mut cx.trace)?;
                        self.shape(cx, session, user)
                    }
                    Err(_) => self.failed(cx, E::StoreFailed),
                }))
            }
            DatabaseSessionState::Fresh => {
                self.m.fire(E::Fresh, &mut cx.trace)?;
                self.shape(cx, session, user)
            }
        }
    }

    /// v3's default session object for a database session, then the session callback.
    fn shape(self, cx: &mut Cx, session: Session, user: User) -> Result<Flow<Reply>, Fault> {
        let default = super::database_session_json(&session, &user);
        if cx.config.hooks.session {
            let question = SessionCall {
                session: default,
                token: serde_json::to_value(&user).unwrap_or(Value::Null),
            };
            return Ok(ask(question, move |cx, shaped| {
                self.served(cx, &session, shaped)
            }));
        }
        self.served(cx, &session, Ok(default))
    }

    fn served(
        mut self,
        cx: &mut Cx,
        session: &Session,
        shaped: Result<Value, HookFailure>,
    ) -> Result<Flow<Reply>, Fault> {
        let Ok(shaped) = shaped else {
            return self.failed(cx, E::HookFailed);
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
        Ok(Flow::Done(
            Reply::json(shaped).with_cookie(cookie).no_store(),
        ))
    }

    /// No session in the answer; the cookie is kept (the failure may pass).
    fn failed(mut self, cx: &mut Cx, event: E) -> Result<Flow<Reply>, Fault> {
        self.m.fire(event, &mut cx.trace)?;
        Ok(Flow::Done(match event {
            E::StoreFailed => super::session_unavailable(),
            _ => super::no_session(),
        }))
    }
}
