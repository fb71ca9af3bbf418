//! Key names: the prefix, a kind, and SHA-256 hex of anything that identifies a person or
//! carries a secret.

use sha2::{Digest, Sha256};

/// `hex(sha256(value))`: 64 characters whatever the value's length.
pub(crate) fn hashed(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A rate limit's counter.
pub(crate) fn limit(prefix: &str, key: &str) -> String {
    format!("{prefix}limit:{}", hashed(key))
}

/// A cached session lookup, under the session key that matched.
pub(crate) fn session(prefix: &str, session_key: &str) -> String {
    format!("{prefix}session:{}", hashed(session_key))
}

/// The set of a user's cached session entries (their key names).
pub(crate) fn user_sessions(prefix: &str, user_id: &str) -> String {
    format!("{prefix}session-user:{}", hashed(user_id))
}

/// The cache's generation: changed by every invalidation (see `session_cache`).
pub(crate) fn generation(prefix: &str) -> String {
    format!("{prefix}session-generation")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifying_parts_are_hashed() {
        let key = limit("p:", "email:id:jane@example.com");
        assert!(key.starts_with("p:limit:"));
        assert!(!key.contains("jane"));
        assert_eq!(key.len(), "p:limit:".len() + 64);
        assert_eq!(
            session("p:", ""),
            "p:session:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(!user_sessions("p:", "user-1").contains("user-1"));
    }
}
