//! JWE compact, `alg: dir` + `enc: A256GCM` only (spec §5.2 step 3, §5.3 step 2).
//!
//! Hand-written with `aes-gcm` rather than josekit: josekit draws the IV from OpenSSL's RNG (the
//! domain takes randomness as an argument) and inflates `zip: DEF` with no bound on the output.

use std::io::Read;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};

use super::{b64d, b64e, parse_header, JwtError, ENCRYPTION_KEY_LEN, MAX_TOKEN_LEN};

/// `base64url({"alg":"dir","enc":"A256GCM"})`: what [`seal_dir`] emits (no `zip`).
pub const DIR_A256GCM_HEADER_B64: &str = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0";

/// Upper bound on the inflated size of a `zip: DEF` plaintext.
pub const MAX_INFLATED_LEN: usize = 16 * 1024;

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

fn cipher(key: &[u8]) -> Result<Aes256Gcm, JwtError> {
    if key.len() != ENCRYPTION_KEY_LEN {
        return Err(JwtError::InvalidKeyLength);
    }
    Aes256Gcm::new_from_slice(key).map_err(|_| JwtError::InvalidKeyLength)
}

/// Encrypts `plaintext` as a compact JWE with the given protected header (already base64url),
/// a 12-byte IV from `rng`, AAD = the ASCII of the encoded header.
pub(super) fn seal_with_header(
    key: &[u8],
    header_b64: &str,
    plaintext: &[u8],
    rng: &mut dyn rand_core::RngCore,
) -> Result<String, JwtError> {
    let cipher = cipher(key)?;
    let mut iv = [0u8; IV_LEN];
    rng.try_fill_bytes(&mut iv).map_err(|_| JwtError::Rng)?;
    let mut buffer = plaintext.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(&Nonce::from(iv), header_b64.as_bytes(), &mut buffer)
        .map_err(|_| JwtError::Crypto)?;
    Ok(format!(
        "{header_b64}..{}.{}.{}",
        b64e(&iv),
        b64e(&buffer),
        b64e(&tag)
    ))
}

/// `b64u({"alg":"dir","enc":"A256GCM"}) .. b64u(iv) . b64u(ciphertext) . b64u(tag)` with a
/// 32-byte key. Not compressed (compressing before encrypting leaks plaintext length
/// structure, and v3 decoders accept a JWE without `zip`).
pub fn seal_dir(
    key: &[u8],
    plaintext: &[u8],
    rng: &mut dyn rand_core::RngCore,
) -> Result<String, JwtError> {
    seal_with_header(key, DIR_A256GCM_HEADER_B64, plaintext, rng)
}

/// Checks the protected header: exactly `alg: "dir"`, `enc: "A256GCM"` and optionally
/// `zip: "DEF"`; nothing else, no duplicates. Returns whether the plaintext is deflated. The
/// header [`seal_dir`] emits, [`DIR_A256GCM_HEADER_B64`] byte for byte, is accepted without
/// parsing it (it is exactly `{"alg":"dir","enc":"A256GCM"}`: not deflated).
fn check_header(header_b64: &str) -> Result<bool, JwtError> {
    if header_b64 == DIR_A256GCM_HEADER_B64 {
        return Ok(false);
    }
    check_header_members(header_b64)
}

/// The allow-list of [`check_header`], member by member.
fn check_header_members(header_b64: &str) -> Result<bool, JwtError> {
    let members = parse_header(header_b64)?;
    let (mut has_alg, mut has_enc, mut deflated) = (false, false, false);
    for (name, value) in &members {
        match name.as_str() {
            "alg" => {
                if value.as_str() != Some("dir") {
                    return Err(JwtError::UnsupportedHeader("alg"));
                }
                has_alg = true;
            }
            "enc" => {
                if value.as_str() != Some("A256GCM") {
                    return Err(JwtError::UnsupportedHeader("enc"));
                }
                has_enc = true;
            }
            "zip" => {
                if value.as_str() != Some("DEF") {
                    return Err(JwtError::UnsupportedHeader("zip"));
                }
                deflated = true;
            }
            other => return Err(JwtError::UnsupportedHeader(super::member_label(other))),
        }
    }
    if !has_alg {
        return Err(JwtError::UnsupportedHeader("alg"));
    }
    if !has_enc {
        return Err(JwtError::UnsupportedHeader("enc"));
    }
    Ok(deflated)
}

/// Decrypts a compact `dir`/`A256GCM` JWE with the first key that authenticates it (rotation),
/// inflating `zip: DEF` plaintexts up to [`MAX_INFLATED_LEN`] bytes. Tokens over
/// [`MAX_TOKEN_LEN`] are refused.
pub fn open_dir<'k>(
    keys: impl IntoIterator<Item = &'k [u8]>,
    token: &str,
) -> Result<Vec<u8>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(encrypted_key), Some(iv), Some(ciphertext), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(JwtError::Malformed);
    };
    let deflated = check_header(header)?;
    if !encrypted_key.is_empty() {
        // `dir` has no encrypted key.
        return Err(JwtError::Malformed);
    }
    let iv: [u8; IV_LEN] = b64d(iv)?.try_into().map_err(|_| JwtError::Malformed)?;
    let tag: [u8; TAG_LEN] = b64d(tag)?.try_into().map_err(|_| JwtError::Malformed)?;
    let ciphertext = b64d(ciphertext)?;
    let (nonce, tag) = (Nonce::from(iv), Tag::from(tag));

    let mut plaintext = None;
    for key in keys {
        let cipher = cipher(key)?;
        let mut buffer = ciphertext.clone();
        if cipher
            .decrypt_in_place_detached(&nonce, header.as_bytes(), &mut buffer, &tag)
            .is_ok()
        {
            plaintext = Some(buffer);
            break;
        }
    }
    let plaintext = plaintext.ok_or(JwtError::Decrypt)?;
    if deflated {
        inflate_capped(&plaintext, MAX_INFLATED_LEN)
    } else {
        Ok(plaintext)
    }
}

/// Raw DEFLATE (RFC 1951, no zlib header) decompression that stops as soon as the output
/// would exceed `cap`: reads in fixed chunks through `take(cap + 1)` into a buffer reserved
/// up front, so a deflate bomb costs at most `cap + 1` bytes of output. Trailing bytes after the
/// end of the stream are rejected.
pub(super) fn inflate_capped(compressed: &[u8], cap: usize) -> Result<Vec<u8>, JwtError> {
    let limit = u64::try_from(cap)
        .map_err(|_| JwtError::TooLarge)?
        .saturating_add(1);
    let mut reader = flate2::bufread::DeflateDecoder::new(compressed).take(limit);
    let mut out = Vec::with_capacity(cap.saturating_add(1).min(MAX_INFLATED_LEN + 1));
    let mut chunk = [0u8; 4096];
    loop {
        let n = reader.read(&mut chunk).map_err(|_| JwtError::Malformed)?;
        if n == 0 {
            break;
        }
        let read = chunk.get(..n).ok_or(JwtError::Malformed)?;
        if out.len() + read.len() > cap {
            return Err(JwtError::TooLarge);
        }
        out.extend_from_slice(read);
    }
    let decoder = reader.into_inner();
    if usize::try_from(decoder.total_in()).ok() != Some(compressed.len()) {
        return Err(JwtError::Malformed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path agrees with the allow-list on the one header it skips.
    #[test]
    fn our_header_passes_the_allow_list_undeflated() {
        assert_eq!(check_header_members(DIR_A256GCM_HEADER_B64), Ok(false));
        assert_eq!(
            super::super::b64d(DIR_A256GCM_HEADER_B64).unwrap(),
            br#"{"alg":"dir","enc":"A256GCM"}"#
        );
    }
}
