//! Database session tokens at rest: what a store keeps for a session cookie, and which
//! stored keys a presented cookie may match.
//!
//! A new session is stored under `sha256:<hex(sha256(token))>` (the default), so someone
//! who reads the sessions table learns no cookie. NextAuth v3 stored the token itself
//! (64 lower-case hex characters); those rows still read, and a database that v3 still
//! serves during a migration keeps getting raw rows until the operator turns hashing on
//! (docs/security.md, "Data at rest").
//!
//! A lookup asks the store for both candidates at once: the hash of the presented token
//! and the token itself. The raw candidate can never equal a hashed row's key, because a
//! presented token that starts with [`HASHED_PREFIX`] is refused before any lookup
//! ([`SessionKeys::for_cookie`]): copying a stored hash into a cookie signs nobody in.

use sha2::{Digest, Sha256};

use crate::secret::SecretString;

/// The prefix of a hashed session key. A v3 token (hex) never contains `:`.
pub const HASHED_PREFIX: &str = "sha256:";

/// How new database sessions keep their token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionTokenStorage {
    /// `sha256:<hex>`: the default.
    #[default]
    Hashed,
    /// The token itself, as NextAuth v3 stores and reads it (a database v3 still serves).
    Raw,
}

impl SessionTokenStorage {
    /// The key a new session with cookie value `token` is stored under.
    pub fn stored_key(self, token: &str) -> SecretString {
        match self {
            SessionTokenStorage::Hashed => SecretString::new(hashed_key(token)),
            SessionTokenStorage::Raw => SecretString::new(token),
        }
    }

    /// For logs: which form new sessions are stored in (no secret in it).
    pub fn describe(self) -> &'static str {
        match self {
            SessionTokenStorage::Hashed => "hashed (sha256)",
            SessionTokenStorage::Raw => "raw (NextAuth v3 compatible)",
        }
    }
}

/// `sha256:` + the lower-case hex SHA-256 of `token`.
pub fn hashed_key(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    format!("{HASHED_PREFIX}{}", crate::secret::lower_hex(&digest))
}

/// The stored keys one session may be under: a lookup or a delete matches any of them.
/// Built only from a presented cookie ([`SessionKeys::for_cookie`]) or from the key a
/// store returned ([`SessionKeys::stored`]). `Debug` shows no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys(Vec<SecretString>);

impl SessionKeys {
    /// The candidates for a presented cookie value: its hash, then the value itself (a
    /// raw row, v3's or written in raw mode). `None` for a value that has a stored key's
    /// shape (`sha256:…`): such a value is no cookie we issued, and looking it up raw
    /// would let a reader of the database use a stored hash as a cookie.
    pub fn for_cookie(presented: &str) -> Option<Self> {
        if presented.is_empty() || presented.starts_with(HASHED_PREFIX) {
            return None;
        }
        Some(Self(vec![
            SecretString::new(hashed_key(presented)),
            SecretString::new(presented),
        ]))
    }

    /// Exactly the key a store returned with a session.
    pub fn stored(key: &SecretString) -> Self {
        Self(vec![key.clone()])
    }

    /// The candidate keys, hashed first.
    pub fn keys(&self) -> &[SecretString] {
        &self.0
    }

    /// The keys as strings, for a store call.
    pub fn exposed(&self) -> Vec<&str> {
        self.0.iter().map(SecretString::expose).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3_TOKEN: &str = "5f2c3bb4a1f0d7e9c8b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4";

    #[test]
    fn hashed_key_is_prefixed_sha256_hex() {
        // sha256("abc")
        assert_eq!(
            hashed_key("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn storage_modes() {
        assert_eq!(
            SessionTokenStorage::Hashed.stored_key(V3_TOKEN).expose(),
            hashed_key(V3_TOKEN)
        );
        assert_eq!(
            SessionTokenStorage::Raw.stored_key(V3_TOKEN).expose(),
            V3_TOKEN
        );
        assert_eq!(SessionTokenStorage::default(), SessionTokenStorage::Hashed);
    }

    #[test]
    fn a_cookie_is_looked_up_hashed_and_raw() {
        let keys = SessionKeys::for_cookie(V3_TOKEN).unwrap();
        assert_eq!(
            keys.exposed(),
            vec![hashed_key(V3_TOKEN).as_str(), V3_TOKEN]
        );
    }

    /// A reader of the database copies a stored key into a cookie: nothing is looked up,
    /// so the raw arm cannot match the hashed row.
    #[test]
    fn a_stored_hash_presented_as_cookie_is_refused() {
        let stored = hashed_key(V3_TOKEN);
        assert_eq!(SessionKeys::for_cookie(&stored), None);
        assert_eq!(SessionKeys::for_cookie(""), None);
    }

    #[test]
    fn debug_shows_no_key() {
        let keys = SessionKeys::for_cookie(V3_TOKEN).unwrap();
        let shown = format!("{keys:?}");
        assert!(!shown.contains(V3_TOKEN) && !shown.contains(&hashed_key(V3_TOKEN)[7..]));
    }
}
