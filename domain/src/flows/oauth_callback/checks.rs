//! The callback's checks: the sealed one-time check cookies against what the provider sent
//! back, and the provider's own error answer. No effect: the callback either answers here
//! or goes on to the exchange with a [`Verified`] grant.

use crate::error::ErrorCode;
use http::{Method, StatusCode};

use super::{Callback, MAX_PARAM_LEN};
use crate::flows::{Cx, Fault};
use crate::oauth::checks::{self, CheckError, Purpose};
use crate::response::Reply;
use crate::secret::{AuthorizationCode, Nonce, PkceVerifier, SecretString};

crate::flow! {
    /// An OAuth callback's checks (state, PKCE, nonce, OAuth 1.0a token secret, `iss`).
    pub(crate) mod oauth_checks = "oauth_checks" {
        states { Received, Rerouted, Verified, Failed }
        events { FormPostRerouted, ProviderError, ChecksFailed, OAuth2Verified, OAuth1Verified }
        initial Received;
        Received + FormPostRerouted => Rerouted, guard "form_post provider, cross-site POST without the check cookies", effect "303 to GET the same callback with the form fields (a top-level GET carries SameSite=Lax cookies)";
        Received + ProviderError => Failed, guard "the provider answered ?error= (e.g. access_denied)", effect "clear check cookies; redirect error?error=OAuthCallback";
        Received + ChecksFailed => Failed, guard "no code; state, PKCE, nonce or token-secret cookie missing, unreadable, expired, for another provider, or mismatched; iss mismatch", effect "clear check cookies; redirect error?error=OAuthCallback";
        Received + OAuth2Verified => Verified, guard "state, PKCE and nonce open and match, from one sign-in; iss (when sent) is the issuer; a code", effect "oauth_exchange";
        Received + OAuth1Verified => Verified, guard "OAuth 1.0a: the sealed request token matches oauth_token; a verifier", effect "oauth_exchange";
    }
}

use oauth_checks::Event as E;

/// What the provider's answer proves, per protocol.
pub(super) enum Grant {
    /// OAuth 2: the code, and the PKCE verifier and nonce this sign-in sealed.
    Code {
        code: AuthorizationCode,
        code_verifier: Option<PkceVerifier>,
        nonce: Option<Nonce>,
    },
    /// OAuth 1.0a: the request token, its secret, and the verifier.
    OAuth1 {
        token: String,
        secret: SecretString,
        verifier: SecretString,
    },
}

/// Checks passed.
pub(super) struct Verified {
    pub(super) grant: Grant,
    /// The session the sign-in started from, as sealed in its checks.
    pub(super) started_from: Option<String>,
}

/// Apple answers with a cross-site form POST, which carries no `SameSite=Lax` cookie.
/// Answer it with a 303 to the same callback as a GET: a top-level GET does carry them.
pub(super) fn reroute_form_post(cb: &mut Callback, cx: &mut Cx) -> Result<Option<Reply>, Fault> {
    let table = &cx.config.cookies;
    let has_checks = [&table.state, &table.pkce_code_verifier, &table.nonce]
        .iter()
        .any(|p| cx.req.cookies.get(&p.name).is_some());
    if !(cb.provider.form_post && cx.req.method == Method::POST && !has_checks) {
        return Ok(None);
    }
    cb.m.checks.fire(E::FormPostRerouted, &mut cx.trace)?;
    let mut url = cx.callback_route(&cb.provider_id);
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

fn clear(cb: &mut Callback, cx: &Cx, policy: &crate::cookies::CookiePolicy) {
    if cx.req.cookies.get(&policy.name).is_some() {
        cb.cleared.push(checks::clear(policy, cx.now));
    }
}

/// The error page the checks end on.
fn failed(cb: &mut Callback, cx: &mut Cx, event: E) -> Result<Result<Verified, Reply>, Fault> {
    cb.m.checks.fire(event, &mut cx.trace)?;
    Ok(Err(cx
        .redirect(cx.error_url(&ErrorCode::OAuthCallback), StatusCode::OK)
        .no_store()))
}

/// OAuth 2: the provider's error answer, then every configured check.
pub(super) fn oauth2(cb: &mut Callback, cx: &mut Cx) -> Result<Result<Verified, Reply>, Fault> {
    let table = cx.config.cookies.clone();
    for policy in [&table.state, &table.pkce_code_verifier, &table.nonce] {
        clear(cb, cx, policy);
    }
    if cb.param(cx, "error").is_some() {
        return failed(cb, cx, E::ProviderError);
    }
    match run_checks(cb, cx) {
        Ok(verified) => {
            cb.m.checks.fire(E::OAuth2Verified, &mut cx.trace)?;
            Ok(Ok(verified))
        }
        Err(_) => failed(cb, cx, E::ChecksFailed),
    }
}

/// Every configured check must pass; a missing cookie or parameter fails (checklist #9).
fn run_checks(cb: &Callback, cx: &Cx) -> Result<Verified, CheckError> {
    let secrets = &cx.config.secrets;
    let table = &cx.config.cookies;
    let wanted = cb.provider.checks;
    let cookie = |policy: &crate::cookies::CookiePolicy| cx.req.cookies.get(&policy.name);
    // Each check names the session its sign-in started from; sealed together, they agree.
    let mut started_from = Vec::new();
    if wanted.state {
        started_from.push(checks::verify(
            secrets,
            Purpose::State,
            &cb.binding,
            cookie(&table.state),
            cb.param(cx, "state"),
            cx.now,
        )?);
    }
    let mut code_verifier = None;
    if wanted.pkce {
        let opened = checks::open(
            secrets,
            Purpose::Pkce,
            &cb.binding,
            cookie(&table.pkce_code_verifier),
            cx.now,
        )?;
        code_verifier = Some(PkceVerifier::from(opened.value));
        started_from.push(opened.session);
    }
    let mut nonce = None;
    if wanted.nonce {
        let opened = checks::open(
            secrets,
            Purpose::Nonce,
            &cb.binding,
            cookie(&table.nonce),
            cx.now,
        )?;
        nonce = Some(Nonce::from(opened.value));
        started_from.push(opened.session);
    }
    if started_from.windows(2).any(|pair| pair[0] != pair[1]) {
        return Err(CheckError::OtherSignIn(Purpose::State));
    }
    // RFC 9207: when the provider names itself, it must be the issuer we started with.
    // (Without a configured issuer there is nothing to compare it with.)
    if let (Some(iss), Some(expected)) = (cb.param(cx, "iss"), &cb.provider.endpoints.issuer) {
        if !crate::secret::constant_time_eq(iss.as_bytes(), expected.as_bytes()) {
            return Err(CheckError::Mismatch(Purpose::State));
        }
    }
    let code = cb
        .param(cx, "code")
        .map(AuthorizationCode::new)
        .ok_or(CheckError::Missing(Purpose::State))?;
    Ok(Verified {
        grant: Grant::Code {
            code,
            code_verifier,
            nonce,
        },
        started_from: started_from.into_iter().next().flatten(),
    })
}

/// OAuth 1.0a: the sealed request token must match `oauth_token`, with a verifier.
pub(super) fn oauth1(cb: &mut Callback, cx: &mut Cx) -> Result<Result<Verified, Reply>, Fault> {
    let policy = cx.config.cookies.oauth_token_secret.clone();
    clear(cb, cx, &policy);
    let opened = checks::open(
        &cx.config.secrets,
        Purpose::TokenSecret,
        &cb.binding,
        cx.req.cookies.get(&policy.name),
        cx.now,
    );
    let token = cb.param(cx, "oauth_token").map(str::to_owned);
    let verifier = cb.param(cx, "oauth_verifier").map(SecretString::new);
    let mut started_from = None;
    let sealed = opened.ok().and_then(|opened| {
        started_from = opened.session;
        opened
            .value
            .expose()
            .split_once('\n')
            .map(|(t, s)| (t.to_owned(), s.to_owned()))
    });
    let (Some((sealed_token, secret)), Some(token), Some(verifier)) = (sealed, token, verifier)
    else {
        return failed(cb, cx, E::ChecksFailed);
    };
    if !crate::secret::constant_time_eq(sealed_token.as_bytes(), token.as_bytes()) {
        return failed(cb, cx, E::ChecksFailed);
    }
    cb.m.checks.fire(E::OAuth1Verified, &mut cx.trace)?;
    Ok(Ok(Verified {
        grant: Grant::OAuth1 {
            token,
            secret: SecretString::new(secret),
            verifier,
        },
        started_from,
    }))
}
