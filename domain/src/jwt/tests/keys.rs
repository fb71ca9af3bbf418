//! Key derivation, secret rotation, purpose separation, and no key material in output.

use super::*;

#[test]
fn derive_requires_a_nonempty_secret() {
    assert_eq!(JwtKeys::derive(&[]).unwrap_err(), JwtError::NoSecret);
    assert_eq!(
        JwtKeys::derive(&[SecretString::new("")]).unwrap_err(),
        JwtError::NoSecret
    );
    assert_eq!(
        JwtKeys::derive(&[SecretString::new("a"), SecretString::new("")]).unwrap_err(),
        JwtError::NoSecret
    );
}

#[test]
fn secret_rotation() {
    let old = keys_of(&["old-secret"]);
    let new = keys_of(&["new-secret"]);
    let both = keys_of(&["new-secret", "old-secret"]);
    assert_eq!(both.secret_count(), 2);
    for enc in [false, true] {
        let st = settings(DAY30, enc);
        let c = claims(r#"{"sub":"1"}"#);
        let from_old = encode(&old, &c, &st, NOW, &mut rng(1)).unwrap();
        assert_eq!(decode(&both, &from_old, &st, NOW).unwrap()["sub"], "1");
        assert_eq!(
            decode(&new, &from_old, &st, NOW),
            Err(if enc {
                JwtError::Decrypt
            } else {
                JwtError::BadSignature
            })
        );
        // `both` signs with its first (new) secret.
        let from_both = encode(&both, &c, &st, NOW, &mut rng(1)).unwrap();
        assert!(decode(&new, &from_both, &st, NOW).is_ok());
        assert!(decode(&old, &from_both, &st, NOW).is_err());
        assert_eq!(from_both, encode(&new, &c, &st, NOW, &mut rng(1)).unwrap());
    }
}

#[test]
fn purpose_keys_are_separated() {
    let secret = secret();
    let pkce = JwtKeys::purpose_key(&secret, "pkce", 32).unwrap();
    let state = JwtKeys::purpose_key(&secret, "state", 32).unwrap();
    let session = keys();
    assert_ne!(pkce, state);
    assert_ne!(pkce.as_slice(), &session.current.encryption[..]);
    assert_eq!(
        pkce,
        hkdf_sha256(
            secret.expose().as_bytes(),
            b"pkce",
            b"Portcullis pkce key",
            32
        )
        .unwrap()
    );
    assert_eq!(JwtKeys::purpose_key(&secret, "pkce", 32).unwrap(), pkce);
    assert_ne!(
        JwtKeys::purpose_key(&SecretString::new("other"), "pkce", 32).unwrap(),
        pkce
    );
    // Sealed for one purpose: opens only as that purpose, never as a session token.
    let sealed = jwe::seal_dir(&pkce, b"verifier", &mut rng(1)).unwrap();
    assert_eq!(
        jwe::open_dir([pkce.as_slice()], &sealed).unwrap(),
        b"verifier"
    );
    assert_eq!(
        jwe::open_dir([state.as_slice()], &sealed),
        Err(JwtError::Decrypt)
    );
    assert_eq!(
        decode(&session, &sealed, &settings(DAY30, true), NOW),
        Err(JwtError::Decrypt)
    );
    // And a session token does not open with a purpose key.
    let token = encode(
        &session,
        &Claims::new(),
        &settings(DAY30, true),
        NOW,
        &mut rng(1),
    )
    .unwrap();
    assert_eq!(
        jwe::open_dir([pkce.as_slice()], &token),
        Err(JwtError::Decrypt)
    );
    // Rotation helper and argument checks.
    let all = JwtKeys::purpose_keys(&[SecretString::new("n"), secret.clone()], "pkce", 32).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], pkce);
    assert_eq!(
        JwtKeys::purpose_keys(&[], "pkce", 32),
        Err(JwtError::NoSecret)
    );
    assert_eq!(
        JwtKeys::purpose_key(&SecretString::new(""), "pkce", 32),
        Err(JwtError::NoSecret)
    );
    assert_eq!(
        JwtKeys::purpose_key(&secret, "", 32),
        Err(JwtError::InvalidSettings("purpose"))
    );
    assert_eq!(
        jwe::seal_dir(&pkce[..16], b"x", &mut rng(1)),
        Err(JwtError::InvalidKeyLength)
    );
    assert_eq!(
        jws::sign_hs512(&pkce, b"x"),
        Err(JwtError::InvalidKeyLength)
    );
}

#[test]
fn debug_and_errors_leak_no_key_material() {
    let f = fixture();
    let k = keys();
    let debug = format!("{k:?}");
    assert_eq!(debug, r#"JwtKeys { secrets: 1, keys: "[redacted]" }"#);

    let jws_token = s(&f, &["jws", "token"]);
    let jwe_token = s(&f, &["jwe", "token"]);
    let mut errors = vec![
        JwtError::Malformed,
        JwtError::TooLarge,
        JwtError::UnsupportedHeader("alg"),
        JwtError::BadSignature,
        JwtError::Decrypt,
        JwtError::Expired,
        JwtError::NotYetValid,
        JwtError::TooOld,
        JwtError::MissingIat,
        JwtError::InvalidClaim("iat"),
        JwtError::NoSecret,
        JwtError::InvalidSettings("max_age"),
        JwtError::InvalidKeyLength,
        JwtError::KeyDerivation,
        JwtError::Rng,
        JwtError::Crypto,
    ];
    errors.push(decode(&k, jws_token, &settings(DAY30, false), NOW + DAY30).unwrap_err());
    errors.push(decode(&keys_of(&["x"]), jws_token, &settings(DAY30, false), NOW).unwrap_err());
    errors.push(decode(&keys_of(&["x"]), jwe_token, &settings(DAY30, true), NOW).unwrap_err());
    errors.push(
        decode(
            &k,
            &signed(r#"{"my-nextauth-secret":1}"#),
            &settings(DAY30, false),
            NOW,
        )
        .unwrap_err(),
    );
    errors.push(
        decode_jws(&sign_raw(
            r#"{"alg":"HS512","my-nextauth-secret":1}"#,
            "{}",
            &k.current.signing,
        ))
        .unwrap_err(),
    );

    let needles: Vec<String> = vec![
        s(&f, &["secret"]).to_owned(),
        hex::encode(&k.current.signing),
        hex::encode(k.current.encryption),
        b64e(&k.current.signing),
        b64e(&k.current.encryption),
        format!("{:?}", k.current.signing),
        format!("{:?}", &k.current.signing[..8]),
        format!("{:?}", &k.current.encryption[..8]),
        "eyJ".to_owned(),
        jws_token.split('.').nth(2).unwrap().to_owned(),
    ];
    for e in &errors {
        for text in [e.to_string(), format!("{e:?}")] {
            for needle in &needles {
                assert!(
                    !text.contains(needle.as_str()),
                    "{text} contains key/token material"
                );
            }
        }
    }
    for needle in &needles {
        assert!(!debug.contains(needle.as_str()));
    }
}
