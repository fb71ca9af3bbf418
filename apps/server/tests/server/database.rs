//! A SQL database as the store: `database` and `session.strategy` in the configuration,
//! `serve`'s store, and `portcullis migrate`.

use std::path::Path;

use portcullis::SessionStrategy;
use portcullis_server::config::Secrets;
use portcullis_server::{build, check, open, AppStore, DatabaseUrl, ServerConfig, StartupError};
use portcullis_store_sql::{SqlOptions, SqlStore, MIGRATIONS};
use tempfile::TempDir;

use crate::binary::portcullis;
use crate::support::{PASSWORD, SECRET};

fn no_env(_: &str) -> Option<String> {
    None
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn sql_config(dir: &Path) -> ServerConfig {
    let mut config = ServerConfig::from_toml(&format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\ndatabase = \"sqlite://auth.db\"\n[session]\nstrategy = \"database\"\n"
    ))
    .unwrap();
    config.resolve_paths(dir);
    config
}

/// Every migration's version, in order.
fn versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

#[test]
fn database_and_session_strategy_come_from_the_file() {
    let dir = TempDir::new().unwrap();
    let file = write_config(
        dir.path(),
        &format!(
            "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\ndatabase = \"sqlite://state/auth.db?mode=rwc\"\n\n\
             [session]\nstrategy = \"database\"\nupdate_age = 60\n"
        ),
    );
    let config = ServerConfig::load(Some(&file), &no_env).unwrap();
    assert_eq!(
        config.database.as_ref().unwrap().expose(),
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("state/auth.db").display()
        ),
        "a relative SQLite path is taken from the config file's directory"
    );
    assert_eq!(config.session.strategy, Some(SessionStrategy::Database));
    let engine = check(&config).unwrap();
    assert_eq!(engine.config().session.strategy, SessionStrategy::Database);
    assert_eq!(engine.config().session.update_age, 60);

    let jwt = ServerConfig::from_toml("[session]\nstrategy = \"jwt\"").unwrap();
    assert_eq!(jwt.session.strategy, Some(SessionStrategy::Jwt));
    assert_eq!(ServerConfig::from_toml("").unwrap().session.strategy, None);
    assert_eq!(ServerConfig::from_toml("").unwrap().database, None);
}

#[test]
fn server_urls_and_absolute_paths_are_kept() {
    for url in [
        "postgres://app@db.internal:5432/auth",
        "mysql://root@127.0.0.1/test",
        "sqlite:///var/lib/portcullis/auth.db",
        "sqlite::memory:",
    ] {
        let mut config = ServerConfig::from_toml(&format!("database = \"{url}\"")).unwrap();
        config.resolve_paths(Path::new("/etc/portcullis"));
        assert_eq!(config.database.unwrap().expose(), url);
    }
}

#[test]
fn the_environment_sets_the_database_and_debug_hides_its_password() {
    let mut config = ServerConfig::from_toml("database = \"sqlite://file.db\"").unwrap();
    config
        .apply_env(&|name| {
            (name == "PORTCULLIS_DATABASE_URL")
                .then(|| "postgres://app:hunter2-pw@db/auth".to_owned())
        })
        .unwrap();
    let url = config.database.as_ref().unwrap();
    assert_eq!(url.expose(), "postgres://app:hunter2-pw@db/auth");
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(
        debug.contains("DatabaseUrl(postgres://[redacted])"),
        "{debug}"
    );
}

#[test]
fn an_unknown_strategy_is_refused() {
    let error = ServerConfig::from_toml("[session]\nstrategy = \"cookie\"")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("strategy") || error.contains("cookie"),
        "{error}"
    );
    assert!(matches!(
        ServerConfig::from_toml("database = 42"),
        Err(StartupError::ConfigFile { .. })
    ));
}

#[tokio::test]
async fn serve_opens_the_database_and_migrates_it() {
    let dir = TempDir::new().unwrap();
    let config = sql_config(dir.path());

    // Without migrating: connected, schema untouched.
    let app = open(&config, false, false).await.unwrap();
    let AppStore::Sql(store) = &app.store else {
        panic!("a database URL must open the SQL store");
    };
    assert_eq!(store.applied_migrations().await.unwrap(), Vec::<i64>::new());
    app.store.close().await.unwrap();

    let app = open(&config, false, true).await.unwrap();
    let AppStore::Sql(store) = &app.store else {
        panic!("a database URL must open the SQL store");
    };
    assert_eq!(store.applied_migrations().await.unwrap(), versions());
    assert_eq!(
        app.portcullis.config().session.strategy,
        SessionStrategy::Database
    );
    app.store.close().await.unwrap();
    assert!(dir.path().join("auth.db").exists());
    assert!(
        !dir.path().join(".portcullis").exists(),
        "no sled store is opened"
    );

    // The synchronous `build` is for sled only.
    assert!(matches!(
        build(&config, false),
        Err(StartupError::Database(_))
    ));

    // Without `database`, sled under the data directory stays the default.
    let sled = ServerConfig {
        url: Some("http://localhost:3000/api/auth".into()),
        secret: Some(Secrets::One(SECRET.into())),
        data_dir: Some(dir.path().join("data")),
        ..ServerConfig::default()
    };
    let app = open(&sled, false, true).await.unwrap();
    assert!(matches!(app.store, AppStore::Sled(_)));
    app.store.close().await.unwrap();
    assert!(dir.path().join("data/store").exists());
}

#[tokio::test]
async fn portcullis_migrate_on_a_sqlite_file() {
    let dir = TempDir::new().unwrap();
    let file = write_config(
        dir.path(),
        &format!("secret = \"{SECRET}\"\ndatabase = \"sqlite://auth.db\"\n"),
    );
    let run = || {
        portcullis(dir.path())
            .arg("migrate")
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap()
    };

    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for m in MIGRATIONS {
        assert!(
            stdout.contains(&format!("applied migration {} {}", m.version, m.name)),
            "{stdout}"
        );
    }
    let second = run();
    assert!(second.status.success());
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "database is up to date\n"
    );

    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let store = SqlStore::connect(&url, SqlOptions::default())
        .await
        .unwrap();
    assert_eq!(store.applied_migrations().await.unwrap(), versions());
    store.close().await;

    // The environment's URL, and no database at all.
    let env = portcullis(dir.path())
        .arg("migrate")
        .env("PORTCULLIS_DATABASE_URL", "sqlite://other.db")
        .output()
        .unwrap();
    assert!(env.status.success());
    assert!(dir.path().join("other.db").exists());
    let none = portcullis(dir.path()).arg("migrate").output().unwrap();
    assert!(none.status.success());
    assert!(String::from_utf8_lossy(&none.stdout).contains("no `database` configured"));
}

#[test]
fn portcullis_migrate_fails_on_a_broken_file() {
    let dir = TempDir::new().unwrap();
    // A file that is not a SQLite database.
    std::fs::write(
        dir.path().join("broken.db"),
        b"not a database at all, not even close",
    )
    .unwrap();
    let out = portcullis(dir.path())
        .arg("migrate")
        .env("PORTCULLIS_DATABASE_URL", "sqlite://broken.db")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: database:"), "{stderr}");
}

/// `throttle_shared` is off by default and, on, needs a `database`: an in-process limiter
/// would count per instance.
#[tokio::test]
async fn shared_throttling_needs_a_database() {
    let dir = TempDir::new().unwrap();
    assert!(!ServerConfig::from_toml("").unwrap().throttle_shared);
    let mut config = ServerConfig::from_toml(&format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\nthrottle_shared = true\n"
    ))
    .unwrap();
    config.data_dir = Some(dir.path().join("data"));
    assert!(config.throttle_shared);
    let refused = |error: StartupError| {
        let message = error.to_string();
        assert!(matches!(error, StartupError::Settings(_)), "{message}");
        assert!(
            message.contains("throttle_shared") && message.contains("`database`"),
            "{message}"
        );
    };
    refused(check(&config).unwrap_err());
    refused(build(&config, false).unwrap_err());
    refused(open(&config, false, true).await.unwrap_err());
    assert!(!dir.path().join("data").exists(), "nothing is opened");

    let mut config = sql_config(dir.path());
    config.throttle_shared = true;
    check(&config).unwrap();
}

/// An instance on the database, handling requests in-process.
async fn instance(dir: &Path, throttle_shared: bool) -> portcullis_server::App {
    let mut config = crate::support::config_in(dir);
    config.database = Some(DatabaseUrl::new(format!(
        "sqlite://{}",
        dir.join("auth.db").display()
    )));
    config.throttle_shared = throttle_shared;
    open(&config, false, true).await.unwrap()
}

/// A credentials sign-in as `jane` on `app`: the response's status.
pub(crate) async fn sign_in(app: &portcullis_server::App, password: &str) -> u16 {
    let csrf = app
        .portcullis
        .handle(
            http::Request::get("/api/auth/csrf")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    let cookies: Vec<String> = csrf
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let body: serde_json::Value = serde_json::from_str(csrf.body()).unwrap();
    let token = body["csrfToken"].as_str().unwrap();
    let form = format!(
        "csrfToken={token}&username=jane&password={}&json=true",
        password.replace(' ', "+")
    );
    let response = app
        .portcullis
        .handle(
            http::Request::post("/api/auth/callback/credentials")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookies.join("; "))
                .body(bytes::Bytes::from(form))
                .unwrap(),
        )
        .await;
    response.status().as_u16()
}

/// Two instances on one database: with `throttle_shared`, the attempts counted by one
/// throttle the other (credentials: 10 per username per 5 minutes); without it, each
/// counts alone.
#[tokio::test]
async fn shared_throttling_counts_across_instances() {
    for shared in [true, false] {
        let dir = TempDir::new().unwrap();
        let one = instance(dir.path(), shared).await;
        let two = instance(dir.path(), shared).await;
        assert_eq!(sign_in(&two, PASSWORD).await, 200, "shared: {shared}");
        for _ in 0..9 {
            assert_eq!(sign_in(&one, "wrong").await, 401);
        }
        let status = sign_in(&two, PASSWORD).await;
        if shared {
            assert_eq!(status, 401, "the 11th attempt on the database is throttled");
        } else {
            assert_eq!(status, 200, "each instance counts alone");
        }
        one.store.close().await.unwrap();
        two.store.close().await.unwrap();
    }
}

/// `database = "mongodb://…"` selects the MongoDB store (the MongoDB-wire server from
/// `bash .ci/mongo`, or `MONGODB_URL`); `portcullis migrate` there creates the indexes.
#[tokio::test]
async fn a_mongodb_url_selects_the_mongodb_store() {
    let base = std::env::var("MONGODB_URL").unwrap_or_else(|_| "mongodb://127.0.0.1:27018".into());
    let name = format!("portcullis_srv_{}", std::process::id());
    let url = format!("{}/{name}", base.trim_end_matches('/'));
    let mut config = ServerConfig::from_toml(&format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\ndatabase = \"{url}\"\n[session]\nstrategy = \"database\"\n"
    ))
    .unwrap();
    config.stateless = false;
    assert!(portcullis_server::app::migrate(&config)
        .await
        .unwrap()
        .is_some());
    let app = open(&config, false, true)
        .await
        .unwrap_or_else(|e| panic!("{e}: run `bash .ci/mongo` (the README's test command does)"));
    let AppStore::Mongo(store) = &app.store else {
        panic!("a mongodb:// URL must open the MongoDB store");
    };
    let response = app
        .portcullis
        .handle(
            http::Request::get("/api/auth/session")
                .header("cookie", "next-auth.session-token=unknown")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(
        response.body(),
        "{}",
        "an unknown database session reads as no session"
    );
    store.database().drop().await.unwrap();
}

#[test]
fn the_pool_is_configurable() {
    let config = ServerConfig::from_toml(
        "[database_pool]\nmax_connections = 3\nacquire_timeout_seconds = 2\nstatement_timeout_seconds = 5\n",
    )
    .unwrap();
    let options = config.database_pool.sql_options();
    assert_eq!(options.max_connections, 3);
    assert_eq!(options.acquire_timeout, std::time::Duration::from_secs(2));
    assert_eq!(
        options.statement_timeout,
        Some(std::time::Duration::from_secs(5))
    );
    let defaults = ServerConfig::from_toml("")
        .unwrap()
        .database_pool
        .sql_options();
    assert_eq!(
        defaults.max_connections,
        SqlOptions::default().max_connections
    );
    assert!(
        ServerConfig::from_toml("[database_pool]\nsize = 3\n").is_err(),
        "unknown fields are refused"
    );
}
