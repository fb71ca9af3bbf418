//! The server's one integration test binary (one link instead of many).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod binary;
mod cli;
mod cluster;
mod config;
mod credentials_backends;
mod database;
mod dev;
mod dev_mailbox;
mod durability;
mod email;
mod events;
mod events_nats;
mod hooks;
mod http;
mod ldap;
mod logs;
mod metrics;
mod oauth;
mod ops;
mod redis_section;
mod support;
mod throttle;
mod users;
mod v3_interop;
mod v3_keys;
