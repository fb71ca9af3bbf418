//! An independent, minimal JOSE implementation for the specs: derive v3's keys, mint JWS
//! (any HMAC algorithm, any header) and JWE tokens, and open the engine's tokens.
//!
//! It shares no code with the engine on purpose: a token the specs mint and the engine
//! accepts (or the other way round) proves both follow the spec, not just each other.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Sha256, Sha512};

/// v3's derived keys (spec §5.1).
#[derive(Clone)]
pub(crate) struct Keys {
    pub signing: Vec<u8>,
    pub encryption: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

/// HKDF-SHA256, empty salt, v3's info strings.
pub(crate) fn derive(secret: &str) -> Keys {
    let hk = hkdf::Hkdf::<Sha256>::new(None, secret.as_bytes());
    let mut signing = vec![0u8; 64];
    let mut encryption = vec![0u8; 32];
    hk.expand(b"NextAuth.js Generated Signing Key", &mut signing)
        .expect("64 bytes is a valid HKDF length");
    hk.expand(b"NextAuth.js Generated Encryption Key", &mut encryption)
        .expect("32 bytes is a valid HKDF length");
    Keys {
        signing,
        encryption,
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| format!("bad base64url {text:?}: {e}"))
}

/// `alg` of an HMAC JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    Hs256,
    Hs512,
    None,
}

/// A compact JWS with exactly `header` (JSON text) and `payload` (JSON text).
pub(crate) fn sign(alg: Alg, key: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = match alg {
        Alg::Hs512 => {
            let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Alg::Hs256 => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Alg::None => Vec::new(),
    };
    format!("{input}.{}", b64(&signature))
}

/// Whether `token`'s HS512 signature was made with `key`.
pub(crate) fn verify_hs512(token: &str, key: &[u8]) -> Result<bool, String> {
    let (input, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| format!("not a JWS: {token}"))?;
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(input.as_bytes());
    Ok(mac.verify_slice(&unb64(signature)?).is_ok())
}

/// The decoded header and payload of a compact JWS (not verified).
pub(crate) fn jws_parts(token: &str) -> Result<(String, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "a JWS has 3 parts, this has {}: {token}",
            parts.len()
        ));
    }
    let header = String::from_utf8(unb64(parts[0])?).map_err(|e| e.to_string())?;
    let payload: Value =
        serde_json::from_slice(&unb64(parts[1])?).map_err(|e| format!("payload: {e}"))?;
    Ok((header, payload))
}

/// A compact `dir`/`A256GCM` JWE of `plaintext` with exactly `header`.
pub(crate) fn seal(key: &[u8], header: &str, plaintext: &[u8]) -> String {
    let protected = b64(header.as_bytes());
    let iv = [7u8; 12];
    let cipher = Aes256Gcm::new_from_slice(key).expect("A256GCM takes 32 bytes");
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: plaintext,
                aad: protected.as_bytes(),
            },
        )
        .expect("AES-GCM seals");
    let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
    format!("{protected}..{}.{}.{}", b64(&iv), b64(ciphertext), b64(tag))
}

/// Opens a compact `dir`/`A256GCM` JWE: its header text and plaintext.
pub(crate) fn open(key: &[u8], token: &str) -> Result<(String, Vec<u8>), String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 5 {
        return Err(format!(
            "a JWE has 5 parts, this has {}: {token}",
            parts.len()
        ));
    }
    if !parts[1].is_empty() {
        return Err("dir JWE has an empty encrypted-key part".into());
    }
    let header = String::from_utf8(unb64(parts[0])?).map_err(|e| e.to_string())?;
    let iv = unb64(parts[2])?;
    if iv.len() != 12 {
        return Err(format!("IV is {} bytes, not 12", iv.len()));
    }
    let mut sealed = unb64(parts[3])?;
    sealed.extend(unb64(parts[4])?);
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| e.to_string())?;
    let plaintext = cipher
        .decrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: &sealed,
                aad: parts[0].as_bytes(),
            },
        )
        .map_err(|_| "JWE does not decrypt with this key".to_owned())?;
    Ok((header, plaintext))
}
