//! `POST /signout` (spec §1.6): CSRF-checked; tells listeners, clears the session cookie
//! and redirects to the callback URL.

use http::StatusCode;

use super::{Cx, Fault, Next, RouteFlow, Started};
use crate::cookies::{set_cookie, Lifetime};
use crate::effect::{AuthEvent, Effect, Outcome};

crate::flow! {
    /// Sign out (JWT sessions): nothing is stored, so clearing the cookie ends the session.
    pub mod signout = "signout" {
        states { Received, Notifying, SignedOut, Rejected }
        events { CsrfRejected, CsrfVerified, Notified }
        initial Received;
        Received + CsrfRejected => Rejected, guard "csrfToken not verified", effect "redirect signout?csrf=true (session kept)";
        Received + CsrfVerified => Notifying, guard "csrfToken verified", effect "Event: signOut(decoded token or none)";
        Notifying + Notified => SignedOut, guard "", effect "clear session cookie; redirect callbackUrl";
    }
}

use signout::{Event as E, State as S};

struct SignOut {
    m: signout::Machine,
}

pub(super) fn start(cx: &mut Cx) -> Result<Started, Fault> {
    let mut m = signout::machine();
    if !cx.csrf_verified {
        m.fire(E::CsrfRejected, &mut cx.trace)?;
        let target = format!("{}?csrf=true", cx.route("/signout"));
        return Ok((Next::Reply(cx.redirect(target, StatusCode::OK)), None));
    }
    m.fire(E::CsrfVerified, &mut cx.trace)?;
    let mut flow = SignOut { m };
    if cx.config.hooks.events {
        let token = cx.session_cookie().and_then(|c| cx.decode_session(c).ok());
        let event = Effect::Event(AuthEvent::SignOut { token });
        return Ok((Next::Effect(event), Some(Box::new(flow))));
    }
    let next = flow.signed_out(cx)?;
    Ok((next, None))
}

impl RouteFlow for SignOut {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (self.m.state(), outcome) {
            (S::Notifying, Outcome::Notified) => self.signed_out(cx),
            _ => Err(Fault::Unexpected("signout: outcome does not answer the effect")),
        }
    }
}

impl SignOut {
    fn signed_out(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        self.m.fire(E::Notified, &mut cx.trace)?;
        let clear = set_cookie(&cx.config.cookies.session_token, "", Lifetime::Delete { now: cx.now });
        let reply = cx.redirect(cx.callback_url.clone(), StatusCode::OK).with_cookie(clear);
        Ok(Next::Reply(reply))
    }
}
