//! Provider access and refresh tokens at rest (`encrypt_provider_tokens`).
//!
//! Stored form: `enc:v1:<kid>:<base64url(nonce ‖ ciphertext ‖ tag)>`, AES-256-GCM with a
//! 96-bit random nonce. The key of each secret is `HKDF-SHA256(secret, salt, info)` with
//! this purpose's own salt and info (no other key in Portcullis is derived with them);
//! `kid` is 8 hex characters derived the same way with another info, so it names the
//! secret without revealing anything of the key. The first secret encrypts; every secret
//! decrypts (rotation: add the new secret first, keep the old one until the tokens it
//! encrypted have been refreshed or re-linked).
//!
//! The additional data binds a ciphertext to its account and field (`provider_id`,
//! `provider_account_id`, `access_token` or `refresh_token`): a value copied into another
//! account's row, or from the access-token column into the refresh-token one, does not
//! decrypt.
//!
//! A stored value without the `enc:v1:` prefix is a plain token (written before encryption
//! was turned on, or by NextAuth v3) and reads as it is.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::jwt::hkdf_sha256;
use crate::secret::SecretString;

/// The prefix of an encrypted stored token.
pub const ENCRYPTED_PREFIX: &str = "enc:v1:";
const SALT: &[u8] = b"portcullis/provider-tokens";
const KEY_INFO: &[u8] = b"Portcullis provider token encryption key v1";
const KID_INFO: &[u8] = b"Portcullis provider token encryption key id v1";
const NONCE_LEN: usize = 12;

/// Which token of an account a value is (part of the additional data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    /// An account's `access_token`.
    AccessToken,
    /// An account's `refresh_token`.
    RefreshToken,
}

impl TokenField {
    fn name(self) -> &'static str {
        match self {
            TokenField::AccessToken => "access_token",
            TokenField::RefreshToken => "refresh_token",
        }
    }
}

/// Why a stored token could not be read. Never holds the token or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenCipherError {
    /// No secret is configured.
    #[error("no secret to derive the provider token key from")]
    NoSecret,
    #[error(
        "the provider token was encrypted with a secret that is no longer configured (key id {0})"
    )]
    /// The token's key id (its first 8 characters) matches no configured secret.
    UnknownKey(String),
    /// Not `enc:v1:<kid>:<nonce+ciphertext>`, or not base64.
    #[error("the stored provider token is malformed")]
    Malformed,
    #[error(
        "the stored provider token does not decrypt (tampered, or moved from another account)"
    )]
    /// The ciphertext fails authentication.
    Invalid,
    /// Key derivation or the random source failed.
    #[error("key derivation or the random source failed")]
    Crypto,
}

struct Key {
    kid: String,
    cipher: Aes256Gcm,
}

/// The provider-token keys of every configured secret. `Debug` shows only how many.
pub struct TokenCipher {
    keys: Vec<Key>,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenCipher([{} keys redacted])", self.keys.len())
    }
}

fn aad(provider_id: &str, provider_account_id: &str, field: TokenField) -> Vec<u8> {
    // Lengths first: no two different triples give the same bytes.
    let mut out = Vec::new();
    for part in [provider_id, provider_account_id, field.name()] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

impl TokenCipher {
    /// The keys of `secrets`, in order (the first encrypts).
    pub fn derive(secrets: &[SecretString]) -> Result<Self, TokenCipherError> {
        if secrets.is_empty() {
            return Err(TokenCipherError::NoSecret);
        }
        let keys = secrets
            .iter()
            .map(|secret| {
                let ikm = secret.expose().as_bytes();
                let key =
                    hkdf_sha256(ikm, SALT, KEY_INFO, 32).map_err(|_| TokenCipherError::Crypto)?;
                let kid =
                    hkdf_sha256(ikm, SALT, KID_INFO, 4).map_err(|_| TokenCipherError::Crypto)?;
                let cipher =
                    Aes256Gcm::new_from_slice(&key).map_err(|_| TokenCipherError::Crypto)?;
                Ok::<Key, TokenCipherError>(Key {
                    kid: hex::encode(kid),
                    cipher,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    /// `token` encrypted with the first secret's key, bound to its account and field.
    pub fn encrypt(
        &self,
        token: &SecretString,
        provider_id: &str,
        provider_account_id: &str,
        field: TokenField,
        rng: &mut dyn rand_core::RngCore,
    ) -> Result<SecretString, TokenCipherError> {
        let key = self.keys.first().ok_or(TokenCipherError::NoSecret)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.try_fill_bytes(&mut nonce)
            .map_err(|_| TokenCipherError::Crypto)?;
        let aad = aad(provider_id, provider_account_id, field);
        let sealed = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: token.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| TokenCipherError::Crypto)?;
        let mut body = nonce.to_vec();
        body.extend_from_slice(&sealed);
        Ok(SecretString::new(format!(
            "{ENCRYPTED_PREFIX}{}:{}",
            key.kid,
            URL_SAFE_NO_PAD.encode(body)
        )))
    }

    /// The token a stored value holds: decrypted when it is `enc:v1:…`, as it is otherwise
    /// (a plain token from before encryption, or from NextAuth v3).
    pub fn decrypt(
        &self,
        stored: &SecretString,
        provider_id: &str,
        provider_account_id: &str,
        field: TokenField,
    ) -> Result<SecretString, TokenCipherError> {
        let Some(rest) = stored.expose().strip_prefix(ENCRYPTED_PREFIX) else {
            return Ok(stored.clone());
        };
        let (kid, body) = rest.split_once(':').ok_or(TokenCipherError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| TokenCipherError::UnknownKey(kid.chars().take(8).collect()))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenCipherError::Malformed)?;
        if body.len() < NONCE_LEN + 16 {
            return Err(TokenCipherError::Malformed);
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let aad = aad(provider_id, provider_account_id, field);
        let plain = key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| TokenCipherError::Invalid)?;
        String::from_utf8(plain)
            .map(SecretString::new)
            .map_err(|_| TokenCipherError::Invalid)
    }

    /// An account as stored, with its access and refresh token readable.
    pub fn decrypt_account(
        &self,
        mut account: crate::model::Account,
    ) -> Result<crate::model::Account, TokenCipherError> {
        let (p, a) = (
            account.provider_id.clone(),
            account.provider_account_id.clone(),
        );
        if let Some(t) = &account.access_token {
            account.access_token = Some(self.decrypt(t, &p, &a, TokenField::AccessToken)?);
        }
        if let Some(t) = &account.refresh_token {
            account.refresh_token = Some(self.decrypt(t, &p, &a, TokenField::RefreshToken)?);
        }
        Ok(account)
    }

    /// `tokens` to store on the account `(provider_id, provider_account_id)`: the access
    /// and refresh token encrypted, unless already in the stored form (a refresh token kept
    /// from the row).
    pub fn encrypt_tokens(
        &self,
        mut tokens: crate::model::AccountTokens,
        provider_id: &str,
        provider_account_id: &str,
        rng: &mut dyn rand_core::RngCore,
    ) -> Result<crate::model::AccountTokens, TokenCipherError> {
        let mut seal = |value: &Option<SecretString>, field| match value {
            Some(t) if !t.expose().starts_with(ENCRYPTED_PREFIX) => self
                .encrypt(t, provider_id, provider_account_id, field, rng)
                .map(Some),
            other => Ok(other.clone()),
        };
        tokens.access_token = seal(&tokens.access_token, TokenField::AccessToken)?;
        tokens.refresh_token = seal(&tokens.refresh_token, TokenField::RefreshToken)?;
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(7)
    }

    fn cipher(secrets: &[&str]) -> TokenCipher {
        let secrets: Vec<SecretString> = secrets.iter().map(|s| SecretString::new(*s)).collect();
        TokenCipher::derive(&secrets).unwrap()
    }

    const NEW: &str = "new-secret-0123456789abcdef0123456789abcdef";
    const OLD: &str = "old-secret-0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_stored_form() {
        let c = cipher(&[NEW]);
        let token = SecretString::new("gho_provider_access_token");
        let stored = c
            .encrypt(&token, "github", "42", TokenField::AccessToken, &mut rng())
            .unwrap();
        assert!(stored.expose().starts_with(ENCRYPTED_PREFIX));
        assert!(!stored.expose().contains("gho_provider_access_token"));
        let parts: Vec<&str> = stored.expose().splitn(4, ':').collect();
        assert_eq!(parts[2].len(), 8, "kid: {stored:?}");
        assert_eq!(
            c.decrypt(&stored, "github", "42", TokenField::AccessToken)
                .unwrap(),
            token
        );
    }

    #[test]
    fn plain_values_read_as_they_are() {
        let c = cipher(&[NEW]);
        let plain = SecretString::new("v3-stored-token");
        assert_eq!(
            c.decrypt(&plain, "github", "42", TokenField::RefreshToken)
                .unwrap(),
            plain
        );
    }

    #[test]
    fn rotation_decrypts_with_any_secret_and_encrypts_with_the_first() {
        let old = cipher(&[OLD]);
        let token = SecretString::new("refresh-me");
        let by_old = old
            .encrypt(&token, "google", "7", TokenField::RefreshToken, &mut rng())
            .unwrap();
        let rotated = cipher(&[NEW, OLD]);
        assert_eq!(
            rotated
                .decrypt(&by_old, "google", "7", TokenField::RefreshToken)
                .unwrap(),
            token
        );
        let by_new = rotated
            .encrypt(&token, "google", "7", TokenField::RefreshToken, &mut rng())
            .unwrap();
        assert_eq!(
            cipher(&[NEW])
                .decrypt(&by_new, "google", "7", TokenField::RefreshToken)
                .unwrap(),
            token
        );
        assert!(matches!(
            cipher(&[NEW]).decrypt(&by_old, "google", "7", TokenField::RefreshToken),
            Err(TokenCipherError::UnknownKey(_))
        ));
    }

    #[test]
    fn a_ciphertext_moved_to_another_account_or_field_does_not_decrypt() {
        let c = cipher(&[NEW]);
        let stored = c
            .encrypt(
                &SecretString::new("t"),
                "github",
                "42",
                TokenField::AccessToken,
                &mut rng(),
            )
            .unwrap();
        for (p, a, f) in [
            ("github", "43", TokenField::AccessToken),
            ("gitlab", "42", TokenField::AccessToken),
            ("github", "42", TokenField::RefreshToken),
        ] {
            assert_eq!(c.decrypt(&stored, p, a, f), Err(TokenCipherError::Invalid));
        }
        let mut tampered = stored.expose().to_owned();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(c
            .decrypt(
                &SecretString::new(tampered),
                "github",
                "42",
                TokenField::AccessToken
            )
            .is_err());
    }

    #[test]
    fn errors_and_debug_name_no_secret() {
        let c = cipher(&[NEW]);
        assert_eq!(format!("{c:?}"), "TokenCipher([1 keys redacted])");
        let err = c
            .decrypt(
                &SecretString::new("enc:v1:nokey:abc"),
                "github",
                "42",
                TokenField::AccessToken,
            )
            .unwrap_err();
        assert!(!err.to_string().contains(NEW));
    }
}
