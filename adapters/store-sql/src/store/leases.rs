//! Leases on SQL (`portcullis_leases`): two statements, each atomic on its row, so holders
//! in any number of processes get one answer each and one of them the lease.

use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

use super::SqlStore;
use crate::error::Op;

const TAKE_LEASE: Op = Op::plain("take_lease", "");
const RELEASE_LEASE: Op = Op::plain("release_lease", "");

/// Unix milliseconds, as `portcullis_leases.until_ms` keeps them.
fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Inserts the lease if the key has none; else takes it over if it ended at `now`, or
/// extends it if `holder` has it. Of racing holders, one insert wins (the key is the
/// primary key), and an update is granted only while its row still matches, under the
/// row's lock.
pub(super) async fn take_lease(
    store: &SqlStore,
    key: &str,
    holder: &str,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<bool, StoreError> {
    let q = &store.inner.q;
    let (now, until) = (millis(now), millis(until));
    run!(store, TAKE_LEASE, pool => {
        let inserted = sqlx::query(&q.insert_lease)
            .bind(key).bind(holder).bind(until)
            .execute(pool).await?
            .rows_affected();
        if inserted == 1 {
            return Ok(true);
        }
        let renewed = sqlx::query(&q.renew_lease)
            .bind(holder).bind(until).bind(key).bind(now).bind(holder)
            .execute(pool).await?
            .rows_affected();
        Ok(renewed == 1)
    })
}

pub(super) async fn release_lease(
    store: &SqlStore,
    key: &str,
    holder: &str,
) -> Result<(), StoreError> {
    let q = &store.inner.q;
    run!(store, RELEASE_LEASE, pool => {
        sqlx::query(&q.release_lease)
            .bind(key).bind(holder)
            .execute(pool).await.map(|_| ())
    })
}
