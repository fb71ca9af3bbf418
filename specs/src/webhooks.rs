//! The operator's side of a Standard Webhooks call, for the services the scenarios run on
//! loopback (credentials service, hook server): a fresh secret, the check of a request's
//! signature and a signed JSON answer.

use warp::http::{HeaderMap, Response};

/// A fresh `whsec_` secret, unique to this call (not a production key).
pub(crate) fn fresh_secret() -> String {
    use sha2::Digest as _;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!(
        "{}-{}-{nanos}",
        crate::mailbox::unique_sender(),
        std::process::id()
    );
    let key: [u8; 32] = sha2::Sha256::digest(seed.as_bytes()).into();
    format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key)
    )
}

/// `200` with the JSON `answer`, signed for the request's `webhook-id` (the engine checks
/// that the answer echoes its request's id).
pub(crate) fn signed_json(
    webhook: &standardwebhooks::Webhook,
    request: &HeaderMap,
    answer: String,
) -> Response<String> {
    let id = request
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = webhook
        .sign(&id, now, answer.as_bytes())
        .expect("signing the answer");
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(answer)
        .expect("a response")
}

/// `401` when the request's Standard Webhooks signature does not verify, else `None`.
pub(crate) fn refuse_unsigned(
    webhook: &standardwebhooks::Webhook,
    request: &HeaderMap,
    body: &[u8],
) -> Option<Response<String>> {
    webhook.verify(body, request).err().map(|_| {
        Response::builder()
            .status(401)
            .body("bad signature".to_owned())
            .expect("a response")
    })
}
