//! `SqlOutbox`: the outbox conformance cases on each database, and two instances sharing one.

use portcullis_store_sql::SqlOutbox;

use crate::support::{self, Server};

async fn fresh(server: Option<Server>) -> (SqlOutbox, support::TestStore) {
    let store = support::fresh(server).await;
    (SqlOutbox::new(store.store.clone()), store)
}

mod sqlite {
    portcullis_store_conformance::outbox_conformance_tests!(async { super::fresh(None).await });
}

mod postgres {
    portcullis_store_conformance::outbox_conformance_tests!(async {
        super::fresh(Some(crate::support::Server::Postgres)).await
    });
}

mod mariadb {
    portcullis_store_conformance::outbox_conformance_tests!(async {
        super::fresh(Some(crate::support::Server::MySql)).await
    });
}

/// Two instances (each its own pool) on one database never take the same event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_outbox_without_sharing_a_message() {
    use std::collections::HashSet;
    use std::sync::Arc;

    use portcullis_ports::Outbox;
    use time::macros::datetime;

    for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
        let (url, _db) = match server {
            Some(server) => support::server_db(server).await,
            None => support::sqlite_db(),
        };
        let first = support::connect(&url).await;
        first.migrate().await.unwrap();
        let second = support::connect(&url).await;
        let a: Arc<dyn Outbox> = Arc::new(SqlOutbox::new(first.clone()));
        let b: Arc<dyn Outbox> = Arc::new(SqlOutbox::new(second.clone()));
        let t0 = datetime!(2040-01-01 00:00 UTC);
        for i in 0..30 {
            a.enqueue(&format!("msg_{i:02}"), "{}", t0).await.unwrap();
        }
        let lease = t0 + time::Duration::minutes(1);
        let take = |o: Arc<dyn Outbox>| async move {
            let mut mine = Vec::new();
            loop {
                let batch = o.take_due(t0, lease, 4).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|e| e.id));
            }
        };
        let (x, y) = tokio::join!(take(a.clone()), take(b.clone()));
        let mut seen = HashSet::new();
        for id in x.iter().chain(&y) {
            assert!(seen.insert(id.clone()), "{server:?}: {id} taken twice");
        }
        assert_eq!(seen.len(), 30, "{server:?}");
        first.close().await;
        second.close().await;
    }
}
