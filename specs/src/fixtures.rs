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
