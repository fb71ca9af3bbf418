//! The outbox conformance suite against the memory outbox (the stores run it in their own crates).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_ports::MemoryOutbox;

portcullis_store_conformance::outbox_conformance_tests!(async { (MemoryOutbox::new(1000), ()) });
