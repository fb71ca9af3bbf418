//! Ports: the traits Portcullis performs the domain's effects through.
//!
//! The domain (`portcullis-domain`) never does I/O; it yields effects as data. The embedded
//! app performs them through these traits, implemented by the adapters.

pub mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use store::{perform, Store};
pub use portcullis_domain::store::{StoreError, StoreOp, StoreReply};
