//! Documents: v3's are read as v3 wrote them, the store writes them in v3's shape, and a
//! revocation is a document every client on the database reads.

use super::*;

/// Documents as v3's TypeORM adapter wrote them (spec §10.5) are read by the store:
/// `null` fields, a numeric `providerAccountId` (GitHub's ids are numbers in v3), no
/// additive token fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_documents_are_read() {
    let store = fresh().await;
    let db = store.store.database();
    let created = ms(datetime!(2021-05-01 10:00:00 UTC));
    let verified = datetime!(2021-05-02 11:22:33.444 UTC);
    let expires = datetime!(2031-06-01 00:00:00.250 UTC);

    let alice_id = ObjectId::new();
    let bob_id = ObjectId::new();
    db.collection::<Document>("users")
        .insert_many([
            doc! {
                "_id": alice_id, "name": "Alice", "email": "alice@example.com",
                "emailVerified": ms(verified), "image": "https://img.example/a.png",
                "createdAt": created, "updatedAt": created,
            },
            doc! {
                "_id": bob_id, "name": "Bob", "email": "bob@example.com",
                "emailVerified": Bson::Null, "image": Bson::Null,
                "createdAt": created, "updatedAt": created,
            },
        ])
        .await
        .unwrap();
    db.collection::<Document>("accounts")
        .insert_one(doc! {
            "_id": ObjectId::new(), "compoundId": compound_id("github", "12345"),
            "userId": alice_id, "providerType": "oauth", "providerId": "github",
            "providerAccountId": 12345_i32, "refreshToken": Bson::Null,
            "accessToken": "gho_v3", "accessTokenExpires": Bson::Null,
            "createdAt": created, "updatedAt": created,
        })
        .await
        .unwrap();
    db.collection::<Document>("sessions")
        .insert_one(doc! {
            "_id": ObjectId::new(), "userId": alice_id, "expires": ms(expires),
            "sessionToken": hex64('5'), "accessToken": hex64('a'),
            "createdAt": created, "updatedAt": created,
        })
        .await
        .unwrap();
    db.collection::<Document>("verificationRequests")
        .insert_one(doc! {
            "_id": ObjectId::new(), "identifier": "bob@example.com", "token": hex64('7'),
            "expires": ms(expires), "createdAt": created, "updatedAt": created,
        })
        .await
        .unwrap();

    let alice = User {
        id: alice_id.to_hex(),
        name: Some("Alice".to_owned()),
        email: Some("alice@example.com".to_owned()),
        email_verified: Some(verified),
        image: Some("https://img.example/a.png".to_owned()),
    };
    let bob = User {
        id: bob_id.to_hex(),
        name: Some("Bob".to_owned()),
        email: Some("bob@example.com".to_owned()),
        email_verified: None,
        image: None,
    };
    assert_eq!(
        store.get_user(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.get_user(&bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(
        store.get_user_by_email("bob@example.com").await.unwrap(),
        Some(bob.clone())
    );

    // Ids: a JWT `sub` may be anything; only the canonical hex of a stored _id finds a user.
    let unknown = ObjectId::new().to_hex();
    for id in [
        unknown.as_str(),
        "not-an-objectid",
        "",
        "12345",
        &alice.id.to_uppercase(),
        &alice.id[..23],
    ] {
        assert_eq!(store.get_user(id).await.unwrap(), None, "get_user({id:?})");
    }

    let github = Account {
        user_id: alice.id.clone(),
        provider_type: "oauth".to_owned(),
        provider_id: "github".to_owned(),
        provider_account_id: "12345".to_owned(),
        refresh_token: None,
        access_token: Some(SecretString::new("gho_v3")),
        access_token_expires: None,
        token_type: None,
        scope: None,
        id_token: None,
    };
    assert_eq!(
        store.get_account("github", "12345").await.unwrap(),
        Some(github.clone())
    );
    assert_eq!(
        store.get_user_by_account("github", "12345").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.get_accounts_for_user(&alice.id).await.unwrap(),
        vec![github.clone()]
    );
    assert_conflict(
        store.link_account(github.clone()).await,
        "linking a provider account v3 linked",
    );

    let session = Session {
        session_token: SecretString::new(hex64('5')),
        user_id: alice.id.clone(),
        expires,
        access_token: SecretString::new(hex64('a')),
        // v3's `createdAt`: when the session was signed in.
        created: Some(datetime!(2021-05-01 10:00:00 UTC)),
    };
    assert_eq!(
        store.get_session_and_user(&[&hex64('5')]).await.unwrap(),
        Some((session.clone(), alice.clone()))
    );
    assert_eq!(
        store.list_sessions(&alice.id).await.unwrap(),
        vec![session.clone()]
    );

    // Writes keep v3's fields: createdAt stays, the document stays v3-shaped.
    let later = datetime!(2031-07-01 00:00:00 UTC);
    store
        .update_session_expiry(&hex64('5'), later)
        .await
        .unwrap();
    let session_doc = raw(&store, "sessions", doc! { "sessionToken": hex64('5') }).await;
    assert_eq!(session_doc.get_datetime("expires").unwrap(), &ms(later));
    assert_eq!(session_doc.get_datetime("createdAt").unwrap(), &created);
    assert!(session_doc.get_datetime("updatedAt").unwrap() > &created);
    assert_eq!(session_doc.get_object_id("userId").unwrap(), alice_id);

    let verified_again = User {
        email_verified: Some(datetime!(2032-01-01 00:00:00 UTC)),
        ..bob.clone()
    };
    store.update_user(verified_again.clone()).await.unwrap();
    let bob_doc = raw(&store, "users", doc! { "_id": bob_id }).await;
    assert_eq!(bob_doc.get_datetime("createdAt").unwrap(), &created);
    assert!(matches!(
        bob_doc.get("emailVerified"),
        Some(Bson::DateTime(_))
    ));

    assert_eq!(
        store
            .use_verification_token("bob@example.com", &hex64('7'))
            .await
            .unwrap(),
        Some(VerificationToken {
            identifier: "bob@example.com".to_owned(),
            token_hash: hex64('7'),
            expires,
        })
    );

    store.unlink_account("github", "12345").await.unwrap();
    assert_eq!(store.get_account("github", "12345").await.unwrap(), None);

    store.delete_user(&alice.id).await.unwrap();
    assert_eq!(
        store.get_session_and_user(&[&hex64('5')]).await.unwrap(),
        None
    );
    assert_eq!(
        db.collection::<Document>("sessions")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );
}

/// What the store writes is what v3 wrote: field names, ObjectIds, BSON dates; a user
/// without e-mail has no `email` field (the sparse index skips it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_have_v3_shape() {
    let store = fresh().await;
    let verified = datetime!(2022-02-02 02:02:02.222 UTC);
    let user = store
        .create_user(NewUser {
            name: Some("Shape".to_owned()),
            email: Some("shape@example.com".to_owned()),
            email_verified: Some(verified),
            image: None,
        })
        .await
        .unwrap();
    let oid = ObjectId::parse_str(&user.id).unwrap();
    assert_eq!(oid.to_hex(), user.id, "ids are lower-case ObjectId hex");
    let u = raw(&store, "users", doc! { "_id": oid }).await;
    assert_eq!(
        keys(&u),
        [
            "_id",
            "createdAt",
            "email",
            "emailVerified",
            "image",
            "name",
            "updatedAt"
        ]
    );
    assert_eq!(u.get_str("email").unwrap(), "shape@example.com");
    assert_eq!(u.get_datetime("emailVerified").unwrap(), &ms(verified));
    assert_eq!(u.get("image"), Some(&Bson::Null));
    assert!(matches!(u.get("createdAt"), Some(Bson::DateTime(_))));

    let anonymous = store.create_user(NewUser::default()).await.unwrap();
    let a = raw(
        &store,
        "users",
        doc! { "_id": ObjectId::parse_str(&anonymous.id).unwrap() },
    )
    .await;
    assert!(!a.contains_key("email"), "no e-mail: no email field: {a:?}");

    let expires = datetime!(2030-03-03 03:03:03.333 UTC);
    store
        .link_account(Account {
            user_id: user.id.clone(),
            provider_type: "oauth".to_owned(),
            provider_id: "google".to_owned(),
            provider_account_id: "g-1".to_owned(),
            refresh_token: Some(SecretString::new("rt")),
            access_token: Some(SecretString::new("at")),
            access_token_expires: Some(expires),
            token_type: Some("Bearer".to_owned()),
            scope: Some("openid".to_owned()),
            id_token: None,
        })
        .await
        .unwrap();
    let acc = raw(&store, "accounts", doc! { "providerId": "google" }).await;
    assert_eq!(
        keys(&acc),
        [
            "_id",
            "accessToken",
            "accessTokenExpires",
            "compoundId",
            "createdAt",
            "idToken",
            "providerAccountId",
            "providerId",
            "providerType",
            "refreshToken",
            "scope",
            "tokenType",
            "updatedAt",
            "userId",
        ]
    );
    assert_eq!(acc.get_object_id("userId").unwrap(), oid);
    assert_eq!(
        acc.get_str("compoundId").unwrap(),
        compound_id("google", "g-1")
    );
    assert_eq!(
        acc.get_datetime("accessTokenExpires").unwrap(),
        &ms(expires)
    );
    assert_eq!(acc.get("idToken"), Some(&Bson::Null));
    assert!(matches!(acc.get("_id"), Some(Bson::ObjectId(_))));

    store
        .create_session(Session {
            session_token: SecretString::new(hex64('5')),
            user_id: user.id.clone(),
            expires,
            access_token: SecretString::new(hex64('a')),
            created: Some(datetime!(2022-02-02 02:02:02.222 UTC)),
        })
        .await
        .unwrap();
    let s = raw(&store, "sessions", doc! { "sessionToken": hex64('5') }).await;
    assert_eq!(
        keys(&s),
        [
            "_id",
            "accessToken",
            "createdAt",
            "expires",
            "sessionToken",
            "updatedAt",
            "userId"
        ]
    );
    assert_eq!(s.get_object_id("userId").unwrap(), oid);
    assert_eq!(s.get_datetime("expires").unwrap(), &ms(expires));
    assert_eq!(
        s.get_datetime("createdAt").unwrap(),
        &ms(datetime!(2022-02-02 02:02:02.222 UTC)),
        "the session's `created`, not the system clock"
    );

    store
        .create_verification_token(VerificationToken {
            identifier: "shape@example.com".to_owned(),
            token_hash: hex64('7'),
            expires,
        })
        .await
        .unwrap();
    let v = raw(&store, "verificationRequests", doc! { "token": hex64('7') }).await;
    assert_eq!(
        keys(&v),
        [
            "_id",
            "createdAt",
            "expires",
            "identifier",
            "token",
            "updatedAt"
        ]
    );
    assert_eq!(v.get_datetime("expires").unwrap(), &ms(expires));

    // update_session_expiry writes a BSON date, not a string.
    let later = datetime!(2030-04-04 04:04:04.444 UTC);
    store
        .update_session_expiry(&hex64('5'), later)
        .await
        .unwrap();
    let s = raw(&store, "sessions", doc! { "sessionToken": hex64('5') }).await;
    assert_eq!(s.get_datetime("expires").unwrap(), &ms(later));
    // update_user clearing the e-mail removes the field.
    store
        .update_user(User {
            email: None,
            ..user.clone()
        })
        .await
        .unwrap();
    let u = raw(&store, "users", doc! { "_id": oid }).await;
    assert!(!u.contains_key("email"), "{u:?}");
    assert!(matches!(u.get("emailVerified"), Some(Bson::DateTime(_))));
}

/// A revocation is one document `{ _id: jti, expires: <date> }` that every store on the
/// database reads (another client, as another server instance would have); a session
/// created without `created` is stamped from the system clock, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_are_documents_every_client_reads() {
    let store = fresh().await;
    let other = MongoStore::connect(&crate::harness::url(), store.store.database().name())
        .await
        .unwrap();
    let expires = datetime!(2031-05-06 07:08:09.010 UTC);
    let now = datetime!(2031-05-06 06:00:00 UTC);
    assert!(!other.is_jwt_revoked("jti-1").await.unwrap());
    store.revoke_jwt("jti-1", expires, now).await.unwrap();
    assert!(other.is_jwt_revoked("jti-1").await.unwrap());
    let revocation = raw(&store, "portcullis_revoked_jwts", doc! { "_id": "jti-1" }).await;
    assert_eq!(keys(&revocation), ["_id", "expires"]);
    assert_eq!(revocation.get_datetime("expires").unwrap(), &ms(expires));
    // A second later (nx-27017, the test server, compares dates to the second).
    other
        .revoke_jwt("jti-2", expires, expires + time::Duration::seconds(1))
        .await
        .unwrap();
    assert!(!store.is_jwt_revoked("jti-1").await.unwrap());
    assert!(store.is_jwt_revoked("jti-2").await.unwrap());

    let user = store.create_user(NewUser::default()).await.unwrap();
    let before = OffsetDateTime::now_utc() - time::Duration::minutes(5);
    store
        .create_session(Session {
            session_token: SecretString::new(hex64('9')),
            user_id: user.id.clone(),
            expires,
            access_token: SecretString::new(hex64('8')),
            created: None,
        })
        .await
        .unwrap();
    let (read, _) = other
        .get_session_and_user(&[&hex64('9')])
        .await
        .unwrap()
        .unwrap();
    let stamped = read.created.expect("createdAt is stamped");
    assert!(
        before < stamped && stamped < OffsetDateTime::now_utc() + time::Duration::minutes(5),
        "{stamped}"
    );
}
