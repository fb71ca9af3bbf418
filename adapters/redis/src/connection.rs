//! [`RedisConnection`]: one reconnecting connection, shared by the limiter and the cache,
//! and what it knows about Redis being reachable.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisError;

/// Connect and response timeout unless configured otherwise: Redis answers in well under
/// a millisecond, so a second means it is not answering.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// After a failure, reads and counts go straight to their fallback for this long before
/// Redis is tried again, so an unreachable Redis costs one timeout per second, not one per
/// request.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A Redis server to talk to: a multiplexed connection that reconnects by itself (the
/// `redis` crate's connection manager). Cloning shares the connection.
///
/// [`open`](RedisConnection::open) does no I/O: the connection is made on first use, so a
/// server starts while Redis is down, and every command is bounded by the timeout.
#[derive(Clone)]
pub struct RedisConnection {
    manager: ConnectionManager,
    health: Arc<Health>,
}

/// The URL may hold a password: `Debug` shows none of it.
impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("url", &"[redacted]")
            .field("down", &self.health.down.load(Ordering::Relaxed))
            .finish()
    }
}

/// Why a [`RedisConnection`] could not be set up (a bad URL, no runtime). Never holds the
/// URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError(String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

impl RedisConnection {
    /// A connection to `url` (`redis://[user:password@]host[:port][/db]`, or
    /// `redis+unix:///path`); connecting and every command time out after `timeout`.
    /// Needs a tokio runtime (the connection manager runs a task on it). TLS (`rediss://`)
    /// is not built in.
    pub fn open(url: &str, timeout: Duration) -> Result<RedisConnection, ConnectError> {
        let client = client(url)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConnectError(
                "a Redis connection needs a running tokio runtime".into(),
            ));
        }
        let timeout = timeout.max(Duration::from_millis(1));
        // One attempt per use: the caller falls back at once rather than waiting out
        // backoffs, and `Health` paces the next attempt.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| ConnectError(format!("setting up the Redis connection: {e}")))?;
        Ok(RedisConnection {
            manager,
            health: Arc::new(Health::new()),
        })
    }

    /// Checks `url` as [`open`](RedisConnection::open) would, without a runtime or I/O (for
    /// checking a configuration).
    pub fn check_url(url: &str) -> Result<(), ConnectError> {
        client(url).map(|_| ())
    }

    /// Sends `PING`: whether Redis answers now (e.g. to log at startup that it does not).
    pub async fn ping(&self) -> Result<(), RedisError> {
        let result = redis::cmd("PING")
            .query_async::<String>(&mut self.manager())
            .await
            .map(|_| ());
        match &result {
            Ok(()) => self.health.succeeded(),
            Err(_) => {
                self.health.failed();
            }
        }
        result
    }

    /// Whether the last use failed and Redis is not to be tried again yet.
    pub fn is_down(&self) -> bool {
        self.health.skip()
    }

    pub(crate) fn manager(&self) -> ConnectionManager {
        self.manager.clone()
    }

    pub(crate) fn health(&self) -> &Health {
        &self.health
    }
}

/// Parses `url` (no I/O).
fn client(url: &str) -> Result<redis::Client, ConnectError> {
    if url.starts_with("rediss://") || url.starts_with("valkeys://") {
        return Err(ConnectError(
            "TLS (rediss://) is not supported: reach Redis over a private network or a TLS \
             tunnel"
                .into(),
        ));
    }
    // The parse errors name the part that is wrong, never the password.
    redis::Client::open(url).map_err(|e| {
        ConnectError(format!(
            "not a Redis URL such as redis://127.0.0.1:6379 ({e})"
        ))
    })
}

/// Whether Redis answered last time, so that an outage is logged once when it starts and
/// once when it ends, not once per request.
#[derive(Debug)]
pub(crate) struct Health {
    epoch: Instant,
    down: AtomicBool,
    /// While down: when to try Redis again, in milliseconds since `epoch`.
    retry_at_ms: AtomicU64,
}

impl Health {
    fn new() -> Health {
        Health {
            epoch: Instant::now(),
            down: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether to skip Redis (down, and not yet time to retry).
    pub(crate) fn skip(&self) -> bool {
        self.down.load(Ordering::Relaxed)
            && self.now_ms() < self.retry_at_ms.load(Ordering::Relaxed)
    }

    /// Records a failure; `true` when it starts an outage (the caller logs it then).
    pub(crate) fn failed(&self) -> bool {
        let retry_after = u64::try_from(RETRY_AFTER.as_millis()).unwrap_or(u64::MAX);
        self.retry_at_ms
            .store(self.now_ms().saturating_add(retry_after), Ordering::Relaxed);
        !self.down.swap(true, Ordering::Relaxed)
    }

    /// Records an answer; logs the end of an outage.
    pub(crate) fn succeeded(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(target: "portcullis", "redis: answering again");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_outage_is_reported_once_and_paces_retries() {
        let health = Health::new();
        assert!(!health.skip());
        assert!(health.failed(), "the first failure starts the outage");
        assert!(!health.failed(), "later ones do not");
        assert!(health.skip(), "Redis is not tried again at once");
        health.retry_at_ms.store(0, Ordering::Relaxed);
        assert!(!health.skip(), "after the pause it is");
        health.succeeded();
        assert!(!health.skip());
        assert!(health.failed(), "a new outage is reported again");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let e = RedisConnection::open("http://user:hunter2@host", DEFAULT_TIMEOUT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a Redis URL"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = RedisConnection::open("rediss://host", DEFAULT_TIMEOUT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("TLS"), "{e}");
    }
}
