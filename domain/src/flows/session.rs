//! `GET /session` with JWT sessions (spec §6.2): decode, let the callbacks shape it,
//! re-issue the cookie (sliding expiry), answer the session JSON — or `{}`.

use serde_json::{json, Value};

use super::{iso, truthy, Cx, Fault, Next, RouteFlow, Started};
use crate::cookies::{set_cookie, Lifetime};
use crate::effect::{AuthEvent, Effect, HookCall, HookFailure, Outcome};
use crate::jwt::Claims;
use crate::response::Reply;

crate::flow! {
    /// Read a JWT session and slide its expiry.
    pub mod session_jwt = "session_jwt" {
        states { Received, Anonymous, Refreshing, Shaping, Served, Cleared }
        events { NoCookie, TokenInvalid, TokenValid, TokenReady, SessionReady, HookFailed }
        initial Received;
        Received + NoCookie => Anonymous, guard "no session cookie", effect "{}";
        Received + TokenInvalid => Cleared, guard "decode fails: tampered, expired, wrong key or algorithm", effect "clear session cookie; {}";
        Received + TokenValid => Refreshing, guard "decode succeeds", effect "Hook: jwt(token)";
        Refreshing + TokenReady => Shaping, guard "", effect "Hook: session(session, token)";
        Refreshing + HookFailed => Cleared, guard "jwt callback fails", effect "clear session cookie; {}";
        Shaping + SessionReady => Served, guard "token re-encodes", effect "Set-Cookie: session-token (re-encoded); Event: session; session JSON";
        Shaping + HookFailed => Cleared, guard "session callback or encoding fails", effect "clear session cookie; {}";
    }
}

use session_jwt::{Event as E, State as S};

struct SessionRead {
    m: session_jwt::Machine,
    token: Claims,
    /// The reply waiting for the `session` event to be delivered.
    served: Option<Reply>,
}

pub(super) fn start(cx: &mut Cx) -> Result<Started, Fault> {
    let mut m = session_jwt::machine();
    let Some(cookie) = cx.session_cookie().map(str::to_owned) else {
        m.fire(E::NoCookie, &mut cx.trace)?;
        return Ok((Next::Reply(super::no_session()), None));
    };
    let Ok(token) = cx.decode_session(&cookie) else {
        m.fire(E::TokenInvalid, &mut cx.trace)?;
        return Ok((Next::Reply(super::no_session_cleared(cx)), None));
    };
    m.fire(E::TokenValid, &mut cx.trace)?;
    let mut flow = SessionRead {
        m,
        token: token.clone(),
        served: None,
    };
    let next = if cx.config.hooks.jwt {
        Next::Effect(Effect::Hook(HookCall::Jwt {
            token,
            user: None,
            account: None,
            profile: None,
            is_new_user: None,
        }))
    } else {
        flow.on_token(cx, Ok(token))?
    };
    Ok((next, Some(Box::new(flow))))
}

impl RouteFlow for SessionRead {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (self.m.state(), outcome) {
            (S::Refreshing, Outcome::Token(result)) => self.on_token(cx, result),
            (S::Shaping, Outcome::Session(result)) => self.on_session(cx, result),
            (S::Served, Outcome::Notified) => match self.served.take() {
                Some(reply) => Ok(Next::Reply(reply)),
                None => Err(Fault::Unexpected("session: served twice")),
            },
            _ => Err(Fault::Unexpected(
                "session: outcome does not answer the effect",
            )),
        }
    }
}

impl SessionRead {
    fn expires(cx: &Cx) -> time::OffsetDateTime {
        cx.now + time::Duration::seconds(cx.config.session.max_age)
    }

    fn on_token(
        &mut self,
        cx: &mut Cx,
        result: Result<Claims, HookFailure>,
    ) -> Result<Next, Fault> {
        let Ok(token) = result else {
            self.m.fire(E::HookFailed, &mut cx.trace)?;
            return Ok(Next::Reply(super::no_session_cleared(cx)));
        };
        self.m.fire(E::TokenReady, &mut cx.trace)?;
        let pick = |claim: &str| {
            let value = token.get(claim);
            if truthy(value) {
                value.cloned().unwrap_or(Value::Null)
            } else {
                Value::Null
            }
        };
        let session = json!({
            "user": { "name": pick("name"), "email": pick("email"), "image": pick("picture") },
            "expires": iso(Self::expires(cx)),
        });
        self.token = token;
        if cx.config.hooks.session {
            return Ok(Next::Effect(Effect::Hook(HookCall::Session {
                session,
                token: Value::Object(self.token.clone()),
            })));
        }
        self.on_session(cx, Ok(session))
    }

    fn on_session(
        &mut self,
        cx: &mut Cx,
        result: Result<Value, HookFailure>,
    ) -> Result<Next, Fault> {
        let encoded = match result {
            Ok(session) => cx
                .encode_session(&self.token)
                .ok()
                .map(|jwt| (session, jwt)),
            Err(_) => None,
        };
        let Some((session, jwt)) = encoded else {
            self.m.fire(E::HookFailed, &mut cx.trace)?;
            return Ok(Next::Reply(super::no_session_cleared(cx)));
        };
        self.m.fire(E::SessionReady, &mut cx.trace)?;
        let cookie = set_cookie(
            &cx.config.cookies.session_token,
            &jwt,
            Lifetime::Until(Self::expires(cx)),
        );
        let reply = Reply::json(session.clone()).with_cookie(cookie).no_store();
        if cx.config.hooks.events {
            self.served = Some(reply);
            return Ok(Next::Effect(Effect::Event(AuthEvent::Session {
                session,
                token: Some(self.token.clone()),
            })));
        }
        Ok(Next::Reply(reply))
    }
}
