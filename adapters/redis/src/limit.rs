//! [`RedisRateLimiter`]: rate limits counted in Redis, shared by every instance using it.

use std::sync::Arc;

use async_trait::async_trait;
use portcullis_domain::effect::ThrottleCheck;
use portcullis_ports::RateLimiter;
use redis::{RedisError, Script};
use time::OffsetDateTime;

use crate::{keys, RedisConnection, DEFAULT_PREFIX};

/// How long a counter outlives its window in Redis. Windows are judged by the callers'
/// clocks (see [`RedisRateLimiter`]); the key's own expiry only reclaims memory, and this
/// margin keeps it from dropping a live window when the instances' clocks differ a little.
const EXPIRY_MARGIN_MS: i64 = 60_000;

/// One hit, atomically. `KEYS[1]`: the counter, a hash `{s: window start (Unix ms), c:
/// count}`. `ARGV`: now (Unix ms), window (ms), limit, key expiry (ms). Returns the
/// count after the hit: allowed iff `<= limit`.
///
/// As `SqlRateLimiter`'s upsert: no counter, or its window has passed (`now - s >=
/// window`): it becomes `(now, 1)` and expires a margin after the window; else the count
/// goes up by one until it is `limit + 1`, where it stays. A denied hit therefore never
/// extends the window (nor its expiry).
const HIT: &str = r"
local now = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 's', 'c')
local start = tonumber(state[1])
local count = tonumber(state[2])
if start == nil or count == nil or now - start >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 's', ARGV[1], 'c', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
if count > tonumber(ARGV[3]) then
  return count
end
return redis.call('HINCRBY', KEYS[1], 'c', 1)
";

/// Fixed-window rate limits in Redis, as [`InProcessLimiter`](portcullis_ports::InProcessLimiter)
/// and `SqlRateLimiter` count them: a key's window starts with its first hit and lasts
/// `window_seconds`; at most `limit` hits are allowed in it; denied hits do not extend it.
///
/// Each hit is one round trip: a Lua script run atomically by Redis, so hits from any
/// number of instances are counted exactly. The counter's key is the prefix, `limit:` and
/// `hex(sha256(key))`: no e-mail address or IP in clear.
///
/// Windows are judged by the `now` the caller passes, not by Redis' clock (as the other
/// limiters do, so a test clock works and the same engine behaves the same on every
/// limiter); instances with skewed clocks see windows skewed by as much. Redis' expiry
/// only reclaims a counter a minute after its window ends.
///
/// **When Redis cannot answer** (down, timed out, restarted mid-script), the hit goes to
/// the `fallback` limiter — the database's when the server shares rate limits there,
/// else in-process counters — or, with [`fail_closed`](RedisRateLimiter::fail_closed),
/// is refused. The outage is logged once as an error when it starts (without the key)
/// and once when Redis answers again; meanwhile Redis is retried at most once a second.
/// A Redis restart loses the counters: every key starts a fresh window.
pub struct RedisRateLimiter {
    connection: RedisConnection,
    prefix: String,
    fallback: Arc<dyn RateLimiter>,
    fail_closed: bool,
    script: Script,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("connection", &self.connection)
            .field("prefix", &self.prefix)
            .field("fail_closed", &self.fail_closed)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// Counts in Redis under the default prefix; `fallback` counts while Redis cannot.
    pub fn new(connection: RedisConnection, fallback: Arc<dyn RateLimiter>) -> RedisRateLimiter {
        RedisRateLimiter {
            connection,
            prefix: DEFAULT_PREFIX.to_owned(),
            fallback,
            fail_closed: false,
            script: Script::new(HIT),
        }
    }

    /// The prefix of every key (default `portcullis:`), e.g. to share one Redis between
    /// deployments.
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisRateLimiter {
        self.prefix = prefix.into();
        self
    }

    /// Refuse rate-limited attempts while Redis cannot answer, instead of counting them
    /// with the fallback.
    pub fn fail_closed(mut self, fail_closed: bool) -> RedisRateLimiter {
        self.fail_closed = fail_closed;
        self
    }

    /// [`hit`](RateLimiter::hit) in Redis alone: counts one attempt at `now` and says
    /// whether it is within the limit, or why Redis could not tell.
    pub async fn try_hit(
        &self,
        check: &ThrottleCheck,
        now: OffsetDateTime,
    ) -> Result<bool, RedisError> {
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let window_ms = check.window_seconds.max(1).saturating_mul(1000);
        let count: i64 = self
            .script
            .key(keys::limit(&self.prefix, &check.key))
            .arg(now_ms)
            .arg(window_ms)
            .arg(check.limit)
            .arg(window_ms.saturating_add(EXPIRY_MARGIN_MS))
            .invoke_async(&mut self.connection.manager())
            .await?;
        Ok(count <= i64::from(check.limit))
    }

    async fn fall_back(&self, check: &ThrottleCheck, now: OffsetDateTime) -> bool {
        if self.fail_closed {
            false
        } else {
            self.fallback.hit(check, now).await
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    /// Falls back (or fails closed) while Redis cannot answer: see [`RedisRateLimiter`].
    async fn hit(&self, check: &ThrottleCheck, now: OffsetDateTime) -> bool {
        let health = self.connection.health();
        if health.skip() {
            return self.fall_back(check, now).await;
        }
        match self.try_hit(check, now).await {
            Ok(allowed) => {
                health.succeeded();
                allowed
            }
            Err(e) => {
                if health.failed() {
                    // Never the key: it holds an e-mail address or an IP.
                    tracing::error!(
                        target: "portcullis",
                        error = %e,
                        fail_closed = self.fail_closed,
                        "redis: counting a rate limit failed; until Redis answers, rate-limited \
                         attempts are {}",
                        if self.fail_closed { "refused (fail closed)" } else { "counted by the fallback limiter" }
                    );
                }
                self.fall_back(check, now).await
            }
        }
    }
}
