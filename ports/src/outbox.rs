//! The outbox port: messages recorded now and delivered later, by a background worker, at
//! least once (the events of `[hooks.events]`).
//!
//! A message is enqueued due at once; a worker takes the due ones with a lease (so another
//! worker, or the same one's next pass, does not take them while they are in flight),
//! tries to deliver each, then acks it (gone) or reschedules it (a later attempt). A worker
//! that dies mid-delivery leaves its messages leased; they come back when the lease ends.
//!
//! Implementations: [`MemoryOutbox`] (bounded, lost on restart), the sled and SQL stores'
//! outboxes (durable: `enqueue` returns once the message is on disk or committed).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

/// One message held in an outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Unique per message, stable across attempts (the receiver de-duplicates on it).
    pub id: String,
    /// What to deliver (JSON text).
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// Messages waiting for delivery. See the module docs.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Records message `id` (unique) due at `now`. A durable outbox returns `Ok` only once
    /// the message would survive a crash.
    async fn enqueue(&self, id: &str, payload: &str, now: OffsetDateTime)
        -> Result<(), StoreError>;

    /// Up to `limit` messages due at `now` (due time at or before it), earliest due first,
    /// each leased until `lease_until`: no take returns them again before then, unless
    /// they are rescheduled sooner.
    async fn take_due(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Message `id` was delivered: forget it. Unknown ids are fine (acked already).
    async fn ack(&self, id: &str) -> Result<(), StoreError>;

    /// Message `id` failed: record `attempts` and make it due again at `due`.
    async fn reschedule(
        &self,
        id: &str,
        attempts: u32,
        due: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// How many messages are held (due, leased or waiting for a retry).
    async fn count(&self) -> Result<usize, StoreError>;
}

#[derive(Debug)]
struct Held {
    entry: OutboxEntry,
    due: OffsetDateTime,
}

/// An outbox in memory, holding at most `capacity` messages: when full, the oldest is
/// dropped to make room, with an error log counting the drops. For a server without a
/// store (`stateless = true`); a restart loses what it holds.
#[derive(Debug)]
pub struct MemoryOutbox {
    capacity: usize,
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    /// In enqueue order.
    held: VecDeque<Held>,
    dropped: u64,
}

impl MemoryOutbox {
    /// An empty outbox holding at most `capacity` messages (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::default(),
        }
    }

    /// Messages dropped so far because the outbox was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // A poisoned lock means a panic elsewhere mid-update; the queue is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn enqueue(
        &self,
        id: &str,
        payload: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.held.iter().any(|h| h.entry.id == id) {
            return Err(StoreError::Conflict(
                "outbox: the message id is taken".into(),
            ));
        }
        while state.held.len() >= self.capacity {
            state.held.pop_front();
            state.dropped += 1;
            tracing::error!(
                target: "portcullis",
                capacity = self.capacity,
                dropped_total = state.dropped,
                "event queue full: dropped the oldest undelivered event"
            );
        }
        state.held.push_back(Held {
            entry: OutboxEntry {
                id: id.to_owned(),
                payload: payload.to_owned(),
                attempts: 0,
            },
            due: now,
        });
        Ok(())
    }

    async fn take_due(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut state = self.lock();
        let mut due: Vec<&mut Held> = state.held.iter_mut().filter(|h| h.due <= now).collect();
        // Stable: equal due times keep enqueue order.
        due.sort_by_key(|h| h.due);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|h| {
                h.due = lease_until;
                h.entry.clone()
            })
            .collect())
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.lock().held.retain(|h| h.entry.id != id);
        Ok(())
    }

    async fn reschedule(
        &self,
        id: &str,
        attempts: u32,
        due: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if let Some(held) = self.lock().held.iter_mut().find(|h| h.entry.id == id) {
            held.entry.attempts = attempts;
            held.due = due;
        }
        Ok(())
    }

    async fn count(&self) -> Result<usize, StoreError> {
        Ok(self.lock().held.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const T0: OffsetDateTime = time::macros::datetime!(2030-01-01 00:00 UTC);

    #[tokio::test]
    async fn when_full_the_oldest_is_dropped_and_counted() {
        let outbox = MemoryOutbox::new(2);
        for id in ["a", "b", "c"] {
            outbox.enqueue(id, id, T0).await.unwrap();
        }
        assert_eq!(outbox.dropped(), 1);
        assert_eq!(outbox.count().await.unwrap(), 2);
        let ids: Vec<String> = outbox
            .take_due(T0, T0 + time::Duration::minutes(1), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, ["b", "c"]);
    }
}
