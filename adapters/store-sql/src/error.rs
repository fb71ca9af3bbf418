//! sqlx errors as [`StoreError`]s, and which of them are worth a retry.
//!
//! Messages never quote a bound value: constraint violations become `Conflict` with a
//! fixed text (MySQL's "Duplicate entry '<value>'" would otherwise print a session token),
//! and the server's own message is kept only for operations that bind no secret.

use portcullis_domain::store::StoreError;
use sqlx::error::ErrorKind;

use crate::Dialect;

/// What an operation is called in error messages, what a unique violation means for it,
/// and whether it binds a secret (session tokens, token hashes, provider tokens).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    pub name: &'static str,
    pub conflict: &'static str,
    pub secret: bool,
}

impl Op {
    pub(crate) const fn plain(name: &'static str, conflict: &'static str) -> Op {
        Op {
            name,
            conflict,
            secret: false,
        }
    }

    pub(crate) const fn secret(name: &'static str, conflict: &'static str) -> Op {
        Op {
            name,
            conflict,
            secret: true,
        }
    }
}

/// Maps an error of `op`.
pub(crate) fn map(op: Op, error: sqlx::Error) -> StoreError {
    let name = op.name;
    match error {
        sqlx::Error::Database(db) => {
            if db.kind() == ErrorKind::UniqueViolation {
                return StoreError::Conflict(op.conflict.to_owned());
            }
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if op.secret {
                StoreError::Backend(format!("{name}: database error {code}"))
            } else {
                StoreError::Backend(format!("{name}: database error {code}: {}", db.message()))
            }
        }
        sqlx::Error::ColumnDecode { index, source } => {
            if op.secret {
                StoreError::Decode(format!("{name}: column {index} cannot be read"))
            } else {
                StoreError::Decode(format!("{name}: column {index}: {source}"))
            }
        }
        sqlx::Error::Decode(source) => {
            if op.secret {
                StoreError::Decode(format!("{name}: a value cannot be read"))
            } else {
                StoreError::Decode(format!("{name}: {source}"))
            }
        }
        sqlx::Error::ColumnNotFound(column) => StoreError::Decode(format!(
            "{name}: no column {column} (run `portcullis migrate`)"
        )),
        // Our own codecs' messages (a timestamp out of range); they quote no string.
        sqlx::Error::Encode(source) => StoreError::Backend(format!("{name}: {source}")),
        sqlx::Error::PoolTimedOut => StoreError::Backend(format!(
            "{name}: timed out waiting for a database connection"
        )),
        // I/O, TLS, protocol, pool closed …: these say nothing about bound values.
        other => StoreError::Backend(format!("{name}: {other}")),
    }
}

/// A transient failure that the same operation, run again, may not meet: a deadlock or
/// serialization failure (PostgreSQL, MySQL/MariaDB), a busy or locked SQLite database.
pub(crate) fn is_retryable(dialect: Dialect, error: &sqlx::Error) -> bool {
    let Some(db) = error.as_database_error() else {
        return false;
    };
    let Some(code) = db.code() else {
        return false;
    };
    match dialect {
        // SQLSTATE: serialization failure, deadlock (MySQL reports deadlocks as 40001).
        Dialect::Postgres | Dialect::MySql => matches!(code.as_ref(), "40001" | "40P01"),
        // Extended result codes: SQLITE_BUSY (5) and SQLITE_LOCKED (6) with their variants.
        Dialect::Sqlite => code
            .parse::<i32>()
            .map(|extended| matches!(extended & 0xff, 5 | 6))
            .unwrap_or(false),
    }
}
