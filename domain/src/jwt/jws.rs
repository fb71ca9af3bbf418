//! JWS compact, HS512 only (spec §5.2 step 2, §5.3 step 3).
//!
//! The MAC is HMAC-SHA-512 from the RustCrypto `hmac` + `sha2` crates over bytes we assemble
//! ourselves (header `{"alg":"HS512"}` byte for byte, payload exactly as serialised by the
//! caller). The key schedule (the inner and outer padded key blocks) is computed once, when the
//! keys are derived or configured ([`Hs512Key::new`]), and the keyed state is cloned per MAC:
//! no per-request key setup, no OpenSSL object. Verification compares tags in constant time
//! (`hmac`'s `verify_slice`). The header is parsed and allow-listed here before any key is
//! touched.

use hmac::{Hmac, Mac};
use sha2::Sha512;

use super::{parse_header, JwtError, MAX_TOKEN_LEN, SIGNING_KEY_LEN};

/// `base64url({"alg":"HS512"})`: the only header v3 emits (spec §5.2).
pub const HS512_HEADER_B64: &str = "eyJhbGciOiJIUzUxMiJ9";

/// The `kid` jose would put on v3's derived signing key if asked to (spec §5.1). The only `kid`
/// accepted; it selects nothing (every configured key is tried).
pub const V3_SIGNING_KID: &str = "nextauth-auto-generated-signing-key";

/// Length of an HMAC-SHA-512 tag.
const SIGNATURE_LEN: usize = 64;
/// Length of its base64url form (no padding).
const SIGNATURE_B64_LEN: usize = 86;

/// An HS512 key, keyed once: HMAC-SHA-512's state after absorbing the padded key, cloned for
/// each MAC. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct Hs512Key(Hmac<Sha512>);

impl Hs512Key {
    /// Keys HMAC-SHA-512 with `key`, which must be at least 64 bytes (RFC 7518 §3.2). Longer
    /// keys are hashed first, as HMAC (RFC 2104) specifies.
    pub fn new(key: &[u8]) -> Result<Self, JwtError> {
        if key.len() < SIGNING_KEY_LEN {
            return Err(JwtError::InvalidKeyLength);
        }
        Hmac::<Sha512>::new_from_slice(key)
            .map(Self)
            .map_err(|_| JwtError::InvalidKeyLength)
    }

    /// The HMAC-SHA-512 tag of `message`.
    fn mac(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut mac = self.0.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the HMAC-SHA-512 tag of `message` (constant-time comparison).
    fn verifies(&self, message: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.0.clone();
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

impl std::fmt::Debug for Hs512Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hs512Key([redacted])")
    }
}

/// `b64u({"alg":"HS512"}) . b64u(payload) . b64u(HMAC-SHA-512)` with a raw key (at least 64
/// bytes). Keys the MAC on every call: prefer [`sign_hs512_keyed`] with a key kept around.
pub fn sign_hs512(key: &[u8], payload: &[u8]) -> Result<String, JwtError> {
    Ok(sign_hs512_keyed(&Hs512Key::new(key)?, payload))
}

/// `b64u({"alg":"HS512"}) . b64u(payload) . b64u(HMAC-SHA-512)`.
pub fn sign_hs512_keyed(key: &Hs512Key, payload: &[u8]) -> String {
    // base64url is 4/3 of the input: payload, '.', 86 characters of signature.
    let capacity = HS512_HEADER_B64.len() + 2 + payload.len().div_ceil(3) * 4 + 88;
    let mut token = String::with_capacity(capacity);
    token.push_str(HS512_HEADER_B64);
    token.push('.');
    super::b64e_into(payload, &mut token);
    let signature = key.mac(token.as_bytes());
    token.push('.');
    super::b64e_into(&signature, &mut token);
    token
}

/// Checks the protected header against the allow-list: `alg` must be `HS512`; `typ` may be
/// `JWT`; `kid` may only be [`V3_SIGNING_KID`]; anything else (`jku`, `jwk`, `x5u`, `x5c`,
/// `crit`, `b64`, `zip`, …) and duplicate members are rejected. The header v3 emits,
/// [`HS512_HEADER_B64`] byte for byte, is accepted without parsing it (it is exactly
/// `{"alg":"HS512"}`, which the allow-list accepts).
fn check_header(header_b64: &str) -> Result<(), JwtError> {
    if header_b64 == HS512_HEADER_B64 {
        return Ok(());
    }
    check_header_members(header_b64)
}

/// The allow-list of [`check_header`], member by member.
fn check_header_members(header_b64: &str) -> Result<(), JwtError> {
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
    keys: impl IntoIterator<Item = &'k Hs512Key>,
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
    let signature = decode_signature(signature)?;
    let signing_input = token
        .get(..header.len() + 1 + payload.len())
        .ok_or(JwtError::Malformed)?;
    if !keys
        .into_iter()
        .any(|key| key.verifies(signing_input.as_bytes(), &signature))
    {
        return Err(JwtError::BadSignature);
    }
    super::b64d(payload)
}

/// The base64url signature part, decoded onto the stack: exactly 64 bytes, else
/// [`JwtError::BadSignature`]; bad base64url is [`JwtError::Malformed`].
fn decode_signature(text: &str) -> Result<[u8; SIGNATURE_LEN], JwtError> {
    // 64 bytes are exactly 86 base64url characters (no padding): any other length cannot be a
    // tag. Bad base64url is still `Malformed` there, anything else a bad MAC.
    if text.len() != SIGNATURE_B64_LEN {
        super::b64d(text)?;
        return Err(JwtError::BadSignature);
    }
    let mut tag = [0u8; SIGNATURE_LEN];
    let written = super::b64d_into(text, &mut tag)?;
    if written != SIGNATURE_LEN {
        return Err(JwtError::BadSignature);
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path agrees with the allow-list on the one header it skips.
    #[test]
    fn the_v3_header_passes_the_allow_list() {
        assert_eq!(check_header_members(HS512_HEADER_B64), Ok(()));
        assert_eq!(
            super::super::b64d(HS512_HEADER_B64).unwrap(),
            br#"{"alg":"HS512"}"#
        );
    }

    #[test]
    fn keys_under_64_bytes_are_refused_and_debug_is_redacted() {
        assert_eq!(
            Hs512Key::new(&[7u8; 63]).map(|_| ()),
            Err(JwtError::InvalidKeyLength)
        );
        let key = Hs512Key::new(&[0x41u8; 64]).unwrap();
        assert_eq!(format!("{key:?}"), "Hs512Key([redacted])");
    }

    /// RFC 4231 test case 6 (a 131-byte key, hashed first) and 7, HMAC-SHA-512.
    #[test]
    fn rfc4231_long_key_vectors() {
        let key = Hs512Key::new(&[0xaa; 131]).unwrap();
        assert_eq!(
            hex::encode(key.mac(b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
             6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"
        );
        let message: &[u8] = b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.";
        let tag = key.mac(message);
        assert_eq!(
            hex::encode(tag),
            "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944\
             b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"
        );
        assert!(key.verifies(message, &tag));
        let mut bad = tag;
        bad[63] ^= 1;
        assert!(!key.verifies(message, &bad));
        assert!(!key.verifies(message, &tag[..32]));
    }
}
