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
        states { Received, Loading, Deleting, Revoking, Notifying, SignedOut, Rejected }
        events { CsrfRejected, CsrfVerified, DatabaseSession, RevocableJwt, Loaded, Deleted, Revoked, StoreFailed, Notified }
        initial Received;
        Received + CsrfRejected => Rejected, guard "csrfToken not verified", effect "redirect signout?csrf=true (session kept)";
        Received + CsrfVerified => Notifying, guard "csrfToken verified; JWT session or no cookie", effect "Event: signOut(decoded token or none)";
        Received + RevocableJwt => Revoking, guard "csrfToken verified; jwt.revocable and a valid JWT session cookie", effect "Store: revoke its jti until the token expires";
        Revoking + Revoked => Notifying, guard "", effect "Event: signOut(decoded token)";
        Revoking + StoreFailed => Notifying, guard "store error (logged; sign-out goes on)", effect "Event: signOut(decoded token)";
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
    /// The revoked JWT session's claims, for the event.
    token: Option<crate::jwt::Claims>,
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
                token: None,
            };
            Ok((Next::Effect(effect), Some(Box::new(flow))))
        }
        (strategy, _) => {
            let token = cookie
                .filter(|_| strategy == SessionStrategy::Jwt)
                .and_then(|c| cx.decode_session(&c).ok());
            let revoke = token
                .as_ref()
                .filter(|_| cx.config.jwt_revocable)
                .and_then(|t| super::revocation::revoke(t, cx.now, cx.config.jwt.max_age));
            if let Some(revoke) = revoke {
                m.fire(E::RevocableJwt, &mut cx.trace)?;
                let flow = SignOut {
                    m,
                    keys: None,
                    session: None,
                    token,
                };
                return Ok((Next::Effect(Effect::Store(revoke)), Some(Box::new(flow))));
            }
            m.fire(E::CsrfVerified, &mut cx.trace)?;
            let mut flow = SignOut {
                m,
                keys: None,
                session: None,
                token: None,
            };
            cx.emit(AuthEvent::SignOut {
                token,
                session: None,
            });
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
                cx.emit(AuthEvent::SignOut {
                    token: None,
                    session: self.session.take(),
                });
                self.signed_out(cx)
            }
            (S::Revoking, Outcome::Store(result)) => {
                let event = if result.is_ok() {
                    E::Revoked
                } else {
                    E::StoreFailed
                };
                self.m.fire(event, &mut cx.trace)?;
                cx.emit(AuthEvent::SignOut {
                    token: self.token.take(),
                    session: None,
                });
                self.signed_out(cx)
            }
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
