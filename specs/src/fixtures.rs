//! The NextAuth v3 test vectors (spec §19), from `fixtures/nextauth-v3/vectors.json`.

use std::path::PathBuf;
use std::sync::LazyLock;

use serde_json::Value;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("specs/ is inside the workspace")
        .to_path_buf()
}

static VECTORS: LazyLock<Value> = LazyLock::new(|| {
    let path = workspace().join("fixtures/nextauth-v3/vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
});

/// The parsed vectors file.
pub fn vectors() -> &'static Value {
    &VECTORS
}

/// A string member of the vectors file, by JSON pointer (`/hkdf/signing/okm_hex`).
pub fn vector(pointer: &str) -> &'static str {
    vectors()
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in vectors.json"))
}

static EXPLICIT_KEYS: LazyLock<Value> = LazyLock::new(|| {
    let path = workspace().join("fixtures/nextauth-v3/explicit-keys/vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
});

/// A key of `fixtures/nextauth-v3/explicit-keys/vectors.json` (`signingKey`,
/// `encryptionKey`, `otherSigningKey`, …): v3's JWK JSON string.
pub fn v3_key(name: &str) -> &'static str {
    EXPLICIT_KEYS["keys"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no key {name:?} in explicit-keys/vectors.json"))
}

/// A token next-auth@3.29.10 minted with explicit keys (a case of that file).
pub fn v3_explicit_key_token(case: &str) -> &'static str {
    EXPLICIT_KEYS["cases"][case]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no case {case:?} in explicit-keys/vectors.json"))
}

/// The key bytes (`k`, base64url) of [`v3_key`].
pub fn v3_key_bytes(name: &str) -> Vec<u8> {
    let jwk: Value = serde_json::from_str(v3_key(name)).expect("the fixture's JWK is JSON");
    crate::jose::unb64(jwk["k"].as_str().expect("the JWK has k")).expect("k is base64url")
}
