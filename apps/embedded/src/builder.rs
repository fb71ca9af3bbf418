//! Putting an engine together: the configuration, the ports, and the checks `build` runs.

use super::*;

/// Builds a [`Portcullis`].
#[derive(Default)]
pub struct Builder {
    config: ConfigBuilder,
    store: Option<Arc<dyn Store>>,
    authorizers: HashMap<String, Arc<dyn Authorize>>,
    hooks: Hooks,
    listeners: Vec<Arc<dyn EventListener>>,
    clock: Option<Arc<dyn Clock>>,
    entropy: Option<Arc<dyn Entropy>>,
    observer: Option<TransitionObserver>,
    limiter: Option<Arc<dyn RateLimiter>>,
    sender: Option<Arc<dyn VerificationSender>>,
    http: Option<Arc<dyn HttpClient>>,
    meter: Option<Arc<dyn Meter>>,
    allow_private_network: bool,
    /// A preset that failed to build, reported by `build`.
    preset_error: Option<ConfigError>,
    /// `hash_session_tokens`, when the app said.
    hash_session_tokens: Option<bool>,
}

/// How new database sessions keep their token: what the app said, else hashed, except on
/// a database that the store's migration took over from NextAuth v3 (v3 may still be
/// serving it and reads only raw tokens).
pub fn session_token_storage(
    hash_session_tokens: Option<bool>,
    upgraded_from_v3: bool,
) -> SessionTokenStorage {
    match hash_session_tokens {
        Some(true) => SessionTokenStorage::Hashed,
        Some(false) => SessionTokenStorage::Raw,
        None if upgraded_from_v3 => SessionTokenStorage::Raw,
        None => SessionTokenStorage::Hashed,
    }
}

impl Builder {
    /// An OAuth 1.0a, OAuth 2.0 or OpenID Connect provider described in full.
    pub fn oauth(mut self, id: &str, name: &str, provider: OAuthProvider) -> Self {
        self.config = self.config.provider(Provider::oauth(id, name, provider));
        self
    }

    /// A built-in provider (`"github"`, `"google"` …, spec §7.10) with its client
    /// credentials and options.
    pub fn preset(mut self, id: &str, options: &PresetOptions) -> Self {
        match oauth::preset(id, options) {
            Ok(preset) => {
                self.config =
                    self.config
                        .provider(Provider::oauth(preset.id, preset.name, preset.provider))
            }
            Err(e) => {
                self.preset_error
                    .get_or_insert(ConfigError::Provider(id.to_owned(), e.to_string()));
            }
        }
        self
    }

    /// How provider calls are made (default: reqwest with rustls, no redirects followed,
    /// bounded time and size, discovery documents and key sets cached).
    pub fn http(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.http = Some(client);
        self
    }

    /// Lets the built-in HTTP client call provider endpoints on loopback, link-local or
    /// private addresses (default: refused, after DNS resolution at request time, so that
    /// a provider's or a discovery document's URL cannot reach the server's own network).
    /// For tests and for providers that really live on the internal network. Has no effect
    /// on a client given with [`Builder::http`].
    pub fn allow_private_network(mut self, allow: bool) -> Self {
        self.allow_private_network = allow;
        self
    }

    /// An e-mail (magic link) provider; links are delivered by the [`VerificationSender`]
    /// given with [`Builder::verification_sender`] or [`Builder::mailer`]. Needs a store.
    pub fn email(mut self, id: &str, name: &str, max_age_seconds: i64) -> Self {
        self.config = self
            .config
            .provider(Provider::email(id, name, max_age_seconds));
        self
    }

    /// Replaces how magic links are delivered (v3's `sendVerificationRequest`).
    pub fn verification_sender(mut self, sender: Arc<dyn VerificationSender>) -> Self {
        self.sender = Some(sender);
        self
    }

    /// Sends magic links with the built-in template through `mailer`.
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.sender = Some(Arc::new(TemplateSender::new(mailer, None)));
        self
    }

    /// Rate limits shared by several instances (default: in this process).
    pub fn rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// `NEXTAUTH_URL`: site URL with the auth base path.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.config = self.config.url(url);
        self
    }

    /// Adds a secret (at least 32 bytes). The first signs; all verify.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.config = self.config.secret(secret.into());
        self
    }

    /// Any other configuration (cookies, lifetimes, JWT encryption, pages, theme …).
    pub fn configure(mut self, f: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Self {
        self.config = f(self.config);
        self
    }

    /// A credentials provider: the form `fields` and the backend that checks them.
    pub fn credentials(
        mut self,
        id: &str,
        name: &str,
        fields: Vec<CredentialField>,
        authorize: impl Authorize + 'static,
    ) -> Self {
        self.config = self
            .config
            .provider(Provider::credentials(id, name, fields));
        self.authorizers.insert(id.to_owned(), Arc::new(authorize));
        self
    }

    /// Database sessions: `true` stores each session token as its SHA-256 (`sha256:<hex>`),
    /// `false` stores the token itself, as NextAuth v3 does. Default: hashed, except on a
    /// database the store's migration upgraded from v3 ([`Store::upgraded_from_v3`]), where
    /// v3 may still be serving: there tokens stay raw until this says `true`
    /// (docs/security.md, "Data at rest"). Sessions stored either way keep reading.
    pub fn hash_session_tokens(mut self, on: bool) -> Self {
        self.hash_session_tokens = Some(on);
        self
    }

    /// The database for users, accounts, sessions and link tokens (e-mail sign-in and
    /// database sessions need one).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The app's callbacks: `Hooks::new().on_sign_in(f)…`. Each runs because it was given.
    pub fn hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// Also tells every event to `listener`, after the hooks' own listeners: e.g. a durable
    /// event outbox next to the app's callbacks.
    pub fn event_listener(mut self, listener: Arc<dyn EventListener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// The clock (tests pin it; production reads the system time).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The randomness source; it must be a cryptographic RNG (production: the OS).
    pub fn entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.entropy = Some(entropy);
        self
    }

    /// Called with the declared transitions each request took (coverage, tracing).
    pub fn observe(mut self, observer: TransitionObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Reports sign-in outcomes, session reads, callback and provider latency and
    /// rate-limit refusals to `meter` (the server's Prometheus endpoint is one).
    pub fn meter(mut self, meter: Arc<dyn Meter>) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Checks the configuration and attaches the ports.
    pub fn build(self) -> Result<Portcullis, ConfigError> {
        if let Some(error) = self.preset_error {
            return Err(error);
        }
        let hooks = self
            .listeners
            .into_iter()
            .fold(self.hooks, Hooks::with_listener);
        let upgraded_from_v3 = self.store.as_ref().is_some_and(|s| s.upgraded_from_v3());
        let storage = session_token_storage(self.hash_session_tokens, upgraded_from_v3);
        let config = self
            .config
            .hooks(hooks.registered())
            .store(self.store.is_some())
            .session_token_storage(storage)
            .build()?;
        if config.encrypt_provider_tokens {
            tracing::info!(
                target: "portcullis",
                "provider access and refresh tokens are stored encrypted (AES-256-GCM)"
            );
        }
        if config.session.strategy == portcullis_domain::SessionStrategy::Database {
            tracing::info!(
                target: "portcullis",
                storage = storage.describe(),
                upgraded_from_v3,
                "new database session tokens are stored {}",
                storage.describe()
            );
            if storage == SessionTokenStorage::Raw && self.hash_session_tokens.is_none() {
                tracing::warn!(
                    target: "portcullis",
                    "session tokens stay raw: this database was upgraded from NextAuth v3, which reads only raw tokens; once v3 no longer serves it, turn hashing on ([session] hash_tokens = true)"
                );
            }
        }
        if config.weak_secrets > 0 {
            // `allow_short_secret` let a v3 secret through: say what that costs (never the
            // secret itself).
            tracing::warn!(
                target: "portcullis",
                code = "SHORT_SECRET",
                weak_secrets = config.weak_secrets,
                "allow_short_secret: a secret shorter than 32 bytes or easy to guess is in use; \
                 session tokens, CSRF and e-mail tokens are only as hard to forge as it is to \
                 guess. Rotate to a random one (`openssl rand -base64 32`, listed first in \
                 `secret`, the old one after it) when you can"
            );
        }
        if config.session.strategy == portcullis_domain::SessionStrategy::Database
            && self.store.is_none()
        {
            return Err(ConfigError::NeedsStore("session strategy \"database\""));
        }
        if config.jwt_revocable && self.store.is_none() {
            return Err(ConfigError::NeedsStore("jwt.revocable"));
        }
        if self.store.is_none()
            && config
                .providers
                .iter()
                .any(|p| matches!(p.kind, portcullis_domain::ProviderKind::Email { .. }))
        {
            // Allowed, so an app can start without its database: the e-mail routes then
            // answer `Configuration`. The server refuses to start instead.
            tracing::error!(
                target: "portcullis",
                "e-mail sign-in needs a store for its single-use tokens: its routes answer Configuration"
            );
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let http = match self.http {
            Some(http) => Some(http),
            None if config.providers.iter().any(|p| p.as_oauth().is_some()) => {
                let client = portcullis_http_reqwest::ReqwestHttpClient::with_settings(
                    portcullis_http_reqwest::Settings {
                        allow_private_network: self.allow_private_network,
                        ..portcullis_http_reqwest::Settings::default()
                    },
                )
                .map_err(|e| ConfigError::Provider("http".into(), e.to_string()))?;
                Some(Arc::new(CachingHttpClient::new(client, clock.clone())) as Arc<dyn HttpClient>)
            }
            None => None,
        };
        Ok(Portcullis {
            engine: Engine::new(config),
            store: self.store,
            authorizers: Arc::new(self.authorizers),
            hooks,
            clock,
            http,
            renewals: Arc::default(),
            entropy: self.entropy.unwrap_or_else(|| Arc::new(OsEntropy)),
            observer: self.observer,
            limiter: self
                .limiter
                .unwrap_or_else(|| Arc::new(InProcessLimiter::default())),
            sender: self.sender,
            meter: self.meter,
        })
    }
}
