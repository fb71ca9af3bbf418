//! JWKS documents through `id_token::verify`, with fixed ID tokens (RS256 with and without
//! `kid`, ES256 and EdDSA with dummy signatures) so that the key-set parser, key selection and
//! verifier construction are reached. The RS256 tokens are signed by the key in the seed
//! corpus (claims: iss https://idp.example, aud client, nonce n-1, iat 1800000000).
//! A token is accepted only with its claims checked; an HMAC key never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_domain::oauth::id_token::{verify, Expectations};
use portcullis_domain::secret::Nonce;

const TOKENS: &[&str] = &[
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoiYWxpY2UiLCJhdWQiOiJjbGllbnQiLCJleHAiOjE4MDAwMDAzMDAsImlhdCI6MTgwMDAwMDAwMCwibm9uY2UiOiJuLTEifQ.DarsCa7kgJAOMwMC849tK2iohIN0q7nUHIkJ9-9OLsIANsxHmjmKzSsbWaoKN9WdQEEFJiOsIPOKILocf21Ta5l_J0p4TjEl_BM6z0CiNFRn5w9mQ5yoNxHUvpvz0CDFlCZP29z_haYZLcym2iDyXJekSmxCSVLvxaTZuyB0d9dD5zjZ9Yg2VQsrDyGeJnkrIMBYwvQzR3ynheTVvDgnWGavY3gRjHfO78fJoSrquqookeIgSMaamciIzzEwHC_IKxpZSASlYUABN1f34qJNS6TzbglQ_0BCRmwbXM5nfsZKUZS5RjnLXTkoTvbNPe48l28EkSf435DmEHUiZEEICQ",
    "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoiYWxpY2UiLCJhdWQiOiJjbGllbnQiLCJleHAiOjE4MDAwMDAzMDAsImlhdCI6MTgwMDAwMDAwMCwibm9uY2UiOiJuLTEifQ.iR_Qu_rJ8ucVGE3M0XGc8ik44FfAELLWPOkrQLnQsWiD6CgsBug560TJGot33zblhPPKm5i0zpse0ttB01iEET_EkusQwUHSwc0HORnIeTrkMIpTsjqPLigxw93poPkWhfKnvUIBigktm6rdTzfTu2d6wNh7Zrv8IXbnw4hnqD6iblqxk4QeBvfYvMCxevdjz5fA-bzxUN2x3MK2lq7hQAFWD-mjH7GrM0z9kUtVrXA37OhUmMf-39nJ-oWTptRTLF85Wrn7hLizndIdLwxa_TY1Zl6s65jfMWPr7gYFwrliew28mLVv9ivnm6ZkRHgpIzGmPFrISig0Zgu9bokEhA",
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoiYWxpY2UiLCJhdWQiOiJjbGllbnQiLCJleHAiOjE4MDAwMDAzMDAsImlhdCI6MTgwMDAwMDAwMCwibm9uY2UiOiJuLTEifQ.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ",
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImUxIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoiYWxpY2UiLCJhdWQiOiJjbGllbnQiLCJleHAiOjE4MDAwMDAzMDAsImlhdCI6MTgwMDAwMDAwMCwibm9uY2UiOiJuLTEifQ.AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg",
];

fuzz_target!(|data: &[u8]| {
    let nonce = Nonce::new("n-1");
    let expect = Expectations {
        issuer: "https://idp.example",
        client_id: "client",
        nonce: Some(&nonce),
        now_unix: 1_800_000_010,
    };
    for (i, token) in TOKENS.iter().enumerate() {
        if let Ok(claims) = verify(token, data, &expect) {
            assert!(i < 2, "a dummy signature verified");
            assert_eq!(claims.get("sub").and_then(|v| v.as_str()), Some("alice"));
            // The key that verified is an RSA key: an `oct` key never does.
            let doc: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
            let has_rsa = doc["keys"]
                .as_array()
                .is_some_and(|keys| keys.iter().any(|k| k["kty"] == "RSA"));
            assert!(has_rsa, "verified without an RSA key");
        }
    }
    // Wrong expectations never pass, whatever the key set.
    let other = Expectations {
        issuer: "https://evil.example",
        ..expect
    };
    assert!(verify(TOKENS[0], data, &other).is_err());
});
