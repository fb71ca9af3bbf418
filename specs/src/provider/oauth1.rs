//! OAuth 1.0a HMAC-SHA1 signatures (RFC 5849 §3.4), checked by the test provider with its own
//! code: a request Portcullis signs wrongly is refused, as a real provider would.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// RFC 3986 percent-encoding of everything but the unreserved characters (RFC 5849 §3.6).
pub(super) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn decode(text: &str) -> String {
    percent_decode(text)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `oauth_*` parameters of an `Authorization: OAuth …` header, decoded (no `realm`).
pub(super) fn header_params(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.trim().strip_prefix("OAuth ")?;
    let mut params = Vec::new();
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
        if name != "realm" {
            params.push((decode(name), decode(value)));
        }
    }
    Some(params)
}

/// Whether `signature` is the HMAC-SHA1 signature of the request: `method`, `base_uri`
/// (scheme, host, port and path) and every parameter but `oauth_signature`, keyed with
/// the consumer secret and the token secret.
pub(super) fn verify(
    method: &str,
    base_uri: &str,
    params: &[(String, String)],
    consumer_secret: &str,
    token_secret: &str,
) -> bool {
    let Some(signature) = params
        .iter()
        .find(|(k, _)| k == "oauth_signature")
        .map(|(_, v)| v.clone())
    else {
        return false;
    };
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    pairs.sort();
    let normalized = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(base_uri),
        encode(&normalized)
    );
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(base.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes()) == signature
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5849 §1.2's example: the access-token request of printer.example.com.
    #[test]
    fn verifies_the_rfc_example() {
        let header = r#"OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="hh5s93j4hdidpola", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131201", oauth_nonce="walatlh", oauth_verifier="hfdp7dh39dks9884", oauth_signature="gKgrFCywp7rO0OXSjdot%2FIHF7IU%3D""#;
        let params = header_params(header).unwrap();
        assert!(verify(
            "POST",
            "https://photos.example.net/token",
            &params,
            "kd94hf93k423kf44",
            "hdhd0244k9j7ao03"
        ));
        assert!(!verify(
            "POST",
            "https://photos.example.net/token",
            &params,
            "kd94hf93k423kf44",
            "another"
        ));
    }
}
