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
    pub(crate) mod signout = "signout" {
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

use signout::Event as E;

/// A sign-out waiting on the store, with what its state needs and nothing else.
struct SignOut {
    m: signout::Machine,
    waiting: Waiting,
}

enum Waiting {
    /// Reading the cookie's session (for the event) under the keys it may be stored under.
    Loading(SessionKeys),
    /// Deleting the session: the row, when it was found.
    Deleting(Option<Session>),
    /// Revoking this JWT session's `jti`: its claims, for the event.
    Revoking(crate::jwt::Claims),
    /// Answered: no outcome is expected.
    Done,
}

pub(super) fn start(cx: &mut Cx) -> Result<Started, Fault> {
    let mut m = signout::machine();
    if !cx.csrf_verified {
        m.fire(E::CsrfRejected, &mut cx.trace)?;
        let target = format!("{}?csrf=true", cx.route("/signout"));
        return Ok((Next::Done(cx.redirect(target, StatusCode::OK)), None));
    }
    let cookie = cx.session_cookie().map(str::to_owned);
    // A cookie with a stored key's shape is no session of ours (session_key): not looked up.
    let keys = cookie.as_deref().and_then(SessionKeys::for_cookie);
    match (cx.config.session.strategy, keys) {
        (SessionStrategy::Database, Some(keys)) => {
            m.fire(E::DatabaseSession, &mut cx.trace)?;
            let effect = Effect::Store(StoreOp::GetSessionAndUser(keys.clone()));
            let waiting = Waiting::Loading(keys);
            Ok((Next::Effect(effect), Some(Box::new(SignOut { m, waiting }))))
        }
        (strategy, _) => {
            let token = cookie
                .filter(|_| strategy == SessionStrategy::Jwt)
                .and_then(|c| cx.decode_session(&c).ok());
            let revoke = token
                .as_ref()
                .filter(|_| cx.config.jwt_revocable)
                .and_then(|t| {
                    super::revocation::revoke(t, cx.now, cx.config.jwt.max_age).map(|op| (op, t))
                });
            if let Some((revoke, token)) = revoke {
                m.fire(E::RevocableJwt, &mut cx.trace)?;
                let waiting = Waiting::Revoking(token.clone());
                let flow = SignOut { m, waiting };
                return Ok((Next::Effect(Effect::Store(revoke)), Some(Box::new(flow))));
            }
            m.fire(E::CsrfVerified, &mut cx.trace)?;
            cx.emit(AuthEvent::SignOut {
                token,
                session: None,
            });
            Ok((signed_out(&mut m, cx)?, None))
        }
    }
}

impl RouteFlow for SignOut {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (std::mem::replace(&mut self.waiting, Waiting::Done), outcome) {
            (Waiting::Loading(keys), Outcome::Store(result)) => {
                let session = match result {
                    Ok(StoreReply::MaybeSessionAndUser(found)) => {
                        self.m.fire(E::Loaded, &mut cx.trace)?;
                        found.map(|(session, _)| session)
                    }
                    _ => {
                        self.m.fire(E::StoreFailed, &mut cx.trace)?;
                        None
                    }
                };
                // By the key that matched; every candidate when the lookup failed.
                let keys = match &session {
                    Some(session) => SessionKeys::stored(&session.session_token),
                    None => keys,
                };
                self.waiting = Waiting::Deleting(session);
                Ok(Next::Effect(Effect::Store(StoreOp::DeleteSession(keys))))
            }
            (Waiting::Deleting(session), Outcome::Store(result)) => {
                let event = if result.is_ok() {
                    E::Deleted
                } else {
                    E::StoreFailed
                };
                self.m.fire(event, &mut cx.trace)?;
                cx.emit(AuthEvent::SignOut {
                    token: None,
                    session,
                });
                signed_out(&mut self.m, cx)
            }
            (Waiting::Revoking(token), Outcome::Store(result)) => {
                let event = if result.is_ok() {
                    E::Revoked
                } else {
                    E::StoreFailed
                };
                self.m.fire(event, &mut cx.trace)?;
                cx.emit(AuthEvent::SignOut {
                    token: Some(token),
                    session: None,
                });
                signed_out(&mut self.m, cx)
            }
            _ => Err(Fault::Unexpected(
                "signout: outcome does not answer the effect",
            )),
        }
    }
}

/// The cookie cleared and the user sent to the callback URL.
fn signed_out(m: &mut signout::Machine, cx: &mut Cx) -> Result<Next, Fault> {
    m.fire(E::Notified, &mut cx.trace)?;
    let clear = cx.clear_session_cookie();
    let reply = cx
        .redirect(cx.callback_url.clone(), StatusCode::OK)
        .with_cookie(clear);
    Ok(Next::Done(reply))
}
