//! `POST /signout` (spec §1.6): CSRF-checked; with database sessions the row is deleted;
//! listeners are told; the session cookie is cleared and the user redirected to the
//! callback URL.

use http::StatusCode;

use super::{ask, stored, Cx, Fault, Flow};
use crate::config::SessionStrategy;
use crate::effect::AuthEvent;
use crate::model::{Session, User};
use crate::response::Reply;
use crate::session_key::SessionKeys;
use crate::store::StoreError;

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

pub(super) fn start(cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
    let mut m = signout::machine();
    if !cx.csrf_verified {
        m.fire(E::CsrfRejected, &mut cx.trace)?;
        let target = format!("{}?csrf=true", cx.route("/signout"));
        return Ok(Flow::Done(cx.redirect(target, StatusCode::OK)));
    }
    let cookie = cx.session_cookie().map(str::to_owned);
    // A cookie with a stored key's shape is no session of ours (session_key): not looked up.
    let keys = cookie.as_deref().and_then(SessionKeys::for_cookie);
    match (cx.config.session.strategy, keys) {
        (SessionStrategy::Database, Some(keys)) => {
            m.fire(E::DatabaseSession, &mut cx.trace)?;
            let lookup = stored::get_session_and_user(keys.clone());
            Ok(ask(lookup, move |cx, found| loaded(m, cx, keys, found)))
        }
        (strategy, _) => {
            let token = cookie
                .filter(|_| strategy == SessionStrategy::Jwt)
                .and_then(|c| cx.decode_session(&c).ok());
            let revoke = token
                .as_ref()
                .filter(|_| cx.config.jwt_revocable)
                .and_then(|t| super::revocation::revoke(t, cx.now, cx.config.jwt.max_age));
            match (revoke, token) {
                (Some(revoke), Some(token)) => {
                    m.fire(E::RevocableJwt, &mut cx.trace)?;
                    Ok(ask(revoke, move |cx, revoked| {
                        m.fire(written(&revoked, E::Revoked), &mut cx.trace)?;
                        cx.emit(AuthEvent::SignOut {
                            token: Some(token),
                            session: None,
                        });
                        signed_out(m, cx)
                    }))
                }
                (_, token) => {
                    m.fire(E::CsrfVerified, &mut cx.trace)?;
                    cx.emit(AuthEvent::SignOut {
                        token,
                        session: None,
                    });
                    signed_out(m, cx)
                }
            }
        }
    }
}

/// The cookie's session was looked up (for the event): delete it, by the key that matched,
/// or by every candidate when the lookup failed.
fn loaded(
    mut m: signout::Machine,
    cx: &mut Cx,
    keys: SessionKeys,
    found: Result<Option<(Session, User)>, StoreError>,
) -> Result<Flow<Reply>, Fault> {
    let session = match found {
        Ok(found) => {
            m.fire(E::Loaded, &mut cx.trace)?;
            found.map(|(session, _)| session)
        }
        Err(_) => {
            m.fire(E::StoreFailed, &mut cx.trace)?;
            None
        }
    };
    let keys = match &session {
        Some(session) => SessionKeys::stored(&session.session_token),
        None => keys,
    };
    Ok(ask(stored::delete_session(keys), move |cx, deleted| {
        m.fire(written(&deleted, E::Deleted), &mut cx.trace)?;
        cx.emit(AuthEvent::SignOut {
            token: None,
            session,
        });
        signed_out(m, cx)
    }))
}

/// `done` when the store took the write; a failed one is logged and sign-out goes on.
fn written(result: &Result<(), StoreError>, done: E) -> E {
    match result {
        Ok(_) => done,
        Err(_) => E::StoreFailed,
    }
}

/// The cookie cleared and the user sent to the callback URL.
fn signed_out(mut m: signout::Machine, cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
    m.fire(E::Notified, &mut cx.trace)?;
    let clear = cx.clear_session_cookie();
    let reply = cx
        .redirect(cx.callback_url.clone(), StatusCode::OK)
        .with_cookie(clear);
    Ok(Flow::Done(reply))
}
