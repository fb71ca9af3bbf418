//! The spec §19 vectors: HKDF, JWS and JWE tokens and PKCE, byte for byte.

use super::*;

#[test]
fn hkdf_vectors() {
    let f = fixture();
    let ikm = s(&f, &["secret"]).as_bytes();
    for which in ["signing", "encryption"] {
        let info = s(&f, &["hkdf", which, "info"]);
        let len = usize::try_from(i(&f, &["hkdf", which, "length"])).unwrap();
        let okm = hkdf_sha256(ikm, b"", info.as_bytes(), len).unwrap();
        assert_eq!(
            hex::encode(okm),
            s(&f, &["hkdf", which, "okm_hex"]),
            "{which}"
        );
    }
    let k = keys();
    assert_eq!(
        hex::encode(k.current.signing),
        s(&f, &["hkdf", "signing", "okm_hex"])
    );
    assert_eq!(
        hex::encode(k.current.encryption),
        s(&f, &["hkdf", "encryption", "okm_hex"])
    );
    // Empty salt == 32 zero bytes (RFC 5869 §2.2).
    assert_eq!(
        hkdf_sha256(ikm, b"", SIGNING_KEY_INFO.as_bytes(), 64).unwrap(),
        hkdf_sha256(ikm, &[0u8; 32], SIGNING_KEY_INFO.as_bytes(), 64).unwrap()
    );
}

#[test]
fn hkdf_rejects_overlong_output() {
    assert_eq!(
        hkdf_sha256(b"k", b"", b"i", 255 * 32).unwrap().len(),
        255 * 32
    );
    assert_eq!(
        hkdf_sha256(b"k", b"", b"i", 255 * 32 + 1),
        Err(JwtError::KeyDerivation)
    );
    assert_eq!(
        hkdf_sha256(b"k", b"", b"i", usize::MAX),
        Err(JwtError::KeyDerivation)
    );
}

#[test]
fn jws_vector_encodes_byte_for_byte() {
    let f = fixture();
    let token = encode(
        &keys(),
        &obj(&f["jws"]["claims"]),
        &settings(i(&f, &["jws", "maxAge"]), false),
        i(&f, &["jws", "iat"]),
        &mut rng(1),
    )
    .unwrap();
    assert_eq!(token, s(&f, &["jws", "token"]));
    let header = token.split('.').next().unwrap();
    assert_eq!(b64d(header).unwrap(), s(&f, &["jws", "header"]).as_bytes());
}

/// josekit's own compact serialiser with an empty header and our signing key produces
/// exactly the §19 token too (header `{"alg":"HS512"}`, no `kid`, no `typ`).
#[test]
fn josekit_compact_output_matches_vector() {
    let f = fixture();
    let signer = josekit::jws::HS512
        .signer_from_bytes(keys().current.signing)
        .unwrap();
    let token = josekit::jws::serialize_compact(
        s(&f, &["jws", "payload"]).as_bytes(),
        &josekit::jws::JwsHeader::new(),
        &signer,
    )
    .unwrap();
    assert_eq!(token, s(&f, &["jws", "token"]));
}

#[test]
fn jws_vector_decodes_in_order() {
    let f = fixture();
    let got = decode(
        &keys(),
        s(&f, &["jws", "token"]),
        &settings(DAY30, false),
        NOW + 1,
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        s(&f, &["jws", "payload"])
    );
}

#[test]
fn jwe_vector_with_zip_decodes() {
    let f = fixture();
    let k = keys();
    let token = s(&f, &["jwe", "token"]);
    let header = token.split('.').next().unwrap();
    assert_eq!(b64d(header).unwrap(), s(&f, &["jwe", "header"]).as_bytes());
    let inner = jwe::open_dir(k.encryption_keys(), token).unwrap();
    assert_eq!(inner, s(&f, &["jwe", "inner_jws"]).as_bytes());
    let got = decode(
        &k,
        token,
        &settings(i(&f, &["jwe", "maxAge"]), true),
        i(&f, &["jwe", "now"]),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        s(&f, &["jwe", "payload"])
    );
}

#[test]
fn pkce_vector() {
    let f = fixture();
    let max_age = i(&f, &["pkce", "maxAge"]);
    let iat = i(&f, &["pkce", "iat"]);
    let token = encode(
        &keys(),
        &obj(&f["pkce"]["claims"]),
        &settings(max_age, false),
        iat,
        &mut rng(1),
    )
    .unwrap();
    assert_eq!(token, s(&f, &["pkce", "token"]));
    let got = decode(
        &keys(),
        &token,
        &settings(max_age, false),
        iat + max_age - 1,
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        s(&f, &["pkce", "payload"])
    );
    // Expired at exactly iat + maxAge.
    assert_eq!(
        decode(&keys(), &token, &settings(max_age, false), iat + max_age),
        Err(JwtError::Expired)
    );
}
