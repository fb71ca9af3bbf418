//! The `Cookie` request header: `RequestCookies::from_headers`, then the CSRF cookie's
//! `token|hash` split. Never panics; whatever is read back is bounded and UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_domain::cookies::RequestCookies;
use portcullis_domain::csrf;
use portcullis_domain::secret::SecretString;

const NAMES: &[&str] = &[
    "next-auth.session-token",
    "__Secure-next-auth.session-token",
    "__Host-next-auth.csrf-token",
    "next-auth.csrf-token",
    "next-auth.callback-url",
    "__Host-next-auth.state",
    "__Host-next-auth.pkce.code_verifier",
];

fuzz_target!(|data: &[u8]| {
    let mut headers = http::HeaderMap::new();
    // Several `Cookie` headers (HTTP/2 splits them): one per line of the input.
    for line in data.split(|b| *b == b'\n') {
        if let Ok(value) = http::HeaderValue::from_bytes(line) {
            headers.append(http::header::COOKIE, value);
        }
    }
    let cookies = RequestCookies::from_headers(&headers);
    let secrets = [SecretString::new("my-nextauth-secret")];
    for name in NAMES {
        if let Some(value) = cookies.get(name) {
            // The cap on a raw value is 8 KiB; decoding only shrinks it.
            assert!(value.len() <= 8 * 1024, "cookie value over the cap");
            if let Some(token) = csrf::token_from_cookie(value, &secrets) {
                assert!(value.starts_with(token.expose()));
            }
        }
    }
    // Names read back exactly as they were sent (first of duplicates wins).
    if let Ok(text) = std::str::from_utf8(data) {
        for pair in text.split([';', '\n']) {
            if let Some((name, _)) = pair.trim().split_once('=') {
                let _ = cookies.get(name.trim());
            }
        }
    }
});
