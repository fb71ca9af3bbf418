//! The credentials backends configured by `[providers.sql]` (a password table,
//! `portcullis-credentials-sql`) and `[providers.http]` (the operator's service,
//! `portcullis-credentials-http`); the users file is `users.rs`. Errors name the provider
//! and the key at fault.

use std::sync::Arc;
use std::time::Duration;

use portcullis_credentials_http::HttpService;
use portcullis_credentials_sql::{PasswordTable, Scheme, Settings};
use portcullis_hooks_http::WebhookSecrets;
use portcullis_http_reqwest::ReqwestHttpClient;

use crate::config::{CredentialsProviderConfig, HttpBackendConfig, ServerConfig, SqlBackendConfig};
use crate::error::StartupError;

/// Connections a password table opens at most unless `max_connections` says otherwise.
const DEFAULT_SQL_CONNECTIONS: u32 = 5;
/// Largest answer read from a credentials service.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

fn refused(
    c: &CredentialsProviderConfig,
    key: &str,
    message: impl std::fmt::Display,
) -> StartupError {
    StartupError::Settings(format!("provider {:?}: {key}: {message}", c.id))
}

/// Checks a credentials provider's backend keys without building anything.
pub fn validate(config: &ServerConfig, c: &CredentialsProviderConfig) -> Result<(), StartupError> {
    c.check_backends().map_err(StartupError::Settings)?;
    if let Some(sql) = &c.sql {
        sql_settings(config, c, sql)?;
    }
    if let Some(http) = &c.http {
        http_parts(c, http)?;
    }
    Ok(())
}

/// The backend's settings and database URL.
fn sql_settings<'a>(
    config: &'a ServerConfig,
    c: &CredentialsProviderConfig,
    sql: &'a SqlBackendConfig,
) -> Result<(Settings, &'a str), StartupError> {
    let mut settings = Settings::new(sql.query.clone());
    settings.username_field = sql.username_field.clone();
    if let Some(names) = &sql.allowed_schemes {
        settings.allowed_schemes = names
            .iter()
            .map(|name| {
                Scheme::from_name(name.trim()).ok_or_else(|| {
                    let known: Vec<&str> = Scheme::ALL.iter().map(|s| s.name()).collect();
                    refused(
                        c,
                        "sql.allowed_schemes",
                        format!("unknown scheme {name:?} (known: {})", known.join(", ")),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        if settings.allowed_schemes.is_empty() {
            return Err(refused(
                c,
                "sql.allowed_schemes",
                "is empty: no hash would verify",
            ));
        }
    }
    match (sql.rehash, &sql.update) {
        (true, None) => {
            return Err(refused(
                c,
                "sql.update",
                "`rehash = true` needs the UPDATE that stores the new hash, e.g. \
                 \"UPDATE users SET password_hash = $1 WHERE id = $2\"",
            ))
        }
        (true, Some(update)) => settings.rehash_update = Some(update.clone()),
        (false, _) => {}
    }
    settings.check().map_err(|e| refused(c, "sql.query", e))?;
    let url = match (&sql.url, &config.database) {
        (Some(url), _) => url.expose(),
        (None, Some(database)) => database.expose(),
        (None, None) => {
            return Err(refused(
                c,
                "sql.url",
                "is not set and neither is the server's `database`",
            ))
        }
    };
    if url.starts_with("mongodb") {
        return Err(refused(
            c,
            "sql.url",
            "a password table needs a SQL database (set `sql.url` to postgres://, mysql:// or sqlite://)",
        ));
    }
    Ok((settings, url))
}

/// The password table of `[providers.sql]`. Connects lazily (at the first sign-in).
pub fn password_table(
    config: &ServerConfig,
    c: &CredentialsProviderConfig,
    sql: &SqlBackendConfig,
) -> Result<PasswordTable, StartupError> {
    let (settings, url) = sql_settings(config, c, sql)?;
    let key = if sql.url.is_some() {
        "sql.url"
    } else {
        "database"
    };
    let max = sql.max_connections.unwrap_or(DEFAULT_SQL_CONNECTIONS);
    PasswordTable::new(&c.id, url, settings, max).map_err(|e| refused(c, key, e))
}

fn http_parts(
    c: &CredentialsProviderConfig,
    http: &HttpBackendConfig,
) -> Result<(WebhookSecrets, Duration), StartupError> {
    let secrets =
        WebhookSecrets::parse(&http.secret.to_vec()).map_err(|e| refused(c, "http.secret", e))?;
    portcullis_credentials_http::check_url(&http.url).map_err(|e| refused(c, "http.url", e))?;
    if http.timeout_ms == 0 {
        return Err(refused(c, "http.timeout_ms", "must be more than 0"));
    }
    Ok((secrets, Duration::from_millis(http.timeout_ms)))
}

/// The service client of `[providers.http]`.
pub fn http_service(
    c: &CredentialsProviderConfig,
    http: &HttpBackendConfig,
) -> Result<HttpService, StartupError> {
    let (secrets, timeout) = http_parts(c, http)?;
    let client = ReqwestHttpClient::with_settings(portcullis_http_reqwest::Settings {
        connect_timeout: timeout.min(Duration::from_secs(5)),
        total_timeout: timeout,
        max_body_bytes: MAX_ANSWER_BYTES,
        // The operator's own service, typically on the internal network.
        allow_private_network: true,
    })
    .map_err(|e| refused(c, "http", e))?;
    HttpService::new(&c.id, &http.url, secrets, timeout, Arc::new(client))
        .map_err(|e| refused(c, "http.url", e))
}
