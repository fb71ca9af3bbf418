//! The exchange: discovery and the token request ([`oauth_exchange`]), then the profile
//! from the ID token and/or userinfo ([`oauth_profile`]).

use crate::error::ErrorCode;
use serde_json::{Map, Value};

use super::checks::{Grant, Verified};
use super::{account, wait, Authenticated, Callback, Go};
use crate::flows::{Cx, Fault};
use crate::http::{Cache, HttpCall, HttpFailure, HttpResponse};
use crate::oauth::client::{self, TokenSet};
use crate::oauth::id_token::{self, Expectations, IdTokenError};
use crate::oauth::{oauth1, Endpoints, Profile, ProfileSource};
use crate::secret::{AuthorizationCode, Nonce, PkceVerifier, SecretString};

crate::flow! {
    /// An OAuth callback's token exchange (after the checks).
    pub(crate) mod oauth_exchange = "oauth_exchange" {
        states { Received, Discovering, Exchanging, Exchanged, Failed }
        events { EndpointsKnown, NeedsDiscovery, OAuth1, Discovered, ProviderFailed, TokensReceived }
        initial Received;
        Received + EndpointsKnown => Exchanging, guard "OAuth 2, endpoints known", effect "Http: token request (code, PKCE verifier, client authentication)";
        Received + NeedsDiscovery => Discovering, guard "OpenID endpoints not configured", effect "Http: discovery document (cached)";
        Received + OAuth1 => Exchanging, guard "OAuth 1.0a", effect "Http: access token (signed with the request token and oauth_verifier)";
        Discovering + Discovered => Exchanging, guard "the document names the configured issuer", effect "Http: token request (code, PKCE verifier, client authentication)";
        Discovering + ProviderFailed => Failed, guard "unreachable or invalid document", effect "redirect error?error=OAuthCallback";
        Exchanging + ProviderFailed => Failed, guard "request not signable, transport error, non-2xx, unparsable, error answer, no access token, or no ID token (or JWKS) where one is wanted", effect "redirect error?error=OAuthCallback";
        Exchanging + TokensReceived => Exchanged, guard "an access token (and an ID token where one is wanted)", effect "oauth_profile";
    }
}

crate::flow! {
    /// An OAuth callback's profile: the ID token verified against the JWKS, and/or userinfo.
    pub(crate) mod oauth_profile = "oauth_profile" {
        states { Received, FetchingKeys, RefetchingKeys, FetchingProfile, Profiled, Failed }
        events { IdTokenReceived, UserinfoWanted, UnknownKey, IdTokenVerified, IdTokenProfile, IdTokenRejected, ProfileMapped, ProfileRejected }
        initial Received;
        Received + IdTokenReceived => FetchingKeys, guard "OpenID (or a profile from the ID token): an ID token", effect "Http: JWKS (cached)";
        Received + UserinfoWanted => FetchingProfile, guard "profile from userinfo", effect "Http: userinfo (Bearer, or signed for OAuth 1.0a)";
        FetchingKeys + UnknownKey => RefetchingKeys, guard "no key with the token's kid", effect "Http: JWKS again (refresh, rate-floored)";
        FetchingKeys + IdTokenVerified => FetchingProfile, guard "signature and claims valid; userinfo configured", effect "Http: userinfo (Bearer)";
        FetchingKeys + IdTokenProfile => Profiled, guard "signature and claims valid; profile from the ID token", effect "map the claims to a profile; oauth_account";
        FetchingKeys + IdTokenRejected => Failed, guard "JWKS unreachable; alg, signature, iss, aud, azp, exp, iat, nonce or sub wrong", effect "redirect error?error=OAuthCallback";
        RefetchingKeys + IdTokenVerified => FetchingProfile, guard "signature and claims valid; userinfo configured", effect "Http: userinfo (Bearer)";
        RefetchingKeys + IdTokenProfile => Profiled, guard "signature and claims valid; profile from the ID token", effect "map the claims to a profile; oauth_account";
        RefetchingKeys + IdTokenRejected => Failed, guard "still no key, or the token is invalid", effect "redirect error?error=OAuthCallback";
        FetchingProfile + ProfileMapped => Profiled, guard "2xx JSON object with an account id (and the ID token's sub)", effect "map the profile; oauth_account";
        FetchingProfile + ProfileRejected => Failed, guard "request not makeable, transport error, non-2xx, not JSON, no id, or sub differs from the ID token", effect "redirect error?error=OAuthCallback";
    }
}

use oauth_exchange::Event as X;
use oauth_profile::Event as P;

type Answer = Result<HttpResponse, HttpFailure>;

/// An OAuth 2 grant that passed the checks.
struct CodeGrant {
    code: AuthorizationCode,
    code_verifier: Option<PkceVerifier>,
    nonce: Option<Nonce>,
    started_from: Option<String>,
}

/// Waiting for the discovery document.
struct Discovering {
    grant: CodeGrant,
}

/// Waiting for the token answer.
struct Exchanging {
    endpoints: Endpoints,
    /// The ID token's expected nonce.
    nonce: Option<Nonce>,
    started_from: Option<String>,
}

/// Tokens in hand.
struct Exchanged {
    endpoints: Endpoints,
    nonce: Option<Nonce>,
    tokens: TokenSet,
    started_from: Option<String>,
}

/// Waiting for the JWKS to verify `id_token` with.
struct Keys {
    exchanged: Exchanged,
    id_token: SecretString,
}

/// Waiting for userinfo; `id_claims` when an ID token was verified first.
struct Userinfo {
    exchanged: Exchanged,
    id_claims: Option<Map<String, Value>>,
}

/// After the checks: discovery, or straight to the token request.
pub(super) fn start(cb: &mut Callback, cx: &mut Cx, verified: Verified) -> Result<Go, Fault> {
    let endpoints = cb.provider.endpoints.clone();
    let grant = match verified.grant {
        Grant::Code {
            code,
            code_verifier,
            nonce,
        } => CodeGrant {
            code,
            code_verifier,
            nonce,
            started_from: verified.started_from,
        },
        Grant::OAuth1 {
            token,
            secret,
            verifier,
        } => {
            cb.m.exchange.fire(X::OAuth1, &mut cx.trace)?;
            let url = endpoints.token.clone().unwrap_or_default();
            let signed = sign_oauth1(
                cb,
                cx,
                HttpCall::post_form(url, &[]),
                (&token, secret.expose()),
                Some(verifier.expose()),
            );
            let exchanging = Exchanging {
                endpoints,
                nonce: None,
                started_from: verified.started_from,
            };
            return match signed {
                Some(call) => Ok(wait(call, move |cb, cx, answer| {
                    exchanging.on_tokens(cb, cx, answer)
                })),
                None => failed(cb, cx, X::ProviderFailed),
            };
        }
    };
    if endpoints.needs_discovery() {
        cb.m.exchange.fire(X::NeedsDiscovery, &mut cx.trace)?;
        let issuer = endpoints.issuer.clone().unwrap_or_default();
        let discovering = Discovering { grant };
        return Ok(wait(
            client::discovery_call(&issuer),
            move |cb, cx, answer| discovering.on_document(cb, cx, answer),
        ));
    }
    cb.m.exchange.fire(X::EndpointsKnown, &mut cx.trace)?;
    token_request(cb, cx, endpoints, grant)
}

fn failed(cb: &mut Callback, cx: &mut Cx, event: X) -> Result<Go, Fault> {
    cb.m.exchange.fire(event, &mut cx.trace)?;
    Ok(cb.error(cx, ErrorCode::OAuthCallback))
}

fn rejected(cb: &mut Callback, cx: &mut Cx, event: P) -> Result<Go, Fault> {
    cb.m.profile.fire(event, &mut cx.trace)?;
    Ok(cb.error(cx, ErrorCode::OAuthCallback))
}

/// OAuth 2's token request (state `Exchanging`).
fn token_request(
    cb: &mut Callback,
    cx: &mut Cx,
    endpoints: Endpoints,
    grant: CodeGrant,
) -> Result<Go, Fault> {
    let CodeGrant {
        code,
        code_verifier,
        nonce,
        started_from,
    } = grant;
    let call = client::client_secret(&cb.provider, cx.now).and_then(|secret| {
        client::token_call(
            &cb.provider,
            &endpoints,
            &code,
            &cb.binding.redirect_uri,
            code_verifier.as_ref(),
            &secret,
        )
    });
    match call {
        Ok(call) => {
            let exchanging = Exchanging {
                endpoints,
                nonce,
                started_from,
            };
            Ok(wait(call, move |cb, cx, answer| {
                exchanging.on_tokens(cb, cx, answer)
            }))
        }
        // Only a broken Apple key gets here: it fails like a refused exchange.
        Err(_) => failed(cb, cx, X::ProviderFailed),
    }
}

/// `call` signed with `token` (and its secret) and, for the access-token request, the
/// verifier; `None` if it cannot be signed.
fn sign_oauth1(
    cb: &Callback,
    cx: &mut Cx,
    call: HttpCall,
    token: (&str, &str),
    verifier: Option<&str>,
) -> Option<HttpCall> {
    let nonce = cx.random_hex(16);
    let signing = oauth1::Signing {
        consumer_key: &cb.provider.client_id,
        consumer_secret: cb.provider.client_secret.consumer_secret(),
        token: Some(token),
        callback: None,
        verifier,
        nonce: &nonce,
        timestamp: cx.now.unix_timestamp().max(1) as u64,
    };
    oauth1::sign(call, &signing).ok()
}

impl Discovering {
    fn on_document(self, cb: &mut Callback, cx: &mut Cx, answer: Answer) -> Result<Go, Fault> {
        match client::discovered(&cb.provider, answer) {
            Some(endpoints) => {
                cb.m.exchange.fire(X::Discovered, &mut cx.trace)?;
                token_request(cb, cx, endpoints, self.grant)
            }
            None => failed(cb, cx, X::ProviderFailed),
        }
    }
}

impl Exchanging {
    fn on_tokens(self, cb: &mut Callback, cx: &mut Cx, answer: Answer) -> Result<Go, Fault> {
        let Ok(response) = answer else {
            return failed(cb, cx, X::ProviderFailed);
        };
        let tokens = match cb.provider.protocol {
            crate::oauth::Protocol::OAuth2 => {
                client::parse_tokens(&cb.provider, &response, cx.now).ok()
            }
            crate::oauth::Protocol::OAuth1 => oauth1_tokens(&response),
        };
        let Some(tokens) = tokens else {
            return failed(cb, cx, X::ProviderFailed);
        };
        let id_token_wanted =
            cb.provider.is_openid() || cb.provider.profile_source != ProfileSource::Userinfo;
        let exchanged = Exchanged {
            endpoints: self.endpoints,
            nonce: self.nonce,
            started_from: self.started_from,
            tokens,
        };
        if id_token_wanted {
            let id_token = exchanged.tokens.id_token.clone();
            let (Some(id_token), Some(jwks)) = (id_token, exchanged.endpoints.jwks_uri.clone())
            else {
                return failed(cb, cx, X::ProviderFailed);
            };
            cb.m.exchange.fire(X::TokensReceived, &mut cx.trace)?;
            cb.m.profile.fire(P::IdTokenReceived, &mut cx.trace)?;
            let keys = Keys {
                exchanged,
                id_token,
            };
            return Ok(wait(
                HttpCall::get(jwks).cache(Cache::Use),
                move |cb, cx, answer| keys.on_keys(cb, cx, answer, true),
            ));
        }
        cb.m.exchange.fire(X::TokensReceived, &mut cx.trace)?;
        cb.m.profile.fire(P::UserinfoWanted, &mut cx.trace)?;
        userinfo_request(cb, cx, exchanged, None)
    }
}

/// The userinfo call (state `FetchingProfile`). One that cannot be made — e.g. the token
/// answer lacks a field the profile URL needs — rejects the profile.
fn userinfo_request(
    cb: &mut Callback,
    cx: &mut Cx,
    exchanged: Exchanged,
    id_claims: Option<Map<String, Value>>,
) -> Result<Go, Fault> {
    let call = match cb.provider.protocol {
        crate::oauth::Protocol::OAuth2 => {
            client::userinfo_call(&cb.provider, &exchanged.endpoints, &exchanged.tokens).ok()
        }
        crate::oauth::Protocol::OAuth1 => {
            let url = cb.provider.endpoints.userinfo.clone().unwrap_or_default();
            let tokens = &exchanged.tokens;
            let secret = tokens
                .refresh_token
                .as_ref()
                .map(|s| s.expose())
                .unwrap_or_default();
            sign_oauth1(
                cb,
                cx,
                HttpCall::get(url),
                (tokens.access_token.expose(), secret),
                None,
            )
        }
    };
    match call {
        Some(call) => {
            let userinfo = Userinfo {
                exchanged,
                id_claims,
            };
            Ok(wait(call, move |cb, cx, answer| {
                userinfo.on_profile(cb, cx, answer)
            }))
        }
        None => rejected(cb, cx, P::ProfileRejected),
    }
}

impl Keys {
    /// The JWKS answer; `first_try` in `FetchingKeys`, not in `RefetchingKeys`.
    fn on_keys(
        self,
        cb: &mut Callback,
        cx: &mut Cx,
        answer: Answer,
        first_try: bool,
    ) -> Result<Go, Fault> {
        let jwks = match answer {
            Ok(r) if r.is_success() => r.body,
            _ => return rejected(cb, cx, P::IdTokenRejected),
        };
        let endpoints = &self.exchanged.endpoints;
        let issuer = endpoints.issuer.clone().unwrap_or_default();
        let expect = Expectations {
            issuer: &issuer,
            client_id: &cb.provider.client_id,
            nonce: self.exchanged.nonce.as_ref(),
            now_unix: cx.now.unix_timestamp(),
        };
        match id_token::verify(self.id_token.expose(), &jwks, &expect) {
            Ok(claims) => {
                let userinfo = cb.provider.profile_source != ProfileSource::IdToken
                    && endpoints.userinfo.is_some();
                if userinfo {
                    cb.m.profile.fire(P::IdTokenVerified, &mut cx.trace)?;
                    return userinfo_request(cb, cx, self.exchanged, Some(claims));
                }
                match map_profile(cb, cx, claims) {
                    Some(profile) => {
                        cb.m.profile.fire(P::IdTokenProfile, &mut cx.trace)?;
                        profiled(cb, cx, self.exchanged, profile)
                    }
                    None => rejected(cb, cx, P::IdTokenRejected),
                }
            }
            Err(IdTokenError::UnknownKey) if first_try => {
                cb.m.profile.fire(P::UnknownKey, &mut cx.trace)?;
                let url = endpoints.jwks_uri.clone().unwrap_or_default();
                Ok(wait(
                    HttpCall::get(url).cache(Cache::Refresh),
                    move |cb, cx, answer| self.on_keys(cb, cx, answer, false),
                ))
            }
            Err(_) => rejected(cb, cx, P::IdTokenRejected),
        }
    }
}

impl Userinfo {
    fn on_profile(self, cb: &mut Callback, cx: &mut Cx, answer: Answer) -> Result<Go, Fault> {
        let Some(mut raw) = answer.ok().and_then(|r| client::json_object(&r).ok()) else {
            return rejected(cb, cx, P::ProfileRejected);
        };
        if let Some(claims) = &self.id_claims {
            // OIDC Core §5.3.2: userinfo must describe the ID token's subject.
            if raw.get("sub").is_some() && raw.get("sub") != claims.get("sub") {
                return rejected(cb, cx, P::ProfileRejected);
            }
            for (k, v) in claims {
                raw.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        match map_profile(cb, cx, raw) {
            Some(profile) => {
                cb.m.profile.fire(P::ProfileMapped, &mut cx.trace)?;
                profiled(cb, cx, self.exchanged, profile)
            }
            None => rejected(cb, cx, P::ProfileRejected),
        }
    }
}

/// The profile is known: on to account resolution.
fn profiled(
    cb: &mut Callback,
    cx: &mut Cx,
    exchanged: Exchanged,
    profile: Profile,
) -> Result<Go, Fault> {
    let auth = Authenticated {
        tokens: exchanged.tokens,
        profile,
        started_from: exchanged.started_from,
    };
    account::start(cb, cx, auth)
}

/// The normalised profile; `None` when it has no account id.
fn map_profile(cb: &Callback, cx: &Cx, mut raw: Map<String, Value>) -> Option<Profile> {
    // Apple's first-consent `user` JSON (spec §7.2 step 1): read only for a provider
    // that answers by form POST (Apple), and only its name — anyone can add a `user`
    // parameter to a callback URL, so it must never name the account or its e-mail.
    if cb.provider.form_post {
        if let Some(name) = cb
            .param(cx, "user")
            .and_then(crate::oauth::apple::user_name)
        {
            raw.entry("user").or_insert(name);
        }
    }
    cb.provider.profile.map(&Value::Object(raw)).ok()
}

/// OAuth 1.0a access-token answer: the access token and its secret (kept, like v3, in the
/// account's access and refresh token fields).
fn oauth1_tokens(response: &HttpResponse) -> Option<TokenSet> {
    if !response.is_success() {
        return None;
    }
    let pairs = oauth1::parse_form(&response.body);
    let get = |name: &str| oauth1::form_value(&pairs, name);
    let extra = pairs
        .iter()
        .filter(|(k, _)| !k.starts_with("oauth_token"))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Some(TokenSet {
        access_token: SecretString::new(get("oauth_token")?),
        refresh_token: Some(SecretString::new(get("oauth_token_secret")?)),
        expires_at: None,
        token_type: None,
        scope: None,
        id_token: None,
        extra,
    })
}
