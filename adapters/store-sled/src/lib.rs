//! An embedded Portcullis [`Store`] on [sled](https://docs.rs/sled/0.34): users, accounts,
//! sessions and verification tokens in one local database directory, no server needed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), portcullis_ports::StoreError> {
//! use portcullis_ports::Store;
//! use portcullis_store_sled::SledStore;
//!
//! let store = SledStore::open("/var/lib/portcullis/store")?;
//! let user = store.get_user("1").await?;
//! # let _ = user;
//! # Ok(()) }
//! ```
//!
//! # Keyspace
//!
//! Every tree is named `portcullis.v1.<name>`, so a store can share a [`sled::Db`] with
//! the application's own trees ([`SledStore::from_db`]) and a later layout can live beside
//! this one. Values are JSON (`serde_json`); index values are empty, a user id, or a link
//! sequence number.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `users` | user id | `User` |
//! | `users_by_email` | canonical e-mail | user id |
//! | `accounts` | `compound_id(provider_id, provider_account_id)` | `Account` |
//! | `accounts_by_user` | `lp(user_id) ‖ compound_id` | link sequence number |
//! | `sessions` | session token | `Session` |
//! | `sessions_by_user` | `lp(user_id) ‖ session token` | empty |
//! | `verification_tokens` | `lp(identifier) ‖ token_hash` | `VerificationToken` |
//! | `revoked_jwts` | JWT `jti` | its `expires`, Unix nanoseconds as a big-endian `i128` |
//! | `leases` | lease key | its end, Unix nanoseconds as a big-endian `i128`, ‖ holder |
//! | `outbox`, `outbox_due` | events to deliver: see [`SledOutbox`] | |
//!
//! `lp(s)` is `s` prefixed with its length as a big-endian `u64`, so a prefix scan for one
//! user never matches another user whose id starts the same way, and `(identifier,
//! token_hash)` pairs cannot be confused by moving bytes between the two parts.
//!
//! User ids come from [`sled::Db::generate_id`] (monotonic `u64`), rendered in decimal.
//! A link sequence number is another such id, as a big-endian `u64`: it orders a user's
//! accounts by link time. An entry written before link numbers existed is empty and sorts
//! first.
//!
//! v3's `compoundId` joins provider id and provider account id with `:`, so
//! (`a:b`, `c`) and (`a`, `b:c`) share a key. Reads therefore check both fields exactly,
//! and linking the second of two such accounts is refused with `Conflict` (never confused).
//!
//! # Atomicity
//!
//! Every write that keeps two trees in step (record + index) or checks a uniqueness rule
//! runs in one sled transaction over the trees involved. sled runs transactions under a
//! process-wide write lock, so they are serializable with each other and with plain
//! operations: of N concurrent `create_user` calls with one e-mail exactly one commits.
//! [`Store::use_verification_token`] is a single `Tree::remove`, atomic on its own: of N
//! concurrent calls exactly one receives the old value.
//! [`Store::update_account_tokens`] compares the stored refresh token and writes the new
//! tokens in one transaction on the account record: of N concurrent refreshes from one
//! refresh token exactly one commits a change.
//!
//! Reads that need a prefix scan (a user's accounts or sessions) run outside transactions
//! (sled transactions cannot scan), then the writes re-check inside the transaction that
//! each index entry still exists, so a concurrent change is never undone. A record created
//! for a user in the instant that user is deleted may outlive it as an orphan: it reads as
//! `None` (its user is gone), and an orphaned account is replaced, not `Conflict`, when the
//! provider account is linked again.
//!
//! # Durability
//!
//! sled writes to an in-memory log that a background thread writes out every 500 ms, so
//! on its own a `kill -9` loses the last half second of acknowledged writes. Every write
//! method here therefore returns only once its write is on disk: after applying it, it
//! waits for a flush that started after the write (`SledStore::durable`). Concurrent
//! writers share flushes (group commit): while one flush runs, the writers that arrive
//! queue, and the first of them flushes once for all of them. A sign-in, a used link, a
//! signed-out session or a retired refresh token is thus never undone by a crash after
//! the answer left (nor a JWT sign-out under `jwt.revocable`). Reads never wait.
//!
//! # JWT revocations
//!
//! [`Store::revoke_jwt`] first scans `revoked_jwts` and removes each entry whose expiry is
//! before the caller's `now` (compare-and-swap on the value read, so a concurrent
//! revocation of the same `jti` is kept), then inserts the `jti`. Sessions are stored with
//! their `created` (when they were signed in); records written before that field existed
//! read `None`.

mod keys;
mod outbox;
mod store;

pub use outbox::SledOutbox;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis_domain::model::{compound_id, Account, User};
use portcullis_domain::store::StoreError;
use sled::{Db, Tree};

use keys::{backend, decode, is_pair, length_prefixed};

// sled is synchronous, and the async methods below call it directly, without
// `spawn_blocking`. Its operations are B-tree operations on an in-memory page cache;
// writes append to an in-memory log that sled's own background thread writes out, so a
// call returns in microseconds without waiting on the disk. They can wait briefly: every
// operation takes sled's process-wide concurrency lock shared, and a transaction holds it
// exclusively while its closure runs (microseconds: the closures here do no I/O and never
// call the non-transactional API, which would deadlock on that lock); a read of a page
// evicted from the cache touches the disk, rare with sled's 1 GiB default cache and the
// small records kept here. That is the same order of cost as an uncontended mutex, which
// async code takes directly; `spawn_blocking` would add a thread hand-off and owned copies
// of every argument to every call. The one operation that does wait on the disk, the
// explicit flush, goes through `spawn_blocking` (see `SledStore::flush`).

const USERS: &str = "portcullis.v1.users";
const USERS_BY_EMAIL: &str = "portcullis.v1.users_by_email";
const ACCOUNTS: &str = "portcullis.v1.accounts";
const ACCOUNTS_BY_USER: &str = "portcullis.v1.accounts_by_user";
const SESSIONS: &str = "portcullis.v1.sessions";
const SESSIONS_BY_USER: &str = "portcullis.v1.sessions_by_user";
const VERIFICATION_TOKENS: &str = "portcullis.v1.verification_tokens";
const REVOKED_JWTS: &str = "portcullis.v1.revoked_jwts";
const LEASES: &str = "portcullis.v1.leases";

/// A [`Store`] kept in a sled database. Cloning is cheap and shares the database.
#[derive(Clone)]
pub struct SledStore {
    db: Db,
    users: Tree,
    users_by_email: Tree,
    accounts: Tree,
    accounts_by_user: Tree,
    sessions: Tree,
    sessions_by_user: Tree,
    verification_tokens: Tree,
    revoked_jwts: Tree,
    leases: Tree,
    commits: Arc<GroupCommit>,
    /// The directory's lock file when opened by path; one count per handle (see `close`).
    lock_file: Option<Arc<PathBuf>>,
}

/// How long `close` waits for sled's background threads to release the directory.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared flushes for concurrent writers (see "Durability" in the crate docs).
#[derive(Default)]
struct GroupCommit {
    /// Tickets handed out: a writer takes one once its write is applied in memory.
    written: AtomicU64,
    /// Every write whose ticket is at most this is on disk.
    durable: AtomicU64,
    /// Held while a flush runs; writers arriving meanwhile queue here.
    flushing: tokio::sync::Mutex<()>,
}

// Not derived: sled's `Debug` for a tree prints its nodes, keys and values included,
// which would put session tokens into logs.
impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the database directory at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = sled::open(&path).map_err(|e| backend("open database", &e))?;
        let mut store = Self::from_db(db)?;
        // sled's data file, which carries the directory's advisory lock.
        store.lock_file = Some(Arc::new(path.as_ref().join("db")));
        Ok(store)
    }

    /// A store in a temporary database, removed when the last clone is dropped (tests,
    /// development).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|e| backend("open temporary database", &e))?;
        Self::from_db(db)
    }

    /// A store in an already opened database, beside the application's own trees.
    pub fn from_db(db: Db) -> Result<Self, StoreError> {
        let tree = |name: &str| db.open_tree(name).map_err(|e| backend("open tree", &e));
        Ok(Self {
            users: tree(USERS)?,
            users_by_email: tree(USERS_BY_EMAIL)?,
            accounts: tree(ACCOUNTS)?,
            accounts_by_user: tree(ACCOUNTS_BY_USER)?,
            sessions: tree(SESSIONS)?,
            sessions_by_user: tree(SESSIONS_BY_USER)?,
            verification_tokens: tree(VERIFICATION_TOKENS)?,
            revoked_jwts: tree(REVOKED_JWTS)?,
            leases: tree(LEASES)?,
            commits: Arc::default(),
            lock_file: None,
            db,
        })
    }

    /// Flushes and lets go of the database. When this was the last handle on a directory
    /// opened with [`SledStore::open`], returns once the directory can be opened again.
    ///
    /// Dropping the last handle also flushes, but sled releases the directory's lock from
    /// background I/O threads that can outlive the handle by a moment, so an immediate
    /// reopen in the same process may find it still locked. Here the wait is a blocking
    /// `flock` on the same file, woken by the kernel when the lock goes, bounded by
    /// `CLOSE_TIMEOUT`.
    pub async fn close(self) -> Result<(), StoreError> {
        self.flush().await?;
        let lock_file = self
            .lock_file
            .clone()
            .filter(|file| Arc::strong_count(file) == 2);
        drop(self);
        let Some(lock_file) = lock_file else {
            return Ok(());
        };
        let wait = move || {
            let file = std::fs::File::open(lock_file.as_path())?;
            // Released when `file` drops at the end of this closure.
            fs2::FileExt::lock_exclusive(&file)
        };
        let released = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => tokio::time::timeout(CLOSE_TIMEOUT, runtime.spawn_blocking(wait))
                .await
                .map_err(|_| {
                    StoreError::Backend(
                        "sled: the database is still locked after closing".to_owned(),
                    )
                })?
                .map_err(|_| StoreError::Backend("sled: close task failed".to_owned()))?,
            Err(_) => wait(),
        };
        released.map_err(|e| StoreError::Backend(format!("sled: wait for the database lock: {e}")))
    }

    /// Writes everything written so far to disk; returns once it is durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        // Not `sled::Db::flush_async`: it runs the flush on sled's global I/O thread pool
        // and waits there for log writes queued on that same pool; a few dozen concurrent
        // calls occupy the pool and deadlock it (reproduced with 50 concurrent
        // `use_verification_token` calls; see the `concurrent_revocations_*` test). The
        // blocking `flush` on tokio's blocking pool waits without taking sled's threads.
        // Outside a tokio runtime (another executor) `spawn_blocking` would panic: flush
        // on the calling thread instead.
        let db = self.db.clone();
        let flushed = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn_blocking(move || db.flush())
                .await
                .map_err(|_| StoreError::Backend("sled: flush task failed".to_owned()))?,
            Err(_) => db.flush(),
        };
        flushed.map(drop).map_err(|e| backend("flush", &e))
    }

    /// Returns once every write this caller applied before the call is on disk. Called by
    /// each write method after its write; concurrent callers share one flush.
    async fn durable(&self) -> Result<(), StoreError> {
        let commits = &self.commits;
        let ticket = commits.written.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = commits.flushing.lock().await;
        if commits.durable.load(Ordering::SeqCst) >= ticket {
            // A flush that started after this write finished while we queued.
            return Ok(());
        }
        // Every ticket handed out so far belongs to a write already applied: the flush
        // below covers them all.
        let covered = commits.written.load(Ordering::SeqCst);
        self.flush().await?;
        commits.durable.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }

    fn user_by_id(&self, id: &[u8]) -> Result<Option<User>, StoreError> {
        self.users
            .get(id)
            .map_err(|e| backend("read user", &e))?
            .map(|bytes| decode(&bytes, "user"))
            .transpose()
    }

    /// The account stored under the pair's compound id, if it is exactly this pair.
    fn account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        let Some(bytes) = self
            .accounts
            .get(compound_id(provider_id, provider_account_id))
            .map_err(|e| backend("read account", &e))?
        else {
            return Ok(None);
        };
        let account: Account = decode(&bytes, "account")?;
        Ok(is_pair(&account, provider_id, provider_account_id).then_some(account))
    }

    /// The keys of a per-user index (`accounts_by_user`, `sessions_by_user`) for one user.
    fn index_keys(&self, index: &Tree, user_id: &str) -> Result<Vec<sled::IVec>, StoreError> {
        index
            .scan_prefix(length_prefixed(user_id))
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| backend("scan index", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_contents() {
        let store = SledStore::temporary().unwrap();
        assert_eq!(format!("{store:?}"), "SledStore { .. }");
    }
}
