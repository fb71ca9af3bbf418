//! Secret values: redacted in `Debug`, compared in constant time.
//!
//! Besides [`SecretString`], the one-time values of a sign-in each have a type of their own
//! ([`AuthorizationCode`], [`PkceVerifier`], [`Nonce`], [`OAuthState`], [`CsrfToken`]), so
//! one cannot be passed where another is meant, and each leaves its type only through
//! `expose()`, where it goes on the wire.
//!
//! Why not the `oauth2` crate's types: with its default features off it still brings
//! `chrono` (with the `clock` feature), `rand` 0.8 with its thread-local generator (its
//! `new_random` constructors draw from the OS, which this sans-IO core never does) and
//! `serde_path_to_error`. Its secret types have no equality unless the
//! `timing-resistant-secret-traits` feature is on, and then only against their own type,
//! whereas a check compares a sealed value with a received `&str`; `PkceCodeChallenge`
//! panics on a verifier of the wrong length, and it has no nonce type (that is
//! `openidconnect`'s). Its `StandardTokenResponse` is a strict serde shape (numeric
//! `expires_in`, a `token_type`), which the v3-compatible token parser cannot use: it reads
//! form answers, Slack's nested token and `expires_in` as a string.

use subtle::ConstantTimeEq;

/// A string that must never reach a log line, an error message or `Debug` output.
/// Equality is constant time in the content.
#[derive(Clone, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(&other.0)
    }
}

impl SecretString {
    /// Wraps `value`; `Debug` shows it redacted from here on.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; every call site is a place the secret leaves this type.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time equality with another string.
    pub fn ct_eq(&self, other: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), other.as_bytes())
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Declares a secret newtype over [`SecretString`]: redacted `Debug`, constant-time
/// equality, and `expose()` as its one way out.
macro_rules! secret_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps `value`; `Debug` shows it redacted from here on.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::new(value))
            }

            /// The value itself, where it goes on the wire.
            pub fn expose(&self) -> &str {
                self.0.expose()
            }

            /// Constant-time equality with a value that came back.
            pub fn ct_eq(&self, other: &str) -> bool {
                self.0.ct_eq(other)
            }
        }

        impl From<SecretString> for $name {
            fn from(value: SecretString) -> Self {
                Self(value)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_newtype! {
    /// The OAuth 2 authorisation code the provider sends back (RFC 6749 §4.1.2), spent once
    /// at the token endpoint.
    AuthorizationCode
}

secret_newtype! {
    /// The PKCE code verifier (RFC 7636 §4.1): only its S256 challenge is sent at sign-in;
    /// the verifier itself goes to the token endpoint alone.
    PkceVerifier
}

secret_newtype! {
    /// The OpenID Connect nonce (OIDC Core §3.1.2.1), expected back in the ID token.
    Nonce
}

secret_newtype! {
    /// The OAuth `state` (RFC 6749 §10.12), expected back on the callback.
    OAuthState
}

secret_newtype! {
    /// The double-submit CSRF token (spec §3), echoed by every POST.
    CsrfToken
}

/// `hex(sha256(value + secret))`: v3's CSRF cookie hash and e-mail token hash.
pub fn hash_with_secret(value: &str, secret: &SecretString) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(value.as_bytes());
    hasher.update(secret.expose().as_bytes());
    lower_hex(&hasher.finalize())
}

/// `bytes` as lower-case hex. `hex::encode` builds its string a `char` at a time; writing
/// into a buffer of the final size is what every CSRF check and new token pays for.
pub fn lower_hex(bytes: &[u8]) -> String {
    let mut buffer = vec![0u8; bytes.len() * 2];
    match hex::encode_to_slice(bytes, &mut buffer).map(|()| String::from_utf8(buffer)) {
        Ok(Ok(text)) => text,
        // Unreachable (the buffer has the right size; hex digits are ASCII).
        _ => hex::encode(bytes),
    }
}

/// The one place secrets are compared: constant time in the content
/// (the length is not secret: every token here has a fixed, public length).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::new("hunter2");
        assert_eq!(format!("{s:?}"), "SecretString([redacted])");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn equality_checks_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
        assert!(SecretString::new("x").ct_eq("x"));
        assert!(!SecretString::new("x").ct_eq("y"));
        assert_eq!(SecretString::new("x"), SecretString::new("x"));
        assert_ne!(SecretString::new("x"), SecretString::new("xy"));
    }

    #[test]
    fn newtypes_are_redacted_and_compare_in_constant_time() {
        let debug = [
            format!("{:?}", AuthorizationCode::new("c0de")),
            format!("{:?}", PkceVerifier::new("c0de")),
            format!("{:?}", Nonce::new("c0de")),
            format!("{:?}", OAuthState::new("c0de")),
            format!("{:?}", CsrfToken::new("c0de")),
        ];
        assert_eq!(
            debug,
            [
                "AuthorizationCode([redacted])",
                "PkceVerifier([redacted])",
                "Nonce([redacted])",
                "OAuthState([redacted])",
                "CsrfToken([redacted])",
            ]
        );
        let nonce = Nonce::new("n-1");
        assert_eq!(nonce.expose(), "n-1");
        assert!(nonce.ct_eq("n-1"));
        assert!(!nonce.ct_eq("n-2"));
        assert!(!nonce.ct_eq("n-1 "));
        assert_eq!(Nonce::from(SecretString::new("n-1")), nonce);
    }
}
