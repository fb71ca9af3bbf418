//! The store conformance suite against a MongoDB-wire server, plus what only this store
//! has: v3's documents and indexes, ids that are ObjectIds, and error hygiene.
//!
//! Needs a server: `bash .ci/mongo` starts one (nx-27017) at mongodb://127.0.0.1:27018,
//! the default here; `MONGODB_URL` points the tests at another (a real MongoDB). Each test
//! runs in its own database, dropped when the test ends, passed or failed.
//!
//! One test binary on purpose (link time on CI): add MongoDB-specific tests here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use portcullis_store_mongo::MongoStore;
    use tokio::sync::OnceCell;

    pub(crate) const DEFAULT_URL: &str = "mongodb://127.0.0.1:27018";

    pub(crate) fn url() -> String {
        std::env::var("MONGODB_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_URL.to_owned())
    }

    /// Whether a server answers, asked once per test binary: without one every test fails
    /// at once with the same message, instead of each waiting out its own timeout.
    static SERVER: OnceCell<Result<(), String>> = OnceCell::const_new();

    async fn require_server(url: &str) {
        let answer = SERVER
            .get_or_init(|| async {
                // The driver's default server selection waits 30 s; a missing server should
                // fail the run at once.
                let mut options = mongodb::options::ClientOptions::parse(url)
                    .await
                    .map_err(|e| e.kind.to_string())?;
                if options.server_selection_timeout.is_none() {
                    options.server_selection_timeout = Some(Duration::from_secs(3));
                }
                let client =
                    mongodb::Client::with_options(options).map_err(|e| e.kind.to_string())?;
                client
                    .database("admin")
                    .run_command(mongodb::bson::doc! { "ping": 1 })
                    .await
                    .map(drop)
                    .map_err(|e| e.kind.to_string())
            })
            .await;
        if let Err(why) = answer {
            panic!(
                "no MongoDB-wire server answers at {url} ({why}). Run `bash .ci/mongo` first \
                 (it starts nx-27017 at {DEFAULT_URL}), or set MONGODB_URL to a MongoDB server."
            );
        }
    }

    static COUNTER: AtomicU64 = AtomicU64::new(0);

    fn fresh_name() -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!(
            "portcullis_t{}_{n}_{:06x}",
            std::process::id(),
            nanos & 0xff_ffff
        )
    }

    /// A store in a database of its own, with the indexes; the database is dropped when
    /// the store is (at the end of the test, also when it panicked).
    pub(crate) type TestStore = portcullis_store_conformance::WithCleanup<MongoStore, DropDatabase>;

    /// Drops the test database when dropped.
    pub(crate) struct DropDatabase {
        url: String,
        name: String,
    }

    pub(crate) async fn fresh() -> TestStore {
        let url = url();
        require_server(&url).await;
        let name = fresh_name();
        let store = MongoStore::connect(&url, &name)
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        let test_store = TestStore::new(store, DropDatabase { url, name });
        test_store
            .store
            .ensure_indexes()
            .await
            .unwrap_or_else(|e| panic!("ensure_indexes: {e}"));
        test_store
    }

    impl Drop for DropDatabase {
        fn drop(&mut self) {
            // On a thread of its own with its own runtime and client: this may run while
            // the test's runtime unwinds or shuts down. Failures are ignored (best effort).
            let url = self.url.clone();
            let name = self.name.clone();
            let dropper = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(10), async {
                        if let Ok(client) = mongodb::Client::with_uri_str(&url).await {
                            let _ = client.database(&name).drop().await;
                        }
                    })
                    .await;
                });
            });
            let _ = dropper.join();
        }
    }
}

portcullis_store_conformance::store_conformance_tests!(async { harness::fresh().await });

mod mongo {
    use futures::TryStreamExt;
    use mongodb::bson::oid::ObjectId;
    use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};
    use mongodb::options::IndexOptions;
    use mongodb::IndexModel;
    use portcullis_domain::model::{
        compound_id, Account, NewUser, Session, User, VerificationToken,
    };
    use portcullis_domain::secret::SecretString;
    use portcullis_ports::{Store, StoreError};
    use portcullis_store_mongo::MongoStore;
    use time::macros::datetime;
    use time::OffsetDateTime;

    use crate::harness::{fresh, TestStore};

    fn ms(t: OffsetDateTime) -> BsonDateTime {
        BsonDateTime::from_millis((t.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    fn hex64(c: char) -> String {
        c.to_string().repeat(64)
    }

    async fn raw(store: &TestStore, collection: &str, filter: Document) -> Document {
        store
            .store
            .database()
            .collection::<Document>(collection)
            .find_one(filter)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no document in {collection}"))
    }

    fn keys(document: &Document) -> Vec<&str> {
        let mut keys: Vec<&str> = document.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

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

    #[track_caller]
    fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
        assert!(
            matches!(result, Err(StoreError::Conflict(_))),
            "{what}: expected Conflict, got {result:?}"
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

    async fn index_keys(store: &TestStore, collection: &str) -> Vec<(Document, bool)> {
        let indexes: Vec<IndexModel> = store
            .store
            .database()
            .collection::<Document>(collection)
            .list_indexes()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        indexes
            .into_iter()
            .map(|i| {
                let unique = i.options.and_then(|o| o.unique).unwrap_or(false);
                (i.keys, unique)
            })
            .collect()
    }

    /// `ensure_indexes` makes v3's indexes, is idempotent, keeps an equivalent index that
    /// has another name (v3's TypeORM named its unique indexes `UQ_<hash>`), and refuses an
    /// index that disagrees on uniqueness.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ensure_indexes_makes_v3_indexes() {
        let store = fresh().await; // ensure_indexes ran once
        store.store.ensure_indexes().await.unwrap();
        let wanted: [(&str, &str, bool); 10] = [
            ("users", "email", true),
            ("accounts", "compoundId", true),
            ("accounts", "userId", false),
            ("accounts", "providerId", false),
            ("accounts", "providerAccountId", false),
            ("sessions", "sessionToken", true),
            ("sessions", "accessToken", true),
            ("sessions", "userId", false),
            ("verificationRequests", "token", true),
            ("portcullis_revoked_jwts", "expires", false),
        ];
        for (collection, field, unique) in wanted {
            let indexes = index_keys(&store, collection).await;
            let matching: Vec<_> = indexes
                .iter()
                .filter(|(keys, _)| keys == &doc! { field: 1 })
                .collect();
            assert_eq!(
                matching.len(),
                1,
                "{collection}.{field}: exactly one index, got {indexes:?}"
            );
            assert_eq!(matching[0].1, unique, "{collection}.{field} unique");
        }

        // A database whose indexes v3 made under other names.
        let v3 = fresh_without_indexes().await;
        let accounts = v3.store.database().collection::<Document>("accounts");
        accounts
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "compoundId": 1 })
                    .options(
                        IndexOptions::builder()
                            .name("UQ_6f4d1d2a2f6d54c0c0a3b5f4a1e".to_owned())
                            .unique(true)
                            .build(),
                    )
                    .build(),
            )
            .await
            .unwrap();
        v3.store.ensure_indexes().await.unwrap();
        let compound: Vec<_> = index_keys(&v3, "accounts")
            .await
            .into_iter()
            .filter(|(keys, _)| keys == &doc! { "compoundId": 1 })
            .collect();
        assert_eq!(compound, vec![(doc! { "compoundId": 1 }, true)]);

        // An index that would let two sessions share a token is not silently accepted.
        let weak = fresh_without_indexes().await;
        weak.store
            .database()
            .collection::<Document>("sessions")
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "sessionToken": 1 })
                    .build(),
            )
            .await
            .unwrap();
        let error = weak.store.ensure_indexes().await.unwrap_err();
        assert!(
            matches!(&error, StoreError::Backend(m) if m.contains("sessions.sessionToken")),
            "{error:?}"
        );
    }

    /// `ensure_indexes` records once whether it found NextAuth v3's data: a fresh database
    /// is not v3's (new session tokens default to hashed); one holding v3's users is (they
    /// default to raw, which v3 can read), also for a store that connects later.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ensure_indexes_records_whether_v3_was_there() {
        let new = fresh().await;
        assert!(
            !new.store.upgraded_from_v3(),
            "a fresh database is not v3's"
        );
        assert!(!new.upgraded_from_v3(), "the port says the same");

        let v3 = fresh_without_indexes().await;
        let db = v3.store.database();
        db.collection::<Document>("portcullis_migrations")
            .drop()
            .await
            .unwrap();
        db.collection::<Document>("users")
            .insert_one(doc! { "_id": ObjectId::new(), "name": "Ada", "email": "ada@example.com" })
            .await
            .unwrap();
        v3.store.ensure_indexes().await.unwrap();
        assert!(v3.store.upgraded_from_v3(), "v3's users were there");
        v3.store.ensure_indexes().await.unwrap();
        assert!(v3.store.upgraded_from_v3(), "the record stays");
        let later = MongoStore::connect(&crate::harness::url(), db.name())
            .await
            .unwrap();
        assert!(
            later.upgraded_from_v3(),
            "a store connecting later reads the record"
        );
    }

    /// A fresh database without indexes: the harness makes them, this drops the collections
    /// (and so their indexes) again.
    async fn fresh_without_indexes() -> TestStore {
        let with = fresh().await;
        for collection in ["users", "accounts", "sessions", "verificationRequests"] {
            with.store
                .database()
                .collection::<Document>(collection)
                .drop()
                .await
                .unwrap();
        }
        with
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
}
