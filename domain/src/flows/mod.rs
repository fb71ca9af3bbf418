//! The flows: every request runs the prelude (CSRF, callback URL), then one route flow.
//!
//! A flow is a chain of steps (`Flow`): each step either finishes with its result or
//! asks one typed question (`ask`; `stored` for the store) and hands the rest of the
//! work to a closure that owns exactly the data its state needs and takes the answer's
//! type. Each flow's declared machine ([`crate::flow!`]) checks every move it makes, so
//! code that takes an undeclared edge fails, and `docs/flows.md` is generated from the
//! declarations.

mod ask;
mod common;
mod credentials;
mod email;
mod issue;
mod oauth_callback;
mod oauth_signin;
mod pages;
mod prelude;
mod revocation;
mod session;
mod session_database;
mod session_read;
mod signout;
mod stored;

use std::sync::Arc;

use http::{Method, StatusCode};
use rand_core::CryptoRngCore;
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::{Config, SessionStrategy};
use crate::engine::Env;
use crate::flow::{IllegalMove, Taken, TransitionInfo};
use crate::jwt::{Claims, DecodeContext, EncodeContext, JwtError};
use crate::provider::ProviderKind;
use crate::request::AuthRequest;
use crate::response::Reply;
use crate::secret::CsrfToken;

pub use prelude::{callback_url, csrf};
pub use revocation::jti as session_jti;
pub use session_read::{
    database_session_json, database_session_view, judge_database_session, jwt_session_expiry,
    jwt_session_json, jwt_session_view, DatabaseSessionState, SessionUser, SessionView,
};

/// The declarations of every flow, in the order they run.
macro_rules! each_flow {
    ($method:ident) => {
        [
            csrf::FLOW.$method(),
            callback_url::FLOW.$method(),
            pages::providers::FLOW.$method(),
            pages::signin::FLOW.$method(),
            credentials::credentials::FLOW.$method(),
            email::email_request::FLOW.$method(),
            email::email_callback::FLOW.$method(),
            oauth_signin::oauth_signin::FLOW.$method(),
            oauth_callback::oauth_checks::FLOW.$method(),
            oauth_callback::oauth_exchange::FLOW.$method(),
            oauth_callback::oauth_profile::FLOW.$method(),
            oauth_callback::oauth_account::FLOW.$method(),
            oauth_callback::oauth_link::FLOW.$method(),
            issue::session_issue::FLOW.$method(),
            session::session_jwt::FLOW.$method(),
            revocation::jwt_revocation::FLOW.$method(),
            session_database::session_database::FLOW.$method(),
            signout::signout::FLOW.$method(),
            pages::pages::FLOW.$method(),
        ]
    };
}

/// Every declared transition of every flow.
pub fn all_transitions() -> Vec<TransitionInfo> {
    each_flow!(describe).concat()
}

/// Every flow as a Mermaid diagram, one after another.
pub fn mermaid() -> String {
    each_flow!(mermaid).join("\n")
}

/// Every flow's Mermaid diagram, one string each.
pub fn mermaid_each() -> Vec<String> {
    each_flow!(mermaid).to_vec()
}

/// A bug, not bad input: an undeclared move, or an outcome that does not answer the effect.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// A move the flow's declaration does not allow.
    #[error(transparent)]
    Illegal(#[from] IllegalMove),
    /// A step the flow cannot take (in words): an outcome that does not answer its effect,
    /// or a resume with nothing pending.
    #[error("unexpected: {0}")]
    Unexpected(&'static str),
}

pub(crate) use ask::{ask, Flow, Waiting};

/// One request's context.
pub struct Cx {
    /// The configuration the request runs under.
    pub config: Arc<Config>,
    /// The request's time, from the driver's clock.
    pub now: OffsetDateTime,
    /// The request's random source, from the driver.
    pub rng: Box<dyn CryptoRngCore + Send>,
    /// The request being served, parsed.
    pub req: AuthRequest,
    /// The CSRF token for this request (from the cookie, or new).
    pub csrf_token: CsrfToken,
    /// A POST whose `csrfToken` matches a valid cookie.
    pub csrf_verified: bool,
    /// The validated callback URL (spec §4).
    pub callback_url: String,
    /// Cookies the prelude set; they go first on the response.
    pub prelude_cookies: Vec<String>,
    /// The declared transitions this run took, in order.
    pub trace: Vec<Taken>,
    /// The client's address: the peer, or the hop the trusted proxies name
    /// ([`crate::client_ip::resolve`]); `None`: unknown.
    pub client_ip: Option<core::net::IpAddr>,
    /// Events for the app's listeners, drained by the driver once the run is done: they
    /// cannot change the response, so no flow waits on them.
    pub events: Vec<crate::effect::AuthEvent>,
}

impl Cx {
    /// The context of `req`. Until the prelude runs, the callback URL is the site's base
    /// URL and the CSRF token is empty.
    pub fn new(config: Arc<Config>, req: AuthRequest, env: Env) -> Self {
        // The one place the client's address is decided, whatever the driver.
        let client_ip = crate::client_ip::resolve(
            env.client_ip,
            &req.headers,
            &config.trusted_proxies,
            config.forwarded_header,
        );
        Self {
            callback_url: config.site.base_url().to_owned(),
            config,
            now: env.now,
            rng: env.rng,
            req,
            csrf_token: CsrfToken::new(""),
            csrf_verified: false,
            prelude_cookies: Vec::new(),
            trace: Vec::new(),
            client_ip,
            events: Vec::new(),
        }
    }

    /// Queues `event` for the app's listeners, if it has any.
    pub(crate) fn emit(&mut self, event: crate::effect::AuthEvent) {
        if self.config.hooks.events {
            self.events.push(event);
        }
    }

    /// `n` random bytes as lowercase hex.
    pub fn random_hex(&mut self, n: usize) -> String {
        let mut bytes = vec![0u8; n];
        self.rng.fill_bytes(&mut bytes);
        crate::secret::lower_hex(&bytes)
    }

    /// `BASE` + `path`.
    pub fn route(&self, path: &str) -> String {
        self.config.site.route(path)
    }

    /// A provider's callback URL, `BASE/callback/<id>` (OAuth's registered `redirect_uri`).
    pub fn callback_route(&self, provider_id: &str) -> String {
        self.route(&format!("/callback/{provider_id}"))
    }

    /// Encodes a new sign-in's session token: stamped with `auth_time = now`.
    pub fn encode_new_session(&mut self, claims: &Claims) -> Result<String, JwtError> {
        let mut claims = claims.clone();
        claims.insert(AUTH_TIME.into(), self.now.unix_timestamp().into());
        self.encode_session(&claims)
    }

    /// Encodes a session token with the configured codec and keys.
    pub fn encode_session(&mut self, claims: &Claims) -> Result<String, JwtError> {
        let config = self.config.clone();
        let mut ctx = EncodeContext {
            keys: &config.jwt_keys,
            settings: &config.jwt,
            now_unix: self.now.unix_timestamp(),
            rng: &mut *self.rng,
        };
        config.codec.encode(claims, &mut ctx)
    }

    /// Decodes and verifies a session token at the request's time.
    pub fn decode_session(&self, token: &str) -> Result<Claims, JwtError> {
        decode_session_token(&self.config, token, self.now)
    }

    /// The session cookie's value, when one was sent.
    pub fn session_cookie(&self) -> Option<&str> {
        self.req
            .cookies
            .get(&self.config.cookies.session_token.name)
            .filter(|v| !v.is_empty())
    }

    /// The `Set-Cookie` line that deletes the session cookie.
    pub fn clear_session_cookie(&self) -> String {
        crate::cookies::set_cookie(
            &self.config.cookies.session_token,
            "",
            crate::cookies::Lifetime::Delete { now: self.now },
        )
    }

    /// v3's redirect helper with this request's `json=true` choice.
    pub fn redirect(&self, target: impl Into<String>, status: StatusCode) -> Reply {
        Reply::redirect(target, self.req.wants_json(), status)
    }

    /// `BASE/error?error=<code>` (the code URL-encoded).
    pub fn error_url(&self, code: &crate::error::ErrorCode) -> String {
        format!(
            "{}?error={}",
            self.route("/error"),
            crate::cookies::encode_uri_component(code.as_str())
        )
    }
}

/// Decodes a session token with the configured codec. A session must name its user:
/// a token without a string `sub` is refused, so no other token kind reads as a session
/// (checklist #10).
pub fn decode_session_token(
    config: &Config,
    token: &str,
    now: OffsetDateTime,
) -> Result<Claims, JwtError> {
    let ctx = DecodeContext {
        keys: &config.jwt_keys,
        settings: &config.jwt,
        now_unix: now.unix_timestamp(),
    };
    let claims = config.codec.decode(token, &ctx)?;
    match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => {}
        _ => return Err(JwtError::InvalidClaim("sub")),
    }
    if let Some(limit) = config.session.absolute_max_age {
        let signed_in = session_auth_time(&claims)?;
        if now.unix_timestamp().saturating_sub(signed_in) > limit {
            return Err(JwtError::TooOld);
        }
    }
    Ok(claims)
}

/// The claim carrying a JWT session's sign-in time, in Unix seconds (OpenID's name). Set
/// at sign-in and kept through every renewal (`iat` moves with each one): the absolute
/// lifetime counts from it, and account linking reads it (docs/security.md).
pub const AUTH_TIME: &str = "auth_time";

/// When the session in `claims` signed in: its `auth_time`, or, for a token issued before
/// the claim existed (or by v3), its `iat` — the clock then starts at that token's issue.
pub fn session_auth_time(claims: &Claims) -> Result<i64, JwtError> {
    let (name, value) = match claims.get(AUTH_TIME) {
        Some(value) => (AUTH_TIME, Some(value)),
        None => ("iat", claims.get("iat")),
    };
    value
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().map(f64::floor).map(|f| f as i64))
        })
        .ok_or(JwtError::InvalidClaim(name))
}

/// Runs the prelude every request gets (spec §1.2 steps 9–10), then routes the request.
/// With a `redirect` hook and a `callbackUrl` on the request, the hook is asked first and
/// the request is routed once it answered.
pub(crate) fn start(cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
    prelude::run_csrf(cx)?;
    prelude::run_callback_url(cx)
}

/// Routes the request (spec §1.3).
pub(crate) fn dispatch(cx: &mut Cx) -> Result<Flow<Reply>, Fault> {
    let method = cx.req.method.clone();
    let action = cx.req.action().to_owned();
    let reply = |r: Reply| Ok(Flow::Done(r));
    match (method, action.as_str()) {
        (Method::GET, "providers") => reply(pages::list_providers(cx)?),
        (Method::GET, "csrf") => reply(
            Reply::json(serde_json::json!({ "csrfToken": cx.csrf_token.expose() })).no_store(),
        ),
        (Method::GET, "session") => match cx.config.session.strategy {
            SessionStrategy::Jwt => session::start(cx),
            SessionStrategy::Database => session_database::start(cx),
        },
        (Method::GET, "signin" | "signout" | "verify-request" | "error") => {
            reply(pages::render(cx, &action)?)
        }
        (Method::POST, "signin") => pages::post_signin(cx),
        (Method::POST, "signout") => signout::start(cx),
        (method @ (Method::GET | Method::POST), "callback") => {
            let provider = cx
                .req
                .provider_id()
                .and_then(|id| cx.config.provider(id))
                .cloned();
            match provider.map(|p| (p.id, p.kind)) {
                Some((id, ProviderKind::Credentials { .. })) if method == Method::POST => {
                    credentials::start(cx, id)
                }
                Some((id, ProviderKind::Email { .. })) => email::start_callback(cx, id),
                Some((id, ProviderKind::OAuth(oauth))) => oauth_callback::start(cx, id, *oauth),
                _ => reply(Reply::unsupported(&method)),
            }
        }
        // The client's logger proxy: accepted and dropped (no client logs reach our logs).
        (Method::POST, "_log") => reply(Reply::text(StatusCode::OK, "")),
        // The browser client (spec §14) and its types: static files, no flow. Cached
        // publicly, so the cookies the prelude set (a fresh CSRF token) are not sent.
        (Method::GET, file @ ("client.js" | "client.mjs" | "client.d.ts"))
            if cx.req.segments.len() == 1 =>
        {
            let (content_type, text) = match file {
                "client.js" => (
                    "text/javascript; charset=utf-8",
                    include_str!("../../assets/client.js"),
                ),
                "client.mjs" => (
                    "text/javascript; charset=utf-8",
                    include_str!("../../assets/client.mjs"),
                ),
                _ => (
                    "text/plain; charset=utf-8",
                    include_str!("../../assets/client.d.ts"),
                ),
            };
            cx.prelude_cookies.clear();
            reply(Reply::asset(content_type, text))
        }
        (method, _) => reply(Reply::unsupported(&method)),
    }
}

/// Counts the attempt against `checks`, one after another; `then` goes on with `true` when
/// every limit held, or with `false` at the first that did not (the rest are not counted).
pub(crate) fn throttled<T, F>(
    cx: &mut Cx,
    mut checks: std::collections::VecDeque<crate::effect::ThrottleCheck>,
    then: F,
) -> Result<Flow<T>, Fault>
where
    T: 'static,
    F: FnOnce(&mut Cx, bool) -> Result<Flow<T>, Fault> + Send + 'static,
{
    match checks.pop_front() {
        None => then(cx, true),
        Some(check) => Ok(ask(check, move |cx, within| match within {
            true => throttled(cx, checks, then),
            false => then(cx, false),
        })),
    }
}

/// The rate-limit checks for one attempt, in the order they run: per client IP first (when
/// the driver knows it), then per identifier (each distinct one given: a username and an
/// e-mail in one body are both counted). A client already over its IP limit is turned away
/// before it can use up anyone's per-address quota.
pub(crate) fn throttle_checks(
    cx: &Cx,
    scope: &str,
    identifiers: &[String],
    per_identifier: crate::config::Limit,
    per_ip: crate::config::Limit,
) -> std::collections::VecDeque<crate::effect::ThrottleCheck> {
    let mut checks = std::collections::VecDeque::new();
    if let Some(ip) = cx.client_ip {
        checks.push_back(crate::effect::ThrottleCheck {
            key: format!("{scope}:ip:{}", crate::client_ip::limit_key(ip)),
            limit: per_ip.limit,
            window_seconds: per_ip.window_seconds,
        });
    }
    for (i, identifier) in identifiers.iter().enumerate() {
        if identifiers[..i].contains(identifier) {
            continue;
        }
        checks.push_back(crate::effect::ThrottleCheck {
            key: format!("{scope}:id:{identifier}"),
            limit: per_identifier.limit,
            window_seconds: per_identifier.window_seconds,
        });
    }
    checks
}

/// `{}`: no session (spec §6.5).
pub(crate) fn no_session() -> Reply {
    Reply::json(serde_json::json!({})).no_store()
}

/// The store could not say whether the session is valid: `503` with `Retry-After: 1` and
/// v3's "no session" body. Clients read the body whatever the status (NextAuth's client
/// shows no session, as before); proxies, monitors and retrying clients see an outage,
/// not a sign-out, and the cookie is kept for when the store is back.
pub(crate) fn session_unavailable() -> Reply {
    let mut reply = no_session().with_header(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    reply.status = StatusCode::SERVICE_UNAVAILABLE;
    reply
}

/// `{}` and a deleted session cookie.
pub(crate) fn no_session_cleared(cx: &Cx) -> Reply {
    no_session().with_cookie(cx.clear_session_cookie())
}

/// JavaScript truthiness of a JSON value.
pub(crate) fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_) | Value::Object(_)) => true,
    }
}

/// ISO-8601 UTC with milliseconds, as JavaScript's `toISOString`.
pub(crate) fn iso(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn iso_matches_javascript() {
        assert_eq!(
            iso(datetime!(2021-09-22 10:15:30.123456 UTC)),
            "2021-09-22T10:15:30.123Z"
        );
        assert_eq!(
            iso(datetime!(2021-01-02 03:04:05 +02:00)),
            "2021-01-02T01:04:05.000Z"
        );
    }

    #[test]
    fn truthiness_is_javascript() {
        use serde_json::json;
        for falsy in [json!(null), json!(false), json!(0), json!(""), json!(0.0)] {
            assert!(!truthy(Some(&falsy)), "{falsy}");
        }
        for t in [json!(true), json!(1), json!("x"), json!([]), json!({})] {
            assert!(truthy(Some(&t)), "{t}");
        }
        assert!(!truthy(None));
    }
}
