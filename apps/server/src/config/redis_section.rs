//! `[redis]`: Redis shared by several server instances, for rate limits and as a cache of
//! database-session lookups (`portcullis-redis`).

use schemars::JsonSchema;
use serde::Deserialize;

use super::RedisUrl;

/// `[redis]`: counts rate limits in Redis and caches database-session lookups there, so
/// that several instances share their counters and read sessions without a database
/// round trip each time. The database stays the truth: Redis keeps nothing that cannot
/// be lost (counters, cached copies). Redis is reached at startup with a bounded timeout;
/// when it is down the server starts anyway and falls back (logged). See docs/redis.md.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://[user:password@]host[:port][/db]` (or `redis+unix:///path`). Required.
    /// No TLS (`rediss://`): reach Redis over a private network. Env: `PORTCULLIS_REDIS_URL`
    /// (which alone turns Redis on, with the defaults below).
    #[serde(default)]
    pub url: Option<RedisUrl>,
    /// Prefix of every key, e.g. to share one Redis between deployments. Default
    /// `portcullis:`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Count rate limits (e-mail links and credentials attempts) in Redis, shared by every
    /// instance on it. While Redis cannot answer, attempts are counted by the database
    /// (with `throttle_shared`) or in memory, unless `fail_closed`. Default true.
    #[serde(default = "yes")]
    pub rate_limits: bool,
    /// While Redis cannot answer, refuse rate-limited attempts (credentials sign-in,
    /// e-mail links) instead of counting them elsewhere. Needs `rate_limits`. Default false.
    #[serde(default)]
    pub fail_closed: bool,
    /// Cache database-session lookups (the user and the session, under the SHA-256 of the
    /// session key), dropped on sign-out, session extension, user updates and deletions.
    /// Applies with `session.strategy = "database"`. Default true.
    #[serde(default = "yes")]
    pub session_cache: bool,
    /// How long a lookup stays cached at most (never past the session's expiry): the bound
    /// on staleness if an invalidation cannot reach Redis. 1 to 86400. Default 60.
    #[serde(default)]
    pub session_cache_ttl_seconds: Option<u64>,
    /// Milliseconds to wait for Redis to connect or answer before falling back. 1 to
    /// 60000. Default 1000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

impl Default for RedisSection {
    fn default() -> Self {
        Self {
            url: None,
            prefix: None,
            rate_limits: true,
            fail_closed: false,
            session_cache: true,
            session_cache_ttl_seconds: None,
            timeout_ms: None,
        }
    }
}
