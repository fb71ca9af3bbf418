//! Sign in with Apple's client secret (spec §7.9): a short-lived ES256 JWT signed with the
//! team's private key, made afresh for each token request.

use josekit::jws::{JwsHeader, ES256};
use josekit::jwt::JwtPayload;
use serde_json::{json, Map, Value};

use crate::secret::SecretString;

/// Apple's audience for client secrets.
pub const AUDIENCE: &str = "https://appleid.apple.com";

/// v3's lifetime: 180 days (Apple's maximum is six months).
pub const LIFETIME_SECS: i64 = 15_552_000;

/// Why no client secret could be made. The messages never contain the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppleKeyError {
    /// The key is not a PEM-encoded P-256 PKCS#8 private key.
    #[error("the Apple private key is not a PEM-encoded P-256 (ES256) private key")]
    InvalidKey,
    /// The clock is before 1970, or `now` plus the lifetime overflows.
    #[error("the clock is before 1970 or too far in the future for an Apple client secret")]
    InvalidTime,
    /// Signing failed.
    #[error("signing the Apple client secret failed")]
    Signing,
}

/// The client secret for Apple's token endpoint: header `{alg: ES256, typ: JWT, kid}`,
/// claims `iss = team_id`, `iat = now`, `exp = now + 180 days`, `aud`, `sub = client_id`.
/// A key pasted with literal `\n` sequences (as environment variables often carry it) is
/// accepted.
pub fn client_secret(
    key_id: &str,
    team_id: &str,
    client_id: &str,
    private_key_pem: &SecretString,
    now_unix: i64,
) -> Result<String, AppleKeyError> {
    if now_unix < 0 {
        return Err(AppleKeyError::InvalidTime);
    }
    let exp = now_unix
        .checked_add(LIFETIME_SECS)
        .ok_or(AppleKeyError::InvalidTime)?;
    let pem = private_key_pem.expose().replace("\\n", "\n");
    // josekit's error would describe the input; it is dropped, not wrapped.
    let signer = ES256
        .signer_from_pem(pem.as_bytes())
        .map_err(|_| AppleKeyError::InvalidKey)?;

    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(key_id);
    let claims: Map<String, Value> = [
        ("iss", json!(team_id)),
        ("iat", json!(now_unix)),
        ("exp", json!(exp)),
        ("aud", json!(AUDIENCE)),
        ("sub", json!(client_id)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let payload = JwtPayload::from_map(claims).map_err(|_| AppleKeyError::Signing)?;
    josekit::jwt::encode_with_signer(&payload, &header, &signer).map_err(|_| AppleKeyError::Signing)
}

/// The name in the `user` JSON Apple POSTs on first consent, and nothing else:
/// `{"name": {"firstName", "lastName"}}` with string values only. Its `email` (or any other
/// member) is dropped: the callback's parameters are not the provider's word, the ID token is.
pub fn user_name(param: &str) -> Option<Value> {
    let user: Value = serde_json::from_str(param).ok()?;
    let name = user.get("name")?;
    let kept: Map<String, Value> = ["firstName", "lastName"]
        .into_iter()
        .filter_map(|key| match name.get(key) {
            Some(Value::String(part)) => Some((key.to_owned(), Value::String(part.clone()))),
            _ => None,
        })
        .collect();
    (!kept.is_empty()).then(|| json!({ "name": kept }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::KeyPair;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn the_user_parameter_gives_a_name_and_nothing_else() {
        let param = r#"{"name":{"firstName":"Jane","lastName":"Doe","x":1},"email":"victim@example.com","id":"VICTIM","email_verified":true}"#;
        assert_eq!(
            user_name(param),
            Some(json!({"name": {"firstName": "Jane", "lastName": "Doe"}}))
        );
        assert_eq!(
            user_name(r#"{"id":"VICTIM","email":"v@example.com"}"#),
            None
        );
        assert_eq!(user_name(r#"{"name":{"firstName":{"id":"X"}}}"#), None);
        assert_eq!(user_name("not json"), None);
    }

    fn key_pair() -> (SecretString, Vec<u8>) {
        let pair = ES256.generate_key_pair().unwrap();
        let private = String::from_utf8(pair.to_pem_private_key()).unwrap();
        (SecretString::new(private), pair.to_pem_public_key())
    }

    #[test]
    fn secret_verifies_with_the_public_key_and_carries_v3_claims() {
        let (private, public) = key_pair();
        let jwt =
            client_secret("KEY123ABCD", "TEAM456XYZ", "com.example.web", &private, NOW).unwrap();

        let verifier = ES256.verifier_from_pem(&public).unwrap();
        let (payload, header) = josekit::jwt::decode_with_verifier(&jwt, &verifier).unwrap();
        assert_eq!(header.algorithm(), Some("ES256"));
        assert_eq!(header.key_id(), Some("KEY123ABCD"));
        assert_eq!(header.token_type(), Some("JWT"));
        assert_eq!(payload.claim("iss"), Some(&json!("TEAM456XYZ")));
        assert_eq!(payload.claim("sub"), Some(&json!("com.example.web")));
        assert_eq!(
            payload.claim("aud"),
            Some(&json!("https://appleid.apple.com"))
        );
        assert_eq!(payload.claim("iat"), Some(&json!(NOW)));
        assert_eq!(payload.claim("exp"), Some(&json!(NOW + 15_552_000)));

        // Another key's public half does not verify it.
        let (_, other) = key_pair();
        let wrong = ES256.verifier_from_pem(&other).unwrap();
        assert!(josekit::jwt::decode_with_verifier(&jwt, &wrong).is_err());
    }

    #[test]
    fn escaped_newlines_are_accepted() {
        let (private, public) = key_pair();
        let escaped = SecretString::new(private.expose().replace('\n', "\\n"));
        assert!(!escaped.expose().contains('\n'));
        let jwt = client_secret("K", "T", "C", &escaped, NOW).unwrap();
        let verifier = ES256.verifier_from_pem(&public).unwrap();
        assert!(josekit::jwt::decode_with_verifier(&jwt, &verifier).is_ok());
    }

    #[test]
    fn a_bad_key_is_an_error_that_does_not_repeat_it() {
        let key =
            "-----BEGIN PRIVATE KEY-----\nnot-really-a-key-c2VjcmV0\n-----END PRIVATE KEY-----";
        let err = client_secret("K", "T", "C", &SecretString::new(key), NOW).unwrap_err();
        assert_eq!(err, AppleKeyError::InvalidKey);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("not-really-a-key"), "{shown}");
        assert!(!shown.contains("BEGIN"), "{shown}");

        // An RSA key is not an ES256 key.
        let rsa = josekit::jws::RS256.generate_key_pair(2048).unwrap();
        let rsa = SecretString::new(String::from_utf8(rsa.to_pem_private_key()).unwrap());
        assert_eq!(
            client_secret("K", "T", "C", &rsa, NOW),
            Err(AppleKeyError::InvalidKey)
        );
    }

    #[test]
    fn times_outside_the_claim_range_are_refused() {
        let (private, _) = key_pair();
        assert_eq!(
            client_secret("K", "T", "C", &private, -1),
            Err(AppleKeyError::InvalidTime)
        );
        assert_eq!(
            client_secret("K", "T", "C", &private, i64::MAX),
            Err(AppleKeyError::InvalidTime)
        );
    }
}
