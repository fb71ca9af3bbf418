//! The outbox conformance suite: what every [`Outbox`] must do, run unchanged against the
//! memory outbox and each store's.
//!
//! ```rust,ignore
//! portcullis_store_conformance::outbox_conformance_tests!(async {
//!     (SledStore::temporary().unwrap().outbox().unwrap(), ())
//! });
//! ```
//!
//! The expression yields `(outbox, guard)`: the guard (a temporary database, `()`) lives
//! as long as the test.

use std::collections::HashSet;
use std::sync::Arc;

pub use portcullis_ports::Outbox;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

/// Generates the outbox suite as `#[tokio::test]` functions, one per case.
#[macro_export]
macro_rules! outbox_conformance_tests {
    (@case $make:expr; $case:ident) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let (outbox, _guard) = $make.await;
            let outbox: ::std::sync::Arc<dyn $crate::outbox::Outbox> =
                ::std::sync::Arc::new(outbox);
            $crate::outbox::$case(outbox).await;
        }
    };
    ($make:expr $(,)?) => {
        $crate::outbox_conformance_tests!(@case $make; due_messages_are_leased_until_the_lease_ends);
        $crate::outbox_conformance_tests!(@case $make; acked_messages_are_gone);
        $crate::outbox_conformance_tests!(@case $make; rescheduled_messages_come_back_when_due);
        $crate::outbox_conformance_tests!(@case $make; earliest_due_first_and_limited);
        $crate::outbox_conformance_tests!(@case $make; payloads_round_trip);
        $crate::outbox_conformance_tests!(@case $make; concurrent_takers_never_share_a_message);
    };
}

async fn ids(outbox: &Arc<dyn Outbox>, now: OffsetDateTime, limit: usize) -> Vec<String> {
    outbox
        .take_due(now, now + secs(60), limit)
        .await
        .expect("take_due")
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// A taken message is leased: not taken again until the lease ends, then taken again with its
/// attempts unchanged.
pub async fn due_messages_are_leased_until_the_lease_ends(outbox: Arc<dyn Outbox>) {
    outbox.enqueue("msg_a", "{}", T0).await.unwrap();
    outbox.enqueue("msg_b", "{}", T0).await.unwrap();
    assert_eq!(outbox.count().await.unwrap(), 2);
    assert_eq!(ids(&outbox, T0, 10).await, ["msg_a", "msg_b"]);
    // Leased until T0 + 60 s: not taken again before.
    assert!(ids(&outbox, T0 + secs(59), 10).await.is_empty());
    // The lease ran out (a worker died mid-delivery): both come back, attempts unchanged.
    let again = outbox
        .take_due(T0 + secs(60), T0 + secs(120), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|e| e.attempts == 0));
    assert_eq!(outbox.count().await.unwrap(), 2);
}

/// `ack` removes a message for good; acking an unknown id is fine.
pub async fn acked_messages_are_gone(outbox: Arc<dyn Outbox>) {
    outbox.enqueue("msg_a", "{}", T0).await.unwrap();
    outbox.enqueue("msg_b", "{}", T0).await.unwrap();
    assert_eq!(ids(&outbox, T0, 10).await.len(), 2);
    outbox.ack("msg_a").await.unwrap();
    outbox.ack("msg_unknown").await.unwrap();
    assert_eq!(outbox.count().await.unwrap(), 1);
    assert_eq!(ids(&outbox, T0 + secs(3600), 10).await, ["msg_b"]);
}

/// A rescheduled message comes back when due, with the attempts given; a reschedule ends the lease
/// early.
pub async fn rescheduled_messages_come_back_when_due(outbox: Arc<dyn Outbox>) {
    outbox.enqueue("msg_a", "{}", T0).await.unwrap();
    assert_eq!(ids(&outbox, T0, 10).await, ["msg_a"]);
    outbox.reschedule("msg_a", 3, T0 + secs(10)).await.unwrap();
    assert!(ids(&outbox, T0 + secs(9), 10).await.is_empty());
    let back = outbox
        .take_due(T0 + secs(10), T0 + secs(70), 10)
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].id.as_str(), back[0].attempts), ("msg_a", 3));
    // A reschedule sooner than the lease ends it early.
    outbox.reschedule("msg_a", 4, T0 + secs(11)).await.unwrap();
    let back = outbox
        .take_due(T0 + secs(11), T0 + secs(70), 10)
        .await
        .unwrap();
    assert_eq!(back[0].attempts, 4);
}

/// `take_due` takes the earliest due first, and no more than its limit.
pub async fn earliest_due_first_and_limited(outbox: Arc<dyn Outbox>) {
    outbox
        .enqueue("msg_late", "{}", T0 + secs(5))
        .await
        .unwrap();
    outbox.enqueue("msg_early", "{}", T0).await.unwrap();
    outbox
        .enqueue("msg_later", "{}", T0 + secs(9))
        .await
        .unwrap();
    assert_eq!(ids(&outbox, T0, 10).await, ["msg_early"]);
    outbox
        .reschedule("msg_early", 1, T0 + secs(7))
        .await
        .unwrap();
    assert_eq!(ids(&outbox, T0 + secs(8), 1).await, ["msg_late"]);
    assert_eq!(
        ids(&outbox, T0 + secs(9), 10).await,
        ["msg_early", "msg_later"]
    );
}

/// A large, non-ASCII payload comes back byte for byte.
pub async fn payloads_round_trip(outbox: Arc<dyn Outbox>) {
    let big = format!(
        r#"{{"type":"event","data":{{"name":"Zoë 🦀 \"quoted\"","pad":"{}"}}}}"#,
        "x".repeat(20_000)
    );
    outbox.enqueue("msg_big", &big, T0).await.unwrap();
    let taken = outbox.take_due(T0, T0 + secs(60), 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].payload, big);
}

/// Concurrent takers never get the same message, and together get every one.
pub async fn concurrent_takers_never_share_a_message(outbox: Arc<dyn Outbox>) {
    const N: usize = 24;
    for i in 0..N {
        outbox
            .enqueue(&format!("msg_{i:02}"), "{}", T0)
            .await
            .unwrap();
    }
    let takers: Vec<_> = (0..4)
        .map(|_| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = outbox.take_due(T0, T0 + secs(60), 3).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|e| e.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for taker in takers {
        for id in taker.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} was taken twice");
        }
    }
    assert_eq!(seen.len(), N);
}
