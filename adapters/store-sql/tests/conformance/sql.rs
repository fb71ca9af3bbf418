//! Connecting, migrating, and errors.

use portcullis_domain::model::{NewUser, Session, VerificationToken};
use portcullis_domain::secret::SecretString;
use portcullis_ports::{Store, StoreError};
use portcullis_store_sql::{Dialect, SqlOptions, SqlStore, MIGRATIONS};
use time::macros::datetime;

use crate::support::{self, Server};

const TOKEN: &str = "f00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dface";

#[tokio::test]
async fn urls_select_the_dialect() {
    let (url, _db) = support::sqlite_db();
    let store = support::connect(&url).await;
    assert_eq!(store.dialect(), Dialect::Sqlite);
    let (pg, _pg_db) = support::server_db(Server::Postgres).await;
    let store = support::connect(&pg.replacen("postgres://", "postgresql://", 1)).await;
    assert_eq!(store.dialect(), Dialect::Postgres);
    store.close().await;
    let (my, _my_db) = support::server_db(Server::MySql).await;
    let store = support::connect(&my.replacen("mysql://", "mariadb://", 1)).await;
    assert_eq!(store.dialect(), Dialect::MySql);
    store.migrate().await.unwrap();
    store.close().await;
    for bad in ["", "redis://localhost", "memory"] {
        let error = SqlStore::connect(bad, SqlOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Backend(_)), "{bad}: {error}");
    }
}

#[tokio::test]
async fn connect_errors_do_not_quote_the_password() {
    let error = SqlStore::connect(
        "postgres://app:hunter2-secret@127.0.0.1:1/app",
        SqlOptions {
            acquire_timeout: std::time::Duration::from_secs(2),
            ..SqlOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[tokio::test]
async fn migrate_is_idempotent_and_recorded() {
    for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
        let (url, _db) = match server {
            Some(server) => support::server_db(server).await,
            None => support::sqlite_db(),
        };
        let store = support::connect(&url).await;
        assert_eq!(store.migrate().await.unwrap(), MIGRATIONS.to_vec());
        assert!(
            !store.upgraded_from_v3(),
            "a database migrate created is not v3's: session tokens default to hashed"
        );
        assert!(store.migrate().await.unwrap().is_empty());
        assert_eq!(
            store.applied_migrations().await.unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7]
        );
        // Concurrent migrations of a fresh store wait for each other.
        let again = support::connect(&url).await;
        let (a, b) = tokio::join!(store.migrate(), again.migrate());
        assert!(a.unwrap().is_empty() && b.unwrap().is_empty());
        store.close().await;
        again.close().await;
    }
}

#[tokio::test]
async fn concurrent_first_migrations_apply_once() {
    for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
        let (url, _db) = match server {
            Some(server) => support::server_db(server).await,
            None => support::sqlite_db(),
        };
        let one = support::connect(&url).await;
        let two = support::connect(&url).await;
        let (a, b) = tokio::join!(one.migrate(), two.migrate());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            a.len() + b.len(),
            MIGRATIONS.len(),
            "{server:?}: {a:?} {b:?}"
        );
        one.close().await;
        two.close().await;
    }
}

/// Unique violations and backend failures never echo a session token or token hash
/// (MySQL's own message would: "Duplicate entry '<token>' for key …").
#[tokio::test]
async fn errors_never_quote_secrets() {
    for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
        let test = support::fresh(server).await;
        let store = &test.store;
        let user = store.create_user(NewUser::default()).await.unwrap();
        let session = Session {
            session_token: SecretString::new(TOKEN),
            user_id: user.id.clone(),
            expires: datetime!(2030-01-01 00:00 UTC),
            access_token: SecretString::new(TOKEN.replace("f", "e")),
            created: None,
        };
        store.create_session(session.clone()).await.unwrap();
        let error = store.create_session(session).await.unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{error}");
        assert!(!error.to_string().contains(TOKEN), "{error}");

        let vt = VerificationToken {
            identifier: "x@example.com".to_owned(),
            token_hash: TOKEN.to_owned(),
            expires: datetime!(2030-01-01 00:00 UTC),
        };
        store.create_verification_token(vt.clone()).await.unwrap();
        let error = store.create_verification_token(vt).await.unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{error}");
        assert!(!error.to_string().contains(TOKEN), "{error}");

        // A backend failure on a statement that binds a token.
        if store.dialect() == Dialect::MySql {
            // TIMESTAMP ends in 2038 (and MariaDB would store "now" instead).
            let error = store
                .update_session_expiry(TOKEN, datetime!(2100-01-01 00:00 UTC))
                .await
                .unwrap_err();
            assert!(matches!(error, StoreError::Backend(_)), "{error}");
            assert!(error.to_string().contains("TIMESTAMP range"), "{error}");
            assert!(!error.to_string().contains(TOKEN), "{error}");
        }
        store.close().await;
        let error = store.get_session_and_user(&[TOKEN]).await.unwrap_err();
        assert!(!error.to_string().contains(TOKEN), "{error}");
    }
}

/// A revocation one store handle records is what every other handle on the database
/// reads (several server instances share one database); a session created without
/// `created` gets the database's clock from the `created_at` default, as v3's rows did.
#[tokio::test]
async fn revocations_are_shared_and_created_at_defaults() {
    for server in [None, Some(Server::Postgres), Some(Server::MySql)] {
        let (url, _db) = match server {
            Some(server) => support::server_db(server).await,
            None => support::sqlite_db(),
        };
        let one = support::connect(&url).await;
        one.migrate().await.unwrap();
        let two = support::connect(&url).await;
        let expires = datetime!(2030-01-01 00:00 UTC);
        let now = datetime!(2029-12-31 23:00 UTC);
        assert!(!two.is_jwt_revoked("shared").await.unwrap());
        one.revoke_jwt("shared", expires, now).await.unwrap();
        assert!(
            two.is_jwt_revoked("shared").await.unwrap(),
            "{server:?}: another handle on the database must see the revocation"
        );
        two.revoke_jwt("other", expires, expires + time::Duration::seconds(1))
            .await
            .unwrap();
        assert!(
            !one.is_jwt_revoked("shared").await.unwrap(),
            "{server:?}: a revocation dropped through one handle is gone for all"
        );

        let user = one.create_user(NewUser::default()).await.unwrap();
        let before = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
        one.create_session(Session {
            session_token: SecretString::new(TOKEN),
            user_id: user.id.clone(),
            expires,
            access_token: SecretString::new(TOKEN.replace("f", "e")),
            created: None,
        })
        .await
        .unwrap();
        let (read, _) = two.get_session_and_user(&[TOKEN]).await.unwrap().unwrap();
        let stamped = read.created.expect("created_at's default stamps the row");
        let after = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
        assert!(
            before < stamped && stamped < after,
            "{server:?}: created_at is the database's clock: {stamped}"
        );
        one.close().await;
        two.close().await;
    }
}

/// A store on a database nobody migrated fails with a backend error, not a panic.
#[tokio::test]
async fn unmigrated_database_is_a_backend_error() {
    let (url, _db) = support::sqlite_db();
    let store = support::connect(&url).await;
    let error = store.get_user("1").await.unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error}");
    assert!(error.to_string().contains("no such table"), "{error}");
}

/// A table in another shape is named, not half-used.
#[tokio::test]
async fn migrate_refuses_a_foreign_table() {
    let (url, _db) = support::sqlite_db();
    let store = support::connect(&url).await;
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql("CREATE TABLE sessions (id INTEGER PRIMARY KEY, token TEXT)")
        .execute(&mut c)
        .await
        .unwrap();
    let error = store.migrate().await.unwrap_err().to_string();
    assert!(
        error.contains("sessions") && error.contains("session_token"),
        "{error}"
    );
}

/// Ids that no row can have are `None`/`NotFound`, never errors.
#[tokio::test]
async fn odd_ids_are_nobody() {
    let test = support::fresh(None).await;
    let store = &test.store;
    let user = store.create_user(NewUser::default()).await.unwrap();
    let account = portcullis_domain::model::Account {
        user_id: user.id.clone(),
        provider_type: "email".to_owned(),
        provider_id: "email".to_owned(),
        provider_account_id: "odd@example.com".to_owned(),
        refresh_token: None,
        access_token: None,
        access_token_expires: None,
        token_type: None,
        scope: None,
        id_token: None,
    };
    store.link_account(account.clone()).await.unwrap();
    for odd in [" 1", "01", "+1", "1.0", "１", "9223372036854775808"] {
        assert_eq!(store.get_user(odd).await.unwrap(), None, "{odd:?}");
        assert!(matches!(
            store
                .update_user(portcullis_domain::model::User {
                    id: odd.to_owned(),
                    ..user.clone()
                })
                .await,
            Err(StoreError::NotFound(_))
        ));
        store.delete_user(odd).await.unwrap();
        assert_eq!(store.list_sessions(odd).await.unwrap(), vec![]);
        assert_eq!(store.get_accounts_for_user(odd).await.unwrap(), vec![]);
        assert_eq!(store.delete_sessions_for_user(odd).await.unwrap(), 0);
    }
    assert_eq!(
        store.get_accounts_for_user(&user.id).await.unwrap(),
        vec![account]
    );
    assert_eq!(store.get_user(&user.id).await.unwrap(), Some(user));
}
