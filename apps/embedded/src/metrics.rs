//! What the engine tells a metrics backend ([`Meter`]): how each sign-in ended, session
//! reads, the time spent in callbacks and provider calls, rate-limit refusals.
//!
//! Every label is bounded by the configuration, never by what a request carries: provider
//! ids (an unknown id in a path is `unknown`), hook names, v3 error codes (free text is
//! `other`), limit scopes, and the hosts of the providers' endpoints. No user, address,
//! token or path reaches a label.

use std::time::Duration;

use http::header;
use portcullis_domain::error::ErrorCode;
use portcullis_domain::Config;

/// Receives measurements. Every method has a no-op default, so a backend implements what
/// it records. Called on the request's task: keep each call short (an atomic add).
pub trait Meter: Send + Sync {
    /// A request to `/callback/<provider>` finished: `outcome` is `ok`, `csrf` (the token
    /// check failed), `rate_limited`, or the v3 error code the user is sent to.
    fn sign_in(&self, _provider: &str, _outcome: &str) {}
    /// A `GET /session` was answered, with a session or without one.
    fn session_read(&self, _signed_in: bool) {}
    /// A callback (`sign_in`, `jwt`, `session`, `redirect`, `event`), a credentials backend
    /// (`authorize`) or the magic-link sender (`send_verification`) took `elapsed`.
    fn hook(&self, _hook: &str, _elapsed: Duration) {}
    /// A provider endpoint on `host` answered (`ok`: any HTTP status came back) or failed.
    fn provider_call(&self, _host: &str, _elapsed: Duration, _ok: bool) {}
    /// A rate limit refused an attempt: `scope` as `credentials:<provider>`, `email`,
    /// `email-callback:<provider>`; `per` is `ip` or `id` (the identifier's limit).
    fn throttled(&self, _scope: &str, _per: &str) {}
}

/// Reports what a finished request means: a sign-in outcome or a session read.
pub(crate) fn record_answer(
    meter: &dyn Meter,
    config: &Config,
    method: &http::Method,
    path: &str,
    response: &http::Response<String>,
) {
    let Some(route) = path.strip_prefix(config.site.base_path()) else {
        return;
    };
    if route == "/session" && method == http::Method::GET {
        let signed_in = response.status().is_success() && response.body().trim() != "{}";
        meter.session_read(signed_in);
    } else if let Some(id) = route.strip_prefix("/callback/") {
        let provider = match config.provider(id) {
            Some(provider) => provider.id.as_str(),
            None => "unknown",
        };
        meter.sign_in(provider, sign_in_outcome(response));
    }
}

/// How a callback ended, from where it sends the browser (`Location`, or `{"url"}` when
/// the client asked for JSON).
fn sign_in_outcome(response: &http::Response<String>) -> &'static str {
    if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
        return "rate_limited";
    }
    let json_url;
    let target = match response.headers().get(header::LOCATION) {
        Some(location) => location.to_str().unwrap_or_default(),
        None => {
            json_url = serde_json::from_str::<serde_json::Value>(response.body())
                .ok()
                .and_then(|body| body.get("url")?.as_str().map(str::to_owned))
                .unwrap_or_default();
            &json_url
        }
    };
    let query = target.split_once('?').map_or("", |(_, query)| query);
    let mut outcome = "ok";
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("error", code)) => return error_label(code),
            Some(("csrf", "true")) => outcome = "csrf",
            _ => {}
        }
    }
    outcome
}

/// A v3 error code as a label; anything else (a hook's free text) is `other`.
fn error_label(code: &str) -> &'static str {
    ErrorCode::parse(code).v3_name().unwrap_or("other")
}

/// The scope and kind of a rate-limit key (`credentials:<provider>:ip:<address>` gives
/// `credentials:<provider>` and `ip`); the address or identifier after them is dropped.
pub(crate) fn throttle_labels(key: &str) -> (&str, &'static str) {
    let ip = key.find(":ip:");
    let id = key.find(":id:");
    match (ip, id) {
        (Some(at), Some(other)) if other < at => (&key[..other], "id"),
        (Some(at), _) => (&key[..at], "ip"),
        (None, Some(at)) => (&key[..at], "id"),
        (None, None) => ("other", "other"),
    }
}

/// The host of a provider endpoint, for a label (`unknown` when the URL has none).
pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() {
        "unknown"
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(location: &str) -> http::Response<String> {
        http::Response::builder()
            .status(302)
            .header(header::LOCATION, location)
            .body(String::new())
            .unwrap()
    }

    #[test]
    fn a_callback_outcome_is_read_from_where_it_sends_the_browser() {
        let base = "https://example.com/api/auth";
        assert_eq!(
            sign_in_outcome(&redirect("https://example.com/dashboard")),
            "ok"
        );
        assert_eq!(
            sign_in_outcome(&redirect(&format!("{base}/error?error=OAuthCallback"))),
            "OAuthCallback"
        );
        assert_eq!(
            sign_in_outcome(&redirect(&format!("{base}/signin?csrf=true"))),
            "csrf"
        );
        let json = http::Response::builder()
            .status(401)
            .body(format!(
                r#"{{"url":"{base}/error?error=CredentialsSignin&provider=credentials"}}"#
            ))
            .unwrap();
        assert_eq!(sign_in_outcome(&json), "CredentialsSignin");
        assert_eq!(
            sign_in_outcome(&redirect(&format!("{base}/error?error=jane%40example.com"))),
            "other",
            "a hook's free text never becomes a label"
        );
    }

    #[test]
    fn a_throttle_key_loses_its_address_and_identifier() {
        assert_eq!(
            throttle_labels("credentials:ldap:ip:203.0.113.0/32"),
            ("credentials:ldap", "ip")
        );
        assert_eq!(
            throttle_labels("email:id:x:ip:y@example.com"),
            ("email", "id")
        );
        assert_eq!(
            throttle_labels("email-callback:email:ip:2001:db8::/64"),
            ("email-callback:email", "ip")
        );
        assert_eq!(throttle_labels("nonsense"), ("other", "other"));
    }

    #[test]
    fn a_provider_host_keeps_neither_credentials_nor_path() {
        assert_eq!(
            host_of("https://user:pw@github.com/login/oauth?x=1"),
            "github.com"
        );
        assert_eq!(host_of("https://127.0.0.1:9410/token"), "127.0.0.1:9410");
        assert_eq!(host_of("not a url"), "not a url");
        assert_eq!(host_of("https:///x"), "unknown");
    }
}
