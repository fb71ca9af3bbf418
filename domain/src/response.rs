//! Responses as v3 shapes them: JSON, HTML pages, plain-text errors and the redirect helper
//! with its `json=true` convention (spec §1.8).

use http::{header, HeaderName, HeaderValue, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::Value;

/// The response a flow builds up; `into_http` turns it into bytes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// `Set-Cookie` lines, in the order they were set.
    pub cookies: Vec<String>,
    /// The `Location` header, for a redirect.
    pub location: Option<String>,
    /// The body, with its content type.
    pub body: Body,
    /// `Cache-Control: no-store`: the response carries a token or a session.
    pub no_store: bool,
    /// Further headers, e.g. a page's Content-Security-Policy.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// A reply's body; the variant sets the `Content-Type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body.
    Empty,
    /// `application/json`.
    Json(Value),
    /// `text/html`.
    Html(String),
    /// `text/plain`, as v3's error texts.
    Text(String),
}

impl Reply {
    /// `200 OK` with a JSON body.
    pub fn json(value: Value) -> Self {
        Self::with_body(StatusCode::OK, Body::Json(value))
    }

    /// An HTML page with this status.
    pub fn html(status: StatusCode, html: String) -> Self {
        Self::with_body(status, Body::Html(html))
    }

    /// A plain-text body with this status.
    pub fn text(status: StatusCode, text: impl Into<String>) -> Self {
        Self::with_body(status, Body::Text(text.into()))
    }

    fn with_body(status: StatusCode, body: Body) -> Self {
        Self {
            status,
            cookies: Vec::new(),
            location: None,
            body,
            no_store: false,
            headers: Vec::new(),
        }
    }

    /// v3's `res.redirect`: with `json=true` in the body, `{url}` with `status`; otherwise
    /// 302 to `target` (the status is overwritten, as v3 does).
    pub fn redirect(target: impl Into<String>, wants_json: bool, status: StatusCode) -> Self {
        let target = target.into();
        if wants_json {
            Self::with_body(status, Body::Json(serde_json::json!({ "url": target })))
        } else {
            Self {
                location: Some(target),
                ..Self::with_body(StatusCode::FOUND, Body::Empty)
            }
        }
    }

    /// 400 for any method/action v3 does not serve (spec §1.9).
    pub fn unsupported(method: &http::Method) -> Self {
        Self::text(
            StatusCode::BAD_REQUEST,
            format!("Error: This action with HTTP {method} is not supported by NextAuth.js"),
        )
    }

    /// A static file (the browser client, `GET BASE/client.js`): anyone may cache it for an
    /// hour, so it must carry no cookie — the caller drops what the request prelude set.
    pub fn asset(content_type: &'static str, text: &'static str) -> Self {
        Self::text(StatusCode::OK, text)
            .with_header(header::CONTENT_TYPE, HeaderValue::from_static(content_type))
            .with_header(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            )
    }

    /// Adds a `Set-Cookie` line after those set already.
    pub fn with_cookie(mut self, set_cookie: String) -> Self {
        self.cookies.push(set_cookie);
        self
    }

    /// Marks the reply `Cache-Control: no-store`.
    pub fn no_store(mut self) -> Self {
        self.no_store = true;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP response. Cookies set by the request prelude (`prelude`) come first.
    /// Every response, redirects included, carries `Referrer-Policy: no-referrer` (so no
    /// token or callback URL in our URLs leaks to the next site) and `nosniff`.
    pub fn into_http(self, prelude: &[String]) -> http::Response<String> {
        let mut response = http::Response::new(String::new());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        // Sized once for what every answer carries, instead of growing on the way.
        headers.reserve(8 + prelude.len() + self.cookies.len() + self.headers.len());
        for line in prelude {
            if let Ok(value) = HeaderValue::from_str(line) {
                headers.append(header::SET_COOKIE, value);
            }
        }
        // The reply's own lines move into the header values without a copy.
        for line in self.cookies {
            if let Ok(value) = HeaderValue::try_from(line) {
                headers.append(header::SET_COOKIE, value);
            }
        }
        if let Some(location) = &self.location {
            if let Ok(value) = HeaderValue::from_str(&header_safe(location)) {
                headers.insert(header::LOCATION, value);
            }
        }
        let no_store = self.no_store || headers.contains_key(header::SET_COOKIE);
        let (content_type, body) = match self.body {
            Body::Empty => (None, String::new()),
            // Serialised straight into the body's buffer, not through `Display`.
            Body::Json(value) => (
                Some("application/json; charset=utf-8"),
                serde_json::to_string(&value).unwrap_or_else(|_| value.to_string()),
            ),
            Body::Html(html) => (Some("text/html; charset=utf-8"), html),
            Body::Text(text) => (Some("text/plain; charset=utf-8"), text),
        };
        if let Some(content_type) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if no_store {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        *response.body_mut() = body;
        response
    }
}

/// Characters a `Location` header cannot carry as they are.
const NOT_HEADER_SAFE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`');

/// Percent-encodes what a header value cannot hold (non-ASCII, controls); the rest stays.
fn header_safe(url: &str) -> String {
    std::borrow::Cow::from(utf8_percent_encode(url, NOT_HEADER_SAFE)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_helper_follows_json_convention() {
        let r = Reply::redirect("https://e.com/x", true, StatusCode::UNAUTHORIZED).into_http(&[]);
        assert_eq!(r.status(), 401);
        assert_eq!(r.body(), r#"{"url":"https://e.com/x"}"#);
        let r = Reply::redirect("https://e.com/é", false, StatusCode::UNAUTHORIZED).into_http(&[]);
        assert_eq!(r.status(), 302);
        assert_eq!(r.headers()["location"], "https://e.com/%C3%A9");
        assert!(r.body().is_empty());
    }

    #[test]
    fn cookies_keep_their_order_and_force_no_store() {
        let r = Reply::json(serde_json::json!({}))
            .with_cookie("b=2; Path=/".into())
            .into_http(&["a=1; Path=/".into()]);
        let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2; Path=/"]);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let plain = Reply::text(StatusCode::BAD_REQUEST, "x").into_http(&[]);
        assert!(plain.headers().get("cache-control").is_none());
    }

    #[test]
    fn every_response_hides_the_referrer_and_forbids_sniffing() {
        for reply in [
            Reply::redirect("https://e.com/cb?code=x", false, StatusCode::OK),
            Reply::redirect("https://e.com/cb", true, StatusCode::OK),
            Reply::json(serde_json::json!({})),
            Reply::text(StatusCode::BAD_REQUEST, "x"),
            Reply::html(StatusCode::OK, "<p>x</p>".into()),
        ] {
            let r = reply.into_http(&[]);
            assert_eq!(r.headers()["referrer-policy"], "no-referrer");
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        }
    }

    #[test]
    fn extra_headers_are_sent() {
        let r = Reply::html(StatusCode::OK, String::new())
            .with_header(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"))
            .into_http(&[]);
        assert_eq!(r.headers()["x-frame-options"], "DENY");
    }

    #[test]
    fn unsupported_text_is_v3() {
        let r = Reply::unsupported(&http::Method::PUT).into_http(&[]);
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.body(),
            "Error: This action with HTTP PUT is not supported by NextAuth.js"
        );
    }
}
