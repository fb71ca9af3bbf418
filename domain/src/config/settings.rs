//! The settings a configuration is made of: pages and branding, hooks, sessions, rate
//! limits and the e-mail rules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ConfigError;

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
    pub(super) fn validate(&self) -> Result<(), String> {
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
pub(super) fn check_token_generator(generator: &dyn TokenGenerator) -> Result<(), ConfigError> {
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
