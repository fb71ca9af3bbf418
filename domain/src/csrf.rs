//! Double-submit CSRF tokens (spec §3): cookie `token|hex(sha256(token + secret))`.

use crate::secret::{constant_time_eq, CsrfToken, SecretString};

/// Bytes of entropy in a CSRF token (rendered as 64 hex characters).
pub const TOKEN_BYTES: usize = 32;

/// `hex(sha256(token + secret))`.
pub fn hash(token: &str, secret: &SecretString) -> String {
    crate::secret::hash_with_secret(token, secret)
}

/// The token from a CSRF cookie value, when its hash verifies under one of `secrets`.
pub fn token_from_cookie(cookie: &str, secrets: &[SecretString]) -> Option<CsrfToken> {
    let mut parts = cookie.split('|');
    let token = parts.next()?;
    let claimed = parts.next()?;
    if token.is_empty() {
        return None;
    }
    secrets
        .iter()
        .any(|secret| constant_time_eq(hash(token, secret).as_bytes(), claimed.as_bytes()))
        .then(|| CsrfToken::new(token))
}

/// A new cookie value for `token`, hashed with the signing secret.
pub fn cookie_value(token: &CsrfToken, secret: &SecretString) -> String {
    let token = token.expose();
    format!("{token}|{}", hash(token, secret))
}

/// Whether the token a POST body echoes is the cookie's token.
pub fn body_matches(cookie_token: &CsrfToken, body_token: Option<&str>) -> bool {
    body_token.is_some_and(|body| cookie_token.ct_eq(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vector() {
        // spec §19: token "a"*64, secret "my-nextauth-secret"
        let secret = SecretString::new("my-nextauth-secret");
        let token = CsrfToken::new("a".repeat(64));
        assert_eq!(
            hash(token.expose(), &secret),
            "2689e049e693263e890a0811e109fdcd0a3ddb8fd28fc1d04df133ac423fc755"
        );
        let cookie = cookie_value(&token, &secret);
        assert_eq!(
            token_from_cookie(&cookie, std::slice::from_ref(&secret)),
            Some(token)
        );
    }

    #[test]
    fn rejects_forged_and_malformed_cookies() {
        let secret = SecretString::new("s");
        let other = SecretString::new("t");
        let tok = CsrfToken::new("tok");
        let good = cookie_value(&tok, &secret);
        assert_eq!(token_from_cookie(&good, std::slice::from_ref(&other)), None);
        assert_eq!(
            token_from_cookie(&good, &[other, secret.clone()]),
            Some(tok.clone())
        );
        assert_eq!(
            token_from_cookie("tok", std::slice::from_ref(&secret)),
            None
        );
        assert_eq!(
            token_from_cookie("tok|", std::slice::from_ref(&secret)),
            None
        );
        assert_eq!(
            token_from_cookie("|abc", std::slice::from_ref(&secret)),
            None
        );
        assert_eq!(token_from_cookie("", &[secret]), None);
        assert!(body_matches(&tok, Some("tok")));
        assert!(!body_matches(&tok, Some("tok2")));
        assert!(!body_matches(&tok, None));
    }
}
