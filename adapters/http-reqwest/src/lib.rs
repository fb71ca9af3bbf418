//! Portcullis's outbound [`HttpClient`] on reqwest (rustls, Mozilla roots).
//!
//! Built for talking to OAuth providers on behalf of a server that attackers can reach:
//!
//! - **No redirects followed.** A 3xx comes back as an [`HttpResponse`] with its status, so a
//!   provider (or a URL an attacker got into a discovery document) cannot bounce the request
//!   to an internal address (SSRF).
//! - **Bounded time.** [`Settings::connect_timeout`] bounds the TCP/TLS connect,
//!   [`Settings::total_timeout`] the whole exchange, body included.
//! - **Bounded size.** The body is read chunk by chunk and dropped as soon as it passes
//!   [`Settings::max_body_bytes`] (or when `Content-Length` announces more): [`HttpFailure::TooLarge`].
//!   No content decoding is enabled, so a compressed body cannot expand past the limit.
//! - **Only `http` and `https` URLs**; anything else is [`HttpFailure::RefusedUrl`] before any
//!   I/O.
//! - **No secrets in errors.** Header values are marked sensitive, and errors never carry a
//!   header value, a body or the URL (whose query may hold an access token).
//!
//! Requests carry `User-Agent: Portcullis/<version> (+https://example.invalid/portcullis)`
//! and `Accept: application/json` unless the call sets its own. Proxies named by the usual
//! environment variables (`HTTPS_PROXY`, `NO_PROXY`, …) are honoured, as reqwest does.

use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
pub use portcullis_ports::{HttpCall, HttpClient, HttpFailure, HttpMethod, HttpResponse};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use reqwest::{redirect, Method, Url};

/// The `User-Agent` sent when a call sets none.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "Portcullis/",
    env!("CARGO_PKG_VERSION"),
    " (+https://example.invalid/portcullis)"
);

/// Limits of a [`ReqwestHttpClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Bound on connecting (TCP and TLS). Default 5 s.
    pub connect_timeout: Duration,
    /// Bound on one whole exchange: connect, request, response head and body. Default 15 s.
    pub total_timeout: Duration,
    /// Largest body accepted. Default 1 MiB.
    pub max_body_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(15),
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// The HTTP client could not be set up (e.g. the TLS backend failed to initialise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct BuildError(String);

/// An [`HttpClient`] on reqwest. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
    settings: Settings,
}

impl ReqwestHttpClient {
    /// A client with the default [`Settings`].
    pub fn new() -> Result<Self, BuildError> {
        Self::with_settings(Settings::default())
    }

    pub fn with_settings(settings: Settings) -> Result<Self, BuildError> {
        let client = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.total_timeout)
            .build()
            .map_err(|e| BuildError(message(&e.without_url())))?;
        Ok(Self { client, settings })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn request(&self, call: HttpCall) -> Result<reqwest::Request, HttpFailure> {
        let url = Url::parse(&call.url).map_err(|_| HttpFailure::RefusedUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpFailure::RefusedUrl);
        }
        let method = match call.method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &call.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpFailure::Transport("invalid header name".into()))?;
            let mut value = HeaderValue::from_str(value.expose())
                .map_err(|_| HttpFailure::Transport(format!("invalid value for header {name}")))?;
            // Keeps values such as `Authorization` out of hyper's and reqwest's Debug output.
            value.set_sensitive(true);
            headers.append(name, value);
        }
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(DEFAULT_USER_AGENT));
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("application/json"));
        let mut builder = self.client.request(method, url).headers(headers);
        if let Some(body) = call.body {
            builder = builder.body(body.expose().to_owned());
        }
        builder.build().map_err(map_error)
    }

    async fn exchange(&self, request: reqwest::Request) -> Result<HttpResponse, HttpFailure> {
        let mut response = self.client.execute(request).await.map_err(map_error)?;
        let limit = self.settings.max_body_bytes;
        let announced_too_large = response
            .content_length()
            .is_some_and(|length| length > u64::try_from(limit).unwrap_or(u64::MAX));
        if announced_too_large {
            return Err(HttpFailure::TooLarge);
        }
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        // Values that are not visible ASCII are dropped: no answer we read needs them.
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            if chunk.len() > limit - body.len() {
                // Dropping the response closes the connection; the rest is never read.
                return Err(HttpFailure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            content_type,
            headers,
            body: body.freeze(),
        })
    }
}

#[async_trait]
impl HttpClient for ReqwestHttpClient {
    async fn send(&self, call: HttpCall) -> Result<HttpResponse, HttpFailure> {
        let request = self.request(call)?;
        self.exchange(request).await
    }
}

fn map_error(err: reqwest::Error) -> HttpFailure {
    if err.is_timeout() {
        HttpFailure::Timeout
    } else if err.is_connect() {
        HttpFailure::Connect
    } else {
        HttpFailure::Transport(message(&err.without_url()))
    }
}

/// An error and its sources, `: `-separated. reqwest's own text names the URL, so callers
/// strip it first ([`reqwest::Error::without_url`]); the sources (hyper, io, rustls) name
/// neither URLs, headers nor bodies.
fn message(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
