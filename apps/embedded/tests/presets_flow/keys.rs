//! Keys made for the test run: the fixture provider's ID-token keys (RS256 and ES256) and
//! the site's Apple key (a P-256 PKCS#8 PEM, as Apple hands it out).

use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{JwsHeader, JwsSigner, ES256, RS256};
use josekit::jwt::JwtPayload;
use serde_json::{json, Map, Value};

/// One ID-token signing key and the key set that publishes its public half.
pub(crate) struct IdTokenKey {
    pub alg: &'static str,
    private: Jwk,
    /// The JWKS document.
    pub jwks: Value,
}

impl IdTokenKey {
    pub(crate) fn rs256() -> Self {
        Self::new("RS256", RS256.generate_key_pair(2048).unwrap())
    }

    pub(crate) fn es256() -> Self {
        Self::new("ES256", ES256.generate_key_pair().unwrap())
    }

    fn new(alg: &'static str, pair: impl KeyPair) -> Self {
        let kid = format!("fixture-{}", alg.to_ascii_lowercase());
        let mut private = pair.to_jwk_key_pair();
        private.set_key_id(&kid);
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(&kid);
        public.set_key_use("sig");
        public.set_algorithm(alg);
        let public = serde_json::to_value(public.as_ref()).unwrap();
        Self {
            alg,
            private,
            jwks: json!({ "keys": [public] }),
        }
    }

    /// A signed JWT (header `alg`, `kid`) with these claims.
    pub(crate) fn sign(&self, claims: Map<String, Value>) -> String {
        let signer: Box<dyn JwsSigner> = match self.alg {
            "RS256" => Box::new(RS256.signer_from_jwk(&self.private).unwrap()),
            _ => Box::new(ES256.signer_from_jwk(&self.private).unwrap()),
        };
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        let payload = JwtPayload::from_map(claims).unwrap();
        josekit::jwt::encode_with_signer(&payload, &header, signer.as_ref()).unwrap()
    }
}

/// The site's "Sign in with Apple" key.
pub(crate) struct AppleKey {
    pub private_pem: String,
    pub public_pem: Vec<u8>,
}

impl AppleKey {
    pub(crate) fn generate() -> Self {
        let pair = ES256.generate_key_pair().unwrap();
        Self {
            private_pem: String::from_utf8(pair.to_pem_private_key()).unwrap(),
            public_pem: pair.to_pem_public_key(),
        }
    }

    /// The claims and header of `client_secret` when it is an ES256 JWT signed by this key.
    pub(crate) fn open(
        &self,
        client_secret: &str,
    ) -> Result<(Map<String, Value>, JwsHeader), String> {
        let verifier = ES256.verifier_from_pem(&self.public_pem).unwrap();
        josekit::jwt::decode_with_verifier(client_secret, &verifier)
            .map(|(payload, header)| (payload.claims_set().clone(), header))
            .map_err(|e| format!("client_secret is not an ES256 JWT of the Apple key: {e}"))
    }
}
