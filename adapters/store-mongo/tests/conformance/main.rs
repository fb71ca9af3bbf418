//! The store conformance suite against a MongoDB-wire server, plus what only this store
//! has: v3's documents and indexes, ids that are ObjectIds, and error hygiene.
//!
//! Needs a server: `bash .ci/mongo` starts one (nx-27017) at mongodb://127.0.0.1:27018,
//! the default here; `MONGODB_URL` points the tests at another (a real MongoDB). Each test
//! runs in its own database, dropped when the test ends, passed or failed.
//!
//! One test binary on purpose (link time on CI): add MongoDB-specific tests here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
mod mongo;

portcullis_store_conformance::store_conformance_tests!(async { harness::fresh().await });
