//! Connecting: opening a pool for the database a URL names, with the options given.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis_domain::store::StoreError;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{Inner, Pools, SqlStore};
use crate::options::SqlOptions;
use crate::sql::{Dialect, Queries};

impl SqlStore {
    /// Connects to the database at `url` and checks that it answers. Tables are not
    /// touched: run [`migrate`](SqlStore::migrate) to create or complete the schema.
    ///
    /// URLs: `postgres://` or `postgresql://`; `mysql://` or `mariadb://` (the same
    /// driver); `sqlite://PATH` (a file, created if missing; `sqlite:///abs/path` for an
    /// absolute path). Query parameters are the drivers' own (e.g. `?sslmode=require`,
    /// `?ssl-mode=required`). Errors never quote the URL (it may hold a password).
    pub async fn connect(url: &str, options: SqlOptions) -> Result<SqlStore, StoreError> {
        let url = url.trim();
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        let pool = match scheme.as_deref() {
            Some("postgres" | "postgresql") => {
                Pools::Postgres(connect_postgres(url, &options).await?)
            }
            Some("mysql") => Pools::MySql(connect_mysql(url, &options).await?),
            Some("mariadb") => {
                let rest = &url["mariadb".len()..];
                Pools::MySql(connect_mysql(&format!("mysql{rest}"), &options).await?)
            }
            Some("sqlite") => Pools::Sqlite(connect_sqlite(url, &options).await?),
            _ => {
                return Err(StoreError::Backend(
                    "database URL: expected postgres://, postgresql://, mysql://, mariadb:// \
                     or sqlite://"
                        .to_owned(),
                ))
            }
        };
        let dialect = match pool {
            Pools::Postgres(_) => Dialect::Postgres,
            Pools::MySql(_) => Dialect::MySql,
            Pools::Sqlite(_) => Dialect::Sqlite,
        };
        let store = SqlStore {
            inner: Arc::new(Inner {
                pool,
                q: Queries::new(dialect),
                dialect,
                upgraded_from_v3: AtomicBool::new(false),
            }),
        };
        store.read_origin().await?;
        Ok(store)
    }

    /// Reads whether `migrate` recorded taking this database over from NextAuth v3.
    pub(crate) async fn read_origin(&self) -> Result<(), StoreError> {
        let upgraded = self.recorded_upgrade_from_v3().await?;
        self.inner
            .upgraded_from_v3
            .store(upgraded, Ordering::Relaxed);
        Ok(())
    }

    /// The database this store talks to.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// Closes every connection; operations after this fail.
    pub async fn close(&self) {
        match &self.inner.pool {
            Pools::Postgres(pool) => pool.close().await,
            Pools::MySql(pool) => pool.close().await,
            Pools::Sqlite(pool) => pool.close().await,
        }
    }

    pub(crate) fn pools(&self) -> &Pools {
        &self.inner.pool
    }
}

fn connect_error(what: &str, error: sqlx::Error) -> StoreError {
    let detail = match &error {
        // The driver's message names the URL part at fault, never the URL itself.
        sqlx::Error::Configuration(e) => format!("bad database URL: {e}"),
        sqlx::Error::Database(db) => format!(
            "database error {}: {}",
            db.code().unwrap_or_default(),
            db.message()
        ),
        sqlx::Error::PoolTimedOut => "timed out connecting".to_owned(),
        other => other.to_string(),
    };
    StoreError::Backend(format!("cannot connect to {what}: {detail}"))
}

async fn connect_postgres(url: &str, options: &SqlOptions) -> Result<PgPool, StoreError> {
    let mut connect = PgConnectOptions::from_str(url)
        .map_err(|e| connect_error("PostgreSQL", e))?
        .application_name("portcullis");
    if let Some(timeout) = options.statement_timeout {
        connect = connect.options([("statement_timeout", format!("{}", timeout.as_millis()))]);
    }
    PgPoolOptions::new()
        .max_connections(options.max_connections)
        .min_connections(options.min_connections)
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(options.idle_timeout)
        .connect_with(connect)
        .await
        .map_err(|e| connect_error("PostgreSQL", e))
}

async fn connect_mysql(url: &str, options: &SqlOptions) -> Result<MySqlPool, StoreError> {
    // UTC on the connection: TIMESTAMP columns are converted with the session time zone.
    let connect = MySqlConnectOptions::from_str(url)
        .map_err(|e| connect_error("MySQL/MariaDB", e))?
        .charset("utf8mb4")
        .timezone(Some("+00:00".to_owned()));
    let statement_timeout = options.statement_timeout;
    MySqlPoolOptions::new()
        .max_connections(options.max_connections)
        .min_connections(options.min_connections)
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(options.idle_timeout)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if let Some(timeout) = statement_timeout {
                    set_mysql_statement_timeout(conn, timeout).await?;
                }
                Ok(())
            })
        })
        .connect_with(connect)
        .await
        .map_err(|e| connect_error("MySQL/MariaDB", e))
}

/// MariaDB: `max_statement_time` (seconds, every statement). MySQL: `max_execution_time`
/// (milliseconds, SELECTs only).
async fn set_mysql_statement_timeout(
    conn: &mut sqlx::MySqlConnection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    let seconds = timeout.as_secs_f64();
    let mariadb = sqlx::query("SET SESSION max_statement_time = ?")
        .bind(seconds)
        .execute(&mut *conn)
        .await;
    match mariadb {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(_)) => {
            let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            sqlx::query("SET SESSION max_execution_time = ?")
                .bind(millis)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        }
        Err(other) => Err(other),
    }
}

async fn connect_sqlite(url: &str, options: &SqlOptions) -> Result<SqlitePool, StoreError> {
    let busy = options.statement_timeout.unwrap_or(Duration::from_secs(5));
    let connect = SqliteConnectOptions::from_str(url)
        .map_err(|e| connect_error("SQLite", e))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL (SQLite's compiled-in default, set here so it cannot drift): a commit
        // fsyncs the write-ahead log before it returns, so an acknowledged write survives
        // a crash of the process and of the machine. NORMAL would survive only the former.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(busy);
    SqlitePoolOptions::new()
        .max_connections(options.max_connections)
        .min_connections(options.min_connections)
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(options.idle_timeout)
        .connect_with(connect)
        .await
        .map_err(|e| connect_error("SQLite", e))
}
