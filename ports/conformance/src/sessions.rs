//! Database sessions: create, look up (hashed or raw key), expiry updates, listing and
//! deleting, and the sign-in instant `created`.

use std::sync::Arc;

use portcullis_domain::model::Session;
use portcullis_domain::secret::SecretString;
use portcullis_ports::Store;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::fixtures::*;

/// `create_session` returns the session; `get_session_and_user` reads session and user
/// back in one call; an unknown token is `None`.
pub async fn create_session_then_get_session_and_user(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Sessioned", Some("sessioned@example.com")))
            .await,
        "create_user",
    );
    let input = session(&user.id, 1, SESSION_EXPIRES);
    assert_eq!(
        ok(store.create_session(input.clone()).await, "create_session"),
        input,
        "store failed: create_session must return the session as stored"
    );
    let (read, read_user) = ok(
        store
            .get_session_and_user(&[input.session_token.expose()])
            .await,
        "get_session_and_user",
    )
    .expect("store failed: get_session_and_user must find a created session");
    assert_eq!(
        read, input,
        "store failed: get_session_and_user must return the session as created"
    );
    assert_eq!(
        read.access_token.expose(),
        input.access_token.expose(),
        "store failed: the session's access_token must round-trip"
    );
    assert_eq!(
        read_user, user,
        "store failed: get_session_and_user must return the session's user"
    );
    for unknown in [hex_token('5', 2), hex_token('a', 1), String::new()] {
        assert_eq!(
            ok(
                store.get_session_and_user(&[&unknown]).await,
                "get_session_and_user of an unknown token"
            ),
            None,
            "store failed: get_session_and_user of an unknown token (or of the session's \
             access_token) must be None"
        );
    }
}

/// A second session with a session token already stored is `Conflict`, and the first
/// session is unchanged.
pub async fn create_session_duplicate_token_conflicts(store: Arc<dyn Store>) {
    let owner = ok(
        store.create_user(new_user("Owner", None)).await,
        "create_user",
    );
    let other = ok(
        store.create_user(new_user("Other", None)).await,
        "create_user",
    );
    let first = session(&owner.id, 9, SESSION_EXPIRES);
    ok(store.create_session(first.clone()).await, "create_session");
    let mut duplicate = session(&other.id, 10, SESSION_EXPIRES + Duration::days(1));
    duplicate.session_token = first.session_token.clone();
    assert_conflict(
        store.create_session(duplicate).await,
        "create_session with a session token already stored",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[first.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        Some((first, owner)),
        "store failed: a refused create_session must leave the first session and its user"
    );
    assert_eq!(
        ok(store.list_sessions(&other.id).await, "list_sessions"),
        Vec::<Session>::new(),
        "store failed: a refused create_session must not list a session for its user"
    );
}

/// A session whose user does not exist reads as `None`. A store may refuse to create
/// such a session (a foreign key); if it stores it, it must not return it.
pub async fn session_without_user_reads_none(store: Arc<dyn Store>) {
    let orphan = session("271828182845", 4, SESSION_EXPIRES);
    if store.create_session(orphan.clone()).await.is_ok() {
        assert_eq!(
            ok(
                store
                    .get_session_and_user(&[orphan.session_token.expose()])
                    .await,
                "get_session_and_user of a session without a user"
            ),
            None,
            "store failed: a session whose user does not exist must read as None"
        );
    }
    let user = ok(
        store.create_user(new_user("Gone", None)).await,
        "create_user",
    );
    let gone = session(&user.id, 5, SESSION_EXPIRES);
    ok(store.create_session(gone.clone()).await, "create_session");
    ok(store.delete_user(&user.id).await, "delete_user");
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[gone.session_token.expose()])
                .await,
            "get_session_and_user"
        ),
        None,
        "store failed: a session whose user was deleted must read as None"
    );
}

/// Stores do not read the clock: an expired session is returned like any other.
pub async fn expired_session_is_still_returned(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Expired", None)).await,
        "create_user",
    );
    let expired = session(&user.id, 6, LONG_AGO);
    ok(
        store.create_session(expired.clone()).await,
        "create_session of an expired session",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&[expired.session_token.expose()])
                .await,
            "get_session_and_user of an expired session"
        ),
        Some((expired.clone(), user.clone())),
        "store failed: an expired session must still be returned (the caller decides)"
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![expired],
        "store failed: list_sessions must include expired sessions"
    );
}

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

/// `get_session_and_user` takes the candidate keys of one cookie (its `sha256:` key and the
/// raw token, `portcullis_domain::session_key`) and finds a session stored under either, in
/// one lookup, returning the key that matched; `update_session_expiry` and `delete_session`
/// by that key reach the same row. A hashed row and a v3 raw row live side by side.
pub async fn session_lookup_matches_hashed_or_raw_key(store: Arc<dyn Store>) {
    use portcullis_domain::session_key::{hashed_key, SessionKeys};
    let user = ok(
        store.create_user(new_user("Keyholder", None)).await,
        "create_user",
    );
    let new_cookie = hex_token('6', 1);
    let v3_cookie = hex_token('6', 2);
    let mut hashed = session(&user.id, 1, SESSION_EXPIRES);
    hashed.session_token = SecretString::new(hashed_key(&new_cookie));
    let mut raw = session(&user.id, 2, SESSION_EXPIRES);
    raw.session_token = SecretString::new(v3_cookie.clone());
    ok(store.create_session(hashed.clone()).await, "create_session");
    ok(store.create_session(raw.clone()).await, "create_session");

    let lookup = |cookie: &str| SessionKeys::for_cookie(cookie).expect("a cookie value");
    for (cookie, stored) in [(&new_cookie, &hashed), (&v3_cookie, &raw)] {
        let keys = lookup(cookie);
        let (found, found_user) = ok(
            store.get_session_and_user(&keys.exposed()).await,
            "get_session_and_user by candidate keys",
        )
        .expect(
            "store failed: get_session_and_user must find a session stored under any of the keys",
        );
        assert_eq!(
            &found, stored,
            "store failed: get_session_and_user must return the session as stored, under the key that matched"
        );
        assert_eq!(found_user, user);
    }
    let unknown = lookup(&hex_token('6', 3));
    assert_eq!(
        ok(
            store.get_session_and_user(&unknown.exposed()).await,
            "get_session_and_user of unknown keys"
        ),
        None
    );
    // The cookie of the hashed row, given as if stored raw, is no key: the store only
    // matches, it never hashes.
    assert_eq!(
        ok(
            store.get_session_and_user(&[new_cookie.as_str()]).await,
            "get_session_and_user by an unhashed token"
        ),
        None,
        "store failed: get_session_and_user must compare keys as given"
    );

    let later = SESSION_EXPIRES + time::Duration::days(1);
    ok(
        store
            .update_session_expiry(hashed.session_token.expose(), later)
            .await,
        "update_session_expiry by the matched (hashed) key",
    );
    let (moved, _) = ok(
        store
            .get_session_and_user(&lookup(&new_cookie).exposed())
            .await,
        "get_session_and_user",
    )
    .expect("the hashed session");
    assert_eq!(moved.expires, later);
    ok(
        store.delete_session(raw.session_token.expose()).await,
        "delete_session by the matched (raw) key",
    );
    assert_eq!(
        ok(
            store
                .get_session_and_user(&lookup(&v3_cookie).exposed())
                .await,
            "get_session_and_user"
        ),
        None,
        "store failed: delete_session by the matched key must remove the raw row"
    );
    ok(
        store.delete_session(hashed.session_token.expose()).await,
        "delete_session by the matched (hashed) key",
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        Vec::<Session>::new()
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

/// `created` (when the session was signed in) is kept as given, to the millisecond, not
/// stamped from the database's clock: the domain's clock decides it, and the absolute
/// lifetime counts from it. No expiry update moves it.
pub async fn session_created_round_trips(store: Arc<dyn Store>) {
    #[track_caller]
    fn assert_close(got: Option<OffsetDateTime>, want: OffsetDateTime, read: &str) {
        let got = got.unwrap_or_else(|| {
            panic!("store failed: session.created from {read} came back as None")
        });
        assert!(
            (got - want).abs() < Duration::milliseconds(1),
            "store failed: session.created from {read} must be the given instant to the \
             millisecond (not the database's clock): stored {want}, read {got}"
        );
    }
    let user = ok(
        store.create_user(new_user("Signed", None)).await,
        "create_user",
    );
    // Long before any clock this runs on, with sub-millisecond digits and an offset.
    let created = datetime!(2003-04-05 06:07:08.123_456_789 +02:00);
    let s = Session {
        created: Some(created),
        ..session(&user.id, 1, SESSION_EXPIRES)
    };
    ok(store.create_session(s.clone()).await, "create_session");
    for moved in [false, true] {
        if moved {
            ok(
                store
                    .update_session_expiry(
                        s.session_token.expose(),
                        SESSION_EXPIRES + Duration::days(1),
                    )
                    .await,
                "update_session_expiry",
            );
        }
        let after = if moved {
            " after update_session_expiry"
        } else {
            ""
        };
        assert_close(
            ok(
                store
                    .get_session_and_user(&[s.session_token.expose()])
                    .await,
                "get_session_and_user",
            )
            .and_then(|(s, _)| s.created),
            created,
            &format!("get_session_and_user{after}"),
        );
        assert_close(
            ok(store.list_sessions(&user.id).await, "list_sessions")
                .first()
                .and_then(|s| s.created),
            created,
            &format!("list_sessions{after}"),
        );
    }
}

/// A session given without `created` is stored all the same. It reads back as `None`, or
/// (SQL, MongoDB: v3's schema stamps `created_at`/`createdAt` on insert) as the instant
/// the store stamped; either way no expiry update moves it.
pub async fn session_without_created_is_stored(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Unstamped", None)).await,
        "create_user",
    );
    let s = Session {
        created: None,
        ..session(&user.id, 1, SESSION_EXPIRES)
    };
    ok(store.create_session(s.clone()).await, "create_session");
    let (first, _) = ok(
        store
            .get_session_and_user(&[s.session_token.expose()])
            .await,
        "get_session_and_user",
    )
    .expect("store failed: a session created without `created` must be found");
    assert_eq!(
        Session {
            created: None,
            ..first.clone()
        },
        s,
        "store failed: a session created without `created` must read back as created"
    );
    ok(
        store
            .update_session_expiry(
                s.session_token.expose(),
                SESSION_EXPIRES + Duration::days(1),
            )
            .await,
        "update_session_expiry",
    );
    let (second, _) = ok(
        store
            .get_session_and_user(&[s.session_token.expose()])
            .await,
        "get_session_and_user",
    )
    .expect("store failed: the session must still be found");
    assert_eq!(
        second.created, first.created,
        "store failed: update_session_expiry must not move the session's `created`"
    );
}
