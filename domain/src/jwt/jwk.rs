//! v3's explicit keys (spec §5.1): `jwt.signingKey` and `jwt.encryptionKey` are JSON strings
//! of a symmetric JWK (`{"kty":"oct","kid":"…","alg":"HS512","k":"…"}`, as made by
//! `jose newkey -s 512 -t oct -a HS512`). Only what v3 can verify with its defaults is
//! accepted: an `oct` key for HS512 (signing) or `dir`/A256GCM (encryption).
//!
//! Errors are fixed sentences: no key material, and no serde message (which could quote it).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use super::{ENCRYPTION_KEY_LEN, SIGNING_KEY_LEN};
use crate::secret::SecretString;

/// What a JWK is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Signing,
    Encryption,
}

impl Purpose {
    fn alg(self) -> &'static str {
        match self {
            Purpose::Signing => "HS512",
            Purpose::Encryption => "A256GCM",
        }
    }

    fn use_(self) -> &'static str {
        match self {
            Purpose::Signing => "sig",
            Purpose::Encryption => "enc",
        }
    }
}

/// The key bytes of v3's `jwt.signingKey`: an `oct` JWK whose `alg` is `HS512` (or absent),
/// `use` `sig` (or absent), with at least 64 bytes (RFC 7518 §3.2).
pub fn signing_key_from_jwk(jwk: &SecretString) -> Result<Vec<u8>, String> {
    let key = oct_key(jwk, Purpose::Signing)?;
    if key.len() < SIGNING_KEY_LEN {
        return Err(format!(
            "the key (`k`) is {} bytes; HS512 needs at least {SIGNING_KEY_LEN} (make one with `jose newkey -s 512 -t oct -a HS512`)",
            key.len()
        ));
    }
    Ok(key)
}

/// The key bytes of v3's `jwt.encryptionKey`: an `oct` JWK whose `alg` is `A256GCM` (or
/// absent), `use` `enc` (or absent), with exactly 32 bytes.
pub fn encryption_key_from_jwk(jwk: &SecretString) -> Result<[u8; ENCRYPTION_KEY_LEN], String> {
    let key = oct_key(jwk, Purpose::Encryption)?;
    let len = key.len();
    key.try_into().map_err(|_| {
        format!(
            "the key (`k`) is {len} bytes; A256GCM needs exactly {ENCRYPTION_KEY_LEN} (make one with `jose newkey -s 256 -t oct -a A256GCM`)"
        )
    })
}

fn oct_key(jwk: &SecretString, purpose: Purpose) -> Result<Vec<u8>, String> {
    let value: Value = serde_json::from_str(jwk.expose()).map_err(|e| {
        format!(
            "not a JSON Web Key: invalid JSON at line {} column {} (give v3's JSON string, e.g. {{\"kty\":\"oct\",\"alg\":\"{}\",\"k\":\"…\"}})",
            e.line(),
            e.column(),
            purpose.alg()
        )
    })?;
    let Value::Object(members) = value else {
        return Err("not a JSON Web Key: expected a JSON object".into());
    };
    match members.get("kty") {
        Some(Value::String(kty)) if kty == "oct" => {}
        Some(Value::String(_)) => {
            return Err(
                "only symmetric keys (`\"kty\":\"oct\"`) are supported, as v3 verifies HS512 by default"
                    .into(),
            )
        }
        _ => return Err("`kty` is missing; expected \"oct\"".into()),
    }
    match members.get("alg") {
        None => {}
        Some(Value::String(alg)) if alg == purpose.alg() => {}
        Some(_) => {
            return Err(format!(
                "`alg` must be \"{}\" (what v3 {} with its defaults)",
                purpose.alg(),
                match purpose {
                    Purpose::Signing => "verifies",
                    Purpose::Encryption => "decrypts",
                }
            ))
        }
    }
    match members.get("use") {
        None => {}
        Some(Value::String(u)) if u == purpose.use_() => {}
        Some(_) => return Err(format!("`use` must be \"{}\"", purpose.use_())),
    }
    let Some(Value::String(k)) = members.get("k") else {
        return Err("`k` (the base64url key) is missing".into());
    };
    // jose v1 accepts padded base64url too.
    URL_SAFE_NO_PAD
        .decode(k.trim_end_matches('='))
        .map_err(|_| "`k` is not base64url".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn jwk(text: &str) -> SecretString {
        SecretString::new(text)
    }

    fn k(len: usize) -> String {
        URL_SAFE_NO_PAD.encode(vec![7u8; len])
    }

    #[test]
    fn accepts_v3_keys() {
        let signing = format!(r#"{{"kty":"oct","kid":"x","alg":"HS512","k":"{}"}}"#, k(64));
        assert_eq!(signing_key_from_jwk(&jwk(&signing)).unwrap(), vec![7u8; 64]);
        let no_alg = format!(r#"{{"kty":"oct","k":"{}"}}"#, k(128));
        assert_eq!(signing_key_from_jwk(&jwk(&no_alg)).unwrap().len(), 128);
        let enc = format!(
            r#"{{"kty":"oct","kid":"e","alg":"A256GCM","use":"enc","k":"{}"}}"#,
            k(32)
        );
        assert_eq!(encryption_key_from_jwk(&jwk(&enc)).unwrap(), [7u8; 32]);
        let padded = format!(r#"{{"kty":"oct","k":"{}="}}"#, k(32));
        assert!(encryption_key_from_jwk(&jwk(&padded)).is_ok());
    }

    #[test]
    fn refuses_what_v3_could_not_use_without_echoing_the_key() {
        let secret_k = k(64);
        for (bad, why) in [
            ("not json".to_owned(), "invalid JSON"),
            ("[1]".to_owned(), "JSON object"),
            (format!(r#"{{"k":"{secret_k}"}}"#), "`kty` is missing"),
            (format!(r#"{{"kty":"RSA","k":"{secret_k}"}}"#), "symmetric"),
            (
                format!(r#"{{"kty":"oct","alg":"HS256","k":"{secret_k}"}}"#),
                "HS512",
            ),
            (
                format!(r#"{{"kty":"oct","use":"enc","k":"{secret_k}"}}"#),
                "`use`",
            ),
            (r#"{"kty":"oct"}"#.to_owned(), "`k`"),
            (r#"{"kty":"oct","k":"!!"}"#.to_owned(), "base64url"),
            (format!(r#"{{"kty":"oct","k":"{}"}}"#, k(32)), "at least 64"),
            (format!(r#"{{"kty":"oct","k":"{secret_k}""#), "invalid JSON"),
        ] {
            let err = signing_key_from_jwk(&jwk(&bad)).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains(&secret_k), "{err}");
        }
        let wrong_len = format!(r#"{{"kty":"oct","alg":"A256GCM","k":"{}"}}"#, k(16));
        assert!(encryption_key_from_jwk(&jwk(&wrong_len))
            .unwrap_err()
            .contains("exactly 32"));
        let signing_alg = format!(r#"{{"kty":"oct","alg":"HS512","k":"{}"}}"#, k(32));
        assert!(encryption_key_from_jwk(&jwk(&signing_alg))
            .unwrap_err()
            .contains("A256GCM"));
    }
}
