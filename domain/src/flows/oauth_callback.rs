//! `GET|POST /callback/<oauth provider>` (spec §7.7, §7.8, §11.2): check what came back
//! against the sealed one-time checks, exchange the code, verify the ID token, read the
//! profile, then sign in, link or create — and always issue a fresh session.
//!
//! Every check cookie the callback reads is cleared on the response, whatever the outcome.

use std::collections::VecDeque;

use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::issue::{Issue, Landing, SessionIssue};
use super::oauth_signin::{binding, redirect_uri};
use super::{Cx, Fault, Next, RouteFlow, Started};
use crate::config::SessionStrategy;
use crate::effect::{AuthEvent, Effect, HookCall, HookFailure, Outcome, SignInDecision};
use crate::http::{Cache, HttpCall, HttpResponse};
use crate::model::{Account, AccountTokens, NewUser, User};
use crate::oauth::checks::{self, Binding, Purpose};
use crate::oauth::client::{self, TokenSet};
use crate::oauth::id_token::{self, Expectations, IdTokenError};
use crate::oauth::{oauth1, Endpoints, OAuthProvider, Profile, ProfileSource, Protocol};
use crate::response::Reply;
use crate::secret::SecretString;
use crate::store::{StoreOp, StoreReply};

crate::flow! {
    /// Finish an OAuth sign-in.
    pub mod oauth_callback = "oauth_callback" {
        states { Received, Rerouted, Discovering, Exchanging, FetchingKeys, RefetchingKeys, FetchingProfile, Profiled, Resolving, CheckingSignIn, Updating, Creating, Linking, Issuing, SignedIn, Failed }
        events { FormPostRerouted, ProviderError, ChecksFailed, ChecksPassed, NeedsDiscovery, Discovered, OAuth1Verified, ProviderFailed, TokensReceived, IdTokenReceived, UnknownKey, IdTokenVerified, IdTokenProfile, IdTokenRejected, ProfileMapped, ProfileRejected, NoStore, StoreAttached, Loaded, Resolved, NotLinked, StoreFailed, AllowedProfile, AllowedExisting, AllowedLink, AllowedNew, Denied, Redirected, HookFailed, Saved, CreateFailed, Issued, IssueFailed }
        initial Received;
        Received + FormPostRerouted => Rerouted, guard "form_post provider, cross-site POST without the check cookies", effect "303 to GET the same callback with the form fields (a top-level GET carries SameSite=Lax cookies)";
        Received + ProviderError => Failed, guard "the provider answered ?error= (e.g. access_denied)", effect "clear check cookies; redirect error?error=OAuthCallback";
        Received + ChecksFailed => Failed, guard "no code; state, PKCE, nonce or token-secret cookie missing, unreadable, expired, for another provider, or mismatched; iss mismatch", effect "clear check cookies; redirect error?error=OAuthCallback";
        Received + ChecksPassed => Exchanging, guard "checks pass, endpoints known", effect "Http: token request (code, PKCE verifier, client authentication)";
        Received + NeedsDiscovery => Discovering, guard "checks pass, OpenID endpoints not configured", effect "Http: discovery document (cached)";
        Discovering + Discovered => Exchanging, guard "the document names the configured issuer", effect "Http: token request (code, PKCE verifier, client authentication)";
        Discovering + ProviderFailed => Failed, guard "unreachable or invalid document", effect "redirect error?error=OAuthCallback";
        Received + OAuth1Verified => Exchanging, guard "OAuth 1.0a: the sealed request token matches oauth_token", effect "Http: access token (signed with the request token and oauth_verifier)";
        Exchanging + ProviderFailed => Failed, guard "transport error, non-2xx, unparsable, error answer, no access token, or no ID token from an OpenID provider", effect "redirect error?error=OAuthCallback";
        Exchanging + TokensReceived => FetchingProfile, guard "tokens; profile from userinfo", effect "Http: userinfo (Bearer, or signed for OAuth 1.0a)";
        Exchanging + IdTokenReceived => FetchingKeys, guard "OpenID: an ID token", effect "Http: JWKS (cached)";
        FetchingKeys + UnknownKey => RefetchingKeys, guard "no key with the token's kid", effect "Http: JWKS again (refresh, rate-floored)";
        FetchingKeys + IdTokenVerified => FetchingProfile, guard "signature and claims valid; userinfo configured", effect "Http: userinfo (Bearer)";
        FetchingKeys + IdTokenProfile => Profiled, guard "signature and claims valid; profile from the ID token", effect "map the claims to a profile";
        FetchingKeys + IdTokenRejected => Failed, guard "JWKS unreachable; alg, signature, iss, aud, azp, exp, iat, nonce or sub wrong", effect "redirect error?error=OAuthCallback";
        RefetchingKeys + IdTokenVerified => FetchingProfile, guard "signature and claims valid; userinfo configured", effect "Http: userinfo (Bearer)";
        RefetchingKeys + IdTokenProfile => Profiled, guard "signature and claims valid; profile from the ID token", effect "map the claims to a profile";
        RefetchingKeys + IdTokenRejected => Failed, guard "still no key, or the token is invalid", effect "redirect error?error=OAuthCallback";
        FetchingProfile + ProfileMapped => Profiled, guard "2xx JSON object with an account id (and the ID token's sub)", effect "map the profile";
        FetchingProfile + ProfileRejected => Failed, guard "transport error, non-2xx, not JSON, no id, or sub differs from the ID token", effect "redirect error?error=OAuthCallback";
        Profiled + NoStore => CheckingSignIn, guard "no store: JWT sessions from the profile", effect "Hook: signIn(profile, account, raw profile)";
        Profiled + StoreAttached => Resolving, guard "a store", effect "Store: the signed-in user (session cookie), the linked user, a user with the e-mail";
        Resolving + Loaded => Resolving, guard "one lookup answered, another needed", effect "Store: the next lookup";
        Resolving + Resolved => CheckingSignIn, guard "sign in, link or create (spec §11.2)", effect "Hook: signIn(linked user or profile, account, raw profile)";
        Resolving + NotLinked => Failed, guard "linked to another signed-in user; signed in, but not by the fresh session that started this sign-in; or the e-mail belongs to a user and linking by e-mail is off or unverified", effect "redirect error?error=OAuthAccountNotLinked";
        Resolving + StoreFailed => Failed, guard "store error", effect "redirect error?error=Callback";
        CheckingSignIn + AllowedProfile => Issuing, guard "signIn allows; no store", effect "session_issue from the profile (always a new token)";
        CheckingSignIn + AllowedExisting => Updating, guard "signIn allows; the account is linked", effect "Store: save the new provider tokens on the account (compare-and-set on the stored refresh token)";
        Updating + Saved => Issuing, guard "saved, or another sign-in saved newer tokens meanwhile", effect "session_issue (always a new token)";
        Updating + StoreFailed => Failed, guard "store error", effect "redirect error?error=Callback";
        CheckingSignIn + AllowedLink => Linking, guard "signIn allows; link to the signed-in user (or the verified e-mail's user, opt-in)", effect "Store: link account with its tokens";
        CheckingSignIn + AllowedNew => Creating, guard "signIn allows; nobody to link to", effect "Store: create user from the profile";
        CheckingSignIn + Denied => Failed, guard "signIn returns false", effect "redirect error?error=AccessDenied";
        CheckingSignIn + Redirected => Failed, guard "signIn returns a URL", effect "redirect to that URL";
        CheckingSignIn + HookFailed => Failed, guard "signIn fails", effect "redirect error?error=<message>";
        Creating + Saved => Linking, guard "user stored (emailVerified = now when the provider verified the e-mail)", effect "Store: link account with its tokens";
        Creating + CreateFailed => Failed, guard "store error (e.g. the e-mail was taken meanwhile)", effect "redirect error?error=OAuthCreateAccount";
        Linking + Saved => Issuing, guard "", effect "session_issue (always a new token)";
        Linking + StoreFailed => Failed, guard "store error (e.g. linked meanwhile)", effect "redirect error?error=Callback";
        Issuing + Issued => SignedIn, guard "", effect "Set-Cookie: session; Events: createUser, linkAccount, signIn; redirect callbackUrl (or the new-user page)";
        Issuing + IssueFailed => Failed, guard "", effect "redirect error?error=<Configuration|Callback>";
    }
}

use oauth_callback::{Event as E, State as S};

/// The lookups that decide between sign-in, link and create (spec §11.2).
enum Lookup {
    /// With `jwt.revocable`: whether the JWT session's `jti` was revoked (then it is no
    /// session, and the `SignedInByJwt` lookup behind it is dropped).
    JwtRevoked(String),
    SignedInByJwt(String),
    SignedInByDatabase(crate::session_key::SessionKeys),
    Linked,
    /// The linked account itself: its stored refresh token guards the token update.
    LinkedAccount,
    ByEmail(String),
}

/// What the callback will do once `signIn` allows.
#[derive(Debug, Clone)]
enum Plan {
    /// Sign in as this (linked) user; `None` without a store.
    Existing(Option<User>),
    /// Link the account to this user, then sign in as them.
    Link(User),
    New,
}

struct OAuthCallback {
    m: oauth_callback::Machine,
    provider_id: String,
    provider: OAuthProvider,
    endpoints: Endpoints,
    binding: Binding,
    code: String,
    code_verifier: Option<String>,
    nonce: Option<String>,
    /// OAuth 1.0a: request token, its secret, and the verifier.
    oauth1: Option<(String, SecretString, String)>,
    tokens: Option<TokenSet>,
    id_claims: Option<Map<String, Value>>,
    profile: Option<Profile>,
    /// Check cookies to delete on the response.
    cleared: Vec<String>,
    lookups: VecDeque<Lookup>,
    /// The session the sign-in started from, as sealed in its checks (see `session_key`).
    started_from: Option<String>,
    signed_in: Option<User>,
    /// When the signed-in user last authenticated (JWT `auth_time`; database: see
    /// `on_lookup`), for the linking window.
    signed_in_at: Option<OffsetDateTime>,
    linked: Option<User>,
    /// The refresh token stored on the linked account before this sign-in.
    stored_refresh: Option<SecretString>,
    by_email: Option<User>,
    plan: Option<Plan>,
    user: Option<User>,
    is_new_user: bool,
    issue: Option<SessionIssue>,
    /// Events gathered before the session is issued.
    events: Vec<AuthEvent>,
    landing: Option<Landing>,
}

/// Longest code, state or token we read back from a provider.
const MAX_PARAM_LEN: usize = 4096;

pub(super) fn start(cx: &mut Cx, provider_id: String) -> Result<Started, Fault> {
    let Some(provider) = cx
        .config
        .provider(&provider_id)
        .and_then(|p| p.as_oauth())
        .cloned()
    else {
        return Err(Fault::Unexpected("oauth_callback: not an OAuth provider"));
    };
    let binding = binding(cx, &provider_id, &provider);
    let mut flow = OAuthCallback {
        m: oauth_callback::machine(),
        endpoints: provider.endpoints.clone(),
        provider_id,
        provider,
        binding,
        code: String::new(),
        code_verifier: None,
        nonce: None,
        oauth1: None,
        tokens: None,
        id_claims: None,
        profile: None,
        cleared: Vec::new(),
        lookups: VecDeque::new(),
        started_from: None,
        signed_in: None,
        signed_in_at: None,
        linked: None,
        stored_refresh: None,
        by_email: None,
        plan: None,
        user: None,
        is_new_user: false,
        issue: None,
        events: Vec::new(),
        landing: None,
    };
    if let Some(reply) = flow.reroute_form_post(cx)? {
        return Ok((Next::Reply(reply), None));
    }
    let next = match flow.provider.protocol {
        Protocol::OAuth2 => flow.check_oauth2(cx)?,
        Protocol::OAuth1 => flow.check_oauth1(cx)?,
    };
    let waiting = matches!(next, Next::Effect(_));
    Ok((next, waiting.then(|| Box::new(flow) as Box<dyn RouteFlow>)))
}

impl RouteFlow for OAuthCallback {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        match (self.m.state(), outcome) {
            (S::Discovering, Outcome::Http(answer)) => {
                match client::discovered(&self.provider, answer) {
                    Some(endpoints) => {
                        self.endpoints = endpoints;
                        self.m.fire(E::Discovered, &mut cx.trace)?;
                        self.token_request(cx)
                    }
                    None => self.fail(cx, E::ProviderFailed, "OAuthCallback"),
                }
            }
            (S::Exchanging, Outcome::Http(answer)) => self.on_tokens(cx, answer),
            (S::FetchingKeys | S::RefetchingKeys, Outcome::Http(answer)) => {
                self.on_keys(cx, answer)
            }
            (S::FetchingProfile, Outcome::Http(answer)) => self.on_profile(cx, answer),
            (S::Resolving, Outcome::Store(result)) => self.on_lookup(cx, result),
            (S::CheckingSignIn, Outcome::SignIn(result)) => self.on_sign_in(cx, result),
            (S::Creating, Outcome::Store(Ok(StoreReply::User(user)))) => {
                self.m.fire(E::Saved, &mut cx.trace)?;
                self.is_new_user = true;
                self.events.push(AuthEvent::CreateUser {
                    user: super::email::user_json(&user),
                });
                self.link(cx, user)
            }
            (S::Creating, Outcome::Store(_)) => {
                self.fail(cx, E::CreateFailed, "OAuthCreateAccount")
            }
            (S::Linking, Outcome::Store(Ok(StoreReply::Account(_)))) => {
                self.m.fire(E::Saved, &mut cx.trace)?;
                if let Some(user) = &self.user {
                    self.events.push(AuthEvent::LinkAccount {
                        user: super::email::user_json(user),
                        account: self.public_account(),
                    });
                }
                self.issue(cx)
            }
            (S::Linking, Outcome::Store(_)) => self.fail(cx, E::StoreFailed, "Callback"),
            // `None`: a concurrent sign-in stored newer tokens; either way the sign-in stands.
            (S::Updating, Outcome::Store(Ok(StoreReply::MaybeAccount(_)))) => {
                self.m.fire(E::Saved, &mut cx.trace)?;
                self.issue(cx)
            }
            (S::Updating, Outcome::Store(_)) => self.fail(cx, E::StoreFailed, "Callback"),
            (S::Issuing, outcome) => {
                let step = match self.issue.as_mut() {
                    Some(issue) => issue.resume(cx, outcome)?,
                    None => return Err(Fault::Unexpected("oauth_callback: no sign-in to issue")),
                };
                self.on_issue(cx, step)
            }
            (S::SignedIn, Outcome::Notified) => self.land(cx),
            _ => Err(Fault::Unexpected(
                "oauth_callback: outcome does not answer the effect",
            )),
        }
    }
}

impl OAuthCallback {
    /// A parameter of the callback: query for GET, body for POST.
    fn param<'a>(&self, cx: &'a Cx, name: &str) -> Option<&'a str> {
        let value = if cx.req.method == Method::POST {
            cx.req.body_str(name).or_else(|| cx.req.query_str(name))
        } else {
            cx.req.query_str(name)
        };
        value.filter(|v| !v.is_empty() && v.len() <= MAX_PARAM_LEN)
    }

    /// Apple answers with a cross-site form POST, which carries no `SameSite=Lax` cookie.
    /// Answer it with a 303 to the same callback as a GET: a top-level GET does carry them.
    fn reroute_form_post(&mut self, cx: &mut Cx) -> Result<Option<Reply>, Fault> {
        let table = &cx.config.cookies;
        let has_checks = [&table.state, &table.pkce_code_verifier, &table.nonce]
            .iter()
            .any(|p| cx.req.cookies.get(&p.name).is_some());
        if !(self.provider.form_post && cx.req.method == Method::POST && !has_checks) {
            return Ok(None);
        }
        self.m.fire(E::FormPostRerouted, &mut cx.trace)?;
        let mut url = redirect_uri(cx, &self.provider_id);
        let pairs: Vec<(String, String)> = ["code", "state", "iss", "error", "user"]
            .iter()
            .filter_map(|k| cx.req.body_str(k).map(|v| ((*k).to_owned(), v.to_owned())))
            .filter(|(_, v)| v.len() <= MAX_PARAM_LEN)
            .collect();
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        // The cross-site POST carried none of the browser's cookies, so the prelude made a
        // new CSRF token and callback URL: setting them would overwrite the real ones.
        cx.prelude_cookies.clear();
        let mut reply = Reply::redirect(url, false, StatusCode::SEE_OTHER).no_store();
        reply.status = StatusCode::SEE_OTHER;
        Ok(Some(reply))
    }

    fn clear(&mut self, cx: &Cx, policy: &crate::cookies::CookiePolicy) {
        if cx.req.cookies.get(&policy.name).is_some() {
            self.cleared.push(checks::clear(policy, cx.now));
        }
    }

    fn check_oauth2(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        let table = cx.config.cookies.clone();
        for policy in [&table.state, &table.pkce_code_verifier, &table.nonce] {
            self.clear(cx, policy);
        }
        if self.param(cx, "error").is_some() {
            return self.fail(cx, E::ProviderError, "OAuthCallback");
        }
        match self.run_checks(cx) {
            Ok(()) => {}
            Err(_) => return self.fail(cx, E::ChecksFailed, "OAuthCallback"),
        }
        if self.endpoints.needs_discovery() {
            self.m.fire(E::NeedsDiscovery, &mut cx.trace)?;
            let issuer = self.endpoints.issuer.clone().unwrap_or_default();
            return Ok(Next::Effect(Effect::Http(client::discovery_call(&issuer))));
        }
        self.m.fire(E::ChecksPassed, &mut cx.trace)?;
        self.token_request(cx)
    }

    /// Every configured check must pass; a missing cookie or parameter fails (checklist #9).
    fn run_checks(&mut self, cx: &Cx) -> Result<(), checks::CheckError> {
        let secrets = &cx.config.secrets;
        let table = &cx.config.cookies;
        let wanted = self.provider.checks;
        let cookie = |policy: &crate::cookies::CookiePolicy| cx.req.cookies.get(&policy.name);
        // Each check names the session its sign-in started from; sealed together, they agree.
        let mut started_from = Vec::new();
        if wanted.state {
            started_from.push(checks::verify(
                secrets,
                Purpose::State,
                &self.binding,
                cookie(&table.state),
                self.param(cx, "state"),
                cx.now,
            )?);
        }
        if wanted.pkce {
            let opened = checks::open(
                secrets,
                Purpose::Pkce,
                &self.binding,
                cookie(&table.pkce_code_verifier),
                cx.now,
            )?;
            self.code_verifier = Some(opened.value);
            started_from.push(opened.session);
        }
        if wanted.nonce {
            let opened = checks::open(
                secrets,
                Purpose::Nonce,
                &self.binding,
                cookie(&table.nonce),
                cx.now,
            )?;
            self.nonce = Some(opened.value);
            started_from.push(opened.session);
        }
        if started_from.windows(2).any(|pair| pair[0] != pair[1]) {
            return Err(checks::CheckError::OtherSignIn(Purpose::State));
        }
        self.started_from = started_from.into_iter().next().flatten();
        // RFC 9207: when the provider names itself, it must be the issuer we started with.
        // (Without a configured issuer there is nothing to compare it with.)
        if let (Some(iss), Some(expected)) = (self.param(cx, "iss"), &self.endpoints.issuer) {
            if !crate::secret::constant_time_eq(iss.as_bytes(), expected.as_bytes()) {
                return Err(checks::CheckError::Mismatch(Purpose::State));
            }
        }
        self.code = self
            .param(cx, "code")
            .ok_or(checks::CheckError::Missing(Purpose::State))?
            .to_owned();
        Ok(())
    }

    fn check_oauth1(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        let policy = cx.config.cookies.oauth_token_secret.clone();
        self.clear(cx, &policy);
        let opened = checks::open(
            &cx.config.secrets,
            Purpose::TokenSecret,
            &self.binding,
            cx.req.cookies.get(&policy.name),
            cx.now,
        );
        let token = self.param(cx, "oauth_token").map(str::to_owned);
        let verifier = self.param(cx, "oauth_verifier").map(str::to_owned);
        let sealed = opened.ok().and_then(|opened| {
            self.started_from = opened.session;
            opened
                .value
                .split_once('\n')
                .map(|(t, s)| (t.to_owned(), s.to_owned()))
        });
        let (Some((sealed_token, secret)), Some(token), Some(verifier)) = (sealed, token, verifier)
        else {
            return self.fail(cx, E::ChecksFailed, "OAuthCallback");
        };
        if !crate::secret::constant_time_eq(sealed_token.as_bytes(), token.as_bytes()) {
            return self.fail(cx, E::ChecksFailed, "OAuthCallback");
        }
        self.m.fire(E::OAuth1Verified, &mut cx.trace)?;
        self.oauth1 = Some((token, SecretString::new(secret), verifier));
        let url = self.provider.endpoints.token.clone().unwrap_or_default();
        match self.sign_oauth1(cx, HttpCall::post_form(url, &[]), true) {
            Some(call) => Ok(Next::Effect(Effect::Http(call))),
            None => self.fail(cx, E::ProviderFailed, "OAuthCallback"),
        }
    }

    /// `call` signed with the request token (and verifier) or the access token; `None`
    /// if it cannot be signed.
    fn sign_oauth1(&self, cx: &mut Cx, call: HttpCall, with_verifier: bool) -> Option<HttpCall> {
        let nonce = cx.random_hex(16);
        let (token, secret, verifier) = match (&self.oauth1, &self.tokens) {
            (Some((t, s, v)), None) => (t.clone(), s.expose().to_owned(), Some(v.as_str())),
            (_, Some(tokens)) => (
                tokens.access_token.expose().to_owned(),
                tokens
                    .refresh_token
                    .as_ref()
                    .map(|s| s.expose().to_owned())
                    .unwrap_or_default(),
                None,
            ),
            (None, None) => (String::new(), String::new(), None),
        };
        let signing = oauth1::Signing {
            consumer_key: &self.provider.client_id,
            consumer_secret: self.provider.client_secret.consumer_secret(),
            token: Some((&token, &secret)),
            callback: None,
            verifier: if with_verifier { verifier } else { None },
            nonce: &nonce,
            timestamp: cx.now.unix_timestamp().max(1) as u64,
        };
        oauth1::sign(call, &signing).ok()
    }

    fn token_request(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        let call = client::client_secret(&self.provider, cx.now).and_then(|secret| {
            client::token_call(
                &self.provider,
                &self.endpoints,
                &self.code,
                &self.binding.redirect_uri,
                self.code_verifier.as_deref(),
                &secret,
            )
        });
        match call {
            Ok(call) => Ok(Next::Effect(Effect::Http(call))),
            // Only a broken Apple key gets here: it fails like a refused exchange.
            Err(_) => self.fail(cx, E::ProviderFailed, "OAuthCallback"),
        }
    }

    fn on_tokens(
        &mut self,
        cx: &mut Cx,
        answer: Result<HttpResponse, crate::http::HttpFailure>,
    ) -> Result<Next, Fault> {
        let Ok(response) = answer else {
            return self.fail(cx, E::ProviderFailed, "OAuthCallback");
        };
        let tokens = match self.provider.protocol {
            Protocol::OAuth2 => client::parse_tokens(&self.provider, &response, cx.now).ok(),
            Protocol::OAuth1 => oauth1_tokens(&response),
        };
        let Some(tokens) = tokens else {
            return self.fail(cx, E::ProviderFailed, "OAuthCallback");
        };
        let openid = self.provider.is_openid();
        let id_token_wanted = openid || self.provider.profile_source != ProfileSource::Userinfo;
        self.tokens = Some(tokens);
        if id_token_wanted {
            let has_id_token = self.tokens.as_ref().is_some_and(|t| t.id_token.is_some());
            let Some(jwks) = self.endpoints.jwks_uri.clone().filter(|_| has_id_token) else {
                return self.fail(cx, E::ProviderFailed, "OAuthCallback");
            };
            self.m.fire(E::IdTokenReceived, &mut cx.trace)?;
            return Ok(Next::Effect(Effect::Http(
                HttpCall::get(jwks).cache(Cache::Use),
            )));
        }
        self.m.fire(E::TokensReceived, &mut cx.trace)?;
        self.userinfo_request(cx)
    }

    /// The userinfo call (state `FetchingProfile`). One that cannot be made — e.g. the
    /// token answer lacks a field the profile URL needs — rejects the profile.
    fn userinfo_request(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        let call = match (&self.tokens, self.provider.protocol) {
            (Some(tokens), Protocol::OAuth2) => {
                client::userinfo_call(&self.provider, &self.endpoints, tokens).ok()
            }
            (Some(_), Protocol::OAuth1) => {
                let url = self.provider.endpoints.userinfo.clone().unwrap_or_default();
                self.sign_oauth1(cx, HttpCall::get(url), false)
            }
            (None, _) => return Err(Fault::Unexpected("oauth_callback: userinfo without tokens")),
        };
        match call {
            Some(call) => Ok(Next::Effect(Effect::Http(call))),
            None => self.fail(cx, E::ProfileRejected, "OAuthCallback"),
        }
    }

    fn on_keys(
        &mut self,
        cx: &mut Cx,
        answer: Result<HttpResponse, crate::http::HttpFailure>,
    ) -> Result<Next, Fault> {
        let first_try = self.m.state() == S::FetchingKeys;
        let jwks = match answer {
            Ok(r) if r.is_success() => r.body,
            _ => return self.fail(cx, E::IdTokenRejected, "OAuthCallback"),
        };
        let token = self
            .tokens
            .as_ref()
            .and_then(|t| t.id_token.clone())
            .unwrap_or_else(|| SecretString::new(""));
        let issuer = self.endpoints.issuer.clone().unwrap_or_default();
        let expect = Expectations {
            issuer: &issuer,
            client_id: &self.provider.client_id,
            nonce: self.nonce.as_deref(),
            now_unix: cx.now.unix_timestamp(),
        };
        match id_token::verify(token.expose(), &jwks, &expect) {
            Ok(claims) => {
                self.id_claims = Some(claims);
                let userinfo = self.provider.profile_source != ProfileSource::IdToken
                    && self.endpoints.userinfo.is_some();
                if userinfo {
                    self.m.fire(E::IdTokenVerified, &mut cx.trace)?;
                    return self.userinfo_request(cx);
                }
                let raw = self.id_claims.clone().unwrap_or_default();
                match self.map_profile(cx, raw) {
                    Some(profile) => {
                        self.m.fire(E::IdTokenProfile, &mut cx.trace)?;
                        self.on_profiled(cx, profile)
                    }
                    None => self.fail(cx, E::IdTokenRejected, "OAuthCallback"),
                }
            }
            Err(IdTokenError::UnknownKey) if first_try => {
                self.m.fire(E::UnknownKey, &mut cx.trace)?;
                let url = self.endpoints.jwks_uri.clone().unwrap_or_default();
                Ok(Next::Effect(Effect::Http(
                    HttpCall::get(url).cache(Cache::Refresh),
                )))
            }
            Err(_) => self.fail(cx, E::IdTokenRejected, "OAuthCallback"),
        }
    }

    fn on_profile(
        &mut self,
        cx: &mut Cx,
        answer: Result<HttpResponse, crate::http::HttpFailure>,
    ) -> Result<Next, Fault> {
        let Some(mut raw) = answer.ok().and_then(|r| client::json_object(&r).ok()) else {
            return self.fail(cx, E::ProfileRejected, "OAuthCallback");
        };
        if let Some(claims) = &self.id_claims {
            // OIDC Core §5.3.2: userinfo must describe the ID token's subject.
            if raw.get("sub").is_some() && raw.get("sub") != claims.get("sub") {
                return self.fail(cx, E::ProfileRejected, "OAuthCallback");
            }
            for (k, v) in claims {
                raw.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        match self.map_profile(cx, raw) {
            Some(profile) => {
                self.m.fire(E::ProfileMapped, &mut cx.trace)?;
                self.on_profiled(cx, profile)
            }
            None => self.fail(cx, E::ProfileRejected, "OAuthCallback"),
        }
    }

    /// The normalised profile; `None` when it has no account id.
    fn map_profile(&self, cx: &Cx, mut raw: Map<String, Value>) -> Option<Profile> {
        // Apple's first-consent `user` JSON (spec §7.2 step 1): read only for a provider
        // that answers by form POST (Apple), and only its name — anyone can add a `user`
        // parameter to a callback URL, so it must never name the account or its e-mail.
        if self.provider.form_post {
            if let Some(name) = self
                .param(cx, "user")
                .and_then(crate::oauth::apple::user_name)
            {
                raw.entry("user").or_insert(name);
            }
        }
        self.provider.profile.map(&Value::Object(raw)).ok()
    }

    /// Starts deciding who signs in (state `Profiled`).
    fn on_profiled(&mut self, cx: &mut Cx, profile: Profile) -> Result<Next, Fault> {
        self.profile = Some(profile);
        if !cx.config.store {
            self.m.fire(E::NoStore, &mut cx.trace)?;
            self.plan = Some(Plan::Existing(None));
            return self.ask_sign_in(cx);
        }
        self.m.fire(E::StoreAttached, &mut cx.trace)?;
        if let Some(cookie) = cx.session_cookie().map(str::to_owned) {
            match cx.config.session.strategy {
                SessionStrategy::Jwt => {
                    let claims = cx.decode_session(&cookie).ok().filter(|claims| {
                        // A token no revocation could name is no session where one could.
                        !cx.config.jwt_revocable || super::revocation::jti(claims).is_some()
                    });
                    if let Some(claims) = claims {
                        if let Some(Value::String(sub)) = claims.get("sub") {
                            if let (true, Some(jti)) =
                                (cx.config.jwt_revocable, super::revocation::jti(&claims))
                            {
                                self.lookups.push_back(Lookup::JwtRevoked(jti.to_owned()));
                            }
                            self.lookups.push_back(Lookup::SignedInByJwt(sub.clone()));
                        }
                        self.signed_in_at = claims
                            .get(super::AUTH_TIME)
                            .and_then(Value::as_i64)
                            .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok());
                    }
                }
                // A cookie with a stored key's shape is none of ours: not looked up.
                SessionStrategy::Database => {
                    if let Some(keys) = crate::session_key::SessionKeys::for_cookie(&cookie) {
                        self.lookups.push_back(Lookup::SignedInByDatabase(keys));
                    }
                }
            }
        }
        self.lookups.push_back(Lookup::Linked);
        self.next_lookup()
    }

    fn next_lookup(&mut self) -> Result<Next, Fault> {
        let Some(profile) = &self.profile else {
            return Err(Fault::Unexpected(
                "oauth_callback: lookup without a profile",
            ));
        };
        let op = match self.lookups.front() {
            Some(Lookup::JwtRevoked(jti)) => StoreOp::IsJwtRevoked(jti.clone()),
            Some(Lookup::SignedInByJwt(sub)) => StoreOp::GetUser(sub.clone()),
            Some(Lookup::SignedInByDatabase(token)) => StoreOp::GetSessionAndUser(token.clone()),
            Some(Lookup::Linked) => StoreOp::GetUserByAccount {
                provider_id: self.provider_id.clone(),
                provider_account_id: profile.id.clone(),
            },
            Some(Lookup::LinkedAccount) => StoreOp::GetAccount {
                provider_id: self.provider_id.clone(),
                provider_account_id: profile.id.clone(),
            },
            Some(Lookup::ByEmail(email)) => StoreOp::GetUserByEmail(email.clone()),
            None => return Err(Fault::Unexpected("oauth_callback: no lookup left")),
        };
        Ok(Next::Effect(Effect::Store(op)))
    }

    fn on_lookup(
        &mut self,
        cx: &mut Cx,
        result: Result<StoreReply, crate::store::StoreError>,
    ) -> Result<Next, Fault> {
        let Some(lookup) = self.lookups.pop_front() else {
            return Err(Fault::Unexpected(
                "oauth_callback: lookup answer without a lookup",
            ));
        };
        match (lookup, result) {
            (Lookup::JwtRevoked(_), Ok(StoreReply::Revoked(revoked))) => {
                if revoked {
                    self.lookups
                        .retain(|l| !matches!(l, Lookup::SignedInByJwt(_)));
                    self.signed_in_at = None;
                }
            }
            (Lookup::SignedInByJwt(_), Ok(StoreReply::MaybeUser(user))) => self.signed_in = user,
            (Lookup::SignedInByDatabase(_), Ok(StoreReply::MaybeSessionAndUser(found))) => {
                let settings = cx.config.session;
                // A row that does not record its sign-in (v3's) counts from its last
                // extension, `expires - max_age` (docs/security.md).
                let signed_in_at = |session: &crate::model::Session| {
                    session.created.unwrap_or(
                        session
                            .expires
                            .saturating_sub(time::Duration::seconds(settings.max_age)),
                    )
                };
                let found = found.filter(|(session, _)| {
                    session.expires > cx.now && !settings.outlived(signed_in_at(session), cx.now)
                });
                self.signed_in_at = found.as_ref().map(|(session, _)| signed_in_at(session));
                self.signed_in = found.map(|(_, user)| user);
            }
            (Lookup::Linked, Ok(StoreReply::MaybeUser(user))) => {
                self.linked = user;
                let email = self.profile.as_ref().and_then(|p| p.email.clone());
                if self.linked.is_some() {
                    self.lookups.push_back(Lookup::LinkedAccount);
                } else if let (None, Some(email)) = (&self.signed_in, email) {
                    self.lookups.push_back(Lookup::ByEmail(email));
                }
            }
            (Lookup::LinkedAccount, Ok(StoreReply::MaybeAccount(account))) => {
                self.stored_refresh = account.and_then(|a| a.refresh_token);
            }
            (Lookup::ByEmail(_), Ok(StoreReply::MaybeUser(user))) => self.by_email = user,
            _ => return self.fail(cx, E::StoreFailed, "Callback"),
        }
        if !self.lookups.is_empty() {
            self.m.fire(E::Loaded, &mut cx.trace)?;
            return self.next_lookup();
        }
        match self.decide(cx) {
            Some(plan) => {
                self.m.fire(E::Resolved, &mut cx.trace)?;
                self.plan = Some(plan);
                self.ask_sign_in(cx)
            }
            None => self.fail(cx, E::NotLinked, "OAuthAccountNotLinked"),
        }
    }

    /// Spec §11.2's matrix, plus opt-in linking by a verified e-mail; a new account links
    /// only into the fresh session that started the sign-in (`may_link`).
    fn decide(&self, cx: &Cx) -> Option<Plan> {
        match (&self.linked, &self.signed_in) {
            (Some(linked), Some(current)) if linked.id == current.id => {
                Some(Plan::Existing(Some(linked.clone())))
            }
            (Some(_), Some(_)) => None,
            (Some(linked), None) => Some(Plan::Existing(Some(linked.clone()))),
            (None, Some(current)) => self.may_link(cx).then(|| Plan::Link(current.clone())),
            (None, None) => match &self.by_email {
                None => Some(Plan::New),
                Some(owner) => {
                    let verified = self.profile.as_ref().is_some_and(|p| p.email_verified);
                    (self.provider.allow_dangerous_email_account_linking && verified)
                        .then(|| Plan::Link(owner.clone()))
                }
            },
        }
    }

    /// Linking into the signed-in user needs the session that started this sign-in (not one
    /// whose browser was handed another sign-in's check cookies), re-authenticated within
    /// `link_max_auth_age` (ASVS 3.7.1).
    fn may_link(&self, cx: &Cx) -> bool {
        let same_session = match (&self.binding.session, &self.started_from) {
            (Some(now), Some(started)) => {
                crate::secret::constant_time_eq(now.as_bytes(), started.as_bytes())
            }
            _ => false,
        };
        let window = time::Duration::seconds(cx.config.link_max_auth_age);
        let fresh = self.signed_in_at.is_some_and(|at| at + window >= cx.now);
        same_session && fresh
    }

    fn profile_user(&self) -> Value {
        let p = self.profile.as_ref();
        json!({
            "id": p.map(|p| p.id.clone()),
            "name": p.and_then(|p| p.name.clone()),
            "email": p.and_then(|p| p.email.clone()),
            "image": p.and_then(|p| p.image.clone()),
        })
    }

    /// The account as v3 hands it to `signIn` and `jwt` (spec §7.2): provider, type, id and
    /// the provider tokens (`accessToken` …) an app may keep in its JWT.
    fn hook_account(&self) -> Value {
        let mut account = self.public_account();
        if let (Value::Object(map), Some(tokens)) = (&mut account, &self.tokens) {
            map.insert("accessToken".into(), tokens.access_token.expose().into());
            map.insert(
                "refreshToken".into(),
                tokens.refresh_token.as_ref().map(|t| t.expose()).into(),
            );
            map.insert(
                "accessTokenExpires".into(),
                tokens
                    .expires_at
                    .map(|at| at.unix_timestamp() * 1000)
                    .into(),
            );
            map.insert(
                "idToken".into(),
                tokens.id_token.as_ref().map(|t| t.expose()).into(),
            );
            if let Some(scope) = &tokens.scope {
                map.insert("scope".into(), scope.clone().into());
            }
        }
        account
    }

    /// The account without its tokens (events, which may be logged).
    fn public_account(&self) -> Value {
        json!({
            "provider": self.provider_id,
            "type": "oauth",
            "id": self.profile.as_ref().map(|p| p.id.clone()),
            "providerAccountId": self.profile.as_ref().map(|p| p.id.clone()),
        })
    }

    fn ask_sign_in(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        if !cx.config.hooks.sign_in {
            return self.on_sign_in(cx, Ok(SignInDecision::Allow));
        }
        let user = match &self.plan {
            Some(Plan::Existing(Some(user))) => super::email::user_json(user),
            _ => self.profile_user(),
        };
        Ok(Next::Effect(Effect::Hook(HookCall::SignIn {
            user,
            account: self.hook_account(),
            profile: self
                .profile
                .as_ref()
                .map(|p| p.raw.clone())
                .unwrap_or_default(),
        })))
    }

    fn on_sign_in(
        &mut self,
        cx: &mut Cx,
        result: Result<SignInDecision, HookFailure>,
    ) -> Result<Next, Fault> {
        match result {
            Ok(SignInDecision::Allow) => match self.plan.clone() {
                Some(Plan::Existing(None)) => {
                    self.m.fire(E::AllowedProfile, &mut cx.trace)?;
                    self.issue(cx)
                }
                Some(Plan::Existing(Some(user))) => {
                    self.m.fire(E::AllowedExisting, &mut cx.trace)?;
                    self.user = Some(user);
                    self.update_tokens(cx)
                }
                Some(Plan::Link(user)) => {
                    self.m.fire(E::AllowedLink, &mut cx.trace)?;
                    self.link(cx, user)
                }
                Some(Plan::New) => {
                    self.m.fire(E::AllowedNew, &mut cx.trace)?;
                    let p = self.profile.clone();
                    let email = p.as_ref().and_then(|p| p.email.clone());
                    // The provider vouches for the address: the user owns it (an e-mail
                    // link for it lands here). Unvouched, it stays unverified, and an
                    // e-mail link proves it to someone else (docs/security.md).
                    let vouched = email.is_some() && p.as_ref().is_some_and(|p| p.email_verified);
                    let user = NewUser {
                        name: p.as_ref().and_then(|p| p.name.clone()),
                        email,
                        email_verified: vouched.then_some(cx.now),
                        image: p.as_ref().and_then(|p| p.image.clone()),
                    };
                    Ok(Next::Effect(Effect::Store(StoreOp::CreateUser(user))))
                }
                None => Err(Fault::Unexpected("oauth_callback: sign-in without a plan")),
            },
            Ok(SignInDecision::Deny) => self.fail(cx, E::Denied, "AccessDenied"),
            Ok(SignInDecision::Redirect(url)) => {
                self.m.fire(E::Redirected, &mut cx.trace)?;
                let reply = cx.redirect(url, StatusCode::OK);
                Ok(Next::Reply(self.with_cleared(reply)))
            }
            Err(failure) => {
                self.m.fire(E::HookFailed, &mut cx.trace)?;
                let reply = super::credentials::failure_reply(cx, failure);
                Ok(Next::Reply(self.with_cleared(reply)))
            }
        }
    }

    /// The provider's new tokens for the linked account, kept only if nobody changed the
    /// stored refresh token since this sign-in read it.
    fn update_tokens(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        let (Some(profile), Some(tokens)) = (&self.profile, &self.tokens) else {
            return Err(Fault::Unexpected("oauth_callback: updating without tokens"));
        };
        let tokens_to_store = AccountTokens {
            access_token: Some(tokens.access_token.clone()),
            // A provider that does not rotate sends no new refresh token: keep the old one.
            refresh_token: tokens
                .refresh_token
                .clone()
                .or_else(|| self.stored_refresh.clone()),
            access_token_expires: tokens.expires_at,
            token_type: tokens.token_type.clone(),
            scope: tokens.scope.clone(),
            id_token: tokens.id_token.clone(),
        };
        let provider_account_id = profile.id.clone();
        let tokens_to_store =
            match seal(cx, tokens_to_store, &self.provider_id, &provider_account_id) {
                Some(tokens) => tokens,
                None => return self.fail(cx, E::StoreFailed, "Callback"),
            };
        Ok(Next::Effect(Effect::Store(StoreOp::UpdateAccountTokens {
            provider_id: self.provider_id.clone(),
            provider_account_id,
            // As stored (encrypted or not): the store compares it byte for byte.
            expected_refresh_token: self.stored_refresh.clone(),
            tokens: tokens_to_store,
        })))
    }

    fn link(&mut self, cx: &mut Cx, user: User) -> Result<Next, Fault> {
        let (Some(profile), Some(tokens)) = (&self.profile, &self.tokens) else {
            return Err(Fault::Unexpected("oauth_callback: linking without tokens"));
        };
        let account = Account {
            user_id: user.id.clone(),
            provider_type: "oauth".into(),
            provider_id: self.provider_id.clone(),
            provider_account_id: profile.id.clone(),
            refresh_token: tokens.refresh_token.clone(),
            access_token: Some(tokens.access_token.clone()),
            access_token_expires: tokens.expires_at,
            token_type: tokens.token_type.clone(),
            scope: tokens.scope.clone(),
            id_token: tokens.id_token.clone(),
        };
        let provider_account_id = profile.id.clone();
        let sealed = seal(
            cx,
            AccountTokens::from(&account),
            &self.provider_id,
            &provider_account_id,
        );
        let Some(sealed) = sealed else {
            return self.fail(cx, E::StoreFailed, "Callback");
        };
        let account = sealed.apply_to(account);
        self.user = Some(user);
        Ok(Next::Effect(Effect::Store(StoreOp::LinkAccount(account))))
    }

    fn issue(&mut self, cx: &mut Cx) -> Result<Next, Fault> {
        let (user_json, user_id) = match &self.user {
            Some(user) => (super::email::user_json(user), user.id.clone()),
            None => {
                let json = self.profile_user();
                let id = self
                    .profile
                    .as_ref()
                    .map(|p| p.id.clone())
                    .unwrap_or_default();
                (json, id)
            }
        };
        let is_new = cx.config.store.then_some(self.is_new_user);
        let raw = self
            .profile
            .as_ref()
            .map(|p| p.raw.clone())
            .unwrap_or_default();
        let (issue, step) =
            SessionIssue::start(cx, user_json, user_id, self.hook_account(), raw, is_new)?;
        self.issue = Some(issue);
        self.on_issue(cx, step)
    }

    fn on_issue(&mut self, cx: &mut Cx, step: Issue) -> Result<Next, Fault> {
        match step {
            Issue::Effect(effect) => Ok(Next::Effect(*effect)),
            Issue::Failed(code) => self.fail(cx, E::IssueFailed, code),
            Issue::Issued(cookie) => {
                self.m.fire(E::Issued, &mut cx.trace)?;
                if let Some(issue) = &self.issue {
                    self.events.push(AuthEvent::SignIn {
                        user: issue.user().clone(),
                        account: self.public_account(),
                        is_new_user: cx.config.store.then_some(self.is_new_user),
                    });
                }
                let events = std::mem::take(&mut self.events);
                self.landing = Some(Landing::new(cx, cookie, events, self.is_new_user));
                self.land(cx)
            }
        }
    }

    /// The next event, or the signed-in redirect (which also clears the check cookies).
    fn land(&mut self, cx: &Cx) -> Result<Next, Fault> {
        let next = match self.landing.as_mut() {
            Some(landing) => landing.next(cx),
            None => {
                return Err(Fault::Unexpected(
                    "oauth_callback: landing before the session",
                ))
            }
        };
        Ok(match next {
            Next::Reply(reply) => Next::Reply(self.with_cleared(reply)),
            effect => effect,
        })
    }

    fn with_cleared(&mut self, mut reply: Reply) -> Reply {
        for cookie in self.cleared.drain(..) {
            reply = reply.with_cookie(cookie);
        }
        reply
    }

    fn fail(&mut self, cx: &mut Cx, event: E, code: &str) -> Result<Next, Fault> {
        self.m.fire(event, &mut cx.trace)?;
        let reply = cx.redirect(cx.error_url(code), StatusCode::OK).no_store();
        Ok(Next::Reply(self.with_cleared(reply)))
    }
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

/// The provider tokens as they are to be stored: encrypted when `encrypt_provider_tokens`
/// is on (crate::token_cipher). `None` when encryption failed (the random source).
fn seal(
    cx: &mut Cx,
    tokens: AccountTokens,
    provider_id: &str,
    provider_account_id: &str,
) -> Option<AccountTokens> {
    if !cx.config.encrypt_provider_tokens {
        return Some(tokens);
    }
    let cipher = cx.config.token_cipher.clone();
    cipher
        .encrypt_tokens(tokens, provider_id, provider_account_id, &mut *cx.rng)
        .ok()
}
