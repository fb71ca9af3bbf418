//! Leases (`take_lease`, `release_lease`): one holder at a time until the lease ends, also
//! when holders race.

use std::sync::Arc;

use portcullis_ports::Store;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::fixtures::*;

const T0: OffsetDateTime = datetime!(2031-05-06 07:08:09.010 UTC);
const TERM: Duration = Duration::seconds(30);

/// A lease is its holder's until it ends: another holder is refused before, and takes it
/// over after; the holder may extend it; leases on other keys are independent.
pub async fn lease_is_held_until_it_ends(store: Arc<dyn Store>) {
    let take = |key: &'static str, holder: &'static str, at: OffsetDateTime| {
        let store = store.clone();
        async move {
            ok(
                store.take_lease(key, holder, at, at + TERM).await,
                "take_lease",
            )
        }
    };
    assert!(
        take("renew:a", "one", T0).await,
        "store failed: a free lease must be granted"
    );
    assert!(
        !take("renew:a", "two", T0 + Duration::seconds(1)).await,
        "store failed: a running lease must refuse another holder"
    );
    assert!(
        take("renew:b", "two", T0 + Duration::seconds(1)).await,
        "store failed: a lease on another key must be independent"
    );
    assert!(
        take("renew:a", "one", T0 + Duration::seconds(10)).await,
        "store failed: the holder must be able to extend its lease"
    );
    // Extended to T0 + 40 s: still held at T0 + 35 s, free at T0 + 40 s.
    assert!(
        !take("renew:a", "two", T0 + Duration::seconds(35)).await,
        "store failed: an extended lease must run to its new end"
    );
    assert!(
        take("renew:a", "two", T0 + Duration::seconds(40)).await,
        "store failed: an ended lease must be granted to another holder"
    );
    assert!(
        !take("renew:a", "one", T0 + Duration::seconds(41)).await,
        "store failed: a lease taken over must refuse its former holder"
    );
}

/// Releasing ends only the releasing holder's lease.
pub async fn release_lease_frees_only_the_holders(store: Arc<dyn Store>) {
    let until = T0 + TERM;
    assert!(ok(
        store.take_lease("renew:c", "one", T0, until).await,
        "take_lease"
    ));
    ok(
        store.release_lease("renew:c", "two").await,
        "release_lease by a non-holder",
    );
    assert!(
        !ok(
            store.take_lease("renew:c", "two", T0, until).await,
            "take_lease"
        ),
        "store failed: a release by another holder must leave the lease running"
    );
    ok(store.release_lease("renew:c", "one").await, "release_lease");
    assert!(
        ok(
            store.take_lease("renew:c", "two", T0, until).await,
            "take_lease"
        ),
        "store failed: a released lease must be granted at once"
    );
    ok(
        store.release_lease("renew:unknown", "one").await,
        "release_lease of a lease never taken (must be no error)",
    );
}

/// Of holders racing for one free lease, exactly one gets it.
pub async fn lease_race_has_one_winner(store: Arc<dyn Store>) {
    let results = race(&store, 8, "racing take_lease", |store, i| async move {
        store
            .take_lease("renew:raced", &format!("holder-{i}"), T0, T0 + TERM)
            .await
    })
    .await;
    let granted = results
        .into_iter()
        .map(|r| ok(r, "racing take_lease (each must answer)"))
        .filter(|granted| *granted)
        .count();
    assert_eq!(
        granted, 1,
        "store failed: of 8 racing take_lease calls exactly one must be granted"
    );
}
