//! The in-process rate limiter under a flood of distinct keys (issue 11 §5): the cost of
//! one hit, and the counters held, after a million distinct keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// `criterion_group!` defines a public function it cannot document.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use futures::executor::block_on;
use portcullis_domain::effect::ThrottleCheck;
use portcullis_ports::limit::{InProcessLimiter, RateLimiter};
use time::macros::datetime;

const KEYS: u32 = 1_000_000;

fn checks() -> Vec<ThrottleCheck> {
    (0..KEYS)
        .map(|i| ThrottleCheck {
            key: format!(
                "credentials:credentials:ip:10.{}.{}.{}",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            ),
            limit: 50,
            window_seconds: 900,
        })
        .collect()
}

fn limiter(c: &mut Criterion) {
    let now = datetime!(2024-01-01 0:00 UTC);
    let checks = checks();
    let mut group = c.benchmark_group("in_process_limiter");

    // Every hit a new key (the table stays full, generations rotate).
    let flooded = InProcessLimiter::default();
    let mut next = 0usize;
    group.bench_function("hit/1M_distinct_keys", |b| {
        b.iter(|| {
            let check = &checks[next % checks.len()];
            next += 1;
            block_on(flooded.hit(check, now))
        })
    });
    eprintln!(
        "counters held after {next} hits over {KEYS} distinct keys: {} (bound {})",
        flooded.len(),
        InProcessLimiter::MAX_KEYS
    );

    // One key hit again and again (the common case).
    let same = InProcessLimiter::default();
    group.bench_function("hit/same_key", |b| {
        b.iter(|| block_on(same.hit(&checks[0], now)))
    });
    group.finish();
}

criterion_group!(benches, limiter);
criterion_main!(benches);
