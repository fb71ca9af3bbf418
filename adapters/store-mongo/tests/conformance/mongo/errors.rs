//! Errors and leftovers: no secret in an error, ids that can name no user, an account a
//! deleted user left behind, no server at the URL.

use super::*;

/// Conflicts and decode errors never quote a token, a hash or a stored value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_do_not_quote_secrets() {
    let store = fresh().await;
    let user = store.create_user(NewUser::default()).await.unwrap();
    let token = "c".repeat(64);
    let session = Session {
        session_token: SecretString::new(token.clone()),
        user_id: user.id.clone(),
        expires: datetime!(2033-01-01 00:00 UTC),
        access_token: SecretString::new("d".repeat(64)),
        created: None,
    };
    store.create_session(session.clone()).await.unwrap();
    let error = store.create_session(session).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    assert!(!error.to_string().contains(&token), "{error}");

    let hash = "e".repeat(64);
    let pending = VerificationToken {
        identifier: "x@example.com".to_owned(),
        token_hash: hash.clone(),
        expires: datetime!(2033-01-01 00:00 UTC),
    };
    store
        .create_verification_token(pending.clone())
        .await
        .unwrap();
    let error = store.create_verification_token(pending).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    assert!(!error.to_string().contains(&hash), "{error}");

    // A session document the store cannot read: a Decode error naming the field only.
    let sessions = store.store.database().collection::<Document>("sessions");
    let corrupt = "f".repeat(64);
    sessions
        .insert_one(doc! {
            "_id": ObjectId::new(),
            "userId": ObjectId::parse_str(&user.id).unwrap(),
            "expires": corrupt.clone(),
            "sessionToken": corrupt.clone(),
            "accessToken": "a",
        })
        .await
        .unwrap();
    for error in [
        store.get_session_and_user(&[&corrupt]).await.unwrap_err(),
        store.list_sessions(&user.id).await.unwrap_err(),
        store
            .update_session_expiry(&corrupt, datetime!(2034-01-01 00:00 UTC))
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(error, StoreError::Decode(_)), "{error:?}");
        assert!(!error.to_string().contains(&corrupt), "{error}");
    }
    // Deleting still works on documents that no longer decode.
    store.delete_session(&corrupt).await.unwrap();
    store.delete_user(&user.id).await.unwrap();
}

/// References to ids that can never name a user are refused, not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_user_ids_are_not_found() {
    let store = fresh().await;
    let account = Account {
        user_id: "42".to_owned(),
        provider_type: "oauth".to_owned(),
        provider_id: "github".to_owned(),
        provider_account_id: "1".to_owned(),
        refresh_token: None,
        access_token: None,
        access_token_expires: None,
        token_type: None,
        scope: None,
        id_token: None,
    };
    assert!(matches!(
        store.link_account(account).await,
        Err(StoreError::NotFound(_))
    ));
    let session = Session {
        session_token: SecretString::new(hex64('1')),
        user_id: "not-an-objectid".to_owned(),
        expires: datetime!(2033-01-01 00:00 UTC),
        access_token: SecretString::new(hex64('2')),
        created: None,
    };
    assert!(matches!(
        store.create_session(session).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .update_user(User {
                id: "not-an-objectid".to_owned(),
                name: None,
                email: None,
                email_verified: None,
                image: None,
            })
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_sessions("x").await.unwrap(), vec![]);
    assert_eq!(store.get_accounts_for_user("x").await.unwrap(), vec![]);
    assert_eq!(store.delete_sessions_for_user("x").await.unwrap(), 0);
    store.delete_user("x").await.unwrap();
}

/// An account left behind by a user deleted mid-link is replaced when the provider
/// account is linked again, instead of blocking it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_account_is_replaced_on_relink() {
    let store = fresh().await;
    let gone = ObjectId::new();
    store
        .store
        .database()
        .collection::<Document>("accounts")
        .insert_one(doc! {
            "_id": ObjectId::new(), "compoundId": compound_id("github", "9"),
            "userId": gone, "providerType": "oauth", "providerId": "github",
            "providerAccountId": "9", "refreshToken": Bson::Null, "accessToken": Bson::Null,
            "accessTokenExpires": Bson::Null,
        })
        .await
        .unwrap();
    assert_eq!(
        store.get_user_by_account("github", "9").await.unwrap(),
        None
    );
    let user = store.create_user(NewUser::default()).await.unwrap();
    let account = Account {
        user_id: user.id.clone(),
        provider_type: "oauth".to_owned(),
        provider_id: "github".to_owned(),
        provider_account_id: "9".to_owned(),
        refresh_token: None,
        access_token: None,
        access_token_expires: None,
        token_type: None,
        scope: None,
        id_token: None,
    };
    store.link_account(account.clone()).await.unwrap();
    assert_eq!(
        store.get_user_by_account("github", "9").await.unwrap(),
        Some(user)
    );
    assert_eq!(
        store.get_account("github", "9").await.unwrap(),
        Some(account)
    );
}

/// No server at the URL: `connect` is an error (no panic), within the URL's timeout.
#[tokio::test]
async fn unreachable_server_is_an_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=300");
    let error = MongoStore::connect(&url, "nothing").await.unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    let error = MongoStore::connect("postgres://nope", "nothing")
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
}
