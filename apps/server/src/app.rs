//! Turns a [`ServerConfig`] into a running engine: providers and their backends, the store,
//! and in dev mode a kept secret and a demo user.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis::{ConfigBuilder, CookieKey, CredentialField, Portcullis, Provider};
use portcullis_domain::config::MIN_SECRET_BYTES;
use portcullis_domain::provider::DEFAULT_EMAIL_MAX_AGE;
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use portcullis_store_sled::SledStore;
use portcullis_store_sql::{Migration, SqlRateLimiter, SqlStore};
use rand_core::{OsRng, RngCore};

use crate::config::{ProviderConfig, ServerConfig};
use crate::dev_mailbox::{DevMailbox, DEV_EMAIL_PROVIDER_ID};
use crate::error::StartupError;
use crate::users::UserDirectory;

/// The id of the dev-mode demo provider.
pub const DEV_PROVIDER_ID: &str = "credentials";

/// An engine and the store behind it (kept to flush or close it on shutdown).
#[derive(Debug, Clone)]
pub struct App {
    /// The engine, configured.
    pub portcullis: Portcullis,
    /// The store the engine uses, to flush or close on shutdown.
    pub store: AppStore,
    /// `[hooks.events]`, when configured: its worker runs from [`App::start_events`].
    pub events: Option<Arc<portcullis_hooks_http::events::Events>>,
    /// Dev mode's e-mail sign-in: the links it would have mailed (`GET /dev/mailbox`).
    pub dev_mailbox: Option<Arc<DevMailbox>>,
    /// `[metrics]`, when on: what the engine measured, for `GET /metrics`.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl App {
    /// Starts delivering `[hooks.events]` in the background (needs a tokio runtime); stop
    /// the worker before closing the store.
    pub fn start_events(&self) -> Option<portcullis_hooks_http::events::EventWorker> {
        self.events.as_ref().map(|events| events.start())
    }
}

/// The store an [`App`] runs on.
#[derive(Debug, Clone)]
pub enum AppStore {
    /// The embedded sled store in `<data_dir>/store` (no `database` configured).
    Sled(SledStore),
    /// The SQL database of `database`.
    Sql(SqlStore),
    /// The MongoDB database of a `mongodb://` `database`.
    Mongo(portcullis_store_mongo::MongoStore),
    /// No store (`stateless = true`).
    Stateless,
}

impl AppStore {
    /// The store as the engine sees it; `None` when stateless.
    pub fn shared(&self) -> Option<Arc<dyn Store>> {
        match self {
            AppStore::Sled(store) => Some(Arc::new(store.clone())),
            AppStore::Sql(store) => Some(Arc::new(store.clone())),
            AppStore::Mongo(store) => Some(Arc::new(store.clone())),
            AppStore::Stateless => None,
        }
    }

    /// On shutdown: flushes sled to disk, or closes the database connections.
    pub async fn close(&self) -> Result<(), StoreError> {
        match self {
            AppStore::Sled(store) => store.flush().await,
            AppStore::Sql(store) => {
                store.close().await;
                Ok(())
            }
            AppStore::Mongo(_) | AppStore::Stateless => Ok(()),
        }
    }
}

/// Builds the engine from a configuration. `dev` allows running without a secret (one is
/// generated and kept in `<data_dir>/secret`) and adds the demo user `demo` / `demo`.
/// Opens the sled store at `<data_dir>/store`, creating it if missing. A configuration
/// with a `database` needs [`open`] (async).
pub fn build_app(config: &ServerConfig, dev: bool) -> Result<Portcullis, StartupError> {
    build(config, dev).map(|app| app.portcullis)
}

/// [`build_app`], also returning the store.
pub fn build(config: &ServerConfig, dev: bool) -> Result<App, StartupError> {
    if config.database.is_some() {
        return Err(StartupError::Database(StoreError::Backend(
            "a `database` is opened by `portcullis_server::open` (async), not `build`".to_owned(),
        )));
    }
    let (builder, mailbox) = builder(config, dev)?;
    if config.stateless {
        return finish(config, builder, AppStore::Stateless, mailbox);
    }
    finish(config, builder, AppStore::Sled(open_sled(config)?), mailbox)
}

/// [`build`] for any configuration: with a `database`, connects to it and, when
/// `migrate` is set, applies pending migrations first (what `serve` does unless
/// `--no-migrate`); without one, opens the sled store as [`build`] does.
pub async fn open(config: &ServerConfig, dev: bool, migrate: bool) -> Result<App, StartupError> {
    let (mut builder, mailbox) = builder(config, dev)?;
    let store = match &config.database {
        None if config.stateless => AppStore::Stateless,
        None => AppStore::Sled(open_sled(config)?),
        Some(url) if is_mongo(url.expose()) => {
            if config.throttle_shared {
                return Err(StartupError::Settings(
                    "throttle_shared needs a SQL database (PostgreSQL, MySQL/MariaDB or SQLite); \
                     MongoDB keeps no shared rate limits yet"
                        .into(),
                ));
            }
            let store = open_mongo(url.expose(), migrate).await?;
            AppStore::Mongo(store)
        }
        Some(url) => {
            let store = SqlStore::connect(url.expose(), config.database_pool.sql_options())
                .await
                .map_err(StartupError::Database)?;
            if migrate {
                // Each applied migration is logged by the store.
                store.migrate().await.map_err(StartupError::Database)?;
            }
            if config.throttle_shared {
                builder = builder.rate_limiter(Arc::new(SqlRateLimiter::new(store.clone())));
            }
            AppStore::Sql(store)
        }
    };
    finish(config, builder, store, mailbox)
}

/// Applies the pending migrations of the configured `database` (`portcullis migrate`);
/// returns them (empty: up to date). `None`: no database is configured (sled needs none).
pub async fn migrate(config: &ServerConfig) -> Result<Option<Vec<Migration>>, StartupError> {
    let Some(url) = &config.database else {
        return Ok(None);
    };
    if is_mongo(url.expose()) {
        // MongoDB has no schema to migrate: its indexes are what `migrate` sets up.
        open_mongo(url.expose(), true).await?;
        return Ok(Some(Vec::new()));
    }
    let store = SqlStore::connect(url.expose(), config.database_pool.sql_options())
        .await
        .map_err(StartupError::Database)?;
    let done = store.migrate().await.map_err(StartupError::Database);
    store.close().await;
    done.map(Some)
}

fn is_mongo(url: &str) -> bool {
    url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")
}

/// Connects to the database named in the URL's path (default `portcullis`); with
/// `migrate`, creates the indexes the store's guarantees rest on (unique e-mail, …).
async fn open_mongo(
    url: &str,
    migrate: bool,
) -> Result<portcullis_store_mongo::MongoStore, StartupError> {
    let after_host = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let name = after_host
        .split_once('/')
        .map(|(_, path)| path.split('?').next().unwrap_or(""))
        .filter(|name| !name.is_empty())
        .unwrap_or("portcullis");
    let store = portcullis_store_mongo::MongoStore::connect(url, name)
        .await
        .map_err(StartupError::Database)?;
    if migrate {
        store
            .ensure_indexes()
            .await
            .map_err(StartupError::Database)?;
    }
    Ok(store)
}

fn open_sled(config: &ServerConfig) -> Result<SledStore, StartupError> {
    let data_dir = config.data_dir();
    create_data_dir(&data_dir)?;
    let store_path = data_dir.join("store");
    SledStore::open(&store_path).map_err(|source| StartupError::Store {
        path: store_path,
        source,
    })
}

fn finish(
    config: &ServerConfig,
    builder: portcullis::Builder,
    store: AppStore,
    dev_mailbox: Option<Arc<DevMailbox>>,
) -> Result<App, StartupError> {
    let mut builder = match store.shared() {
        Some(shared) => builder.store(shared),
        None => builder,
    };
    let events = crate::events::wire(config, &store)?;
    if let Some(events) = &events {
        builder = builder.event_listener(events.recorder());
    }
    let metrics = config
        .metrics
        .enabled()
        .then(|| Arc::new(crate::metrics::Metrics::new()));
    if let Some(metrics) = &metrics {
        builder = builder.meter(metrics.clone());
    }
    let portcullis = builder.build()?;
    Ok(App {
        portcullis,
        store,
        events,
        dev_mailbox,
        metrics,
    })
}

/// Checks a configuration as `serve` would, without opening the store or writing
/// anything (`portcullis config check`). Database sessions are checked against a
/// throwaway in-memory store.
pub fn check(config: &ServerConfig) -> Result<Portcullis, StartupError> {
    let (mut builder, _) = builder(config, false)?;
    // What needs a store gets a scratch one; a stateless server has none to give.
    let needs_store = config.session_strategy() == portcullis::SessionStrategy::Database
        || (config.jwt.revocable && !config.stateless);
    if needs_store {
        let scratch = SledStore::temporary().map_err(|source| StartupError::Store {
            path: PathBuf::from("<temporary>"),
            source,
        })?;
        builder = builder.store(Arc::new(scratch));
    }
    Ok(builder.build()?)
}

/// Everything but the store, and dev mode's mailbox when it adds e-mail sign-in. The
/// configuration is validated before anything is loaded.
fn builder(
    config: &ServerConfig,
    dev: bool,
) -> Result<(portcullis::Builder, Option<Arc<DevMailbox>>), StartupError> {
    let secrets = match &config.secret {
        Some(secrets) => secrets.to_vec(),
        None if dev => vec![dev_secret(&config.data_dir())?],
        None => Vec::new(),
    };
    let demo = dev && !config.providers.iter().any(|p| p.id() == DEV_PROVIDER_ID);
    let dev_email = dev_email(config, dev);

    // Validate first (cheap): nothing is loaded, opened or written for a refused config.
    if config.metrics.token.as_ref().is_some_and(|t| t.len() < 16) {
        return Err(StartupError::Settings(
            "[metrics] token: at least 16 characters (`openssl rand -hex 16`); \
             it guards /metrics from anyone who can reach the listener"
                .into(),
        ));
    }
    let mut probe = settings(config, &secrets);
    for provider in &config.providers {
        match provider {
            ProviderConfig::Credentials(c) => {
                crate::credentials::validate(config, c)?;
                let fields = c.fields.clone().unwrap_or_else(default_fields);
                probe = probe.provider(Provider::credentials(&c.id, &c.name, fields));
            }
            ProviderConfig::Email(e) => {
                if config.stateless {
                    return Err(StartupError::Settings(format!(
                        "provider {:?}: e-mail sign-in needs a store for its single-use tokens; \
                         remove `stateless = true` (the embedded sled store needs no database) \
                         or set `database`",
                        e.id
                    )));
                }
                if e.smtp.is_none() && config.hooks.send_email.is_none() {
                    return Err(StartupError::Settings(format!(
                        "provider {:?}: set `smtp` (or PORTCULLIS_SMTP_URL) to the SMTP server that delivers the links, or a `[hooks.send_email]` endpoint",
                        e.id
                    )));
                }
                if let Some(files) = &e.template {
                    crate::mail_template::MailTemplates::load(files).map_err(|message| {
                        StartupError::Settings(format!("provider {:?}: {message}", e.id))
                    })?;
                }
                probe = probe.provider(Provider::email(&e.id, &e.name, e.max_age));
            }
            ProviderConfig::Oauth(o) => {
                let (id, name, oauth) = o.build().map_err(|message| {
                    StartupError::Settings(format!("provider {:?}: {message}", o.id()))
                })?;
                probe = probe.provider(Provider::oauth(&id, &name, oauth));
            }
        }
    }
    if config.throttle_shared && config.database.is_none() {
        return Err(StartupError::Settings(
            "`throttle_shared = true` counts rate limits in the `database`, and none is set: \
             set `database` (or PORTCULLIS_DATABASE_URL), or remove `throttle_shared` to count \
             in this process only (per instance)"
                .into(),
        ));
    }
    if config.stateless && config.session_strategy() == portcullis::SessionStrategy::Database {
        return Err(StartupError::Settings(
            "database sessions need a store; remove `stateless = true` or use JWT sessions".into(),
        ));
    }
    if demo {
        probe = probe.provider(Provider::credentials(
            DEV_PROVIDER_ID,
            "Credentials",
            default_fields(),
        ));
    }
    if dev_email {
        probe = probe.provider(Provider::email(
            DEV_EMAIL_PROVIDER_ID,
            "Email",
            DEFAULT_EMAIL_MAX_AGE,
        ));
    }
    crate::hooks::endpoints(config)?;
    config.redirects.policy().map_err(StartupError::Settings)?;
    probe.build()?;
    // Links in e-mails, redirect URIs and cookie names follow the public URL: guessing it
    // (from the listen port) is only for a developer's machine.
    if config.url.is_none() && !dev {
        return Err(StartupError::Settings(
            "no public URL: set NEXTAUTH_URL (or `url` in the config file) to the site's URL \
             with the auth base path, e.g. https://app.example.com/api/auth (only `serve --dev` \
             defaults it to http://localhost:<port>/api/auth)"
                .into(),
        ));
    }
    crate::events::settings(config)?;

    let settings = settings(config, &secrets);
    let mut builder = Portcullis::builder()
        .configure(move |_| settings)
        .allow_private_network(config.allow_private_network);
    if let Some(on) = config.session.hash_tokens {
        builder = builder.hash_session_tokens(on);
    }
    for provider in &config.providers {
        match provider {
            ProviderConfig::Credentials(c) => {
                let fields = c.fields.clone().unwrap_or_else(default_fields);
                // Exactly one backend is set (checked above).
                if let Some(users_file) = &c.users_file {
                    let users = UserDirectory::load(users_file).map_err(|message| {
                        StartupError::UsersFile {
                            path: users_file.clone(),
                            message,
                        }
                    })?;
                    if users.is_empty() {
                        tracing::warn!(
                            target: "portcullis",
                            provider = %c.id,
                            "the users file lists no users: nobody can sign in with this provider"
                        );
                    }
                    builder = builder.credentials(&c.id, &c.name, fields, users);
                } else if let Some(ldap) = &c.ldap {
                    builder = builder.credentials(&c.id, &c.name, fields, ldap.build(&c.id)?);
                } else if let Some(sql) = &c.sql {
                    let table = crate::credentials::password_table(config, c, sql)?;
                    builder = builder.credentials(&c.id, &c.name, fields, table);
                } else if let Some(http) = &c.http {
                    let service = crate::credentials::http_service(c, http)?;
                    builder = builder.credentials(&c.id, &c.name, fields, service);
                }
            }
            // `[hooks.send_email]` delivers the links instead of SMTP (attached below).
            ProviderConfig::Email(e) if config.hooks.send_email.is_some() => {
                builder = builder.email(&e.id, &e.name, e.max_age);
            }
            ProviderConfig::Email(e) => {
                let url = e.smtp.as_ref().map(|u| u.expose()).unwrap_or_default();
                let mailer = portcullis_mail_smtp::SmtpMailer::from_url(
                    url,
                    portcullis_mail_smtp::SmtpOptions::new(e.from.clone()),
                )
                .map_err(|error| {
                    StartupError::Settings(format!("provider {:?}: smtp: {error}", e.id))
                })?;
                builder = builder.email(&e.id, &e.name, e.max_age);
                builder = match &e.template {
                    Some(files) => {
                        let templates = crate::mail_template::MailTemplates::load(files).map_err(
                            |message| {
                                StartupError::Settings(format!("provider {:?}: {message}", e.id))
                            },
                        )?;
                        builder.verification_sender(Arc::new(
                            crate::mail_template::TemplatedSender::new(
                                Arc::new(templates),
                                Arc::new(mailer),
                            ),
                        ))
                    }
                    None => builder.mailer(Arc::new(mailer)),
                };
            }
            ProviderConfig::Oauth(o) => {
                let (id, name, oauth) = o.build().map_err(|message| {
                    StartupError::Settings(format!("provider {:?}: {message}", o.id()))
                })?;
                builder = builder.oauth(&id, &name, oauth);
            }
        }
    }

    if demo {
        let users = UserDirectory::demo().map_err(StartupError::Hash)?;
        builder = builder.credentials(DEV_PROVIDER_ID, "Credentials", default_fields(), users);
        tracing::warn!(
            target: "portcullis",
            "dev mode: NOT FOR PRODUCTION. Demo user `demo` with password `demo` is enabled; \
             the secret is generated and kept in the data directory unless NEXTAUTH_SECRET is set"
        );
    } else if dev {
        tracing::warn!(
            target: "portcullis",
            "dev mode: NOT FOR PRODUCTION. A provider {DEV_PROVIDER_ID:?} is configured, so the demo user is not added"
        );
    }
    let mailbox = dev_email.then(|| Arc::new(DevMailbox::default()));
    if let Some(mailbox) = &mailbox {
        builder = builder
            .email(DEV_EMAIL_PROVIDER_ID, "Email", DEFAULT_EMAIL_MAX_AGE)
            .verification_sender(mailbox.clone());
        tracing::warn!(
            target: "portcullis",
            page = crate::dev_mailbox::PATH,
            "dev mode: e-mail sign-in without SMTP; each link is logged and listed on the dev mailbox page"
        );
    }
    let demo_fields = default_fields();
    let demo_form = demo.then_some((DEV_PROVIDER_ID, demo_fields.as_slice()));
    Ok((crate::hooks::attach(builder, config, demo_form)?, mailbox))
}

/// Whether `serve --dev` adds e-mail sign-in with the dev mailbox: not when the
/// configuration has its own e-mail provider or link delivery, nor without a store for
/// the links' tokens.
fn dev_email(config: &ServerConfig, dev: bool) -> bool {
    dev && !config.stateless
        && config.hooks.send_email.is_none()
        && !config
            .providers
            .iter()
            .any(|p| matches!(p, ProviderConfig::Email(_)) || p.id() == DEV_EMAIL_PROVIDER_ID)
}

/// The engine settings of `config`, without providers.
fn settings(config: &ServerConfig, secrets: &[String]) -> ConfigBuilder {
    let mut c = ConfigBuilder::default().url(config.effective_url());
    for secret in secrets {
        c = c.secret(secret.as_str());
    }
    if let Some(max_age) = config.session.max_age {
        c = c.session_max_age(max_age);
    }
    if let Some(update_age) = config.session.update_age {
        c = c.session_update_age(update_age);
    }
    c = c.session_strategy(config.session_strategy());
    if let Ok(Some(policy)) = config.redirects.policy() {
        c = c.redirect_policy(std::sync::Arc::new(policy));
    }
    if let Some(seconds) = config.session.link_max_auth_age {
        c = c.link_max_auth_age(seconds);
    }
    if let Some(absolute_max_age) = config.session.absolute_max_age {
        c = c.session_absolute_max_age(absolute_max_age);
    }
    if let Some(max_age) = config.jwt.max_age {
        c = c.jwt_max_age(max_age);
    }
    c = c.jwt_revocable(config.jwt.revocable);
    if let Some(on) = config.jwt.encryption {
        c = c.jwt_encryption(on);
    }
    if let Some(on) = config.jwt.provider_tokens {
        c = c.provider_tokens_in_jwt(on);
    }
    c = c.allow_short_secret(config.allow_short_secret);
    c = c.encrypt_provider_tokens(config.encrypt_provider_tokens);
    for secret in config.jwt.secret.iter().flat_map(|s| s.to_vec()) {
        c = c.jwt_secret(secret);
    }
    if let Some(jwk) = &config.jwt.signing_key {
        c = c.jwt_signing_key(jwk.expose());
    }
    if let Some(jwk) = &config.jwt.encryption_key {
        c = c.jwt_encryption_key(jwk.expose());
    }
    if let Some(on) = config.use_secure_cookies {
        c = c.use_secure_cookies(on);
    }
    let cookies = &config.cookies;
    if let Some(prefix) = cookies.prefix {
        c = c.session_cookie_prefix(prefix);
    }
    let overrides = [
        (CookieKey::SessionToken, &cookies.session_token),
        (CookieKey::CallbackUrl, &cookies.callback_url),
        (CookieKey::CsrfToken, &cookies.csrf_token),
        (CookieKey::PkceCodeVerifier, &cookies.pkce_code_verifier),
        (CookieKey::State, &cookies.state),
        (CookieKey::Nonce, &cookies.nonce),
        (CookieKey::OAuthTokenSecret, &cookies.oauth_token_secret),
    ];
    for (key, policy) in overrides {
        if let Some(policy) = policy {
            c = c.cookie(key, policy.clone());
        }
    }
    c = c
        .trusted_proxies(config.trusted_proxies.clone())
        .forwarded_header(config.client_ip_header);
    c.pages(config.pages.clone())
        .theme(config.theme)
        .branding(config.branding.clone())
}

/// `username` (text) and `password` (password), as the users file backend reads them.
pub fn default_fields() -> Vec<CredentialField> {
    vec![
        CredentialField::new("username", "Username", "text"),
        CredentialField::new("password", "Password", "password"),
    ]
}

/// Creates the data directory (owner-only on Unix) if it is missing.
fn create_data_dir(dir: &Path) -> Result<(), StartupError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| StartupError::Io {
        what: "create the data directory",
        path: dir.to_owned(),
        source,
    })
}

/// The dev-mode secret: read from `<data_dir>/secret`, or generated (32 random bytes from
/// the OS, hex) and written there with mode 0600.
pub fn dev_secret(data_dir: &Path) -> Result<String, StartupError> {
    let path = data_dir.join("secret");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = text.trim().to_owned();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(StartupError::SecretFile {
                    path,
                    message: format!(
                        "holds {} bytes; at least {MIN_SECRET_BYTES} are needed (delete it to generate a new one)",
                        secret.len()
                    ),
                });
            }
            warn_if_readable_by_others(&path);
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_data_dir(data_dir)?;
            let mut bytes = [0u8; 32];
            OsRng.fill_bytes(&mut bytes);
            let secret = hex::encode(bytes);
            write_new_private(&path, secret.as_bytes())?;
            tracing::info!(target: "portcullis", path = %path.display(), "dev mode: generated a new secret");
            Ok(secret)
        }
        Err(source) => Err(StartupError::Io {
            what: "read the secret file",
            path,
            source,
        }),
    }
}

/// Creates `path` (which must not exist) readable and writable by the owner only.
fn write_new_private(path: &PathBuf, contents: &[u8]) -> Result<(), StartupError> {
    let io = |source| StartupError::Io {
        what: "write the secret file",
        path: path.clone(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    target: "portcullis",
                    path = %path.display(),
                    "the secret file is readable by other users; `chmod 600` it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
