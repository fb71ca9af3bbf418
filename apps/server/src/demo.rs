//! The dev-mode demo (`serve --dev`): `/` shows who is signed in, with sign-in and sign-out
//! buttons, kept up to date by the client script (`<base>/client.js`). Three static files,
//! no inline script or style, so the page's Content-Security-Policy allows only this origin.

use http::{header, HeaderValue, StatusCode};
use portcullis::Portcullis;
use warp::Filter;

const INDEX: &str = include_str!("demo/index.html");
const SCRIPT: &str = include_str!("demo/demo.js");
const STYLE: &str = include_str!("demo/demo.css");

/// Scripts and styles from this origin only; fetches to this origin only; never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The demo page's routes (`GET /`, `/demo.js`, `/demo.css`), then every route of `app`.
pub fn routes_with_demo(
    app: Portcullis,
) -> impl warp::Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    demo_routes(&app).or(crate::http::routes(app)).unify()
}

/// `GET /`, `GET /demo.js`, `GET /demo.css`; everything else is rejected (falls through).
pub fn demo_routes(
    app: &Portcullis,
) -> impl warp::Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    let site = app.config().site.base_url().to_owned();
    let base = app.config().site.base_path().to_owned();
    let page = INDEX
        .replace("{site}", &escape(&site))
        .replace("{base}", &escape(&base));
    let index = warp::get()
        .and(warp::path::end())
        .map(move || file(page.clone(), "text/html; charset=utf-8"));
    let script = warp::get()
        .and(warp::path!("demo.js"))
        .map(|| file(SCRIPT.to_owned(), "text/javascript; charset=utf-8"));
    let style = warp::get()
        .and(warp::path!("demo.css"))
        .map(|| file(STYLE.to_owned(), "text/css; charset=utf-8"));
    index.or(script).unify().or(style).unify()
}

/// A dev page or file, with the demo's policy and headers.
pub(crate) fn file(body: String, content_type: &'static str) -> http::Response<String> {
    let mut response = http::Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// HTML-escapes a configured value (the site URL, the base path) for text and attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn configured_values_are_escaped() {
        assert_eq!(escape(r#"/a"b<c>&'d"#), "/a&quot;b&lt;c&gt;&amp;&#39;d");
    }
}
