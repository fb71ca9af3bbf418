//! Building a configuration: every option, and the checks `build` runs once.

use crate::cookies::{CookieKey, CookiePolicy, CookiePrefix, CookieTable};
use crate::jwt::{JwtKeys, JwtSettings, SessionCodec, V3Codec};
use crate::provider::{Provider, ProviderKind};
use crate::redirect::{RedirectPolicy, SameOrigin};
use crate::secret::SecretString;
use crate::site::SiteUrl;
use std::sync::Arc;

use super::settings::check_token_generator;
use super::{
    AddressRule, Branding, Config, ConfigError, HookSet, Pages, SessionSettings, SessionStrategy,
    Theme, ThrottleSettings, TokenGenerator, DEFAULT_ABSOLUTE_MAX_AGE, DEFAULT_LINK_MAX_AUTH_AGE,
    DEFAULT_MAX_AGE, MIN_SECRET_BITS, MIN_SECRET_BYTES,
};

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
