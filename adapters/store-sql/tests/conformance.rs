//! The store conformance suite against SQLite (a file), PostgreSQL and MariaDB (the real
//! servers, over TCP), plus what only a SQL store has: migrations, the NextAuth v3 interop
//! fixture, collations, error hygiene, and the rate limiter on each database.
//!
//! One test binary on purpose (link time). Every server test gets its own database,
//! `portcullis_t_<unix seconds>_<random>`, created on the server and dropped when the test's
//! store is dropped (also when the test fails); databases left by a killed run are swept
//! at the next run once they are an hour old. Servers: `PORTCULLIS_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and `PORTCULLIS_TEST_MYSQL_URL`
//! (default `mysql://root@127.0.0.1:3306/test`). An unreachable server fails the tests:
//! `bash .ci/services` starts both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support {
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
                AdminConn::Pg(c) => sqlx::query_scalar(
                    "SELECT datname::text FROM pg_database WHERE datname LIKE 'portcullis\\_t\\_%'",
                )
                .fetch_all(&mut *c)
                .await,
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
            name.starts_with(PREFIX)
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
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
}

mod sqlite {
    portcullis_store_conformance::store_conformance_tests!(async {
        crate::support::fresh(None).await
    });
}

mod postgres {
    portcullis_store_conformance::store_conformance_tests!(async {
        crate::support::fresh(Some(crate::support::Server::Postgres)).await
    });
}

mod mariadb {
    portcullis_store_conformance::store_conformance_tests!(async {
        crate::support::fresh(Some(crate::support::Server::MySql)).await
    });
}

/// `SqlRateLimiter` on each database. Under `conformance/`, where Cargo looks for no test
/// target: it stays in this binary.
#[path = "conformance/rate_limit.rs"]
mod rate_limit;

/// A database NextAuth v3 left (`fixtures/v3-sql/`), opened by Portcullis.
mod v3_interop {
    use portcullis_domain::model::{NewUser, Session, User, VerificationToken};
    use portcullis_domain::secret::{hash_with_secret, SecretString};
    use portcullis_ports::Store;
    use portcullis_store_sql::v3_fixture::{self as fx, load_v3_fixture};
    use portcullis_store_sql::{Dialect, SqlStore, MIGRATIONS};

    use crate::support::{self, Server, TempDb};

    async fn v3_database(server: Option<Server>) -> (String, TempDb) {
        let (url, db) = match server {
            Some(server) => support::server_db(server).await,
            None => support::sqlite_db(),
        };
        load_v3_fixture(&url).await.unwrap();
        (url, db)
    }

    /// Indexes on the four v3 tables, by raw catalog count.
    async fn index_count(store: &SqlStore, url: &str) -> i64 {
        let tables = "'users', 'accounts', 'sessions', 'verification_requests'";
        match store.dialect() {
            Dialect::Postgres => {
                let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                    .await
                    .unwrap();
                sqlx::query_scalar(&format!(
                    "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() \
                     AND tablename IN ({tables})"
                ))
                .fetch_one(&mut c)
                .await
                .unwrap()
            }
            Dialect::MySql => {
                let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(url)
                    .await
                    .unwrap();
                sqlx::query_scalar(&format!(
                    "SELECT CAST(COUNT(DISTINCT TABLE_NAME, INDEX_NAME) AS SIGNED) \
                     FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({tables})"
                ))
                .fetch_one(&mut c)
                .await
                .unwrap()
            }
            Dialect::Sqlite => {
                let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
                    .await
                    .unwrap();
                sqlx::query_scalar(&format!(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({tables})"
                ))
                .fetch_one(&mut c)
                .await
                .unwrap()
            }
        }
    }

    fn v3_cookie_keys() -> portcullis_domain::session_key::SessionKeys {
        portcullis_domain::session_key::SessionKeys::for_cookie(fx::SESSION_TOKEN).unwrap()
    }

    fn ada() -> User {
        User {
            id: fx::ADA_ID.to_owned(),
            name: Some(fx::ADA_NAME.to_owned()),
            email: Some(fx::ADA_EMAIL.to_owned()),
            email_verified: Some(fx::ADA_EMAIL_VERIFIED),
            image: Some(fx::ADA_IMAGE.to_owned()),
        }
    }

    fn grace() -> User {
        User {
            id: fx::GRACE_ID.to_owned(),
            name: Some(fx::GRACE_NAME.to_owned()),
            email: Some(fx::GRACE_EMAIL.to_owned()),
            email_verified: None,
            image: None,
        }
    }

    async fn opens_a_v3_database(server: Option<Server>) {
        let (url, _db) = v3_database(server).await;
        let store = support::connect(&url).await;
        assert_eq!(store.applied_migrations().await.unwrap(), Vec::<i64>::new());
        assert!(!store.upgraded_from_v3(), "not migrated yet");
        let before = index_count(&store, &url).await;

        let applied = store.migrate().await.unwrap();
        assert!(
            store.upgraded_from_v3(),
            "migrate records that it took over v3's schema (session tokens default to raw)"
        );
        assert!(
            support::connect(&url).await.upgraded_from_v3(),
            "a store that connects later reads the record"
        );
        assert_eq!(
            applied,
            MIGRATIONS.to_vec(),
            "every migration applies to a v3 database"
        );
        assert_eq!(
            index_count(&store, &url).await,
            before + 1,
            "migrate adds only the sessions.user_id index: v3's own indexes are recognised"
        );
        assert!(
            store.migrate().await.unwrap().is_empty(),
            "a second migrate is a no-op"
        );
        assert_eq!(
            store.applied_migrations().await.unwrap(),
            vec![1, 2, 3, 4, 5, 6]
        );

        // Every row is still there and reads through the port.
        assert_eq!(store.get_user(fx::ADA_ID).await.unwrap(), Some(ada()));
        assert_eq!(store.get_user(fx::GRACE_ID).await.unwrap(), Some(grace()));
        assert_eq!(
            store.get_user_by_email(fx::ADA_EMAIL).await.unwrap(),
            Some(ada())
        );
        assert_eq!(
            store
                .get_user_by_account(fx::ACCOUNT_PROVIDER_ID, fx::ACCOUNT_PROVIDER_ACCOUNT_ID)
                .await
                .unwrap(),
            Some(ada())
        );
        let account = store
            .get_account(fx::ACCOUNT_PROVIDER_ID, fx::ACCOUNT_PROVIDER_ACCOUNT_ID)
            .await
            .unwrap()
            .expect("the v3 account");
        assert_eq!(account.user_id, fx::ADA_ID);
        assert_eq!(account.provider_type, "oauth");
        assert_eq!(
            account.access_token.as_ref().map(SecretString::expose),
            Some(fx::ACCOUNT_ACCESS_TOKEN)
        );
        assert_eq!(
            store.get_accounts_for_user(fx::ADA_ID).await.unwrap(),
            vec![account.clone()]
        );
        assert_eq!(
            (account.token_type, account.scope, account.id_token),
            (None, None, None)
        );

        let session = Session {
            session_token: SecretString::new(fx::SESSION_TOKEN),
            user_id: fx::ADA_ID.to_owned(),
            expires: fx::SESSION_EXPIRES,
            access_token: SecretString::new(fx::SESSION_ACCESS_TOKEN),
            created: Some(fx::SESSION_CREATED),
        };
        // v3's raw row reads by the cookie's candidate keys (hashed, raw) in one query.
        assert_eq!(
            store
                .get_session_and_user(&v3_cookie_keys().exposed())
                .await
                .unwrap(),
            Some((session.clone(), ada()))
        );
        assert_eq!(
            store.list_sessions(fx::ADA_ID).await.unwrap(),
            vec![session]
        );

        // The e-mail link v3 sent signs in once.
        let hash = hash_with_secret(fx::EMAIL_TOKEN, &SecretString::new(fx::SECRET));
        assert_eq!(hash, fx::EMAIL_TOKEN_HASH);
        let pending = VerificationToken {
            identifier: fx::EMAIL_IDENTIFIER.to_owned(),
            token_hash: hash.clone(),
            expires: fx::EMAIL_EXPIRES,
        };
        assert_eq!(
            store
                .use_verification_token(&hash.to_uppercase(), &hash)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .use_verification_token(fx::EMAIL_IDENTIFIER, &hash.to_uppercase())
                .await
                .unwrap(),
            None,
            "token hashes compare byte for byte, whatever the table's collation"
        );
        assert_eq!(
            store
                .use_verification_token(fx::EMAIL_IDENTIFIER, &hash)
                .await
                .unwrap(),
            Some(pending)
        );
        assert_eq!(
            store
                .use_verification_token(fx::EMAIL_IDENTIFIER, &hash)
                .await
                .unwrap(),
            None
        );

        // v3's tables keep their collation: lookups are exact all the same.
        for near in ["ADA@example.com", "ada@example.com ", "adá@example.com"] {
            assert_eq!(
                store.get_user_by_email(near).await.unwrap(),
                None,
                "{near:?}"
            );
        }
        assert_eq!(
            store
                .get_session_and_user(&[&fx::SESSION_TOKEN.to_uppercase()])
                .await
                .unwrap(),
            None
        );

        // New rows continue v3's id sequences and use the new columns.
        let new = store
            .create_user(NewUser {
                email: Some("new@example.com".to_owned()),
                ..NewUser::default()
            })
            .await
            .unwrap();
        assert_eq!(new.id, "3");
        store.delete_user(fx::ADA_ID).await.unwrap();
        assert_eq!(
            store.get_accounts_for_user(fx::ADA_ID).await.unwrap(),
            vec![]
        );
        assert_eq!(
            store
                .get_session_and_user(&v3_cookie_keys().exposed())
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .get_user_by_account(fx::ACCOUNT_PROVIDER_ID, fx::ACCOUNT_PROVIDER_ACCOUNT_ID)
                .await
                .unwrap(),
            None
        );
        store.close().await;
    }

    #[tokio::test]
    async fn sqlite() {
        opens_a_v3_database(None).await;
    }

    #[tokio::test]
    async fn postgres() {
        opens_a_v3_database(Some(Server::Postgres)).await;
    }

    #[tokio::test]
    async fn mariadb() {
        opens_a_v3_database(Some(Server::MySql)).await;
    }
}

/// Connecting, migrating, and errors.
mod sql {
    use portcullis_domain::model::{NewUser, Session, VerificationToken};
    use portcullis_domain::secret::SecretString;
    use portcullis_ports::{Store, StoreError};
    use portcullis_store_sql::{Dialect, SqlOptions, SqlStore, MIGRATIONS};
    use time::macros::datetime;

    use crate::support::{self, Server};

    const TOKEN: &str = "f00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dface";

    #[tokio::test]
    async fn urls_select_the_dialect() {
        let (url, _db) = support::sqlite_db();
        let store = support::connect(&url).await;
        assert_eq!(store.dialect(), Dialect::Sqlite);
        let (pg, _pg_db) = support::server_db(Server::Postgres).await;
        let store = support::connect(&pg.replacen("postgres://", "postgresql://", 1)).await;
        assert_eq!(store.dialect(), Dialect::Postgres);
        store.close().await;
        let (my, _my_db) = support::server_db(Server::MySql).await;
        let store = support::connect(&my.replacen("mysql://", "mariadb://", 1)).await;
        assert_eq!(store.dialect(), Dialect::MySql);
        store.migrate().await.unwrap();
        store.close().await;
        for bad in ["", "redis://localhost", "memory"] {
            let error = SqlStore::connect(bad, SqlOptions::default())
                .await
                .unwrap_err();
            assert!(matches!(error, StoreError::Backend(_)), "{bad}: {error}");
        }
    }

    #[tokio::test]
    async fn connect_errors_do_not_quote_the_password() {
        let error = SqlStore::connect(
            "postgres://app:hunter2-secret@127.0.0.1:1/app",
            SqlOptions {
                acquire_timeout: std::time::Duration::from_secs(2),
                ..SqlOptions::default()
            },
        )
        .await
        .unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[tokio::test]
    async fn migrate_is_idempotent_and_recorded() {
        for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
            let (url, _db) = match server {
                Some(server) => support::server_db(server).await,
                None => support::sqlite_db(),
            };
            let store = support::connect(&url).await;
            assert_eq!(store.migrate().await.unwrap(), MIGRATIONS.to_vec());
            assert!(
                !store.upgraded_from_v3(),
                "a database migrate created is not v3's: session tokens default to hashed"
            );
            assert!(store.migrate().await.unwrap().is_empty());
            assert_eq!(
                store.applied_migrations().await.unwrap(),
                vec![1, 2, 3, 4, 5, 6]
            );
            // Concurrent migrations of a fresh store wait for each other.
            let again = support::connect(&url).await;
            let (a, b) = tokio::join!(store.migrate(), again.migrate());
            assert!(a.unwrap().is_empty() && b.unwrap().is_empty());
            store.close().await;
            again.close().await;
        }
    }

    #[tokio::test]
    async fn concurrent_first_migrations_apply_once() {
        for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
            let (url, _db) = match server {
                Some(server) => support::server_db(server).await,
                None => support::sqlite_db(),
            };
            let one = support::connect(&url).await;
            let two = support::connect(&url).await;
            let (a, b) = tokio::join!(one.migrate(), two.migrate());
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(
                a.len() + b.len(),
                MIGRATIONS.len(),
                "{server:?}: {a:?} {b:?}"
            );
            one.close().await;
            two.close().await;
        }
    }

    /// Unique violations and backend failures never echo a session token or token hash
    /// (MySQL's own message would: "Duplicate entry '<token>' for key …").
    #[tokio::test]
    async fn errors_never_quote_secrets() {
        for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
            let test = support::fresh(server).await;
            let store = &test.store;
            let user = store.create_user(NewUser::default()).await.unwrap();
            let session = Session {
                session_token: SecretString::new(TOKEN),
                user_id: user.id.clone(),
                expires: datetime!(2030-01-01 00:00 UTC),
                access_token: SecretString::new(TOKEN.replace("f", "e")),
                created: None,
            };
            store.create_session(session.clone()).await.unwrap();
            let error = store.create_session(session).await.unwrap_err();
            assert!(matches!(error, StoreError::Conflict(_)), "{error}");
            assert!(!error.to_string().contains(TOKEN), "{error}");

            let vt = VerificationToken {
                identifier: "x@example.com".to_owned(),
                token_hash: TOKEN.to_owned(),
                expires: datetime!(2030-01-01 00:00 UTC),
            };
            store.create_verification_token(vt.clone()).await.unwrap();
            let error = store.create_verification_token(vt).await.unwrap_err();
            assert!(matches!(error, StoreError::Conflict(_)), "{error}");
            assert!(!error.to_string().contains(TOKEN), "{error}");

            // A backend failure on a statement that binds a token.
            if store.dialect() == Dialect::MySql {
                // TIMESTAMP ends in 2038 (and MariaDB would store "now" instead).
                let error = store
                    .update_session_expiry(TOKEN, datetime!(2100-01-01 00:00 UTC))
                    .await
                    .unwrap_err();
                assert!(matches!(error, StoreError::Backend(_)), "{error}");
                assert!(error.to_string().contains("TIMESTAMP range"), "{error}");
                assert!(!error.to_string().contains(TOKEN), "{error}");
            }
            store.close().await;
            let error = store.get_session_and_user(&[TOKEN]).await.unwrap_err();
            assert!(!error.to_string().contains(TOKEN), "{error}");
        }
    }

    /// A revocation one store handle records is what every other handle on the database
    /// reads (several server instances share one database); a session created without
    /// `created` gets the database's clock from the `created_at` default, as v3's rows did.
    #[tokio::test]
    async fn revocations_are_shared_and_created_at_defaults() {
        for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
            let (url, _db) = match server {
                Some(server) => support::server_db(server).await,
                None => support::sqlite_db(),
            };
            let one = support::connect(&url).await;
            one.migrate().await.unwrap();
            let two = support::connect(&url).await;
            let expires = datetime!(2030-01-01 00:00 UTC);
            let now = datetime!(2029-12-31 23:00 UTC);
            assert!(!two.is_jwt_revoked("shared").await.unwrap());
            one.revoke_jwt("shared", expires, now).await.unwrap();
            assert!(
                two.is_jwt_revoked("shared").await.unwrap(),
                "{server:?}: another handle on the database must see the revocation"
            );
            two.revoke_jwt("other", expires, expires + time::Duration::seconds(1))
                .await
                .unwrap();
            assert!(
                !one.is_jwt_revoked("shared").await.unwrap(),
                "{server:?}: a revocation dropped through one handle is gone for all"
            );

            let user = one.create_user(NewUser::default()).await.unwrap();
            let before = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
            one.create_session(Session {
                session_token: SecretString::new(TOKEN),
                user_id: user.id.clone(),
                expires,
                access_token: SecretString::new(TOKEN.replace("f", "e")),
                created: None,
            })
            .await
            .unwrap();
            let (read, _) = two.get_session_and_user(&[TOKEN]).await.unwrap().unwrap();
            let stamped = read.created.expect("created_at's default stamps the row");
            let after = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
            assert!(
                before < stamped && stamped < after,
                "{server:?}: created_at is the database's clock: {stamped}"
            );
            one.close().await;
            two.close().await;
        }
    }

    /// A store on a database nobody migrated fails with a backend error, not a panic.
    #[tokio::test]
    async fn unmigrated_database_is_a_backend_error() {
        let (url, _db) = support::sqlite_db();
        let store = support::connect(&url).await;
        let error = store.get_user("1").await.unwrap_err();
        assert!(matches!(error, StoreError::Backend(_)), "{error}");
        assert!(error.to_string().contains("no such table"), "{error}");
    }

    /// A table in another shape is named, not half-used.
    #[tokio::test]
    async fn migrate_refuses_a_foreign_table() {
        let (url, _db) = support::sqlite_db();
        let store = support::connect(&url).await;
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::raw_sql("CREATE TABLE sessions (id INTEGER PRIMARY KEY, token TEXT)")
            .execute(&mut c)
            .await
            .unwrap();
        let error = store.migrate().await.unwrap_err().to_string();
        assert!(
            error.contains("sessions") && error.contains("session_token"),
            "{error}"
        );
    }

    /// Ids that no row can have are `None`/`NotFound`, never errors.
    #[tokio::test]
    async fn odd_ids_are_nobody() {
        let test = support::fresh(None).await;
        let store = &test.store;
        let user = store.create_user(NewUser::default()).await.unwrap();
        let account = portcullis_domain::model::Account {
            user_id: user.id.clone(),
            provider_type: "email".to_owned(),
            provider_id: "email".to_owned(),
            provider_account_id: "odd@example.com".to_owned(),
            refresh_token: None,
            access_token: None,
            access_token_expires: None,
            token_type: None,
            scope: None,
            id_token: None,
        };
        store.link_account(account.clone()).await.unwrap();
        for odd in [" 1", "01", "+1", "1.0", "１", "9223372036854775808"] {
            assert_eq!(store.get_user(odd).await.unwrap(), None, "{odd:?}");
            assert!(matches!(
                store
                    .update_user(portcullis_domain::model::User {
                        id: odd.to_owned(),
                        ..user.clone()
                    })
                    .await,
                Err(StoreError::NotFound(_))
            ));
            store.delete_user(odd).await.unwrap();
            assert_eq!(store.list_sessions(odd).await.unwrap(), vec![]);
            assert_eq!(store.get_accounts_for_user(odd).await.unwrap(), vec![]);
            assert_eq!(store.delete_sessions_for_user(odd).await.unwrap(), 0);
        }
        assert_eq!(
            store.get_accounts_for_user(&user.id).await.unwrap(),
            vec![account]
        );
        assert_eq!(store.get_user(&user.id).await.unwrap(), Some(user));
    }
}

mod outbox {
    use portcullis_store_sql::SqlOutbox;

    use crate::support::{self, Server};

    async fn fresh(server: Option<Server>) -> (SqlOutbox, support::TestStore) {
        let store = support::fresh(server).await;
        (SqlOutbox::new(store.store.clone()), store)
    }

    mod sqlite {
        portcullis_store_conformance::outbox_conformance_tests!(async { super::fresh(None).await });
    }

    mod postgres {
        portcullis_store_conformance::outbox_conformance_tests!(async {
            super::fresh(Some(crate::support::Server::Postgres)).await
        });
    }

    mod mariadb {
        portcullis_store_conformance::outbox_conformance_tests!(async {
            super::fresh(Some(crate::support::Server::MySql)).await
        });
    }

    /// Two instances (each its own pool) on one database never take the same event.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_the_outbox_without_sharing_a_message() {
        use std::collections::HashSet;
        use std::sync::Arc;

        use portcullis_ports::Outbox;
        use time::macros::datetime;

        for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
            let (url, _db) = match server {
                Some(server) => support::server_db(server).await,
                None => support::sqlite_db(),
            };
            let first = support::connect(&url).await;
            first.migrate().await.unwrap();
            let second = support::connect(&url).await;
            let a: Arc<dyn Outbox> = Arc::new(SqlOutbox::new(first.clone()));
            let b: Arc<dyn Outbox> = Arc::new(SqlOutbox::new(second.clone()));
            let t0 = datetime!(2040-01-01 00:00 UTC);
            for i in 0..30 {
                a.enqueue(&format!("msg_{i:02}"), "{}", t0).await.unwrap();
            }
            let lease = t0 + time::Duration::minutes(1);
            let take = |o: Arc<dyn Outbox>| async move {
                let mut mine = Vec::new();
                loop {
                    let batch = o.take_due(t0, lease, 4).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|e| e.id));
                }
            };
            let (x, y) = tokio::join!(take(a.clone()), take(b.clone()));
            let mut seen = HashSet::new();
            for id in x.iter().chain(&y) {
                assert!(seen.insert(id.clone()), "{server:?}: {id} taken twice");
            }
            assert_eq!(seen.len(), 30, "{server:?}");
            first.close().await;
            second.close().await;
        }
    }
}
