//! Migrations: NextAuth.js v3's schema (spec §10.4) per dialect, plus what v3 lacked.
//!
//! Every step is idempotent and additive: tables are created only when missing
//! (`CREATE TABLE IF NOT EXISTS`), columns and indexes only when the catalog shows they
//! are missing (an index v3 or TypeORM created under another name counts), so running
//! `migrate()` on a database v3 created changes nothing v3 relies on. Applied versions are
//! recorded in `portcullis_migrations`; concurrent `migrate()` calls are serialised by a
//! lock (PostgreSQL advisory lock, MySQL `GET_LOCK`, SQLite `BEGIN IMMEDIATE`).

use crate::error::Op;
use crate::sql::Dialect;

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
pub const MIGRATIONS: [Migration; 7] = [
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
    // `portcullis_leases`: who renews a provider account's tokens, until when
    // (`take_lease`), so instances sharing the database spend a refresh token once.
    Migration {
        version: 7,
        name: "leases",
    },
];

pub(crate) const MIGRATE: Op = Op::plain("migrate", "duplicate values");

/// An index the schema needs on one column.
pub(crate) struct Index {
    /// The name to give it when it is missing (v3's name where v3 had one).
    pub(crate) name: &'static str,
    pub(crate) table: &'static str,
    pub(crate) column: &'static str,
    pub(crate) unique: bool,
}

pub(crate) const V3_INDEXES: [Index; 8] = [
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

pub(crate) const SESSIONS_USER_ID: Index = Index {
    name: "sessions_user_id",
    table: "sessions",
    column: "user_id",
    unique: false,
};

pub(crate) const RATE_LIMITS_WINDOW_START: Index = Index {
    name: "portcullis_rate_limits_window_start",
    table: "portcullis_rate_limits",
    column: "window_start",
    unique: false,
};

pub(crate) const OUTBOX_DUE: Index = Index {
    name: "portcullis_outbox_due_ms",
    table: "portcullis_outbox",
    column: "due_ms",
    unique: false,
};

pub(crate) const REVOKED_JWTS_EXPIRES: Index = Index {
    name: "portcullis_revoked_jwts_expires",
    table: "portcullis_revoked_jwts",
    column: "expires",
    unique: false,
};

/// The columns of `portcullis_revoked_jwts` the store reads and writes.
pub(crate) const REVOKED_JWT_COLUMNS: [&str; 2] = ["jti", "expires"];

/// The columns of `portcullis_leases` the store reads and writes.
pub(crate) const LEASE_COLUMNS: [&str; 3] = ["lease_key", "holder", "until_ms"];

/// The columns of `portcullis_outbox` the outbox reads and writes.
pub(crate) const OUTBOX_COLUMNS: [&str; 5] = ["id", "payload", "attempts", "due_ms", "created_ms"];

/// The columns of `portcullis_rate_limits` the limiter reads and writes.
pub(crate) const RATE_LIMIT_COLUMNS: [&str; 3] = ["key", "window_start", "count"];

/// The columns every table must have for the store to work (v3's, then ours).
pub(crate) const REQUIRED_COLUMNS: [(&str, &[&str]); 4] = [
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
pub(crate) struct Types {
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

/// Leases end at `until_ms` (Unix milliseconds): integers compare alike in every dialect.
pub(crate) fn leases_table(d: Dialect, collation: &str) -> String {
    match d {
        Dialect::Postgres => "CREATE TABLE IF NOT EXISTS portcullis_leases (\n  \
             lease_key VARCHAR(255) PRIMARY KEY,\n  holder VARCHAR(255) NOT NULL,\n  \
             until_ms BIGINT NOT NULL\n)"
            .to_owned(),
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS portcullis_leases (\n  \
             lease_key VARCHAR(255) NOT NULL PRIMARY KEY,\n  holder VARCHAR(255) NOT NULL,\n  \
             until_ms BIGINT NOT NULL\n\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
        ),
        Dialect::Sqlite => "CREATE TABLE IF NOT EXISTS portcullis_leases (\n  \
             lease_key VARCHAR(255) PRIMARY KEY NOT NULL,\n  holder VARCHAR(255) NOT NULL,\n  \
             until_ms BIGINT NOT NULL\n)"
            .to_owned(),
    }
}

/// Migration 2's columns: `(name, type)`.
pub(crate) fn token_columns() -> [(&'static str, &'static str); 3] {
    [
        ("token_type", "VARCHAR(255) NULL"),
        ("scope", "TEXT NULL"),
        ("id_token", "TEXT NULL"),
    ]
}

pub(crate) fn migrations_table(d: Dialect) -> String {
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
