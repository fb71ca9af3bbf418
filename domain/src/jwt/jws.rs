//! JWS compact, HS512 only (spec §5.2 step 2, §5.3 step 3).
//!
//! The MAC is computed with josekit's HS512 signer over bytes we assemble ourselves (header
//! `{"alg":"HS512"}` byte for byte, payload exactly as serialised by the caller). Verification
//! does NOT use josekit's `JwsVerifier::verify`, which compares MACs with `!=` (not constant
//! time); we recompute the MAC with the signer and compare with `constant_time_eq`. The header is
//! parsed and allow-listed here before any key is touched.

use josekit::jws::{JwsSigner, HS512};

use super::{b64d, b64e, parse_header, JwtError, MAX_TOKEN_LEN, SIGNING_KEY_LEN};
use crate::secret::constant_time_eq;

/// `base64url({"alg":"HS512"})`: the only header v3 emits (spec §5.2).
pub const HS512_HEADER_B64: &str = "eyJhbGciOiJIUzUxMiJ9";

/// The `kid` jose would put on v3's derived signing key if asked to (spec §5.1). The only `kid`
/// accepted; it selects nothing (every configured key is tried).
pub const V3_SIGNING_KID: &str = "nextauth-auto-generated-signing-key";

/// Length of an HMAC-SHA-512 tag.
const SIGNATURE_LEN: usize = 64;

/// HMAC-SHA-512 of `message` with josekit (OpenSSL). `key` must be at least 64 bytes (RFC 7518
/// §3.2; josekit enforces it).
fn hs512(key: &[u8], message: &[u8]) -> Result<Vec<u8>, JwtError> {
    if key.len() < SIGNING_KEY_LEN {
        return Err(JwtError::InvalidKeyLength);
    }
    let signer = HS512.signer_from_bytes(key).map_err(|_| JwtError::Crypto)?;
    signer.sign(message).map_err(|_| JwtError::Crypto)
}

/// `b64u({"alg":"HS512"}) . b64u(payload) . b64u(HMAC-SHA-512)`.
pub fn sign_hs512(key: &[u8], payload: &[u8]) -> Result<String, JwtError> {
    let mut token = String::with_capacity(payload.len().saturating_mul(2).saturating_add(128));
    token.push_str(HS512_HEADER_B64);
    token.push('.');
    token.push_str(&b64e(payload));
    let signature = hs512(key, token.as_bytes())?;
    token.push('.');
    token.push_str(&b64e(&signature));
    Ok(token)
}

/// Checks the protected header against the allow-list: `alg` must be `HS512`; `typ` may be
/// `JWT`; `kid` may only be [`V3_SIGNING_KID`]; anything else (`jku`, `jwk`, `x5u`, `x5c`,
/// `crit`, `b64`, `zip`, …) and duplicate members are rejected.
fn check_header(header_b64: &str) -> Result<(), JwtError> {
    let members = parse_header(header_b64)?;
    let mut has_alg = false;
    for (name, value) in &members {
        match name.as_str() {
            "alg" => {
                if value.as_str() != Some("HS512") {
                    return Err(JwtError::UnsupportedHeader("alg"));
                }
                has_alg = true;
            }
            "typ" => {
                if value.as_str() != Some("JWT") {
                    return Err(JwtError::UnsupportedHeader("typ"));
                }
            }
            "kid" => {
                if value.as_str() != Some(V3_SIGNING_KID) {
                    return Err(JwtError::UnsupportedHeader("kid"));
                }
            }
            other => return Err(JwtError::UnsupportedHeader(super::member_label(other))),
        }
    }
    if has_alg {
        Ok(())
    } else {
        Err(JwtError::UnsupportedHeader("alg"))
    }
}

/// Verifies a compact HS512 JWS against every key (rotation) and returns the decoded payload
/// bytes (tokens over [`MAX_TOKEN_LEN`] are refused). The header is checked before any MAC is computed; the payload is decoded only after
/// the MAC matched.
pub fn verify_hs512<'k>(
    keys: impl IntoIterator<Item = &'k [u8]>,
    token: &str,
) -> Result<Vec<u8>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    check_header(header)?;
    let signature = b64d(signature)?;
    if signature.len() != SIGNATURE_LEN {
        return Err(JwtError::BadSignature);
    }
    let signing_input = token
        .get(..header.len() + 1 + payload.len())
        .ok_or(JwtError::Malformed)?;
    let mut verified = false;
    for key in keys {
        let expected = hs512(key, signing_input.as_bytes())?;
        if constant_time_eq(&expected, &signature) {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(JwtError::BadSignature);
    }
    b64d(payload)
}
