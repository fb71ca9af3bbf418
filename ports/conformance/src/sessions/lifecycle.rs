//! Sessions after they are created: expiry updates, deleting one, listing a user's, and
//! deleting all of a user's.

use std::sync::Arc;

use portcullis_domain::model::Session;
use portcullis_ports::Store;
use time::Duration;

use crate::fixtures::*;

/// `update_session_expiry` moves the expiry of one session and nothing else.
pub async fn update_session_expiry_moves_expiry(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Slider", None)).await,
        "create_user",
    );
    let sliding = session(&user.id, 1, SESSION_EXPIRES);
    let steady = session(&user.id, 2, SESSION_EXPIRES + Duration::hours(1));
    ok(
        store.create_session(sliding.clone()).await,
        "create_session",
    );
    ok(store.create_session(steady.clone()).await, "create_session");
    let later = SESSION_EXPIRES + Duration::days(30);
    ok(
        store
            .update_session_expiry(sliding.session_token.expose(), later)
            .await,
        "update_session_expiry",
    );
    let moved = Session {
        expires: later,
        ..sliding.clone()
    };
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[sliding.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((moved.clone(), user.clone())),
        "store failed: update_session_expiry must change the expiry and keep every other field"
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[steady.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((steady.clone(), user.clone())),
        "store failed: update_session_expiry must leave other sessions"
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![steady, moved],
        "store failed: list_sessions must order by the updated expiry"
    );
    // Moving it into the past is allowed too (the domain may shorten a session).
    ok(
        store
            .update_session_expiry(sliding.session_token.expose(), LONG_AGO)
            .await,
        "update_session_expiry to a past instant",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[sliding.session_token.expose()])
                .await,
            "get_session_and_user"
        )
        .map(|(s, _)| s.expires),
        Some(LONG_AGO),
        "store failed: update_session_expiry must store a past expiry as given"
    );
}

/// `update_session_expiry` of an unknown token is `NotFound` and creates nothing.
pub async fn update_session_expiry_unknown_not_found(store: Arc<dyn Store>) {
    let token = hex_token('5', 404);
    assert_not_found(
        store.update_session_expiry(&token, SESSION_EXPIRES).await,
        "update_session_expiry of an unknown session token",
    );
    assert_eq!(
        ok(
            store.get_session_and_user(&[&token]).await,
            "get_session_and_user"
        ),
        None,
        "store failed: update_session_expiry of an unknown token must not create a session"
    );
}

/// `delete_session` removes one session; deleting it again, or an unknown one, is fine.
pub async fn delete_session_is_idempotent(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Leaver", None)).await,
        "create_user",
    );
    let leaving = session(&user.id, 1, SESSION_EXPIRES);
    let staying = session(&user.id, 2, SESSION_EXPIRES);
    ok(
        store.create_session(leaving.clone()).await,
        "create_session",
    );
    ok(
        store.create_session(staying.clone()).await,
        "create_session",
    );
    ok(
        store.delete_session(leaving.session_token.expose()).await,
        "delete_session",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[leaving.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        None,
        "store failed: delete_session must remove the session"
    );
    ok(
        store.delete_session(leaving.session_token.expose()).await,
        "delete_session of a session already deleted",
    );
    ok(
        store.delete_session(&hex_token('5', 999)).await,
        "delete_session of an unknown session token",
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![staying.clone()],
        "store failed: delete_session must leave the user's other sessions"
    );
    assert_eq!(
        ok(store.get_user(&user.id).await, "get_user"),
        Some(user),
        "store failed: delete_session must leave the user"
    );
    // A deleted token can be stored again (tokens are random; this only checks cleanup).
    ok(
        store.create_session(leaving).await,
        "create_session with the token of a deleted session",
    );
}

/// `list_sessions` returns exactly the user's sessions, soonest expiry first.
pub async fn list_sessions_soonest_expiry_first(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Lister", None)).await,
        "create_user",
    );
    let other = ok(
        store.create_user(new_user("Other", None)).await,
        "create_user",
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        Vec::<Session>::new(),
        "store failed: a user without sessions must list none"
    );
    // Created in an order that is neither expiry order nor its reverse; tokens sort
    // differently from expiries, so a store ordering by token fails.
    let base = SESSION_EXPIRES;
    let a = session(&user.id, 1, base + Duration::days(3));
    let b = session(&user.id, 2, base + Duration::milliseconds(1));
    let c = session(&user.id, 3, base + Duration::days(10));
    let d = session(&user.id, 4, LONG_AGO);
    let e = session(&user.id, 5, base);
    let foreign = session(&other.id, 6, base + Duration::days(1));
    for s in [&a, &b, &c, &d, &e, &foreign] {
        ok(store.create_session(s.clone()).await, "create_session");
    }
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![d, e, b, a, c],
        "store failed: list_sessions must return exactly the user's sessions, soonest expiry first"
    );
    assert_eq!(
        ok(store.list_sessions(&other.id).await, "list_sessions"),
        vec![foreign],
        "store failed: list_sessions must not mix users"
    );
    assert_eq!(
        ok(
            store.list_sessions("161803398874").await,
            "list_sessions of an unknown user"
        ),
        Vec::<Session>::new(),
        "store failed: list_sessions of an unknown user must be empty"
    );
}

/// `delete_sessions_for_user` deletes every session of the user, says how many, and
/// leaves other users' sessions; a second call deletes 0.
pub async fn delete_sessions_for_user_counts_and_spares_others(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Everywhere", None)).await,
        "create_user",
    );
    let other = ok(
        store.create_user(new_user("Elsewhere", None)).await,
        "create_user",
    );
    for n in 1..=3 {
        ok(
            store
                .create_session(session(
                    &user.id,
                    n,
                    SESSION_EXPIRES + Duration::minutes(n as i64),
                ))
                .await,
            "create_session",
        );
    }
    let kept = session(&other.id, 4, SESSION_EXPIRES);
    ok(store.create_session(kept.clone()).await, "create_session");

    assert_eq!(
        ok(
            store.delete_sessions_for_user(&user.id).await,
            "delete_sessions_for_user"
        ),
        3,
        "store failed: delete_sessions_for_user must return how many sessions it deleted"
    );
    for n in 1..=3 {
        assert_eq!(
            ok(
                store.get_session_and_user(&[&hex_token('5', n)]).await,
                "get_session_and_user"
            ),
            None,
            "store failed: delete_sessions_for_user must delete every session of the user"
        );
    }
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        Vec::<Session>::new(),
        "store failed: after delete_sessions_for_user the user must list no sessions"
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[kept.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((kept, other)),
        "store failed: delete_sessions_for_user must leave other users' sessions"
    );
    assert_eq!(
        ok(
            store.get_user(&user.id).await,
            "get_user after delete_sessions_for_user"
        ),
        Some(user.clone()),
        "store failed: delete_sessions_for_user must leave the user"
    );
    assert_eq!(
        ok(
            store.delete_sessions_for_user(&user.id).await,
            "delete_sessions_for_user of a user without sessions"
        ),
        0,
        "store failed: delete_sessions_for_user of a user without sessions must return 0"
    );
    assert_eq!(
        ok(
            store.delete_sessions_for_user("577215664901").await,
            "delete_sessions_for_user of an unknown user"
        ),
        0,
        "store failed: delete_sessions_for_user of an unknown user must return 0"
    );
}
