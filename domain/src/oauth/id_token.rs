//! OpenID Connect ID-token verification (OIDC Core §3.1.3.7): the signature against the
//! provider's key set with an allow-list of asymmetric algorithms (never `none`, never an
//! HMAC keyed with a public key), then `iss`, `aud`/`azp`, `exp`/`iat`, `nonce` and `sub`.
//! v3 read the payload unverified (spec §7.7); this is the port note made real.

use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};

use crate::secret::Nonce;

/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;

/// What the token must say.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// The provider's issuer: the token's `iss` must equal it.
    pub issuer: &'a str,
    /// This site's client id: the token's `aud` must hold it.
    pub client_id: &'a str,
    /// The nonce sealed at sign-in, when the provider uses one.
    pub nonce: Option<&'a Nonce>,
    /// The request's time, Unix seconds, for `exp` and `iat`.
    pub now_unix: i64,
}

/// Why an ID token was refused. No variant carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a JWS: its header does not parse or names no `alg`.
    #[error("not a signed JWT")]
    Malformed,
    /// An `alg` outside the allowed asymmetric algorithms (`none` and HMAC included).
    #[error("algorithm {0:?} is not allowed")]
    Algorithm(String),
    /// A header member that would let the token bring its own key (`jku`, `jwk`, `x5u`,
    /// `x5c`), or `crit`.
    #[error("header member {0:?} is not allowed")]
    Header(&'static str),
    /// The key set has no key with the token's `kid`: refetch the set once.
    #[error("unknown key id")]
    UnknownKey,
    /// The provider's key set is not a JWKS.
    #[error("the key set does not parse")]
    KeySet,
    /// No usable key verifies the signature.
    #[error("bad signature")]
    Signature,
    /// A claim (named) is missing or wrong: `iss`, `sub`, `aud`, `azp`, `exp`, `iat` or
    /// `nonce`.
    #[error("claim {0} is missing or wrong")]
    Claim(&'static str),
    /// `exp` is past, beyond [`LEEWAY_SECONDS`].
    #[error("expired")]
    Expired,
}

const ALLOWED: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

/// Verifies `token` with the key set `jwks` (its JSON) and returns its claims.
pub fn verify(
    token: &str,
    jwks: &[u8],
    expect: &Expectations<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    let header = josekit::jwt::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .ok_or(IdTokenError::Malformed)?
        .to_owned();
    if !ALLOWED.contains(&alg.as_str()) {
        return Err(IdTokenError::Algorithm(alg));
    }
    // Keys named by the token itself would let it bring its own key (ASVS 3.5.3).
    for member in ["jku", "jwk", "x5u", "x5c", "crit"] {
        if header.claim(member).is_some() {
            return Err(IdTokenError::Header(member));
        }
    }
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let set = JwkSet::from_bytes(jwks).map_err(|_| IdTokenError::KeySet)?;
    let candidates: Vec<&Jwk> = match &kid {
        Some(kid) => set.get(kid),
        None => set.keys(),
    };
    let candidates: Vec<&Jwk> = candidates
        .into_iter()
        .filter(|k| k.key_use().is_none_or(|u| u == "sig"))
        .filter(|k| k.algorithm().is_none_or(|a| a == alg))
        .collect();
    if candidates.is_empty() {
        return Err(if kid.is_some() {
            IdTokenError::UnknownKey
        } else {
            IdTokenError::Signature
        });
    }
    let payload = candidates
        .iter()
        .filter_map(|jwk| verifier(&alg, jwk))
        .find_map(|v| josekit::jwt::decode_with_verifier(token, v.as_ref()).ok())
        .map(|(payload, _)| payload)
        .ok_or(IdTokenError::Signature)?;
    let claims = payload.claims_set().clone();
    check_claims(&claims, expect)?;
    Ok(claims)
}

fn verifier(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    use josekit::jws::*;
    // The key is already chosen above (by `kid`, or every usable key when the token has
    // none, OIDC Core §10.1). A verifier built from a JWK with a `kid` would demand the
    // same `kid` in the header and refuse a token without one.
    let mut jwk = jwk.clone();
    jwk.set_parameter("kid", None).ok()?;
    let jwk = &jwk;
    fn boxed<V: JwsVerifier + 'static>(
        v: Result<V, josekit::JoseError>,
    ) -> Option<Box<dyn JwsVerifier>> {
        v.ok().map(|v| Box::new(v) as Box<dyn JwsVerifier>)
    }
    match alg {
        "RS256" => boxed(RS256.verifier_from_jwk(jwk)),
        "RS384" => boxed(RS384.verifier_from_jwk(jwk)),
        "RS512" => boxed(RS512.verifier_from_jwk(jwk)),
        "PS256" => boxed(PS256.verifier_from_jwk(jwk)),
        "PS384" => boxed(PS384.verifier_from_jwk(jwk)),
        "PS512" => boxed(PS512.verifier_from_jwk(jwk)),
        "ES256" => boxed(ES256.verifier_from_jwk(jwk)),
        "ES384" => boxed(ES384.verifier_from_jwk(jwk)),
        "ES512" => boxed(ES512.verifier_from_jwk(jwk)),
        "EdDSA" => boxed(EdDSA.verifier_from_jwk(jwk)),
        _ => None,
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    expect: &Expectations<'_>,
) -> Result<(), IdTokenError> {
    let string = |name| claims.get(name).and_then(Value::as_str);
    if string("iss") != Some(expect.issuer) {
        return Err(IdTokenError::Claim("iss"));
    }
    if string("sub").is_none_or(str::is_empty) {
        return Err(IdTokenError::Claim("sub"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expect.client_id) {
        return Err(IdTokenError::Claim("aud"));
    }
    match string("azp") {
        Some(azp) if azp != expect.client_id => return Err(IdTokenError::Claim("azp")),
        None if audiences.len() > 1 => return Err(IdTokenError::Claim("azp")),
        _ => {}
    }
    let number = |name| claims.get(name).and_then(Value::as_i64);
    let exp = number("exp").ok_or(IdTokenError::Claim("exp"))?;
    if exp + LEEWAY_SECONDS <= expect.now_unix {
        return Err(IdTokenError::Expired);
    }
    let iat = number("iat").ok_or(IdTokenError::Claim("iat"))?;
    if iat > expect.now_unix + LEEWAY_SECONDS {
        return Err(IdTokenError::Claim("iat"));
    }
    if let Some(expected) = expect.nonce {
        match string("nonce") {
            Some(nonce) if expected.ct_eq(nonce) => {}
            _ => return Err(IdTokenError::Claim("nonce")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::{JwsHeader, ES256, HS256, RS256};
    use josekit::jwt::JwtPayload;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn b64(bytes: impl AsRef<[u8]>) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    struct Idp {
        private: Jwk,
        jwks: Vec<u8>,
    }

    fn idp() -> Idp {
        let mut private = RS256.generate_key_pair(2048).unwrap().to_jwk_key_pair();
        private.set_key_id("k1");
        let mut public = private.to_public_key().unwrap();
        public.set_key_id("k1");
        public.set_key_use("sig");
        let jwks = json!({ "keys": [serde_json::to_value(public.as_ref()).unwrap()] });
        Idp {
            private,
            jwks: serde_json::to_vec(&jwks).unwrap(),
        }
    }

    fn claims() -> Value {
        json!({
            "iss": "https://idp.example", "sub": "alice", "aud": "client",
            "exp": NOW + 300, "iat": NOW, "nonce": "n-1",
        })
    }

    fn sign(idp: &Idp, claims: &Value, kid: Option<&str>) -> String {
        let mut header = JwsHeader::new();
        if let Some(kid) = kid {
            header.set_key_id(kid);
        }
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let signer = RS256.signer_from_jwk(&idp.private).unwrap();
        josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
    }

    fn expect() -> Expectations<'static> {
        static NONCE: std::sync::LazyLock<Nonce> = std::sync::LazyLock::new(|| Nonce::new("n-1"));
        Expectations {
            issuer: "https://idp.example",
            client_id: "client",
            nonce: Some(&NONCE),
            now_unix: NOW,
        }
    }

    #[test]
    fn a_good_token_verifies() {
        let idp = idp();
        let token = sign(&idp, &claims(), Some("k1"));
        let got = verify(&token, &idp.jwks, &expect()).unwrap();
        assert_eq!(got["sub"], "alice");
        // Without kid the set is searched.
        let token = sign(&idp, &claims(), None);
        assert!(verify(&token, &idp.jwks, &expect()).is_ok());
    }

    #[test]
    fn a_token_without_kid_verifies_against_a_key_that_has_one() {
        // OIDC Core §10.1: the header may leave `kid` out when the set holds one key. Found
        // while seeding the `jwks` fuzz target: josekit's verifier, built from a JWK with a
        // `kid`, demanded the same `kid` in the header. (Its signer copies the key's `kid`
        // into the header on its own, which is why `a_good_token_verifies` did not see it.)
        let idp = idp();
        let mut anonymous = idp.private.clone();
        anonymous.set_parameter("kid", None).unwrap();
        let payload = JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap();
        let signer = RS256.signer_from_jwk(&anonymous).unwrap();
        let token = josekit::jwt::encode_with_signer(&payload, &JwsHeader::new(), &signer).unwrap();
        let header = josekit::jwt::decode_header(&token).unwrap();
        assert!(header.claim("kid").is_none());
        assert_eq!(
            verify(&token, &idp.jwks, &expect()).unwrap()["sub"],
            "alice"
        );
        // A `kid` that names another key still finds nothing.
        let mut other = idp.private.clone();
        other.set_key_id("k2");
        let signer = RS256.signer_from_jwk(&other).unwrap();
        let token = josekit::jwt::encode_with_signer(&payload, &JwsHeader::new(), &signer).unwrap();
        assert_eq!(
            verify(&token, &idp.jwks, &expect()),
            Err(IdTokenError::UnknownKey)
        );
    }

    #[test]
    fn every_claim_check_fails_closed() {
        let idp = idp();
        let cases: Vec<(&str, Value, IdTokenError)> = vec![
            (
                "iss",
                json!("https://evil.example"),
                IdTokenError::Claim("iss"),
            ),
            ("aud", json!("other"), IdTokenError::Claim("aud")),
            (
                "aud",
                json!(["client", "other"]),
                IdTokenError::Claim("azp"),
            ),
            ("azp", json!("other"), IdTokenError::Claim("azp")),
            ("exp", json!(NOW - 61), IdTokenError::Expired),
            ("iat", json!(NOW + 3600), IdTokenError::Claim("iat")),
            ("nonce", json!("n-2"), IdTokenError::Claim("nonce")),
            ("sub", json!(""), IdTokenError::Claim("sub")),
        ];
        for (claim, value, error) in cases {
            let mut c = claims();
            c[claim] = value;
            let token = sign(&idp, &c, Some("k1"));
            assert_eq!(verify(&token, &idp.jwks, &expect()), Err(error), "{claim}");
        }
        for missing in ["exp", "iat", "nonce", "sub", "aud"] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(missing);
            let token = sign(&idp, &c, Some("k1"));
            assert!(verify(&token, &idp.jwks, &expect()).is_err(), "{missing}");
        }
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let idp = idp();
        let good = sign(&idp, &claims(), Some("k1"));
        // Unknown kid asks for a refetch (josekit's signer writes its key's kid).
        let mut rotated = Idp {
            private: idp.private.clone(),
            jwks: idp.jwks.clone(),
        };
        rotated.private.set_key_id("k2");
        let other = sign(&rotated, &claims(), Some("k2"));
        assert_eq!(
            verify(&other, &idp.jwks, &expect()),
            Err(IdTokenError::UnknownKey)
        );
        // Tampered payload.
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged_payload = b64(serde_json::to_vec(&json!({"sub": "mallory"})).unwrap());
        parts[1] = &forged_payload;
        assert_eq!(
            verify(&parts.join("."), &idp.jwks, &expect()),
            Err(IdTokenError::Signature)
        );
        // alg none.
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(
            verify(&none, &idp.jwks, &expect()),
            Err(IdTokenError::Algorithm("none".into()))
        );
        // HS256 keyed with the public key's bytes (the classic confusion): refused by alg.
        let payload = JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap();
        let hs = HS256.signer_from_bytes(&idp.jwks).unwrap();
        let hs_token = josekit::jwt::encode_with_signer(&payload, &JwsHeader::new(), &hs).unwrap();
        assert_eq!(
            verify(&hs_token, &idp.jwks, &expect()),
            Err(IdTokenError::Algorithm("HS256".into()))
        );
        // A token signed by another key with the same kid.
        let mut stranger = ES256.generate_key_pair().unwrap().to_jwk_key_pair();
        stranger.set_key_id("k1");
        let mut header = JwsHeader::new();
        header.set_key_id("k1");
        let es = ES256.signer_from_jwk(&stranger).unwrap();
        let es_token = josekit::jwt::encode_with_signer(&payload, &header, &es).unwrap();
        assert_eq!(
            verify(&es_token, &idp.jwks, &expect()),
            Err(IdTokenError::Signature)
        );
        // A token that brings its own key.
        let mut header = JwsHeader::new();
        header.set_key_id("k1");
        header
            .set_claim("jku", Some(json!("https://evil.example/jwks")))
            .unwrap();
        let signer = RS256.signer_from_jwk(&idp.private).unwrap();
        let jku = josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        assert_eq!(
            verify(&jku, &idp.jwks, &expect()),
            Err(IdTokenError::Header("jku"))
        );
        assert_eq!(
            verify("not.a.jwt", &idp.jwks, &expect()),
            Err(IdTokenError::Malformed)
        );
        assert_eq!(
            verify(&good, b"<html>", &expect()),
            Err(IdTokenError::KeySet)
        );
    }
}
