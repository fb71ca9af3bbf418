//! Encoding: timestamps at millisecond precision, and Unicode.

use std::sync::Arc;

use portcullis_domain::model::{Account, NewUser, User};
use portcullis_ports::Store;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::fixtures::*;

/// Every timestamp field keeps at least millisecond precision, whatever offset it was
/// given in (stores may return it in UTC; the instant must be the same).
pub async fn timestamps_round_trip_to_the_millisecond(store: Arc<dyn Store>) {
    #[track_caller]
    fn assert_close(got: Option<OffsetDateTime>, want: OffsetDateTime, field: &str) {
        let got = got.unwrap_or_else(|| panic!("store failed: {field} came back as None"));
        let error = (got - want).abs();
        assert!(
            error < Duration::milliseconds(1),
            "store failed: {field} must round-trip to the millisecond: stored {want}, read {got}"
        );
    }
    // Sub-millisecond digits, a non-UTC offset, dates on both sides of 2000.
    let precise = datetime!(2029-11-12 13:14:15.123_456_789 +05:30);
    let early = datetime!(1999-12-31 23:59:59.999_999 -08:00);

    let user = ok(
        store
            .create_user(NewUser {
                email_verified: Some(precise),
                ..new_user("Clock", Some("clock@example.com"))
            })
            .await,
        "create_user",
    );
    assert_close(
        ok(store.get_user(&user.id).await, "get_user").and_then(|u| u.email_verified),
        precise,
        "user.email_verified",
    );
    ok(
        store
            .update_user(User {
                email_verified: Some(early),
                ..user.clone()
            })
            .await,
        "update_user",
    );
    assert_close(
        ok(store.get_user(&user.id).await, "get_user").and_then(|u| u.email_verified),
        early,
        "user.email_verified after update_user",
    );

    ok(
        store
            .link_account(Account {
                access_token_expires: Some(precise),
                ..full_account(&user.id, "github", "clock")
            })
            .await,
        "link_account",
    );
    assert_close(
        ok(store.get_account("github", "clock").await, "get_account")
            .and_then(|a| a.access_token_expires),
        precise,
        "account.access_token_expires",
    );

    let s = session(&user.id, 1, precise);
    ok(store.create_session(s.clone()).await, "create_session");
    assert_close(
        ok(
            store
                .get_session_and_user(&[s.session_token.expose()])
                .await,
            "get_session_and_user",
        )
        .map(|(s, _)| s.expires),
        precise,
        "session.expires",
    );
    ok(
        store
            .update_session_expiry(s.session_token.expose(), early)
            .await,
        "update_session_expiry",
    );
    assert_close(
        ok(
            store
                .get_session_and_user(&[s.session_token.expose()])
                .await,
            "get_session_and_user",
        )
        .map(|(s, _)| s.expires),
        early,
        "session.expires after update_session_expiry",
    );
    assert_close(
        ok(store.list_sessions(&user.id).await, "list_sessions")
            .first()
            .map(|s| s.expires),
        early,
        "session.expires from list_sessions",
    );

    let vt = verification_token("clock@example.com", 1, precise);
    ok(
        store.create_verification_token(vt.clone()).await,
        "create_verification_token",
    );
    assert_close(
        ok(
            store
                .use_verification_token(&vt.identifier, &vt.token_hash)
                .await,
            "use_verification_token",
        )
        .map(|t| t.expires),
        precise,
        "verification_token.expires",
    );
}

/// Text outside ASCII survives every string field: names, addresses, images, provider
/// account ids, identifiers.
pub async fn unicode_survives(store: Arc<dyn Store>) {
    let name = "Zoë Ångström-Łukasiewicz 山田太郎 محمد 👩🏽‍💻 e\u{301}";
    let email = "zoë.山田@exämple.中国";
    let created = ok(
        store
            .create_user(NewUser {
                name: Some(name.to_owned()),
                email: Some(email.to_owned()),
                email_verified: Some(EMAIL_VERIFIED),
                image: Some("https://img.example/ångström/😀.png?q=ü".to_owned()),
            })
            .await,
        "create_user with non-ASCII fields",
    );
    assert_eq!(
        created.name.as_deref(),
        Some(name),
        "store failed: create_user must return a non-ASCII name unchanged"
    );
    assert_eq!(
        ok(store.get_user(&created.id).await, "get_user"),
        Some(created.clone()),
        "store failed: non-ASCII user fields must survive unchanged (no normalisation)"
    );
    assert_eq!(
        ok(store.get_user_by_email(email).await, "get_user_by_email"),
        Some(created.clone()),
        "store failed: get_user_by_email must find a non-ASCII address"
    );
    // Composed vs decomposed forms are different strings: no Unicode normalisation.
    assert_eq!(
        ok(
            store
                .get_user_by_email("zoe\u{308}.山田@exämple.中国")
                .await,
            "get_user_by_email"
        ),
        None,
        "store failed: get_user_by_email must not normalise Unicode"
    );
    let renamed = User {
        name: Some("Émilie Dupré — 李小龍".to_owned()),
        ..created.clone()
    };
    ok(
        store.update_user(renamed.clone()).await,
        "update_user with a non-ASCII name",
    );
    assert_eq!(
        ok(store.get_user(&created.id).await, "get_user"),
        Some(renamed.clone()),
        "store failed: a non-ASCII name must survive update_user"
    );

    let account = full_account(&created.id, "línea", "ユーザー-42");
    ok(
        store.link_account(account.clone()).await,
        "link_account with non-ASCII provider ids",
    );
    assert_eq!(
        ok(
            store.get_account("línea", "ユーザー-42").await,
            "get_account"
        ),
        Some(account),
        "store failed: non-ASCII provider ids must round-trip"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("línea", "ユーザー-42").await,
            "get_user_by_account"
        ),
        Some(renamed.clone()),
        "store failed: get_user_by_account must find non-ASCII provider ids"
    );

    let s = session(&created.id, 1, SESSION_EXPIRES);
    ok(store.create_session(s.clone()).await, "create_session");
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[s.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((s, renamed)),
        "store failed: the user read with a session must keep its non-ASCII fields"
    );

    let vt = verification_token(email, 1, TOKEN_EXPIRES);
    ok(
        store.create_verification_token(vt.clone()).await,
        "create_verification_token with a non-ASCII identifier",
    );
    assert_eq!(
        ok(
            store.use_verification_token(email, &vt.token_hash).await,
            "use_verification_token"
        ),
        Some(vt),
        "store failed: a non-ASCII identifier must round-trip"
    );
}
