//! NextAuth.js v3 session tokens (spec §5): HKDF key derivation, HS512 JWS, optional
//! `dir`/`A256GCM` JWE, and the hardened decode (security checklist #10, #14, §2 zip note,
//! ASVS 3.5.3).
//!
//! Pure: the clock (`now_unix`) and randomness (`rng`) are arguments. Errors carry only fixed
//! labels, never token or key material.

pub mod jwe;
pub mod jwk;
pub mod jws;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::secret::SecretString;

/// A JWT claims set; member order is preserved (serde_json `preserve_order`).
pub type Claims = serde_json::Map<String, Value>;

/// Longest token (JWS or JWE compact form) `decode` looks at, and `encode` produces.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Longest base64url protected header accepted.
const MAX_HEADER_B64_LEN: usize = 1024;

/// HKDF `info` of v3's derived signing key (spec §5.1).
pub const SIGNING_KEY_INFO: &str = "NextAuth.js Generated Signing Key";
/// HKDF `info` of v3's derived encryption key (spec §5.1).
pub const ENCRYPTION_KEY_INFO: &str = "NextAuth.js Generated Encryption Key";
/// Length of the HS512 signing key.
pub const SIGNING_KEY_LEN: usize = 64;
/// Length of the A256GCM encryption key.
pub const ENCRYPTION_KEY_LEN: usize = 32;

/// Why a token could not be produced or accepted. Only fixed labels: no token, claim or key
/// material ever ends up in a message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not a well-formed compact JWS/JWE, bad base64url, bad JSON, or claims not an object.
    #[error("malformed token")]
    Malformed,
    /// The token, or its inflated plaintext, is over the size cap.
    #[error("token too large")]
    TooLarge,
    /// A protected-header member that is not allowed, or not allowed with that value.
    #[error("unsupported token header ({0})")]
    UnsupportedHeader(&'static str),
    /// No configured key produced a matching HS512 signature.
    #[error("invalid token signature")]
    BadSignature,
    /// No configured key decrypted the JWE.
    #[error("token decryption failed")]
    Decrypt,
    /// `exp <= now`.
    #[error("token expired")]
    Expired,
    /// `nbf > now`, or `iat > now`.
    #[error("token not yet valid")]
    NotYetValid,
    /// `now - iat > max_age`.
    #[error("token too old")]
    TooOld,
    /// No `iat` claim.
    #[error("token has no iat claim")]
    MissingIat,
    /// A registered time claim that is not a JSON number.
    #[error("invalid {0} claim")]
    InvalidClaim(&'static str),
    /// No secret configured, or an empty secret.
    #[error("no secret configured")]
    NoSecret,
    /// Settings that cannot produce a valid token (e.g. a negative `max_age`).
    #[error("invalid token settings ({0})")]
    InvalidSettings(&'static str),
    /// A key of the wrong length was given to a low-level primitive.
    #[error("invalid key length")]
    InvalidKeyLength,
    /// HKDF output length out of range (more than 255 × 32 bytes).
    #[error("key derivation failed")]
    KeyDerivation,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// A cryptographic primitive failed unexpectedly.
    #[error("cryptographic operation failed")]
    Crypto,
}

/// HKDF-SHA256 (RFC 5869). An empty `salt` is the same as v3's "no salt" (spec §5.1).
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], len: usize) -> Result<Vec<u8>, JwtError> {
    // RFC 5869 §2.3: L <= 255 * HashLen; checked before allocating.
    if len > 255 * 32 {
        return Err(JwtError::KeyDerivation);
    }
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm);
    let mut okm = vec![0u8; len];
    hk.expand(info, &mut okm)
        .map_err(|_| JwtError::KeyDerivation)?;
    Ok(okm)
}

/// The signing and encryption key derived from one secret (or given explicitly, v3's
/// `jwt.signingKey` / `jwt.encryptionKey`). The signing key is at least 64 bytes.
#[derive(Clone)]
struct KeyPair {
    /// The HS512 key, keyed once here and cloned per MAC.
    mac: jws::Hs512Key,
    /// The raw signing key bytes (the tests compare them with the vectors).
    #[cfg(test)]
    signing: Vec<u8>,
    encryption: [u8; ENCRYPTION_KEY_LEN],
}

impl KeyPair {
    fn derive(secret: &SecretString) -> Result<Self, JwtError> {
        if secret.is_empty() {
            return Err(JwtError::NoSecret);
        }
        let ikm = secret.expose().as_bytes();
        let signing = hkdf_sha256(ikm, b"", SIGNING_KEY_INFO.as_bytes(), SIGNING_KEY_LEN)?;
        let encryption = hkdf_sha256(ikm, b"", ENCRYPTION_KEY_INFO.as_bytes(), ENCRYPTION_KEY_LEN)?
            .try_into()
            .map_err(|_| JwtError::KeyDerivation)?;
        Ok(Self {
            mac: jws::Hs512Key::new(&signing)?,
            #[cfg(test)]
            signing,
            encryption,
        })
    }
}

/// Keys derived from one or more secrets: the first signs and encrypts, all of them verify
/// and decrypt (secret rotation: put the new secret first, keep the old ones after it).
#[derive(Clone)]
pub struct JwtKeys {
    current: KeyPair,
    previous: Vec<KeyPair>,
}

impl JwtKeys {
    /// Derives the v3 signing key (64 bytes, info `NextAuth.js Generated Signing Key`) and
    /// encryption key (32 bytes, info `NextAuth.js Generated Encryption Key`) of each secret.
    /// Fails with [`JwtError::NoSecret`] on an empty list or an empty secret.
    pub fn derive(secrets: &[SecretString]) -> Result<Self, JwtError> {
        let (first, rest) = secrets.split_first().ok_or(JwtError::NoSecret)?;
        Ok(Self {
            current: KeyPair::derive(first)?,
            previous: rest.iter().map(KeyPair::derive).collect::<Result<_, _>>()?,
        })
    }

    /// Replaces the current (first) secret's derived keys with v3's explicit ones, where
    /// given (`jwt.signingKey`, `jwt.encryptionKey`, spec §5.1; parse them with
    /// [`jwk::signing_key_from_jwk`] and [`jwk::encryption_key_from_jwk`]). As in v3, an
    /// explicit key is the only one for that secret: the derived one no longer verifies.
    /// Keys of older secrets (rotation) still do.
    pub fn with_explicit_keys(
        mut self,
        signing: Option<Vec<u8>>,
        encryption: Option<[u8; ENCRYPTION_KEY_LEN]>,
    ) -> Result<Self, JwtError> {
        if let Some(signing) = signing {
            self.current.mac = jws::Hs512Key::new(&signing)?;
            #[cfg(test)]
            {
                self.current.signing = signing;
            }
        }
        if let Some(encryption) = encryption {
            self.current.encryption = encryption;
        }
        Ok(self)
    }

    /// A key bound to one purpose: HKDF-SHA256 with ikm = the secret, salt = `purpose`, info =
    /// `Portcullis <purpose> key`. Keys for different purposes (and v3's session keys, which
    /// use an empty salt and other infos) are unrelated, so a value sealed for one purpose
    /// never opens as another (security checklist #10).
    pub fn purpose_key(
        secret: &SecretString,
        purpose: &str,
        len: usize,
    ) -> Result<Vec<u8>, JwtError> {
        if secret.is_empty() {
            return Err(JwtError::NoSecret);
        }
        if purpose.is_empty() {
            return Err(JwtError::InvalidSettings("purpose"));
        }
        let info = format!("Portcullis {purpose} key");
        hkdf_sha256(
            secret.expose().as_bytes(),
            purpose.as_bytes(),
            info.as_bytes(),
            len,
        )
    }

    /// [`JwtKeys::purpose_key`] for every secret, first one first (for decoding across a
    /// rotation).
    pub fn purpose_keys(
        secrets: &[SecretString],
        purpose: &str,
        len: usize,
    ) -> Result<Vec<Vec<u8>>, JwtError> {
        if secrets.is_empty() {
            return Err(JwtError::NoSecret);
        }
        secrets
            .iter()
            .map(|secret| Self::purpose_key(secret, purpose, len))
            .collect()
    }

    /// How many secrets these keys were derived from.
    pub fn secret_count(&self) -> usize {
        1 + self.previous.len()
    }

    fn all(&self) -> impl Iterator<Item = &KeyPair> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    fn signing_keys(&self) -> impl Iterator<Item = &jws::Hs512Key> {
        self.all().map(|pair| &pair.mac)
    }

    fn encryption_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.all().map(|pair| &pair.encryption[..])
    }
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("secrets", &self.secret_count())
            .field("keys", &"[redacted]")
            .finish()
    }
}

/// `jwt.maxAge` and `jwt.encryption` (spec §5.2, §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtSettings {
    /// Token lifetime in seconds: `exp = iat + max_age` and the `maxTokenAge` check.
    pub max_age: i64,
    /// Wrap the JWS in a `dir`/`A256GCM` JWE.
    pub encryption: bool,
}

impl Default for JwtSettings {
    /// v3 defaults: 30 days, not encrypted.
    fn default() -> Self {
        Self {
            max_age: 30 * 24 * 60 * 60,
            encryption: false,
        }
    }
}

/// v3 `encode` (spec §5.2): `iat = now`, `exp = now + max_age` (overwritten in place when
/// present, else appended, keeping member order), HS512 JWS with header exactly
/// `{"alg":"HS512"}` signed with the first key; with `encryption`, a compact JWE
/// `{"alg":"dir","enc":"A256GCM"}` (not compressed) with a 12-byte IV from `rng`.
pub fn encode(
    keys: &JwtKeys,
    claims: &Claims,
    settings: &JwtSettings,
    now_unix: i64,
    rng: &mut dyn rand_core::RngCore,
) -> Result<String, JwtError> {
    if settings.max_age < 0 {
        return Err(JwtError::InvalidSettings("max_age"));
    }
    let exp = now_unix
        .checked_add(settings.max_age)
        .ok_or(JwtError::InvalidSettings("max_age"))?;
    let stamped = Stamped {
        claims,
        iat: now_unix,
        exp,
    };
    let payload = serde_json::to_vec(&stamped).map_err(|_| JwtError::Malformed)?;
    if payload.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLarge);
    }
    let token = jws::sign_hs512_keyed(&keys.current.mac, &payload);
    let token = if settings.encryption {
        jwe::seal_dir(&keys.current.encryption, token.as_bytes(), rng)?
    } else {
        token
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLarge);
    }
    Ok(token)
}

/// The claims with `iat` and `exp` set, serialised as the map would be after inserting them
/// (a present claim keeps its place, an absent one is appended, `iat` before `exp`), without
/// copying the map: the copy was 2.6 % of a session read (perf, docs/performance.md).
struct Stamped<'a> {
    claims: &'a Claims,
    iat: i64,
    exp: i64,
}

impl serde::Serialize for Stamped<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let has_iat = self.claims.contains_key("iat");
        let has_exp = self.claims.contains_key("exp");
        let len = self.claims.len() + usize::from(!has_iat) + usize::from(!has_exp);
        let mut map = serializer.serialize_map(Some(len))?;
        for (name, value) in self.claims {
            match name.as_str() {
                "iat" => map.serialize_entry(name, &self.iat)?,
                "exp" => map.serialize_entry(name, &self.exp)?,
                _ => map.serialize_entry(name, value)?,
            }
        }
        if !has_iat {
            map.serialize_entry("iat", &self.iat)?;
        }
        if !has_exp {
            map.serialize_entry("exp", &self.exp)?;
        }
        map.end()
    }
}

/// v3 `decode` (spec §5.3), hardened. With `encryption`, the token must be a `dir`/`A256GCM`
/// JWE (optionally `zip: DEF`, inflated up to [`jwe::MAX_INFLATED_LEN`]); without, an HS512
/// JWS. Every key is tried (rotation). Then: `iat` required and numeric, `exp` (if present)
/// numeric and `> now`, `nbf` (if present) `<= now`, `0 <= now - iat <= max_age`; no clock
/// tolerance.
pub fn decode(
    keys: &JwtKeys,
    token: &str,
    settings: &JwtSettings,
    now_unix: i64,
) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLarge);
    }
    if token.is_empty() {
        return Err(JwtError::Malformed);
    }
    let payload = if settings.encryption {
        let inner = jwe::open_dir(keys.encryption_keys(), token)?;
        let inner = String::from_utf8(inner).map_err(|_| JwtError::Malformed)?;
        jws::verify_hs512(keys.signing_keys(), &inner)?
    } else {
        jws::verify_hs512(keys.signing_keys(), token)?
    };
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)?;
    check_times(&claims, settings.max_age, now_unix)?;
    Ok(claims)
}

/// A registered time claim: absent, or a JSON number.
fn numeric_claim(claims: &Claims, name: &'static str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(JwtError::InvalidClaim(name)),
        Some(_) => Err(JwtError::InvalidClaim(name)),
    }
}

/// jose v1 `JWT.verify` with v3's defaults (`maxTokenAge`, no tolerance). JSON numbers may be
/// fractional, as in JavaScript, so comparisons are made in `f64` (exact for any realistic
/// Unix time).
fn check_times(claims: &Claims, max_age: i64, now_unix: i64) -> Result<(), JwtError> {
    let iat = numeric_claim(claims, "iat")?.ok_or(JwtError::MissingIat)?;
    let exp = numeric_claim(claims, "exp")?;
    let nbf = numeric_claim(claims, "nbf")?;
    let (now, max_age) = (now_unix as f64, max_age as f64);
    if iat > now {
        return Err(JwtError::NotYetValid);
    }
    if nbf.is_some_and(|nbf| nbf > now) {
        return Err(JwtError::NotYetValid);
    }
    if exp.is_some_and(|exp| exp <= now) {
        return Err(JwtError::Expired);
    }
    let age = now - iat;
    if !(0.0..=max_age).contains(&age) {
        return Err(JwtError::TooOld);
    }
    Ok(())
}

/// Pluggable encode/decode for session tokens (claims C18, spec §5.7). The built-in is
/// [`V3Codec`].
pub trait SessionCodec: Send + Sync {
    /// The session token for `claims`.
    fn encode(&self, claims: &Claims, ctx: &mut EncodeContext<'_>) -> Result<String, JwtError>;
    /// The claims of `token`, once verified (and decrypted) and checked against `ctx`'s time.
    fn decode(&self, token: &str, ctx: &DecodeContext<'_>) -> Result<Claims, JwtError>;
}

/// What a [`SessionCodec`] gets to encode with.
pub struct EncodeContext<'a> {
    /// The keys derived from the secrets (the current key signs).
    pub keys: &'a JwtKeys,
    /// Token lifetime and whether to encrypt.
    pub settings: &'a JwtSettings,
    /// The request's time, Unix seconds.
    pub now_unix: i64,
    /// The request's random source (the JWE's IV).
    pub rng: &'a mut dyn rand_core::RngCore,
}

/// What a [`SessionCodec`] gets to decode with.
pub struct DecodeContext<'a> {
    /// The keys derived from the secrets (any may verify).
    pub keys: &'a JwtKeys,
    /// Token lifetime and whether to expect encryption.
    pub settings: &'a JwtSettings,
    /// The request's time, Unix seconds.
    pub now_unix: i64,
}

/// The built-in codec: [`encode`] and [`decode`].
#[derive(Debug, Default, Clone, Copy)]
pub struct V3Codec;

impl SessionCodec for V3Codec {
    fn encode(&self, claims: &Claims, ctx: &mut EncodeContext<'_>) -> Result<String, JwtError> {
        encode(ctx.keys, claims, ctx.settings, ctx.now_unix, &mut *ctx.rng)
    }

    fn decode(&self, token: &str, ctx: &DecodeContext<'_>) -> Result<Claims, JwtError> {
        decode(ctx.keys, token, ctx.settings, ctx.now_unix)
    }
}

fn b64e(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url (no padding) of `bytes`, appended to `out`.
fn b64e_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Strict base64url into `out`; the number of bytes written. Output that does not fit is
/// [`JwtError::Malformed`] too.
fn b64d_into(text: &str, out: &mut [u8]) -> Result<usize, JwtError> {
    URL_SAFE_NO_PAD
        .decode_slice(text, out)
        .map_err(|_| JwtError::Malformed)
}

/// Strict base64url: no padding, no non-canonical trailing bits.
fn b64d(text: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JwtError::Malformed)
}

/// Decodes a protected header into its members, in order, duplicates kept (the callers
/// allow-list each member; duplicates are rejected here).
fn parse_header(header_b64: &str) -> Result<Vec<(String, Value)>, JwtError> {
    if header_b64.len() > MAX_HEADER_B64_LEN {
        return Err(JwtError::TooLarge);
    }
    let bytes = b64d(header_b64)?;
    let HeaderMembers(members) = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    for (i, (name, _)) in members.iter().enumerate() {
        if members.iter().skip(i + 1).any(|(other, _)| other == name) {
            return Err(JwtError::UnsupportedHeader("duplicate member"));
        }
    }
    Ok(members)
}

/// A JSON object read as a list of members, so duplicate names stay visible (serde_json's
/// `Map` silently keeps the last one).
struct HeaderMembers(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for HeaderMembers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = HeaderMembers;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(HeaderMembers(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A fixed label for a rejected header member (the member name itself is token content and
/// stays out of errors).
fn member_label(name: &str) -> &'static str {
    match name {
        "alg" => "alg",
        "enc" => "enc",
        "zip" => "zip",
        "typ" => "typ",
        "cty" => "cty",
        "kid" => "kid",
        "jku" => "jku",
        "jwk" => "jwk",
        "x5u" => "x5u",
        "x5c" => "x5c",
        "x5t" => "x5t",
        "x5t#S256" => "x5t#S256",
        "crit" => "crit",
        "b64" => "b64",
        "epk" => "epk",
        "p2s" => "p2s",
        "p2c" => "p2c",
        _ => "unknown member",
    }
}

#[cfg(test)]
mod tests;
