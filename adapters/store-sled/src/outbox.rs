//! [`SledOutbox`]: the [`Outbox`] port in the store's sled database, so events recorded
//! before a crash are delivered after it.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `outbox` | message id | `{payload, attempts, due_ms, seq}` (JSON) |
//! | `outbox_due` | `due ‖ seq ‖ id` (big-endian, so keys sort by due time, then age) | empty |
//!
//! `take_due` scans `outbox_due` up to now, so it reads only due messages however many
//! wait. Every change of a message's due time moves its index entry in one transaction
//! with the record; a take claims a message only if its index entry is still the one it
//! read, so concurrent takers never share a message. `enqueue` flushes to disk before it
//! returns; acks and reschedules ride sled's periodic flush (a crash may bring back an
//! acked message: delivery is at least once, and receivers de-duplicate on the id).

use async_trait::async_trait;
use portcullis_domain::store::StoreError;
use portcullis_ports::{Outbox, OutboxEntry};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, Transactional};
use sled::Tree;
use time::OffsetDateTime;

use crate::keys::{backend, decode, encode, from_transaction};
use crate::SledStore;

const OUTBOX: &str = "portcullis.v1.outbox";
const OUTBOX_DUE: &str = "portcullis.v1.outbox_due";

/// The store's outbox. Cloning is cheap and shares the database.
#[derive(Clone)]
pub struct SledOutbox {
    store: SledStore,
    records: Tree,
    due: Tree,
}

impl std::fmt::Debug for SledOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledOutbox").finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    payload: String,
    attempts: u32,
    due_ms: i64,
    seq: u64,
}

impl SledStore {
    /// The outbox kept beside this store's records, in the same database.
    pub fn outbox(&self) -> Result<SledOutbox, StoreError> {
        let tree = |name: &str| {
            self.db
                .open_tree(name)
                .map_err(|e| backend("open tree", &e))
        };
        Ok(SledOutbox {
            store: self.clone(),
            records: tree(OUTBOX)?,
            due: tree(OUTBOX_DUE)?,
        })
    }
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `due ‖ seq ‖ id`; the sign bit of `due` flipped so that the bytes sort as the numbers.
fn due_key(due_ms: i64, seq: u64, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + id.len());
    key.extend_from_slice(&((due_ms as u64) ^ (1 << 63)).to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

type TxError = ConflictableTransactionError<StoreError>;

impl SledOutbox {
    /// Moves message `id` to `due_ms` (and `attempts`, if given) if `check` accepts its
    /// record; returns the record as it was, or `None` (gone, or refused by `check`).
    fn move_due(
        &self,
        id: &str,
        due_ms: i64,
        attempts: Option<u32>,
        check: &dyn Fn(&Record) -> bool,
    ) -> Result<Option<Record>, StoreError> {
        (&self.records, &self.due)
            .transaction(|(records, due)| {
                let Some(bytes) = records.get(id.as_bytes())? else {
                    return Ok(None);
                };
                let old: Record = decode(&bytes, "outbox message").map_err(TxError::Abort)?;
                if !check(&old) {
                    return Ok(None);
                }
                due.remove(due_key(old.due_ms, old.seq, id))?;
                due.insert(due_key(due_ms, old.seq, id), &[][..])?;
                let new = Record {
                    payload: old.payload.clone(),
                    attempts: attempts.unwrap_or(old.attempts),
                    due_ms,
                    seq: old.seq,
                };
                records.insert(
                    id.as_bytes(),
                    encode(&new, "outbox message").map_err(TxError::Abort)?,
                )?;
                Ok(Some(old))
            })
            .map_err(|e| from_transaction("outbox", e))
    }
}

#[async_trait]
impl Outbox for SledOutbox {
    async fn enqueue(
        &self,
        id: &str,
        payload: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let seq = self
            .store
            .db
            .generate_id()
            .map_err(|e| backend("generate id", &e))?;
        let record = Record {
            payload: payload.to_owned(),
            attempts: 0,
            due_ms: millis(now),
            seq,
        };
        let value = encode(&record, "outbox message")?;
        (&self.records, &self.due)
            .transaction(|(records, due)| {
                if records.get(id.as_bytes())?.is_some() {
                    return Err(TxError::Abort(StoreError::Conflict(
                        "outbox: the message id is taken".to_owned(),
                    )));
                }
                records.insert(id.as_bytes(), value.as_slice())?;
                due.insert(due_key(record.due_ms, seq, id), &[][..])?;
                Ok(())
            })
            .map_err(|e| from_transaction("outbox enqueue", e))?;
        // Durable before the caller's response goes out.
        self.store.flush().await
    }

    async fn take_due(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let now_ms = millis(now);
        let lease_ms = millis(lease_until);
        let end = due_key(now_ms.saturating_add(1), 0, "");
        let mut taken = Vec::new();
        for key in self.due.range(..end).keys() {
            if taken.len() >= limit {
                break;
            }
            let key = key.map_err(|e| backend("outbox scan", &e))?;
            let Some(id) = key.get(16..).and_then(|id| std::str::from_utf8(id).ok()) else {
                continue;
            };
            let key_bytes = key.to_vec();
            // Claimed only if nobody moved it since the scan read its index entry.
            let still_there = |r: &Record| due_key(r.due_ms, r.seq, id) == key_bytes;
            if let Some(old) = self.move_due(id, lease_ms, None, &still_there)? {
                taken.push(OutboxEntry {
                    id: id.to_owned(),
                    payload: old.payload,
                    attempts: old.attempts,
                });
            }
        }
        Ok(taken)
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        (&self.records, &self.due)
            .transaction(|(records, due)| {
                if let Some(bytes) = records.remove(id.as_bytes())? {
                    let old: Record = decode(&bytes, "outbox message").map_err(TxError::Abort)?;
                    due.remove(due_key(old.due_ms, old.seq, id))?;
                }
                Ok(())
            })
            .map_err(|e| from_transaction("outbox ack", e))
    }

    async fn reschedule(
        &self,
        id: &str,
        attempts: u32,
        due: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.move_due(id, millis(due), Some(attempts), &|_| true)
            .map(drop)
    }

    async fn count(&self) -> Result<usize, StoreError> {
        Ok(self.records.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_sort_by_time_then_age() {
        let keys = [
            due_key(-5, 9, "z"),
            due_key(0, 1, "b"),
            due_key(0, 2, "a"),
            due_key(1_900_000_000_000, 0, "a"),
        ];
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
    }
}
