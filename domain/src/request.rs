//! One HTTP request, read once into what the flows need (spec §1.1, §1.10).

use http::{HeaderMap, Method};
use serde_json::{Map, Value};

use crate::cookies::RequestCookies;
use crate::site::SiteUrl;

/// Largest request body read; larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request under the base path, parsed.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// The HTTP method.
    pub method: Method,
    /// Path segments after the base path, percent-decoded (`["callback", "credentials"]`).
    pub segments: Vec<String>,
    /// The query string; a repeated name becomes an array, so it never reads as a string.
    pub query: Map<String, Value>,
    /// The body (form-urlencoded or JSON object); other content types read as empty.
    pub body: Map<String, Value>,
    /// The `Cookie` header, parsed.
    pub cookies: RequestCookies,
    /// Every header, as received.
    pub headers: HeaderMap,
}

/// Why a request cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The path is not under the site's base path.
    #[error("not under the base path")]
    NotUnderBasePath,
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("request body too large")]
    BodyTooLarge,
    /// A JSON body that does not parse as JSON.
    #[error("request body is not valid JSON")]
    InvalidJson,
    /// The path is not valid UTF-8 once percent-decoded.
    #[error("request path is not valid UTF-8")]
    BadPath,
}

impl AuthRequest {
    /// Reads an HTTP request addressed to `site`.
    pub fn parse(
        request: &http::Request<bytes::Bytes>,
        site: &SiteUrl,
    ) -> Result<Self, RequestError> {
        let segments = segments(request.uri().path(), site.base_path())?;
        let query = request
            .uri()
            .query()
            .map(|q| collect(form_urlencoded::parse(q.as_bytes())))
            .unwrap_or_default();
        let body = parse_body(request.headers(), request.body())?;
        Ok(Self {
            method: request.method().clone(),
            segments,
            query,
            body,
            cookies: RequestCookies::from_headers(request.headers()),
            headers: request.headers().clone(),
        })
    }

    /// The action: first path segment (`signin`, `callback`, …).
    pub fn action(&self) -> &str {
        self.segments.first().map(String::as_str).unwrap_or("")
    }

    /// The second path segment (a provider id, or an error code on `/error/<code>`).
    pub fn provider_id(&self) -> Option<&str> {
        self.segments.get(1).map(String::as_str)
    }

    /// A body field, when it is a single string.
    pub fn body_str(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }

    /// A query parameter, when it is a single string.
    pub fn query_str(&self, name: &str) -> Option<&str> {
        self.query.get(name).and_then(Value::as_str)
    }

    /// The `json=true` convention (spec §1.8): only the string `"true"` counts.
    pub fn wants_json(&self) -> bool {
        self.body_str("json") == Some("true")
    }
}

fn segments(path: &str, base_path: &str) -> Result<Vec<String>, RequestError> {
    let rest = path
        .strip_prefix(base_path)
        .ok_or(RequestError::NotUnderBasePath)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Err(RequestError::NotUnderBasePath);
    }
    rest.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| RequestError::BadPath)
        })
        .collect()
}

fn collect<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in pairs {
        let value = Value::String(value.into_owned());
        match map.get_mut(name.as_ref()) {
            None => {
                map.insert(name.into_owned(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => {
                let first = first.take();
                map.insert(name.into_owned(), Value::Array(vec![first, value]));
            }
        }
    }
    map
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, RequestError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(RequestError::BodyTooLarge);
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => Ok(collect(form_urlencoded::parse(body))),
        "application/json" if body.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        "application/json" => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Ok(Map::new()),
            Err(_) => Err(RequestError::InvalidJson),
        },
        _ => Ok(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> http::Request<bytes::Bytes> {
        let mut builder = http::Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        builder.body(bytes::Bytes::copy_from_slice(body)).unwrap()
    }

    #[test]
    fn reads_segments_query_and_form() {
        let site = SiteUrl::default();
        let r = AuthRequest::parse(
            &request(
                "POST",
                "/api/auth/callback/cred%20s?callbackUrl=%2Fx&a=1&a=2",
                Some("application/x-www-form-urlencoded; charset=utf-8"),
                b"csrfToken=t&json=true&username=j+s",
            ),
            &site,
        )
        .unwrap();
        assert_eq!(r.segments, vec!["callback", "cred s"]);
        assert_eq!(r.query_str("callbackUrl"), Some("/x"));
        assert_eq!(
            r.query_str("a"),
            None,
            "a repeated parameter is not a string"
        );
        assert_eq!(r.body_str("username"), Some("j s"));
        assert!(r.wants_json());
    }

    #[test]
    fn json_bodies_follow_v3() {
        let site = SiteUrl::default();
        let r = AuthRequest::parse(
            &request(
                "POST",
                "/api/auth/signout",
                Some("application/json"),
                br#"{"json":true,"csrfToken":"t"}"#,
            ),
            &site,
        )
        .unwrap();
        assert!(!r.wants_json(), "boolean true is not the string \"true\"");
        assert_eq!(r.body_str("csrfToken"), Some("t"));
        let err = AuthRequest::parse(
            &request("POST", "/api/auth/signout", Some("application/json"), b"{"),
            &site,
        );
        assert_eq!(err.unwrap_err(), RequestError::InvalidJson);
        let text = AuthRequest::parse(
            &request(
                "POST",
                "/api/auth/signout",
                Some("text/plain"),
                b"csrfToken=t",
            ),
            &site,
        )
        .unwrap();
        assert!(text.body.is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let site = SiteUrl::default();
        assert_eq!(
            AuthRequest::parse(&request("GET", "/api/authx", None, b""), &site).unwrap_err(),
            RequestError::NotUnderBasePath
        );
        assert_eq!(
            AuthRequest::parse(&request("GET", "/api/auth/%FF", None, b""), &site).unwrap_err(),
            RequestError::BadPath
        );
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        assert_eq!(
            AuthRequest::parse(
                &request(
                    "POST",
                    "/api/auth/signout",
                    Some("application/x-www-form-urlencoded"),
                    &big
                ),
                &site
            )
            .unwrap_err(),
            RequestError::BodyTooLarge
        );
        assert!(
            AuthRequest::parse(&request("GET", "/api/auth", None, b""), &site)
                .unwrap()
                .segments
                .is_empty()
        );
    }
}
