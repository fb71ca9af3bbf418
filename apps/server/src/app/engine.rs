//! The engine's builder from the configuration: settings, providers and their backends,
//! hooks, and in dev mode the demo user and the dev mailbox.

use std::sync::Arc;

use portcullis::{ConfigBuilder, CookieKey, CredentialField, Portcullis, Provider};
use portcullis_domain::provider::DEFAULT_EMAIL_MAX_AGE;

use super::secret_file::dev_secret;
use super::DEV_PROVIDER_ID;
use crate::config::{ProviderConfig, ServerConfig};
use crate::dev_mailbox::{DevMailbox, DEV_EMAIL_PROVIDER_ID};
use crate::error::StartupError;
use crate::users::UserDirectory;

/// Everything but the store, and dev mode's mailbox when it adds e-mail sign-in. The
/// configuration is validated before anything is loaded.
pub(super) fn builder(
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
    crate::redis_config::settings(config)?;
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
    let throttle = config.throttle.settings().map_err(StartupError::Settings)?;

    let settings = settings(config, &secrets).throttle(throttle);
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
