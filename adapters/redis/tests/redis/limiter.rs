//! `RedisRateLimiter`: fixed windows shared by instances, hashed keys, and what happens
//! while Redis cannot answer.

use std::sync::Arc;

use portcullis_domain::effect::ThrottleCheck;
use portcullis_ports::{InProcessLimiter, RateLimiter};
use portcullis_redis::RedisRateLimiter;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::support::{connection, keys_under, raw, sha256_hex, unique_prefix, unreachable};

fn check(key: &str, limit: u32) -> ThrottleCheck {
    ThrottleCheck {
        key: key.to_owned(),
        limit,
        window_seconds: 60,
    }
}

/// A limiter on a connection of its own, as one server process has.
fn instance(prefix: &str) -> RedisRateLimiter {
    RedisRateLimiter::new(connection(), Arc::new(InProcessLimiter::default())).prefix(prefix)
}

const T0: OffsetDateTime = datetime!(2031-05-06 07:08:09.123 UTC);

fn secs(s: i64) -> OffsetDateTime {
    T0 + Duration::seconds(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_limit() {
    let prefix = unique_prefix("shared");
    let (a, b) = (instance(&prefix), instance(&prefix));
    let login = check("credentials:id:jane", 3);
    let mut answers = Vec::new();
    for i in 0..8 {
        let limiter = if i % 2 == 0 { &a } else { &b };
        answers.push(limiter.hit(&login, T0).await);
    }
    // Each instance's in-process fallback would have allowed 3 on its own (6 in all).
    assert_eq!(
        answers,
        [true, true, true, false, false, false, false, false]
    );
    assert!(a.try_hit(&login, T0).await.is_ok(), "Redis answered");
    // Other keys, and the same key under another prefix, count on their own.
    assert!(a.hit(&check("credentials:id:joe", 3), T0).await);
    assert!(instance(&unique_prefix("other")).hit(&login, T0).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_hits_are_counted_exactly() {
    let prefix = unique_prefix("concurrent");
    let limiters: Vec<Arc<RedisRateLimiter>> =
        (0..4).map(|_| Arc::new(instance(&prefix))).collect();
    let login = check("email:ip:203.0.113.9", 25);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let limiter = limiters[i % limiters.len()].clone();
        let login = login.clone();
        tasks.push(tokio::spawn(async move {
            limiter.try_hit(&login, T0).await.unwrap()
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        if task.await.unwrap() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_start_with_the_first_hit_and_denials_do_not_extend_them() {
    let limiter = instance(&unique_prefix("windows"));
    let login = check("credentials:id:jane", 2);
    let hit = |at: OffsetDateTime| {
        let login = login.clone();
        let limiter = &limiter;
        async move { limiter.try_hit(&login, at).await.unwrap() }
    };
    assert!(hit(secs(0)).await, "the first hit starts the window");
    assert!(hit(secs(30)).await);
    assert!(!hit(secs(31)).await, "over the limit");
    assert!(!hit(secs(59)).await, "still the first window");
    assert!(hit(secs(60)).await, "a new window, from the caller's clock");
    assert!(hit(secs(61)).await);
    for s in [62, 90, 119] {
        assert!(
            !hit(secs(s)).await,
            "denied at {s}s: the window started at 60 s"
        );
    }
    assert!(
        hit(secs(120)).await,
        "denials did not move the window's start"
    );
    // A zero limit allows nothing.
    assert!(!limiter.try_hit(&check("zero", 0), T0).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_hashed_and_expire_after_their_window() {
    let prefix = unique_prefix("hashed");
    let limiter = instance(&prefix);
    let key = "email:id:jane.doe@example.com";
    assert!(limiter.hit(&check(key, 5), OffsetDateTime::now_utc()).await);
    let keys = keys_under(&prefix).await;
    assert_eq!(keys, [format!("{prefix}limit:{}", sha256_hex(key))]);
    assert!(!keys[0].contains("jane"), "{keys:?}");
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert!(
        ttl_ms > 60_000 && ttl_ms <= 120_000,
        "the counter is reclaimed a minute after its window: {ttl_ms} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_falls_back_or_fails_closed() {
    let fallback = Arc::new(InProcessLimiter::default());
    let limiter = RedisRateLimiter::new(unreachable(), fallback.clone());
    let login = check("credentials:id:jane", 1);
    assert!(limiter.try_hit(&login, T0).await.is_err());
    assert!(
        limiter.hit(&login, T0).await,
        "the fallback counts the first hit"
    );
    assert!(!limiter.hit(&login, T0).await, "and refuses the second");
    assert_eq!(fallback.len(), 1, "the fallback held the count");

    let closed = RedisRateLimiter::new(unreachable(), Arc::new(InProcessLimiter::default()))
        .fail_closed(true);
    assert!(!closed.hit(&check("credentials:id:joe", 100), T0).await);
    assert!(!closed.hit(&check("credentials:id:joe", 100), T0).await);
}
