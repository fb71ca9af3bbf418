//! The stores the scenarios run on: a fresh, empty one per scenario, of the kind the run
//! says, removed afterwards.
//!
//! Scenarios tagged `@stores` run once per built-in store ([`StoreKind::MATRIX`]); every
//! other scenario that needs a store gets sled. The servers are the ones the adapters'
//! own tests use, with the same variables and defaults:
//!
//! | store | where | fresh per scenario |
//! |---|---|---|
//! | sled | a temporary database | always |
//! | SQLite | a file in a temporary directory | always |
//! | PostgreSQL | `PORTCULLIS_TEST_POSTGRES_URL` (`postgres://postgres@127.0.0.1:5432/postgres`) | `CREATE DATABASE portcullis_s_…`, migrated, dropped after |
//! | MariaDB | `PORTCULLIS_TEST_MYSQL_URL` (`mysql://root@127.0.0.1:3306/test`) | the same |
//! | MongoDB | `MONGODB_URL` (`mongodb://127.0.0.1:27018`, nx-27017) | a database `portcullis_s_…`, indexed, dropped after |
//!
//! `bash .ci/services` starts PostgreSQL and MariaDB, `bash .ci/mongo` a MongoDB-wire
//! server. A server that does not answer fails the run with a message saying so (see
//! [`preflight`]); it is never skipped. Databases a killed run left behind are dropped by
//! the next run once they are an hour old.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis::Store;
use portcullis_store_mongo::MongoStore;
use portcullis_store_sled::SledStore;
use portcullis_store_sql::{SqlOptions, SqlStore};
use sqlx::Connection as _;
use tokio::sync::OnceCell;

use crate::memory_store::MemoryStore;

/// A store a scenario can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreKind {
    Sled,
    Sqlite,
    Postgres,
    MariaDb,
    Mongo,
    /// The specs' own store, written against the port alone (C08).
    Memory,
}

impl StoreKind {
    /// The built-in stores `@stores` scenarios run on, in order (sled is the main run's).
    pub const MATRIX: [StoreKind; 5] = [
        StoreKind::Sled,
        StoreKind::Sqlite,
        StoreKind::Postgres,
        StoreKind::MariaDb,
        StoreKind::Mongo,
    ];

    /// How many `@stores` scenarios of this kind run at once: a server store keeps a
    /// pool per scenario, and the servers' connection limits are finite.
    pub fn concurrency(self) -> Option<usize> {
        match self {
            StoreKind::Postgres | StoreKind::MariaDb | StoreKind::Mongo => Some(8),
            _ => None,
        }
    }
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreKind::Sled => "sled",
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
            StoreKind::MariaDb => "mariadb",
            StoreKind::Mongo => "mongodb",
            StoreKind::Memory => "own",
        })
    }
}

const POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";
const MONGO_DEFAULT: &str = "mongodb://127.0.0.1:27018";
/// Names of the databases the specs create (the adapters' tests use other prefixes).
const PREFIX: &str = "portcullis_s_";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A SQL server the matrix runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqlServer {
    Postgres,
    MariaDb,
}

impl SqlServer {
    fn admin_url(self) -> String {
        match self {
            SqlServer::Postgres => env_or("PORTCULLIS_TEST_POSTGRES_URL", POSTGRES_DEFAULT),
            SqlServer::MariaDb => env_or("PORTCULLIS_TEST_MYSQL_URL", MYSQL_DEFAULT),
        }
    }

    fn how_to_start(self) -> &'static str {
        match self {
            SqlServer::Postgres => {
                "start it with `bash .ci/services`, or set PORTCULLIS_TEST_POSTGRES_URL"
            }
            SqlServer::MariaDb => {
                "start it with `bash .ci/services`, or set PORTCULLIS_TEST_MYSQL_URL"
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            SqlServer::Postgres => "PostgreSQL",
            SqlServer::MariaDb => "MariaDB",
        }
    }
}

/// The admin URL of the named SQL server (`PostgreSQL` or `MariaDB`), as the matrix uses.
pub(crate) fn admin_url(name: &str) -> String {
    match name {
        "PostgreSQL" => SqlServer::Postgres.admin_url(),
        "MariaDB" => SqlServer::MariaDb.admin_url(),
        other => panic!("no SQL server {other:?}"),
    }
}

fn mongo_url() -> String {
    env_or("MONGODB_URL", MONGO_DEFAULT)
}

/// Bound on reaching a server before the run calls it missing.
const REACH_TIMEOUT: Duration = Duration::from_secs(10);

enum Admin {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

impl Admin {
    async fn connect(server: SqlServer) -> Result<Admin, String> {
        let url = server.admin_url();
        let connect = async {
            Ok::<_, sqlx::Error>(match server {
                SqlServer::Postgres => Admin::Pg(sqlx::PgConnection::connect(&url).await?),
                SqlServer::MariaDb => Admin::My(sqlx::MySqlConnection::connect(&url).await?),
            })
        };
        let why = match tokio::time::timeout(REACH_TIMEOUT, connect).await {
            Ok(Ok(admin)) => return Ok(admin),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {REACH_TIMEOUT:?}"),
        };
        Err(format!(
            "{} is unreachable at {url} ({why}): {}",
            server.name(),
            server.how_to_start()
        ))
    }

    /// DDL on names this module made (`portcullis_s_` + digits, letters, `_`), never input.
    async fn ddl(&mut self, sql: &str) -> Result<(), String> {
        let done = match self {
            Admin::Pg(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(drop),
            Admin::My(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(drop),
        };
        done.map_err(|e| format!("{sql}: {e}"))
    }

    async fn spec_databases(&mut self) -> Result<Vec<String>, sqlx::Error> {
        match self {
            Admin::Pg(c) => {
                sqlx::query_scalar(
                    "SELECT datname::text FROM pg_database WHERE datname LIKE 'portcullis\\_s\\_%'",
                )
                .fetch_all(&mut *c)
                .await
            }
            Admin::My(c) => {
                sqlx::query_scalar(
                    "SELECT CAST(SCHEMA_NAME AS CHAR(64)) FROM information_schema.SCHEMATA \
                     WHERE SCHEMA_NAME LIKE 'portcullis\\_s\\_%'",
                )
                .fetch_all(&mut *c)
                .await
            }
        }
    }

    async fn close(self) {
        let _ = match self {
            Admin::Pg(c) => c.close().await,
            Admin::My(c) => c.close().await,
        };
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `portcullis_s_<unix seconds>_<unique>`: unique in this process and across processes.
fn fresh_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{PREFIX}{}_{:x}_{}_{nanos:x}",
        unix_now(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn is_ours(name: &str) -> bool {
    name.starts_with(PREFIX) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Created more than an hour ago (a killed run's leftovers; a run in progress keeps its own).
fn is_stale(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|secs| secs.parse::<u64>().ok())
        .is_some_and(|created| unix_now().saturating_sub(created) > 3600)
}

async fn drop_sql_database(server: SqlServer, name: &str) -> Result<(), String> {
    if !is_ours(name) {
        return Err(format!("refusing to drop {name:?}: not a specs database"));
    }
    let mut admin = Admin::connect(server).await?;
    let sql = match server {
        // FORCE: a pool may still be closing its connections.
        SqlServer::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        SqlServer::MariaDb => format!("DROP DATABASE IF EXISTS {name}"),
    };
    let dropped = admin.ddl(&sql).await;
    admin.close().await;
    dropped
}

async fn mongo_client(url: &str) -> Result<mongodb::Client, String> {
    let why = |e: mongodb::error::Error| {
        format!(
            "no MongoDB-wire server answers at {url} ({}): start one with `bash .ci/mongo`, \
             or set MONGODB_URL",
            e.kind
        )
    };
    let mut options = mongodb::options::ClientOptions::parse(url)
        .await
        .map_err(why)?;
    // The driver waits 30 s for a server by default; a missing one should fail at once.
    options.server_selection_timeout = Some(Duration::from_secs(3));
    let client = mongodb::Client::with_options(options).map_err(why)?;
    client
        .database("admin")
        .run_command(mongodb::bson::doc! { "ping": 1 })
        .await
        .map_err(why)?;
    Ok(client)
}

/// Whether the server behind `kind` answers, checked once per run and kind (and the
/// leftovers of killed runs swept). `Err` says which server is missing and how to start it.
pub(crate) async fn preflight(kind: StoreKind) -> Result<(), String> {
    static POSTGRES: OnceCell<Result<(), String>> = OnceCell::const_new();
    static MARIADB: OnceCell<Result<(), String>> = OnceCell::const_new();
    static MONGO: OnceCell<Result<(), String>> = OnceCell::const_new();
    match kind {
        StoreKind::Sled | StoreKind::Sqlite | StoreKind::Memory => Ok(()),
        StoreKind::Postgres => POSTGRES
            .get_or_init(|| sql_preflight(SqlServer::Postgres))
            .await
            .clone(),
        StoreKind::MariaDb => MARIADB
            .get_or_init(|| sql_preflight(SqlServer::MariaDb))
            .await
            .clone(),
        StoreKind::Mongo => MONGO.get_or_init(mongo_preflight).await.clone(),
    }
}

async fn sql_preflight(server: SqlServer) -> Result<(), String> {
    let mut admin = Admin::connect(server).await?;
    if let Ok(names) = admin.spec_databases().await {
        for name in names.into_iter().filter(|n| is_ours(n) && is_stale(n)) {
            let sql = match server {
                SqlServer::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                SqlServer::MariaDb => format!("DROP DATABASE IF EXISTS {name}"),
            };
            let _ = admin.ddl(&sql).await;
        }
    }
    admin.close().await;
    Ok(())
}

async fn mongo_preflight() -> Result<(), String> {
    let client = mongo_client(&mongo_url()).await?;
    if let Ok(names) = client.list_database_names().await {
        for name in names.into_iter().filter(|n| is_ours(n) && is_stale(n)) {
            let _ = client.database(&name).drop().await;
        }
    }
    Ok(())
}

/// Where a fresh store's data lives, to read it through a second connection.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// Only this handle reaches it (sled's temporary database, the in-memory store).
    ThisHandle,
    Sql(String),
    Mongo {
        url: String,
        database: String,
    },
}

/// A fresh, empty store, and what removes it.
pub(crate) struct Fresh {
    pub store: Arc<dyn Store>,
    pub location: Location,
    pub cleanup: Cleanup,
}

fn sql_options() -> SqlOptions {
    SqlOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(30),
        ..SqlOptions::default()
    }
}

/// Makes a fresh, empty store of `kind` (migrated or indexed as its adapter requires).
pub(crate) async fn fresh(kind: StoreKind) -> Result<Fresh, String> {
    match kind {
        StoreKind::Sled => Ok(Fresh {
            store: Arc::new(
                SledStore::temporary().map_err(|e| format!("a temporary sled store: {e}"))?,
            ),
            location: Location::ThisHandle,
            cleanup: Cleanup::none(),
        }),
        StoreKind::Memory => Ok(Fresh {
            store: Arc::new(MemoryStore::default()),
            location: Location::ThisHandle,
            cleanup: Cleanup::none(),
        }),
        StoreKind::Sqlite => {
            let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
            let url = format!("sqlite://{}", dir.path().join("store.db").display());
            let store = connect_sql(&url).await?;
            Ok(Fresh {
                store: Arc::new(store.clone()),
                location: Location::Sql(url),
                cleanup: Cleanup(Some(Leftover::Sqlite { store, _dir: dir })),
            })
        }
        StoreKind::Postgres => fresh_sql(SqlServer::Postgres).await,
        StoreKind::MariaDb => fresh_sql(SqlServer::MariaDb).await,
        StoreKind::Mongo => {
            preflight(kind).await?;
            let url = mongo_url();
            let name = fresh_name();
            let store = MongoStore::connect(&url, &name)
                .await
                .map_err(|e| format!("MongoDB at {url}: {e}"))?;
            let cleanup = Cleanup(Some(Leftover::Mongo {
                store: store.clone(),
                url: url.clone(),
                name: name.clone(),
            }));
            store
                .ensure_indexes()
                .await
                .map_err(|e| format!("MongoDB ensure_indexes: {e}"))?;
            Ok(Fresh {
                store: Arc::new(store),
                location: Location::Mongo {
                    url,
                    database: name,
                },
                cleanup,
            })
        }
    }
}

async fn connect_sql(url: &str) -> Result<SqlStore, String> {
    let store = SqlStore::connect(url, sql_options())
        .await
        .map_err(|e| format!("connecting the SQL store: {e}"))?;
    store
        .migrate()
        .await
        .map_err(|e| format!("migrating the SQL store: {e}"))?;
    Ok(store)
}

async fn fresh_sql(server: SqlServer) -> Result<Fresh, String> {
    preflight(match server {
        SqlServer::Postgres => StoreKind::Postgres,
        SqlServer::MariaDb => StoreKind::MariaDb,
    })
    .await?;
    let name = fresh_name();
    let mut admin = Admin::connect(server).await?;
    let created = admin.ddl(&format!("CREATE DATABASE {name}")).await;
    admin.close().await;
    created?;
    let mut url = url::Url::parse(&server.admin_url()).map_err(|e| e.to_string())?;
    url.set_path(&format!("/{name}"));
    let url = url.to_string();
    // From here on the database exists: the guard drops it, also when migrating fails.
    let mut cleanup = Cleanup(Some(Leftover::SqlServer {
        server,
        name,
        store: None,
    }));
    let store = connect_sql(&url).await?;
    if let Some(Leftover::SqlServer { store: slot, .. }) = &mut cleanup.0 {
        *slot = Some(store.clone());
    }
    Ok(Fresh {
        store: Arc::new(store),
        location: Location::Sql(url),
        cleanup,
    })
}

/// A second, independent handle on the data at `location` (a new connection pool or
/// client): what another server process would see.
pub(crate) async fn reopen(location: &Location) -> Result<Option<Arc<dyn Store>>, String> {
    Ok(match location {
        Location::ThisHandle => None,
        Location::Sql(url) => Some(Arc::new(
            SqlStore::connect(url, sql_options())
                .await
                .map_err(|e| format!("a second connection: {e}"))?,
        )),
        Location::Mongo { url, database } => Some(Arc::new(
            MongoStore::connect(url, database)
                .await
                .map_err(|e| format!("a second client: {e}"))?,
        )),
    })
}

enum Leftover {
    Sqlite {
        store: SqlStore,
        _dir: tempfile::TempDir,
    },
    SqlServer {
        server: SqlServer,
        name: String,
        store: Option<SqlStore>,
    },
    Mongo {
        store: MongoStore,
        url: String,
        name: String,
    },
}

/// Removes a fresh store's database: [`Cleanup::run`] after the scenario, or on drop
/// (a scenario that never got to its after hook) from a thread with a runtime of its own.
pub(crate) struct Cleanup(Option<Leftover>);

impl Cleanup {
    fn none() -> Self {
        Cleanup(None)
    }

    pub(crate) async fn run(&mut self) {
        if let Some(leftover) = self.0.take() {
            if let Err(why) = remove(leftover, true).await {
                eprintln!("warning: a scenario's database was not removed: {why}");
            }
        }
    }
}

async fn remove(leftover: Leftover, same_runtime: bool) -> Result<(), String> {
    match leftover {
        Leftover::Sqlite { store, _dir } => {
            if same_runtime {
                store.close().await;
            }
            Ok(())
        }
        Leftover::SqlServer {
            server,
            name,
            store,
        } => {
            if let (true, Some(store)) = (same_runtime, store) {
                store.close().await;
            }
            drop_sql_database(server, &name).await
        }
        Leftover::Mongo { store, url, name } => {
            let database = if same_runtime {
                store.database().clone()
            } else {
                mongo_client(&url).await?.database(&name)
            };
            database
                .drop()
                .await
                .map_err(|e| format!("dropping {name}: {}", e.kind))
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(leftover) = self.0.take() else {
            return;
        };
        // Dropped inside the run's runtime (or while unwinding): remove the database from
        // a thread with its own runtime, and wait for it.
        let removed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(remove(leftover, false))
        })
        .join();
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(why)) => eprintln!("warning: a scenario's database was not removed: {why}"),
            Err(_) => eprintln!("warning: removing a scenario's database panicked"),
        }
    }
}
