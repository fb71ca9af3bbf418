//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
//!
//! Written here rather than taken from the `standardwebhooks` crate (a dev-dependency that
//! the tests check us against) because the engine needs what it lacks: the time comes from
//! the caller (the `Clock` port, so tests can move it), several secrets sign and verify at
//! once (rotation), the comparison is `subtle`'s constant-time one, and `Debug` never shows
//! a key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand_core::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header names of the spec.
pub const HEADER_ID: &str = "webhook-id";
/// The header with the message's Unix time in seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header with the message's signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// How far a signed timestamp may be from now, either way (the spec's five minutes).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

const PREFIX: &str = "whsec_";
const VERSION: &str = "v1";
/// Shortest key accepted: 24 bytes (the spec asks for 24 to 64).
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;

/// One `whsec_…` secret: the prefix and the base64 of 24 to 64 random bytes.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Parses `whsec_<base64>`. The error says what is wrong and never repeats the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(encoded) = text.trim().strip_prefix(PREFIX) else {
            return Err("must start with `whsec_` (a Standard Webhooks secret)".into());
        };
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "the part after `whsec_` is not valid base64".to_owned())?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(format!(
                "decodes to {} bytes; {MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes are needed \
                 (e.g. `echo whsec_$(openssl rand -base64 32)`)",
                key.len()
            ));
        }
        Ok(Self(key))
    }

    /// `v1,<signature>` of one message.
    fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "{VERSION},{}",
            STANDARD.encode(self.mac(id, timestamp, body))
        )
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        // HMAC takes a key of any length; `parse` bounds it anyway.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return Vec::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// The secrets of one endpoint, newest first. Every one signs a request (so the receiver
/// may hold any of them while they rotate), and an answer signed by any one verifies.
#[derive(Debug, Clone)]
pub struct WebhookSecrets(Vec<WebhookSecret>);

/// The three headers of one signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The message id (`webhook-id`).
    pub id: String,
    /// When it was signed, in Unix seconds (`webhook-timestamp`).
    pub timestamp: i64,
    /// Space-separated `v1,<base64>` signatures, one per secret.
    pub signature: String,
}

impl Signed {
    /// As `(name, value)` header pairs.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, self.id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ]
    }
}

/// Why a signed message was refused. Names no secret and no signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required header is absent (its name).
    #[error("the `{0}` header is missing")]
    Missing(&'static str),
    /// The timestamp header is not a number.
    #[error("the `webhook-timestamp` header is not a number of seconds")]
    BadTimestamp,
    /// The timestamp is outside the tolerance.
    #[error("the timestamp is more than {TOLERANCE_SECONDS} s away from now")]
    Stale,
    /// The answer's id is not the request's.
    #[error("the `webhook-id` does not answer this request")]
    WrongId,
    /// No signature verifies with any secret.
    #[error("no signature matches a configured secret")]
    Mismatch,
}

impl WebhookSecrets {
    /// One or more `whsec_…` values; `Err` names the position of a bad one.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Self, String> {
        if texts.is_empty() {
            return Err("no secret given".into());
        }
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                WebhookSecret::parse(text.as_ref())
                    .map_err(|e| format!("secret number {}: {e}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// A fresh message id: `msg_` and 128 random bits, URL-safe base64.
    pub fn new_id(rng: &mut dyn RngCore) -> String {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        format!(
            "msg_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    /// Signs `body` as message `id` sent at `timestamp` (Unix seconds), with every secret.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Signed {
        let signature = self
            .0
            .iter()
            .map(|secret| secret.sign(id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" ");
        Signed {
            id: id.to_owned(),
            timestamp,
            signature,
        }
    }

    /// Checks a message's headers (looked up by `header`, lower-case names) against `body`:
    /// the timestamp within [`TOLERANCE_SECONDS`] of `now`, and a `v1` signature made with
    /// one of the secrets. With `expected_id`, the message must carry that id (an answer
    /// must name the request it answers, so an old answer cannot be replayed).
    pub fn verify(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now: i64,
        expected_id: Option<&str>,
    ) -> Result<(), SignatureError> {
        let id = header(HEADER_ID).ok_or(SignatureError::Missing(HEADER_ID))?;
        let timestamp =
            header(HEADER_TIMESTAMP).ok_or(SignatureError::Missing(HEADER_TIMESTAMP))?;
        let signatures =
            header(HEADER_SIGNATURE).ok_or(SignatureError::Missing(HEADER_SIGNATURE))?;
        let timestamp: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::BadTimestamp)?;
        if (now - timestamp).abs() > TOLERANCE_SECONDS {
            return Err(SignatureError::Stale);
        }
        if expected_id.is_some_and(|expected| expected != id) {
            return Err(SignatureError::WrongId);
        }
        let given: Vec<Vec<u8>> = signatures
            .split(' ')
            .filter_map(|s| s.split_once(','))
            .filter(|(version, _)| *version == VERSION)
            .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
            .collect();
        let matches = self.0.iter().any(|secret| {
            let expected = secret.mac(&id, timestamp, body);
            given
                .iter()
                .any(|candidate| bool::from(candidate.as_slice().ct_eq(&expected)))
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkgLi4u";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn lookup(signed: &Signed) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| {
            signed
                .headers()
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v)
        }
    }

    #[test]
    fn the_reference_implementation_verifies_our_signature() {
        let ours = WebhookSecrets::parse(&[SECRET]).unwrap();
        let body = br#"{"hook":"sign_in"}"#;
        let signed = ours.sign("msg_1", now(), body);
        let mut headers = http::HeaderMap::new();
        for (name, value) in signed.headers() {
            headers.insert(name, value.parse().unwrap());
        }
        let reference = standardwebhooks::Webhook::new(SECRET).unwrap();
        reference.verify(body, &headers).unwrap();
        // and with a wrong body it does not
        assert!(reference.verify(b"{}", &headers).is_err());
    }

    #[test]
    fn we_verify_the_reference_implementations_signature() {
        let reference = standardwebhooks::Webhook::new(SECRET).unwrap();
        let body = br#"{"decision":"allow"}"#;
        let ts = now();
        let signed = Signed {
            id: "msg_2".into(),
            timestamp: ts,
            signature: reference.sign("msg_2", ts, body).unwrap(),
        };
        let ours = WebhookSecrets::parse(&[SECRET]).unwrap();
        assert_eq!(
            ours.verify(&lookup(&signed), body, ts, Some("msg_2")),
            Ok(())
        );
        assert_eq!(
            ours.verify(&lookup(&signed), b"{}", ts, None),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn every_secret_signs_and_any_verifies_while_rotating() {
        let both = WebhookSecrets::parse(&[OTHER, SECRET]).unwrap();
        let signed = both.sign("msg_3", 1_700_000_000, b"x");
        assert_eq!(signed.signature.split(' ').count(), 2);
        for one in [SECRET, OTHER] {
            let receiver = WebhookSecrets::parse(&[one]).unwrap();
            assert_eq!(
                receiver.verify(&lookup(&signed), b"x", 1_700_000_000, None),
                Ok(())
            );
        }
        let stranger =
            WebhookSecrets::parse(&["whsec_c3RyYW5nZXIgc3RyYW5nZXIgc3RyYW5nZXIh"]).unwrap();
        assert_eq!(
            stranger.verify(&lookup(&signed), b"x", 1_700_000_000, None),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_replayed_or_unsigned_messages_are_refused() {
        let secrets = WebhookSecrets::parse(&[SECRET]).unwrap();
        let signed = secrets.sign("msg_4", 1_700_000_000, b"x");
        let late = 1_700_000_000 + TOLERANCE_SECONDS + 1;
        assert_eq!(
            secrets.verify(&lookup(&signed), b"x", late, None),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            secrets.verify(&lookup(&signed), b"x", 1_700_000_000, Some("msg_5")),
            Err(SignatureError::WrongId)
        );
        let none = |_: &str| None;
        assert_eq!(
            secrets.verify(&none, b"x", 1_700_000_000, None),
            Err(SignatureError::Missing(HEADER_ID))
        );
    }

    #[test]
    fn bad_secrets_are_refused_without_echoing_them() {
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!!",
            "whsec_c2hvcnQ=",
        ] {
            let error = WebhookSecrets::parse(&[bad]).unwrap_err();
            assert!(!error.contains(bad.trim_start_matches("whsec_")), "{error}");
        }
        assert!(WebhookSecrets::parse::<&str>(&[]).is_err());
        let shown = format!("{:?}", WebhookSecrets::parse(&[SECRET]).unwrap());
        assert!(!shown.contains("MfKQ"), "{shown}");
    }
}
