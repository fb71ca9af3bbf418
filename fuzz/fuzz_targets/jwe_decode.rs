//! v3 JWT decode with `encryption: true` (dir/A256GCM JWE around an HS512 JWS), keys
//! derived from the §19 test secret.
//!
//! First byte: 0 mod 3, the rest is the token as is (header, base64, GCM tag, `zip: DEF`
//! inflation of what authenticates); 1, the rest is sealed with the real key first (the
//! inner JWS parser); 2, the rest is a payload signed then sealed (claims and times).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_domain::jwt::{self, jwe, jws, JwtKeys, JwtSettings};
use portcullis_domain::secret::SecretString;

const NOW: i64 = 1_700_000_100;
const SECRET: &[u8] = b"my-nextauth-secret";

/// A fixed IV: the fuzzer needs determinism, not secrecy.
struct Fixed;

impl rand_core::RngCore for Fixed {
    fn next_u32(&mut self) -> u32 {
        7
    }
    fn next_u64(&mut self) -> u64 {
        7
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(7);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(7);
        Ok(())
    }
}

fn key(info: &str, len: usize) -> Option<Vec<u8>> {
    jwt::hkdf_sha256(SECRET, b"", info.as_bytes(), len).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(keys) = JwtKeys::derive(&[SecretString::new("my-nextauth-secret")]) else {
        return;
    };
    let settings = JwtSettings {
        encryption: true,
        ..JwtSettings::default()
    };
    let Some(enc) = key(jwt::ENCRYPTION_KEY_INFO, jwt::ENCRYPTION_KEY_LEN) else {
        return;
    };
    let token = match mode % 3 {
        0 => match std::str::from_utf8(rest) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        },
        1 => match jwe::seal_dir(&enc, rest, &mut Fixed) {
            Ok(token) => token,
            Err(_) => return,
        },
        _ => {
            let Some(sig) = key(jwt::SIGNING_KEY_INFO, jwt::SIGNING_KEY_LEN) else {
                return;
            };
            let Ok(inner) = jws::sign_hs512(&sig, rest) else {
                return;
            };
            match jwe::seal_dir(&enc, inner.as_bytes(), &mut Fixed) {
                Ok(token) => token,
                Err(_) => return,
            }
        }
    };
    // The JWE layer alone: what opens is bounded by the inflation cap.
    if let Ok(plain) = jwe::open_dir([&enc[..]], &token) {
        assert!(plain.len() <= jwe::MAX_INFLATED_LEN.max(jwt::MAX_TOKEN_LEN));
    }
    if let Ok(claims) = jwt::decode(&keys, &token, &settings, NOW) {
        let iat = claims.get("iat").and_then(serde_json::Value::as_f64);
        assert!(iat.is_some_and(|iat| iat <= NOW as f64), "bad iat accepted");
        // Without encryption the same token is not a JWS.
        assert!(jwt::decode(&keys, &token, &JwtSettings::default(), NOW).is_err());
    }
});
