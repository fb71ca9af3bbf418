//! [`SqlStore`]: the [`Store`] port on PostgreSQL, MySQL/MariaDB and SQLite.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_domain::model::{
    compound_id, Account, AccountTokens, NewUser, Session, User, VerificationToken,
};
use portcullis_domain::secret::SecretString;
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Executor, FromRow};
use time::OffsetDateTime;

use crate::error::{self, Op};
use crate::options::SqlOptions;
use crate::sql::{Dialect, Queries};
use crate::types::{DbId, DbText, Ts};

/// How often an operation that met a deadlock or a busy database is run again.
pub(crate) const RETRIES: u32 = 5;

/// A [`Store`] on a SQL database, in NextAuth.js v3's schema (spec §10.4).
///
/// Cheap to clone: clones share one connection pool. See the [crate docs](crate) for
/// the schema and how ids, accounts, sessions and verification tokens map onto it.
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pools,
    q: Queries,
    dialect: Dialect,
    /// `Store::upgraded_from_v3`: read at connect, set again by `migrate`.
    upgraded_from_v3: AtomicBool,
}

/// One pool per dialect: the queries are written once and run on whichever is open.
pub(crate) enum Pools {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.inner.dialect)
            .finish_non_exhaustive()
    }
}

/// Runs a body against the open pool, retrying deadlocks and busy databases, and maps
/// its `sqlx::Error` to a `StoreError` for `$op`. `$pool` names the pool in the body.
/// The one-body form is written once and compiled for each dialect; the three-body form
/// gives each dialect its own body.
macro_rules! run {
    ($store:expr, $op:expr, $pool:ident => $body:expr) => {
        run!($store, $op, pg $pool => $body, my $pool => $body, lite $pool => $body)
    };
    ($store:expr, $op:expr,
     pg $pg:ident => $pg_body:expr,
     my $my:ident => $my_body:expr,
     lite $lite:ident => $lite_body:expr) => {{
        let store: &SqlStore = $store;
        let op: Op = $op;
        let mut attempt = 0u32;
        loop {
            let result = match &store.inner.pool {
                Pools::Postgres($pg) => sqlx_result(async { $pg_body }).await,
                Pools::MySql($my) => sqlx_result(async { $my_body }).await,
                Pools::Sqlite($lite) => sqlx_result(async { $lite_body }).await,
            };
            match result {
                Err(e) if attempt < RETRIES && error::is_retryable(store.inner.dialect, &e) => {
                    attempt += 1;
                    pause(attempt).await;
                }
                other => break other.map_err(|e| error::map(op, e)),
            }
        }
    }};
}

/// Pins a body's error type to `sqlx::Error` (so `?` works inside it).
async fn sqlx_result<T>(
    body: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    body.await
}

/// A short, growing pause before a retry.
pub(crate) async fn pause(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt * attempt))).await;
}

// ---------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------

fn text(value: Option<DbText>) -> Option<String> {
    value.map(|t| t.0)
}

#[derive(FromRow)]
struct UserRow {
    id: DbId,
    name: Option<DbText>,
    email: Option<DbText>,
    email_verified: Option<Ts>,
    image: Option<DbText>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> User {
        User {
            id: row.id.to_string(),
            name: text(row.name),
            email: text(row.email),
            email_verified: row.email_verified.map(|t| t.0),
            image: text(row.image),
        }
    }
}

#[derive(FromRow)]
struct SessionRow {
    session_token: DbText,
    user_id: DbId,
    expires: Ts,
    access_token: DbText,
    /// NOT NULL in v3's schema; read leniently all the same.
    created_at: Option<Ts>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Session {
        Session {
            session_token: SecretString::new(row.session_token.0),
            user_id: row.user_id.to_string(),
            expires: row.expires.0,
            access_token: SecretString::new(row.access_token.0),
            created: row.created_at.map(|t| t.0),
        }
    }
}

#[derive(FromRow)]
struct SessionAndUserRow {
    #[sqlx(flatten)]
    session: SessionRow,
    #[sqlx(flatten)]
    user: UserRow,
}

#[derive(FromRow)]
struct AccountRow {
    user_id: DbId,
    provider_type: DbText,
    provider_id: DbText,
    provider_account_id: DbText,
    refresh_token: Option<DbText>,
    access_token: Option<DbText>,
    access_token_expires: Option<Ts>,
    token_type: Option<DbText>,
    scope: Option<DbText>,
    id_token: Option<DbText>,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Account {
        Account {
            user_id: row.user_id.to_string(),
            provider_type: row.provider_type.0,
            provider_id: row.provider_id.0,
            provider_account_id: row.provider_account_id.0,
            refresh_token: row.refresh_token.map(|t| SecretString::new(t.0)),
            access_token: row.access_token.map(|t| SecretString::new(t.0)),
            access_token_expires: row.access_token_expires.map(|t| t.0),
            token_type: text(row.token_type),
            scope: text(row.scope),
            id_token: row.id_token.map(|t| SecretString::new(t.0)),
        }
    }
}

#[derive(FromRow)]
struct VerificationRow {
    id: DbId,
    identifier: DbText,
    token: DbText,
    expires: Ts,
}

impl From<VerificationRow> for VerificationToken {
    fn from(row: VerificationRow) -> VerificationToken {
        VerificationToken {
            identifier: row.identifier.0,
            token_hash: row.token.0,
            expires: row.expires.0,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Operations (names, and what a unique violation means for each)
// ---------------------------------------------------------------------------------------

const GET_USER: Op = Op::plain("get_user", "");
const GET_USER_BY_EMAIL: Op = Op::plain("get_user_by_email", "");
const GET_USER_BY_ACCOUNT: Op = Op::plain("get_user_by_account", "");
const CREATE_USER: Op = Op::plain("create_user", "another user has this e-mail address");
const UPDATE_USER: Op = Op::plain("update_user", "another user has this e-mail address");
const DELETE_USER: Op = Op::plain("delete_user", "");
const LINK_ACCOUNT: Op = Op::secret("link_account", "this provider account is linked already");
const GET_ACCOUNT: Op = Op::secret("get_account", "");
const GET_ACCOUNTS_FOR_USER: Op = Op::secret("get_accounts_for_user", "");
const UNLINK_ACCOUNT: Op = Op::plain("unlink_account", "");
const UPDATE_ACCOUNT_TOKENS: Op = Op::secret("update_account_tokens", "");
const CREATE_SESSION: Op = Op::secret(
    "create_session",
    "a session with this session token or access token exists",
);
const GET_SESSION_AND_USER: Op = Op::secret("get_session_and_user", "");
const UPDATE_SESSION_EXPIRY: Op = Op::secret("update_session_expiry", "");
const DELETE_SESSION: Op = Op::secret("delete_session", "");
const LIST_SESSIONS: Op = Op::secret("list_sessions", "");
const DELETE_SESSIONS_FOR_USER: Op = Op::plain("delete_sessions_for_user", "");
const CREATE_VERIFICATION_TOKEN: Op = Op::secret(
    "create_verification_token",
    "a verification token with this hash exists",
);
const USE_VERIFICATION_TOKEN: Op = Op::secret("use_verification_token", "");
const REVOKE_JWT: Op = Op::secret("revoke_jwt", "");
const IS_JWT_REVOKED: Op = Op::secret("is_jwt_revoked", "");

fn no_such_user() -> StoreError {
    StoreError::NotFound("user".to_owned())
}

// ---------------------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------------------

#[async_trait]
impl Store for SqlStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let q = &self.inner.q;
        let name = user.name.as_deref();
        let email = user.email.as_deref();
        let verified = user.email_verified.map(Ts);
        let image = user.image.as_deref();
        let id: DbId = run!(self, CREATE_USER,
            pg pool => {
                sqlx::query_scalar(&q.create_user)
                    .bind(name).bind(email).bind(verified).bind(image)
                    .fetch_one(pool).await
            },
            my pool => {
                let done = sqlx::query(&q.create_user)
                    .bind(name).bind(email).bind(verified).bind(image)
                    .execute(pool).await?;
                i64::try_from(done.last_insert_id())
                    .map(DbId)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))
            },
            lite pool => {
                sqlx::query_scalar(&q.create_user)
                    .bind(name).bind(email).bind(verified).bind(image)
                    .fetch_one(pool).await
            }
        )?;
        Ok(user.with_id(id.to_string()))
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let Some(id) = DbId::parse(id) else {
            return Ok(None);
        };
        let q = &self.inner.q;
        let row: Option<UserRow> = run!(self, GET_USER, pool => {
            sqlx::query_as(&q.get_user).bind(id).fetch_optional(pool).await
        })?;
        Ok(row.map(User::from))
    }

    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let q = &self.inner.q;
        let row: Option<UserRow> = run!(self, GET_USER_BY_EMAIL, pool => {
            sqlx::query_as(&q.get_user_by_email).bind(email).fetch_optional(pool).await
        })?;
        Ok(row.map(User::from))
    }

    async fn get_user_by_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<User>, StoreError> {
        let q = &self.inner.q;
        let compound = compound_id(provider_id, provider_account_id);
        let compound = compound.as_str();
        let row: Option<UserRow> = run!(self, GET_USER_BY_ACCOUNT, pool => {
            sqlx::query_as(&q.get_user_by_account)
                .bind(compound).bind(provider_id).bind(provider_account_id)
                .fetch_optional(pool).await
        })?;
        Ok(row.map(User::from))
    }

    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        let Some(id) = DbId::parse(&user.id) else {
            return Err(no_such_user());
        };
        let q = &self.inner.q;
        let name = user.name.as_deref();
        let email = user.email.as_deref();
        let verified = user.email_verified.map(Ts);
        let image = user.image.as_deref();
        let changed: u64 = run!(self, UPDATE_USER, pool => {
            sqlx::query(&q.update_user)
                .bind(name).bind(email).bind(verified).bind(image).bind(id)
                .execute(pool).await
                .map(|done| done.rows_affected())
        })?;
        if changed == 0 {
            return Err(no_such_user());
        }
        Ok(user)
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let Some(id) = DbId::parse(id) else {
            return Ok(());
        };
        let q = &self.inner.q;
        run!(self, DELETE_USER,
            pg pool => {
                let mut tx = pool.begin().await?;
                tx.execute(sqlx::query(&q.delete_user_accounts).bind(id)).await?;
                tx.execute(sqlx::query(&q.delete_user_sessions).bind(id)).await?;
                tx.execute(sqlx::query(&q.delete_user).bind(id)).await?;
                tx.commit().await
            },
            my pool => {
                let mut tx = pool.begin().await?;
                tx.execute(sqlx::query(&q.delete_user_accounts).bind(id)).await?;
                tx.execute(sqlx::query(&q.delete_user_sessions).bind(id)).await?;
                tx.execute(sqlx::query(&q.delete_user).bind(id)).await?;
                tx.commit().await
            },
            lite pool => {
                // Take the write lock up front: a deferred transaction that reads first
                // could not wait for it.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                tx.execute(sqlx::query(&q.delete_user_accounts).bind(id)).await?;
                tx.execute(sqlx::query(&q.delete_user_sessions).bind(id)).await?;
                tx.execute(sqlx::query(&q.delete_user).bind(id)).await?;
                tx.commit().await
            }
        )
    }

    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        let Some(user_id) = DbId::parse(&account.user_id) else {
            return Err(no_such_user());
        };
        let q = &self.inner.q;
        let compound = account.compound_id();
        let compound = compound.as_str();
        let a = &account;
        let refresh = a.refresh_token.as_ref().map(SecretString::expose);
        let access = a.access_token.as_ref().map(SecretString::expose);
        let expires = a.access_token_expires.map(Ts);
        let id_token = a.id_token.as_ref().map(SecretString::expose);
        run!(self, LINK_ACCOUNT, pool => {
            sqlx::query(&q.link_account)
                .bind(compound)
                .bind(user_id)
                .bind(a.provider_type.as_str())
                .bind(a.provider_id.as_str())
                .bind(a.provider_account_id.as_str())
                .bind(refresh)
                .bind(access)
                .bind(expires)
                .bind(a.token_type.as_deref())
                .bind(a.scope.as_deref())
                .bind(id_token)
                .execute(pool).await
                .map(|_| ())
        })?;
        Ok(account)
    }

    async fn get_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        let q = &self.inner.q;
        let compound = compound_id(provider_id, provider_account_id);
        let compound = compound.as_str();
        let row: Option<AccountRow> = run!(self, GET_ACCOUNT, pool => {
            sqlx::query_as(&q.get_account)
                .bind(compound).bind(provider_id).bind(provider_account_id)
                .fetch_optional(pool).await
        })?;
        Ok(row.map(Account::from))
    }

    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        let Some(user_id) = DbId::parse(user_id) else {
            return Ok(Vec::new());
        };
        let q = &self.inner.q;
        let rows: Vec<AccountRow> = run!(self, GET_ACCOUNTS_FOR_USER, pool => {
            sqlx::query_as(&q.get_accounts_for_user).bind(user_id).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(Account::from).collect())
    }

    async fn unlink_account(
        &self,
        provider_id: &str,
        provider_account_id: &str,
    ) -> Result<(), StoreError> {
        let q = &self.inner.q;
        let compound = compound_id(provider_id, provider_account_id);
        let compound = compound.as_str();
        run!(self, UNLINK_ACCOUNT, pool => {
            sqlx::query(&q.unlink_account)
                .bind(compound).bind(provider_id).bind(provider_account_id)
                .execute(pool).await
                .map(|_| ())
        })
    }

    /// One `UPDATE` whose `WHERE` holds the expected refresh token: the database's row lock
    /// orders concurrent refreshes, and each re-checks the condition against the row the
    /// one before it committed, so only the first matches. No row matched: the account
    /// is gone, or another refresh won; one more read tells which.
    async fn update_account_tokens(
        &self,
        provider_id: &str,
        provider_account_id: &str,
        expected_refresh_token: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError> {
        let q = &self.inner.q;
        let compound = compound_id(provider_id, provider_account_id);
        let compound = compound.as_str();
        let t = &tokens;
        let refresh = t.refresh_token.as_ref().map(SecretString::expose);
        let access = t.access_token.as_ref().map(SecretString::expose);
        let expires = t.access_token_expires.map(Ts);
        let id_token = t.id_token.as_ref().map(SecretString::expose);
        // Binds the statement's parameters, in its order, to a query or a query_as.
        macro_rules! bound {
            ($query:expr) => {
                $query
                    .bind(refresh)
                    .bind(access)
                    .bind(expires)
                    .bind(t.token_type.as_deref())
                    .bind(t.scope.as_deref())
                    .bind(id_token)
                    .bind(compound)
                    .bind(provider_id)
                    .bind(provider_account_id)
                    .bind(expected_refresh_token)
            };
        }
        let updated: Option<AccountRow> = run!(self, UPDATE_ACCOUNT_TOKENS,
            pg pool => {
                bound!(sqlx::query_as(&q.update_account_tokens)).fetch_optional(pool).await
            },
            my pool => {
                // The row stays locked by this transaction's UPDATE until the read-back.
                // sqlx connects with CLIENT_FOUND_ROWS: the count is of matched rows.
                let mut tx = pool.begin().await?;
                let matched = bound!(sqlx::query(&q.update_account_tokens))
                    .execute(&mut *tx).await?
                    .rows_affected();
                if matched == 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let row: Option<AccountRow> = sqlx::query_as(&q.get_account)
                    .bind(compound).bind(provider_id).bind(provider_account_id)
                    .fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                Ok(row)
            },
            lite pool => {
                bound!(sqlx::query_as(&q.update_account_tokens)).fetch_optional(pool).await
            }
        )?;
        if let Some(row) = updated {
            return Ok(Some(Account::from(row)));
        }
        match self.get_account(provider_id, provider_account_id).await? {
            Some(_) => Ok(None),
            None => Err(StoreError::NotFound("account".to_owned())),
        }
    }

    fn upgraded_from_v3(&self) -> bool {
        self.inner.upgraded_from_v3.load(Ordering::Relaxed)
    }

    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        let Some(user_id) = DbId::parse(&session.user_id) else {
            return Err(no_such_user());
        };
        let q = &self.inner.q;
        let expires = Ts(session.expires);
        let token = session.session_token.expose();
        let access = session.access_token.expose();
        let created = session.created.map(Ts);
        run!(self, CREATE_SESSION, pool => {
            sqlx::query(&q.create_session)
                .bind(user_id).bind(expires).bind(token).bind(access).bind(created)
                .execute(pool).await
                .map(|_| ())
        })?;
        Ok(session)
    }

    async fn get_session_and_user(
        &self,
        session_keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        let q = &self.inner.q;
        // One query per two candidate keys (`IN (?, ?)`): the domain gives two at most,
        // the hashed key and the raw token.
        for pair in session_keys.chunks(2) {
            let (first, second) = match pair {
                [first, second] => (*first, *second),
                [only] => (*only, *only),
                _ => continue,
            };
            let row: Option<SessionAndUserRow> = run!(self, GET_SESSION_AND_USER, pool => {
                sqlx::query_as(&q.get_session_and_user)
                    .bind(first).bind(second)
                    .fetch_optional(pool).await
            })?;
            if let Some(row) = row {
                return Ok(Some((Session::from(row.session), User::from(row.user))));
            }
        }
        Ok(None)
    }

    async fn update_session_expiry(
        &self,
        session_token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let q = &self.inner.q;
        let expires = Ts(expires);
        let changed: u64 = run!(self, UPDATE_SESSION_EXPIRY, pool => {
            sqlx::query(&q.update_session_expiry)
                .bind(expires).bind(session_token)
                .execute(pool).await
                .map(|done| done.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound("session".to_owned()));
        }
        Ok(())
    }

    async fn delete_session(&self, session_token: &str) -> Result<(), StoreError> {
        let q = &self.inner.q;
        run!(self, DELETE_SESSION, pool => {
            sqlx::query(&q.delete_session)
                .bind(session_token)
                .execute(pool).await
                .map(|_| ())
        })
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let Some(user_id) = DbId::parse(user_id) else {
            return Ok(Vec::new());
        };
        let q = &self.inner.q;
        let rows: Vec<SessionRow> = run!(self, LIST_SESSIONS, pool => {
            sqlx::query_as(&q.list_sessions).bind(user_id).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let Some(user_id) = DbId::parse(user_id) else {
            return Ok(0);
        };
        let q = &self.inner.q;
        run!(self, DELETE_SESSIONS_FOR_USER, pool => {
            sqlx::query(&q.delete_sessions_for_user)
                .bind(user_id)
                .execute(pool).await
                .map(|done| done.rows_affected())
        })
    }

    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        let q = &self.inner.q;
        let expires = Ts(token.expires);
        run!(self, CREATE_VERIFICATION_TOKEN, pool => {
            sqlx::query(&q.create_verification_token)
                .bind(token.identifier.as_str())
                .bind(token.token_hash.as_str())
                .bind(expires)
                .execute(pool).await
                .map(|_| ())
        })
    }

    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        let q = &self.inner.q;
        let row: Option<VerificationRow> = run!(self, USE_VERIFICATION_TOKEN,
            pg pool => {
                sqlx::query_as(&q.use_verification_token)
                    .bind(identifier).bind(token_hash)
                    .fetch_optional(pool).await
            },
            my pool => {
                // MySQL has no DELETE … RETURNING: read the row, then delete it by id.
                // Rows are never updated, so what was read is what is deleted; of racing
                // callers, only the one whose DELETE removed the row took the token.
                let found: Option<VerificationRow> = sqlx::query_as(&q.use_verification_token)
                    .bind(identifier).bind(token_hash)
                    .fetch_optional(pool).await?;
                match found {
                    Some(row) => {
                        let taken = sqlx::query(&q.take_verification_token)
                            .bind(row.id)
                            .execute(pool).await?
                            .rows_affected();
                        Ok((taken == 1).then_some(row))
                    }
                    None => Ok(None),
                }
            },
            lite pool => {
                sqlx::query_as(&q.use_verification_token)
                    .bind(identifier).bind(token_hash)
                    .fetch_optional(pool).await
            }
        )?;
        Ok(row.map(VerificationToken::from))
    }

    /// Drops the expired revocations, then inserts this one unless the `jti` is recorded
    /// already (an upsert that changes nothing): two statements, each committed (durable
    /// as the database's commits are) before the answer. Dropping first lets a `jti`
    /// whose old revocation has expired be recorded again with its new expiry.
    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let q = &self.inner.q;
        let (expires, now) = (Ts(expires), Ts(now));
        run!(self, REVOKE_JWT, pool => {
            sqlx::query(&q.drop_expired_revocations).bind(now).execute(pool).await?;
            sqlx::query(&q.revoke_jwt).bind(jti).bind(expires).execute(pool).await.map(|_| ())
        })
    }

    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let q = &self.inner.q;
        let found: Option<DbText> = run!(self, IS_JWT_REVOKED, pool => {
            sqlx::query_scalar(&q.is_jwt_revoked).bind(jti).fetch_optional(pool).await
        })?;
        Ok(found.is_some())
    }
}
