//! The store conformance suite against sled, plus what only an embedded store has:
//! reopening a database directory, and corrupt records on disk.
//!
//! One test binary on purpose (link time on CI): add sled-specific tests here.

// Test code: a failed expectation must panic (the workspace denies these in library code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_store_sled::SledStore;

portcullis_store_conformance::store_conformance_tests!(async {
    SledStore::temporary().expect("a temporary sled store")
});

mod persistence {
    use portcullis_domain::model::{Account, NewUser, Session, VerificationToken};
    use portcullis_domain::secret::SecretString;
    use portcullis_ports::{Store, StoreError};
    use portcullis_store_sled::SledStore;
    use time::macros::datetime;

    fn token(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn data_survives_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let expires = datetime!(2033-03-03 03:03:03.333 UTC);

        let (user, account, session, pending) = {
            let store = SledStore::open(&path).unwrap();
            let user = store
                .create_user(NewUser {
                    name: Some("Persistent Zoë".to_owned()),
                    email: Some("persistent@example.com".to_owned()),
                    email_verified: Some(expires),
                    image: None,
                })
                .await
                .unwrap();
            let account = Account {
                user_id: user.id.clone(),
                provider_type: "oauth".to_owned(),
                provider_id: "github".to_owned(),
                provider_account_id: "99".to_owned(),
                refresh_token: Some(SecretString::new("refresh")),
                access_token: Some(SecretString::new("access")),
                access_token_expires: Some(expires),
                token_type: Some("bearer".to_owned()),
                scope: None,
                id_token: None,
            };
            store.link_account(account.clone()).await.unwrap();
            let session = Session {
                session_token: SecretString::new(token('5')),
                user_id: user.id.clone(),
                expires,
                access_token: SecretString::new(token('a')),
                created: Some(datetime!(2031-01-02 03:04:05.678 UTC)),
            };
            store.create_session(session.clone()).await.unwrap();
            store
                .revoke_jwt("revoked-jti", expires, datetime!(2031-01-02 03:04:05 UTC))
                .await
                .unwrap();
            let used = VerificationToken {
                identifier: "persistent@example.com".to_owned(),
                token_hash: token('7'),
                expires,
            };
            let pending = VerificationToken {
                token_hash: token('8'),
                ..used.clone()
            };
            store.create_verification_token(used.clone()).await.unwrap();
            store
                .create_verification_token(pending.clone())
                .await
                .unwrap();
            assert_eq!(
                store
                    .use_verification_token(&used.identifier, &used.token_hash)
                    .await
                    .unwrap(),
                Some(used)
            );
            // No explicit flush: `close` is what makes the data durable here.
            store.close().await.unwrap();
            (user, account, session, pending)
        };

        let store = SledStore::open(&path).unwrap();
        assert_eq!(store.get_user(&user.id).await.unwrap(), Some(user.clone()));
        assert_eq!(
            store
                .get_user_by_email("persistent@example.com")
                .await
                .unwrap(),
            Some(user.clone())
        );
        assert_eq!(
            store.get_user_by_account("github", "99").await.unwrap(),
            Some(user.clone())
        );
        assert_eq!(
            store.get_account("github", "99").await.unwrap(),
            Some(account.clone())
        );
        // Link order survives a reopen: a later link lists after the earlier one.
        let later = Account {
            provider_id: "apple".to_owned(),
            provider_account_id: "1".to_owned(),
            ..account.clone()
        };
        store.link_account(later.clone()).await.unwrap();
        assert_eq!(
            store.get_accounts_for_user(&user.id).await.unwrap(),
            vec![account, later]
        );
        assert_eq!(
            store
                .get_session_and_user(&[session.session_token.expose()])
                .await
                .unwrap(),
            Some((session.clone(), user.clone()))
        );
        assert_eq!(store.list_sessions(&user.id).await.unwrap(), vec![session]);
        assert!(
            store.is_jwt_revoked("revoked-jti").await.unwrap(),
            "a JWT revocation must survive a reopen"
        );
        assert!(!store.is_jwt_revoked("other-jti").await.unwrap());
        assert_eq!(
            store
                .use_verification_token("persistent@example.com", &token('7'))
                .await
                .unwrap(),
            None,
            "a used verification token must stay used across a reopen"
        );
        assert_eq!(
            store
                .use_verification_token("persistent@example.com", &token('8'))
                .await
                .unwrap(),
            Some(pending)
        );
        // Ids keep growing across reopens: a new user never reuses an old id.
        let next = store.create_user(NewUser::default()).await.unwrap();
        assert_ne!(next.id, user.id);
        assert!(
            next.id.parse::<u64>().unwrap() > user.id.parse::<u64>().unwrap(),
            "ids must be monotonic across reopens"
        );
        assert!(matches!(
            store
                .create_user(NewUser {
                    email: Some("persistent@example.com".to_owned()),
                    ..NewUser::default()
                })
                .await,
            Err(StoreError::Conflict(_))
        ));
    }

    /// Index entries written before accounts carried a link number (empty values) are
    /// still listed, before every numbered link.
    #[tokio::test]
    async fn accounts_without_link_number_list_first() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = SledStore::from_db(db.clone()).unwrap();
        let user = store.create_user(NewUser::default()).await.unwrap();
        let account = |provider: &str| Account {
            user_id: user.id.clone(),
            provider_type: "oauth".to_owned(),
            provider_id: provider.to_owned(),
            provider_account_id: "7".to_owned(),
            refresh_token: None,
            access_token: None,
            access_token_expires: None,
            token_type: None,
            scope: None,
            id_token: None,
        };
        let (numbered, legacy) = (account("github"), account("google"));
        store.link_account(numbered.clone()).await.unwrap();
        store.link_account(legacy.clone()).await.unwrap();
        let index = db.open_tree("portcullis.v1.accounts_by_user").unwrap();
        let mut key = (user.id.len() as u64).to_be_bytes().to_vec();
        key.extend_from_slice(user.id.as_bytes());
        key.extend_from_slice(legacy.compound_id().as_bytes());
        assert!(
            index.insert(key, &[][..]).unwrap().is_some(),
            "the index entry"
        );
        assert_eq!(
            store.get_accounts_for_user(&user.id).await.unwrap(),
            vec![legacy, numbered]
        );
    }

    /// Session records written before sessions carried `created` read as `None`.
    #[tokio::test]
    async fn sessions_without_created_read_none() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = SledStore::from_db(db.clone()).unwrap();
        let user = store.create_user(NewUser::default()).await.unwrap();
        let session = Session {
            session_token: SecretString::new(token('e')),
            user_id: user.id.clone(),
            expires: datetime!(2033-03-03 03:03:03.333 UTC),
            access_token: SecretString::new(token('f')),
            created: None,
        };
        store.create_session(session.clone()).await.unwrap();
        let sessions = db.open_tree("portcullis.v1.sessions").unwrap();
        let stored = sessions
            .get(token('e'))
            .unwrap()
            .expect("the session record");
        let text = std::str::from_utf8(&stored).unwrap();
        let old = text.replace(",\"created\":null", "");
        assert_ne!(
            old, text,
            "the record as written today has the field: {text}"
        );
        sessions.insert(token('e'), old.as_bytes()).unwrap();
        assert_eq!(
            store.get_session_and_user(&[&token('e')]).await.unwrap(),
            Some((session.clone(), user.clone()))
        );
        assert_eq!(store.list_sessions(&user.id).await.unwrap(), vec![session]);
    }

    #[tokio::test]
    async fn corrupt_records_are_decode_errors_not_panics() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = SledStore::from_db(db.clone()).unwrap();
        let user = store.create_user(NewUser::default()).await.unwrap();
        let secret_token = token('c');
        store
            .create_session(Session {
                session_token: SecretString::new(secret_token.clone()),
                user_id: user.id.clone(),
                expires: datetime!(2033-01-01 00:00 UTC),
                access_token: SecretString::new(token('d')),
                created: None,
            })
            .await
            .unwrap();

        let users = db.open_tree("portcullis.v1.users").unwrap();
        users.insert(user.id.as_bytes(), &b"{not json"[..]).unwrap();
        let sessions = db.open_tree("portcullis.v1.sessions").unwrap();
        let corrupt = format!(r#"{{"session_token":"{secret_token}","user_id":7}}"#);
        sessions
            .insert(secret_token.as_bytes(), corrupt.as_bytes())
            .unwrap();

        assert!(matches!(
            store.get_user(&user.id).await,
            Err(StoreError::Decode(_))
        ));
        let error = store
            .get_session_and_user(&[&secret_token])
            .await
            .expect_err("a corrupt session must be an error");
        assert!(matches!(error, StoreError::Decode(_)), "{error:?}");
        assert!(
            !error.to_string().contains(&secret_token),
            "a decode error must not quote the session token: {error}"
        );
        assert!(matches!(
            store.list_sessions(&user.id).await,
            Err(StoreError::Decode(_))
        ));
        assert!(matches!(
            store
                .update_session_expiry(&secret_token, datetime!(2034-01-01 00:00 UTC))
                .await,
            Err(StoreError::Decode(_))
        ));
        // Deleting still works on records that no longer decode.
        store.delete_session(&secret_token).await.unwrap();
        assert_eq!(
            store.get_session_and_user(&[&secret_token]).await.unwrap(),
            None
        );
        store.delete_user(&user.id).await.unwrap();
        assert_eq!(store.get_user(&user.id).await.unwrap(), None);
    }
}

/// Revocations flush to disk; many at once must not starve sled's I/O pool (its own
/// `flush_async` deadlocks there with a few dozen concurrent callers).
mod concurrent_revocations {
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    use portcullis_domain::model::{NewUser, Session, VerificationToken};
    use portcullis_domain::secret::SecretString;
    use portcullis_ports::{Store, StoreError};
    use portcullis_store_sled::SledStore;
    use time::macros::datetime;

    /// A deadlocked sled blocks the runtime's worker threads, so a tokio timeout would
    /// never fire: the scenario runs on its own thread and this one keeps the time.
    #[test]
    fn concurrent_revocations_do_not_deadlock() {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(revoke_concurrently());
            let _ = done.send(());
        });
        match finished.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("concurrent revocations did not finish within 60 s: deadlock")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the revocation scenario panicked")
            }
        }
    }

    async fn revoke_concurrently() {
        let store = Arc::new(SledStore::temporary().unwrap());
        let user = store.create_user(NewUser::default()).await.unwrap();
        let expires = datetime!(2033-01-01 00:00 UTC);
        for round in 0..5_u32 {
            let barrier = Arc::new(tokio::sync::Barrier::new(100));
            let tasks: Vec<_> = (0..100_u32)
                .map(|i| {
                    let store = Arc::clone(&store);
                    let barrier = Arc::clone(&barrier);
                    let user_id = user.id.clone();
                    tokio::spawn(async move {
                        let key = format!("{round:08}{i:056}");
                        if i % 2 == 0 {
                            let token = VerificationToken {
                                identifier: format!("{key}@example.com"),
                                token_hash: key,
                                expires,
                            };
                            store.create_verification_token(token.clone()).await?;
                            barrier.wait().await;
                            let used = store
                                .use_verification_token(&token.identifier, &token.token_hash)
                                .await?;
                            Ok::<_, StoreError>(used.is_some())
                        } else {
                            store
                                .create_session(Session {
                                    session_token: SecretString::new(key.clone()),
                                    user_id,
                                    expires,
                                    access_token: SecretString::new(key.clone()),
                                    created: None,
                                })
                                .await?;
                            barrier.wait().await;
                            store.delete_session(&key).await?;
                            Ok(true)
                        }
                    })
                })
                .collect();
            for task in tasks {
                assert!(
                    task.await.unwrap().unwrap(),
                    "every revocation must take effect"
                );
            }
        }
        assert_eq!(store.list_sessions(&user.id).await.unwrap(), Vec::new());
    }
}

mod outbox {
    use portcullis_store_sled::SledStore;

    portcullis_store_conformance::outbox_conformance_tests!(async {
        let store = SledStore::temporary().expect("a temporary sled store");
        (store.outbox().expect("the outbox trees"), ())
    });

    use std::sync::Arc;

    use portcullis_ports::Outbox;
    use time::macros::datetime;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enqueued_messages_survive_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let t0 = datetime!(2030-01-01 00:00 UTC);
        {
            let store = SledStore::open(&path).unwrap();
            let outbox = store.outbox().unwrap();
            outbox.enqueue("msg_kept", r#"{"n":1}"#, t0).await.unwrap();
            outbox.enqueue("msg_acked", r#"{"n":2}"#, t0).await.unwrap();
            let taken = outbox
                .take_due(t0, t0 + time::Duration::minutes(1), 1)
                .await
                .unwrap();
            assert_eq!(taken[0].id, "msg_kept");
            outbox.ack("msg_acked").await.unwrap();
            drop(outbox);
            store.close().await.unwrap();
        }
        let store = SledStore::open(&path).unwrap();
        let outbox: Arc<dyn Outbox> = Arc::new(store.outbox().unwrap());
        assert_eq!(outbox.count().await.unwrap(), 1);
        // Still leased until its lease ends, then due again.
        let later = t0 + time::Duration::minutes(1);
        let again = outbox
            .take_due(later, later + time::Duration::minutes(1), 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(
            (again[0].id.as_str(), again[0].payload.as_str()),
            ("msg_kept", r#"{"n":1}"#)
        );
    }
}

mod reopening {
    use portcullis_domain::model::NewUser;
    use portcullis_ports::Store;
    use portcullis_store_sled::SledStore;

    /// The lock on a database directory is free once `close` returns, so the same
    /// process can reopen it at once (sled releases it from background threads that
    /// may outlive the last handle by a moment).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_store_reopens_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        for round in 0..300 {
            let store = SledStore::open(&path)
                .unwrap_or_else(|e| panic!("round {round}: reopening failed: {e}"));
            let user = store
                .create_user(NewUser {
                    name: Some(format!("round {round}")),
                    email: Some(format!("round{round}@example.com")),
                    email_verified: None,
                    image: None,
                })
                .await
                .unwrap();
            assert!(store.get_user(&user.id).await.unwrap().is_some());
            store.close().await.unwrap();
        }
    }
}
