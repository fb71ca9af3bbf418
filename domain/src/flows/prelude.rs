//! The prelude every request runs: CSRF cookie (spec §3) and callback URL (spec §4).

use http::Method;

use super::{Cx, Fault};
use crate::cookies::{set_cookie, Lifetime};
use crate::csrf as token;

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
    /// Resolve where to send the user afterwards and remember it in a cookie.
    pub mod callback_url = "callback_url" {
        states { Received, Chosen, Stored, Kept }
        events { ParamGiven, CookieGiven, NoneGiven, DiffersFromCookie, MatchesCookie }
        initial Received;
        Received + ParamGiven => Chosen, guard "body or query callbackUrl", effect "redirect policy (same origin, else base URL)";
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
            cx.csrf_token = valid.to_owned();
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
            let fresh = cx.random_hex(token::TOKEN_BYTES);
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

pub(super) fn run_callback_url(cx: &mut Cx) -> Result<(), Fault> {
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
