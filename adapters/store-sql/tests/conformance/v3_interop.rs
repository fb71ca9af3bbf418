//! A database NextAuth v3 left (`fixtures/v3-sql/`), opened by Portcullis.

use portcullis_domain::model::{NewUser, Session, User, VerificationToken};
use portcullis_domain::secret::{hash_with_secret, SecretString};
use portcullis_ports::Store;
use portcullis_store_sql::v3_fixture::{self as fx, load_v3_fixture};
use portcullis_store_sql::{Dialect, SqlStore, MIGRATIONS};

use crate::support::{self, Server, TempDb};

async fn v3_database(server: Option<Server>) -> (String, TempDb) {
    let (url, db) = match server {
        Some(server) => support::server_db(server).await,
        None => support::sqlite_db(),
    };
    load_v3_fixture(&url).await.unwrap();
    (url, db)
}

/// Indexes on the four v3 tables, by raw catalog count.
async fn index_count(store: &SqlStore, url: &str) -> i64 {
    let tables = "'users', 'accounts', 'sessions', 'verification_requests'";
    match store.dialect() {
        Dialect::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::query_scalar(&format!(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() \
                 AND tablename IN ({tables})"
            ))
            .fetch_one(&mut c)
            .await
            .unwrap()
        }
        Dialect::MySql => {
            let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::query_scalar(&format!(
                "SELECT CAST(COUNT(DISTINCT TABLE_NAME, INDEX_NAME) AS SIGNED) \
                 FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({tables})"
            ))
            .fetch_one(&mut c)
            .await
            .unwrap()
        }
        Dialect::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::query_scalar(&format!(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({tables})"
            ))
            .fetch_one(&mut c)
            .await
            .unwrap()
        }
    }
}

fn v3_cookie_keys() -> portcullis_domain::session_key::SessionKeys {
    portcullis_domain::session_key::SessionKeys::for_cookie(fx::SESSION_TOKEN).unwrap()
}

fn ada() -> User {
    User {
        id: fx::ADA_ID.to_owned(),
        name: Some(fx::ADA_NAME.to_owned()),
        email: Some(fx::ADA_EMAIL.to_owned()),
        email_verified: Some(fx::ADA_EMAIL_VERIFIED),
        image: Some(fx::ADA_IMAGE.to_owned()),
    }
}

fn grace() -> User {
    User {
        id: fx::GRACE_ID.to_owned(),
        name: Some(fx::GRACE_NAME.to_owned()),
        email: Some(fx::GRACE_EMAIL.to_owned()),
        email_verified: None,
        image: None,
    }
}

async fn opens_a_v3_database(server: Option<Server>) {
    let (url, _db) = v3_database(server).await;
    let store = support::connect(&url).await;
    assert_eq!(store.applied_migrations().await.unwrap(), Vec::<i64>::new());
    assert!(!store.upgraded_from_v3(), "not migrated yet");
    let before = index_count(&store, &url).await;

    let applied = store.migrate().await.unwrap();
    assert!(
        store.upgraded_from_v3(),
        "migrate records that it took over v3's schema (session tokens default to raw)"
    );
    assert!(
        support::connect(&url).await.upgraded_from_v3(),
        "a store that connects later reads the record"
    );
    assert_eq!(
        applied,
        MIGRATIONS.to_vec(),
        "every migration applies to a v3 database"
    );
    assert_eq!(
        index_count(&store, &url).await,
        before + 1,
        "migrate adds only the sessions.user_id index: v3's own indexes are recognised"
    );
    assert!(
        store.migrate().await.unwrap().is_empty(),
        "a second migrate is a no-op"
    );
    assert_eq!(
        store.applied_migrations().await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7]
    );

    // Every row is still there and reads through the port.
    assert_eq!(store.get_user(fx::ADA_ID).await.unwrap(), Some(ada()));
    assert_eq!(store.get_user(fx::GRACE_ID).await.unwrap(), Some(grace()));
    assert_eq!(
        store.get_user_by_email(fx::ADA_EMAIL).await.unwrap(),
        Some(ada())
    );
    assert_eq!(
        store
            .get_user_by_account(fx::ACCOUNT_PROVIDER_ID, fx::ACCOUNT_PROVIDER_ACCOUNT_ID)
            .await
            .unwrap(),
        Some(ada())
    );
    let account = store
        .get_account(fx::ACCOUNT_PROVIDER_ID, fx::ACCOUNT_PROVIDER_ACCOUNT_ID)
        .await
        .unwrap()
        .expect("the v3 account");
    assert_eq!(account.user_id, fx::ADA_ID);
    assert_eq!(account.provider_type, "oauth");
    assert_eq!(
        account.access_token.as_ref().map(SecretString::expose),
        Some(fx::ACCOUNT_ACCESS_TOKEN)
    );
    assert_eq!(
        store.get_accounts_for_user(fx::ADA_ID).await.unwrap(),
        vec![account.clone()]
    );
    assert_eq!(
        (account.token_type, account.scope, account.id_token),
        (None, None, None)
    );

    let session = Session {
        session_token: SecretString::new(fx::SESSION_TOKEN),
        user_id: fx::ADA_ID.to_owned(),
        expires: fx::SESSION_EXPIRES,
        access_token: SecretString::new(fx::SESSION_ACCESS_TOKEN),
        created: Some(fx::SESSION_CREATED),
    };
    // v3's raw row reads by the cookie's candidate keys (hashed, raw) in one query.
    assert_eq!(
        store
            .get_session_and_user(&v3_cookie_keys().exposed())
            .await
            .unwrap(),
        Some((session.clone(), ada()))
    );
    assert_eq!(
        store.list_sessions(fx::ADA_ID).await.unwrap(),
        vec![session]
    );

    // The e-mail link v3 sent signs in once.
    let hash = hash_with_secret(fx::EMAIL_TOKEN, &SecretString::new(fx::SECRET));
    assert_eq!(hash, fx::EMAIL_TOKEN_HASH);
    let pending = VerificationToken {
        identifier: fx::EMAIL_IDENTIFIER.to_owned(),
        token_hash: hash.clone(),
        expires: fx::EMAIL_EXPIRES,
    };
    assert_eq!(
        store
            .use_verification_token(&hash.to_uppercase(), &hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .use_verification_token(fx::EMAIL_IDENTIFIER, &hash.to_uppercase())
            .await
            .unwrap(),
        None,
        "token hashes compare byte for byte, whatever the table's collation"
    );
    assert_eq!(
        store
            .use_verification_token(fx::EMAIL_IDENTIFIER, &hash)
            .await
            .unwrap(),
        Some(pending)
    );
    assert_eq!(
        store
            .use_verification_token(fx::EMAIL_IDENTIFIER, &hash)
            .await
            .unwrap(),
        None
    );

    // v3's tables keep their collation: lookups are exact all the same.
    for near in ["ADA@example.com", "ada@example.com ", "adá@example.com"] {
        assert_eq!(
            store.get_user_by_email(near).await.unwrap(),
            None,
            "{near:?}"
        );
    }
    assert_eq!(
        store
            .get_session_and_user(&[&fx::SESSION_TOKEN.to_uppercase()])
            .await
            .unwrap(),
        None
    );

    // New rows continue v3's id sequences and use the new columns.
    let new = store
        .create_user(NewUser {
            email: Some("new@example.com".to_owned()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    assert_eq!(new.id, "3");
    store.delete_user(fx::ADA_ID).await.unwrap();
    assert_eq!(
        store.get_accounts_for_user(fx::ADA_ID).await.unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .get_session_and_user(&v3_cookie_keys().exposed())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_user_by_account(fx::ACCOUNT_PROVIDER_ID, fx::ACCOUNT_PROVIDER_ACCOUNT_ID)
            .await
            .unwrap(),
        None
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite() {
    opens_a_v3_database(None).await;
}

#[tokio::test]
async fn postgres() {
    opens_a_v3_database(Some(Server::Postgres)).await;
}

#[tokio::test]
async fn mariadb() {
    opens_a_v3_database(Some(Server::MySql)).await;
}
