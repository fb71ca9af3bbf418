//! The store conformance suite, unchanged, through the session cache (over sled): caching
//! must not change any answer the store gives.

use std::sync::Arc;

use portcullis_redis::RedisSessionCache;
use portcullis_store_sled::SledStore;

use crate::support::{connection, unique_prefix};

portcullis_store_conformance::store_conformance_tests!(async {
    let sled = SledStore::temporary().expect("a temporary sled store");
    RedisSessionCache::new(Arc::new(sled), connection()).prefix(unique_prefix("conformance"))
});
