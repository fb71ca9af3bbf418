//! [`SqlOutbox`]: the [`Outbox`] port in the store's SQL database (`portcullis_outbox`,
//! migration 5), shared by every server instance on it.
//!
//! * `enqueue` is one autocommitted `INSERT`: committed when it returns.
//! * `take_due` reads the due rows (`due_ms <= now`, earliest first, through the index on
//!   `due_ms`), then claims each with a compare-and-set `UPDATE … SET due_ms = <lease end>
//!   WHERE id = ? AND due_ms = <as read>`: of several instances taking the same row, exactly
//!   one updates it (the others find `due_ms` changed and skip it), on every dialect
//!   without `FOR UPDATE SKIP LOCKED`.
//! * `ack` deletes the row; `reschedule` sets `attempts` and `due_ms`.
//!
//! Times are Unix milliseconds in `BIGINT` columns, compared as the caller's `now`: the
//! database's clock is never read.

use async_trait::async_trait;
use portcullis_domain::store::StoreError;
use portcullis_ports::{Outbox, OutboxEntry};
use time::OffsetDateTime;

use crate::error::{self, Op};
use crate::sql::Dialect;
use crate::store::{pause, Pools, RETRIES};
use crate::types::DbText;
use crate::SqlStore;

const ENQUEUE: Op = Op::plain("outbox_enqueue", "outbox: the message id is taken");
const TAKE: Op = Op::plain("outbox_take_due", "");
const ACK: Op = Op::plain("outbox_ack", "");
const RESCHEDULE: Op = Op::plain("outbox_reschedule", "");
const COUNT: Op = Op::plain("outbox_count", "");

/// Runs `$body` with `$pool` bound to whichever pool the store has.
macro_rules! on_pool {
    ($pools:expr, |$pool:ident| $body:expr) => {
        match $pools {
            Pools::Postgres($pool) => $body,
            Pools::MySql($pool) => $body,
            Pools::Sqlite($pool) => $body,
        }
    };
}

/// The statements, rendered for one dialect.
#[derive(Debug)]
struct Statements {
    enqueue: String,
    select_due: String,
    claim: String,
    ack: String,
    reschedule: String,
    count: String,
}

impl Statements {
    fn of(d: Dialect) -> Statements {
        Statements {
            enqueue: d.render(
                "INSERT INTO portcullis_outbox (id, payload, attempts, due_ms, created_ms) \
                 VALUES (?, ?, 0, ?, ?)",
            ),
            select_due: d.render(
                "SELECT id, payload, attempts, due_ms FROM portcullis_outbox \
                 WHERE due_ms <= ? ORDER BY due_ms, created_ms, id LIMIT ?",
            ),
            claim: d.render("UPDATE portcullis_outbox SET due_ms = ? WHERE id = ?s AND due_ms = ?"),
            ack: d.render("DELETE FROM portcullis_outbox WHERE id = ?s"),
            reschedule: d
                .render("UPDATE portcullis_outbox SET attempts = ?, due_ms = ? WHERE id = ?s"),
            count: d.render("SELECT COUNT(*) FROM portcullis_outbox"),
        }
    }
}

/// Events waiting for delivery, in the store's database (see the module docs).
///
/// ```no_run
/// # async fn demo() -> Result<(), portcullis_domain::store::StoreError> {
/// use portcullis_store_sql::{SqlOptions, SqlOutbox, SqlStore};
///
/// let store = SqlStore::connect("postgres://app@db.internal/app", SqlOptions::default()).await?;
/// store.migrate().await?; // creates `portcullis_outbox` (migration 5)
/// let outbox = SqlOutbox::new(store.clone()); // shares the store's pool
/// # let _ = outbox; Ok(()) }
/// ```
#[derive(Debug)]
pub struct SqlOutbox {
    store: SqlStore,
    statements: Statements,
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl SqlOutbox {
    /// The outbox in `store`'s database (`portcullis_outbox`).
    pub fn new(store: SqlStore) -> SqlOutbox {
        let statements = Statements::of(store.dialect());
        SqlOutbox { store, statements }
    }

    /// Claims row `id` if its `due_ms` is still `seen`; true if this call did.
    async fn claim(&self, id: &str, seen: i64, lease_ms: i64) -> Result<bool, sqlx::Error> {
        let sql = self.statements.claim.as_str();
        let done = on_pool!(self.store.pools(), |pool| sqlx::query(sql)
            .bind(lease_ms)
            .bind(id)
            .bind(seen)
            .execute(pool)
            .await
            .map(|d| d.rows_affected()))?;
        Ok(done == 1)
    }
}

#[async_trait]
impl Outbox for SqlOutbox {
    async fn enqueue(
        &self,
        id: &str,
        payload: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sql = self.statements.enqueue.as_str();
        let now_ms = millis(now);
        let mut attempt = 0u32;
        loop {
            let result = on_pool!(self.store.pools(), |pool| sqlx::query(sql)
                .bind(id)
                .bind(payload)
                .bind(now_ms)
                .bind(now_ms)
                .execute(pool)
                .await
                .map(drop));
            match result {
                // A busy database (SQLite) or a deadlock rolled the insert back: again.
                Err(e) if attempt < RETRIES && error::is_retryable(self.store.dialect(), &e) => {
                    attempt += 1;
                    pause(attempt).await;
                }
                other => return other.map_err(|e| error::map(ENQUEUE, e)),
            }
        }
    }

    async fn take_due(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = self.statements.select_due.as_str();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // `DbText`: MySQL reports binary-collated text as `VARBINARY`/`BLOB`.
        let rows: Vec<(DbText, DbText, i32, i64)> =
            on_pool!(self.store.pools(), |pool| sqlx::query_as(sql)
                .bind(millis(now))
                .bind(limit)
                .fetch_all(pool)
                .await)
            .map_err(|e| error::map(TAKE, e))?;
        let lease_ms = millis(lease_until);
        let mut taken = Vec::with_capacity(rows.len());
        for (DbText(id), DbText(payload), attempts, due_ms) in rows {
            if self
                .claim(&id, due_ms, lease_ms)
                .await
                .map_err(|e| error::map(TAKE, e))?
            {
                taken.push(OutboxEntry {
                    id,
                    payload,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                });
            }
        }
        Ok(taken)
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        let sql = self.statements.ack.as_str();
        on_pool!(self.store.pools(), |pool| sqlx::query(sql)
            .bind(id)
            .execute(pool)
            .await
            .map(drop))
        .map_err(|e| error::map(ACK, e))
    }

    async fn reschedule(
        &self,
        id: &str,
        attempts: u32,
        due: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sql = self.statements.reschedule.as_str();
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        on_pool!(self.store.pools(), |pool| sqlx::query(sql)
            .bind(attempts)
            .bind(millis(due))
            .bind(id)
            .execute(pool)
            .await
            .map(drop))
        .map_err(|e| error::map(RESCHEDULE, e))
    }

    async fn count(&self) -> Result<usize, StoreError> {
        let sql = self.statements.count.as_str();
        let n: i64 = on_pool!(self.store.pools(), |pool| sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await)
        .map_err(|e| error::map(COUNT, e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialect_binds_its_own_placeholders() {
        let pg = Statements::of(Dialect::Postgres);
        assert!(pg.claim.contains("$1") && pg.claim.contains("$3"));
        let my = Statements::of(Dialect::MySql);
        assert!(my.ack.ends_with("id = BINARY ?"), "{}", my.ack);
        let lite = Statements::of(Dialect::Sqlite);
        assert!(!lite.select_due.contains('$'));
    }
}
