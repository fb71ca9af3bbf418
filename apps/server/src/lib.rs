//! # Portcullis server
//!
//! The `portcullis` binary as a library: configuration ([`ServerConfig`]: TOML file +
//! environment + JSON Schema), the users file credentials backend ([`UserDirectory`]),
//! the warp HTTP front ([`spawn`]) and logging. The test suite runs a real server
//! in-process with [`build_app`] and [`spawn`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), portcullis_server::StartupError> {
//! use portcullis_server::{build_app, spawn, ServerConfig};
//!
//! let mut config = ServerConfig::default();
//! config.data_dir = Some("/tmp/portcullis-demo".into());
//! let app = build_app(&config, true)?; // dev mode: demo user, generated secret
//! let (addr, handle) = spawn(app, "127.0.0.1:0".parse().unwrap_or(config.listen_addr())).await?;
//! println!("listening on {addr}");
//! let _ = handle.shutdown().await;
//! # Ok(()) }
//! ```

pub mod app;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod dev_mailbox;
pub mod error;
pub mod events;
pub mod health;
pub mod hooks;
pub mod http;
pub mod ldap_config;
pub mod logging;
pub mod mail_template;
pub mod metrics;
pub mod oauth_config;
pub mod redis_config;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod users;

pub use app::{build, build_app, check, migrate, open, App, AppStore};
pub use config::{DatabaseUrl, LogFormat, ProviderConfig, ServerConfig};
pub use error::StartupError;
pub use http::{os_signal, routes, serve_on, spawn, spawn_with_signal, ServeError, ShutdownHandle};
pub use users::{hash_password, verify_password, PasswordError, UserDirectory, UserEntry};
