//! JWE decoding: header allow-list and authentication, `zip` inflation limits.

use super::*;

#[test]
fn jwe_header_allow_list() {
    let k = keys();
    let key = k.current.encryption;
    let st = settings(DAY30, true);
    let inner = encode(
        &k,
        &Claims::new(),
        &settings(DAY30, false),
        NOW,
        &mut rng(1),
    )
    .unwrap();
    let cases = [
        (r#"{"alg":"dir","enc":"A128GCM"}"#, "enc"),
        (r#"{"alg":"dir","enc":"A256CBC-HS512"}"#, "enc"),
        (r#"{"alg":"dir"}"#, "enc"),
        (r#"{"enc":"A256GCM"}"#, "alg"),
        (r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#, "alg"),
        (r#"{"alg":"none","enc":"A256GCM"}"#, "alg"),
        (r#"{"alg":"dir","enc":"A256GCM","zip":"GZIP"}"#, "zip"),
        (r#"{"alg":"dir","enc":"A256GCM","kid":"x"}"#, "kid"),
        (
            r#"{"alg":"dir","enc":"A256GCM","jku":"https://e.example"}"#,
            "jku",
        ),
        (r#"{"alg":"dir","enc":"A256GCM","crit":["zip"]}"#, "crit"),
        (r#"{"alg":"dir","enc":"A256GCM","cty":"JWT"}"#, "cty"),
        (
            r#"{"alg":"dir","enc":"A256GCM","enc":"A256GCM"}"#,
            "duplicate member",
        ),
    ];
    for (header, label) in cases {
        let token = seal_raw(header, inner.as_bytes(), &key);
        assert_eq!(
            decode(&k, &token, &st, NOW),
            Err(JwtError::UnsupportedHeader(label)),
            "{header}"
        );
    }
    // The allowed shapes.
    let token = seal_raw(r#"{"enc":"A256GCM","alg":"dir"}"#, inner.as_bytes(), &key);
    assert!(decode(&k, &token, &st, NOW).is_ok());
    let token = seal_raw(
        r#"{"alg":"dir","enc":"A256GCM","zip":"DEF"}"#,
        &deflate(inner.as_bytes()),
        &key,
    );
    assert!(decode(&k, &token, &st, NOW).is_ok());
}

#[test]
fn jwe_header_is_authenticated() {
    let f = fixture();
    let token = s(&f, &["jwe", "token"]);
    let rest = token.split_once('.').unwrap().1;
    // Same members, other bytes: AAD mismatch.
    let swapped = b64e(br#"{"enc":"A256GCM","alg":"dir","zip":"DEF"}"#);
    assert_eq!(
        decode(
            &keys(),
            &format!("{swapped}.{rest}"),
            &settings(DAY30, true),
            NOW + 1
        ),
        Err(JwtError::Decrypt)
    );
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut ct = b64d(&parts[3]).unwrap();
    ct[0] ^= 0x80;
    parts[3] = b64e(&ct);
    assert_eq!(
        decode(&keys(), &parts.join("."), &settings(DAY30, true), NOW + 1),
        Err(JwtError::Decrypt)
    );
    // Wrong secret.
    assert_eq!(
        decode(&keys_of(&["nope"]), token, &settings(DAY30, true), NOW + 1),
        Err(JwtError::Decrypt)
    );
}

#[test]
fn deflate_bomb_is_stopped() {
    let k = keys();
    let bomb = deflate(&vec![0u8; 10 * 1024 * 1024]);
    let token = seal_raw(
        r#"{"alg":"dir","enc":"A256GCM","zip":"DEF"}"#,
        &bomb,
        &k.current.encryption,
    );
    assert!(
        token.len() <= MAX_TOKEN_LEN,
        "the bomb must reach the inflater"
    );
    assert_eq!(
        decode(&k, &token, &settings(DAY30, true), NOW),
        Err(JwtError::TooLarge)
    );
}

#[test]
fn inflate_cap_boundaries() {
    let data = vec![b'a'; 1000];
    let z = deflate(&data);
    assert_eq!(jwe::inflate_capped(&z, 1000).unwrap(), data);
    assert_eq!(jwe::inflate_capped(&z, 999), Err(JwtError::TooLarge));
    assert_eq!(jwe::inflate_capped(&z, 0), Err(JwtError::TooLarge));
    let max = vec![b'b'; jwe::MAX_INFLATED_LEN];
    assert_eq!(
        jwe::inflate_capped(&deflate(&max), jwe::MAX_INFLATED_LEN).unwrap(),
        max
    );
    let mut over = max.clone();
    over.push(b'b');
    assert_eq!(
        jwe::inflate_capped(&deflate(&over), jwe::MAX_INFLATED_LEN),
        Err(JwtError::TooLarge)
    );
    // Trailing bytes after the stream, and garbage.
    let mut trailing = z.clone();
    trailing.extend_from_slice(b"junk");
    assert_eq!(
        jwe::inflate_capped(&trailing, 1000),
        Err(JwtError::Malformed)
    );
    assert!(jwe::inflate_capped(&[0xff; 16], 1000).is_err());
    // Truncated streams.
    assert!(jwe::inflate_capped(&z[..z.len() - 2], 1000).is_err());
    let noisy: Vec<u8> = (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let big = deflate(&noisy);
    assert_eq!(jwe::inflate_capped(&big, 5000).unwrap(), noisy);
    assert!(jwe::inflate_capped(&big[..big.len() / 2], 5000).is_err());
}

#[test]
fn jwe_of_non_utf8_or_non_jws_is_rejected() {
    let k = keys();
    let st = settings(DAY30, true);
    let key = k.current.encryption;
    let token = jwe::seal_dir(&key, &[0xff, 0xfe], &mut rng(1)).unwrap();
    assert_eq!(decode(&k, &token, &st, NOW), Err(JwtError::Malformed));
    // A JWE inside a JWE.
    let inner = encode(&k, &Claims::new(), &st, NOW, &mut rng(1)).unwrap();
    let token = jwe::seal_dir(&key, inner.as_bytes(), &mut rng(2)).unwrap();
    assert_eq!(decode(&k, &token, &st, NOW), Err(JwtError::Malformed));
}
