//! v3 tokens minted with explicit keys and with `jwt.secret`, by next-auth@3.29.10 itself
//! (fixtures/nextauth-v3/explicit-keys).

use crate::jwt::*;
use crate::secret::SecretString;
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/nextauth-v3/explicit-keys/vectors.json"
));

fn fixture() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn jwk(f: &Value, name: &str) -> SecretString {
    SecretString::new(text(&f["keys"][name]))
}

/// Keys as the engine builds them for a case: derived from the case's (or the fixture's)
/// secret, then replaced by the case's explicit keys.
fn keys_for(f: &Value, case: &Value) -> JwtKeys {
    let secret = case["secret"]
        .as_str()
        .unwrap_or_else(|| text(&f["secret"]));
    let signing = case["signingKey"]
        .as_str()
        .map(|k| jwk::signing_key_from_jwk(&SecretString::new(k)).unwrap());
    let encryption = case["encryptionKey"]
        .as_str()
        .map(|k| jwk::encryption_key_from_jwk(&SecretString::new(k)).unwrap());
    JwtKeys::derive(&[SecretString::new(secret)])
        .unwrap()
        .with_explicit_keys(signing, encryption)
        .unwrap()
}

fn settings(f: &Value, case: &Value) -> JwtSettings {
    JwtSettings {
        max_age: f["maxAge"].as_i64().unwrap(),
        encryption: case["encryption"].as_bool().unwrap_or(false),
    }
}

fn now(f: &Value) -> i64 {
    f["iat"].as_i64().unwrap() + 1
}

#[test]
fn explicit_key_tokens_minted_by_v3_read_back() {
    let f = fixture();
    let cases = f["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 5);
    for (name, case) in cases {
        let got = decode(
            &keys_for(&f, case),
            text(&case["token"]),
            &settings(&f, case),
            now(&f),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            text(&case["payload"]),
            "{name}"
        );
    }
}

/// Our encoder with the same keys and clock produces v3's JWS byte for byte (the JWE
/// has a random IV, so it is checked by decoding with v3's keys instead).
#[test]
fn explicit_key_encode_matches_v3() {
    let f = fixture();
    for name in ["signing_key", "signing_key_without_kid", "jwt_secret"] {
        let case = &f["cases"][name];
        let token = encode(
            &keys_for(&f, case),
            f["claims"].as_object().unwrap(),
            &settings(&f, case),
            f["iat"].as_i64().unwrap(),
            &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(7),
        )
        .unwrap();
        assert_eq!(token, text(&case["token"]), "{name}");
    }
    let case = &f["cases"]["signing_and_encryption_keys"];
    let keys = keys_for(&f, case);
    let token = encode(
        &keys,
        f["claims"].as_object().unwrap(),
        &settings(&f, case),
        f["iat"].as_i64().unwrap(),
        &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(7),
    )
    .unwrap();
    let got = decode(&keys, &token, &settings(&f, case), now(&f)).unwrap();
    assert_eq!(serde_json::to_string(&got).unwrap(), text(&case["payload"]));
}

#[test]
fn explicit_key_wrong_keys_are_refused() {
    let f = fixture();
    let signed = &f["cases"]["signing_key"];
    // The secret's derived key no longer verifies once a signing key is set, and the
    // explicit token does not verify with the derived key alone (v3 behaves the same).
    let derived = JwtKeys::derive(&[SecretString::new(text(&f["secret"]))]).unwrap();
    assert_eq!(
        decode(
            &derived,
            text(&signed["token"]),
            &settings(&f, signed),
            now(&f)
        ),
        Err(JwtError::BadSignature)
    );
    let other = derived
        .clone()
        .with_explicit_keys(
            Some(jwk::signing_key_from_jwk(&jwk(&f, "otherSigningKey")).unwrap()),
            None,
        )
        .unwrap();
    assert_eq!(
        decode(
            &other,
            text(&signed["token"]),
            &settings(&f, signed),
            now(&f)
        ),
        Err(JwtError::BadSignature)
    );
    // Encrypted with the explicit encryption key: the derived one cannot open it.
    let sealed = &f["cases"]["signing_and_encryption_keys"];
    let signing_only = derived
        .with_explicit_keys(
            Some(jwk::signing_key_from_jwk(&jwk(&f, "signingKey")).unwrap()),
            None,
        )
        .unwrap();
    assert_eq!(
        decode(
            &signing_only,
            text(&sealed["token"]),
            &settings(&f, sealed),
            now(&f)
        ),
        Err(JwtError::Decrypt)
    );
    // jwt.secret differs from the app secret: the app secret's keys do not verify.
    let jwt_secret = &f["cases"]["jwt_secret"];
    assert_eq!(
        decode(
            &JwtKeys::derive(&[SecretString::new(text(&f["secret"]))]).unwrap(),
            text(&jwt_secret["token"]),
            &settings(&f, jwt_secret),
            now(&f)
        ),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn explicit_key_rotation_keeps_older_secrets() {
    let f = fixture();
    let case = &f["cases"]["jwt_secret"];
    let keys = JwtKeys::derive(&[
        SecretString::new("the-new-secret-for-the-rotation-test"),
        SecretString::new(text(&case["secret"])),
    ])
    .unwrap()
    .with_explicit_keys(
        Some(jwk::signing_key_from_jwk(&jwk(&f, "signingKey")).unwrap()),
        None,
    )
    .unwrap();
    assert!(decode(&keys, text(&case["token"]), &settings(&f, case), now(&f)).is_ok());
    let explicit = &f["cases"]["signing_key"];
    assert!(decode(
        &keys,
        text(&explicit["token"]),
        &settings(&f, explicit),
        now(&f)
    )
    .is_ok());
}

#[test]
fn explicit_key_too_short_is_refused() {
    let keys = JwtKeys::derive(&[SecretString::new("s")]).unwrap();
    assert!(matches!(
        keys.with_explicit_keys(Some(vec![1; 32]), None),
        Err(JwtError::InvalidKeyLength)
    ));
}
