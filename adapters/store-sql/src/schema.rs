//! Migrations: NextAuth.js v3's schema (spec §10.4) per dialect, plus what v3 lacked.
//!
//! Every step is idempotent and additive: tables are created only when missing
//! (`CREATE TABLE IF NOT EXISTS`), columns and indexes only when the catalog shows they
//! are missing (an index v3 or TypeORM created under another name counts), so running
//! `migrate()` on a database v3 created changes nothing v3 relies on. Applied versions are
//! recorded in `portcullis_migrations`; concurrent `migrate()` calls are serialised by a
//! lock (PostgreSQL advisory lock, MySQL `GET_LOCK`, SQLite `BEGIN IMMEDIATE`).

use portcullis_domain::store::StoreError;
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;

use crate::error::{self, Op};
use crate::sql::Dialect;
use crate::store::Pools;
use crate::SqlStore;

/// One schema change, applied once per database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Recorded in `portcullis_migrations.version`.
    pub version: i64,
    /// Recorded in `portcullis_migrations.name`.
    pub name: &'static str,
}

/// Not a migration: the row `migrate` adds (version 0) when it found v3's tables already
/// there, i.e. it took over a database NextAuth v3 made. v3 may still be serving such a
/// database, so new database sessions default to raw tokens there
/// (`Store::upgraded_from_v3`, docs/security.md "Data at rest").
pub const UPGRADED_FROM_V3: Migration = Migration {
    version: 0,
    name: "upgraded_from_nextauth_v3",
};

/// Every migration, in the order they apply.
pub const MIGRATIONS: [Migration; 6] = [
    // The four tables of spec §10.4 with their indexes and unique constraints.
    Migration {
        version: 1,
        name: "nextauth_v3_schema",
    },
    // Nullable `accounts.token_type`, `accounts.scope`, `accounts.id_token` (v3 dropped them).
    Migration {
        version: 2,
        name: "account_token_fields",
    },
    // A plain index on `sessions.user_id` (list and revoke a user's sessions).
    Migration {
        version: 3,
        name: "sessions_user_id_index",
    },
    // `portcullis_rate_limits`: the fixed-window counters of `SqlRateLimiter`, with an
    // index on `window_start` for sweeping old rows.
    Migration {
        version: 4,
        name: "rate_limits",
    },
    // `portcullis_outbox`: events waiting for delivery (`SqlOutbox`), with an index on
    // `due_ms` for taking the due ones.
    Migration {
        version: 5,
        name: "outbox",
    },
    // `portcullis_revoked_jwts`: the JWT `jti`s signed out until they expire
    // (`jwt.revocable`), with an index on `expires` for dropping the expired ones.
    Migration {
        version: 6,
        name: "revoked_jwts",
    },
];

const MIGRATE: Op = Op::plain("migrate", "duplicate values");

/// An index the schema needs on one column.
struct Index {
    /// The name to give it when it is missing (v3's name where v3 had one).
    name: &'static str,
    table: &'static str,
    column: &'static str,
    unique: bool,
}

const V3_INDEXES: [Index; 8] = [
    Index {
        name: "compound_id",
        table: "accounts",
        column: "compound_id",
        unique: true,
    },
    Index {
        name: "provider_account_id",
        table: "accounts",
        column: "provider_account_id",
        unique: false,
    },
    Index {
        name: "provider_id",
        table: "accounts",
        column: "provider_id",
        unique: false,
    },
    Index {
        name: "user_id",
        table: "accounts",
        column: "user_id",
        unique: false,
    },
    Index {
        name: "session_token",
        table: "sessions",
        column: "session_token",
        unique: true,
    },
    Index {
        name: "access_token",
        table: "sessions",
        column: "access_token",
        unique: true,
    },
    Index {
        name: "email",
        table: "users",
        column: "email",
        unique: true,
    },
    Index {
        name: "token",
        table: "verification_requests",
        column: "token",
        unique: true,
    },
];

const SESSIONS_USER_ID: Index = Index {
    name: "sessions_user_id",
    table: "sessions",
    column: "user_id",
    unique: false,
};

const RATE_LIMITS_WINDOW_START: Index = Index {
    name: "portcullis_rate_limits_window_start",
    table: "portcullis_rate_limits",
    column: "window_start",
    unique: false,
};

const OUTBOX_DUE: Index = Index {
    name: "portcullis_outbox_due_ms",
    table: "portcullis_outbox",
    column: "due_ms",
    unique: false,
};

const REVOKED_JWTS_EXPIRES: Index = Index {
    name: "portcullis_revoked_jwts_expires",
    table: "portcullis_revoked_jwts",
    column: "expires",
    unique: false,
};

/// The columns of `portcullis_revoked_jwts` the store reads and writes.
const REVOKED_JWT_COLUMNS: [&str; 2] = ["jti", "expires"];

/// The columns of `portcullis_outbox` the outbox reads and writes.
const OUTBOX_COLUMNS: [&str; 5] = ["id", "payload", "attempts", "due_ms", "created_ms"];

/// The columns of `portcullis_rate_limits` the limiter reads and writes.
const RATE_LIMIT_COLUMNS: [&str; 3] = ["key", "window_start", "count"];

/// The columns every table must have for the store to work (v3's, then ours).
const REQUIRED_COLUMNS: [(&str, &[&str]); 4] = [
    (
        "users",
        &[
            "id",
            "name",
            "email",
            "email_verified",
            "image",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "accounts",
        &[
            "id",
            "compound_id",
            "user_id",
            "provider_type",
            "provider_id",
            "provider_account_id",
            "refresh_token",
            "access_token",
            "access_token_expires",
            "created_at",
            "updated_at",
            "token_type",
            "scope",
            "id_token",
        ],
    ),
    (
        "sessions",
        &[
            "id",
            "user_id",
            "expires",
            "session_token",
            "access_token",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "verification_requests",
        &[
            "id",
            "identifier",
            "token",
            "expires",
            "created_at",
            "updated_at",
        ],
    ),
];

/// Column types per dialect.
struct Types {
    id: &'static str,
    ts: &'static str,
    stamp: String,
    image: &'static str,
    suffix: String,
}

impl Types {
    fn of(d: Dialect, collation: &str) -> Types {
        let now = d.now();
        match d {
            Dialect::Postgres => Types {
                id: "id SERIAL PRIMARY KEY",
                ts: "TIMESTAMPTZ",
                stamp: format!("TIMESTAMPTZ NOT NULL DEFAULT {now}"),
                image: "TEXT",
                suffix: String::new(),
            },
            Dialect::MySql => Types {
                id: "id INT NOT NULL AUTO_INCREMENT PRIMARY KEY",
                ts: "TIMESTAMP(6)",
                stamp: format!("TIMESTAMP(6) NOT NULL DEFAULT {now}"),
                image: "VARCHAR(255)",
                suffix: format!(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"),
            },
            Dialect::Sqlite => Types {
                id: "id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL",
                ts: "DATETIME",
                stamp: format!("DATETIME NOT NULL DEFAULT {now}"),
                image: "VARCHAR(255)",
                suffix: String::new(),
            },
        }
    }
}

/// The `CREATE TABLE IF NOT EXISTS` statements of v3's four tables (indexes apart).
/// `collation` is MySQL's table collation (a binary one), ignored elsewhere.
pub(crate) fn v3_tables(d: Dialect, collation: &str) -> [String; 4] {
    let Types {
        id,
        ts,
        stamp,
        image,
        suffix,
    } = Types::of(d, collation);
    [
        format!(
            "CREATE TABLE IF NOT EXISTS users (\n  {id},\n  name VARCHAR(255) NULL,\n  \
             email VARCHAR(255) NULL,\n  email_verified {ts} NULL,\n  image {image} NULL,\n  \
             created_at {stamp},\n  updated_at {stamp}\n){suffix}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS accounts (\n  {id},\n  compound_id VARCHAR(255) NOT NULL,\n  \
             user_id INTEGER NOT NULL,\n  provider_type VARCHAR(255) NOT NULL,\n  \
             provider_id VARCHAR(255) NOT NULL,\n  provider_account_id VARCHAR(255) NOT NULL,\n  \
             refresh_token TEXT NULL,\n  access_token TEXT NULL,\n  \
             access_token_expires {ts} NULL,\n  created_at {stamp},\n  updated_at {stamp}\n){suffix}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS sessions (\n  {id},\n  user_id INTEGER NOT NULL,\n  \
             expires {ts} NOT NULL,\n  session_token VARCHAR(255) NOT NULL,\n  \
             access_token VARCHAR(255) NOT NULL,\n  created_at {stamp},\n  updated_at {stamp}\n){suffix}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS verification_requests (\n  {id},\n  \
             identifier VARCHAR(255) NOT NULL,\n  token VARCHAR(255) NOT NULL,\n  \
             expires {ts} NOT NULL,\n  created_at {stamp},\n  updated_at {stamp}\n){suffix}"
        ),
    ]
}

/// Migration 4's table: one row per throttled key (`sha256(key)` in hex), its window's
/// start and the hits counted in it. `key` is quoted (a reserved word in MySQL); MySQL's
/// table takes the binary collation, so keys compare byte for byte.
pub(crate) fn rate_limits_table(d: Dialect, collation: &str) -> String {
    match d {
        Dialect::Postgres => "CREATE TABLE IF NOT EXISTS portcullis_rate_limits (\n  \
             \"key\" VARCHAR(255) PRIMARY KEY,\n  window_start TIMESTAMPTZ NOT NULL,\n  \
             count INT NOT NULL\n)"
            .to_owned(),
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS portcullis_rate_limits (\n  \
             `key` VARCHAR(255) NOT NULL PRIMARY KEY,\n  window_start TIMESTAMP(6) NOT NULL,\n  \
             count INT NOT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
        ),
        Dialect::Sqlite => "CREATE TABLE IF NOT EXISTS portcullis_rate_limits (\n  \
             \"key\" VARCHAR(255) PRIMARY KEY NOT NULL,\n  window_start DATETIME NOT NULL,\n  \
             count INT NOT NULL\n)"
            .to_owned(),
    }
}

/// Migration 5's table: one row per event waiting for delivery. Times are Unix
/// milliseconds (`BIGINT`), so no dialect's timestamp range or precision matters.
pub(crate) fn outbox_table(d: Dialect, collation: &str) -> String {
    match d {
        Dialect::Postgres => "CREATE TABLE IF NOT EXISTS portcullis_outbox (\n  \
             id VARCHAR(64) PRIMARY KEY,\n  payload TEXT NOT NULL,\n  \
             attempts INT NOT NULL,\n  due_ms BIGINT NOT NULL,\n  created_ms BIGINT NOT NULL\n)"
            .to_owned(),
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS portcullis_outbox (\n  \
             id VARCHAR(64) NOT NULL PRIMARY KEY,\n  payload MEDIUMTEXT NOT NULL,\n  \
             attempts INT NOT NULL,\n  due_ms BIGINT NOT NULL,\n  created_ms BIGINT NOT NULL\n\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
        ),
        Dialect::Sqlite => {
            "CREATE TABLE IF NOT EXISTS portcullis_outbox (\n  \
             id VARCHAR(64) PRIMARY KEY NOT NULL,\n  payload TEXT NOT NULL,\n  \
             attempts INTEGER NOT NULL,\n  due_ms BIGINT NOT NULL,\n  created_ms BIGINT NOT NULL\n)"
                .to_owned()
        }
    }
}

/// Migration 6's table: one row per revoked JWT `jti` (primary key) with the token's
/// expiry, after which the row may be dropped. The expiry has the type of
/// `sessions.expires`; MySQL's table takes the binary collation, so `jti`s compare byte
/// for byte.
pub(crate) fn revoked_jwts_table(d: Dialect, collation: &str) -> String {
    match d {
        Dialect::Postgres => "CREATE TABLE IF NOT EXISTS portcullis_revoked_jwts (\n  \
             jti VARCHAR(255) PRIMARY KEY,\n  expires TIMESTAMPTZ NOT NULL\n)"
            .to_owned(),
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS portcullis_revoked_jwts (\n  \
             jti VARCHAR(255) NOT NULL PRIMARY KEY,\n  expires TIMESTAMP(6) NOT NULL\n\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
        ),
        Dialect::Sqlite => "CREATE TABLE IF NOT EXISTS portcullis_revoked_jwts (\n  \
             jti VARCHAR(255) PRIMARY KEY NOT NULL,\n  expires DATETIME NOT NULL\n)"
            .to_owned(),
    }
}

/// Migration 2's columns: `(name, type)`.
fn token_columns() -> [(&'static str, &'static str); 3] {
    [
        ("token_type", "VARCHAR(255) NULL"),
        ("scope", "TEXT NULL"),
        ("id_token", "TEXT NULL"),
    ]
}

fn migrations_table(d: Dialect) -> String {
    let now = d.now();
    match d {
        Dialect::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS portcullis_migrations (version BIGINT PRIMARY KEY, \
             name VARCHAR(255) NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT {now})"
        ),
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS portcullis_migrations (version BIGINT NOT NULL PRIMARY KEY, \
             name VARCHAR(255) NOT NULL, applied_at TIMESTAMP(6) NOT NULL DEFAULT {now}) \
             ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        ),
        Dialect::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS portcullis_migrations (version INTEGER PRIMARY KEY NOT NULL, \
             name VARCHAR(255) NOT NULL, applied_at DATETIME NOT NULL DEFAULT {now})"
        ),
    }
}

/// An index as the catalog describes it.
#[derive(Debug)]
struct IndexInfo {
    name: String,
    unique: bool,
    /// Partial (a `WHERE`), or on a prefix or an expression: enforces nothing on the
    /// whole column.
    partial: bool,
    columns: Vec<String>,
}

/// The migration connection of one dialect, with the catalog queries each needs.
enum Conn<'a> {
    Pg(&'a mut PgConnection),
    My(&'a mut MySqlConnection),
    Lite(&'a mut SqliteConnection),
}

impl Conn<'_> {
    fn dialect(&self) -> Dialect {
        match self {
            Conn::Pg(_) => Dialect::Postgres,
            Conn::My(_) => Dialect::MySql,
            Conn::Lite(_) => Dialect::Sqlite,
        }
    }

    /// Runs DDL (built from constants only).
    async fn ddl(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Pg(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(|_| ()),
            Conn::My(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(|_| ()),
            Conn::Lite(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(|_| ()),
        }
    }

    async fn columns(&mut self, table: &str) -> Result<Vec<String>, sqlx::Error> {
        match self {
            Conn::Pg(c) => {
                sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await
            }
            Conn::My(c) => {
                sqlx::query_scalar(
                    "SELECT CAST(COLUMN_NAME AS CHAR(64)) FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await
            }
            Conn::Lite(c) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
                    .bind(table)
                    .fetch_all(&mut **c)
                    .await
            }
        }
    }

    async fn indexes(&mut self, table: &str) -> Result<Vec<IndexInfo>, sqlx::Error> {
        // (index, unique, partial, column or None for an expression), in column order.
        let rows: Vec<(String, bool, bool, Option<String>)> = match self {
            Conn::Pg(c) => {
                sqlx::query_as(
                    "SELECT ic.relname::text, ix.indisunique, (ix.indpred IS NOT NULL), \
                            a.attname::text \
                     FROM pg_index ix \
                     JOIN pg_class t ON t.oid = ix.indrelid \
                     JOIN pg_class ic ON ic.oid = ix.indexrelid \
                     JOIN pg_namespace n ON n.oid = t.relnamespace \
                     CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                     LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                     WHERE n.nspname = current_schema() AND t.relname = $1 \
                     ORDER BY ic.relname, k.ord",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await?
            }
            Conn::My(c) => {
                let rows: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
                    "SELECT CAST(INDEX_NAME AS CHAR(64)), CAST(NON_UNIQUE AS SIGNED), \
                            CAST(SUB_PART IS NOT NULL AS SIGNED), CAST(COLUMN_NAME AS CHAR(64)) \
                     FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
                     ORDER BY INDEX_NAME, SEQ_IN_INDEX",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await?;
                rows.into_iter()
                    .map(|(name, non_unique, prefix, column)| {
                        (name, non_unique == 0, prefix != 0, column)
                    })
                    .collect()
            }
            Conn::Lite(c) => {
                let rows: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
                    "SELECT il.name, il.\"unique\", il.partial, ii.name \
                     FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii \
                     ORDER BY il.name, ii.seqno",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await?;
                rows.into_iter()
                    .map(|(name, unique, partial, column)| (name, unique != 0, partial != 0, column))
                    .collect()
            }
        };
        let mut indexes: Vec<IndexInfo> = Vec::new();
        for (name, unique, partial, column) in rows {
            let expression = column.is_none();
            match indexes.last_mut() {
                Some(last) if last.name == name => {
                    last.partial |= expression;
                    last.columns.extend(column);
                }
                _ => indexes.push(IndexInfo {
                    name,
                    unique,
                    partial: partial || expression,
                    columns: column.into_iter().collect(),
                }),
            }
        }
        Ok(indexes)
    }

    /// Whether an index name is free for `table`: PostgreSQL and SQLite share one
    /// namespace per schema, MySQL has one per table.
    async fn name_taken(&mut self, name: &str, table: &str) -> Result<bool, sqlx::Error> {
        let found: Option<i64> =
            match self {
                Conn::Pg(c) => sqlx::query_scalar(
                    "SELECT 1::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relname = $1",
                )
                .bind(name)
                .fetch_optional(&mut **c)
                .await?,
                Conn::My(_) => {
                    let indexes = self.indexes(table).await?;
                    return Ok(indexes.iter().any(|i| i.name.eq_ignore_ascii_case(name)));
                }
                Conn::Lite(c) => {
                    sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE name = ? COLLATE NOCASE")
                        .bind(name)
                        .fetch_optional(&mut **c)
                        .await?
                }
            };
        Ok(found.is_some())
    }

    async fn applied(&mut self) -> Result<Vec<i64>, sqlx::Error> {
        let sql = "SELECT version FROM portcullis_migrations WHERE version > 0 ORDER BY version";
        match self {
            Conn::Pg(c) => sqlx::query_scalar(sql).fetch_all(&mut **c).await,
            Conn::My(c) => sqlx::query_scalar(sql).fetch_all(&mut **c).await,
            Conn::Lite(c) => sqlx::query_scalar(sql).fetch_all(&mut **c).await,
        }
    }

    /// Whether the `UPGRADED_FROM_V3` row is there (false before any migration).
    async fn upgraded_from_v3(&mut self) -> Result<bool, sqlx::Error> {
        if self.columns("portcullis_migrations").await?.is_empty() {
            return Ok(false);
        }
        let sql = "SELECT version FROM portcullis_migrations WHERE version = 0";
        let found: Option<i64> = match self {
            Conn::Pg(c) => sqlx::query_scalar(sql).fetch_optional(&mut **c).await?,
            Conn::My(c) => sqlx::query_scalar(sql).fetch_optional(&mut **c).await?,
            Conn::Lite(c) => sqlx::query_scalar(sql).fetch_optional(&mut **c).await?,
        };
        Ok(found.is_some())
    }

    async fn applied_if_any(&mut self) -> Result<Vec<i64>, sqlx::Error> {
        if self.columns("portcullis_migrations").await?.is_empty() {
            return Ok(Vec::new());
        }
        self.applied().await
    }

    async fn record(&mut self, m: &Migration) -> Result<(), sqlx::Error> {
        let sql = self
            .dialect()
            .render("INSERT INTO portcullis_migrations (version, name) VALUES (?, ?)");
        match self {
            Conn::Pg(c) => sqlx::query(&sql)
                .bind(m.version)
                .bind(m.name)
                .execute(&mut **c)
                .await
                .map(|_| ()),
            Conn::My(c) => sqlx::query(&sql)
                .bind(m.version)
                .bind(m.name)
                .execute(&mut **c)
                .await
                .map(|_| ()),
            Conn::Lite(c) => sqlx::query(&sql)
                .bind(m.version)
                .bind(m.name)
                .execute(&mut **c)
                .await
                .map(|_| ()),
        }
    }

    /// Creates `index` unless an index on exactly that column (unique, if uniqueness is
    /// asked for) exists under any name.
    async fn ensure_index(&mut self, index: &Index) -> Result<(), StoreError> {
        let map = |e| error::map(MIGRATE, e);
        let existing = self.indexes(index.table).await.map_err(map)?;
        let covered = existing.iter().any(|i| {
            !i.partial
                && (i.unique || !index.unique)
                && i.columns.len() == 1
                && i.columns[0].eq_ignore_ascii_case(index.column)
        });
        if covered {
            return Ok(());
        }
        let mut name = index.name.to_owned();
        if self.name_taken(&name, index.table).await.map_err(map)? {
            name = format!("portcullis_{}_{}", index.table, index.column);
        }
        let unique = if index.unique { "UNIQUE " } else { "" };
        let sql = format!(
            "CREATE {unique}INDEX {name} ON {} ({})",
            index.table, index.column
        );
        self.ddl(&sql).await.map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!(
                "migrate: cannot create the unique index on {}.{}: rows share a value",
                index.table, index.column
            )),
            other => map(other),
        })
    }

    async fn apply(&mut self, m: &Migration, collation: &str) -> Result<(), StoreError> {
        let d = self.dialect();
        let map = |e| error::map(MIGRATE, e);
        match m.version {
            1 => {
                // v3's sessions table before we create anything: a database v3 made.
                if !self.columns("sessions").await.map_err(map)?.is_empty() {
                    self.record(&UPGRADED_FROM_V3).await.map_err(map)?;
                }
                for ddl in v3_tables(d, collation) {
                    self.ddl(&ddl).await.map_err(map)?;
                }
                // Tables that existed already must be v3's before they get v3's indexes.
                self.check_columns(false).await?;
                for index in &V3_INDEXES {
                    self.ensure_index(index).await?;
                }
            }
            2 => {
                let present = self.columns("accounts").await.map_err(map)?;
                for (column, ty) in token_columns() {
                    if !present.iter().any(|c| c.eq_ignore_ascii_case(column)) {
                        let sql = format!("ALTER TABLE accounts ADD COLUMN {column} {ty}");
                        self.ddl(&sql).await.map_err(map)?;
                    }
                }
            }
            3 => self.ensure_index(&SESSIONS_USER_ID).await?,
            4 => {
                self.ddl(&rate_limits_table(d, collation))
                    .await
                    .map_err(map)?;
                // A table of that name that existed before must be ours.
                let present = self.columns("portcullis_rate_limits").await.map_err(map)?;
                let missing: Vec<&str> = RATE_LIMIT_COLUMNS
                    .into_iter()
                    .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                    .collect();
                if !missing.is_empty() {
                    return Err(StoreError::Backend(format!(
                        "migrate: table portcullis_rate_limits lacks column(s) {}",
                        missing.join(", ")
                    )));
                }
                self.ensure_index(&RATE_LIMITS_WINDOW_START).await?;
            }
            5 => {
                self.ddl(&outbox_table(d, collation)).await.map_err(map)?;
                let present = self.columns("portcullis_outbox").await.map_err(map)?;
                let missing: Vec<&str> = OUTBOX_COLUMNS
                    .into_iter()
                    .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                    .collect();
                if !missing.is_empty() {
                    return Err(StoreError::Backend(format!(
                        "migrate: table portcullis_outbox lacks column(s) {}",
                        missing.join(", ")
                    )));
                }
                self.ensure_index(&OUTBOX_DUE).await?;
            }
            6 => {
                self.ddl(&revoked_jwts_table(d, collation))
                    .await
                    .map_err(map)?;
                // A table of that name that existed before must be ours.
                let present = self.columns("portcullis_revoked_jwts").await.map_err(map)?;
                let missing: Vec<&str> = REVOKED_JWT_COLUMNS
                    .into_iter()
                    .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                    .collect();
                if !missing.is_empty() {
                    return Err(StoreError::Backend(format!(
                        "migrate: table portcullis_revoked_jwts lacks column(s) {}",
                        missing.join(", ")
                    )));
                }
                self.ensure_index(&REVOKED_JWTS_EXPIRES).await?;
            }
            _ => {}
        }
        self.record(m).await.map_err(map)
    }

    /// Applies what is pending; returns what was applied.
    async fn migrate(&mut self, collation: &str) -> Result<Vec<Migration>, StoreError> {
        let map = |e| error::map(MIGRATE, e);
        let d = self.dialect();
        self.ddl(&migrations_table(d)).await.map_err(map)?;
        let applied = self.applied().await.map_err(map)?;
        let mut done = Vec::new();
        for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            self.apply(m, collation).await?;
            tracing::info!(target: "portcullis", version = m.version, name = m.name, "applied migration");
            done.push(*m);
        }
        self.check_columns(true).await?;
        Ok(done)
    }

    /// Every column the store reads and writes is there (a table that existed before,
    /// in some other shape, is reported rather than half-used).
    async fn check_columns(&mut self, with_additions: bool) -> Result<(), StoreError> {
        let additions: Vec<&str> = token_columns().iter().map(|(c, _)| *c).collect();
        for (table, required) in REQUIRED_COLUMNS {
            let present = self
                .columns(table)
                .await
                .map_err(|e| error::map(MIGRATE, e))?;
            let missing: Vec<&str> = required
                .iter()
                .copied()
                .filter(|c| with_additions || !additions.contains(c))
                .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                .collect();
            if !missing.is_empty() {
                return Err(StoreError::Backend(format!(
                    "migrate: table {table} lacks column(s) {}: it is not NextAuth v3's schema",
                    missing.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// MySQL's binary collation for new tables: byte-exact comparisons and unique indexes,
/// without trailing-space padding where the server has a NO PAD one.
async fn mysql_binary_collation(conn: &mut MySqlConnection) -> Result<String, sqlx::Error> {
    let available: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(COLLATION_NAME AS CHAR(64)) FROM information_schema.COLLATIONS \
         WHERE COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin', 'utf8mb4_bin')",
    )
    .fetch_all(&mut *conn)
    .await?;
    let best = ["utf8mb4_nopad_bin", "utf8mb4_0900_bin"]
        .into_iter()
        .find(|c| available.iter().any(|a| a == c))
        .unwrap_or("utf8mb4_bin");
    Ok(best.to_owned())
}

const PG_LOCK_KEY: i64 = 0x706f_7274_6375_6c6c; // "portcull"
/// MySQL's named locks are server-wide (PostgreSQL's advisory locks are per database):
/// the name carries the database's, hashed to stay within the 64-character limit, so
/// migrations of different databases on one server do not wait for each other.
const MYSQL_GET_LOCK: &str = "SELECT GET_LOCK(CONCAT('portcullis_migrate_', SHA1(DATABASE())), ?)";
const MYSQL_RELEASE_LOCK: &str =
    "SELECT RELEASE_LOCK(CONCAT('portcullis_migrate_', SHA1(DATABASE())))";
const MYSQL_LOCK_WAIT_SECONDS: i64 = 60;

impl SqlStore {
    /// Creates NextAuth v3's schema (spec §10.4) where it is missing and applies
    /// Portcullis's additions; returns the migrations applied now (empty: up to date).
    ///
    /// Safe on a database v3 created: tables that exist are kept, and only missing
    /// nullable columns and missing indexes are added. Fails, naming them, when a table
    /// exists without a column the store needs.
    pub async fn migrate(&self) -> Result<Vec<Migration>, StoreError> {
        let done = self.migrate_locked().await?;
        self.read_origin().await?;
        Ok(done)
    }

    async fn migrate_locked(&self) -> Result<Vec<Migration>, StoreError> {
        let map = |e| error::map(MIGRATE, e);
        match self.pools() {
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(map)?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PG_LOCK_KEY)
                    .execute(&mut *tx)
                    .await
                    .map_err(map)?;
                let done = Conn::Pg(&mut tx).migrate("").await?;
                tx.commit().await.map_err(map)?;
                Ok(done)
            }
            Pools::MySql(pool) => {
                let mut conn = pool.acquire().await.map_err(map)?;
                // A TIMESTAMP NOT NULL without a default must not turn into
                // `DEFAULT CURRENT_TIMESTAMP ON UPDATE …` (old servers' default).
                let _ = sqlx::query("SET SESSION explicit_defaults_for_timestamp = 1")
                    .execute(&mut *conn)
                    .await;
                let locked: Option<i64> = sqlx::query_scalar(MYSQL_GET_LOCK)
                    .bind(MYSQL_LOCK_WAIT_SECONDS)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map)?;
                if locked != Some(1) {
                    return Err(StoreError::Backend(
                        "migrate: another migration holds the lock".to_owned(),
                    ));
                }
                let result = match mysql_binary_collation(&mut conn).await {
                    Ok(collation) => Conn::My(&mut conn).migrate(&collation).await,
                    Err(e) => Err(map(e)),
                };
                let released = sqlx::query(MYSQL_RELEASE_LOCK).execute(&mut *conn).await;
                let done = result?;
                released.map_err(map)?;
                Ok(done)
            }
            Pools::Sqlite(pool) => {
                let mut conn = pool.acquire().await.map_err(map)?;
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(map)?;
                let done = Conn::Lite(&mut tx).migrate("").await?;
                tx.commit().await.map_err(map)?;
                Ok(done)
            }
        }
    }

    /// Whether `migrate` took this database over from NextAuth v3 (it found v3's tables
    /// when it first ran): recorded as [`UPGRADED_FROM_V3`]. Databases migrated before
    /// this record existed read `false`.
    pub async fn recorded_upgrade_from_v3(&self) -> Result<bool, StoreError> {
        let map = |e| error::map(MIGRATE, e);
        match self.pools() {
            Pools::Postgres(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::Pg(&mut c).upgraded_from_v3().await
            }
            Pools::MySql(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::My(&mut c).upgraded_from_v3().await
            }
            Pools::Sqlite(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::Lite(&mut c).upgraded_from_v3().await
            }
        }
        .map_err(map)
    }

    /// The versions recorded in `portcullis_migrations` (empty before the first
    /// [`migrate`](SqlStore::migrate)).
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let map = |e| error::map(MIGRATE, e);
        match self.pools() {
            Pools::Postgres(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::Pg(&mut c).applied_if_any().await
            }
            Pools::MySql(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::My(&mut c).applied_if_any().await
            }
            Pools::Sqlite(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::Lite(&mut c).applied_if_any().await
            }
        }
        .map_err(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_ddl_is_v3s() {
        let [users, accounts, sessions, requests] = v3_tables(Dialect::Postgres, "");
        assert!(users.contains("id SERIAL PRIMARY KEY"));
        assert!(users.contains("image TEXT NULL"));
        assert!(users.contains("email_verified TIMESTAMPTZ NULL"));
        assert!(users.contains("created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP"));
        assert!(accounts.contains("refresh_token TEXT NULL"));
        assert!(accounts.contains("compound_id VARCHAR(255) NOT NULL"));
        assert!(sessions.contains("expires TIMESTAMPTZ NOT NULL"));
        assert!(requests.contains("token VARCHAR(255) NOT NULL"));
    }

    #[test]
    fn mysql_ddl_is_v3s_with_a_binary_collation() {
        let [users, _, sessions, _] = v3_tables(Dialect::MySql, "utf8mb4_nopad_bin");
        assert!(users.contains("id INT NOT NULL AUTO_INCREMENT PRIMARY KEY"));
        assert!(users.contains("image VARCHAR(255) NULL"));
        assert!(users.contains("created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"));
        assert!(sessions.contains("expires TIMESTAMP(6) NOT NULL"));
        assert!(users.ends_with("COLLATE=utf8mb4_nopad_bin"));
    }

    #[test]
    fn sqlite_ddl_uses_datetime() {
        let [users, ..] = v3_tables(Dialect::Sqlite, "");
        assert!(users.contains("id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"));
        assert!(users.contains("email_verified DATETIME NULL"));
    }

    #[test]
    fn rate_limits_ddl_per_dialect() {
        let pg = rate_limits_table(Dialect::Postgres, "");
        assert!(pg.contains("\"key\" VARCHAR(255) PRIMARY KEY"));
        assert!(pg.contains("window_start TIMESTAMPTZ NOT NULL"));
        assert!(pg.contains("count INT NOT NULL"));
        let my = rate_limits_table(Dialect::MySql, "utf8mb4_nopad_bin");
        assert!(my.contains("`key` VARCHAR(255) NOT NULL PRIMARY KEY"));
        assert!(my.contains("window_start TIMESTAMP(6) NOT NULL"));
        assert!(my.ends_with("COLLATE=utf8mb4_nopad_bin"));
        let lite = rate_limits_table(Dialect::Sqlite, "");
        assert!(lite.contains("window_start DATETIME NOT NULL"));
        for ddl in [pg, my, lite] {
            assert!(ddl.starts_with("CREATE TABLE IF NOT EXISTS portcullis_rate_limits"));
        }
    }

    #[test]
    fn revoked_jwts_ddl_per_dialect() {
        let pg = revoked_jwts_table(Dialect::Postgres, "");
        assert!(pg.contains("jti VARCHAR(255) PRIMARY KEY"));
        assert!(pg.contains("expires TIMESTAMPTZ NOT NULL"));
        let my = revoked_jwts_table(Dialect::MySql, "utf8mb4_nopad_bin");
        assert!(my.contains("jti VARCHAR(255) NOT NULL PRIMARY KEY"));
        assert!(my.contains("expires TIMESTAMP(6) NOT NULL"));
        assert!(my.ends_with("COLLATE=utf8mb4_nopad_bin"));
        let lite = revoked_jwts_table(Dialect::Sqlite, "");
        assert!(lite.contains("jti VARCHAR(255) PRIMARY KEY NOT NULL"));
        assert!(lite.contains("expires DATETIME NOT NULL"));
        // The expiry has the type of `sessions.expires` in each dialect.
        for (d, ddl) in [
            (Dialect::Postgres, &pg),
            (Dialect::MySql, &my),
            (Dialect::Sqlite, &lite),
        ] {
            let ts = Types::of(d, "").ts;
            assert!(
                ddl.contains(&format!("expires {ts} NOT NULL")),
                "{d}: {ddl}"
            );
            assert!(ddl.starts_with("CREATE TABLE IF NOT EXISTS portcullis_revoked_jwts"));
        }
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
    }
}
