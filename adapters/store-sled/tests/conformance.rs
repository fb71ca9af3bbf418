//! The store conformance suite against sled, plus what only an embedded store has:
//! reopening a database directory, and corrupt records on disk.
//!
//! One test binary on purpose (link time on CI): add sled-specific tests here.

use portcullis_store_sled::SledStore;

portcullis_ports::store_conformance_tests!(async {
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
            };
            store.create_session(session.clone()).await.unwrap();
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
            // Dropped here without an explicit flush: sled flushes on close.
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
            Some(account)
        );
        assert_eq!(
            store
                .get_session_and_user(session.session_token.expose())
                .await
                .unwrap(),
            Some((session.clone(), user.clone()))
        );
        assert_eq!(store.list_sessions(&user.id).await.unwrap(), vec![session]);
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
            .get_session_and_user(&secret_token)
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
            store.get_session_and_user(&secret_token).await.unwrap(),
            None
        );
        store.delete_user(&user.id).await.unwrap();
        assert_eq!(store.get_user(&user.id).await.unwrap(), None);
    }
}
