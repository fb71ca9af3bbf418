//! Pool size and timeouts.

use std::time::Duration;

/// How [`SqlStore::connect`](crate::SqlStore::connect) sizes its pool and bounds waits.
///
/// ```
/// use std::time::Duration;
/// use portcullis_store_sql::SqlOptions;
///
/// let options = SqlOptions {
///     max_connections: 20,
///     statement_timeout: Some(Duration::from_secs(5)),
///     ..SqlOptions::default()
/// };
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlOptions {
    /// Most connections the pool keeps open at once. Default 10.
    pub max_connections: u32,
    /// Connections kept open while idle. Default 0.
    pub min_connections: u32,
    /// How long an operation waits for a pooled connection (including connecting to the
    /// server) before it fails. Default 10 s.
    pub acquire_timeout: Duration,
    /// Longest one statement may run before the server cancels it: PostgreSQL
    /// `statement_timeout`, MariaDB `max_statement_time`, MySQL `max_execution_time`
    /// (which bounds SELECTs only). SQLite has no such limit: there it is how long a
    /// statement waits for a database another connection is writing (`busy_timeout`).
    /// `None` keeps the server's setting (SQLite: 5 s). Default 30 s.
    pub statement_timeout: Option<Duration>,
    /// Connections idle this long are closed. Default 10 min.
    pub idle_timeout: Option<Duration>,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(600)),
        }
    }
}
