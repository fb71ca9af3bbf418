//! `GET /session` with JWT sessions (spec §6.2): decode, let the callbacks shape it,
//! re-issue the cookie (sliding expiry), answer the session JSON — or `{}`.

use serde_json::Value;
use time::OffsetDateTime;

use super::ask::{JwtCall, SessionCall};
use super::revocation::{self, Revocation};
use super::{ask, Cx, Fault, Flow};
use crate::cookies::{set_cookie, Lifetime};
use crate::effect::{AuthEvent, HookFailure};
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
        Received + RevocationUnknown => Failed, guard "jwt.revocable and the store cannot say whether the jti is revoked", effect "503 {} with Retry-After (cookie kept)";
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

/// A valid session token being read, with what every later state needs.
struct SessionRead {
    m: session_jwt::Machine,
    token: Claims,
    /// When this session signed in (Unix seconds): kept through renewal, whatever the
    /// `jwt` callback returns.
    auth_time: i64,
    /// Whether renewed tokens carry `auth_time` (see `start`).
    stamp: bool,
}

pub(super) fn start(cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
    let mut m = session_jwt::machine();
    let Some(cookie) = cx.session_cookie().map(str::to_owned) else {
        m.fire(E::NoCookie, &mut cx.trace)?;
        return Ok(Flow::Done(super::no_session()));
    };
    let decoded = cx.decode_session(&cookie).and_then(|token| {
        let auth_time = super::session_auth_time(&token)?;
        Ok((token, auth_time))
    });
    let Ok((mut token, auth_time)) = decoded else {
        m.fire(E::TokenInvalid, &mut cx.trace)?;
        return Ok(Flow::Done(super::no_session_cleared(cx)));
    };
    // A token from before the claim (or from v3) gets its `iat` as sign-in time; at the
    // second it was issued the renewed `iat` says the same, so it stays byte-identical.
    let stamp = token.contains_key(super::AUTH_TIME) || auth_time != cx.now.unix_timestamp();
    if stamp {
        token.insert(super::AUTH_TIME.into(), auth_time.into());
    }
    let mut read = SessionRead {
        m,
        token,
        auth_time,
        stamp,
    };
    if cx.config.jwt_revocable {
        let Some((check, question)) = revocation::check(&read.token) else {
            // A token without a `jti` could never be revoked: not accepted.
            read.m.fire(E::TokenInvalid, &mut cx.trace)?;
            return Ok(Flow::Done(super::no_session_cleared(cx)));
        };
        return Ok(ask(question, move |cx, answer| {
            match check.answer(cx, answer)? {
                Revocation::Live => read.go_on(cx),
                Revocation::Revoked => {
                    read.m.fire(E::TokenInvalid, &mut cx.trace)?;
                    Ok(Flow::Done(super::no_session_cleared(cx)))
                }
                Revocation::Unknown => {
                    read.m.fire(E::RevocationUnknown, &mut cx.trace)?;
                    Ok(Flow::Done(super::session_unavailable()))
                }
            }
        }));
    }
    read.go_on(cx)
}

impl SessionRead {
    /// A valid (and, if asked, unrevoked) token: renew the provider's access token if it
    /// expired, else run the `jwt` callback.
    fn go_on(mut self, cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
        let Some(provider) = self.expired_access_token(cx) else {
            self.m.fire(E::TokenValid, &mut cx.trace)?;
            return self.jwt_hook(cx);
        };
        self.m.fire(E::AccessTokenExpired, &mut cx.trace)?;
        if provider.endpoints.token.is_none() {
            let issuer = provider.endpoints.issuer.clone().unwrap_or_default();
            let discovery = crate::oauth::client::discovery_call(&issuer);
            return Ok(ask(discovery, move |cx, answer| {
                self.on_discovery(cx, provider, answer)
            }));
        }
        let endpoints = provider.endpoints.clone();
        self.refresh_call(cx, provider, &endpoints)
    }

    fn jwt_hook(mut self, cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
        // Moved, not copied (this is every session read): `on_token` puts back the
        // claims the callback answers, or these.
        let token = std::mem::take(&mut self.token);
        if cx.config.hooks.jwt && cx.config.hooks.jwt_on_read {
            let question = JwtCall {
                token,
                user: None,
                account: None,
                profile: None,
                is_new_user: None,
            };
            return Ok(ask(question, move |cx, result| self.on_token(cx, result)));
        }
        self.on_token(cx, Ok(token))
    }

    /// With provider tokens kept: the provider to renew an expired access token at, when
    /// it expired and a refresh token is held.
    fn expired_access_token(&self, cx: &Cx) -> Option<Box<OAuthProvider>> {
        if !cx.config.provider_tokens_in_jwt {
            return None;
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
            .and_then(|id| renewal::renewable_provider(&cx.config, id));
        match (due, refresh, provider) {
            (true, Some(_), Some(provider)) => Some(Box::new(provider.clone())),
            _ => None,
        }
    }

    fn refresh_call(
        self,
        cx: &mut Cx,
        provider: Box<OAuthProvider>,
        endpoints: &crate::oauth::Endpoints,
    ) -> Result<Flow<Reply>, Fault> {
        let call = self
            .token
            .get("refreshToken")
            .and_then(Value::as_str)
            .map(crate::secret::SecretString::from)
            .and_then(|refresh| {
                renewal::refresh_request(&provider, endpoints, &refresh, cx.now).ok()
            });
        match call {
            Some(call) => Ok(ask(call, move |cx, answer| {
                let tokens = answer
                    .ok()
                    .and_then(|r| crate::oauth::client::parse_tokens(&provider, &r, cx.now).ok());
                self.renewed(cx, tokens)
            })),
            None => self.renewed(cx, None),
        }
    }

    /// The discovery answer: now the refresh grant at the endpoint it names.
    fn on_discovery(
        mut self,
        cx: &mut Cx,
        provider: Box<OAuthProvider>,
        answer: Result<crate::http::HttpResponse, crate::http::HttpFailure>,
    ) -> Result<Flow<Reply>, Fault> {
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

    /// Records the renewal's result in the token, then runs the `jwt` callback.
    fn renewed(
        mut self,
        cx: &mut Cx,
        tokens: Option<crate::oauth::client::TokenSet>,
    ) -> Result<Flow<Reply>, Fault> {
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

    /// The renewed session's expiry: `maxAge` from now, but never past the absolute
    /// lifetime counted from sign-in.
    fn expires(&self, cx: &Cx) -> time::OffsetDateTime {
        super::jwt_session_expiry(&cx.config, self.auth_time, cx.now)
    }

    fn on_token(
        mut self,
        cx: &mut Cx,
        result: Result<Claims, HookFailure>,
    ) -> Result<Flow<Reply>, Fault> {
        let Ok(mut token) = result else {
            self.m.fire(E::HookFailed, &mut cx.trace)?;
            return Ok(Flow::Done(super::no_session_cleared(cx)));
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
            let question = SessionCall {
                session,
                token: Value::Object(self.token.clone()),
            };
            return Ok(ask(question, move |cx, result| self.on_session(cx, result)));
        }
        self.on_session(cx, Ok(session))
    }

    fn on_session(
        mut self,
        cx: &mut Cx,
        result: Result<Value, HookFailure>,
    ) -> Result<Flow<Reply>, Fault> {
        let encoded = match result {
            Ok(session) => cx
                .encode_session(&self.token)
                .ok()
                .map(|jwt| (session, jwt)),
            Err(_) => None,
        };
        let Some((session, jwt)) = encoded else {
            self.m.fire(E::HookFailed, &mut cx.trace)?;
            return Ok(Flow::Done(super::no_session_cleared(cx)));
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
                token: Some(self.token),
            });
        }
        Ok(Flow::Done(
            Reply::json(session).with_cookie(cookie).no_store(),
        ))
    }
}
