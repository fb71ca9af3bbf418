//! [`SqlRateLimiter`]: the [`RateLimiter`] port on the store's database, for several server
//! instances that must share their counters.
//!
//! Fixed windows, as [`InProcessLimiter`](portcullis_ports::InProcessLimiter): a key's
//! window starts with its first hit and lasts `window_seconds`; at most `limit` hits are
//! allowed in it. One row per key in `portcullis_rate_limits` (migration 4):
//! `key` is `hex(sha256(ThrottleCheck::key))` — 64 characters whatever the key's length,
//! and no e-mail address or IP in clear in the table (a pseudonym, not a secret: a known
//! address can be hashed and looked up).
//!
//! Each hit is one atomic upsert, computed from the row as the database holds it when the
//! hit's write lock is granted, so hits from any number of processes are counted exactly:
//!
//! * no row, or the row's window has passed (`window_start <= now - window`): the row
//!   becomes `(now, 1)`;
//! * else, `count <= limit`: `count + 1`;
//! * else (`count` is `limit + 1`): unchanged.
//!
//! The hit is allowed iff the resulting count is `<= limit`. Denied hits therefore count
//! once (the count stops at `limit + 1`, so it never overflows) and never extend the
//! window. Every time compared or stored is the `now` the caller passes; the database's
//! clock is never read. Instances with skewed clocks see windows skewed by as much.
//!
//! Rows whose window ended more than a day ago are deleted, at most 1000 at a time, on
//! the first hit of each limiter and then on every 1000th ([`SqlRateLimiter::sweep`]).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use async_trait::async_trait;
use portcullis_domain::effect::ThrottleCheck;
use portcullis_domain::store::StoreError;
use portcullis_ports::RateLimiter;
use sha2::{Digest, Sha256};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::error::{self, Op};
use crate::sql::Dialect;
use crate::store::{pause, Pools, RETRIES};
use crate::types::Ts;
use crate::SqlStore;

/// One opportunistic sweep per this many hits (per limiter).
const SWEEP_EVERY: u64 = 1000;
/// Most rows one sweep deletes.
const SWEEP_BATCH: i64 = 1000;
/// How long after its window ended a row is kept.
const RETAIN_SECONDS: i64 = 86_400;
/// Comparisons never reach before this (MySQL's `TIMESTAMP` starts here, and SQLite's
/// text timestamps sort only with four-digit years); no row can start earlier.
const FLOOR: OffsetDateTime = datetime!(1970-01-01 00:00:01 UTC);

const HIT: Op = Op::plain("rate_limit", "");
const SWEEP: Op = Op::plain("rate_limit_sweep", "");

/// Rate limits counted in the store's SQL database (`portcullis_rate_limits`, created by
/// [`SqlStore::migrate`]), shared by every server instance on that database.
///
/// ```no_run
/// # async fn demo() -> Result<(), portcullis_domain::store::StoreError> {
/// use std::sync::Arc;
/// use portcullis_store_sql::{SqlOptions, SqlRateLimiter, SqlStore};
///
/// let store = SqlStore::connect("postgres://app@db.internal/app", SqlOptions::default()).await?;
/// store.migrate().await?;
/// let limiter: Arc<dyn portcullis_ports::RateLimiter> =
///     Arc::new(SqlRateLimiter::new(store.clone())); // shares the store's pool
/// # let _ = limiter; Ok(()) }
/// ```
///
/// **Fails open.** When the database cannot answer (down, pool exhausted, table missing
/// because migrations were skipped, a `now` outside MySQL's `TIMESTAMP` range …),
/// [`hit`](RateLimiter::hit) allows the attempt and logs an error (without the key):
/// refusing every sign-in while the database is unavailable would turn a database outage
/// into a full sign-in outage — credentials sign-in with JWT sessions does not otherwise
/// need the database — and e-mail sign-in cannot complete without the database anyway.
/// The price is that attempts are not throttled during the outage; the error log makes it
/// visible. [`try_hit`](SqlRateLimiter::try_hit) returns the error instead.
#[derive(Debug)]
pub struct SqlRateLimiter {
    store: SqlStore,
    statements: Statements,
    hits: AtomicU64,
    /// The longest window this limiter has counted, in seconds: rows are swept once this
    /// long plus a day has passed since they started.
    longest_window: AtomicI64,
}

/// The hit and sweep statements of one dialect.
#[derive(Debug)]
struct Statements {
    /// PostgreSQL, SQLite: binds key, now, cutoff, limit; returns the count.
    /// MySQL: binds key, now, cutoff, limit, cutoff, now; returns nothing.
    hit: &'static str,
    /// MySQL only: the count, read in the upsert's transaction.
    count: &'static str,
    /// Binds cutoff, batch size, cutoff (MySQL: cutoff, batch size).
    sweep: &'static str,
}

impl Statements {
    fn of(d: Dialect) -> Statements {
        match d {
            // `ON CONFLICT … DO UPDATE` inserts or locks and updates the current row
            // (never fails on a concurrent insert); every SET expression reads the row
            // as it was before the update.
            Dialect::Postgres => Statements {
                hit: "INSERT INTO portcullis_rate_limits AS r (\"key\", window_start, count) \
                      VALUES ($1, $2, 1) \
                      ON CONFLICT (\"key\") DO UPDATE SET \
                      count = CASE WHEN r.window_start <= $3 THEN 1 \
                                   WHEN r.count > $4 THEN r.count \
                                   ELSE r.count + 1 END, \
                      window_start = CASE WHEN r.window_start <= $3 THEN $2 \
                                          ELSE r.window_start END \
                      RETURNING r.count",
                count: "",
                // The outer `window_start < $1` is re-checked on a row a concurrent hit
                // has just reset, which is then kept.
                sweep: "DELETE FROM portcullis_rate_limits WHERE \"key\" IN \
                        (SELECT \"key\" FROM portcullis_rate_limits \
                         WHERE window_start < $1 LIMIT $2) \
                        AND window_start < $3",
            },
            // Writes are serialised by SQLite's database lock; the upsert is one statement.
            Dialect::Sqlite => Statements {
                hit: "INSERT INTO portcullis_rate_limits (\"key\", window_start, count) \
                      VALUES (?1, ?2, 1) \
                      ON CONFLICT (\"key\") DO UPDATE SET \
                      count = CASE WHEN portcullis_rate_limits.window_start <= ?3 THEN 1 \
                                   WHEN portcullis_rate_limits.count > ?4 \
                                        THEN portcullis_rate_limits.count \
                                   ELSE portcullis_rate_limits.count + 1 END, \
                      window_start = CASE WHEN portcullis_rate_limits.window_start <= ?3 \
                                          THEN ?2 \
                                          ELSE portcullis_rate_limits.window_start END \
                      RETURNING count",
                count: "",
                sweep: "DELETE FROM portcullis_rate_limits WHERE \"key\" IN \
                        (SELECT \"key\" FROM portcullis_rate_limits \
                         WHERE window_start < ?1 LIMIT ?2) \
                        AND window_start < ?3",
            },
            // `ON DUPLICATE KEY UPDATE` takes the row's exclusive lock; the count is read
            // back in the same transaction, under that lock. MySQL evaluates SET
            // assignments left to right, each seeing the previous ones: `count` goes
            // first, so both read the old `window_start`. (`window_start` is set to
            // itself when kept: an explicit assignment also stops any `ON UPDATE
            // CURRENT_TIMESTAMP` a server might have attached.)
            Dialect::MySql => Statements {
                hit: "INSERT INTO portcullis_rate_limits (`key`, window_start, count) \
                      VALUES (?, ?, 1) \
                      ON DUPLICATE KEY UPDATE \
                      count = IF(window_start <= ?, 1, IF(count > ?, count, count + 1)), \
                      window_start = IF(window_start <= ?, ?, window_start)",
                count: "SELECT count FROM portcullis_rate_limits WHERE `key` = ?",
                sweep: "DELETE FROM portcullis_rate_limits WHERE window_start < ? \
                        ORDER BY window_start LIMIT ?",
            },
        }
    }
}

/// The row key: `hex(sha256(key))`.
fn row_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// `at - seconds`, never before [`FLOOR`] (and without overflowing).
fn before(at: OffsetDateTime, seconds: i64) -> OffsetDateTime {
    at.checked_sub(Duration::seconds(seconds))
        .filter(|t| *t > FLOOR)
        .unwrap_or(FLOOR)
}

impl SqlRateLimiter {
    /// A limiter on `store`'s database, sharing its connection pool. The table comes with
    /// [`SqlStore::migrate`] (migration 4, `rate_limits`).
    pub fn new(store: SqlStore) -> SqlRateLimiter {
        let statements = Statements::of(store.dialect());
        SqlRateLimiter {
            store,
            statements,
            hits: AtomicU64::new(0),
            longest_window: AtomicI64::new(0),
        }
    }

    /// [`hit`](RateLimiter::hit) without failing open: counts one attempt at `now` and
    /// says whether it is within the limit, or why the database could not tell.
    pub async fn try_hit(
        &self,
        check: &ThrottleCheck,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let window = check.window_seconds.max(1);
        self.longest_window.fetch_max(window, Ordering::Relaxed);
        let key = row_key(&check.key);
        let start = Ts(now);
        let cutoff = Ts(before(now, window));
        // The count stops at `limit + 1`, which must fit the INT column.
        let limit = i32::try_from(check.limit)
            .unwrap_or(i32::MAX)
            .min(i32::MAX - 1);
        let s = &self.statements;
        let dialect = self.store.dialect();
        let mut attempt = 0u32;
        let count: i32 = loop {
            let result: Result<i32, sqlx::Error> = match self.store.pools() {
                Pools::Postgres(pool) => {
                    sqlx::query_scalar(s.hit)
                        .bind(key.as_str())
                        .bind(start)
                        .bind(cutoff)
                        .bind(limit)
                        .fetch_one(pool)
                        .await
                }
                Pools::Sqlite(pool) => {
                    sqlx::query_scalar(s.hit)
                        .bind(key.as_str())
                        .bind(start)
                        .bind(cutoff)
                        .bind(limit)
                        .fetch_one(pool)
                        .await
                }
                Pools::MySql(pool) => {
                    async {
                        let mut tx = pool.begin().await?;
                        sqlx::query(s.hit)
                            .bind(key.as_str())
                            .bind(start)
                            .bind(cutoff)
                            .bind(limit)
                            .bind(cutoff)
                            .bind(start)
                            .execute(&mut *tx)
                            .await?;
                        let count: i32 = sqlx::query_scalar(s.count)
                            .bind(key.as_str())
                            .fetch_one(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        Ok(count)
                    }
                    .await
                }
            };
            match result {
                // A deadlock or a busy database rolled the whole hit back: run it again.
                Err(e) if attempt < RETRIES && error::is_retryable(dialect, &e) => {
                    attempt += 1;
                    pause(attempt).await;
                }
                other => break other.map_err(|e| error::map(HIT, e))?,
            }
        };
        if self
            .hits
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            if let Err(e) = self.sweep(now).await {
                tracing::warn!(target: "portcullis", error = %e, "rate limiter: sweeping old rows failed");
            }
        }
        Ok(count <= limit)
    }

    /// Deletes up to 1000 rows whose window ended more than a day before `now` (windows
    /// are taken to be at most the longest this limiter has counted); returns how many.
    /// Runs by itself on the first hit and then every 1000th.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let longest = self.longest_window.load(Ordering::Relaxed);
        let cutoff = Ts(before(now, RETAIN_SECONDS.saturating_add(longest)));
        let s = &self.statements;
        let deleted = match self.store.pools() {
            Pools::Postgres(pool) => sqlx::query(s.sweep)
                .bind(cutoff)
                .bind(SWEEP_BATCH)
                .bind(cutoff)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
            Pools::Sqlite(pool) => sqlx::query(s.sweep)
                .bind(cutoff)
                .bind(SWEEP_BATCH)
                .bind(cutoff)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
            Pools::MySql(pool) => sqlx::query(s.sweep)
                .bind(cutoff)
                .bind(SWEEP_BATCH)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
        };
        deleted.map_err(|e| error::map(SWEEP, e))
    }
}

#[async_trait]
impl RateLimiter for SqlRateLimiter {
    /// Fails open: see [`SqlRateLimiter`].
    async fn hit(&self, check: &ThrottleCheck, now: OffsetDateTime) -> bool {
        match self.try_hit(check, now).await {
            Ok(allowed) => allowed,
            Err(e) => {
                // Never the key: it holds an e-mail address or an IP.
                tracing::error!(
                    target: "portcullis",
                    error = %e,
                    limit = check.limit,
                    window_seconds = check.window_seconds,
                    "rate limiter: the database did not answer; allowing the attempt (fail open)"
                );
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sha256_hex() {
        let key = row_key("email:id:jane@example.com");
        assert_eq!(key.len(), 64);
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(
            row_key(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(row_key(&"x".repeat(10_000)).len(), 64);
    }

    #[test]
    fn cutoffs_never_overflow_or_reach_before_1970() {
        let now = datetime!(2024-01-01 00:00 UTC);
        assert_eq!(before(now, 60), datetime!(2023-12-31 23:59 UTC));
        assert_eq!(before(now, i64::MAX), FLOOR);
        assert_eq!(before(now, 100 * 365 * 86_400), FLOOR);
    }

    #[test]
    fn every_dialect_has_its_statements() {
        for d in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
            let s = Statements::of(d);
            assert!(
                s.hit.starts_with("INSERT INTO portcullis_rate_limits"),
                "{d}"
            );
            assert!(
                s.sweep.starts_with("DELETE FROM portcullis_rate_limits"),
                "{d}"
            );
            assert_eq!(s.count.is_empty(), d != Dialect::MySql, "{d}");
        }
    }
}
