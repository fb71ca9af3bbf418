//! Session-token tests: shared fixtures and helpers; the cases live in the submodules.

mod decode;
mod encode;
mod encrypted;
mod explicit_keys;
mod keys;
mod vectors;

use super::*;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::io::Write;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/nextauth-v3/vectors.json"
));
const NOW: i64 = 1_700_000_000;
const DAY30: i64 = 2_592_000;

fn fixture() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("fixture {path:?} is not a string"))
}

fn i(v: &Value, path: &[&str]) -> i64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_i64().unwrap()
}

fn obj(v: &Value) -> Claims {
    v.as_object().unwrap().clone()
}

fn secret() -> SecretString {
    SecretString::new(s(&fixture(), &["secret"]))
}

fn keys() -> JwtKeys {
    JwtKeys::derive(&[secret()]).unwrap()
}

fn keys_of(secrets: &[&str]) -> JwtKeys {
    let secrets: Vec<_> = secrets.iter().map(|s| SecretString::new(*s)).collect();
    JwtKeys::derive(&secrets).unwrap()
}

fn settings(max_age: i64, encryption: bool) -> JwtSettings {
    JwtSettings {
        max_age,
        encryption,
    }
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn claims(json: &str) -> Claims {
    serde_json::from_str(json).unwrap()
}

/// An HS512 JWS with arbitrary header and payload text, MACed with the `hmac` crate
/// (independently of the code under test).
fn sign_raw(header: &str, payload: &str, key: &[u8]) -> String {
    let input = format!("{}.{}", b64e(header.as_bytes()), b64e(payload.as_bytes()));
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64e(&mac.finalize().into_bytes()))
}

fn sign_raw_hs256(header: &str, payload: &str, key: &[u8]) -> String {
    let input = format!("{}.{}", b64e(header.as_bytes()), b64e(payload.as_bytes()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64e(&mac.finalize().into_bytes()))
}

fn seal_raw(header: &str, plaintext: &[u8], key: &[u8]) -> String {
    jwe::seal_with_header(key, &b64e(header.as_bytes()), plaintext, &mut rng(99)).unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn payload_at(iat: i64) -> String {
    format!(r#"{{"sub":"42","iat":{iat},"exp":{}}}"#, iat + DAY30)
}

fn decode_jws(token: &str) -> Result<Claims, JwtError> {
    decode(&keys(), token, &settings(DAY30, false), NOW)
}

/// An HS512 JWS of `payload` under the current signing key.
fn signed(payload: &str) -> String {
    sign_raw(r#"{"alg":"HS512"}"#, payload, &keys().current.signing)
}
