//! Token endpoint answers (`client::parse_tokens`): JSON, or a form as GitHub sends without
//! `Accept`; the standard shape and Slack's. An accepted answer has a non-empty access
//! token, a bounded expiry, and no secret field among the extras.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_domain::http::HttpResponse;
use portcullis_domain::oauth::client::parse_tokens;
use portcullis_domain::oauth::provider::TokenShape;
use portcullis_domain::oauth::OAuthProvider;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let Ok(now) = OffsetDateTime::from_unix_timestamp(1_700_000_000) else {
        return;
    };
    let response = HttpResponse {
        status: 200,
        content_type: Some("application/json".into()),
        headers: Vec::new(),
        body: bytes::Bytes::copy_from_slice(data),
    };
    let standard = OAuthProvider::oauth2("client", "secret");
    let mut slack = OAuthProvider::oauth2("client", "secret");
    slack.token_shape = TokenShape::Slack;
    for provider in [&standard, &slack] {
        if let Ok(tokens) = parse_tokens(provider, &response, now) {
            assert!(!tokens.access_token.expose().is_empty());
            if let Some(at) = tokens.expires_at {
                assert!(at > now);
                assert!(at <= now + time::Duration::days(3651), "expiry not capped");
            }
            for secret in [
                "access_token",
                "refresh_token",
                "id_token",
                "authed_user",
                "oauth_token_secret",
            ] {
                assert!(!tokens.extra.contains_key(secret), "{secret} in extras");
            }
        }
    }
    let failed = HttpResponse {
        status: 400,
        ..response
    };
    assert!(parse_tokens(&standard, &failed, now).is_err());
});
