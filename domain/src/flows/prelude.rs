//! The prelude every request runs: CSRF cookie (spec §3) and callback URL (spec §4).

use http::Method;

use super::ask::RedirectCall;
use super::{ask, Cx, Fault, Flow};
use crate::cookies::{set_cookie, Lifetime};
use crate::csrf as token;
use crate::effect::HookFailure;
use crate::response::Reply;
use crate::secret::CsrfToken;

crate::flow! {
    /// Double-submit CSRF token: reuse a verified cookie or issue a new one; a POST is
    /// verified when its `csrfToken` equals the cookie's token.
    pub mod csrf = "csrf" {
        states { Received, Known, Issued, Verified, Unverified }
        events { CookieValid, CookieMissingOrForged, BodyTokenMatches, BodyTokenMissingOrWrong, PostWithoutValidCookie }
        initial Received;
        Received + CookieValid => Known, guard "cookie hash = sha256(token + secret)", effect "";
        Received + CookieMissingOrForged => Issued, guard "no cookie, or its hash does not verify", effect "Set-Cookie: csrf-token (new 256-bit token)";
        Known + BodyTokenMatches => Verified, guard "POST and body csrfToken = cookie token (constant time)", effect "";
        Known + BodyTokenMissingOrWrong => Unverified, guard "POST and body csrfToken absent or different", effect "";
        Issued + PostWithoutValidCookie => Unverified, guard "POST", effect "";
    }
}

crate::flow! {
    /// Resolve where to send the user afterwards and remember it in a cookie. With a
    /// `redirect` hook registered, a `callbackUrl` given on the request is first put to the
    /// hook; its answer is held to the same redirect policy, and a failed hook leaves the
    /// base URL (fails closed). A URL from the cookie was decided on an earlier request and
    /// is not put to the hook again.
    pub mod callback_url = "callback_url" {
        states { Received, Asking, Chosen, Stored, Kept }
        events { ParamGiven, ParamGivenToHook, HookAnswerAllowed, HookAnswerRefused, HookFailed, CookieGiven, NoneGiven, DiffersFromCookie, MatchesCookie }
        initial Received;
        Received + ParamGiven => Chosen, guard "body or query callbackUrl; no redirect hook", effect "redirect policy (same origin, else base URL)";
        Received + ParamGivenToHook => Asking, guard "body or query callbackUrl; redirect hook registered", effect "Hook: redirect(url, baseUrl)";
        Asking + HookAnswerAllowed => Chosen, guard "the answer passes the redirect policy", effect "callback URL = the answer";
        Asking + HookAnswerRefused => Chosen, guard "the answer fails the redirect policy", effect "callback URL = base URL";
        Asking + HookFailed => Chosen, guard "hook failed (timeout, status, signature, malformed)", effect "callback URL = base URL";
        Received + CookieGiven => Chosen, guard "callback-url cookie", effect "redirect policy (same origin, else base URL)";
        Received + NoneGiven => Chosen, guard "", effect "default callback URL";
        Chosen + DiffersFromCookie => Stored, guard "", effect "Set-Cookie: callback-url";
        Chosen + MatchesCookie => Kept, guard "", effect "";
    }
}

pub(super) fn run_csrf(cx: &mut Cx) -> Result<(), Fault> {
    let mut m = csrf::machine();
    let is_post = cx.req.method == Method::POST;
    let cookie = cx.req.cookies.get(&cx.config.cookies.csrf_token.name);
    match cookie.and_then(|c| token::token_from_cookie(c, &cx.config.secrets)) {
        Some(valid) => {
            cx.csrf_token = valid;
            m.fire(csrf::Event::CookieValid, &mut cx.trace)?;
            if is_post {
                if token::body_matches(&cx.csrf_token, cx.req.body_str("csrfToken")) {
                    m.fire(csrf::Event::BodyTokenMatches, &mut cx.trace)?;
                    cx.csrf_verified = true;
                } else {
                    m.fire(csrf::Event::BodyTokenMissingOrWrong, &mut cx.trace)?;
                }
            }
        }
        None => {
            let fresh = CsrfToken::new(cx.random_hex(token::TOKEN_BYTES));
            let value = token::cookie_value(&fresh, cx.config.signing_secret());
            cx.prelude_cookies.push(set_cookie(
                &cx.config.cookies.csrf_token,
                &value,
                Lifetime::BrowserSession,
            ));
            cx.csrf_token = fresh;
            m.fire(csrf::Event::CookieMissingOrForged, &mut cx.trace)?;
            if is_post {
                m.fire(csrf::Event::PostWithoutValidCookie, &mut cx.trace)?;
            }
        }
    }
    Ok(())
}

/// The `redirect` hook's answer: the callback URL it leads to, held to the static policy
/// (the outer bound: the hook may narrow or rewrite, never widen); a failed hook leaves the
/// base URL.
fn hook_answer(
    cx: &mut Cx,
    m: &mut callback_url::Machine,
    answer: Result<String, HookFailure>,
) -> Result<String, Fault> {
    let site = &cx.config.site;
    let base = site.base_url().to_owned();
    Ok(match answer {
        Ok(url) => {
            let bounded = cx.config.redirect.redirect(&url, site);
            let event = if bounded != base || url == base {
                callback_url::Event::HookAnswerAllowed
            } else {
                callback_url::Event::HookAnswerRefused
            };
            m.fire(event, &mut cx.trace)?;
            bounded
        }
        Err(_) => {
            m.fire(callback_url::Event::HookFailed, &mut cx.trace)?;
            base
        }
    })
}

/// Chooses the callback URL (`cx.callback_url`, and its cookie when it changed), then
/// routes the request; when the `redirect` hook must be asked first, it is asked, and the
/// request is routed once it answered.
pub(super) fn run_callback_url(cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
    let mut m = callback_url::machine();
    let site = &cx.config.site;
    let param = cx
        .req
        .body_str("callbackUrl")
        .or_else(|| cx.req.query_str("callbackUrl"))
        .filter(|v| !v.is_empty());
    let cookie = cx
        .req
        .cookies
        .get(&cx.config.cookies.callback_url.name)
        .filter(|v| !v.is_empty());
    let chosen = match (param, cookie) {
        (Some(param), _) if cx.config.hooks.redirect => {
            m.fire(callback_url::Event::ParamGivenToHook, &mut cx.trace)?;
            let question = RedirectCall {
                url: param.to_owned(),
                base_url: site.base_url().to_owned(),
            };
            return Ok(ask(question, move |cx, answer| {
                let chosen = hook_answer(cx, &mut m, answer)?;
                remember(cx, &mut m, chosen)?;
                super::dispatch(cx)
            }));
        }
        (Some(param), _) => {
            m.fire(callback_url::Event::ParamGiven, &mut cx.trace)?;
            cx.config.redirect.redirect(param, site)
        }
        (None, Some(cookie)) => {
            m.fire(callback_url::Event::CookieGiven, &mut cx.trace)?;
            cx.config.redirect.redirect(cookie, site)
        }
        (None, None) => {
            m.fire(callback_url::Event::NoneGiven, &mut cx.trace)?;
            cx.config
                .default_callback_url
                .clone()
                .unwrap_or_else(|| site.base_url().to_owned())
        }
    };
    remember(cx, &mut m, chosen)?;
    super::dispatch(cx)
}

/// Sets the chosen callback URL, and its cookie when the browser's differs.
fn remember(cx: &mut Cx, m: &mut callback_url::Machine, chosen: String) -> Result<(), Fault> {
    let cookie = cx
        .req
        .cookies
        .get(&cx.config.cookies.callback_url.name)
        .filter(|v| !v.is_empty());
    if cookie == Some(chosen.as_str()) {
        m.fire(callback_url::Event::MatchesCookie, &mut cx.trace)?;
    } else {
        m.fire(callback_url::Event::DiffersFromCookie, &mut cx.trace)?;
        cx.prelude_cookies.push(set_cookie(
            &cx.config.cookies.callback_url,
            &chosen,
            Lifetime::BrowserSession,
        ));
    }
    cx.callback_url = chosen;
    Ok(())
}
