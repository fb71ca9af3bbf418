//! `POST /signin/<oauth provider>` (spec §7.5, §7.6): send the browser to the provider with
//! fresh one-time checks sealed in cookies, or — OAuth 1.0a — fetch a request token first.

use crate::error::ErrorCode;
use http::StatusCode;
use serde_json::Value;

use super::{ask, Cx, Fault, Flow};
use crate::config::SessionStrategy;
use crate::http::{HttpCall, HttpResponse};
use crate::oauth::checks::{self, Binding, Purpose};
use crate::oauth::client::{self, SignInChecks};
use crate::oauth::{oauth1, Endpoints, OAuthProvider, Protocol};
use crate::response::Reply;
use crate::secret::{Nonce, OAuthState, PkceVerifier};

crate::flow! {
    /// Start an OAuth sign-in: to the provider's authorisation page.
    pub(crate) mod oauth_signin = "oauth_signin" {
        states { Received, Discovering, RequestingToken, Redirected, Failed }
        events { Ready, NeedsDiscovery, Discovered, OAuth1, TokenReceived, ProviderFailed }
        initial Received;
        Received + Ready => Redirected, guard "OAuth 2, endpoints known", effect "Set-Cookie: sealed state, PKCE verifier, nonce (15 min); redirect to the authorisation URL";
        Received + NeedsDiscovery => Discovering, guard "OpenID issuer without configured endpoints", effect "Http: discovery document (cached)";
        Discovering + Discovered => Redirected, guard "the document names the configured issuer", effect "Set-Cookie: sealed state, PKCE verifier, nonce (15 min); redirect to the authorisation URL";
        Discovering + ProviderFailed => Failed, guard "unreachable, malformed or another issuer's document", effect "redirect error?error=OAuthSignin";
        Received + OAuth1 => RequestingToken, guard "OAuth 1.0a", effect "Http: request token (signed, with oauth_callback)";
        RequestingToken + TokenReceived => Redirected, guard "oauth_token and secret, callback confirmed", effect "Set-Cookie: sealed token secret (15 min); redirect to authorize?oauth_token=…";
        RequestingToken + ProviderFailed => Failed, guard "transport error, non-2xx, or a malformed answer", effect "redirect error?error=OAuthSignin";
    }
}

use oauth_signin::Event as E;

pub(super) fn binding(cx: &Cx, provider_id: &str, provider: &OAuthProvider) -> Binding {
    Binding {
        provider_id: provider_id.to_owned(),
        client_id: provider.client_id.clone(),
        redirect_uri: cx.callback_route(provider_id),
        session: session_key(cx),
    }
}

/// Which session this request carries, as `base64url(sha256(…))` (so a check cookie never
/// holds a session token): a database session by its token; a JWT session — re-issued on
/// every read — by its `sub` and `jti`, which renewals keep. `None`: no valid session.
pub(super) fn session_key(cx: &Cx) -> Option<String> {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let cookie = cx.session_cookie()?;
    let id = match cx.config.session.strategy {
        SessionStrategy::Jwt => {
            let claims = cx.decode_session(cookie).ok()?;
            let text = |name: &str| match claims.get(name) {
                Some(Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            format!("jwt\n{}\n{}", text("sub"), text("jti"))
        }
        SessionStrategy::Database => format!("database\n{cookie}"),
    };
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(id.as_bytes())))
}

struct OAuthSignIn {
    m: oauth_signin::Machine,
    provider_id: String,
    provider: OAuthProvider,
}

pub(super) fn start(
    cx: &mut Cx,
    provider_id: String,
    provider: OAuthProvider,
) -> Result<Flow<Reply>, Fault> {
    let mut flow = OAuthSignIn {
        m: oauth_signin::machine(),
        provider_id,
        provider,
    };
    if flow.provider.protocol == Protocol::OAuth1 {
        flow.m.fire(E::OAuth1, &mut cx.trace)?;
        let Some(call) = flow.request_token_call(cx) else {
            return flow.fail(cx);
        };
        return Ok(ask(call, move |cx, answer| {
            match answer.ok().and_then(request_token) {
                Some((token, secret)) => flow.redirect_to_oauth1(cx, &token, &secret),
                None => flow.fail(cx),
            }
        }));
    }
    if flow.provider.endpoints.needs_discovery() {
        flow.m.fire(E::NeedsDiscovery, &mut cx.trace)?;
        let issuer = flow.provider.endpoints.issuer.clone().unwrap_or_default();
        let call = client::discovery_call(&issuer);
        return Ok(ask(call, move |cx, answer| {
            match client::discovered(&flow.provider, answer) {
                Some(endpoints) => {
                    flow.m.fire(E::Discovered, &mut cx.trace)?;
                    flow.redirect_to_provider(cx, &endpoints)
                }
                None => flow.fail(cx),
            }
        }));
    }
    flow.m.fire(E::Ready, &mut cx.trace)?;
    let endpoints = flow.provider.endpoints.clone();
    flow.redirect_to_provider(cx, &endpoints)
}

/// `oauth_token` and `oauth_token_secret` of a confirmed request-token answer.
fn request_token(response: HttpResponse) -> Option<(String, String)> {
    if !response.is_success() {
        return None;
    }
    let pairs = oauth1::parse_form(&response.body);
    let get = |name: &str| oauth1::form_value(&pairs, name);
    // OAuth 1.0a: the provider must confirm it took our callback (RFC 5849 §2.1).
    if get("oauth_callback_confirmed").as_deref() != Some("true") {
        return None;
    }
    Some((get("oauth_token")?, get("oauth_token_secret")?))
}

impl OAuthSignIn {
    fn fail(&mut self, cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
        self.m.fire(E::ProviderFailed, &mut cx.trace)?;
        Ok(Flow::Done(cx.redirect(
            cx.error_url(&ErrorCode::OAuthSignin),
            StatusCode::OK,
        )))
    }

    /// The caller's `authorizationParams` (the query of `POST /signin/<id>`, spec §7.5).
    fn extra_params(cx: &Cx) -> Vec<(String, String)> {
        cx.req
            .query
            .iter()
            .filter(|(k, _)| k.as_str() != "nextauth")
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                _ => None,
            })
            .collect()
    }

    fn redirect_to_provider(
        &mut self,
        cx: &mut Cx,
        endpoints: &Endpoints,
    ) -> Result<Flow<Reply>, Fault> {
        let binding = binding(cx, &self.provider_id, &self.provider);
        let wanted = self.provider.checks;
        let mut cookies = Vec::new();
        let mut seal = |cx: &mut Cx, purpose, policy: &crate::cookies::CookiePolicy| {
            let value = checks::random_value(&mut *cx.rng);
            let sealed = checks::seal(
                &cx.config.secrets,
                purpose,
                &binding,
                &value,
                cx.now,
                &mut *cx.rng,
            )
            .map_err(|_| Fault::Unexpected("oauth_signin: cannot seal a check"))?;
            cookies.push(checks::set(policy, &sealed, cx.now));
            Ok::<_, Fault>(value)
        };
        let table = cx.config.cookies.clone();
        let verifier = if wanted.pkce {
            Some(PkceVerifier::new(seal(
                cx,
                Purpose::Pkce,
                &table.pkce_code_verifier,
            )?))
        } else {
            None
        };
        let state = if wanted.state {
            Some(OAuthState::new(seal(cx, Purpose::State, &table.state)?))
        } else {
            None
        };
        let nonce = if wanted.nonce {
            Some(Nonce::new(seal(cx, Purpose::Nonce, &table.nonce)?))
        } else {
            None
        };
        let challenge = verifier.as_ref().map(checks::pkce_challenge);
        let url = client::authorization_url(
            &self.provider,
            endpoints,
            &binding.redirect_uri,
            &SignInChecks {
                state: state.as_ref(),
                code_challenge: challenge.as_deref(),
                nonce: nonce.as_ref(),
            },
            &Self::extra_params(cx),
        );
        let Ok(url) = url else {
            // Validated configuration makes this unreachable; fail closed all the same.
            return Ok(Flow::Done(
                cx.redirect(cx.error_url(&ErrorCode::OAuthSignin), StatusCode::OK),
            ));
        };
        let mut reply = cx.redirect(url, StatusCode::OK).no_store();
        for cookie in cookies {
            reply = reply.with_cookie(cookie);
        }
        Ok(Flow::Done(reply))
    }

    /// The signed request-token call; `None` if it cannot be signed.
    fn request_token_call(&self, cx: &mut Cx) -> Option<HttpCall> {
        let url = self.provider.endpoints.request_token.clone()?;
        let callback = cx.callback_route(&self.provider_id);
        let nonce = cx.random_hex(16);
        let signing = oauth1::Signing {
            consumer_key: &self.provider.client_id,
            consumer_secret: self.provider.client_secret.consumer_secret(),
            token: None,
            callback: Some(&callback),
            verifier: None,
            nonce: &nonce,
            timestamp: cx.now.unix_timestamp().max(1) as u64,
        };
        oauth1::sign(HttpCall::post_form(url, &[]), &signing).ok()
    }

    fn redirect_to_oauth1(
        &mut self,
        cx: &mut Cx,
        token: &str,
        secret: &str,
    ) -> Result<Flow<Reply>, Fault> {
        let base = self
            .provider
            .endpoints
            .authorization
            .clone()
            .unwrap_or_default();
        let Ok(mut url) = url::Url::parse(&base) else {
            return self.fail(cx);
        };
        self.m.fire(E::TokenReceived, &mut cx.trace)?;
        let binding = binding(cx, &self.provider_id, &self.provider);
        // The request token rides along with its secret, so the callback can check that the
        // provider returned the token this browser was given.
        let value = format!("{token}\n{secret}");
        let sealed = checks::seal(
            &cx.config.secrets,
            Purpose::TokenSecret,
            &binding,
            &value,
            cx.now,
            &mut *cx.rng,
        )
        .map_err(|_| Fault::Unexpected("oauth_signin: cannot seal a check"))?;
        let cookie = checks::set(&cx.config.cookies.oauth_token_secret, &sealed, cx.now);
        url.query_pairs_mut().append_pair("oauth_token", token);
        let reply = cx
            .redirect(String::from(url), StatusCode::OK)
            .no_store()
            .with_cookie(cookie);
        Ok(Flow::Done(reply))
    }
}
