//! The server's one integration test binary (one link instead of many).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod config;
mod database;
mod dev;
mod durability;
mod email;
mod http;
mod logs;
mod oauth;
mod support;
mod users;
mod v3_interop;
