//! The engine's configuration, validated once at start-up.

use std::sync::Arc;

use crate::cookies::CookieTable;
use crate::jwt::{JwtKeys, JwtSettings, SessionCodec};
use crate::provider::Provider;
use crate::redirect::RedirectPolicy;
use crate::secret::SecretString;
use crate::site::SiteUrl;

/// Shortest secret accepted: 32 bytes, as a 256-bit key needs.
pub const MIN_SECRET_BYTES: usize = 32;
/// Entropy a secret must carry, as [`crate::entropy::estimate_bits`] estimates it: 32
/// bytes of one repeated character, a word padded out or a short pattern repeated fall
/// far below it; `openssl rand -base64 32` scores about 290.
pub const MIN_SECRET_BITS: f64 = 128.0;
/// v3's default session and JWT lifetime: 30 days.
pub const DEFAULT_MAX_AGE: i64 = 30 * 24 * 60 * 60;

/// How long after signing in an OAuth sign-in may still link an account: 10 minutes.
pub const DEFAULT_LINK_MAX_AUTH_AGE: i64 = 10 * 60;

mod builder;
mod settings;
#[cfg(test)]
mod tests;

pub use builder::*;
pub use settings::*;

/// Everything the flows need to know, validated.
#[derive(Clone)]
pub struct Config {
    /// The site's public base URL (`NEXTAUTH_URL`).
    pub site: SiteUrl,
    /// The first signs; all verify (rotation).
    pub secrets: Vec<SecretString>,
    /// Session strategy and lifetimes.
    pub session: SessionSettings,
    /// Session-token lifetime and encryption.
    pub jwt: JwtSettings,
    /// JWT sessions keep the provider's access and refresh token (encrypted) and renew the
    /// access token on session read (v3's "refresh token rotation" recipe, built in).
    pub provider_tokens_in_jwt: bool,
    /// Provider access and refresh tokens are stored encrypted (`token_cipher`). Stored
    /// tokens decrypt whatever this says, so turning it off later loses nothing.
    pub encrypt_provider_tokens: bool,
    /// The provider-token keys of every secret (the first encrypts).
    pub token_cipher: Arc<crate::token_cipher::TokenCipher>,
    /// The keys that sign and encrypt session tokens, derived from the secrets.
    pub jwt_keys: Arc<JwtKeys>,
    /// Encodes and decodes session tokens (v3's `jwt.encode`/`jwt.decode`; default [`V3Codec`](crate::jwt::V3Codec)).
    pub codec: Arc<dyn SessionCodec>,
    /// Every cookie's name and attributes.
    pub cookies: CookieTable,
    /// The sign-in providers, in the order the sign-in page lists them.
    pub providers: Vec<Provider>,
    /// Custom pages the built-in GET routes redirect to.
    pub pages: Pages,
    /// Look of the built-in pages.
    pub theme: Theme,
    /// Name, logo and accent colour of the built-in pages.
    pub branding: Branding,
    /// Where a `callbackUrl` may lead (default: the site's origin only).
    pub redirect: Arc<dyn RedirectPolicy>,
    /// A rule e-mail addresses must pass, after canonicalisation; `None`: any valid address.
    pub address_rule: Option<Arc<dyn AddressRule>>,
    /// Makes e-mail sign-in tokens; `None`: 256 bits from the request's CSPRNG.
    pub token_generator: Option<Arc<dyn TokenGenerator>>,
    /// Which user callbacks are registered.
    pub hooks: HookSet,
    /// Where to go after sign-in when neither the request nor its cookie names a callback
    /// URL; `None`: the site's base URL.
    pub default_callback_url: Option<String>,
    /// Whether a store is attached (e-mail sign-in and database sessions need one).
    pub store: bool,
    /// JWT sign-out revokes the token's `jti` in the store until the token expires, and
    /// every read asks the store (`jwt.revocable`; needs a store).
    pub jwt_revocable: bool,
    /// Rate limits on magic links and password checks.
    pub throttle: ThrottleSettings,
    /// Seconds after signing in during which an OAuth sign-in may link a new account to the
    /// signed-in user (ASVS 3.7.1); later, the user signs in again first.
    pub link_max_auth_age: i64,
    /// Reverse proxies whose forwarding header names the client (see [`crate::client_ip`]).
    pub trusted_proxies: Vec<crate::client_ip::IpCidr>,
    /// The header those proxies write.
    pub forwarded_header: crate::client_ip::ForwardedHeader,
    /// Secrets (app and `jwt.secret`) shorter than [`MIN_SECRET_BYTES`] or estimated below
    /// [`MIN_SECRET_BITS`], let through by `allow_short_secret`: the embedding warns.
    pub weak_secrets: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("site", &self.site)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("session", &self.session)
            .field("jwt", &self.jwt)
            .field("cookies", &self.cookies)
            .field("providers", &self.providers)
            .field("pages", &self.pages)
            .field("theme", &self.theme)
            .field("branding", &self.branding)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A builder with nothing set.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The provider with this id, if configured.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The secret that signs (CSRF hashes, e-mail token hashes).
    pub fn signing_secret(&self) -> &SecretString {
        // `build` refuses an empty list, so there is always a first.
        &self.secrets[0]
    }
}

/// Why a configuration cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No app secret was given.
    #[error("no secret: set NEXTAUTH_SECRET (or `secret` in the config file) to at least {MIN_SECRET_BYTES} random bytes, e.g. `openssl rand -base64 32`")]
    NoSecret,
    /// An app secret under [`MIN_SECRET_BYTES`].
    #[error("secret number {index} is {len} bytes; at least {MIN_SECRET_BYTES} are needed (e.g. `openssl rand -base64 32`)")]
    WeakSecret {
        /// Which secret, from 0.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// The site URL cannot be used.
    #[error(transparent)]
    SiteUrl(#[from] crate::site::SiteUrlError),
    /// A cookie setting cannot be used.
    #[error("cookies: {0}")]
    Cookie(String),
    /// A provider (by id) is misconfigured, and why.
    #[error("provider {0:?}: {1}")]
    Provider(String, String),
    /// A lifetime or limit (named) is zero or negative.
    #[error("{0} must be positive")]
    NonPositive(&'static str),
    /// A feature (named) that needs a store, with none attached.
    #[error("{0} needs a store: configure a database, or the embedded sled store")]
    NeedsStore(&'static str),
    /// Provider tokens in the JWT were asked for without JWT encryption.
    #[error("provider tokens in the JWT need JWT encryption: set jwt encryption = true (the refresh token must not be readable in the cookie)")]
    ProviderTokensNeedEncryption,
    /// The session-token keys cannot be derived.
    #[error("jwt keys: {0}")]
    Keys(String),
    /// An explicit JWT key (v3's `jwt.signingKey` / `jwt.encryptionKey`) that cannot be used;
    /// `key` is the setting's name, the message never quotes the key.
    #[error("{key}: {why}")]
    Jwk {
        /// The setting, e.g. `jwt.signing_key`.
        key: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A `jwt.secret` under [`MIN_SECRET_BYTES`].
    #[error("jwt.secret number {index} is {len} bytes; at least {MIN_SECRET_BYTES} are needed (or allow_short_secret for an existing v3 secret)")]
    WeakJwtSecret {
        /// Which secret, from 0.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// Long enough but guessable (a repeated character, a padded word, a repeated
    /// pattern). `key` is `secret` or `jwt.secret`; the message never quotes the secret.
    #[error("{key} number {index} is easy to guess: estimated at {bits} bits, at least {MIN_SECRET_BITS} are needed (a repeated character, pattern or padded word is not random); use `openssl rand -base64 32` (or allow_short_secret for an existing v3 secret)")]
    GuessableSecret {
        /// The setting: `secret` or `jwt.secret`.
        key: &'static str,
        /// Which of the setting's secrets, from 0.
        index: usize,
        /// The estimated entropy.
        bits: u32,
    },
    /// The branding cannot be used (bad logo URL or colour).
    #[error("branding: {0}")]
    Branding(String),
    /// The token generator's output looks guessable.
    #[error("token_generator: {0}")]
    WeakTokenGenerator(String),
}
