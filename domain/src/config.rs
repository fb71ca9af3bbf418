//! The engine's configuration, validated once at start-up.

use std::sync::Arc;

use time::OffsetDateTime;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cookies::{CookieKey, CookiePolicy, CookiePrefix, CookieTable};
use crate::jwt::{JwtKeys, JwtSettings, SessionCodec, V3Codec};
use crate::provider::{Provider, ProviderKind};
use crate::redirect::{RedirectPolicy, SameOrigin};
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

/// Look of the built-in pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Light or dark, following the browser's `prefers-color-scheme` (the default).
    #[default]
    Auto,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

/// The brand on the built-in pages: a name, a logo and an accent colour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// Shown above each page's content, e.g. `Acme`.
    #[serde(default)]
    pub name: Option<String>,
    /// An `https://` URL or a path on the site (`/logo.svg`); its origin is allowed as an
    /// image source in the pages' Content-Security-Policy.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// Buttons and focus rings: `#rgb` or `#rrggbb`. Button text turns white or black,
    /// whichever reads better on it.
    #[serde(default)]
    pub accent_color: Option<String>,
}

impl Branding {
    fn validate(&self) -> Result<(), String> {
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err("name must not be empty (leave it out instead)".into());
        }
        if let Some(logo) = &self.logo_url {
            let same_origin_path = logo.starts_with('/')
                && !logo.starts_with("//")
                && !logo.contains('\\')
                && !logo.chars().any(|c| c.is_control() || c.is_whitespace());
            let https = logo.starts_with("https://")
                && crate::pages::origin_of(logo).is_some_and(|o| o.starts_with("https://"));
            if !same_origin_path && !https {
                return Err(format!(
                    "logo_url {logo:?} must be an https:// URL or a path on the site such as /logo.svg"
                ));
            }
        }
        if let Some(colour) = &self.accent_color {
            if crate::pages::Rgb::parse(colour).is_none() {
                return Err(format!(
                    "accent_color {colour:?} must be #rgb or #rrggbb, e.g. #2563eb"
                ));
            }
        }
        Ok(())
    }
}

/// Custom pages (spec §13.1): when set, the built-in GET route redirects there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pages {
    /// Where `GET /signin` sends the browser, with `callbackUrl` and `error` (v3's
    /// `pages.signIn`); `None`: the built-in page.
    pub sign_in: Option<String>,
    /// Where `GET /signout` sends the browser; `None`: the built-in page.
    pub sign_out: Option<String>,
    /// Where `GET /error` sends the browser, with `error`; `None`: the built-in page.
    pub error: Option<String>,
    /// Where `GET /verify-request` ("check your e-mail") sends the browser; `None`: the
    /// built-in page.
    pub verify_request: Option<String>,
    /// Where a user's first sign-in lands, with `callbackUrl` (v3's `pages.newUser`);
    /// `None`: the callback URL, as for every sign-in.
    pub new_user: Option<String>,
}

/// Which user callbacks the embedding app registered. A callback that is not registered
/// runs its default inline, so it costs nothing on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookSet {
    /// `signIn`: may allow or refuse a sign-in, or name where to send the browser instead.
    pub sign_in: bool,
    /// `jwt`: shapes the JWT claims at sign-in (and on reads, see `jwt_on_read`).
    pub jwt: bool,
    /// `session`: shapes the session JSON `GET /session` returns.
    pub session: bool,
    /// `events`: told of each [`crate::effect::AuthEvent`]; cannot change the response.
    pub events: bool,
    /// `redirect` (v3's `callbacks.redirect`): asked where a `callbackUrl` given on the
    /// request leads. Its answer is still held to the redirect policy (the outer bound).
    pub redirect: bool,
    /// Whether `jwt` also runs on every session read (v3 does; default true). When false
    /// it runs at sign-in only and a read serves the claims the token carries: a hook
    /// behind a network call then costs nothing per read.
    pub jwt_on_read: bool,
}

impl Default for HookSet {
    fn default() -> Self {
        Self {
            sign_in: false,
            jwt: false,
            session: false,
            events: false,
            redirect: false,
            jwt_on_read: true,
        }
    }
}

/// Where sessions live (spec §6.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStrategy {
    /// A signed (optionally encrypted) JWT in the cookie; nothing stored.
    #[default]
    Jwt,
    /// A random token in the cookie, the session in the store (needs a store).
    Database,
}

/// Session strategy and lifetimes (spec §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Whether the session is a JWT in the cookie or a row in the store.
    pub strategy: SessionStrategy,
    /// Seconds a session lives without use: the cookie's `Expires` and the JSON `expires`.
    pub max_age: i64,
    /// Seconds between writes that extend a database session.
    pub update_age: i64,
    /// Seconds a session may last from its sign-in, however often it is used (`None`:
    /// no limit). Sliding renewal never extends a session past it. Default
    /// [`DEFAULT_ABSOLUTE_MAX_AGE`].
    pub absolute_max_age: Option<i64>,
    /// How new database sessions keep their token in the store (default hashed).
    pub token_storage: crate::session_key::SessionTokenStorage,
}

impl SessionSettings {
    /// A session's expiry when it is issued or renewed at `now`: `max_age` from now, but
    /// never past the absolute lifetime counted from `signed_in`.
    pub fn expiry(&self, signed_in: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
        let sliding = now.saturating_add(time::Duration::seconds(self.max_age));
        match self.absolute_max_age {
            Some(limit) => sliding.min(signed_in.saturating_add(time::Duration::seconds(limit))),
            None => sliding,
        }
    }

    /// When a database session signed in: its `created`, or, for a row that does not record
    /// it (written before Portcullis kept it), its last extension, `expires - max_age`.
    pub fn signed_in(&self, session: &crate::model::Session) -> OffsetDateTime {
        session.created.unwrap_or(
            session
                .expires
                .saturating_sub(time::Duration::seconds(self.max_age)),
        )
    }

    /// Whether a session signed in at `signed_in` has outlived its absolute lifetime.
    pub fn outlived(&self, signed_in: OffsetDateTime, now: OffsetDateTime) -> bool {
        self.absolute_max_age
            .is_some_and(|limit| now - signed_in > time::Duration::seconds(limit))
    }
}

/// The default absolute session lifetime: 90 days. With v3's default 30-day `maxAge`, a
/// session slides exactly as in v3 for its first 60 days (the wire a client sees is
/// unchanged), while one kept alive by use, or by a stolen cookie replayed, still ends.
pub const DEFAULT_ABSOLUTE_MAX_AGE: i64 = 90 * 24 * 60 * 60;

/// At most `limit` attempts per `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Attempts allowed within one window.
    pub limit: u32,
    /// The window's length in seconds.
    pub window_seconds: i64,
}

/// Rate limits, applied before any mail is sent or any password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Magic links per address (default 3 a minute).
    pub email_per_address: Limit,
    /// Magic links per client IP (default 20 a minute).
    pub email_per_ip: Limit,
    /// Credentials attempts per username (default 10 in 5 minutes; ASVS 2.2.1 asks for at
    /// most 100 an hour).
    pub credentials_per_identifier: Limit,
    /// Credentials attempts per client IP (default 50 a minute).
    pub credentials_per_ip: Limit,
    /// Magic-link redemptions per client IP (default 30 a minute), so tokens cannot be
    /// guessed at speed.
    #[serde(default = "default_email_callback_per_ip")]
    pub email_callback_per_ip: Limit,
}

fn default_email_callback_per_ip() -> Limit {
    Limit {
        limit: 30,
        window_seconds: 60,
    }
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            email_per_address: Limit {
                limit: 3,
                window_seconds: 60,
            },
            email_per_ip: Limit {
                limit: 20,
                window_seconds: 60,
            },
            credentials_per_identifier: Limit {
                limit: 10,
                window_seconds: 300,
            },
            credentials_per_ip: Limit {
                limit: 50,
                window_seconds: 60,
            },
            email_callback_per_ip: default_email_callback_per_ip(),
        }
    }
}

/// An extra rule for e-mail addresses, run after canonicalisation (e.g. an allowed
/// domain). Pure: it runs inline.
pub trait AddressRule: Send + Sync {
    /// `Err(code)` refuses the address; the code goes to `?error=EmailInvalid&reason=`.
    fn check(&self, address: &crate::email_address::EmailAddress) -> Result<(), &'static str>;
}

impl<F> AddressRule for F
where
    F: Fn(&crate::email_address::EmailAddress) -> Result<(), &'static str> + Send + Sync,
{
    fn check(&self, address: &crate::email_address::EmailAddress) -> Result<(), &'static str> {
        self(address)
    }
}

/// Makes e-mail sign-in tokens (v3's `generateVerificationToken`). The default draws 256
/// bits from the request's CSPRNG.
pub trait TokenGenerator: Send + Sync {
    /// A fresh token; `rng` is the request's random source.
    fn generate(&self, rng: &mut dyn rand_core::RngCore) -> String;
}

impl<F> TokenGenerator for F
where
    F: Fn(&mut dyn rand_core::RngCore) -> String + Send + Sync,
{
    fn generate(&self, rng: &mut dyn rand_core::RngCore) -> String {
        self(rng)
    }
}

/// Entropy an e-mail token must carry, as [`crate::entropy::estimate_bits`] estimates it.
pub const MIN_TOKEN_BITS: f64 = 128.0;

/// Samples a custom token generator (from a fixed seed: `build` is pure) and refuses it
/// unless every sample is estimated at [`MIN_TOKEN_BITS`] or more and no two are equal.
/// An estimate, not a proof: it catches short codes, small alphabets, constants and
/// repetition; a generator that ignores the RNG it is given is judged by its output alone.
fn check_token_generator(generator: &dyn TokenGenerator) -> Result<(), ConfigError> {
    const SAMPLES: usize = 16;
    let mut rng = crate::entropy::SampleRng::new(0x5eed_7011_c0de_ba5e);
    let mut seen: Vec<String> = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let token = generator.generate(&mut rng);
        let bits = crate::entropy::estimate_bits(&token);
        if bits < MIN_TOKEN_BITS {
            return Err(ConfigError::WeakTokenGenerator(format!(
                "a sample token of {} characters is estimated at {bits:.0} bits; at least {MIN_TOKEN_BITS:.0} are needed (e.g. 32 random bytes as hex)",
                token.chars().count()
            )));
        }
        if seen.contains(&token) {
            return Err(ConfigError::WeakTokenGenerator(
                "it repeats its tokens; each must be drawn from the RNG it is given".into(),
            ));
        }
        seen.push(token);
    }
    Ok(())
}

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
    /// Encodes and decodes session tokens (v3's `jwt.encode`/`jwt.decode`; default [`V3Codec`]).
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

/// Builds a [`Config`].
#[derive(Default)]
pub struct ConfigBuilder {
    url: Option<String>,
    secrets: Vec<SecretString>,
    allow_short_secret: bool,
    jwt_secrets: Vec<SecretString>,
    jwt_signing_key: Option<SecretString>,
    jwt_encryption_key: Option<SecretString>,
    session_strategy: SessionStrategy,
    session_max_age: Option<i64>,
    session_update_age: Option<i64>,
    session_absolute_max_age: Option<i64>,
    session_token_storage: crate::session_key::SessionTokenStorage,
    encrypt_provider_tokens: bool,
    jwt_max_age: Option<i64>,
    jwt_encryption: bool,
    jwt_revocable: bool,
    provider_tokens_in_jwt: bool,
    use_secure_cookies: Option<bool>,
    cookie_overrides: Vec<(CookieKey, CookiePolicy)>,
    session_cookie_prefix: CookiePrefix,
    link_max_auth_age: Option<i64>,
    providers: Vec<Provider>,
    pages: Pages,
    theme: Theme,
    branding: Branding,
    redirect: Option<Arc<dyn RedirectPolicy>>,
    address_rule: Option<Arc<dyn AddressRule>>,
    token_generator: Option<Arc<dyn TokenGenerator>>,
    codec: Option<Arc<dyn SessionCodec>>,
    hooks: HookSet,
    default_callback_url: Option<String>,
    store: bool,
    throttle: ThrottleSettings,
    trusted_proxies: Vec<crate::client_ip::IpCidr>,
    forwarded_header: crate::client_ip::ForwardedHeader,
}

impl ConfigBuilder {
    /// Reverse proxies in front of the engine: a request from one of them is attributed to
    /// the rightmost untrusted address of the forwarding header. Default none: the peer the
    /// driver reports is the client and forwarding headers are ignored.
    pub fn trusted_proxies(mut self, proxies: Vec<crate::client_ip::IpCidr>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The header trusted proxies write (default `X-Forwarded-For`).
    pub fn forwarded_header(mut self, header: crate::client_ip::ForwardedHeader) -> Self {
        self.forwarded_header = header;
        self
    }

    /// Says a store is attached (the embedded builder sets it).
    pub fn store(mut self, attached: bool) -> Self {
        self.store = attached;
        self
    }

    /// Rate limits for e-mail links and credentials attempts.
    pub fn throttle(mut self, throttle: ThrottleSettings) -> Self {
        self.throttle = throttle;
        self
    }

    /// `NEXTAUTH_URL`: base URL and base path (default `http://localhost:3000/api/auth`).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Adds a secret; the first added signs, every one verifies.
    pub fn secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// Accepts secrets shorter than 32 bytes or guessable (an existing v3 deployment's
    /// secret, whose sessions must keep working); [`Config::weak_secrets`] counts them.
    pub fn allow_short_secret(mut self, allow: bool) -> Self {
        self.allow_short_secret = allow;
        self
    }

    /// v3's `jwt.secret`: the secret session-token keys are derived from, when it differs
    /// from the app secret (which still hashes CSRF and e-mail tokens). Adding several
    /// rotates them as [`ConfigBuilder::secret`] does. Unset: the app secrets.
    pub fn jwt_secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.jwt_secrets.push(secret.into());
        self
    }

    /// v3's `jwt.signingKey`: a JWK JSON string (`{"kty":"oct","alg":"HS512","k":"…"}`)
    /// that signs and verifies session tokens instead of the derived key. Checked by
    /// `build` (an unusable key is [`ConfigError::Jwk`] naming `jwt.signing_key`).
    pub fn jwt_signing_key(mut self, jwk: impl Into<SecretString>) -> Self {
        self.jwt_signing_key = Some(jwk.into());
        self
    }

    /// v3's `jwt.encryptionKey`: a JWK JSON string (`{"kty":"oct","alg":"A256GCM","k":"…"}`,
    /// 32 bytes) that encrypts session tokens (with `jwt_encryption`) instead of the
    /// derived key.
    pub fn jwt_encryption_key(mut self, jwk: impl Into<SecretString>) -> Self {
        self.jwt_encryption_key = Some(jwk.into());
        self
    }

    /// JWT (default) or database sessions. Unlike v3, configuring a store does not switch
    /// to database sessions by itself: say so here.
    pub fn session_strategy(mut self, strategy: SessionStrategy) -> Self {
        self.session_strategy = strategy;
        self
    }

    /// Seconds a session lives without use (default [`DEFAULT_MAX_AGE`], 30 days).
    pub fn session_max_age(mut self, seconds: i64) -> Self {
        self.session_max_age = Some(seconds);
        self
    }

    /// Seconds between writes that extend a database session (default a day).
    pub fn session_update_age(mut self, seconds: i64) -> Self {
        self.session_update_age = Some(seconds);
        self
    }

    /// Seconds a session may last from its sign-in however often it is used; `0` turns
    /// the limit off. Default [`DEFAULT_ABSOLUTE_MAX_AGE`].
    pub fn session_absolute_max_age(mut self, seconds: i64) -> Self {
        self.session_absolute_max_age = Some(seconds);
        self
    }

    /// Stores provider access and refresh tokens encrypted (AES-256-GCM, a key derived
    /// from each secret; docs/security.md, "Data at rest"). Default off.
    pub fn encrypt_provider_tokens(mut self, on: bool) -> Self {
        self.encrypt_provider_tokens = on;
        self
    }

    /// How new database sessions keep their token: hashed (default) or raw, for a
    /// database NextAuth v3 still reads (docs/security.md, "Data at rest").
    pub fn session_token_storage(
        mut self,
        storage: crate::session_key::SessionTokenStorage,
    ) -> Self {
        self.session_token_storage = storage;
        self
    }

    /// Session-token lifetime in seconds (default [`DEFAULT_MAX_AGE`], 30 days).
    pub fn jwt_max_age(mut self, seconds: i64) -> Self {
        self.jwt_max_age = Some(seconds);
        self
    }

    /// Keep the provider's tokens in the (encrypted) JWT and renew the access token when a
    /// session read finds it expired. Needs `jwt_encryption(true)`: the refresh token must
    /// not sit readable in a cookie.
    pub fn provider_tokens_in_jwt(mut self, on: bool) -> Self {
        self.provider_tokens_in_jwt = on;
        self
    }

    /// JWT sessions become revocable: signing out records the token's `jti` in the store
    /// until the token expires, and every session read (and `get_token`) refuses a revoked
    /// one, on every instance sharing the store. Costs one store lookup per read; needs a
    /// store.
    pub fn jwt_revocable(mut self, on: bool) -> Self {
        self.jwt_revocable = on;
        self
    }

    /// Wraps the session JWS in a JWE (dir, A256GCM).
    pub fn jwt_encryption(mut self, on: bool) -> Self {
        self.jwt_encryption = on;
        self
    }

    /// Forces secure cookie names and `Secure` (on https they are always on).
    pub fn use_secure_cookies(mut self, on: bool) -> Self {
        self.use_secure_cookies = Some(on);
        self
    }

    /// `Host`: on secure cookies the session cookie is `__Host-next-auth.session-token`
    /// (no sibling subdomain can set it). Default `Secure`, v3's `__Secure-` name, which
    /// Next.js code reading the cookie by name expects. A `cookie` override wins.
    pub fn session_cookie_prefix(mut self, prefix: CookiePrefix) -> Self {
        self.session_cookie_prefix = prefix;
        self
    }

    /// Seconds after signing in during which an OAuth sign-in may link a new account to the
    /// signed-in user. Default 600.
    pub fn link_max_auth_age(mut self, seconds: i64) -> Self {
        self.link_max_auth_age = Some(seconds);
        self
    }

    /// Replaces one cookie's policy (spec §2.1 `cookies` option).
    pub fn cookie(mut self, key: CookieKey, policy: CookiePolicy) -> Self {
        self.cookie_overrides.push((key, policy));
        self
    }

    /// Adds a sign-in provider; the sign-in page lists them in the order added.
    pub fn provider(mut self, provider: Provider) -> Self {
        self.providers.push(provider);
        self
    }

    /// Custom pages the built-in GET routes redirect to.
    pub fn pages(mut self, pages: Pages) -> Self {
        self.pages = pages;
        self
    }

    /// Look of the built-in pages (default [`Theme::Auto`]).
    pub fn theme(mut self, theme: Theme) -> Self {
        self.theme = theme;
        self
    }

    /// Brand name, logo and accent colour of the built-in pages (checked by `build`).
    pub fn branding(mut self, branding: Branding) -> Self {
        self.branding = branding;
        self
    }

    /// Where a `callbackUrl` may lead (default [`crate::redirect::SameOrigin`]).
    pub fn redirect_policy(mut self, policy: Arc<dyn RedirectPolicy>) -> Self {
        self.redirect = Some(policy);
        self
    }

    /// Adds a rule e-mail addresses must pass (after canonicalisation).
    pub fn address_rule(mut self, rule: Arc<dyn AddressRule>) -> Self {
        self.address_rule = Some(rule);
        self
    }

    /// Replaces how e-mail sign-in tokens are made (keep them unguessable: ≥ 128 bits).
    pub fn token_generator(mut self, generator: Arc<dyn TokenGenerator>) -> Self {
        self.token_generator = Some(generator);
        self
    }

    /// Replaces the built-in session token encode/decode (claim C18).
    pub fn codec(mut self, codec: Arc<dyn SessionCodec>) -> Self {
        self.codec = Some(codec);
        self
    }

    /// Which user callbacks the embedding registered.
    pub fn hooks(mut self, hooks: HookSet) -> Self {
        self.hooks = hooks;
        self
    }

    /// Where to go after sign-in when neither the request nor its cookie names a callback
    /// URL (default the site's base URL).
    pub fn default_callback_url(mut self, url: impl Into<String>) -> Self {
        self.default_callback_url = Some(url.into());
        self
    }

    /// Session-token keys: derived from `jwt.secret` (else the app secrets), then v3's
    /// explicit keys where given.
    fn jwt_keys(&self) -> Result<JwtKeys, ConfigError> {
        let signing = self
            .jwt_signing_key
            .as_ref()
            .map(crate::jwt::jwk::signing_key_from_jwk)
            .transpose()
            .map_err(|why| ConfigError::Jwk {
                key: "jwt.signing_key",
                why,
            })?;
        let encryption = self
            .jwt_encryption_key
            .as_ref()
            .map(crate::jwt::jwk::encryption_key_from_jwk)
            .transpose()
            .map_err(|why| ConfigError::Jwk {
                key: "jwt.encryption_key",
                why,
            })?;
        let secrets = if self.jwt_secrets.is_empty() {
            &self.secrets
        } else {
            &self.jwt_secrets
        };
        JwtKeys::derive(secrets)
            .and_then(|keys| keys.with_explicit_keys(signing, encryption))
            .map_err(|e| ConfigError::Keys(e.to_string()))
    }

    /// Validates everything and derives the keys.
    pub fn build(self) -> Result<Config, ConfigError> {
        let site = SiteUrl::parse(self.url.as_deref().unwrap_or(""))?;
        if self.secrets.is_empty() {
            return Err(ConfigError::NoSecret);
        }
        let weak_secrets = check_secrets("secret", &self.secrets, self.allow_short_secret)?
            + check_secrets("jwt.secret", &self.jwt_secrets, self.allow_short_secret)?;
        let jwt_keys = self.jwt_keys()?;
        let token_cipher = crate::token_cipher::TokenCipher::derive(&self.secrets)
            .map_err(|e| ConfigError::Keys(format!("encrypt_provider_tokens: {e}")))?;
        let session = SessionSettings {
            strategy: self.session_strategy,
            max_age: self.session_max_age.unwrap_or(DEFAULT_MAX_AGE),
            update_age: self.session_update_age.unwrap_or(24 * 60 * 60),
            absolute_max_age: match self.session_absolute_max_age {
                None => Some(DEFAULT_ABSOLUTE_MAX_AGE),
                Some(0) => None,
                Some(seconds) if seconds < 0 => {
                    return Err(ConfigError::NonPositive("session.absolute_max_age"))
                }
                Some(seconds) => Some(seconds),
            },
            token_storage: self.session_token_storage,
        };
        let jwt = JwtSettings {
            max_age: self.jwt_max_age.unwrap_or(DEFAULT_MAX_AGE),
            encryption: self.jwt_encryption,
        };
        if session.max_age <= 0 {
            return Err(ConfigError::NonPositive("session.max_age"));
        }
        if jwt.max_age <= 0 {
            return Err(ConfigError::NonPositive("jwt.max_age"));
        }
        if self.provider_tokens_in_jwt && !jwt.encryption {
            return Err(ConfigError::ProviderTokensNeedEncryption);
        }
        for limit in [
            self.throttle.email_per_address,
            self.throttle.email_per_ip,
            self.throttle.credentials_per_identifier,
            self.throttle.credentials_per_ip,
            self.throttle.email_callback_per_ip,
        ] {
            if limit.limit == 0 || limit.window_seconds <= 0 {
                return Err(ConfigError::NonPositive("throttle limit and window"));
            }
        }
        if session.update_age < 0 {
            return Err(ConfigError::NonPositive("session.update_age"));
        }
        let link_max_auth_age = self.link_max_auth_age.unwrap_or(DEFAULT_LINK_MAX_AUTH_AGE);
        if link_max_auth_age < 0 {
            return Err(ConfigError::NonPositive("session.link_max_auth_age"));
        }
        let secure = self.use_secure_cookies.unwrap_or(false) || site.is_https();
        let mut cookies = CookieTable::defaults(secure);
        if secure && self.session_cookie_prefix == CookiePrefix::Host {
            cookies.session_token.name = "__Host-next-auth.session-token".into();
        }
        for (key, policy) in self.cookie_overrides {
            cookies.set(key, policy);
        }
        cookies.validate().map_err(ConfigError::Cookie)?;
        for (i, provider) in self.providers.iter().enumerate() {
            provider
                .validate()
                .map_err(|why| ConfigError::Provider(provider.id.clone(), why))?;
            if matches!(provider.kind, ProviderKind::Credentials { .. })
                && session.strategy == SessionStrategy::Database
            {
                return Err(ConfigError::Provider(
                    provider.id.clone(),
                    "credentials sign-in needs JWT sessions (the user lives in your backend, not in the store): set session strategy = \"jwt\"".into(),
                ));
            }
            if self.providers[..i].iter().any(|p| p.id == provider.id) {
                return Err(ConfigError::Provider(
                    provider.id.clone(),
                    "configured twice".into(),
                ));
            }
        }
        if let Some(generator) = &self.token_generator {
            check_token_generator(generator.as_ref())?;
        }
        self.branding.validate().map_err(ConfigError::Branding)?;
        Ok(Config {
            site,
            secrets: self.secrets,
            session,
            jwt,
            provider_tokens_in_jwt: self.provider_tokens_in_jwt,
            encrypt_provider_tokens: self.encrypt_provider_tokens,
            token_cipher: Arc::new(token_cipher),
            jwt_keys: Arc::new(jwt_keys),
            codec: self.codec.unwrap_or_else(|| Arc::new(V3Codec)),
            cookies,
            providers: self.providers,
            pages: self.pages,
            theme: self.theme,
            branding: self.branding,
            redirect: self.redirect.unwrap_or_else(|| Arc::new(SameOrigin)),
            address_rule: self.address_rule,
            token_generator: self.token_generator,
            hooks: self.hooks,
            default_callback_url: self.default_callback_url,
            store: self.store,
            jwt_revocable: self.jwt_revocable,
            throttle: self.throttle,
            link_max_auth_age,
            trusted_proxies: self.trusted_proxies,
            forwarded_header: self.forwarded_header,
            weak_secrets,
        })
    }
}

/// Refuses an empty secret, and one shorter than [`MIN_SECRET_BYTES`] or estimated below
/// [`MIN_SECRET_BITS`] unless `allow_weak` (an existing v3 secret, which its sessions need).
/// Returns how many weak secrets were let through.
fn check_secrets(
    key: &'static str,
    secrets: &[SecretString],
    allow_weak: bool,
) -> Result<usize, ConfigError> {
    let mut weak = 0;
    for (i, secret) in secrets.iter().enumerate() {
        let (index, len) = (i + 1, secret.expose().len());
        let short = len < MIN_SECRET_BYTES;
        let bits = crate::entropy::estimate_bits(secret.expose());
        if len == 0 || (short && !allow_weak) {
            return Err(match key {
                "jwt.secret" => ConfigError::WeakJwtSecret { index, len },
                _ => ConfigError::WeakSecret { index, len },
            });
        }
        if bits < MIN_SECRET_BITS && !allow_weak {
            // Below 128 bits, so the cast neither truncates nor loses sign.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let bits = bits as u32;
            return Err(ConfigError::GuessableSecret { key, index, bits });
        }
        weak += usize::from(short || bits < MIN_SECRET_BITS);
    }
    Ok(weak)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "q3Jx0pV9c2mZ7rT1yB6nW4kH8sD5fL0a";

    #[test]
    fn the_session_cookie_may_opt_into_host_and_linking_has_a_window() {
        let build = |b: ConfigBuilder| b.secret(SECRET).build().unwrap();
        let https = || Config::builder().url("https://app.example/api/auth");
        let c = build(https());
        assert_eq!(
            c.cookies.session_token.name,
            "__Secure-next-auth.session-token"
        );
        assert_eq!(c.link_max_auth_age, DEFAULT_LINK_MAX_AUTH_AGE);
        let c = build(https().session_cookie_prefix(CookiePrefix::Host));
        assert_eq!(
            c.cookies.session_token.name,
            "__Host-next-auth.session-token"
        );
        assert!(c.cookies.validate().is_ok());
        // On http there is no prefix to choose.
        let c = build(
            Config::builder()
                .url("http://localhost:3000/api/auth")
                .session_cookie_prefix(CookiePrefix::Host),
        );
        assert_eq!(c.cookies.session_token.name, "next-auth.session-token");
        assert_eq!(build(https().link_max_auth_age(30)).link_max_auth_age, 30);
        assert_eq!(
            https()
                .secret(SECRET)
                .link_max_auth_age(-1)
                .build()
                .unwrap_err(),
            ConfigError::NonPositive("session.link_max_auth_age")
        );
    }

    #[test]
    fn refuses_long_but_guessable_secrets_naming_the_key() {
        for weak in [
            "a".repeat(32),
            format!("password{}", "!".repeat(24)),
            "abc1".repeat(8),
            "0123456789abcdef0123456789abcdef".to_owned(),
        ] {
            let err = Config::builder().secret(weak.as_str()).build().unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::GuessableSecret {
                        key: "secret",
                        index: 1,
                        ..
                    }
                ),
                "{weak}: {err:?}"
            );
            assert!(!err.to_string().contains(&weak), "{err}");
            let err = Config::builder()
                .secret(SECRET)
                .jwt_secret(weak.as_str())
                .build()
                .unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("jwt.secret number 1 is easy to guess"),
                "{err}"
            );
            // A v3 site keeps its sessions: allowed, and counted for a warning.
            let c = Config::builder()
                .secret(weak.as_str())
                .jwt_secret(weak.as_str())
                .allow_short_secret(true)
                .build()
                .unwrap();
            assert_eq!(c.weak_secrets, 2);
        }
        assert_eq!(
            Config::builder()
                .secret(SECRET)
                .build()
                .unwrap()
                .weak_secrets,
            0
        );
    }

    #[test]
    fn refuses_missing_and_short_secrets() {
        assert_eq!(
            Config::builder().build().unwrap_err(),
            ConfigError::NoSecret
        );
        assert_eq!(
            Config::builder().secret("short").build().unwrap_err(),
            ConfigError::WeakSecret { index: 1, len: 5 }
        );
        assert!(Config::builder()
            .secret("short")
            .allow_short_secret(true)
            .build()
            .is_ok());
        assert!(Config::builder()
            .secret("")
            .allow_short_secret(true)
            .build()
            .is_err());
    }

    #[test]
    fn https_selects_secure_cookies() {
        let c = Config::builder()
            .url("https://example.com")
            .secret(SECRET)
            .build()
            .unwrap();
        assert_eq!(c.cookies.csrf_token.name, "__Host-next-auth.csrf-token");
        let c = Config::builder().secret(SECRET).build().unwrap();
        assert_eq!(c.cookies.csrf_token.name, "next-auth.csrf-token");
        let c = Config::builder()
            .secret(SECRET)
            .use_secure_cookies(true)
            .build()
            .unwrap();
        assert!(c.cookies.session_token.secure);
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Config::builder().secret(SECRET).build().unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains(SECRET));
        assert!(text.contains("redacted"));
    }

    #[test]
    fn branding_cannot_inject_css_or_load_from_anywhere() {
        let build =
            |branding: Branding| Config::builder().secret(SECRET).branding(branding).build();
        let colour = |c: &str| Branding {
            accent_color: Some(c.into()),
            ..Branding::default()
        };
        let logo = |l: &str| Branding {
            logo_url: Some(l.into()),
            ..Branding::default()
        };
        assert!(build(colour("#0a7")).is_ok());
        assert!(build(colour("#00AA77")).is_ok());
        for bad in ["red", "#0a7;}body{display:none", "#00aa7", "rgb(0,0,0)", ""] {
            assert!(
                matches!(build(colour(bad)), Err(ConfigError::Branding(_))),
                "{bad:?}"
            );
        }
        assert!(build(logo("https://cdn.example.com/logo.svg")).is_ok());
        assert!(build(logo("/static/logo.png")).is_ok());
        for bad in [
            "http://cdn.example.com/logo.svg",
            "//evil.example/logo.png",
            "/\\evil.example/logo.png",
            "javascript:alert(1)",
            "data:image/svg+xml,<svg/>",
            "logo.png",
            "/logo .png",
        ] {
            assert!(
                matches!(build(logo(bad)), Err(ConfigError::Branding(_))),
                "{bad:?}"
            );
        }
        let empty_name = Branding {
            name: Some(" ".into()),
            ..Branding::default()
        };
        assert!(build(empty_name).is_err());
    }

    #[test]
    fn explicit_jwt_keys_are_checked_and_named() {
        let f: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/nextauth-v3/explicit-keys/vectors.json"
        )))
        .unwrap();
        let signing = f["keys"]["signingKey"].as_str().unwrap();
        let encryption = f["keys"]["encryptionKey"].as_str().unwrap();
        assert!(Config::builder()
            .secret(SECRET)
            .jwt_signing_key(signing)
            .jwt_encryption_key(encryption)
            .build()
            .is_ok());
        let err = Config::builder()
            .secret(SECRET)
            .jwt_signing_key("{\"kty\":\"oct\",")
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("jwt.signing_key: "), "{err}");
        // The encryption key as a signing key: too short for HS512, and named.
        let err = Config::builder()
            .secret(SECRET)
            .jwt_signing_key(encryption)
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("jwt.signing_key: "), "{err}");
        assert!(!err.to_string().contains(&encryption[40..60]), "{err}");
        let err = Config::builder()
            .secret(SECRET)
            .jwt_encryption_key(signing)
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("jwt.encryption_key: "), "{err}");
        let c = Config::builder()
            .secret(SECRET)
            .jwt_signing_key(signing)
            .build()
            .unwrap();
        assert!(!format!("{c:?}").contains(&signing[40..60]));
    }

    #[test]
    fn jwt_secret_is_checked_like_the_secret() {
        assert_eq!(
            Config::builder()
                .secret(SECRET)
                .jwt_secret("short")
                .build()
                .unwrap_err(),
            ConfigError::WeakJwtSecret { index: 1, len: 5 }
        );
        assert!(Config::builder()
            .secret(SECRET)
            .jwt_secret("short")
            .allow_short_secret(true)
            .build()
            .is_ok());
    }

    #[test]
    fn refuses_duplicate_providers() {
        let p = Provider::credentials("login", "Login", vec![]);
        let err = Config::builder()
            .secret(SECRET)
            .provider(p.clone())
            .provider(p)
            .build();
        assert!(matches!(err, Err(ConfigError::Provider(..))));
    }

    /// Issue 11 §5: e-mail tokens must stay unguessable.
    #[test]
    fn refuses_a_token_generator_below_128_bits() {
        let six_digits =
            |rng: &mut dyn rand_core::RngCore| format!("{:06}", rng.next_u32() % 1_000_000);
        let err = Config::builder()
            .secret(SECRET)
            .token_generator(Arc::new(six_digits))
            .build()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("token_generator"), "{err:?}");
        let constant = |_: &mut dyn rand_core::RngCore| "x".repeat(64);
        assert!(Config::builder()
            .secret(SECRET)
            .token_generator(Arc::new(constant))
            .build()
            .is_err());
        let hex32 = |rng: &mut dyn rand_core::RngCore| {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            hex::encode(bytes)
        };
        assert!(Config::builder()
            .secret(SECRET)
            .token_generator(Arc::new(hex32))
            .build()
            .is_ok());
    }
}
