//! v3 JWT decode without encryption (HS512 JWS), keys derived from the §19 test secret.
//!
//! The first byte picks the mode: even, the rest is a token given to `jwt::decode` as is
//! (header allow-list, base64, the MAC check); odd, the rest is a payload signed with the
//! real key first, so the claims parser and the time checks are reached too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_domain::jwt::{self, jws, JwtKeys, JwtSettings};
use portcullis_domain::secret::SecretString;

const NOW: i64 = 1_700_000_100;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(keys) = JwtKeys::derive(&[SecretString::new("my-nextauth-secret")]) else {
        return;
    };
    let settings = JwtSettings::default();
    let token = if mode % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        }
    } else {
        let Ok(key) = jwt::hkdf_sha256(
            b"my-nextauth-secret",
            b"",
            jwt::SIGNING_KEY_INFO.as_bytes(),
            jwt::SIGNING_KEY_LEN,
        ) else {
            return;
        };
        match jws::sign_hs512(&key, rest) {
            Ok(token) => token,
            Err(_) => return,
        }
    };
    if let Ok(claims) = jwt::decode(&keys, &token, &settings, NOW) {
        // A decoded token passed the time checks: iat present, not in the future, not too old.
        let iat = claims.get("iat").and_then(serde_json::Value::as_f64);
        assert!(iat.is_some(), "decoded without a numeric iat");
        if let Some(iat) = iat {
            assert!(iat <= NOW as f64, "iat in the future");
        }
        // A JWE-only configuration refuses the same plain JWS.
        let encrypted = JwtSettings {
            encryption: true,
            ..settings
        };
        assert!(jwt::decode(&keys, &token, &encrypted, NOW).is_err());
    }
});
