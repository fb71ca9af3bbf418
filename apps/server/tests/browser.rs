#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Real-browser tests: headless Chromium driven through ChromeDriver (WebDriver), against
//! the server running in-process on a free loopback port. `bash .ci/browser` installs
//! Debian's chromium and chromium-driver and bundles NextAuth v3's own client; a missing
//! piece fails the test with that advice (nothing is skipped).
//!
//! One browser test runs at a time (a Chromium each, on two cores).

#[allow(dead_code)]
#[path = "server/support.rs"]
mod server_support;

#[path = "browser/support.rs"]
mod support;

#[path = "browser/client.rs"]
mod client;
#[path = "browser/nextauth.rs"]
mod nextauth;
#[path = "browser/pages.rs"]
mod pages;
