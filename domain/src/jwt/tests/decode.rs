//! The hardened JWS `decode`: header allow-list, signature, time claims, shape, and
//! property tests that it never panics.

use super::*;

#[test]
fn alg_none_is_rejected() {
    let body = b64e(payload_at(NOW).as_bytes());
    let header = b64e(br#"{"alg":"none"}"#);
    for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
        assert!(decode_jws(&token).is_err());
    }
    assert_eq!(
        decode_jws(&format!("{header}.{body}.")),
        Err(JwtError::UnsupportedHeader("alg"))
    );
    // Even with a valid HS512 MAC over that header.
    let token = sign_raw(
        r#"{"alg":"none"}"#,
        &payload_at(NOW),
        &keys().current.signing,
    );
    assert_eq!(decode_jws(&token), Err(JwtError::UnsupportedHeader("alg")));
}

#[test]
fn other_algs_are_rejected_even_with_a_valid_mac() {
    let key = keys().current.signing;
    let token = sign_raw_hs256(r#"{"alg":"HS256"}"#, &payload_at(NOW), &key);
    assert_eq!(decode_jws(&token), Err(JwtError::UnsupportedHeader("alg")));
    for alg in [r#""hs512""#, r#""RS512""#, "null", "512", r#"["HS512"]"#] {
        let token = sign_raw(&format!(r#"{{"alg":{alg}}}"#), &payload_at(NOW), &key);
        assert_eq!(
            decode_jws(&token),
            Err(JwtError::UnsupportedHeader("alg")),
            "{alg}"
        );
    }
    let token = sign_raw(r#"{"typ":"JWT"}"#, &payload_at(NOW), &key);
    assert_eq!(decode_jws(&token), Err(JwtError::UnsupportedHeader("alg")));
}

#[test]
fn dangerous_header_members_are_rejected() {
    let key = keys().current.signing;
    let cases = [
        (
            r#"{"alg":"HS512","jku":"https://evil.example/jwks"}"#,
            "jku",
        ),
        (r#"{"alg":"HS512","jwk":{"kty":"oct","k":"AAAA"}}"#, "jwk"),
        (r#"{"alg":"HS512","x5u":"https://evil.example/c"}"#, "x5u"),
        (r#"{"alg":"HS512","x5c":["AAAA"]}"#, "x5c"),
        (r#"{"alg":"HS512","crit":["exp"]}"#, "crit"),
        (r#"{"alg":"HS512","b64":false,"crit":["b64"]}"#, "b64"),
        (r#"{"alg":"HS512","kid":"attacker"}"#, "kid"),
        (r#"{"alg":"HS512","kid":null}"#, "kid"),
        (r#"{"alg":"HS512","typ":"at+jwt"}"#, "typ"),
        (r#"{"alg":"HS512","cty":"JWT"}"#, "cty"),
        (r#"{"alg":"HS512","zip":"DEF"}"#, "zip"),
        (r#"{"alg":"HS512","whatever":1}"#, "unknown member"),
        (r#"{"alg":"HS512","alg":"HS512"}"#, "duplicate member"),
        (r#"{"alg":"none","alg":"HS512"}"#, "duplicate member"),
    ];
    for (header, label) in cases {
        let token = sign_raw(header, &payload_at(NOW), &key);
        assert_eq!(
            decode_jws(&token),
            Err(JwtError::UnsupportedHeader(label)),
            "{header}"
        );
    }
    for header in [r#"[]"#, r#""HS512""#, "{", ""] {
        let token = sign_raw(header, &payload_at(NOW), &key);
        assert_eq!(decode_jws(&token), Err(JwtError::Malformed), "{header}");
    }
}

#[test]
fn typ_jwt_and_our_kid_are_accepted() {
    let key = keys().current.signing;
    for header in [
        r#"{"alg":"HS512","typ":"JWT"}"#,
        r#"{"typ":"JWT","alg":"HS512"}"#,
        r#"{"alg":"HS512","kid":"nextauth-auto-generated-signing-key"}"#,
    ] {
        let token = sign_raw(header, &payload_at(NOW), &key);
        assert!(decode_jws(&token).is_ok(), "{header}");
    }
}

// ---- signature ---------------------------------------------------------------------

#[test]
fn tampered_payload_and_signature_are_rejected() {
    let f = fixture();
    let token = s(&f, &["jws", "token"]);
    let parts: Vec<_> = token.split('.').collect();
    let forged = b64e(br#"{"name":"Jane Doe","email":"jane@example.com","picture":"https://example.com/a.png","sub":"1","iat":1700000000,"exp":1702592000}"#);
    assert_eq!(
        decode_jws(&format!("{}.{forged}.{}", parts[0], parts[2])),
        Err(JwtError::BadSignature)
    );
    let mut sig = b64d(parts[2]).unwrap();
    sig[10] ^= 1;
    assert_eq!(
        decode_jws(&format!("{}.{}.{}", parts[0], parts[1], b64e(&sig))),
        Err(JwtError::BadSignature)
    );
    // Truncated / extended signature.
    assert_eq!(
        decode_jws(&format!("{}.{}.{}", parts[0], parts[1], b64e(&sig[..32]))),
        Err(JwtError::BadSignature)
    );
    let mut long = b64d(parts[2]).unwrap();
    long.push(0);
    assert_eq!(
        decode_jws(&format!("{}.{}.{}", parts[0], parts[1], b64e(&long))),
        Err(JwtError::BadSignature)
    );
    assert_eq!(
        decode_jws(&format!("{}.{}.", parts[0], parts[1])),
        Err(JwtError::BadSignature)
    );
    // Another secret's key.
    let other = keys_of(&["another-secret"]);
    let token = sign_raw(
        r#"{"alg":"HS512"}"#,
        &payload_at(NOW),
        &other.current.signing,
    );
    assert_eq!(decode_jws(&token), Err(JwtError::BadSignature));
}

// ---- time claims -------------------------------------------------------------------

#[test]
fn exp_equal_to_now_is_expired() {
    let t = signed(&format!(r#"{{"iat":{},"exp":{NOW}}}"#, NOW - 10));
    assert_eq!(decode_jws(&t), Err(JwtError::Expired));
    let t = signed(&format!(r#"{{"iat":{},"exp":{}}}"#, NOW - 10, NOW + 1));
    assert!(decode_jws(&t).is_ok());
    let t = signed(&format!(r#"{{"iat":{},"exp":{}}}"#, NOW - 10, NOW - 1));
    assert_eq!(decode_jws(&t), Err(JwtError::Expired));
}

#[test]
fn iat_in_the_future_is_rejected() {
    let t = signed(&format!(r#"{{"iat":{}}}"#, NOW + 1));
    assert_eq!(decode_jws(&t), Err(JwtError::NotYetValid));
    let t = signed(&format!(r#"{{"iat":{}.5}}"#, NOW));
    assert_eq!(decode_jws(&t), Err(JwtError::NotYetValid));
    let t = signed(&format!(r#"{{"iat":{NOW}}}"#));
    assert!(decode_jws(&t).is_ok(), "age 0 is fine");
}

#[test]
fn age_over_max_age_is_rejected() {
    let st = settings(100, false);
    let t = signed(&format!(r#"{{"iat":{}}}"#, NOW - 100));
    assert!(
        decode(&keys(), &t, &st, NOW).is_ok(),
        "age == max_age is fine"
    );
    let t = signed(&format!(r#"{{"iat":{}}}"#, NOW - 101));
    assert_eq!(decode(&keys(), &t, &st, NOW), Err(JwtError::TooOld));
    // Even when exp says otherwise.
    let t = signed(&format!(r#"{{"iat":{},"exp":{}}}"#, NOW - 101, NOW + 1000));
    assert_eq!(decode(&keys(), &t, &st, NOW), Err(JwtError::TooOld));
    let t = signed(r#"{"iat":-1e300}"#);
    assert_eq!(decode(&keys(), &t, &st, NOW), Err(JwtError::TooOld));
    let t = signed(r#"{"iat":1e300}"#);
    assert_eq!(decode(&keys(), &t, &st, NOW), Err(JwtError::NotYetValid));
}

#[test]
fn iat_is_required_and_numeric() {
    assert_eq!(
        decode_jws(&signed(r#"{"sub":"1"}"#)),
        Err(JwtError::MissingIat)
    );
    assert_eq!(
        decode_jws(&signed(&format!(r#"{{"exp":{}}}"#, NOW + 10))),
        Err(JwtError::MissingIat)
    );
    for bad in [r#""1700000000""#, "null", "true", "[1700000000]", "{}"] {
        assert_eq!(
            decode_jws(&signed(&format!(r#"{{"iat":{bad}}}"#))),
            Err(JwtError::InvalidClaim("iat")),
            "{bad}"
        );
    }
    assert_eq!(
        decode_jws(&signed(&format!(r#"{{"iat":{NOW},"exp":"{}"}}"#, NOW + 10))),
        Err(JwtError::InvalidClaim("exp"))
    );
    assert_eq!(
        decode_jws(&signed(&format!(r#"{{"iat":{NOW},"nbf":null}}"#))),
        Err(JwtError::InvalidClaim("nbf"))
    );
}

#[test]
fn nbf_in_the_future_is_rejected() {
    let t = signed(&format!(r#"{{"iat":{NOW},"nbf":{}}}"#, NOW + 1));
    assert_eq!(decode_jws(&t), Err(JwtError::NotYetValid));
    let t = signed(&format!(r#"{{"iat":{NOW},"nbf":{NOW}}}"#));
    assert!(decode_jws(&t).is_ok());
}

#[test]
fn claims_must_be_an_object() {
    for payload in ["[1,2]", "\"x\"", "1", "null", "{", ""] {
        assert_eq!(
            decode_jws(&signed(payload)),
            Err(JwtError::Malformed),
            "{payload}"
        );
    }
    // Valid MAC over a payload that is not base64url.
    let key = keys().current.signing;
    let input = format!("{}.{}", jws::HS512_HEADER_B64, "not*b64");
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(&key).unwrap();
    mac.update(input.as_bytes());
    let token = format!("{input}.{}", b64e(&mac.finalize().into_bytes()));
    assert_eq!(decode_jws(&token), Err(JwtError::Malformed));
}

// ---- shape -------------------------------------------------------------------------

#[test]
fn oversized_token_is_rejected_before_parsing() {
    let big = "a".repeat(MAX_TOKEN_LEN + 1);
    for enc in [false, true] {
        assert_eq!(
            decode(&keys(), &big, &settings(DAY30, enc), NOW),
            Err(JwtError::TooLarge)
        );
    }
    // A long header.
    let header = b64e(format!(r#"{{"alg":"HS512","x":"{}"}}"#, "y".repeat(2000)).as_bytes());
    assert_eq!(
        decode_jws(&format!("{header}.e30.AAAA")),
        Err(JwtError::TooLarge)
    );
}

#[test]
fn non_base64_and_wrong_part_counts_are_malformed() {
    let f = fixture();
    let jws_token = s(&f, &["jws", "token"]);
    let jwe_token = s(&f, &["jwe", "token"]);
    let p: Vec<_> = jws_token.split('.').collect();
    let cases = [
        String::new(),
        "a".into(),
        "a.b".into(),
        format!("{}.{}", p[0], p[1]),
        format!("{jws_token}.x"),
        format!("{jws_token}."),
        "eyJ!!.e30.AAAA".into(),
        format!("{}=.{}.{}", p[0], p[1], p[2]),
        format!("{}.{}.{}=", p[0], p[1], p[2]),
        format!("{}.{}.{}+", p[0], p[1], &p[2][1..]),
        format!(" {jws_token}"),
        "..".into(),
    ];
    for case in &cases {
        assert!(
            matches!(decode_jws(case), Err(JwtError::Malformed)),
            "{case}: {:?}",
            decode_jws(case)
        );
    }
    let st = settings(DAY30, true);
    let q: Vec<_> = jwe_token.split('.').collect();
    let jwe_cases = [
        q[..4].join("."),
        format!("{jwe_token}.x"),
        format!("{}.AAAA.{}.{}.{}", q[0], q[2], q[3], q[4]),
        format!("{}..{}.{}.{}", q[0], "AAAA", q[3], q[4]),
        format!("{}..{}.{}.{}", q[0], q[2], q[3], "AAAA"),
        format!("{}..{}.{}!.{}", q[0], q[2], q[3], q[4]),
        "....".into(),
    ];
    for case in &jwe_cases {
        assert_eq!(
            decode(&keys(), case, &st, NOW + 1),
            Err(JwtError::Malformed),
            "{case}"
        );
    }
}

fn mutate(token: &str, at: prop::sample::Index, with: char) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = at.index(chars.len());
    chars[i] = with;
    chars.into_iter().collect()
}

proptest! {
    #[test]
    fn decode_never_panics_on_arbitrary_strings(token in ".{0,400}", enc in any::<bool>()) {
        let _ = decode(&keys(), &token, &settings(DAY30, enc), NOW);
    }

    #[test]
    fn decode_never_panics_on_jose_shaped_strings(
        token in "[A-Za-z0-9_=.-]{0,600}",
        enc in any::<bool>(),
    ) {
        let _ = decode(&keys(), &token, &settings(DAY30, enc), NOW);
    }

    #[test]
    fn mutated_vectors_never_panic_or_verify(
        at in any::<prop::sample::Index>(),
        with in prop::sample::select(vec!['A', 'B', '_', '-', '.', '=', '0', 'z', '!']),
    ) {
        let f = fixture();
        for (path, enc) in [("jws", false), ("jwe", true)] {
            let original = s(&f, &[path, "token"]);
            let token = mutate(original, at, with);
            let result = decode(&keys(), &token, &settings(DAY30, enc), NOW + 1);
            if token != original {
                // Any other string must fail: the MAC / GCM tag covers the base64 text,
                // and strict base64url has one encoding per byte string.
                prop_assert!(result.is_err(), "{token}");
            }
        }
    }

    #[test]
    fn round_trip_arbitrary_claims(
        entries in prop::collection::vec(
            ("[a-z]{1,8}".prop_filter("nbf would make it not yet valid", |k| k != "nbf"), any::<i32>()),
            0..8,
        ),
        enc in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut c = Claims::new();
        for (k, v) in entries {
            c.insert(k, Value::from(v));
        }
        let keys = keys();
        let st = settings(DAY30, enc);
        let token = encode(&keys, &c, &st, NOW, &mut rng(seed)).unwrap();
        let got = decode(&keys, &token, &st, NOW).unwrap();
        c.insert("iat".into(), Value::from(NOW));
        c.insert("exp".into(), Value::from(NOW + DAY30));
        prop_assert_eq!(got, c);
    }
}
