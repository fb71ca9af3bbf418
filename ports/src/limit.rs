//! Rate limiting: a port, with an in-process default.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use portcullis_domain::effect::ThrottleCheck;
use time::OffsetDateTime;

/// Counts attempts per key. `hit` counts one attempt and says whether it is within the
/// limit. Several server instances need a shared implementation (one backed by their
/// store); a single instance is served by [`InProcessLimiter`].
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn hit(&self, check: &ThrottleCheck, now: OffsetDateTime) -> bool;
}

/// Fixed-window counters in memory. Entries whose window has passed are swept when the
/// table grows, so memory stays bounded by the keys active in one window.
#[derive(Debug, Default)]
pub struct InProcessLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: OffsetDateTime,
    length: time::Duration,
    count: u32,
}

/// Table size at which expired windows are swept.
const SWEEP_AT: usize = 10_000;

#[async_trait]
impl RateLimiter for InProcessLimiter {
    async fn hit(&self, check: &ThrottleCheck, now: OffsetDateTime) -> bool {
        // A poisoned lock only means another request panicked mid-update; the counters
        // are still usable.
        let mut windows = match self.windows.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| now - w.started < w.length);
        }
        let length = time::Duration::seconds(check.window_seconds.max(1));
        let window = windows.entry(check.key.clone()).or_insert(Window {
            started: now,
            length,
            count: 0,
        });
        if now - window.started >= window.length {
            *window = Window {
                started: now,
                length,
                count: 0,
            };
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
}
