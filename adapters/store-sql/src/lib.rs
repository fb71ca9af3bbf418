//! # Portcullis SQL store
//!
//! [`SqlStore`] implements the [`Store`](portcullis_ports::Store) port on PostgreSQL,
//! MySQL/MariaDB and SQLite (sqlx), in **NextAuth.js v3's schema** (spec §10.4): a team
//! running v3 points Portcullis at the same database and carries on — same tables, same
//! rows, existing sessions and e-mail links.
//!
//! ```no_run
//! # async fn demo() -> Result<(), portcullis_domain::store::StoreError> {
//! use portcullis_store_sql::{SqlOptions, SqlStore};
//!
//! let store = SqlStore::connect("postgres://app@db.internal/app", SqlOptions::default()).await?;
//! store.migrate().await?; // creates or completes the schema; a no-op when up to date
//! # Ok(()) }
//! ```
//!
//! ## Schema
//!
//! [`SqlStore::migrate`] creates v3's four tables where they are missing — `users`,
//! `accounts`, `sessions`, `verification_requests`, with v3's columns, types per database
//! (PostgreSQL `SERIAL`/`TIMESTAMPTZ`/`VARCHAR(255)`/`TEXT`; MySQL `INT AUTO_INCREMENT`/
//! `TIMESTAMP(6)`; SQLite `datetime`), indexes and unique constraints — and adds, without
//! touching what v3 relies on:
//!
//! * nullable `accounts.token_type`, `accounts.scope`, `accounts.id_token` (v3 dropped them);
//! * an index on `sessions.user_id` (listing and revoking a user's sessions);
//! * `portcullis_migrations`, the applied versions ([`MIGRATIONS`]), and the row
//!   [`UPGRADED_FROM_V3`] (version 0) when the first `migrate` found v3's tables: then
//!   [`Store::upgraded_from_v3`](portcullis_ports::Store::upgraded_from_v3) is true and new
//!   database sessions default to raw tokens, which v3 can still read;
//! * `portcullis_rate_limits` (`key` = `hex(sha256(key))`, `window_start`, `count`, and an
//!   index on `window_start`): the counters of [`SqlRateLimiter`];
//! * `portcullis_outbox` (`id`, `payload`, `attempts`, `due_ms`, `created_ms`, and an index
//!   on `due_ms`): events waiting for delivery, [`SqlOutbox`];
//! * `portcullis_revoked_jwts` (`jti VARCHAR(255)` primary key, `expires` typed as
//!   `sessions.expires`, and an index on `expires`): the JWT sessions signed out until
//!   their tokens expire (`jwt.revocable`,
//!   [`Store::revoke_jwt`](portcullis_ports::Store::revoke_jwt)).
//! * `portcullis_leases` (`lease_key` primary key, `holder`, `until_ms`): who renews a
//!   provider account's tokens until when
//!   ([`Store::take_lease`](portcullis_ports::Store::take_lease)).
//!
//! MySQL tables created by `migrate()` use a binary collation (`utf8mb4_nopad_bin` on
//! MariaDB), so unique e-mail addresses and tokens are byte-exact; tables v3 created keep
//! theirs, and every lookup on them compares bytes (`col = BINARY ?`).
//!
//! ## Mapping
//!
//! * `User.id` is the decimal string of `users.id`; a string that is not a canonical
//!   decimal is the id of no user (`Ok(None)`, never an error).
//! * Accounts are found by v3's `compound_id = hex(sha256(provider_id ":" provider_account_id))`
//!   and then matched on both ids exactly; `compound_id` is unique, so a second link of
//!   the same provider account is `Conflict`. `get_accounts_for_user` reads them through
//!   v3's index on `accounts.user_id`, in link order (`ORDER BY id`: ids are assigned on insert).
//! * `update_account_tokens` is one `UPDATE` whose `WHERE` compares the stored refresh
//!   token with the expected one, NULL-safe (PostgreSQL `IS NOT DISTINCT FROM`, MySQL
//!   `<=> BINARY ?`, SQLite `IS`): of concurrent refreshes from one refresh token exactly
//!   one matches the row.
//! * Sessions are keyed by `session_token`, which holds what the domain decided:
//!   `sha256:<hex>` of the cookie (the default) or, as v3 wrote it, the cookie itself;
//!   `get_session_and_user` is one indexed join matching either candidate key
//!   (`session_token IN (?, ?)`). A session's `created` (when it was signed in, from
//!   the domain's clock) is v3's `created_at`, inserted as given and read back by
//!   `get_session_and_user` and `list_sessions`; a session without one gets the column
//!   default, the database's clock, as v3's rows did.
//! * `revoke_jwt` deletes the revocations whose `expires` is before the caller's `now`,
//!   then inserts the `jti` unless it is there already (PostgreSQL, SQLite:
//!   `ON CONFLICT (jti) DO NOTHING`; MySQL: `ON DUPLICATE KEY UPDATE jti = jti`), each
//!   statement committed before the answer; `is_jwt_revoked` is a primary-key lookup,
//!   byte-exact. A `jti` longer than 255 bytes is a backend error (PostgreSQL, MySQL).
//! * Verification tokens keep the token hash in v3's `token` column;
//!   `use_verification_token` takes a row atomically (PostgreSQL, SQLite:
//!   `DELETE … RETURNING`; MySQL: the `DELETE` whose affected-row count is 1 wins).
//! * Timestamps are UTC with microseconds (PostgreSQL, MySQL) or milliseconds (SQLite,
//!   as the text TypeORM wrote: `YYYY-MM-DD HH:MM:SS.SSS`). MySQL's `TIMESTAMP` holds
//!   1970-01-01 to 2038-01-19 only.
//!
//! ## Rate limits
//!
//! [`SqlRateLimiter`] implements the [`RateLimiter`](portcullis_ports::RateLimiter) port on
//! the same database and pool, so several server instances share one set of counters:
//! one atomic upsert per hit, fixed windows, failing open (with an error logged) when the
//! database cannot answer.
//!
//! Errors never quote a session token, a token hash or a provider token: unique
//! violations are `Conflict` with a fixed message, and the server's message is dropped
//! for operations that bind secrets.

mod error;
mod limit;
mod migrate;
mod options;
mod outbox;
mod schema;
mod sql;
mod store;
mod types;

#[cfg(feature = "test-support")]
pub mod v3_fixture;

pub use limit::SqlRateLimiter;
pub use options::SqlOptions;
pub use outbox::SqlOutbox;
pub use schema::{Migration, MIGRATIONS, UPGRADED_FROM_V3};
pub use sql::Dialect;
pub use store::SqlStore;
