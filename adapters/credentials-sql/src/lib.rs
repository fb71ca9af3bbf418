//! # Credentials on an existing password table
//!
//! [`PasswordTable`] implements the [`Authorize`] port on a table the operator already has
//! (PostgreSQL, MySQL/MariaDB or SQLite, through sqlx): a configured `SELECT` is run with
//! the submitted username as its one bound parameter (never interpolated), and must return
//! the columns `id`, `name`, `email` and `password_hash` (and optionally `image`), named so
//! or aliased (`SELECT user_id AS id, …`). `id` may be an integer or text; other types
//! (a PostgreSQL `uuid`) are cast in the query (`id::text AS id`).
//!
//! The hash is verified per its scheme ([`Scheme`]): Argon2 (`$argon2id$`, `$argon2i$`,
//! `$argon2d$`), scrypt (`$scrypt$`), PBKDF2 (`$pbkdf2-sha256$`, `$pbkdf2-sha512$`) as PHC
//! strings, and bcrypt (`$2a$`/`$2b$`/`$2y$`, which reads at most 72 bytes of a password).
//! A hash of another scheme, or of one outside `allowed_schemes`, refuses the sign-in and
//! logs why. With `rehash`, a successful sign-in on anything but Argon2id at today's cost
//! rewrites the hash with the configured `UPDATE` (`$1`/`?` the new hash, `$2`/`?` the id).
//!
//! An unknown username is checked against a dummy Argon2id hash of the default cost, so
//! it answers about as slowly as a known one on Argon2id. A database that cannot answer,
//! or a query that does not return the columns, is a logged refusal (never a 500).

mod columns;
mod hash;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_domain::effect::{HookFailure, RequestInfo};
use portcullis_ports::Authorize;
use serde_json::{json, Map, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Decode, Row, Type};
use tokio::sync::Semaphore;

pub use columns::output_columns;
pub use hash::{hash_argon2id, needs_rehash, verify, Scheme};

/// The columns the query must return.
pub const REQUIRED_COLUMNS: [&str; 4] = ["id", "name", "email", "password_hash"];

/// What a [`PasswordTable`] runs and accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The `SELECT`, with the username as its one parameter (`$1` on PostgreSQL, `?` on
    /// MySQL and SQLite).
    pub query: String,
    /// The form field bound to the query. Default `username`.
    pub username_field: String,
    /// The form field holding the password. Always `password`.
    pub password_field: String,
    /// Schemes accepted; a hash of another one refuses the sign-in. Default: all.
    pub allowed_schemes: Vec<Scheme>,
    /// The `UPDATE` run after a sign-in whose hash [`needs_rehash`]; `None`: no rehash.
    pub rehash_update: Option<String>,
}

impl Settings {
    /// Settings for `query` with the defaults: field `username`, every scheme, no rehash.
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            username_field: "username".into(),
            password_field: "password".into(),
            allowed_schemes: Scheme::ALL.to_vec(),
            rehash_update: None,
        }
    }

    /// Refuses a query whose select list lacks a required column (read from its text).
    pub fn check(&self) -> Result<(), String> {
        let names = output_columns(&self.query).map_err(|e| format!("the query {e}"))?;
        let missing: Vec<&str> = REQUIRED_COLUMNS
            .into_iter()
            .filter(|required| !names.iter().any(|n| n.as_deref() == Some(*required)))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the query does not return the column(s) {}: it must return `id`, `name`, \
                 `email` and `password_hash` (alias them: `SELECT user_id AS id, …`)",
                missing.join(", ")
            ));
        }
        if self.username_field.is_empty() {
            return Err("`username_field` is empty".into());
        }
        if self
            .rehash_update
            .as_deref()
            .is_some_and(|u| u.trim().is_empty())
        {
            return Err("`update` is empty".into());
        }
        Ok(())
    }
}

/// How long a sign-in waits for a database connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
enum Pool {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// A password table: the [`Authorize`] backend. Cheap to clone.
#[derive(Clone)]
pub struct PasswordTable {
    pool: Pool,
    settings: Arc<Settings>,
    /// Checked when no row is found, so an unknown user costs what an Argon2id one does.
    dummy_hash: Arc<str>,
    /// Hashing runs on the blocking pool, at most as many at once as there are cores.
    permits: Arc<Semaphore>,
    /// Names the backend in logs (the provider id).
    name: Arc<str>,
}

impl std::fmt::Debug for PasswordTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordTable")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PasswordTable {
    /// Checks `settings` and sets up a pool on `url` (`postgres://`, `postgresql://`,
    /// `mysql://`, `mariadb://` or `sqlite://`) of at most `max_connections`. Nothing
    /// connects until the first sign-in, so this needs no database (and no runtime).
    /// `name` names the backend in logs. The error never repeats the URL.
    pub fn new(
        name: &str,
        url: &str,
        settings: Settings,
        max_connections: u32,
    ) -> Result<Self, String> {
        settings.check()?;
        let url = url.trim();
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        let bad = |e: sqlx::Error| format!("bad database URL: {}", url_error(&e));
        // No idle or lifetime reaper: a lazy pool then spawns no task before it is used.
        let max = max_connections.max(1);
        let pool = match scheme.as_deref() {
            Some("postgres" | "postgresql") => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_lazy_with(PgConnectOptions::from_str(url).map_err(bad)?),
            ),
            Some("mysql" | "mariadb") => {
                let url = format!("mysql{}", &url[url.find(':').unwrap_or(0)..]);
                Pool::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .idle_timeout(None)
                        .max_lifetime(None)
                        .connect_lazy_with(MySqlConnectOptions::from_str(&url).map_err(bad)?),
                )
            }
            Some("sqlite") => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_lazy_with(
                        SqliteConnectOptions::from_str(url)
                            .map_err(bad)?
                            .create_if_missing(false),
                    ),
            ),
            _ => {
                return Err(
                    "the database URL must start with postgres://, postgresql://, \
                            mysql://, mariadb:// or sqlite://"
                        .into(),
                )
            }
        };
        let dummy_hash = hash_argon2id("portcullis-dummy-password")?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            pool,
            settings: Arc::new(settings),
            dummy_hash: dummy_hash.into(),
            permits: Arc::new(Semaphore::new(cores)),
            name: name.into(),
        })
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::MySql(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }

    /// The user's session JSON if `password` is theirs; `None` for anything else.
    pub async fn check(&self, username: &str, password: &str) -> Option<Value> {
        let found = match self.find(username).await {
            Ok(found) => found,
            Err(message) => {
                tracing::error!(
                    target: "portcullis::credentials_sql",
                    provider = %self.name,
                    "sign-in refused: the password table could not be read: {message}"
                );
                return None;
            }
        };
        let Some(row) = found else {
            self.verify_off_thread(Scheme::Argon2id, password, self.dummy_hash.clone())
                .await;
            return None;
        };
        let scheme = Scheme::of(&row.password_hash)
            .filter(|scheme| self.settings.allowed_schemes.contains(scheme));
        let Some(scheme) = scheme else {
            tracing::warn!(
                target: "portcullis::credentials_sql",
                provider = %self.name,
                user_id = %row.id,
                "sign-in refused: the stored password hash is of an unknown or not allowed \
                 scheme (allowed: {})",
                self.allowed_names()
            );
            self.verify_off_thread(Scheme::Argon2id, password, self.dummy_hash.clone())
                .await;
            return None;
        };
        let hash: Arc<str> = row.password_hash.as_str().into();
        if !self.verify_off_thread(scheme, password, hash).await {
            return None;
        }
        if let Some(update) = &self.settings.rehash_update {
            if needs_rehash(scheme, &row.password_hash) {
                self.rehash(update, &row, scheme, password).await;
            }
        }
        Some(json!({
            "id": row.id.to_string(),
            "name": row.name,
            "email": row.email,
            "image": row.image,
        }))
    }

    fn allowed_names(&self) -> String {
        let names: Vec<&str> = self
            .settings
            .allowed_schemes
            .iter()
            .map(|s| s.name())
            .collect();
        names.join(", ")
    }

    async fn verify_off_thread(&self, scheme: Scheme, password: &str, hash: Arc<str>) -> bool {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let ok = verify(scheme, &password, &hash);
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false)
    }

    /// Rewrites the hash as Argon2id; a failure is logged and the sign-in stands.
    async fn rehash(&self, update: &str, row: &Found, from: Scheme, password: &str) {
        let password = password.to_owned();
        let hashed = match self.permits.clone().acquire_owned().await {
            Ok(permit) => tokio::task::spawn_blocking(move || {
                let hashed = hash_argon2id(&password);
                drop(permit);
                hashed
            })
            .await
            .unwrap_or_else(|_| Err("the hashing task did not complete".into())),
            Err(_) => Err("closed".into()),
        };
        let done = match hashed {
            Ok(new_hash) => self.run_update(update, &new_hash, &row.id).await,
            Err(e) => Err(e),
        };
        match done {
            Ok(rows) => tracing::info!(
                target: "portcullis::credentials_sql",
                provider = %self.name,
                user_id = %row.id,
                from = from.name(),
                rows,
                "password hash rewritten as argon2id"
            ),
            Err(message) => tracing::warn!(
                target: "portcullis::credentials_sql",
                provider = %self.name,
                user_id = %row.id,
                "the password hash could not be rewritten as argon2id: {message}"
            ),
        }
    }

    async fn run_update(&self, update: &str, new_hash: &str, id: &Id) -> Result<u64, String> {
        macro_rules! run {
            ($pool:expr) => {{
                let query = sqlx::query(update).bind(new_hash);
                let query = match id {
                    Id::Int(n) => query.bind(*n),
                    Id::Int32(n) => query.bind(*n),
                    Id::Text(text) => query.bind(text.as_str()),
                };
                query
                    .execute($pool)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(|e| db_error(&e))
            }};
        }
        match &self.pool {
            Pool::Postgres(pool) => run!(pool),
            Pool::MySql(pool) => run!(pool),
            Pool::Sqlite(pool) => run!(pool),
        }
    }

    async fn find(&self, username: &str) -> Result<Option<Found>, String> {
        let query = self.settings.query.as_str();
        match &self.pool {
            Pool::Postgres(pool) => fetch(pool, query, username).await,
            Pool::MySql(pool) => fetch(pool, query, username).await,
            Pool::Sqlite(pool) => fetch(pool, query, username).await,
        }
    }
}

/// A user's id as the table holds it, bound back as such by the rehash `UPDATE`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Id {
    Int(i64),
    Int32(i32),
    Text(String),
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Int(n) => write!(f, "{n}"),
            Id::Int32(n) => write!(f, "{n}"),
            Id::Text(text) => f.write_str(text),
        }
    }
}

/// The row of one user.
struct Found {
    id: Id,
    name: Option<String>,
    email: Option<String>,
    image: Option<String>,
    password_hash: String,
}

async fn fetch<'p, DB>(
    pool: &'p sqlx::Pool<DB>,
    query: &str,
    username: &str,
) -> Result<Option<Found>, String>
where
    DB: sqlx::Database,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> i32: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: sqlx::ColumnIndex<DB::Row>,
{
    let row = sqlx::query(query)
        .bind(username)
        .fetch_optional(pool)
        .await
        .map_err(|e| db_error(&e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let text = |column: &str| -> Result<Option<String>, String> {
        row.try_get::<Option<String>, _>(column)
            .map_err(|e| column_error(column, &e))
    };
    let id = if let Ok(Some(n)) = row.try_get::<Option<i64>, _>("id") {
        Id::Int(n)
    } else if let Ok(Some(n)) = row.try_get::<Option<i32>, _>("id") {
        Id::Int32(n)
    } else {
        match text("id")? {
            Some(id) if !id.is_empty() => Id::Text(id),
            _ => return Err("the row's `id` is null or empty".into()),
        }
    };
    let password_hash = text("password_hash")?.unwrap_or_default();
    let image = match row.try_get::<Option<String>, _>("image") {
        Ok(image) => image,
        Err(sqlx::Error::ColumnNotFound(_)) => None,
        Err(e) => return Err(column_error("image", &e)),
    };
    Ok(Some(Found {
        id,
        name: text("name")?,
        email: text("email")?,
        image,
        password_hash,
    }))
}

fn column_error(column: &str, error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::ColumnNotFound(_) => format!("the query returns no `{column}` column"),
        _ => format!("the `{column}` column is not text (cast it in the query)"),
    }
}

/// A database error without the values bound (the username) or returned (the hash).
fn db_error(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => format!(
            "database error {}: {}",
            db.code().unwrap_or_default(),
            db.message()
        ),
        sqlx::Error::PoolTimedOut => "no database connection within 5 s".into(),
        sqlx::Error::Io(e) => format!("database I/O: {e}"),
        sqlx::Error::Tls(e) => format!("database TLS: {e}"),
        sqlx::Error::Configuration(e) => format!("database configuration: {e}"),
        sqlx::Error::Protocol(e) => format!("database protocol: {e}"),
        other => format!("database: {}", kind(other)),
    }
}

fn url_error(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Configuration(e) => e.to_string(),
        other => kind(other).to_owned(),
    }
}

fn kind(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::RowNotFound => "no row",
        sqlx::Error::ColumnDecode { .. } => "a column could not be decoded",
        sqlx::Error::PoolClosed => "the pool is closed",
        _ => "unexpected error",
    }
}

#[async_trait]
impl Authorize for PasswordTable {
    /// Reads the `username_field` and `password` fields; anything missing, empty or not a
    /// string is a failed sign-in.
    async fn authorize(
        &self,
        credentials: &Map<String, Value>,
        _request: &RequestInfo,
    ) -> Result<Option<Value>, HookFailure> {
        let field = |name: &str| credentials.get(name).and_then(Value::as_str);
        match (
            field(&self.settings.username_field),
            field(&self.settings.password_field),
        ) {
            (Some(username), Some(password)) if !username.is_empty() => {
                Ok(self.check(username, password).await)
            }
            _ => Ok(None),
        }
    }
}
