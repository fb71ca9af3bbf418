//! `[redis]` into adapters: settings checked with errors naming the key, and the
//! connection, opened without ever holding up startup (`portcullis-redis`).

use std::sync::Arc;
use std::time::Duration;

use portcullis_ports::{InProcessLimiter, RateLimiter, Store};
use portcullis_redis::{RedisConnection, RedisRateLimiter, RedisSessionCache};

use crate::config::{RedisSection, RedisUrl, ServerConfig};
use crate::error::StartupError;

/// `[redis]`, checked.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    url: RedisUrl,
    prefix: String,
    rate_limits: bool,
    fail_closed: bool,
    session_cache: bool,
    session_cache_ttl: Duration,
    timeout: Duration,
}

/// The `[redis]` section's settings, if there is one; an error names the key at fault.
/// Opens nothing.
pub fn settings(config: &ServerConfig) -> Result<Option<RedisSettings>, StartupError> {
    let Some(section) = &config.redis else {
        return Ok(None);
    };
    check(section).map(Some)
}

fn check(section: &RedisSection) -> Result<RedisSettings, StartupError> {
    let invalid = |message: String| StartupError::Settings(message);
    let url = section.url.as_ref().ok_or_else(|| {
        invalid("redis.url: required (or PORTCULLIS_REDIS_URL), e.g. redis://127.0.0.1:6379".into())
    })?;
    RedisConnection::check_url(url.expose()).map_err(|e| invalid(format!("redis.url: {e}")))?;
    let prefix = section
        .prefix
        .clone()
        .unwrap_or_else(|| portcullis_redis::DEFAULT_PREFIX.to_owned());
    if prefix.is_empty() || prefix.len() > 100 || prefix.chars().any(char::is_whitespace) {
        return Err(invalid(
            "redis.prefix: 1 to 100 characters without spaces, e.g. \"portcullis:\"".into(),
        ));
    }
    if section.fail_closed && !section.rate_limits {
        return Err(invalid(
            "redis.fail_closed: needs redis.rate_limits = true (it says what rate limits do \
             while Redis is down)"
                .into(),
        ));
    }
    let ttl = section.session_cache_ttl_seconds.unwrap_or(60);
    if !(1..=86_400).contains(&ttl) {
        return Err(invalid(format!(
            "redis.session_cache_ttl_seconds: 1 to 86400, got {ttl}"
        )));
    }
    let timeout = section.timeout_ms.unwrap_or(1000);
    if !(1..=60_000).contains(&timeout) {
        return Err(invalid(format!(
            "redis.timeout_ms: 1 to 60000, got {timeout}"
        )));
    }
    Ok(RedisSettings {
        url: url.clone(),
        prefix,
        rate_limits: section.rate_limits,
        fail_closed: section.fail_closed,
        session_cache: section.session_cache,
        session_cache_ttl: Duration::from_secs(ttl),
        timeout: Duration::from_millis(timeout),
    })
}

/// An open `[redis]`: the connection and what to use it for.
#[derive(Debug, Clone)]
pub struct RedisWiring {
    connection: RedisConnection,
    settings: RedisSettings,
}

impl RedisWiring {
    /// Opens the connection and checks once (within the timeout) that Redis answers. When
    /// it does not, the server starts anyway: the adapters fall back until it does.
    pub async fn open(settings: RedisSettings) -> Result<RedisWiring, StartupError> {
        let connection = RedisConnection::open(settings.url.expose(), settings.timeout)
            .map_err(|e| StartupError::Settings(format!("redis.url: {e}")))?;
        match connection.ping().await {
            Ok(()) => tracing::info!(
                target: "portcullis",
                rate_limits = settings.rate_limits,
                session_cache = settings.session_cache,
                "redis: connected"
            ),
            Err(e) => tracing::error!(
                target: "portcullis",
                error = %e,
                fail_closed = settings.fail_closed,
                "redis: not answering at startup; starting anyway: rate limits {} and session \
                 lookups read the database until it answers",
                if settings.fail_closed { "refuse attempts" } else { "fall back" }
            ),
        }
        Ok(RedisWiring {
            connection,
            settings,
        })
    }

    /// The rate limiter to use when `rate_limits` is on, counting in `fallback` (or
    /// in-process) while Redis cannot answer.
    pub fn rate_limiter(
        &self,
        fallback: Option<Arc<dyn RateLimiter>>,
    ) -> Option<Arc<dyn RateLimiter>> {
        let s = &self.settings;
        s.rate_limits.then(|| {
            let fallback = fallback.unwrap_or_else(|| Arc::new(InProcessLimiter::default()));
            Arc::new(
                RedisRateLimiter::new(self.connection.clone(), fallback)
                    .prefix(s.prefix.clone())
                    .fail_closed(s.fail_closed),
            ) as Arc<dyn RateLimiter>
        })
    }

    /// `store` behind the session cache when `session_cache` is on and sessions live in
    /// the database; else `store` itself.
    pub fn cached(&self, config: &ServerConfig, store: Arc<dyn Store>) -> Arc<dyn Store> {
        let s = &self.settings;
        if s.session_cache && config.session_strategy() == portcullis::SessionStrategy::Database {
            Arc::new(
                RedisSessionCache::new(store, self.connection.clone())
                    .prefix(s.prefix.clone())
                    .ttl(s.session_cache_ttl),
            )
        } else {
            store
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn error_of(toml: &str) -> String {
        let config = ServerConfig::from_toml(toml).unwrap();
        settings(&config).unwrap_err().to_string()
    }

    #[test]
    fn bad_settings_name_their_key() {
        assert!(error_of("[redis]\nprefix = \"p:\"\n").contains("redis.url: required"));
        let e = error_of("[redis]\nurl = \"http://user:hunter2@host\"\n");
        assert!(e.contains("redis.url:") && !e.contains("hunter2"), "{e}");
        assert!(error_of("[redis]\nurl = \"rediss://h\"\n").contains("TLS"));
        assert!(error_of("[redis]\nurl = \"redis://h\"\nprefix = \"\"\n").contains("redis.prefix"));
        assert!(error_of(
            "[redis]\nurl = \"redis://h\"\nrate_limits = false\nfail_closed = true\n"
        )
        .contains("redis.fail_closed"));
        assert!(
            error_of("[redis]\nurl = \"redis://h\"\nsession_cache_ttl_seconds = 0\n")
                .contains("redis.session_cache_ttl_seconds")
        );
        assert!(
            error_of("[redis]\nurl = \"redis://h\"\ntimeout_ms = 0\n").contains("redis.timeout_ms")
        );
        assert!(
            ServerConfig::from_toml("[redis]\nurl = \"redis://h\"\nratelimits = true\n").is_err()
        );
    }

    #[test]
    fn defaults_and_the_environment() {
        let mut config = ServerConfig::from_toml("").unwrap();
        assert!(settings(&config).unwrap().is_none());
        config
            .apply_env(&|name| {
                (name == "PORTCULLIS_REDIS_URL").then(|| "redis://:pw@127.0.0.1:6379/2".to_owned())
            })
            .unwrap();
        let s = settings(&config).unwrap().unwrap();
        assert_eq!(s.url.expose(), "redis://:pw@127.0.0.1:6379/2");
        assert!(!format!("{s:?}").contains("pw@"));
        assert_eq!(s.prefix, "portcullis:");
        assert!(s.rate_limits && s.session_cache && !s.fail_closed);
        assert_eq!(s.session_cache_ttl, Duration::from_secs(60));
        assert_eq!(s.timeout, Duration::from_secs(1));
        let debug = format!("{:?}", config.redis);
        assert!(!debug.contains("pw@"), "{debug}");
    }
}
