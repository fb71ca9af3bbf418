//! The Redis adapters against the machine's Redis (127.0.0.1:6379): the rate limiter, and
//! the session cache with the store conformance suite run through it.
//!
//! One test binary on purpose (link time). Every test works under its own key prefix, so
//! tests running in parallel (and other users of the same Redis) never meet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conformance;
mod limiter;
mod restart;
mod session_cache;
mod support;
