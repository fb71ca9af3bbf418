//! Outbound HTTP as data: what a flow asks a provider, and what the provider answered.
//! The driver performs a [`HttpCall`] through the HTTP port (no redirects followed, bounded
//! time and size) and answers with [`crate::effect::Outcome::Http`].
//!
//! `Debug` never shows a body or a header value: token requests carry client secrets and
//! codes, token responses carry access tokens.

use crate::secret::SecretString;

/// The two methods OAuth needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

/// Whether a response may come from (or go into) the driver's cache. Only provider
/// metadata is cached: discovery documents and key sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cache {
    /// Always ask the provider (token, profile and refresh calls).
    #[default]
    Bypass,
    /// A cached answer for this URL will do.
    Use,
    /// Ask again and replace the cached answer (a JWKS without the token's `kid`). The
    /// driver may refuse to refetch more often than a floor interval and answer from cache.
    Refresh,
    /// Never cached, but identical calls in flight at the same time share one request: a
    /// refresh grant, which the provider honours once and then retires the token.
    Coalesce,
}

/// One request to a provider.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpCall {
    /// `GET` or `POST`.
    pub method: HttpMethod,
    /// Absolute `https://` (or loopback `http://`) URL, query included.
    pub url: String,
    /// Header values may be secrets (`Authorization`).
    pub headers: Vec<(String, SecretString)>,
    /// A form-encoded (or empty) body; may hold a client secret or a code.
    pub body: Option<SecretString>,
    /// Whether the driver may answer from its cache (default [`Cache::Bypass`]).
    pub cache: Cache,
}

impl HttpCall {
    /// A `GET` of `url` with no headers, never cached.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: HttpMethod::Get,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            cache: Cache::Bypass,
        }
    }

    /// A `POST` of `form`, form-encoded, to `url`; never cached.
    pub fn post_form(url: impl Into<String>, form: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        Self {
            method: HttpMethod::Post,
            url: url.into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(SecretString::new(body)),
            cache: Cache::Bypass,
        }
    }

    /// Adds a header; the name is lower-cased.
    pub fn header(mut self, name: &str, value: impl Into<SecretString>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets whether the driver may answer from its cache.
    pub fn cache(mut self, cache: Cache) -> Self {
        self.cache = cache;
        self
    }

    /// The URL without its query (which may hold an access token): for logs and `Debug`.
    pub fn url_for_logs(&self) -> &str {
        self.url.split(['?', '#']).next().unwrap_or_default()
    }
}

impl std::fmt::Debug for HttpCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpCall")
            .field("method", &self.method)
            .field("url", &self.url_for_logs())
            .field("headers", &names)
            .field("body_len", &self.body.as_ref().map(|b| b.expose().len()))
            .field("cache", &self.cache)
            .finish()
    }
}

/// A provider's answer (any status: redirects are returned, not followed).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Every header, names lower-case (a hook's answer is signed in its headers). Values
    /// may be secrets (`Set-Cookie`): `Debug` shows the names only.
    pub headers: Vec<(String, String)>,
    /// At most the driver's size limit.
    pub body: bytes::Bytes,
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why no answer came back. The text names no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpFailure {
    /// No answer within the driver's time limit.
    #[error("timed out")]
    Timeout,
    /// No connection could be made to the host.
    #[error("could not connect")]
    Connect,
    /// The body passed the size limit.
    #[error("response too large")]
    TooLarge,
    /// A URL the client refuses (not http(s), unparsable).
    #[error("refused URL")]
    RefusedUrl,
    /// The host is (or resolves to) a loopback, link-local or private address, and
    /// `allow_private_network` is off.
    #[error("refused: the host is on a loopback, link-local or private address (allow_private_network is off)")]
    PrivateAddress,
    /// Any other transport error, in words.
    #[error("transport: {0}")]
    Transport(String),
}
