//! Database sessions: create, look up (hashed or raw key), expiry updates, listing and
//! deleting, and the sign-in instant `created`.

mod lifecycle;

use std::sync::Arc;

use portcullis_domain::model::Session;
use portcullis_domain::secret::SecretString;
use portcullis_ports::Store;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::fixtures::*;

pub use lifecycle::{
    delete_session_is_idempotent, delete_sessions_for_user_counts_and_spares_others,
    list_sessions_soonest_expiry_first, update_session_expiry_moves_expiry,
    update_session_expiry_unknown_not_found,
};

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
