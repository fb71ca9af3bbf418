//! Rate limiting: a port, with an in-process default.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use async_trait::async_trait;
use portcullis_domain::effect::ThrottleCheck;
use time::OffsetDateTime;

/// Counts attempts per key. `hit` counts one attempt and says whether it is within the
/// limit. Several server instances need a shared implementation (one backed by their
/// store); a single instance is served by [`InProcessLimiter`].
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one attempt for `check`'s key at `now`; `false` when over the limit.
    async fn hit(&self, check: &ThrottleCheck, now: OffsetDateTime) -> bool;
}

/// Fixed-window counters in memory, O(1) per hit and bounded in size.
///
/// Keys are hashed with a per-process random key (SipHash, so no one can aim collisions)
/// into 64 shards, each behind its own short-held lock. A shard keeps two generations of
/// counters: hits land in the current one (a counter found in the previous generation
/// moves up); when the current generation is full it becomes the previous one and the old
/// previous one is dropped whole (its entries are plain data: one deallocation). So at most
/// [`InProcessLimiter::MAX_KEYS`] counters are held however many distinct keys arrive, and
/// a counter is forgotten only after its shard has seen a full generation of other keys
/// (about `MAX_KEYS / 2` distinct keys across the limiter) since it was last hit.
#[derive(Debug)]
pub struct InProcessLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_generation: usize,
}

#[derive(Debug, Default)]
struct Shard {
    current: HashMap<u64, Window>,
    previous: HashMap<u64, Window>,
}

/// One key's window; times in Unix milliseconds.
#[derive(Debug, Clone, Copy)]
struct Window {
    started_ms: i64,
    length_ms: i64,
    count: u32,
}

const SHARDS: usize = 64;

impl Default for InProcessLimiter {
    fn default() -> Self {
        Self::with_max_keys(Self::MAX_KEYS)
    }
}

impl InProcessLimiter {
    /// The default bound on counters held (about 16 MB at most).
    pub const MAX_KEYS: usize = 1 << 18;

    /// A limiter holding at most `max_keys` counters (at least one per shard generation).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            per_generation: (max_keys / (2 * SHARDS)).max(1),
        }
    }

    /// Counters currently held (live or not yet dropped).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = lock(shard);
                shard.current.len() + shard.previous.len()
            })
            .sum()
    }

    /// Whether no key is counted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A poisoned lock only means another request panicked mid-update; the counters are still
/// usable.
fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    match shard.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[async_trait]
impl RateLimiter for InProcessLimiter {
    async fn hit(&self, check: &ThrottleCheck, now: OffsetDateTime) -> bool {
        let hash = self.hasher.hash_one(&check.key);
        // The low bits pick the shard; truncation is the point.
        #[allow(clippy::cast_possible_truncation)]
        let index = (hash as usize) % self.shards.len();
        let Some(shard) = self.shards.get(index) else {
            return true;
        };
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let length_ms = check.window_seconds.max(1).saturating_mul(1000);
        let fresh = Window {
            started_ms: now_ms,
            length_ms,
            count: 0,
        };
        let mut shard = lock(shard);
        let shard = &mut *shard;
        let window = match shard.current.get_mut(&hash) {
            Some(window) => window,
            None => {
                let moved = shard.previous.remove(&hash).unwrap_or(fresh);
                if shard.current.len() >= self.per_generation {
                    shard.previous = std::mem::take(&mut shard.current);
                }
                shard.current.entry(hash).or_insert(moved)
            }
        };
        if now_ms.saturating_sub(window.started_ms) >= window.length_ms {
            *window = fresh;
        }
        if window.count >= check.limit {
            return false;
        }
        window.count += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn check(limit: u32) -> ThrottleCheck {
        ThrottleCheck {
            key: "k".into(),
            limit,
            window_seconds: 60,
        }
    }

    #[tokio::test]
    async fn allows_up_to_the_limit_per_window() {
        let limiter = InProcessLimiter::default();
        let t0 = datetime!(2024-01-01 0:00 UTC);
        assert!(limiter.hit(&check(2), t0).await);
        assert!(limiter.hit(&check(2), t0).await);
        assert!(
            !limiter
                .hit(&check(2), t0 + time::Duration::seconds(59))
                .await
        );
        assert!(
            limiter
                .hit(&check(2), t0 + time::Duration::seconds(60))
                .await
        );
        let other = ThrottleCheck {
            key: "other".into(),
            ..check(2)
        };
        assert!(limiter.hit(&other, t0).await, "keys are independent");
    }

    #[tokio::test]
    async fn memory_is_bounded_under_a_million_distinct_keys() {
        let limiter = InProcessLimiter::default();
        let t0 = datetime!(2024-01-01 0:00 UTC);
        for i in 0..1_000_000u32 {
            let check = ThrottleCheck {
                key: format!("credentials:ip:{i}"),
                ..check(5)
            };
            assert!(limiter.hit(&check, t0).await);
        }
        assert!(
            limiter.len() <= InProcessLimiter::MAX_KEYS,
            "{} keys held",
            limiter.len()
        );
    }

    #[tokio::test]
    async fn a_key_in_use_keeps_its_count_while_others_churn() {
        // Four counters per shard generation: other keys rotate generations constantly.
        let limiter = InProcessLimiter::with_max_keys(SHARDS * 2 * 4);
        let t0 = datetime!(2024-01-01 0:00 UTC);
        for _ in 0..3 {
            assert!(limiter.hit(&check(3), t0).await);
        }
        for i in 0..10_000u32 {
            let other = ThrottleCheck {
                key: format!("other:{i}"),
                ..check(3)
            };
            limiter.hit(&other, t0).await;
            if i % 10 == 0 {
                assert!(!limiter.hit(&check(3), t0).await, "forgotten after {i}");
            }
        }
        assert!(limiter.len() <= SHARDS * 2 * 4);
    }
}
