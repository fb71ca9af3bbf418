//! Request bodies through `AuthRequest::parse`: form-urlencoded (and the JSON bodies the
//! same routes accept). A form body always reads; every value is a string or, for a
//! repeated name, an array of strings, never an object a flow could mistake.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portcullis_domain::request::AuthRequest;
use portcullis_domain::site::SiteUrl;
use serde_json::Value;

fn request(content_type: &str, body: &[u8]) -> Option<http::Request<Bytes>> {
    http::Request::post("/api/auth/callback/credentials?callbackUrl=%2Fhome")
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Bytes::copy_from_slice(body))
        .ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(site) = SiteUrl::parse("http://localhost:3000/api/auth") else {
        return;
    };
    for content_type in [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
    ] {
        let Some(req) = request(content_type, data) else {
            continue;
        };
        match AuthRequest::parse(&req, &site) {
            Ok(parsed) => {
                assert_eq!(parsed.action(), "callback");
                assert_eq!(parsed.provider_id(), Some("credentials"));
                for (name, value) in &parsed.body {
                    match value {
                        Value::String(_) => {
                            assert_eq!(parsed.body_str(name), value.as_str());
                        }
                        Value::Array(values) => {
                            assert!(values.len() >= 2);
                            assert!(values.iter().all(Value::is_string));
                            assert_eq!(parsed.body_str(name), None);
                        }
                        other => panic!("form value {other:?}"),
                    }
                }
                let _ = parsed.wants_json();
                let _ = parsed.body_str("csrfToken");
            }
            Err(e) => assert!(
                data.len() > portcullis_domain::request::MAX_BODY_BYTES,
                "a form body was refused: {e}"
            ),
        }
    }
    if let Some(req) = request("application/json", data) {
        let _ = AuthRequest::parse(&req, &site);
    }
});
