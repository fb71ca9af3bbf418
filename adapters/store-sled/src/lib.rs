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

mod outbox;

pub use outbox::SledOutbox;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_domain::model::{
    compound_id, Account, AccountTokens, NewUser, Session, User, VerificationToken,
};
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};
use sled::{Db, Tree};
use time::OffsetDateTime;

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

#[async_trait]
impl Store for SledStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let id = self
            .db
            .generate_id()
            .map_err(|e| backend("generate user id", &e))?
            .to_string();
        let user = user.with_id(id);
        let value = encode(&user, "user")?;
        (&self.users, &self.users_by_email)
            .transaction(|(users, emails)| {
                if users.get(user.id.as_bytes())?.is_some() {
                    return abort(StoreError::Backend(
                        "sled: generated user id is already in use".to_owned(),
                    ));
                }
                if let Some(email) = &user.email {
                    if emails.get(email.as_bytes())?.is_some() {
                        return abort(email_taken());
                    }
                    emails.insert(email.as_bytes(), user.id.as_bytes())?;
                }
                users.insert(user.id.as_bytes(), value.as_slice())?;
                Ok(())
            })
            .map_err(|e| from_transaction("create user", e))?;
        self.durable().await?;
        Ok(user)
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.user_by_id(id.as_bytes())
    }

    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let Some(id) = self
            .users_by_email
            .get(email.as_bytes())
            .map_err(|e| backend("read e-mail index", &e))?
        else {
            return Ok(None);
        };
        let Some(user) = self.user_by_id(&id)? else {
            return Ok(None);
        };
        // The index is kept in step transactionally; check anyway rather than trust it.
        Ok((user.email.as_deref() == Some(email)).then_some(user))
    }

    async fn get_user_by_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<User>, StoreError> {
        match self.account(provider_id, provider_account_id)? {
            Some(account) => self.user_by_id(account.user_id.as_bytes()),
            None => Ok(None),
        }
    }

    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        let value = encode(&user, "user")?;
        let id = user.id.as_bytes();
        (&self.users, &self.users_by_email)
            .transaction(|(users, emails)| {
                let Some(old) = users.get(id)? else {
                    return abort(StoreError::NotFound("user".to_owned()));
                };
                let old: User =
                    decode(&old, "user").map_err(ConflictableTransactionError::Abort)?;
                if old.email != user.email {
                    if let Some(new_email) = &user.email {
                        match emails.get(new_email.as_bytes())? {
                            Some(owner) if owner.as_ref() != id => return abort(email_taken()),
                            _ => {}
                        }
                        emails.insert(new_email.as_bytes(), id)?;
                    }
                    if let Some(old_email) = &old.email {
                        if emails.get(old_email.as_bytes())?.as_deref() == Some(id) {
                            emails.remove(old_email.as_bytes())?;
                        }
                    }
                }
                users.insert(id, value.as_slice())?;
                Ok(())
            })
            .map_err(|e| from_transaction("update user", e))?;
        self.durable().await?;
        Ok(user)
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let prefix_len = length_prefixed(id).len();
        let account_keys = self.index_keys(&self.accounts_by_user, id)?;
        let session_keys = self.index_keys(&self.sessions_by_user, id)?;
        (
            &self.users,
            &self.users_by_email,
            &self.accounts,
            &self.accounts_by_user,
            &self.sessions,
            &self.sessions_by_user,
        )
            .transaction(
                |(users, emails, accounts, accounts_by_user, sessions, sessions_by_user)| {
                    if let Some(old) = users.remove(id.as_bytes())? {
                        // A user record that no longer decodes is deleted all the same; its
                        // e-mail index entry (if any) then stays behind, pointing nowhere,
                        // and `get_user_by_email` reads it as `None`.
                        if let Ok(User {
                            email: Some(email), ..
                        }) = decode::<User>(&old, "user")
                        {
                            if emails.get(email.as_bytes())?.as_deref() == Some(id.as_bytes()) {
                                emails.remove(email.as_bytes())?;
                            }
                        }
                    }
                    // An index entry present inside the transaction means the record is still
                    // this user's (link/unlink/create/delete keep both in step).
                    for key in &account_keys {
                        if accounts_by_user.remove(key)?.is_some() {
                            if let Some(cid) = key.get(prefix_len..) {
                                accounts.remove(cid)?;
                            }
                        }
                    }
                    for key in &session_keys {
                        if sessions_by_user.remove(key)?.is_some() {
                            if let Some(token) = key.get(prefix_len..) {
                                remove_session_of(sessions, token, id)?;
                            }
                        }
                    }
                    Ok(())
                },
            )
            .map_err(|e| from_transaction("delete user", e))?;
        self.durable().await
    }

    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        let value = encode(&account, "account")?;
        let cid = account.compound_id();
        let index_key = index_key(&account.user_id, cid.as_bytes());
        let linked = self
            .db
            .generate_id()
            .map_err(|e| backend("generate link sequence number", &e))?
            .to_be_bytes();
        (&self.users, &self.accounts, &self.accounts_by_user)
            .transaction(|(users, accounts, accounts_by_user)| {
                if let Some(existing) = accounts.get(cid.as_bytes())? {
                    let existing: Account = decode(&existing, "account")
                        .map_err(ConflictableTransactionError::Abort)?;
                    if users.get(existing.user_id.as_bytes())?.is_some() {
                        return abort(StoreError::Conflict(
                            "provider account is already linked".to_owned(),
                        ));
                    }
                    // Orphaned by a delete_user that raced with its linking: replace it.
                    accounts_by_user.remove(index_key_of(&existing.user_id, cid.as_bytes()))?;
                }
                accounts.insert(cid.as_bytes(), value.as_slice())?;
                accounts_by_user.insert(index_key.as_slice(), &linked)?;
                Ok(())
            })
            .map_err(|e| from_transaction("link account", e))?;
        self.durable().await?;
        Ok(account)
    }

    async fn get_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.account(provider_id, provider_account_id)
    }

    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        let prefix_len = length_prefixed(user_id).len();
        let entries = self
            .accounts_by_user
            .scan_prefix(length_prefixed(user_id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| backend("scan index", &e))?;
        let mut accounts = Vec::with_capacity(entries.len());
        for (key, linked) in entries {
            let Some(cid) = key.get(prefix_len..) else {
                continue;
            };
            let Some(bytes) = self
                .accounts
                .get(cid)
                .map_err(|e| backend("read account", &e))?
            else {
                continue;
            };
            let account: Account = decode(&bytes, "account")?;
            // The index is kept in step transactionally; check anyway rather than trust it.
            if account.user_id == user_id {
                accounts.push((linked, account));
            }
        }
        // Big-endian sequence numbers compare as bytes; the scan already ordered ties by key.
        accounts.sort_by(|(a, _), (b, _)| a.cmp(b));
        Ok(accounts.into_iter().map(|(_, account)| account).collect())
    }

    async fn unlink_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<(), StoreError> {
        let cid = compound_id(provider_id, provider_account_id);
        let removed = (&self.accounts, &self.accounts_by_user)
            .transaction(|(accounts, accounts_by_user)| {
                let Some(existing) = accounts.get(cid.as_bytes())? else {
                    return Ok(false);
                };
                let existing: Account =
                    decode(&existing, "account").map_err(ConflictableTransactionError::Abort)?;
                // Same compound id, different pair: that is another account; leave it.
                if !is_pair(&existing, provider_id, provider_account_id) {
                    return Ok(false);
                }
                accounts.remove(cid.as_bytes())?;
                accounts_by_user.remove(index_key_of(&existing.user_id, cid.as_bytes()))?;
                Ok(true)
            })
            .map_err(|e| from_transaction("unlink account", e))?;
        if removed {
            self.durable().await?;
        }
        Ok(())
    }

    async fn update_account_tokens(
        &self,
        provider_id: &str,
        provider_account_id: &str,
        expected_refresh_token: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError> {
        let cid = compound_id(provider_id, provider_account_id);
        // Compare and write in one transaction on the record: a concurrent refresh that
        // committed first changed the refresh token, so this one then reads as lost.
        let updated = self
            .accounts
            .transaction(|accounts| {
                let not_found = || abort(StoreError::NotFound("account".to_owned()));
                let Some(bytes) = accounts.get(cid.as_bytes())? else {
                    return not_found();
                };
                let account: Account =
                    decode(&bytes, "account").map_err(ConflictableTransactionError::Abort)?;
                if !is_pair(&account, provider_id, provider_account_id) {
                    return not_found();
                }
                let stored = account.refresh_token.as_ref().map(|t| t.expose());
                if stored != expected_refresh_token {
                    return Ok(None);
                }
                let account = tokens.clone().apply_to(account);
                let value =
                    encode(&account, "account").map_err(ConflictableTransactionError::Abort)?;
                accounts.insert(cid.as_bytes(), value)?;
                Ok(Some(account))
            })
            .map_err(|e| from_transaction("update account tokens", e))?;
        if updated.is_some() {
            // The provider has retired the old refresh token: a crash must not bring it back.
            self.durable().await?;
        }
        Ok(updated)
    }

    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        let value = encode(&session, "session")?;
        let token = session.session_token.expose().as_bytes();
        let index_key = index_key(&session.user_id, token);
        (&self.sessions, &self.sessions_by_user)
            .transaction(|(sessions, sessions_by_user)| {
                if sessions.get(token)?.is_some() {
                    return abort(StoreError::Conflict(
                        "session token is already in use".to_owned(),
                    ));
                }
                sessions.insert(token, value.as_slice())?;
                sessions_by_user.insert(index_key.as_slice(), &[])?;
                Ok(())
            })
            .map_err(|e| from_transaction("create session", e))?;
        self.durable().await?;
        Ok(session)
    }

    async fn get_session_and_user(
        &self,
        session_keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        // A point read per candidate key (two at most: hashed, raw), first match wins.
        let mut found = None;
        for key in session_keys {
            found = self
                .sessions
                .get(key.as_bytes())
                .map_err(|e| backend("read session", &e))?;
            if found.is_some() {
                break;
            }
        }
        let Some(bytes) = found else {
            return Ok(None);
        };
        let session: Session = decode(&bytes, "session")?;
        Ok(self
            .user_by_id(session.user_id.as_bytes())?
            .map(|user| (session, user)))
    }

    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let token = session_token.as_bytes();
        self.sessions
            .transaction(|sessions| {
                let Some(bytes) = sessions.get(token)? else {
                    return abort(StoreError::NotFound("session".to_owned()));
                };
                let mut session: Session =
                    decode(&bytes, "session").map_err(ConflictableTransactionError::Abort)?;
                session.expires = expires;
                let value =
                    encode(&session, "session").map_err(ConflictableTransactionError::Abort)?;
                sessions.insert(token, value)?;
                Ok(())
            })
            .map_err(|e| from_transaction("update session expiry", e))?;
        self.durable().await
    }

    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError> {
        let token = session_token.as_bytes();
        let removed = (&self.sessions, &self.sessions_by_user)
            .transaction(|(sessions, sessions_by_user)| {
                let Some(old) = sessions.remove(token)? else {
                    return Ok(false);
                };
                // A record that no longer decodes is deleted all the same; its index entry
                // then stays behind and is skipped by `list_sessions`.
                if let Ok(old) = decode::<Session>(&old, "session") {
                    sessions_by_user.remove(index_key_of(&old.user_id, token))?;
                }
                Ok(true)
            })
            .map_err(|e| from_transaction("delete session", e))?;
        if removed {
            self.durable().await?;
        }
        Ok(())
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let prefix_len = length_prefixed(user_id).len();
        let mut sessions = Vec::new();
        for key in self.index_keys(&self.sessions_by_user, user_id)? {
            let Some(token) = key.get(prefix_len..) else {
                continue;
            };
            let Some(bytes) = self
                .sessions
                .get(token)
                .map_err(|e| backend("read session", &e))?
            else {
                continue;
            };
            let session: Session = decode(&bytes, "session")?;
            if session.user_id == user_id {
                sessions.push(session);
            }
        }
        sessions.sort_by_key(|session| session.expires);
        Ok(sessions)
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let prefix_len = length_prefixed(user_id).len();
        let keys = self.index_keys(&self.sessions_by_user, user_id)?;
        let deleted = (&self.sessions, &self.sessions_by_user)
            .transaction(|(sessions, sessions_by_user)| {
                let mut deleted = 0_u64;
                for key in &keys {
                    if sessions_by_user.remove(key)?.is_none() {
                        continue;
                    }
                    if let Some(token) = key.get(prefix_len..) {
                        if remove_session_of(sessions, token, user_id)? {
                            deleted += 1;
                        }
                    }
                }
                Ok(deleted)
            })
            .map_err(|e| from_transaction("delete sessions of a user", e))?;
        if deleted > 0 {
            self.durable().await?;
        }
        Ok(deleted)
    }

    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        let value = encode(&token, "verification token")?;
        self.verification_tokens
            .insert(
                index_key(&token.identifier, token.token_hash.as_bytes()),
                value,
            )
            .map_err(|e| backend("create verification token", &e))?;
        self.durable().await
    }

    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        // One atomic remove: of many concurrent calls, exactly one receives the old value.
        let Some(bytes) = self
            .verification_tokens
            .remove(index_key(identifier, token_hash.as_bytes()))
            .map_err(|e| backend("use verification token", &e))?
        else {
            return Ok(None);
        };
        // Make the use durable before anyone acts on it: a crash must not resurrect it.
        self.durable().await?;
        let token: VerificationToken = decode(&bytes, "verification token")?;
        // The key is built from both parts; check them anyway rather than trust the layout.
        let exact = token.identifier == identifier
            && portcullis_domain::secret::constant_time_eq(
                token.token_hash.as_bytes(),
                token_hash.as_bytes(),
            );
        Ok(exact.then_some(token))
    }

    /// Drops the expired revocations (a scan of the tree; each is removed only if it is
    /// still the value read, so a concurrent revocation of the same `jti` is never
    /// undone), records this one, and returns once that is on disk.
    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = now.unix_timestamp_nanos();
        for entry in self.revoked_jwts.iter() {
            let (key, value) = entry.map_err(|e| backend("scan JWT revocations", &e))?;
            // A value this store could not have written is dropped too: it revokes nothing
            // the store can vouch for.
            let expired = revocation_expiry(&value).is_none_or(|until| until < now);
            if expired {
                // Another value now (revoked again meanwhile): kept.
                let _ = self
                    .revoked_jwts
                    .compare_and_swap(&key, Some(&value), None::<&[u8]>)
                    .map_err(|e| backend("drop an expired JWT revocation", &e))?;
            }
        }
        self.revoked_jwts
            .insert(
                jti.as_bytes(),
                expires.unix_timestamp_nanos().to_be_bytes().as_slice(),
            )
            .map_err(|e| backend("revoke a JWT", &e))?;
        self.durable().await
    }

    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.revoked_jwts
            .contains_key(jti.as_bytes())
            .map_err(|e| backend("read JWT revocations", &e))
    }
}

/// A revocation's expiry (Unix nanoseconds), if the value is one.
fn revocation_expiry(value: &[u8]) -> Option<i128> {
    <[u8; 16]>::try_from(value).ok().map(i128::from_be_bytes)
}

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

/// `s` prefixed with its byte length (big-endian `u64`).
fn length_prefixed(s: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + s.len());
    key.extend_from_slice(&(s.len() as u64).to_be_bytes());
    key.extend_from_slice(s.as_bytes());
    key
}

/// `lp(owner) ‖ suffix`: a per-owner index key.
fn index_key(owner: &str, suffix: &[u8]) -> Vec<u8> {
    let mut key = length_prefixed(owner);
    key.extend_from_slice(suffix);
    key
}

/// [`index_key`] for use inside a transaction, where `insert`/`remove` take owned keys.
fn index_key_of(owner: &str, suffix: &[u8]) -> sled::IVec {
    sled::IVec::from(index_key(owner, suffix))
}

fn is_pair(account: &Account, provider_id: &str, provider_account_id: &str) -> bool {
    account.provider_id == provider_id && account.provider_account_id == provider_account_id
}

/// Inside a transaction: removes the session stored under `token` if it belongs to
/// `user_id` (or no longer decodes: the caller's index says it is this user's).
fn remove_session_of(
    sessions: &TransactionalTree,
    token: &[u8],
    user_id: &str,
) -> Result<bool, ConflictableTransactionError<StoreError>> {
    let Some(bytes) = sessions.get(token)? else {
        return Ok(false);
    };
    match decode::<Session>(&bytes, "session") {
        Ok(session) if session.user_id != user_id => Ok(false),
        _ => {
            sessions.remove(token)?;
            Ok(true)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Encoding and errors
// ---------------------------------------------------------------------------------------

fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| {
        StoreError::Backend(format!(
            "sled: could not encode {what} ({:?})",
            e.classify()
        ))
    })
}

/// Decodes a stored value. The message names the record kind and the position only:
/// serde_json's own message may quote the stored bytes, which can be a secret.
fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError::Decode(format!(
            "stored {what} is not valid ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// A sled failure as a `Backend` error. sled's messages name trees, files and internal
/// positions, never keys or values, so no token reaches the message.
fn backend(operation: &str, error: &sled::Error) -> StoreError {
    StoreError::Backend(format!("sled: {operation}: {error}"))
}

fn from_transaction(operation: &str, error: TransactionError<StoreError>) -> StoreError {
    match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => backend(operation, &error),
    }
}

fn abort<T>(error: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(error))
}

fn email_taken() -> StoreError {
    StoreError::Conflict("e-mail address belongs to another user".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefix_separates_owners() {
        assert_ne!(index_key("1", b"23"), index_key("12", b"3"));
        assert!(!index_key("12", b"x").starts_with(&length_prefixed("1")));
    }

    #[test]
    fn decode_error_does_not_quote_the_stored_value() {
        let secret = "5f3c9b0e1d2a4b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";
        let corrupt = format!(r#"{{"session_token":"{secret}","user_id":1}}"#);
        let error = decode::<Session>(corrupt.as_bytes(), "session")
            .expect_err("a corrupt session must not decode");
        assert!(matches!(error, StoreError::Decode(_)));
        assert!(!error.to_string().contains(secret), "{error}");
    }

    #[test]
    fn debug_does_not_print_contents() {
        let store = SledStore::temporary().unwrap();
        assert_eq!(format!("{store:?}"), "SledStore { .. }");
    }
}
