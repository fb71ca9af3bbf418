//! Portcullis's pure core. See `../ARCHITECTURE` in the repository docs.
pub mod model;
pub mod secret;
pub mod store;
