//! OpenID discovery documents through `client::apply_discovery`. What it accepts names
//! the configured issuer and has authorisation and token endpoints that pass the
//! provider's own validation (https, or http on loopback; response_type=code only).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_domain::http::HttpResponse;
use portcullis_domain::oauth::client::{apply_discovery, json_object};
use portcullis_domain::oauth::OAuthProvider;

const ISSUER: &str = "https://idp.example.com";

fuzz_target!(|data: &[u8]| {
    let response = HttpResponse {
        status: 200,
        content_type: Some("application/json".into()),
        headers: Vec::new(),
        body: bytes::Bytes::copy_from_slice(data),
    };
    let openid = OAuthProvider::openid(ISSUER, "client", "client-secret");
    let mut configured = OAuthProvider::openid(ISSUER, "client", "client-secret");
    configured.endpoints.token = Some("https://idp.example.com/token".into());

    for provider in [&openid, &configured] {
        if let Ok(endpoints) = apply_discovery(provider, &response) {
            let doc = json_object(&response).unwrap_or_default();
            assert_eq!(
                doc.get("issuer").and_then(|v| v.as_str()),
                Some(ISSUER),
                "accepted a document for another issuer"
            );
            assert_eq!(endpoints.issuer.as_deref(), Some(ISSUER));
            for url in [&endpoints.authorization, &endpoints.token]
                .into_iter()
                .chain([&endpoints.userinfo, &endpoints.jwks_uri])
                .flatten()
            {
                let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{url:?}: {e}"));
                assert!(matches!(parsed.scheme(), "https" | "http"), "{url:?}");
            }
            assert!(endpoints.authorization.is_some() && endpoints.token.is_some());
            if provider.endpoints.token.is_some() {
                assert_eq!(
                    endpoints.token, provider.endpoints.token,
                    "configured endpoint lost"
                );
            }
        }
    }
    // Any status other than 2xx is refused whatever the body.
    let failed = HttpResponse {
        status: 500,
        ..response
    };
    assert!(apply_discovery(&openid, &failed).is_err());
});
