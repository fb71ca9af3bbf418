//! `GET /session` with JWT sessions (spec §6.2): decode, let the callbacks shape it,
//! re-issue the cookie (sliding expiry), answer the session JSON — or `{}`.

use serde_json::Value;
use time::OffsetDateTime;

use super::revocation::{self, Revocation};
use super::{Cx, Fault, Next, RouteFlow, Started};
use crate::cookies::{set_cookie, Lifetime};
use crate::effect::{AuthEvent, Effect, HookCall, HookFailure, Outcome};
use crate::jwt::Claims;
use crate::oauth::{renewal, OAuthProvider};
use crate::response::Reply;

crate::flow! {
    /// Read a JWT session and slide its expiry.
    pub(crate) mod session_jwt = "session_jwt" {
        states { Received, Anonymous, Renewing, Refreshing, Shaping, Served, Cleared, Failed }
        events { NoCookie, TokenInvalid, TokenValid, AccessTokenExpired, Discovered, Renewed, RenewFailed, TokenReady, SessionReady, HookFailed, RevocationUnknown }
        initial Received;
        Received + NoCookie => Anonymous, guard "no session cookie", effect "{}";
        Received + TokenInvalid => Cleared, guard "decode fails: tampered, expired, too old, wrong key or algorithm; or jwt.revocable and the jti is revoked or missing", effect "clear session cookie; {}";
        Received + RevocationUnknown => Failed, guard "jwt.revocable and the store cannot say whether the jti is revoked", effect "{} (cookie kept)";
        Received + TokenValid => Refreshing, guard "decode succeeds (and, with jwt.revocable, the jti is not revoked)", effect "Hook: jwt(token)";
        Received + AccessTokenExpired => Renewing, guard "provider tokens kept: the access token expired and a refresh token is held", effect "Http: discovery (cached) if needed, else the refresh grant";
        Renewing + Discovered => Renewing, guard "the token endpoint is known now", effect "Http: refresh grant";
        Renewing + Renewed => Refreshing, guard "a new access token (and rotated refresh token)", effect "Hook: jwt(token)";
        Renewing + RenewFailed => Refreshing, guard "the provider refuses or cannot be reached", effect "token.error = RefreshAccessTokenError; Hook: jwt(token)";
        Refreshing + TokenReady => Shaping, guard "", effect "Hook: session(session, token)";
        Refreshing + HookFailed => Cleared, guard "jwt callback fails", effect "clear session cookie; {}";
        Shaping + SessionReady => Served, guard "token re-encodes", effect "Set-Cookie: session-token (re-encoded); Event: session; session JSON";
        Shaping + HookFailed => Cleared, guard "session callback or encoding fails", effect "clear session cookie; {}";
    }
}

/// The error a session carries when its provider refused to renew the access token.
pub(crate) const REFRESH_ACCESS_TOKEN_ERROR: &str = "RefreshAccessTokenError";

/// Copies the provider's tokens from the sign-in account into the JWT claims.
pub(super) fn keep_provider_tokens(token: &mut Claims, account: &Value) {
    let Some(access) = account.get("accessToken").filter(|v| v.is_string()) else {
        return;
    };
    token.insert("provider".into(), account["provider"].clone());
    token.insert("accessToken".into(), access.clone());
    for claim in ["accessTokenExpires", "refreshToken"] {
        if let Some(value) = account.get(claim).filter(|v| !v.is_null()) {
            token.insert(claim.into(), value.clone());
        }
    }
}

use session_jwt::Event as E;

struct SessionRead {
    m: session_jwt::Machine,
    token: Claims,
    waiting: Waiting,
    /// When this session signed in (Unix seconds): kept through renewal, whatever the
    /// `jwt` callback returns.
    auth_time: i64,
    /// Whether renewed tokens carry `auth_time` (see `start`).
    stamp: bool,
}

/// What the read waits for, with what that state needs.
enum Waiting {
    /// With `jwt.revocable`: the store's answer, whether the token was revoked.
    Revocation(revocation::Check),
    /// This provider's discovery document, for its token endpoint.
    Discovering(Box<OAuthProvider>),
    /// This provider's answer to the refresh grant.
    Renewing(Box<OAuthProvider>),
    /// The `jwt` callback.
    Refreshing,
    /// The `session` callback.
    Shaping,
    /// Nothing: answered.
    Done,
}

pub(super) fn start(cx: &mut Cx) -> Result<Started, Fault> {
    let mut m = session_jwt::machine();
    let Some(cookie) = cx.session_cookie().map(str::to_owned) else {
        m.fire(E::NoCookie, &mut cx.trace)?;
        return Ok((Next::Done(super::no_session()), None));
    };
    let decoded = cx.decode_session(&cookie).and_then(|token| {
        let auth_time = super::session_auth_time(&token)?;
        Ok((token, auth_time))
    });
    let Ok((mut token, auth_time)) = decoded else {
        m.fire(E::TokenInvalid, &mut cx.trace)?;
        return Ok((Next::Done(super::no_session_cleared(cx)), None));
    };
    // A token from before the claim (or from v3) gets its `iat` as sign-in time; at the
    // second it was issued the renewed `iat` says the same, so it stays byte-identical.
    let stamp = token.contains_key(super::AUTH_TIME) || auth_time != cx.now.unix_timestamp();
    if stamp {
        token.insert(super::AUTH_TIME.into(), auth_time.into());
    }
    let mut flow = SessionRead {
        m,
        token,
        waiting: Waiting::Done,
        auth_time,
        stamp,
    };
    if cx.config.jwt_revocable {
        let Some((check, ask)) = revocation::ask(&flow.token) else {
            // A token without a `jti` could never be revoked: not accepted.
            flow.m.fire(E::TokenInvalid, &mut cx.trace)?;
            return Ok((Next::Done(super::no_session_cleared(cx)), None));
        };
        flow.waiting = Waiting::Revocation(check);
        return Ok((Next::Effect(ask), Some(Box::new(flow))));
    }
    let next = flow.go_on(cx)?;
    Ok((next, Some(Box::new(flow))))
}

impl SessionRead {
    /// A valid (and, if asked, unrevoked) token: renew the provider's access token if it
    /// expired, else run the `jwt` callback.
    fn go_on(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        if let Some(next) = self.renew_if_expired(cx)? {
            return Ok(next);
        }
        self.m.fire(E::TokenValid, &mut cx.trace)?;
        self.jwt_hook(cx)
    }

    fn on_revocation(
        &mut self,
        cx: &mut Cx,
        check: revocation::Check,
        outcome: Outcome,
    ) -> Result<Next, Fault> {
        match check.answer(cx, outcome)? {
            Revocation::Live => self.go_on(cx),
            Revocation::Revoked => {
                self.m.fire(E::TokenInvalid, &mut cx.trace)?;
                Ok(Next::Done(super::no_session_cleared(cx)))
            }
            Revocation::Unknown => {
                self.m.fire(E::RevocationUnknown, &mut cx.trace)?;
                Ok(Next::Done(super::no_session()))
            }
        }
    }

    fn jwt_hook(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        // Moved, not copied (this is every session read): `on_token` puts back the
        // claims the callback answers, or these.
        let token = std::mem::take(&mut self.token);
        if cx.config.hooks.jwt && cx.config.hooks.jwt_on_read {
            self.waiting = Waiting::Refreshing;
            return Ok(Next::Effect(Effect::Hook(HookCall::Jwt {
                token,
                user: None,
                account: None,
                profile: None,
                is_new_user: None,
            })));
        }
        self.on_token(cx, Ok(token))
    }

    /// With provider tokens kept: starts renewing an expired access token.
    fn renew_if_expired(&mut self, cx: &mut Cx) -> Result<Option<Next>, Fault> {
        if !cx.config.provider_tokens_in_jwt {
            return Ok(None);
        }
        let expires_ms = self.token.get("accessTokenExpires").and_then(Value::as_i64);
        let due = expires_ms.is_some_and(|ms| {
            match OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
                Ok(at) => renewal::due(Some(at), cx.now),
                // Beyond the calendar: long past (due) or far off (not).
                Err(_) => ms < 0,
            }
        });
        let refresh = self.token.get("refreshToken").and_then(Value::as_str);
        let provider = self
            .token
            .get("provider")
            .and_then(Value::as_str)
            .and_then(|id| renewal::renewable_provider(&cx.config, id))
            .cloned();
        let (true, Some(_), Some(provider)) = (due, refresh, provider) else {
            return Ok(None);
        };
        self.m.fire(E::AccessTokenExpired, &mut cx.trace)?;
        let provider = Box::new(provider);
        if provider.endpoints.token.is_none() {
            let issuer = provider.endpoints.issuer.clone().unwrap_or_default();
            self.waiting = Waiting::Discovering(provider);
            return Ok(Some(Next::Effect(Effect::Http(
                crate::oauth::client::discovery_call(&issuer),
            ))));
        }
        let endpoints = provider.endpoints.clone();
        Ok(Some(self.refresh_call(cx, provider, &endpoints)?))
    }

    fn refresh_call(
        &mut self,
        cx: &mut Cx,
        provider: Box<OAuthProvider>,
        endpoints: &crate::oauth::Endpoints,
    ) -> Result<Next, Fault> {
        let call = self
            .token
            .get("refreshToken")
            .and_then(Value::as_str)
            .map(crate::secret::SecretString::from)
            .and_then(|refresh| {
                renewal::refresh_request(&provider, endpoints, &refresh, cx.now).ok()
            });
        match call {
            Some(call) => {
                self.waiting = Waiting::Renewing(provider);
                Ok(Next::Effect(Effect::Http(call)))
            }
            None => self.renewed(cx, None),
        }
    }

    /// The discovery answer: now the refresh grant at the endpoint it names.
    fn on_discovery(
        &mut self,
        cx: &mut Cx,
        provider: Box<OAuthProvider>,
        answer: Result<crate::http::HttpResponse, crate::http::HttpFailure>,
    ) -> Result<Next, Fault> {
        let endpoints = answer
            .ok()
            .and_then(|r| crate::oauth::client::apply_discovery(&provider, &r).ok());
        match endpoints {
            Some(endpoints) => {
                self.m.fire(E::Discovered, &mut cx.trace)?;
                self.refresh_call(cx, provider, &endpoints)
            }
            None => self.renewed(cx, None),
        }
    }

    fn on_renewal(
        &mut self,
        cx: &mut Cx,
        provider: &OAuthProvider,
        answer: Result<crate::http::HttpResponse, crate::http::HttpFailure>,
    ) -> Result<Next, Fault> {
        let tokens = answer
            .ok()
            .and_then(|r| crate::oauth::client::parse_tokens(provider, &r, cx.now).ok());
        self.renewed(cx, tokens)
    }

    /// Records the renewal's result in the token, then runs the `jwt` callback.
    fn renewed(
        &mut self,
        cx: &mut Cx,
        tokens: Option<crate::oauth::client::TokenSet>,
    ) -> Result<Next, Fault> {
        match tokens {
            Some(tokens) => {
                self.m.fire(E::Renewed, &mut cx.trace)?;
                self.token
                    .insert("accessToken".into(), tokens.access_token.expose().into());
                match tokens.expires_at {
                    Some(at) => self.token.insert(
                        "accessTokenExpires".into(),
                        (at.unix_timestamp() * 1000).into(),
                    ),
                    None => self.token.remove("accessTokenExpires"),
                };
                // Keep the old refresh token unless the provider rotated it.
                if let Some(refresh) = tokens.refresh_token {
                    self.token
                        .insert("refreshToken".into(), refresh.expose().into());
                }
                self.token.remove("error");
            }
            None => {
                self.m.fire(E::RenewFailed, &mut cx.trace)?;
                self.token
                    .insert("error".into(), REFRESH_ACCESS_TOKEN_ERROR.into());
            }
        }
        self.jwt_hook(cx)
    }
}

impl RouteFlow for SessionRead {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (std::mem::replace(&mut self.waiting, Waiting::Done), outcome) {
            (Waiting::Revocation(check), outcome @ Outcome::Store(_)) => {
                self.on_revocation(cx, check, outcome)
            }
            (Waiting::Discovering(provider), Outcome::Http(answer)) => {
                self.on_discovery(cx, provider, answer)
            }
            (Waiting::Renewing(provider), Outcome::Http(answer)) => {
                self.on_renewal(cx, &provider, answer)
            }
            (Waiting::Refreshing, Outcome::Token(result)) => self.on_token(cx, result),
            (Waiting::Shaping, Outcome::Session(result)) => self.on_session(cx, result),
            _ => Err(Fault::Unexpected(
                "session: outcome does not answer the effect",
            )),
        }
    }
}

impl SessionRead {
    /// The renewed session's expiry: `maxAge` from now, but never past the absolute
    /// lifetime counted from sign-in.
    fn expires(&self, cx: &Cx) -> time::OffsetDateTime {
        super::jwt_session_expiry(&cx.config, self.auth_time, cx.now)
    }

    fn on_token(
        &mut self,
        cx: &mut Cx,
        result: Result<Claims, HookFailure>,
    ) -> Result<Next, Fault> {
        let Ok(mut token) = result else {
            self.m.fire(E::HookFailed, &mut cx.trace)?;
            return Ok(Next::Done(super::no_session_cleared(cx)));
        };
        self.m.fire(E::TokenReady, &mut cx.trace)?;
        if self.stamp {
            token.insert(super::AUTH_TIME.into(), self.auth_time.into());
        }
        let mut session = super::jwt_session_json(&token, self.expires(cx));
        if cx.config.provider_tokens_in_jwt {
            // The access token is for the app's API calls; the refresh token stays inside.
            for claim in ["accessToken", "error"] {
                if let Some(value) = token.get(claim) {
                    session[claim] = value.clone();
                }
            }
        }
        self.token = token;
        if cx.config.hooks.session {
            self.waiting = Waiting::Shaping;
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
            return Ok(Next::Done(super::no_session_cleared(cx)));
        };
        self.m.fire(E::SessionReady, &mut cx.trace)?;
        let cookie = set_cookie(
            &cx.config.cookies.session_token,
            &jwt,
            Lifetime::Until(self.expires(cx)),
        );
        if cx.config.hooks.events {
            cx.emit(AuthEvent::Session {
                session: session.clone(),
                token: Some(self.token.clone()),
            });
        }
        Ok(Next::Done(
            Reply::json(session).with_cookie(cookie).no_store(),
        ))
    }
}
