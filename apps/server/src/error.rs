//! Why the server cannot start. Every message names the file, field or variable at fault.

use std::net::SocketAddr;
use std::path::PathBuf;

use portcullis_domain::store::StoreError;
use portcullis_domain::ConfigError;

/// A reason to refuse to start (exit code 2) or to stop.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configuration file cannot be read as a configuration (the message names the
    /// line and the field).
    #[error("config file {}: {message}", path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },

    /// An environment variable holds an unusable value.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable's name.
        var: &'static str,
        /// What is wrong with its value.
        message: String,
    },

    /// The engine refuses the configuration (no secret, short secret, bad URL, cookies …).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),

    /// The server's own settings do not fit together (stateless with e-mail sign-in, an
    /// e-mail provider without SMTP …).
    #[error("invalid configuration: {0}")]
    Settings(String),

    /// A users file cannot be used.
    #[error("users file {}: {message}", path.display())]
    UsersFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// A file or directory the server needs cannot be read or written.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `create` …).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The dev-mode secret file holds something unusable.
    #[error("secret file {}: {message}", path.display())]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// The store cannot be opened.
    #[error("store at {}: {source}", path.display())]
    Store {
        /// Where the store lives.
        path: PathBuf,
        /// Why it cannot be opened.
        source: StoreError,
    },

    /// The database (`database` in the config) cannot be opened or migrated. The message
    /// never quotes the URL.
    #[error("database: {0}")]
    Database(StoreError),

    /// The log filter or format is unusable.
    #[error("logging: {0}")]
    Logging(String),

    /// Hashing the dev-mode demo password failed.
    #[error("password hashing: {0}")]
    Hash(String),

    /// The listening socket cannot be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}
