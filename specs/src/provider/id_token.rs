//! The test provider's signing keys and ID tokens, with the faults a scenario can ask for:
//! `alg: none`, HS256 keyed with the public key, a signature by another key, a key the
//! provider does not publish (yet).

use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair as _;
use josekit::jws::{JwsSigner as _, RS256};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::jose::b64;

/// Two RSA keys, `k0` and `k1`, made once per run (RSA key generation is slow).
static KEYS: LazyLock<[RsaKeyPair; 2]> =
    LazyLock::new(|| [0, 1].map(|_| RS256.generate_key_pair(2048).expect("an RSA key pair")));

pub(super) fn kid(key: usize) -> String {
    format!("k{key}")
}

/// The JWKS publishing `keys`.
pub(super) fn jwks(keys: &[usize]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|&k| {
            let mut jwk = KEYS[k].to_jwk_public_key();
            jwk.set_key_id(kid(k));
            jwk.set_key_use("sig");
            jwk.set_algorithm("RS256");
            serde_json::to_value(jwk.as_ref()).expect("a JWK is JSON")
        })
        .collect();
    json!({ "keys": keys })
}

/// How the provider signs its ID tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signing {
    /// RS256 with this key, naming it by its `kid`.
    Key(usize),
    /// `alg: none`, no signature.
    None,
    /// HS256 keyed with the PEM of the published key `k0` (the key-confusion attack).
    Hs256WithPublicKey,
    /// RS256 by key `k1` while the header names `k0`: a signature that does not verify.
    WrongKey,
}

/// A compact JWS of `claims`.
pub(super) fn mint(signing: &Signing, claims: &Map<String, Value>) -> String {
    let payload = b64(&serde_json::to_vec(claims).expect("claims are JSON"));
    let (header, key) = match signing {
        Signing::Key(k) => (
            json!({"alg": "RS256", "typ": "JWT", "kid": kid(*k)}),
            Some(*k),
        ),
        Signing::WrongKey => (
            json!({"alg": "RS256", "typ": "JWT", "kid": kid(0)}),
            Some(1),
        ),
        Signing::None => (json!({"alg": "none", "typ": "JWT"}), None),
        Signing::Hs256WithPublicKey => (json!({"alg": "HS256", "typ": "JWT", "kid": kid(0)}), None),
    };
    let input = format!("{}.{payload}", b64(header.to_string().as_bytes()));
    let signature = match (signing, key) {
        (_, Some(k)) => {
            let signer = RS256
                .signer_from_jwk(&KEYS[k].to_jwk_key_pair())
                .expect("an RS256 signer");
            signer.sign(input.as_bytes()).expect("RS256 signs")
        }
        (Signing::Hs256WithPublicKey, None) => {
            let pem = KEYS[0].to_pem_public_key();
            let mut mac = Hmac::<Sha256>::new_from_slice(&pem).expect("HMAC takes any key");
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        _ => Vec::new(),
    };
    format!("{input}.{}", b64(&signature))
}
