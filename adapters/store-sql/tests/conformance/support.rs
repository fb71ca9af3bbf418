//! Test databases: SQLite files and databases of their own on the PostgreSQL and MariaDB
//! servers, created per test and dropped with its store; stores connected to them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_store_sql::{SqlOptions, SqlStore};
use rand_core::{OsRng, RngCore};
use sqlx::Connection;
use tokio::sync::OnceCell;

pub(crate) const POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub(crate) const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";
const PREFIX: &str = "portcullis_t_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    Postgres,
    MySql,
}

impl Server {
    pub(crate) fn admin_url(self) -> String {
        let (var, default) = match self {
            Server::Postgres => ("PORTCULLIS_TEST_POSTGRES_URL", POSTGRES_DEFAULT),
            Server::MySql => ("PORTCULLIS_TEST_MYSQL_URL", MYSQL_DEFAULT),
        };
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    fn name(self) -> &'static str {
        match self {
            Server::Postgres => "PostgreSQL",
            Server::MySql => "MariaDB/MySQL",
        }
    }
}

/// A database that exists for one test: an empty SQLite file in a temporary
/// directory, or a database on a server, dropped with this value.
pub(crate) enum TempDb {
    File(#[allow(dead_code)] tempfile::TempDir),
    Server { server: Server, name: String },
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let TempDb::Server { server, name } = self else {
            return;
        };
        let (server, name) = (*server, name.clone());
        // Drop runs inside the test's runtime (or while unwinding): drop the database
        // from a thread with a runtime of its own, and wait for it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(drop_database(server, &name))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop a test database: {e}"),
            Err(_) => eprintln!("warning: dropping a test database panicked"),
        }
    }
}

async fn admin(server: Server) -> Result<AdminConn, sqlx::Error> {
    let url = server.admin_url();
    Ok(match server {
        Server::Postgres => AdminConn::Pg(sqlx::PgConnection::connect(&url).await?),
        Server::MySql => AdminConn::My(sqlx::MySqlConnection::connect(&url).await?),
    })
}

enum AdminConn {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

impl AdminConn {
    /// Runs DDL built from our own generated names (never input).
    async fn ddl(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            AdminConn::Pg(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
            AdminConn::My(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
        }
    }

    async fn test_databases(&mut self) -> Result<Vec<String>, sqlx::Error> {
        match self {
            AdminConn::Pg(c) => {
                sqlx::query_scalar(
                    "SELECT datname::text FROM pg_database WHERE datname LIKE 'portcullis\\_t\\_%'",
                )
                .fetch_all(&mut *c)
                .await
            }
            AdminConn::My(c) => {
                sqlx::query_scalar(
                    "SELECT CAST(SCHEMA_NAME AS CHAR(64)) FROM information_schema.SCHEMATA \
                     WHERE SCHEMA_NAME LIKE 'portcullis\\_t\\_%'",
                )
                .fetch_all(&mut *c)
                .await
            }
        }
    }
}

async fn drop_database(server: Server, name: &str) -> Result<(), sqlx::Error> {
    assert!(
        name.starts_with(PREFIX) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    );
    let mut admin = admin(server).await?;
    match server {
        // FORCE: the store's pool may still be closing its connections.
        Server::Postgres => {
            admin
                .ddl(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
        }
        Server::MySql => admin.ddl(&format!("DROP DATABASE IF EXISTS {name}")).await,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Drops test databases an earlier, killed run left behind (an hour old or more: a
/// run in progress elsewhere keeps its own).
async fn sweep(server: Server) {
    static POSTGRES: OnceCell<()> = OnceCell::const_new();
    static MYSQL: OnceCell<()> = OnceCell::const_new();
    let cell = match server {
        Server::Postgres => &POSTGRES,
        Server::MySql => &MYSQL,
    };
    cell.get_or_init(|| async move {
        let Ok(mut admin) = admin(server).await else {
            return;
        };
        let Ok(names) = admin.test_databases().await else {
            return;
        };
        let now = unix_now();
        for name in names {
            let created = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|secs| secs.parse::<u64>().ok());
            if created.is_some_and(|t| now.saturating_sub(t) > 3600) {
                let _ = drop_database(server, &name).await;
            }
        }
    })
    .await;
}

/// Creates an empty database on `server`; returns its URL and its guard.
pub(crate) async fn server_db(server: Server) -> (String, TempDb) {
    sweep(server).await;
    let admin_url = server.admin_url();
    let mut admin = admin(server).await.unwrap_or_else(|e| {
        panic!(
            "{} is unreachable at {admin_url}: {e}. Start it (`bash .ci/services`) or set {}",
            server.name(),
            match server {
                Server::Postgres => "PORTCULLIS_TEST_POSTGRES_URL",
                Server::MySql => "PORTCULLIS_TEST_MYSQL_URL",
            }
        )
    });
    let mut random = [0u8; 6];
    OsRng.fill_bytes(&mut random);
    let name = format!("{PREFIX}{}_{}", unix_now(), hex::encode(random));
    admin
        .ddl(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE on {}: {e}", server.name()));
    let mut url = url::Url::parse(&admin_url).expect("a server URL");
    url.set_path(&format!("/{name}"));
    (url.to_string(), TempDb::Server { server, name })
}

/// An empty SQLite file's URL (the file does not exist yet: connect creates it).
pub(crate) fn sqlite_db() -> (String, TempDb) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    (url, TempDb::File(dir))
}

pub(crate) fn options() -> SqlOptions {
    SqlOptions {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(30),
        ..SqlOptions::default()
    }
}

pub(crate) async fn connect(url: &str) -> SqlStore {
    SqlStore::connect(url, options())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// A migrated store on a fresh database, which lives as long as the store.
pub(crate) async fn fresh(server: Option<Server>) -> TestStore {
    let (url, db) = match server {
        Some(server) => server_db(server).await,
        None => sqlite_db(),
    };
    let store = connect(&url).await;
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate: {e}"));
    TestStore::new(store, db)
}

/// A store and its database: the database is dropped after the store.
/// A store in a fresh database, dropped with it.
pub(crate) type TestStore = portcullis_store_conformance::WithCleanup<SqlStore, TempDb>;
