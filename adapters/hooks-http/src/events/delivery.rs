//! Delivering the outbox through an [`EventSink`], retried with capped exponential backoff
//! and jitter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis_domain::store::StoreError;
use portcullis_ports::{Clock, Outbox, OutboxEntry};
use rand_core::{OsRng, RngCore};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use super::{DeliverySettings, EventSink};

/// Messages one pass takes at once (and sends concurrently).
const BATCH: usize = 16;
/// How long a taken batch stays leased beyond the request timeout: time to ack or
/// reschedule. A worker killed mid-delivery leaves its batch to come back after this.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Retry delays: `initial`, doubling per failed attempt, never more than `max`; each delay
/// is drawn uniformly from its upper half (jitter), so receivers coming back up are not hit
/// by every instance's retries at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failed attempt.
    pub initial: Duration,
    /// The longest delay between attempts.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10 * 60),
        }
    }
}

impl Backoff {
    /// The delay before the attempt after `failed` failures (`failed >= 1`), before jitter.
    pub fn ceiling(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(30);
        self.initial
            .saturating_mul(1u32 << doublings)
            .min(self.max)
            .max(Duration::from_millis(1))
    }

    /// The jittered delay: uniform in `[ceiling / 2, ceiling]`.
    pub fn delay(&self, failed: u32, rng: &mut dyn RngCore) -> Duration {
        let ceiling = self.ceiling(failed);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rng.next_u64() % spread.saturating_add(1))
    }
}

/// What one [`EventDelivery::deliver_due`] pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Events the receiver accepted.
    pub delivered: usize,
    /// Events whose delivery attempt failed in this pass.
    pub failed: usize,
}

/// Takes due events from the outbox and hands them to the sink.
pub struct EventDelivery {
    pub(super) outbox: Arc<dyn Outbox>,
    pub(super) sink: Arc<dyn EventSink>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: DeliverySettings,
}

impl EventDelivery {
    /// Delivers every event due now, batch after batch, until none is due (failures are
    /// rescheduled, so they are not due again in this pass). `stop`, when set, ends the
    /// pass after the batch in flight.
    pub async fn deliver_due(&self) -> Result<Pass, StoreError> {
        self.deliver_due_until(&AtomicBool::new(false)).await
    }

    async fn deliver_due_until(&self, stop: &AtomicBool) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        while !stop.load(Ordering::Relaxed) {
            let now = self.clock.now();
            let lease = self.settings.timeout.saturating_add(LEASE_MARGIN);
            let batch = self.outbox.take_due(now, now + lease, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            let results =
                futures::future::join_all(batch.into_iter().map(|entry| self.deliver(entry))).await;
            for result in results {
                match result? {
                    true => pass.delivered += 1,
                    false => pass.failed += 1,
                }
            }
        }
        Ok(pass)
    }

    /// One attempt; `Ok(true)`: delivered and acked; `Ok(false)`: rescheduled.
    async fn deliver(&self, entry: OutboxEntry) -> Result<bool, StoreError> {
        let failure = match self.send(&entry).await {
            Ok(()) => {
                self.outbox.ack(&entry.id).await?;
                tracing::debug!(target: "portcullis::events", id = %entry.id, "event delivered");
                return Ok(true);
            }
            Err(reason) => reason,
        };
        let attempts = entry.attempts.saturating_add(1);
        let delay = self.settings.backoff.delay(attempts, &mut OsRng);
        let due = self.clock.now() + delay;
        tracing::warn!(
            target: "portcullis::events",
            id = %entry.id,
            url = %self.url_for_logs(),
            attempts,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            %failure,
            "event not delivered; will retry"
        );
        self.outbox.reschedule(&entry.id, attempts, due).await?;
        Ok(false)
    }

    /// One attempt through the sink, bounded by the timeout.
    async fn send(&self, entry: &OutboxEntry) -> Result<(), String> {
        match tokio::time::timeout(self.settings.timeout, self.sink.send(entry)).await {
            Err(_) => Err("timed out".into()),
            Ok(result) => result,
        }
    }

    pub(super) fn url_for_logs(&self) -> &str {
        self.sink.url_for_logs()
    }

    /// Readies the sink before the first pass; a failure only delays delivery.
    async fn prepare(&self) {
        let failure = match tokio::time::timeout(self.settings.timeout, self.sink.prepare()).await {
            Ok(Ok(())) => return,
            Ok(Err(failure)) => failure,
            Err(_) => "timed out".into(),
        };
        tracing::warn!(
            target: "portcullis::events",
            url = %self.url_for_logs(),
            %failure,
            "the event receiver is not reachable yet; events wait in the outbox"
        );
    }

    /// Runs passes in the background: at once when an event is recorded (`wake`), and every
    /// `poll` for retries that have come due. Stops with [`EventWorker::stop`].
    pub fn spawn(self: Arc<Self>, wake: Arc<Notify>, poll: Duration) -> EventWorker {
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = &mut stop_rx => return,
                () = self.prepare() => {}
            }
            loop {
                if let Err(e) = self.deliver_due_until(&flag).await {
                    tracing::error!(target: "portcullis::events", error = %e, "event outbox unreadable; retrying");
                }
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                tokio::select! {
                    _ = &mut stop_rx => return,
                    () = wake.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                }
            }
        });
        EventWorker {
            stop: Some(stop_tx),
            stopping,
            task,
        }
    }
}

/// The background delivery task. Dropping it stops the task at its next await.
#[derive(Debug)]
pub struct EventWorker {
    stop: Option<oneshot::Sender<()>>,
    stopping: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl EventWorker {
    /// Lets the batch in flight finish (acked or rescheduled), then stops. Undelivered
    /// events stay in a durable outbox for the next start.
    pub async fn stop(mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(e) = (&mut self.task).await {
            tracing::error!(target: "portcullis::events", error = %e, "the event worker failed");
        }
    }
}

impl Drop for EventWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore;

    struct Fixed(u64);
    impl RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            self.0 as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(0);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            dest.fill(0);
            Ok(())
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let ceilings: Vec<u128> = (1..=6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1));
        assert_eq!(b.delay(3, &mut Fixed(0)), Duration::from_millis(200));
        assert_eq!(b.delay(3, &mut Fixed(200)), Duration::from_millis(400));
        for n in 1..10 {
            let d = b.delay(n, &mut OsRng);
            assert!(d >= b.ceiling(n) / 2 && d <= b.ceiling(n), "{d:?}");
        }
    }
}
