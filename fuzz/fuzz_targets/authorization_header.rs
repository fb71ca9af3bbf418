//! The `Authorization` request header, read by the embedded driver's
//! `Portcullis::get_token` (v3's `getToken`: the session cookie, else `Bearer <jwt>`), with
//! the §19 secret and a clock fixed just after the §19 vector's `iat`, so the vector's
//! token is valid. Never panics; a token is returned only for a `Bearer` scheme
//! (any case) and only with a non-empty `sub`.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use portcullis::{Clock, Portcullis};
use time::OffsetDateTime;

struct Fixed;

impl Clock for Fixed {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_100).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

fn app() -> Option<&'static Portcullis> {
    static APP: OnceLock<Option<Portcullis>> = OnceLock::new();
    APP.get_or_init(|| {
        Portcullis::builder()
            .url("http://localhost:3000/api/auth")
            .secret("my-nextauth-secret")
            .configure(|c| c.allow_short_secret(true))
            .clock(Arc::new(Fixed))
            .build()
            .ok()
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(app) = app() else {
        return;
    };
    let Ok(value) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    if let Some(claims) = app.decode_token(&headers) {
        let text = std::str::from_utf8(data).unwrap_or_default();
        let scheme = text.split(' ').next().unwrap_or_default();
        assert!(
            scheme.eq_ignore_ascii_case("bearer"),
            "scheme {scheme:?} accepted"
        );
        assert!(claims
            .get("sub")
            .and_then(|v| v.as_str())
            .is_some_and(|s| !s.is_empty()));
    }
});
