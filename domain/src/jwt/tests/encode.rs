//! `encode`: claims, settings and encryption, round-tripped through `decode`.

use super::*;

#[test]
fn encode_overwrites_iat_exp_in_place_and_appends_otherwise() {
    let k = keys();
    let token = encode(
        &k,
        &claims(r#"{"exp":1,"a":null,"iat":"x","b":[1]}"#),
        &settings(60, false),
        NOW,
        &mut rng(1),
    )
    .unwrap();
    let payload = b64d(token.split('.').nth(1).unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        format!(r#"{{"exp":{},"a":null,"iat":{NOW},"b":[1]}}"#, NOW + 60)
    );
    let token = encode(
        &k,
        &claims(r#"{"a":1}"#),
        &settings(60, false),
        NOW,
        &mut rng(1),
    )
    .unwrap();
    let payload = b64d(token.split('.').nth(1).unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        format!(r#"{{"a":1,"iat":{NOW},"exp":{}}}"#, NOW + 60)
    );
}

#[test]
fn encode_rejects_bad_settings_and_oversized_claims() {
    let k = keys();
    assert_eq!(
        encode(&k, &Claims::new(), &settings(-1, false), NOW, &mut rng(1)),
        Err(JwtError::InvalidSettings("max_age"))
    );
    assert_eq!(
        encode(
            &k,
            &Claims::new(),
            &settings(i64::MAX, false),
            NOW,
            &mut rng(1)
        ),
        Err(JwtError::InvalidSettings("max_age"))
    );
    let mut big = Claims::new();
    big.insert("x".into(), Value::from("y".repeat(MAX_TOKEN_LEN)));
    for enc in [false, true] {
        assert_eq!(
            encode(&k, &big, &settings(60, enc), NOW, &mut rng(1)),
            Err(JwtError::TooLarge)
        );
    }
}

#[test]
fn encryption_round_trip_without_zip_and_fresh_iv() {
    let k = keys();
    let c = claims(r#"{"name":"Jane","sub":"42"}"#);
    let st = settings(DAY30, true);
    let a = encode(&k, &c, &st, NOW, &mut rng(1)).unwrap();
    let b = encode(&k, &c, &st, NOW, &mut rng(2)).unwrap();
    assert_ne!(a, b, "IV comes from the rng");
    assert_eq!(
        a,
        encode(&k, &c, &st, NOW, &mut rng(1)).unwrap(),
        "deterministic"
    );
    let parts: Vec<_> = a.split('.').collect();
    assert_eq!(parts.len(), 5);
    assert_eq!(b64d(parts[0]).unwrap(), br#"{"alg":"dir","enc":"A256GCM"}"#);
    assert_eq!(parts[1], "");
    assert_eq!(b64d(parts[2]).unwrap().len(), 12);
    assert_eq!(b64d(parts[4]).unwrap().len(), 16);
    let got = decode(&k, &a, &st, NOW + 5).unwrap();
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        format!(
            r#"{{"name":"Jane","sub":"42","iat":{NOW},"exp":{}}}"#,
            NOW + DAY30
        )
    );
    // The inner JWS is the one the plain encoder makes.
    let inner = jwe::open_dir(k.encryption_keys(), &a).unwrap();
    assert_eq!(
        inner,
        encode(&k, &c, &settings(DAY30, false), NOW, &mut rng(1))
            .unwrap()
            .as_bytes()
    );
}

#[test]
fn encryption_setting_must_match_token_kind() {
    let f = fixture();
    let k = keys();
    assert_eq!(
        decode(
            &k,
            s(&f, &["jwe", "token"]),
            &settings(DAY30, false),
            NOW + 1
        ),
        Err(JwtError::Malformed)
    );
    assert_eq!(
        decode(
            &k,
            s(&f, &["jws", "token"]),
            &settings(DAY30, true),
            NOW + 1
        ),
        Err(JwtError::Malformed)
    );
}

#[test]
fn codec_trait_object_round_trip() {
    let k = keys();
    let st = settings(DAY30, true);
    let codec: &dyn SessionCodec = &V3Codec;
    let mut r = rng(5);
    let token = codec
        .encode(
            &claims(r#"{"sub":"7"}"#),
            &mut EncodeContext {
                keys: &k,
                settings: &st,
                now_unix: NOW,
                rng: &mut r,
            },
        )
        .unwrap();
    let got = codec
        .decode(
            &token,
            &DecodeContext {
                keys: &k,
                settings: &st,
                now_unix: NOW,
            },
        )
        .unwrap();
    assert_eq!(got["sub"], "7");
}

#[test]
fn stamping_serialises_as_inserting_would() {
    let orders: [&[(&str, Value)]; 4] = [
        &[("sub", "1".into()), ("name", "Jane".into())],
        &[("iat", 1.into()), ("sub", "1".into()), ("exp", 2.into())],
        &[("exp", 2.into()), ("sub", "1".into())],
        &[
            ("sub", "1".into()),
            ("iat", "not a number".into()),
            ("x", Value::Null),
        ],
    ];
    for order in orders {
        let claims: Claims = order
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let mut inserted = claims.clone();
        inserted.insert("iat".to_owned(), Value::from(1_700_000_000));
        inserted.insert("exp".to_owned(), Value::from(1_702_592_000));
        let stamped = Stamped {
            claims: &claims,
            iat: 1_700_000_000,
            exp: 1_702_592_000,
        };
        assert_eq!(
            serde_json::to_string(&stamped).unwrap(),
            serde_json::to_string(&inserted).unwrap()
        );
    }
}
