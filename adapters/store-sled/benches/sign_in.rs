//! What the sled store adds to an e-mail sign-in, on a database directory on disk: the
//! link's token stored at the request, then at the callback the token used, the user
//! created and the session created. One sign-in at a time, and 16 at once (where writers
//! can share a flush).
//!
//! Run: `cargo bench -p portcullis-store-sled --bench sign_in`

#![allow(clippy::unwrap_used, clippy::expect_used)]
// `criterion_group!` defines a public function it cannot document.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use portcullis_domain::model::{NewUser, Session, VerificationToken};
use portcullis_ports::Store;
use portcullis_store_sled::SledStore;
use time::{Duration, OffsetDateTime};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// One e-mail sign-in's store writes for a new address.
async fn sign_in(store: &SledStore) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let email = format!("bench-{n}@example.com");
    let hash = format!("{n:064x}");
    let expires = OffsetDateTime::now_utc() + Duration::days(1);
    store
        .create_verification_token(VerificationToken {
            identifier: email.clone(),
            token_hash: hash.clone(),
            expires,
        })
        .await
        .unwrap();
    store
        .use_verification_token(&email, &hash)
        .await
        .unwrap()
        .unwrap();
    let user = store
        .create_user(NewUser {
            name: None,
            email: Some(email),
            email_verified: Some(OffsetDateTime::now_utc()),
            image: None,
        })
        .await
        .unwrap();
    store
        .create_session(Session {
            session_token: format!("session-{n:058}").into(),
            user_id: user.id,
            expires,
            access_token: format!("access-{n:059}").into(),
            created: None,
        })
        .await
        .unwrap();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let store = SledStore::open(dir.path().join("store")).unwrap();
    let mut group = c.benchmark_group("sled_sign_in_writes");
    group.bench_function("one at a time", |b| b.iter(|| rt.block_on(sign_in(&store))));
    group.bench_function("16 at once (time for all 16)", |b| {
        b.iter_batched(
            || (),
            |()| {
                rt.block_on(futures::future::join_all((0..16).map(|_| {
                    let store = store.clone();
                    async move { tokio::spawn(async move { sign_in(&store).await }).await }
                })))
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
