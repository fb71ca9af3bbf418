//! v3's explicit JWT keys (C18): `jwt.signingKey` / `jwt.encryptionKey` as JWK strings, and
//! tokens next-auth@3.29.10 minted with them (fixtures/nextauth-v3/explicit-keys).

use cucumber::gherkin::Step;
use cucumber::{given, then};

use super::docstring;
use crate::fixtures::{v3_explicit_key_token, v3_key, v3_key_bytes};
use crate::jose::{self, Alg};
use crate::world::AuthWorld;

#[given(expr = "the JWT signing key is v3's {string}")]
async fn signing_key(w: &mut AuthWorld, name: String) {
    w.setup_mut().jwt_signing_key = Some(v3_key(&name).to_owned());
}

#[given(expr = "the JWT encryption key is v3's {string}")]
async fn encryption_key(w: &mut AuthWorld, name: String) {
    w.setup_mut().jwt_encryption_key = Some(v3_key(&name).to_owned());
}

#[given(expr = "my session cookie is the token v3 minted for {string}")]
async fn v3_token(w: &mut AuthWorld, case: String) {
    w.set_session_cookie(v3_explicit_key_token(&case)).await;
}

#[given(expr = "my session cookie is a token signed HS512 with v3's {string} and the claims:")]
async fn signed_with_v3_key(w: &mut AuthWorld, name: String, step: &Step) {
    let payload = super::given::resolve_claims(w, &docstring(step));
    let token = jose::sign(
        Alg::Hs512,
        &v3_key_bytes(&name),
        r#"{"alg":"HS512"}"#,
        &payload,
    );
    w.set_session_cookie(&token).await;
}

#[then(expr = "the session cookie's signature verifies with v3's {string}")]
async fn verifies_with_v3_key(w: &mut AuthWorld, name: String) {
    let token = w.session_cookie().await;
    assert!(
        jose::verify_hs512(&token, &v3_key_bytes(&name)).expect("a JWS"),
        "the HS512 signature does not verify with {name}: {token}"
    );
}

#[then(expr = "the session cookie opens with v3's {string} to a JWS signed with v3's {string}")]
async fn opens_with_v3_keys(w: &mut AuthWorld, encryption: String, signing: String) {
    let token = w.session_cookie().await;
    let (header, inner) =
        jose::open(&v3_key_bytes(&encryption), &token).expect("the JWE opens with that key");
    assert_eq!(header, r#"{"alg":"dir","enc":"A256GCM"}"#);
    let inner = String::from_utf8(inner).expect("UTF-8");
    assert!(
        jose::verify_hs512(&inner, &v3_key_bytes(&signing)).expect("a JWS inside"),
        "the inner JWS does not verify with {signing}"
    );
}
