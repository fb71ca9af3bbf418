//! Turns a [`ServerConfig`] into a running engine: providers and their backends, the store,
//! and in dev mode a kept secret and a demo user.

mod engine;
mod secret_file;

use std::path::PathBuf;
use std::sync::Arc;

use portcullis::Portcullis;
use portcullis_domain::store::StoreError;
use portcullis_ports::{RateLimiter, Store};
use portcullis_store_sled::SledStore;
use portcullis_store_sql::{Migration, SqlRateLimiter, SqlStore};

use crate::config::ServerConfig;
use crate::dev_mailbox::DevMailbox;
use crate::error::StartupError;
use crate::redis_config::RedisWiring;

use engine::builder;
pub use engine::default_fields;
use secret_file::create_data_dir;
pub use secret_file::dev_secret;

/// The id of the dev-mode demo provider.
pub const DEV_PROVIDER_ID: &str = "credentials";

/// An engine and the store behind it (kept to flush or close it on shutdown).
#[derive(Debug, Clone)]
pub struct App {
    /// The engine, configured.
    pub portcullis: Portcullis,
    /// The store the engine uses, to flush or close on shutdown.
    pub store: AppStore,
    /// `[hooks.events]`, when configured: its worker runs from [`App::start_events`].
    pub events: Option<Arc<portcullis_hooks_http::events::Events>>,
    /// Dev mode's e-mail sign-in: the links it would have mailed (`GET /dev/mailbox`).
    pub dev_mailbox: Option<Arc<DevMailbox>>,
    /// `[metrics]`, when on: what the engine measured, for `GET /metrics`.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl App {
    /// Starts delivering `[hooks.events]` in the background (needs a tokio runtime); stop
    /// the worker before closing the store.
    pub fn start_events(&self) -> Option<portcullis_hooks_http::events::EventWorker> {
        self.events.as_ref().map(|events| events.start())
    }
}

/// The store an [`App`] runs on.
#[derive(Debug, Clone)]
pub enum AppStore {
    /// The embedded sled store in `<data_dir>/store` (no `database` configured).
    Sled(SledStore),
    /// The SQL database of `database`.
    Sql(SqlStore),
    /// The MongoDB database of a `mongodb://` `database`.
    Mongo(portcullis_store_mongo::MongoStore),
    /// No store (`stateless = true`).
    Stateless,
}

impl AppStore {
    /// The store as the engine sees it; `None` when stateless.
    pub fn shared(&self) -> Option<Arc<dyn Store>> {
        match self {
            AppStore::Sled(store) => Some(Arc::new(store.clone())),
            AppStore::Sql(store) => Some(Arc::new(store.clone())),
            AppStore::Mongo(store) => Some(Arc::new(store.clone())),
            AppStore::Stateless => None,
        }
    }

    /// On shutdown: flushes sled to disk, or closes the database connections.
    pub async fn close(&self) -> Result<(), StoreError> {
        match self {
            AppStore::Sled(store) => store.flush().await,
            AppStore::Sql(store) => {
                store.close().await;
                Ok(())
            }
            AppStore::Mongo(_) | AppStore::Stateless => Ok(()),
        }
    }
}

/// Builds the engine from a configuration. `dev` allows running without a secret (one is
/// generated and kept in `<data_dir>/secret`) and adds the demo user `demo` / `demo`.
/// Opens the sled store at `<data_dir>/store`, creating it if missing. A configuration
/// with a `database` needs [`open`] (async).
pub fn build_app(config: &ServerConfig, dev: bool) -> Result<Portcullis, StartupError> {
    build(config, dev).map(|app| app.portcullis)
}

/// [`build_app`], also returning the store.
pub fn build(config: &ServerConfig, dev: bool) -> Result<App, StartupError> {
    if config.database.is_some() {
        return Err(StartupError::Database(StoreError::Backend(
            "a `database` is opened by `portcullis_server::open` (async), not `build`".to_owned(),
        )));
    }
    if config.redis.is_some() {
        return Err(StartupError::Settings(
            "[redis] is opened by `portcullis_server::open` (async), not `build`".to_owned(),
        ));
    }
    let (builder, mailbox) = builder(config, dev)?;
    if config.stateless {
        return finish(config, builder, AppStore::Stateless, mailbox, None);
    }
    finish(
        config,
        builder,
        AppStore::Sled(open_sled(config)?),
        mailbox,
        None,
    )
}

/// [`build`] for any configuration: with a `database`, connects to it and, when
/// `migrate` is set, applies pending migrations first (what `serve` does unless
/// `--no-migrate`); without one, opens the sled store as [`build`] does.
pub async fn open(config: &ServerConfig, dev: bool, migrate: bool) -> Result<App, StartupError> {
    let (mut builder, mailbox) = builder(config, dev)?;
    // Checked before anything is opened; connecting never waits past the timeout.
    let redis = match crate::redis_config::settings(config)? {
        Some(settings) => Some(RedisWiring::open(settings).await?),
        None => None,
    };
    // The database's shared counters (`throttle_shared`), if any.
    let mut shared_limiter: Option<Arc<dyn RateLimiter>> = None;
    let store = match &config.database {
        None if config.stateless => AppStore::Stateless,
        None => AppStore::Sled(open_sled(config)?),
        Some(url) if is_mongo(url.expose()) => {
            if config.throttle_shared {
                return Err(StartupError::Settings(
                    "throttle_shared needs a SQL database (PostgreSQL, MySQL/MariaDB or SQLite); \
                     MongoDB keeps no shared rate limits yet"
                        .into(),
                ));
            }
            let store = open_mongo(url.expose(), migrate).await?;
            AppStore::Mongo(store)
        }
        Some(url) => {
            let store = SqlStore::connect(url.expose(), config.database_pool.sql_options())
                .await
                .map_err(StartupError::Database)?;
            if migrate {
                // Each applied migration is logged by the store.
                store.migrate().await.map_err(StartupError::Database)?;
            }
            if config.throttle_shared {
                shared_limiter = Some(Arc::new(SqlRateLimiter::new(store.clone())));
            }
            AppStore::Sql(store)
        }
    };
    // Redis counts when configured to, falling back on the database's counters.
    let limiter = match &redis {
        Some(redis) => redis
            .rate_limiter(shared_limiter.clone())
            .or(shared_limiter),
        None => shared_limiter,
    };
    if let Some(limiter) = limiter {
        builder = builder.rate_limiter(limiter);
    }
    finish(config, builder, store, mailbox, redis.as_ref())
}

/// Applies the pending migrations of the configured `database` (`portcullis migrate`);
/// returns them (empty: up to date). `None`: no database is configured (sled needs none).
pub async fn migrate(config: &ServerConfig) -> Result<Option<Vec<Migration>>, StartupError> {
    let Some(url) = &config.database else {
        return Ok(None);
    };
    if is_mongo(url.expose()) {
        // MongoDB has no schema to migrate: its indexes are what `migrate` sets up.
        open_mongo(url.expose(), true).await?;
        return Ok(Some(Vec::new()));
    }
    let store = SqlStore::connect(url.expose(), config.database_pool.sql_options())
        .await
        .map_err(StartupError::Database)?;
    let done = store.migrate().await.map_err(StartupError::Database);
    store.close().await;
    done.map(Some)
}

fn is_mongo(url: &str) -> bool {
    url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")
}

/// Connects to the database named in the URL's path (default `portcullis`); with
/// `migrate`, creates the indexes the store's guarantees rest on (unique e-mail, …).
async fn open_mongo(
    url: &str,
    migrate: bool,
) -> Result<portcullis_store_mongo::MongoStore, StartupError> {
    let after_host = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let name = after_host
        .split_once('/')
        .map(|(_, path)| path.split('?').next().unwrap_or(""))
        .filter(|name| !name.is_empty())
        .unwrap_or("portcullis");
    let store = portcullis_store_mongo::MongoStore::connect(url, name)
        .await
        .map_err(StartupError::Database)?;
    if migrate {
        store
            .ensure_indexes()
            .await
            .map_err(StartupError::Database)?;
    }
    Ok(store)
}

fn open_sled(config: &ServerConfig) -> Result<SledStore, StartupError> {
    let data_dir = config.data_dir();
    create_data_dir(&data_dir)?;
    let store_path = data_dir.join("store");
    SledStore::open(&store_path).map_err(|source| StartupError::Store {
        path: store_path,
        source,
    })
}

fn finish(
    config: &ServerConfig,
    builder: portcullis::Builder,
    store: AppStore,
    dev_mailbox: Option<Arc<DevMailbox>>,
    redis: Option<&RedisWiring>,
) -> Result<App, StartupError> {
    let mut builder = match store.shared() {
        // The session cache wraps what the engine sees; `AppStore` stays the database.
        Some(shared) => match redis {
            Some(redis) => builder.store(redis.cached(config, shared)),
            None => builder.store(shared),
        },
        None => builder,
    };
    let events = crate::events::wire(config, &store)?;
    if let Some(events) = &events {
        builder = builder.event_listener(events.recorder());
    }
    let metrics = config
        .metrics
        .enabled()
        .then(|| Arc::new(crate::metrics::Metrics::new()));
    if let Some(metrics) = &metrics {
        builder = builder.meter(metrics.clone());
    }
    let portcullis = builder.build()?;
    Ok(App {
        portcullis,
        store,
        events,
        dev_mailbox,
        metrics,
    })
}

/// Checks a configuration as `serve` would, without opening the store or writing
/// anything (`portcullis config check`). Database sessions are checked against a
/// throwaway in-memory store.
pub fn check(config: &ServerConfig) -> Result<Portcullis, StartupError> {
    let (mut builder, _) = builder(config, false)?;
    // What needs a store gets a scratch one; a stateless server has none to give.
    let needs_store = config.session_strategy() == portcullis::SessionStrategy::Database
        || (config.jwt.revocable && !config.stateless);
    if needs_store {
        let scratch = SledStore::temporary().map_err(|source| StartupError::Store {
            path: PathBuf::from("<temporary>"),
            source,
        })?;
        builder = builder.store(Arc::new(scratch));
    }
    Ok(builder.build()?)
}
