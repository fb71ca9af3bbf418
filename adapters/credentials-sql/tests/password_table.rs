//! The password table on real databases: SQLite (a file), PostgreSQL and MariaDB (the
//! servers of `bash .ci/services`: `PORTCULLIS_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, and `PORTCULLIS_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`). Each test creates its own table, named at random,
//! and drops it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use portcullis_credentials_sql::{PasswordTable, Scheme, Settings};
use rand_core::RngCore;
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
    MySql,
}

fn server_url(db: Db) -> String {
    let (var, default) = match db {
        Db::Postgres => (
            "PORTCULLIS_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ),
        Db::MySql => (
            "PORTCULLIS_TEST_MYSQL_URL",
            "mysql://root@127.0.0.1:3306/test",
        ),
        Db::Sqlite => unreachable!(),
    };
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// One statement on the test database (table setup), outside the backend.
async fn exec(db: Db, url: &str, statement: &str) {
    use sqlx::Connection;
    let done = match db {
        Db::Postgres => match sqlx::PgConnection::connect(url).await {
            Ok(mut c) => sqlx::query(statement).execute(&mut c).await.map(drop),
            Err(e) => Err(e),
        },
        Db::MySql => match sqlx::MySqlConnection::connect(url).await {
            Ok(mut c) => sqlx::query(statement).execute(&mut c).await.map(drop),
            Err(e) => Err(e),
        },
        Db::Sqlite => match sqlx::SqliteConnection::connect(url).await {
            Ok(mut c) => sqlx::query(statement).execute(&mut c).await.map(drop),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = done {
        panic!("{statement}: {e} (start the databases with `bash .ci/services`)");
    }
}

fn cheap_argon2id(password: &str) -> String {
    let params = argon2::Params::new(argon2::Params::MIN_M_COST, 1, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

fn scrypt_hash(password: &str) -> String {
    scrypt::Scrypt
        .hash_password_customized(
            password.as_bytes(),
            None,
            None,
            scrypt::Params::new(4, 8, 1, 32).unwrap(),
            &SaltString::generate(&mut OsRng),
        )
        .unwrap()
        .to_string()
}

fn pbkdf2_hash(password: &str) -> String {
    pbkdf2::Pbkdf2
        .hash_password_customized(
            password.as_bytes(),
            Some(pbkdf2::Algorithm::Pbkdf2Sha256.ident()),
            None,
            pbkdf2::Params {
                rounds: 1000,
                output_length: 32,
            },
            &SaltString::generate(&mut OsRng),
        )
        .unwrap()
        .to_string()
}

/// The users of every test: one per scheme, one of an unknown scheme.
fn users() -> Vec<(i64, &'static str, Scheme, String)> {
    vec![
        (
            1,
            "argon@example.com",
            Scheme::Argon2id,
            cheap_argon2id(PASSWORD),
        ),
        (
            2,
            "bcrypt@example.com",
            Scheme::Bcrypt,
            bcrypt::hash(PASSWORD, 4).unwrap(),
        ),
        (
            3,
            "scrypt@example.com",
            Scheme::Scrypt,
            scrypt_hash(PASSWORD),
        ),
        (
            4,
            "pbkdf2@example.com",
            Scheme::Pbkdf2Sha256,
            pbkdf2_hash(PASSWORD),
        ),
        (
            5,
            "strong@example.com",
            Scheme::Argon2id,
            portcullis_credentials_sql::hash_argon2id(PASSWORD).unwrap(),
        ),
    ]
}

struct Table {
    db: Db,
    url: String,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl Table {
    async fn create(db: Db) -> Table {
        let mut suffix = [0u8; 6];
        OsRng.fill_bytes(&mut suffix);
        let name = format!("pw_users_{}", hex::encode(suffix));
        let (url, dir) = match db {
            Db::Sqlite => {
                let dir = tempfile::TempDir::new().unwrap();
                let path = dir.path().join("app.db");
                std::fs::File::create(&path).unwrap();
                (format!("sqlite://{}", path.display()), Some(dir))
            }
            _ => (server_url(db), None),
        };
        let id = match db {
            Db::Postgres => "INTEGER PRIMARY KEY",
            _ => "INTEGER NOT NULL PRIMARY KEY",
        };
        exec(
            db,
            &url,
            &format!(
                "CREATE TABLE {name} (user_id {id}, full_name VARCHAR(255), mail VARCHAR(255) NOT NULL, pw VARCHAR(255) NOT NULL)"
            ),
        )
        .await;
        for (id, email, _, hash) in users() {
            exec(
                db,
                &url,
                &format!("INSERT INTO {name} VALUES ({id}, 'User {id}', '{email}', '{hash}')"),
            )
            .await;
        }
        exec(
            db,
            &url,
            &format!("INSERT INTO {name} VALUES (6, NULL, 'md5@example.com', '$1$saltsalt$Xp0Z8v4Y1u6cqDeuvK1aR.')"),
        )
        .await;
        Table {
            db,
            url,
            name,
            _dir: dir,
        }
    }

    fn param(&self, n: usize) -> String {
        match self.db {
            Db::Postgres => format!("${n}"),
            _ => "?".into(),
        }
    }

    fn settings(&self) -> Settings {
        let mut settings = Settings::new(format!(
            "SELECT user_id AS id, full_name AS name, mail AS email, pw AS password_hash FROM {} WHERE mail = {}",
            self.name,
            self.param(1)
        ));
        settings.username_field = "email".into();
        settings
    }

    fn backend(&self, settings: Settings) -> PasswordTable {
        PasswordTable::new("app", &self.url, settings, 2).unwrap()
    }

    async fn stored_hash(&self, id: i64) -> String {
        read_hash(self, id).await
    }

    async fn drop_table(self) {
        exec(self.db, &self.url, &format!("DROP TABLE {}", self.name)).await;
    }
}

async fn read_hash(table: &Table, id: i64) -> String {
    use sqlx::{Connection, Row};
    let query = format!("SELECT pw FROM {} WHERE user_id = {id}", table.name);
    match table.db {
        Db::Postgres => {
            let mut c = sqlx::PgConnection::connect(&table.url).await.unwrap();
            sqlx::query(&query).fetch_one(&mut c).await.unwrap().get(0)
        }
        Db::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&table.url).await.unwrap();
            sqlx::query(&query).fetch_one(&mut c).await.unwrap().get(0)
        }
        Db::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&table.url).await.unwrap();
            sqlx::query(&query).fetch_one(&mut c).await.unwrap().get(0)
        }
    }
}

/// Every scheme verifies; wrong passwords, unknown users and an unknown scheme are refused;
/// with `rehash`, weaker hashes become Argon2id and still verify, and strong ones stay.
async fn scenario(db: Db) {
    let table = Table::create(db).await;
    let backend = table.backend(table.settings());
    for (id, email, scheme, _) in users() {
        let user = backend.check(email, PASSWORD).await;
        assert_eq!(
            user,
            Some(
                json!({"id": id.to_string(), "name": format!("User {id}"), "email": email, "image": null})
            ),
            "{}",
            scheme.name()
        );
        assert_eq!(
            backend.check(email, "wrong").await,
            None,
            "{}",
            scheme.name()
        );
        assert_eq!(backend.check(email, "").await, None);
    }
    assert_eq!(backend.check("nobody@example.com", PASSWORD).await, None);
    assert_eq!(backend.check("md5@example.com", PASSWORD).await, None);
    // The username is bound, never interpolated.
    assert_eq!(backend.check("' OR '1'='1", PASSWORD).await, None);

    // Only the allowed schemes verify.
    let mut only_argon = table.settings();
    only_argon.allowed_schemes = vec![Scheme::Argon2id];
    let strict = table.backend(only_argon);
    assert!(strict.check("argon@example.com", PASSWORD).await.is_some());
    assert_eq!(strict.check("bcrypt@example.com", PASSWORD).await, None);

    // No hash changed without `rehash`.
    let before: Vec<String> = stored_hashes(&table).await;
    let mut rehashing = table.settings();
    rehashing.rehash_update = Some(format!(
        "UPDATE {} SET pw = {} WHERE user_id = {}",
        table.name,
        table.param(1),
        table.param(2)
    ));
    let rehash = table.backend(rehashing);
    for (id, email, _, _) in users() {
        assert!(rehash.check(email, PASSWORD).await.is_some());
        let after = table.stored_hash(id).await;
        assert!(
            after.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{after}"
        );
        let index = usize::try_from(id - 1).unwrap();
        if id == 5 {
            assert_eq!(after, before[index], "a default-cost argon2id hash is kept");
        } else {
            assert_ne!(after, before[index]);
        }
        // The new hash verifies, through the backend that does not rehash.
        assert!(backend.check(email, PASSWORD).await.is_some());
        assert_eq!(backend.check(email, "wrong").await, None);
    }
    // A failed sign-in rewrites nothing.
    assert_eq!(rehash.check("md5@example.com", PASSWORD).await, None);
    assert!(table.stored_hash(6).await.starts_with("$1$"));
    backend.close().await;
    strict.close().await;
    rehash.close().await;
    table.drop_table().await;
}

async fn stored_hashes(table: &Table) -> Vec<String> {
    let mut hashes = Vec::new();
    for (id, _, _, _) in users() {
        hashes.push(table.stored_hash(id).await);
    }
    hashes
}

#[tokio::test]
async fn sqlite() {
    scenario(Db::Sqlite).await;
}

#[tokio::test]
async fn postgres() {
    scenario(Db::Postgres).await;
}

#[tokio::test]
async fn mariadb() {
    scenario(Db::MySql).await;
}

/// A query that lacks a column, a column of the wrong type, a database that is down:
/// refusals, never a panic.
#[tokio::test]
async fn bad_queries_and_a_database_that_is_down_refuse() {
    let err = Settings::new("SELECT id, name, email FROM users WHERE email = ?")
        .check()
        .unwrap_err();
    assert!(err.contains("password_hash"), "{err}");
    let err = Settings::new("SELECT * FROM users WHERE email = ?")
        .check()
        .unwrap_err();
    assert!(err.contains("list the columns"), "{err}");
    assert!(PasswordTable::new(
        "app",
        "oracle://db",
        Settings::new("SELECT id, name, email, password_hash FROM u"),
        1
    )
    .unwrap_err()
    .contains("postgres://"));

    let table = Table::create(Db::Sqlite).await;
    // `name` is an integer here: refused, with the reason logged.
    let wrong_type = table.backend(Settings::new(format!(
        "SELECT user_id AS id, 7 AS name, mail AS email, pw AS password_hash FROM {} WHERE mail = ?",
        table.name
    )));
    assert_eq!(wrong_type.check("argon@example.com", PASSWORD).await, None);
    table.drop_table().await;

    let down = PasswordTable::new(
        "app",
        "postgres://postgres@127.0.0.1:1/postgres",
        Settings::new("SELECT id, name, email, password_hash FROM users WHERE email = $1"),
        1,
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(down.check("jane@example.com", PASSWORD).await, None);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
