//! Redis for Portcullis: what several server instances share besides their database.
//!
//! * [`RedisRateLimiter`]: the [`RateLimiter`](portcullis_ports::RateLimiter) port on
//!   Redis, one atomic script per hit; while Redis cannot answer it falls back to another
//!   limiter (the database's, or in-process counters) or, configured to fail closed,
//!   refuses.
//! * [`RedisSessionCache`]: a [`Store`](portcullis_ports::Store) that wraps the database
//!   store and caches its session lookups, invalidated explicitly on every write that
//!   changes what a lookup returns. The database stays the truth: a Redis restart (or
//!   outage) loses cached copies, never a session's validity.
//!
//! Both share one [`RedisConnection`] (a reconnecting, multiplexed connection). Keys
//! start with a configurable prefix (default [`DEFAULT_PREFIX`]) and never hold an e-mail
//! address, an IP or a session token in clear: those parts are SHA-256 hex. Scripts touch
//! keys they compute (the members of a user's set), so the server must be a standalone
//! Redis (or a primary with replicas), not Redis Cluster.

mod connection;
mod keys;
mod limit;
mod session_cache;

pub use connection::{ConnectError, RedisConnection, DEFAULT_TIMEOUT};
pub use limit::RedisRateLimiter;
pub use redis::RedisError;
pub use session_cache::{RedisSessionCache, DEFAULT_SESSION_TTL};

/// The key prefix used unless configured otherwise.
pub const DEFAULT_PREFIX: &str = "portcullis:";
