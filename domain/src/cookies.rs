//! Cookies: the v3 cookie table (spec §2.1), `Set-Cookie` lines byte-compatible with v3
//! (§2.2), and reading the request's `Cookie` header.
//!
//! Parsing uses the `cookie` crate. Serialisation is hand-written: v3 (the `cookie` npm
//! package) writes attributes in the order `Max-Age; Domain; Path; Expires; HttpOnly;
//! Secure; SameSite`, which the `cookie` crate does not, and the issue asks for v3's bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The cookies Portcullis sets, by their key in the `cookies` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CookieKey {
    /// The session: a JWT or a database session token.
    SessionToken,
    /// The callback URL a sign-in returns to.
    CallbackUrl,
    /// The CSRF token and its hash (double submit).
    CsrfToken,
    /// OAuth 2 PKCE verifier (sealed, 15 minutes, single use).
    PkceCodeVerifier,
    /// OAuth 2 `state` (sealed, 15 minutes, single use).
    State,
    /// OpenID `nonce` (sealed, 15 minutes, single use).
    Nonce,
    /// OAuth 1.0a request-token secret (sealed, 15 minutes, single use).
    OAuthTokenSecret,
}

/// `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    /// Sent on same-site requests only.
    Strict,
    /// Also sent on top-level cross-site navigations (v3's default).
    Lax,
    /// Sent on every request; needs `Secure`.
    None,
}

impl SameSite {
    fn as_attribute(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// The prefix of the session cookie's name on secure cookies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CookiePrefix {
    /// `__Secure-next-auth.session-token`, v3's name (Next.js code reads it by name).
    #[default]
    Secure,
    /// `__Host-next-auth.session-token`: host-only, `Path=/`, so no sibling subdomain can
    /// set or shadow it.
    Host,
}

/// How one cookie is named and scoped. Replaces the whole default entry (spec §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CookiePolicy {
    /// Cookie name. `__Secure-` needs `secure = true`; `__Host-` also needs `path = "/"`
    /// and no `domain`.
    pub name: String,
    /// Hide the cookie from page scripts (default true).
    #[serde(default = "yes")]
    pub http_only: bool,
    /// `strict`, `lax` (default) or `none` (`none` needs `secure = true`).
    #[serde(default = "lax")]
    pub same_site: SameSite,
    /// Cookie path (default "/").
    #[serde(default = "root")]
    pub path: String,
    /// Send over HTTPS only.
    pub secure: bool,
    /// Share with subdomains of this domain (default: host-only).
    #[serde(default)]
    pub domain: Option<String>,
}

fn yes() -> bool {
    true
}
fn lax() -> SameSite {
    SameSite::Lax
}
fn root() -> String {
    "/".into()
}

/// The policy of every cookie, v3's defaults overlaid by the user's replacements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieTable {
    /// The session cookie.
    pub session_token: CookiePolicy,
    /// The callback URL cookie.
    pub callback_url: CookiePolicy,
    /// The CSRF cookie.
    pub csrf_token: CookiePolicy,
    /// The OAuth 2 PKCE verifier cookie.
    pub pkce_code_verifier: CookiePolicy,
    /// The OAuth 2 `state` cookie.
    pub state: CookiePolicy,
    /// The OpenID `nonce` cookie.
    pub nonce: CookiePolicy,
    /// The OAuth 1.0a request-token secret cookie.
    pub oauth_token_secret: CookiePolicy,
}

impl CookieTable {
    /// v3's `defaultCookies(useSecureCookies)` (spec §2.1).
    pub fn defaults(secure: bool) -> Self {
        let policy = |plain: &str, secure_name: &str, http_only: bool| CookiePolicy {
            name: if secure {
                secure_name.to_owned()
            } else {
                plain.to_owned()
            },
            http_only,
            same_site: SameSite::Lax,
            path: "/".into(),
            secure,
            domain: None,
        };
        Self {
            session_token: policy(
                "next-auth.session-token",
                "__Secure-next-auth.session-token",
                true,
            ),
            callback_url: policy(
                "next-auth.callback-url",
                "__Secure-next-auth.callback-url",
                false,
            ),
            csrf_token: policy("next-auth.csrf-token", "__Host-next-auth.csrf-token", true),
            // The check cookies are `__Host-` (v3: `__Secure-`): a sibling subdomain cannot
            // plant its own sign-in's checks in this browser (issue 11, docs/security.md).
            pkce_code_verifier: policy(
                "next-auth.pkce.code_verifier",
                "__Host-next-auth.pkce.code_verifier",
                true,
            ),
            state: policy("next-auth.state", "__Host-next-auth.state", true),
            nonce: policy("next-auth.nonce", "__Host-next-auth.nonce", true),
            oauth_token_secret: policy(
                "next-auth.oauth1.token_secret",
                "__Host-next-auth.oauth1.token_secret",
                true,
            ),
        }
    }

    /// The policy of the cookie with this key.
    pub fn get(&self, key: CookieKey) -> &CookiePolicy {
        match key {
            CookieKey::SessionToken => &self.session_token,
            CookieKey::CallbackUrl => &self.callback_url,
            CookieKey::CsrfToken => &self.csrf_token,
            CookieKey::PkceCodeVerifier => &self.pkce_code_verifier,
            CookieKey::State => &self.state,
            CookieKey::Nonce => &self.nonce,
            CookieKey::OAuthTokenSecret => &self.oauth_token_secret,
        }
    }

    /// Replaces the policy of the cookie with this key.
    pub fn set(&mut self, key: CookieKey, policy: CookiePolicy) {
        match key {
            CookieKey::SessionToken => self.session_token = policy,
            CookieKey::CallbackUrl => self.callback_url = policy,
            CookieKey::CsrfToken => self.csrf_token = policy,
            CookieKey::PkceCodeVerifier => self.pkce_code_verifier = policy,
            CookieKey::State => self.state = policy,
            CookieKey::Nonce => self.nonce = policy,
            CookieKey::OAuthTokenSecret => self.oauth_token_secret = policy,
        }
    }

    /// Prefix rules browsers enforce: a policy that breaks them would be silently dropped.
    pub fn validate(&self) -> Result<(), String> {
        for policy in [
            &self.session_token,
            &self.callback_url,
            &self.csrf_token,
            &self.pkce_code_verifier,
            &self.state,
            &self.nonce,
            &self.oauth_token_secret,
        ] {
            if policy.name.is_empty()
                || !policy
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            {
                return Err(format!(
                    "cookie name {:?} is not a valid token",
                    policy.name
                ));
            }
            if policy.name.starts_with("__Secure-") && !policy.secure {
                return Err(format!("cookie {} needs secure = true", policy.name));
            }
            if policy.name.starts_with("__Host-")
                && (!policy.secure || policy.path != "/" || policy.domain.is_some())
            {
                return Err(format!(
                    "cookie {} needs secure = true, path = \"/\" and no domain",
                    policy.name
                ));
            }
            if policy.same_site == SameSite::None && !policy.secure {
                return Err(format!(
                    "cookie {} with same_site = \"none\" needs secure = true",
                    policy.name
                ));
            }
        }
        Ok(())
    }
}

/// What `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// JavaScript's `encodeURIComponent`.
pub fn encode_uri_component(value: &str) -> String {
    uri_component(value).into_owned()
}

/// `encodeURIComponent`, borrowed when nothing needs escaping (a JWT, a hex token). That
/// common case is checked with one tight loop first: `percent_encoding`'s scan of a
/// 350-byte session token was 2.4 % of a session read (perf, docs/performance.md).
fn uri_component(value: &str) -> Cow<'_, str> {
    if value.bytes().all(unreserved) {
        return Cow::Borrowed(value);
    }
    Cow::from(utf8_percent_encode(value, URI_COMPONENT))
}

/// The bytes `encodeURIComponent` leaves as they are: the complement of [`URI_COMPONENT`].
fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// When a cookie stops being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Until the browser closes (no `Expires`).
    BrowserSession,
    /// Until this instant (`Expires=`).
    Until(OffsetDateTime),
    /// Delete now (`Max-Age=0; Expires=<now>`).
    Delete {
        /// The request's time, written as `Expires`.
        now: OffsetDateTime,
    },
}

/// One `Set-Cookie` header value, formatted exactly as v3 does (spec §2.2).
pub fn set_cookie(policy: &CookiePolicy, value: &str, lifetime: Lifetime) -> String {
    let value = uri_component(value);
    let mut line = String::with_capacity(policy.name.len() + value.len() + 128);
    line.push_str(&policy.name);
    line.push('=');
    line.push_str(&value);
    if let Lifetime::Delete { .. } = lifetime {
        line.push_str("; Max-Age=0");
    }
    if let Some(domain) = &policy.domain {
        line.push_str("; Domain=");
        line.push_str(domain);
    }
    line.push_str("; Path=");
    line.push_str(if policy.path.is_empty() {
        "/"
    } else {
        &policy.path
    });
    match lifetime {
        Lifetime::BrowserSession => {}
        Lifetime::Until(at) | Lifetime::Delete { now: at } => {
            line.push_str("; Expires=");
            line.push_str(&http_date(at));
        }
    }
    if policy.http_only {
        line.push_str("; HttpOnly");
    }
    if policy.secure {
        line.push_str("; Secure");
    }
    line.push_str("; SameSite=");
    line.push_str(policy.same_site.as_attribute());
    line
}

/// `Tue, 14 Nov 2023 22:13:20 GMT` (JavaScript's `toUTCString`).
pub fn http_date(at: OffsetDateTime) -> String {
    let secs = at.unix_timestamp().max(0) as u64;
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Longest cookie value read; browsers keep at most 4096 bytes per cookie.
const MAX_COOKIE_VALUE: usize = 8 * 1024;

/// Every `name=value` pair of every `Cookie` header, in order: the name trimmed, the value
/// percent-decoded and unquoted. Pairs that are malformed, not UTF-8 or oversized are skipped.
fn cookie_pairs(headers: &http::HeaderMap) -> impl Iterator<Item = (&str, String)> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| {
            let pair = pair.trim();
            let (name, raw) = pair.split_once('=')?;
            let name = name.trim();
            if name.is_empty() || raw.len() > MAX_COOKIE_VALUE {
                return None;
            }
            let value = if pair.contains('%') {
                let parsed =
                    cookie::Cookie::parse_encoded(format!("{name}={}", raw.trim())).ok()?;
                parsed.value_trimmed().to_owned()
            } else {
                // Nothing to percent-decode (a session token is base64url): parsed in place,
                // which trims name and value just as above.
                cookie::Cookie::parse(pair).ok()?.value_trimmed().to_owned()
            };
            Some((name, value))
        })
}

/// The request's cookies: percent-decoded, surrounding quotes removed, first of
/// duplicate names wins (as the `cookie` npm package v3 relies on, spec §1.10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCookies(HashMap<String, String>);

impl RequestCookies {
    /// Reads every `Cookie` header; pairs that are malformed, not UTF-8 or oversized are
    /// skipped, never an error.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let mut cookies = HashMap::new();
        for (name, value) in cookie_pairs(headers) {
            cookies.entry(name.to_owned()).or_insert(value);
        }
        Self(cookies)
    }

    /// One cookie's value, read as [`RequestCookies::from_headers`] reads it (first valid
    /// pair of that name wins) without collecting the others.
    pub fn find(headers: &http::HeaderMap, name: &str) -> Option<String> {
        cookie_pairs(headers)
            .find(|(candidate, _)| *candidate == name)
            .map(|(_, value)| value)
    }

    /// The value of the cookie with this name, if one was sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use time::macros::datetime;

    #[test]
    fn default_names_follow_the_scheme() {
        let plain = CookieTable::defaults(false);
        assert_eq!(plain.session_token.name, "next-auth.session-token");
        assert_eq!(plain.csrf_token.name, "next-auth.csrf-token");
        assert!(!plain.callback_url.http_only);
        let secure = CookieTable::defaults(true);
        assert_eq!(
            secure.session_token.name,
            "__Secure-next-auth.session-token"
        );
        assert_eq!(secure.callback_url.name, "__Secure-next-auth.callback-url");
        assert_eq!(secure.csrf_token.name, "__Host-next-auth.csrf-token");
        assert_eq!(
            secure.pkce_code_verifier.name,
            "__Host-next-auth.pkce.code_verifier"
        );
        assert_eq!(secure.state.name, "__Host-next-auth.state");
        assert_eq!(secure.nonce.name, "__Host-next-auth.nonce");
        assert_eq!(
            secure.oauth_token_secret.name,
            "__Host-next-auth.oauth1.token_secret"
        );
        assert!(plain.validate().is_ok() && secure.validate().is_ok());
    }

    #[test]
    fn set_cookie_lines_are_v3_bytes() {
        let t = CookieTable::defaults(true);
        let at = datetime!(2023-11-14 22:13:20 UTC);
        assert_eq!(
            set_cookie(&t.csrf_token, "a|b", Lifetime::BrowserSession),
            "__Host-next-auth.csrf-token=a%7Cb; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        assert_eq!(
            set_cookie(&t.callback_url, "https://example.com", Lifetime::BrowserSession),
            "__Secure-next-auth.callback-url=https%3A%2F%2Fexample.com; Path=/; Secure; SameSite=Lax"
        );
        assert_eq!(
            set_cookie(&t.session_token, "x.y-z_", Lifetime::Until(at)),
            "__Secure-next-auth.session-token=x.y-z_; Path=/; Expires=Tue, 14 Nov 2023 22:13:20 GMT; HttpOnly; Secure; SameSite=Lax"
        );
        assert_eq!(
            set_cookie(&t.session_token, "", Lifetime::Delete { now: at }),
            "__Secure-next-auth.session-token=; Max-Age=0; Path=/; Expires=Tue, 14 Nov 2023 22:13:20 GMT; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn the_fast_path_leaves_exactly_what_the_escape_set_leaves() {
        for byte in 0u8..=127 {
            let text = char::from(byte).to_string();
            let escaped = utf8_percent_encode(&text, URI_COMPONENT).to_string();
            assert_eq!(unreserved(byte), escaped == text, "byte {byte}");
            assert_eq!(uri_component(&text), escaped, "byte {byte}");
        }
    }

    #[test]
    fn encode_uri_component_matches_javascript() {
        assert_eq!(
            encode_uri_component("https://example.com/dash?x=1"),
            "https%3A%2F%2Fexample.com%2Fdash%3Fx%3D1"
        );
        assert_eq!(encode_uri_component("-_.!~*'()"), "-_.!~*'()");
        assert_eq!(encode_uri_component("é "), "%C3%A9%20");
    }

    #[test]
    fn prefix_rules_are_enforced() {
        let mut t = CookieTable::defaults(true);
        t.csrf_token.domain = Some("example.com".into());
        assert!(t.validate().is_err());
        let mut t = CookieTable::defaults(false);
        t.session_token.name = "__Secure-x".into();
        assert!(t.validate().is_err());
        let mut t = CookieTable::defaults(false);
        t.session_token.name = "bad name".into();
        assert!(t.validate().is_err());
    }

    #[test]
    fn request_cookies_first_wins_decoded_and_unquoted() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; b=\"q%7Cv\"; a=2; junk; =x; g = \"quoted\" ; h=\""),
        );
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_static("c=%ZZ; d=ok"),
        );
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_bytes(b"e=\xff\xfe").unwrap(),
        );
        let jar = RequestCookies::from_headers(&headers);
        assert_eq!(jar.get("a"), Some("1"));
        assert_eq!(jar.get("b"), Some("q|v"));
        assert_eq!(jar.get("d"), Some("ok"));
        assert_eq!(jar.get("e"), None);
        assert_eq!(jar.get("g"), Some("quoted"));
        assert_eq!(jar.get("h"), Some("\""));
        for name in ["a", "b", "c", "d", "e", "junk", "", "f", "g", "h"] {
            assert_eq!(
                RequestCookies::find(&headers, name).as_deref(),
                jar.get(name),
                "{name}"
            );
        }
    }
}
