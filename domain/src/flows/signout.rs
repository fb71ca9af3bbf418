//! `POST /signout` (spec §1.6): CSRF-checked; with database sessions the row is deleted;
//! listeners are told; the session cookie is cleared and the user redirected to the
//! callback URL.

use http::StatusCode;

use super::{Cx, Fault, Next, RouteFlow, Started};
use crate::config::SessionStrategy;
use crate::effect::{AuthEvent, Effect, Outcome};
use crate::model::Session;
use crate::session_key::SessionKeys;
use crate::store::{StoreOp, StoreReply};

crate::flow! {
    /// Sign out: end the session wherever it lives.
    pub mod signout = "signout" {
        states { Received, Loading, Deleting, Notifying, SignedOut, Rejected }
        events { CsrfRejected, CsrfVerified, DatabaseSession, Loaded, Deleted, StoreFailed, Notified }
        initial Received;
        Received + CsrfRejected => Rejected, guard "csrfToken not verified", effect "redirect signout?csrf=true (session kept)";
        Received + CsrfVerified => Notifying, guard "csrfToken verified; JWT session or no cookie", effect "Event: signOut(decoded token or none)";
        Received + DatabaseSession => Loading, guard "csrfToken verified; database session cookie", effect "Store: get session (for the event)";
        Loading + Loaded => Deleting, guard "", effect "Store: delete session";
        Loading + StoreFailed => Deleting, guard "store error", effect "Store: delete session";
        Deleting + Deleted => Notifying, guard "", effect "Event: signOut(session)";
        Deleting + StoreFailed => Notifying, guard "store error (logged; sign-out goes on)", effect "Event: signOut(session)";
        Notifying + Notified => SignedOut, guard "", effect "clear session cookie; redirect callbackUrl";
    }
}

use signout::{Event as E, State as S};

struct SignOut {
    m: signout::Machine,
    /// The keys the cookie's session may be stored under.
    keys: Option<SessionKeys>,
    session: Option<Session>,
}

pub(super) fn start(cx: &mut Cx) -> Result<Started, Fault> {
    let mut m = signout::machine();
    if !cx.csrf_verified {
        m.fire(E::CsrfRejected, &mut cx.trace)?;
        let target = format!("{}?csrf=true", cx.route("/signout"));
        return Ok((Next::Reply(cx.redirect(target, StatusCode::OK)), None));
    }
    let cookie = cx.session_cookie().map(str::to_owned);
    // A cookie with a stored key's shape is no session of ours (session_key): not looked up.
    let keys = cookie.as_deref().and_then(SessionKeys::for_cookie);
    match (cx.config.session.strategy, keys) {
        (SessionStrategy::Database, Some(keys)) => {
            m.fire(E::DatabaseSession, &mut cx.trace)?;
            let effect = Effect::Store(StoreOp::GetSessionAndUser(keys.clone()));
            let flow = SignOut {
                m,
                keys: Some(keys),
                session: None,
            };
            Ok((Next::Effect(effect), Some(Box::new(flow))))
        }
        (strategy, _) => {
            m.fire(E::CsrfVerified, &mut cx.trace)?;
            let mut flow = SignOut {
                m,
                keys: None,
                session: None,
            };
            let cookie = cookie.filter(|_| strategy == SessionStrategy::Jwt);
            if cx.config.hooks.events {
                let token = cookie.and_then(|c| cx.decode_session(&c).ok());
                let event = Effect::Event(AuthEvent::SignOut {
                    token,
                    session: None,
                });
                return Ok((Next::Effect(event), Some(Box::new(flow))));
            }
            Ok((flow.signed_out(cx)?, None))
        }
    }
}

impl RouteFlow for SignOut {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (self.m.state(), outcome) {
            (S::Loading, Outcome::Store(result)) => {
                match result {
                    Ok(StoreReply::MaybeSessionAndUser(found)) => {
                        self.session = found.map(|(session, _)| session);
                        self.m.fire(E::Loaded, &mut cx.trace)?;
                    }
                    _ => {
                        self.m.fire(E::StoreFailed, &mut cx.trace)?;
                    }
                }
                // By the key that matched; every candidate when the lookup failed.
                let keys = match (&self.session, self.keys.take()) {
                    (Some(session), _) => SessionKeys::stored(&session.session_token),
                    (None, Some(keys)) => keys,
                    (None, None) => {
                        return Err(Fault::Unexpected("signout: deleting without a cookie"))
                    }
                };
                Ok(Next::Effect(Effect::Store(StoreOp::DeleteSession(keys))))
            }
            (S::Deleting, Outcome::Store(result)) => {
                let event = if result.is_ok() {
                    E::Deleted
                } else {
                    E::StoreFailed
                };
                self.m.fire(event, &mut cx.trace)?;
                if cx.config.hooks.events {
                    let session = self.session.take();
                    return Ok(Next::Effect(Effect::Event(AuthEvent::SignOut {
                        token: None,
                        session,
                    })));
                }
                self.signed_out(cx)
            }
            (S::Notifying, Outcome::Notified) => self.signed_out(cx),
            _ => Err(Fault::Unexpected(
                "signout: outcome does not answer the effect",
            )),
        }
    }
}

impl SignOut {
    fn signed_out(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        self.m.fire(E::Notified, &mut cx.trace)?;
        let clear = cx.clear_session_cookie();
        let reply = cx
            .redirect(cx.callback_url.clone(), StatusCode::OK)
            .with_cookie(clear);
        Ok(Next::Reply(reply))
    }
}
