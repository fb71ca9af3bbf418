//! The provider's answers: JSON, OAuth errors, forms, redirects.

use http::{Response, StatusCode};
use serde_json::{json, Value};

pub(super) type Reply = Response<Vec<u8>>;

pub(super) fn reply(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(body.into())
        .unwrap_or_default()
}

pub(super) fn json_reply(status: u16, body: &Value) -> Reply {
    reply(status, "application/json", body.to_string())
}

pub(super) fn oauth_error(status: u16, error: &str) -> Reply {
    json_reply(status, &json!({ "error": error }))
}

pub(super) fn redirect(location: &str) -> Reply {
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .body(Vec::new())
        .unwrap_or_default()
}

pub(super) fn form_reply(pairs: &[(&str, &str)]) -> Reply {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    reply(200, "application/x-www-form-urlencoded", body)
}
