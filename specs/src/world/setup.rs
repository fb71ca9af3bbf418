//! How the scenario's site is configured: the [`Setup`] the steps fill in, and which
//! setups only the in-process engine can run.

use portcullis::{CookieKey, CookiePolicy, CredentialField, Pages};

use crate::doubles::{Backend, HookScript};
use crate::stores::StoreKind;

/// The secret every site uses unless a scenario says otherwise (44 bytes).
pub(crate) const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

/// How the scenario's site is configured.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub url: String,
    pub secrets: Vec<String>,
    pub allow_short_secret: bool,
    pub encryption: bool,
    pub session_max_age: Option<i64>,
    pub jwt_max_age: Option<i64>,
    pub use_secure_cookies: Option<bool>,
    pub cookies: Vec<(CookieKey, CookiePolicy)>,
    pub pages: Pages,
    pub backend: Backend,
    /// Credentials providers configured without a backend.
    pub unbacked: Vec<String>,
    pub hooks: HookScript,
    pub plain_codec: bool,
    /// The built-in `credentials` provider (on unless database sessions are).
    pub credentials: bool,
    pub database_sessions: bool,
    /// Seconds between writes that extend a database session (`updateAge`).
    pub session_update_age: Option<i64>,
    /// Seconds a session may last from its sign-in (`session.absolute_max_age`).
    pub session_absolute_max_age: Option<i64>,
    /// JWT sign-out revokes the token in the store (`jwt.revocable`).
    pub jwt_revocable: bool,
    pub store: StoreMode,
    /// The e-mail provider `email`, with its links' lifetime in seconds.
    pub email: Option<i64>,
    /// How magic links are delivered.
    pub mail: MailMode,
    pub throttle: Option<portcullis_domain::config::ThrottleSettings>,
    /// Built by the server's own configuration code instead (TOML text).
    pub server_config: Option<String>,
    pub server_dev_mode: bool,
    /// What serves `server_config` on the HTTP target.
    pub frontend: Frontend,
    /// OAuth providers (their endpoints on the scenario's test provider).
    pub oauth: Vec<OAuthEntry>,
    /// JWT sessions keep the provider's tokens and renew the access token on read.
    pub provider_tokens_in_jwt: bool,
    /// v3's `jwt.signingKey` / `jwt.encryptionKey` (JWK JSON strings).
    pub jwt_signing_key: Option<String>,
    pub jwt_encryption_key: Option<String>,
}

impl Setup {
    pub(crate) fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            secrets: vec![SECRET.to_owned()],
            allow_short_secret: false,
            encryption: false,
            session_max_age: None,
            jwt_max_age: None,
            use_secure_cookies: None,
            cookies: Vec::new(),
            pages: Pages::default(),
            backend: Backend::Users,
            unbacked: Vec::new(),
            hooks: HookScript::default(),
            plain_codec: false,
            credentials: true,
            database_sessions: false,
            session_update_age: None,
            session_absolute_max_age: None,
            jwt_revocable: false,
            store: StoreMode::None,
            email: None,
            mail: MailMode::Smtp,
            throttle: None,
            server_config: None,
            server_dev_mode: false,
            frontend: Frontend::Server,
            oauth: Vec::new(),
            provider_tokens_in_jwt: false,
            jwt_signing_key: None,
            jwt_encryption_key: None,
        }
    }
}

/// One configured OAuth provider of the site.
#[derive(Debug, Clone)]
pub(crate) struct OAuthEntry {
    pub id: String,
    pub name: String,
    pub provider: portcullis::OAuthProvider,
    /// Built from the built-in preset of this id (with `preset_options`).
    pub preset: bool,
}

/// Which store the site has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreMode {
    None,
    /// Records and refuses every call.
    Refusing,
    /// A fresh store of the run's kind ([`AuthWorld::store_kind`]; failures injectable).
    Backed,
}

/// How the site delivers magic links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailMode {
    /// The built-in template through the SMTP adapter to the test SMTP server.
    Smtp,
    /// The SMTP adapter pointed at a port where nothing listens.
    Unreachable,
    /// The app's own sender (v3's `sendVerificationRequest`), a double; failing or not.
    AppSender { fails: bool },
}

/// What runs a scenario's configuration file on the HTTP target (the embedded target runs
/// it in process, whichever is named).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Frontend {
    /// `portcullis serve`.
    #[default]
    Server,
    /// `portcullis-lambda` under cargo-lambda's emulator.
    Lambda,
    /// The axum example app (`examples/axum`), its engine built from the file.
    Axum,
}

/// Why `setup` cannot run on the real binary (only in process: tag its scenarios
/// `@embedded`), or `None`.
pub(crate) fn in_process_only(setup: &Setup, store_kind: StoreKind) -> Option<&'static str> {
    let reasons = [
        (setup.hooks.any(), "scripted callbacks (Rust hooks)"),
        (setup.plain_codec, "a custom session codec"),
        (
            setup.store == StoreMode::Refusing,
            "a store that records every call",
        ),
        (
            setup.backend != Backend::Users,
            "a credentials backend that throws",
        ),
        (
            setup.throttle.is_some(),
            "rate limits other than the defaults",
        ),
        (
            matches!(setup.mail, MailMode::AppSender { .. }),
            "the app's own link sender",
        ),
        (
            setup.email.is_some() && setup.store == StoreMode::None,
            "e-mail sign-in without a store (the server refuses to start)",
        ),
        (
            setup.store == StoreMode::Backed && store_kind == StoreKind::Memory,
            "the specs' own store (an in-process object)",
        ),
    ];
    reasons
        .into_iter()
        .find_map(|(applies, why)| applies.then_some(why))
}

/// `username` (text) and `password` (password), the form of the scenarios' provider.
pub(crate) fn credential_fields() -> Vec<CredentialField> {
    vec![
        CredentialField::new("username", "Username", "text"),
        CredentialField::new("password", "Password", "password"),
    ]
}
