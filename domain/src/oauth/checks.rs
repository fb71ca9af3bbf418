//! The OAuth check cookies: `state`, the PKCE verifier, the OpenID `nonce` and the OAuth 1.0a
//! request-token secret. Each is sealed (JWE `dir`/A256GCM) with a key derived for its
//! purpose alone, so no check ever opens as a session or as another check (checklist #10),
//! and carries the provider id, client id and redirect URI it was made for (checklist #13)
//! and an expiry 15 minutes out. The callback clears every check cookie it reads, whatever
//! the outcome, so a value is usable once.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cookies::{set_cookie, CookiePolicy, Lifetime};
use crate::jwt::{jwe, JwtKeys};
use crate::secret::{constant_time_eq, PkceVerifier, SecretString};

/// How long a sign-in may take at the provider.
pub const CHECK_MAX_AGE_SECONDS: i64 = 15 * 60;

/// What a check cookie is for; each has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The OAuth 2 `state` parameter.
    State,
    /// The PKCE code verifier.
    Pkce,
    /// The OpenID `nonce`.
    Nonce,
    /// The OAuth 1.0a request-token secret.
    TokenSecret,
}

impl Purpose {
    fn salt(self) -> &'static str {
        match self {
            Purpose::State => "oauth-state",
            Purpose::Pkce => "oauth-pkce",
            Purpose::Nonce => "oauth-nonce",
            Purpose::TokenSecret => "oauth1-token-secret",
        }
    }
}

/// Which sign-in a check belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The provider the sign-in went to.
    #[serde(rename = "p")]
    pub provider_id: String,
    /// The client id it used there.
    #[serde(rename = "c")]
    pub client_id: String,
    /// The callback URL it gave.
    #[serde(rename = "r")]
    pub redirect_uri: String,
    /// A hash of the session the sign-in started from (none: not signed in). Sealed, and
    /// not compared by [`open`]: the callback reads it to link only into that session.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// An opened check: its value and the session its sign-in started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The value sealed in the cookie (a state, verifier, nonce or token secret).
    pub value: SecretString,
    /// The sign-in's [`Binding::session`].
    pub session: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(flatten)]
    binding: Binding,
    #[serde(rename = "v")]
    value: SecretString,
    exp: i64,
}

/// Why a check failed. Every variant ends the sign-in with `OAuthCallback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The request carries no such cookie.
    #[error("{0:?} cookie missing")]
    Missing(Purpose),
    /// The cookie does not decrypt under any secret, or does not parse.
    #[error("{0:?} cookie does not open")]
    Unreadable(Purpose),
    /// The cookie is older than [`CHECK_MAX_AGE_SECONDS`].
    #[error("{0:?} cookie expired")]
    Expired(Purpose),
    /// The cookie was sealed for another provider, client or callback URL.
    #[error("{0:?} cookie was made for another provider or client")]
    OtherSignIn(Purpose),
    /// The value the callback brought back (its `state`, the ID token's `nonce`) is not
    /// the cookie's.
    #[error("{0:?} does not match")]
    Mismatch(Purpose),
}

/// Seals `value` for `purpose` and this sign-in; returns the cookie value.
pub fn seal(
    secrets: &[SecretString],
    purpose: Purpose,
    binding: &Binding,
    value: &str,
    now: OffsetDateTime,
    rng: &mut dyn rand_core::RngCore,
) -> Result<String, crate::jwt::JwtError> {
    let first = secrets.first().ok_or(crate::jwt::JwtError::NoSecret)?;
    let key = JwtKeys::purpose_key(first, purpose.salt(), 32)?;
    let sealed = Sealed {
        binding: binding.clone(),
        value: SecretString::new(value),
        exp: now.unix_timestamp() + CHECK_MAX_AGE_SECONDS,
    };
    let plaintext =
        serde_json::to_vec(&sealed).map_err(|_| crate::jwt::JwtError::InvalidSettings("seal"))?;
    jwe::seal_dir(&key, &plaintext, rng)
}

/// Opens a check cookie made for `purpose` and exactly this sign-in.
pub fn open(
    secrets: &[SecretString],
    purpose: Purpose,
    binding: &Binding,
    cookie: Option<&str>,
    now: OffsetDateTime,
) -> Result<Opened, CheckError> {
    let cookie = cookie
        .filter(|c| !c.is_empty())
        .ok_or(CheckError::Missing(purpose))?;
    let keys = JwtKeys::purpose_keys(secrets, purpose.salt(), 32)
        .map_err(|_| CheckError::Unreadable(purpose))?;
    let plaintext = jwe::open_dir(keys.iter().map(Vec::as_slice), cookie)
        .map_err(|_| CheckError::Unreadable(purpose))?;
    let sealed: Sealed =
        serde_json::from_slice(&plaintext).map_err(|_| CheckError::Unreadable(purpose))?;
    if sealed.exp <= now.unix_timestamp() {
        return Err(CheckError::Expired(purpose));
    }
    let same = |a: &str, b: &str| constant_time_eq(a.as_bytes(), b.as_bytes());
    if !(same(&sealed.binding.provider_id, &binding.provider_id)
        && same(&sealed.binding.client_id, &binding.client_id)
        && same(&sealed.binding.redirect_uri, &binding.redirect_uri))
    {
        return Err(CheckError::OtherSignIn(purpose));
    }
    Ok(Opened {
        value: sealed.value,
        session: sealed.binding.session,
    })
}

/// Opens a check and compares its value with what came back from the provider; returns the
/// session the sign-in started from.
pub fn verify(
    secrets: &[SecretString],
    purpose: Purpose,
    binding: &Binding,
    cookie: Option<&str>,
    received: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<String>, CheckError> {
    let opened = open(secrets, purpose, binding, cookie, now)?;
    match received {
        Some(received) if opened.value.ct_eq(received) => Ok(opened.session),
        _ => Err(CheckError::Mismatch(purpose)),
    }
}

/// The `Set-Cookie` line of a fresh check cookie.
pub fn set(policy: &CookiePolicy, sealed: &str, now: OffsetDateTime) -> String {
    set_cookie(
        policy,
        sealed,
        Lifetime::Until(now + time::Duration::seconds(CHECK_MAX_AGE_SECONDS)),
    )
}

/// The `Set-Cookie` line that deletes a check cookie.
pub fn clear(policy: &CookiePolicy, now: OffsetDateTime) -> String {
    set_cookie(policy, "", Lifetime::Delete { now })
}

/// 32 random bytes, base64url: a state, nonce or PKCE verifier (43 characters, within
/// RFC 7636's 43–128 and its unreserved alphabet).
pub fn random_value(rng: &mut dyn rand_core::CryptoRngCore) -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7636 S256: `base64url(sha256(verifier))`.
pub fn pkce_challenge(verifier: &PkceVerifier) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(verifier.expose().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

    fn secrets() -> Vec<SecretString> {
        vec![SecretString::new("a-secret-of-at-least-32-bytes-long!!")]
    }

    fn binding(provider: &str) -> Binding {
        Binding {
            provider_id: provider.into(),
            client_id: "client".into(),
            redirect_uri: "https://app.example/api/auth/callback/github".into(),
            session: None,
        }
    }

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(7)
    }

    #[test]
    fn a_check_opens_only_for_its_purpose_sign_in_and_lifetime() {
        let s = secrets();
        let sealed = seal(
            &s,
            Purpose::State,
            &binding("github"),
            "xyz",
            NOW,
            &mut rng(),
        )
        .unwrap();
        let ok = verify(
            &s,
            Purpose::State,
            &binding("github"),
            Some(&sealed),
            Some("xyz"),
            NOW,
        );
        assert_eq!(ok, Ok(None));
        let err = |purpose, b: &Binding, cookie: Option<&str>, got: Option<&str>, at| {
            verify(&s, purpose, b, cookie, got, at).unwrap_err()
        };
        let gh = binding("github");
        assert_eq!(
            err(Purpose::State, &gh, None, Some("xyz"), NOW),
            CheckError::Missing(Purpose::State)
        );
        assert_eq!(
            err(Purpose::State, &gh, Some(&sealed), Some("abc"), NOW),
            CheckError::Mismatch(Purpose::State)
        );
        assert_eq!(
            err(Purpose::State, &gh, Some(&sealed), None, NOW),
            CheckError::Mismatch(Purpose::State)
        );
        assert_eq!(
            err(Purpose::Nonce, &gh, Some(&sealed), Some("xyz"), NOW),
            CheckError::Unreadable(Purpose::Nonce)
        );
        assert_eq!(
            err(
                Purpose::State,
                &binding("google"),
                Some(&sealed),
                Some("xyz"),
                NOW
            ),
            CheckError::OtherSignIn(Purpose::State)
        );
        let later = NOW + time::Duration::seconds(CHECK_MAX_AGE_SECONDS);
        assert_eq!(
            err(Purpose::State, &gh, Some(&sealed), Some("xyz"), later),
            CheckError::Expired(Purpose::State)
        );
    }

    #[test]
    fn a_check_opens_only_for_the_client_and_redirect_uri_that_sealed_it() {
        // Same provider id, another client or redirect URI (two registrations of one
        // provider, or a mix-up through a second site): another sign-in (advisory #13).
        let s = secrets();
        let gh = binding("github");
        let sealed = seal(&s, Purpose::State, &gh, "xyz", NOW, &mut rng()).unwrap();
        let other_client = Binding {
            client_id: "another-client".into(),
            ..binding("github")
        };
        let other_redirect = Binding {
            redirect_uri: "https://evil.example/api/auth/callback/github".into(),
            ..binding("github")
        };
        for other in [&other_client, &other_redirect] {
            assert_eq!(
                verify(&s, Purpose::State, other, Some(&sealed), Some("xyz"), NOW),
                Err(CheckError::OtherSignIn(Purpose::State)),
                "{other:?}"
            );
        }
        assert_eq!(
            verify(&s, Purpose::State, &gh, Some(&sealed), Some("xyz"), NOW),
            Ok(None)
        );
    }

    #[test]
    fn check_values_carry_256_random_bits() {
        // 32 bytes from the RNG, base64url: 43 characters, never repeated.
        let mut rng = rng();
        let values: std::collections::HashSet<String> =
            (0..1000).map(|_| random_value(&mut rng)).collect();
        assert_eq!(values.len(), 1000);
        for value in &values {
            let bytes =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, value)
                    .unwrap();
            assert_eq!(bytes.len(), 32, "{value}");
        }
    }

    #[test]
    fn a_check_carries_the_session_its_sign_in_started_from() {
        let s = secrets();
        let mut started = binding("github");
        started.session = Some("hash-of-the-session".into());
        let sealed = seal(&s, Purpose::State, &started, "xyz", NOW, &mut rng()).unwrap();
        // The callback's own binding does not know the session: it is read, not compared.
        let got = verify(
            &s,
            Purpose::State,
            &binding("github"),
            Some(&sealed),
            Some("xyz"),
            NOW,
        );
        assert_eq!(got, Ok(Some("hash-of-the-session".to_owned())));
    }

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge(&PkceVerifier::new(
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
            )),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
