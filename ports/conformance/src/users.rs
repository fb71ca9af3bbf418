//! Users: create, read by id and by e-mail (byte-exact), update, and the unique e-mail
//! under races.

use std::sync::Arc;

use portcullis_domain::model::{NewUser, User};
use portcullis_ports::Store;
use time::macros::datetime;

use crate::fixtures::*;

/// `create_user` assigns a non-empty id, returns every field as given, and `get_user`
/// reads the same user back; two users get different ids.
pub async fn create_user_then_get_user(store: Arc<dyn Store>) {
    let input = new_user("Alice", Some("alice@example.com"));
    let created = ok(store.create_user(input.clone()).await, "create_user");
    assert!(
        !created.id.is_empty(),
        "store failed: create_user must assign a non-empty id"
    );
    assert_eq!(
        created,
        input.clone().with_id(created.id.clone()),
        "store failed: create_user must return the fields it was given"
    );
    let read = ok(
        store.get_user(&created.id).await,
        "get_user of a created user",
    );
    assert_eq!(
        read,
        Some(created.clone()),
        "store failed: get_user must read back the created user"
    );

    let sparse = NewUser::default();
    let second = ok(
        store.create_user(sparse.clone()).await,
        "create_user with every optional field None",
    );
    assert_ne!(
        second.id, created.id,
        "store failed: create_user must give each user its own id"
    );
    assert_eq!(
        ok(
            store.get_user(&second.id).await,
            "get_user of a sparse user"
        ),
        Some(sparse.with_id(second.id.clone())),
        "store failed: None fields must read back as None"
    );
}

/// `get_user` of an id that was never created is `None`, not an error.
pub async fn get_user_unknown_id_is_none(store: Arc<dyn Store>) {
    let created = ok(
        store.create_user(new_user("Alice", None)).await,
        "create_user",
    );
    for unknown in [
        "999999999",
        "does-not-exist",
        "",
        "000000000000000000000000",
    ] {
        if unknown == created.id {
            continue;
        }
        assert_eq!(
            ok(store.get_user(unknown).await, "get_user of an unknown id"),
            None,
            "store failed: get_user of an unknown id must be None"
        );
    }
}

/// `get_user_by_email` is an exact match on the canonical address: no case folding, no
/// accent folding, no trailing-space padding, no pattern matching, no prefix match.
pub async fn get_user_by_email_is_exact(store: Arc<dyn Store>) {
    let alice = ok(
        store
            .create_user(new_user("Alice", Some("alice@example.com")))
            .await,
        "create_user",
    );
    let jose = ok(
        store
            .create_user(new_user("Jose", Some("jose@example.com")))
            .await,
        "create_user",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("alice@example.com").await,
            "get_user_by_email"
        ),
        Some(alice.clone()),
        "store failed: get_user_by_email must find the user with that address"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("jose@example.com").await,
            "get_user_by_email"
        ),
        Some(jose.clone()),
        "store failed: get_user_by_email must find the user with that address"
    );
    for near_miss in [
        "nobody@example.com",
        "Alice@example.com",
        "ALICE@EXAMPLE.COM",
        "alice@example.com ",
        " alice@example.com",
        "alice@example.co",
        "alice@example.comx",
        "alice@example.%",
        "alice@example.co_",
        "%",
        "_%",
        "josé@example.com",
        "",
    ] {
        assert_eq!(
            ok(
                store.get_user_by_email(near_miss).await,
                "get_user_by_email of an address no user has"
            ),
            None,
            "store failed: get_user_by_email must be an exact match; {near_miss:?} matched a user"
        );
    }
    // A different canonical address is a different user, even if a collation would fold it.
    let jose_accented = ok(
        store
            .create_user(new_user("José", Some("josé@example.com")))
            .await,
        "create_user with an address that differs from another only by an accent",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("josé@example.com").await,
            "get_user_by_email"
        ),
        Some(jose_accented),
        "store failed: addresses differing by an accent must be distinct users"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("jose@example.com").await,
            "get_user_by_email"
        ),
        Some(jose),
        "store failed: addresses differing by an accent must be distinct users"
    );
}

/// A second user with an e-mail already taken is refused with `Conflict`, and the first
/// user keeps the address.
pub async fn create_user_duplicate_email_conflicts(store: Arc<dyn Store>) {
    let first = ok(
        store
            .create_user(new_user("First", Some("same@example.com")))
            .await,
        "create_user",
    );
    assert_conflict(
        store
            .create_user(new_user("Second", Some("same@example.com")))
            .await,
        "create_user with an e-mail another user has",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("same@example.com").await,
            "get_user_by_email"
        ),
        Some(first),
        "store failed: a refused create_user must leave the existing owner of the e-mail"
    );
}

/// 20 concurrent `create_user` calls with one e-mail: exactly one succeeds, the others
/// are `Conflict`, and the address then belongs to the winner.
pub async fn create_user_email_race_has_one_winner(store: Arc<dyn Store>) {
    let behaviour = "concurrent create_user with one e-mail";
    let results = race(&store, 20, behaviour, |store, i| async move {
        store
            .create_user(new_user(&format!("Racer {i}"), Some("race@example.com")))
            .await
    })
    .await;
    assert_one_winner_rest_conflict(&results, behaviour);
    let winner = results.into_iter().find_map(Result::ok);
    assert_eq!(
        ok(
            store.get_user_by_email("race@example.com").await,
            "get_user_by_email"
        ),
        winner,
        "store failed: after a create_user race the e-mail must belong to the one winner"
    );
}

/// The unique e-mail constraint ignores users without an e-mail.
pub async fn users_without_email_may_be_many(store: Arc<dyn Store>) {
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(ok(
            store
                .create_user(new_user(&format!("Anon {i}"), None))
                .await,
            "create_user without an e-mail while other users have none",
        ));
    }
    let mut ids: Vec<_> = users.iter().map(|u| u.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        3,
        "store failed: users without e-mail must each get their own id"
    );
    for user in &users {
        assert_eq!(
            ok(
                store.get_user(&user.id).await,
                "get_user of a user without e-mail"
            ),
            Some(user.clone()),
            "store failed: every user without e-mail must be stored"
        );
    }
    // Clearing an e-mail joins the users without one, and frees the address.
    let cleared = ok(
        store
            .create_user(new_user("Will clear", Some("clear@example.com")))
            .await,
        "create_user",
    );
    let cleared = ok(
        store
            .update_user(User {
                email: None,
                ..cleared
            })
            .await,
        "update_user clearing the e-mail while other users have none",
    );
    assert_eq!(
        ok(store.get_user(&cleared.id).await, "get_user"),
        Some(cleared),
        "store failed: a user whose e-mail was cleared must read back without e-mail"
    );
    ok(
        store
            .create_user(new_user("Next", Some("clear@example.com")))
            .await,
        "create_user with an address another user cleared",
    );
}

/// `update_user` replaces every field (including setting fields to `None`) and returns
/// the stored user.
pub async fn update_user_replaces_fields(store: Arc<dyn Store>) {
    let created = ok(
        store
            .create_user(new_user("Before", Some("before@example.com")))
            .await,
        "create_user",
    );
    let changed = User {
        id: created.id.clone(),
        name: Some("After".to_owned()),
        email: Some("after@example.com".to_owned()),
        email_verified: Some(datetime!(2024-12-31 23:59:59.250 UTC)),
        image: None,
    };
    assert_eq!(
        ok(store.update_user(changed.clone()).await, "update_user"),
        changed,
        "store failed: update_user must return the user as stored"
    );
    assert_eq!(
        ok(
            store.get_user(&created.id).await,
            "get_user after update_user"
        ),
        Some(changed.clone()),
        "store failed: update_user must replace every field"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("after@example.com").await,
            "get_user_by_email of the new address"
        ),
        Some(changed.clone()),
        "store failed: get_user_by_email must find a user by its updated e-mail"
    );

    let emptied = User {
        id: created.id.clone(),
        name: None,
        email: None,
        email_verified: None,
        image: None,
    };
    ok(
        store.update_user(emptied.clone()).await,
        "update_user to all-None fields",
    );
    assert_eq!(
        ok(store.get_user(&created.id).await, "get_user"),
        Some(emptied),
        "store failed: update_user must be able to clear every optional field"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("after@example.com").await,
            "get_user_by_email of a cleared address"
        ),
        None,
        "store failed: a cleared e-mail must no longer find the user"
    );
}

/// Updating a user without changing its e-mail is not a conflict with itself
/// (the e-mail callback does exactly this to set `email_verified`).
pub async fn update_user_keeps_own_email(store: Arc<dyn Store>) {
    let created = ok(
        store
            .create_user(new_user("Keeps", Some("keeps@example.com")))
            .await,
        "create_user",
    );
    let verified_again = User {
        email_verified: Some(datetime!(2025-05-05 05:05:05.505 UTC)),
        ..created.clone()
    };
    assert_eq!(
        ok(
            store.update_user(verified_again.clone()).await,
            "update_user keeping the user's own e-mail"
        ),
        verified_again,
        "store failed: update_user keeping the same e-mail must succeed"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("keeps@example.com").await,
            "get_user_by_email"
        ),
        Some(verified_again),
        "store failed: the e-mail must still find the updated user"
    );
}

/// After a user moves to a new e-mail, the old one is free for another user.
pub async fn update_user_frees_old_email(store: Arc<dyn Store>) {
    let mover = ok(
        store
            .create_user(new_user("Mover", Some("old@example.com")))
            .await,
        "create_user",
    );
    ok(
        store
            .update_user(User {
                email: Some("new@example.com".to_owned()),
                ..mover.clone()
            })
            .await,
        "update_user changing the e-mail",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("old@example.com").await,
            "get_user_by_email of a released address"
        ),
        None,
        "store failed: the old e-mail must no longer find the user that moved away"
    );
    let newcomer = ok(
        store
            .create_user(new_user("Newcomer", Some("old@example.com")))
            .await,
        "create_user with an address another user released",
    );
    assert_eq!(
        ok(
            store.get_user_by_email("old@example.com").await,
            "get_user_by_email"
        ),
        Some(newcomer),
        "store failed: a released e-mail must find its new owner"
    );
}

/// `update_user` to an e-mail another user has is `Conflict` and changes nothing.
pub async fn update_user_to_taken_email_conflicts(store: Arc<dyn Store>) {
    let owner = ok(
        store
            .create_user(new_user("Owner", Some("taken@example.com")))
            .await,
        "create_user",
    );
    let other = ok(
        store
            .create_user(new_user("Other", Some("other@example.com")))
            .await,
        "create_user",
    );
    assert_conflict(
        store
            .update_user(User {
                email: Some("taken@example.com".to_owned()),
                name: Some("Thief".to_owned()),
                ..other.clone()
            })
            .await,
        "update_user to an e-mail another user has",
    );
    assert_eq!(
        ok(store.get_user(&other.id).await, "get_user"),
        Some(other.clone()),
        "store failed: a refused update_user must leave the user unchanged"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("taken@example.com").await,
            "get_user_by_email"
        ),
        Some(owner),
        "store failed: a refused update_user must leave the e-mail with its owner"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("other@example.com").await,
            "get_user_by_email"
        ),
        Some(other),
        "store failed: a refused update_user must keep the user's own e-mail"
    );
}

/// 20 users concurrently moving to one e-mail: exactly one succeeds, the rest `Conflict`.
pub async fn update_user_email_race_has_one_winner(store: Arc<dyn Store>) {
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(ok(
            store
                .create_user(new_user(
                    &format!("Racer {i}"),
                    Some(&format!("racer{i}@example.com")),
                ))
                .await,
            "create_user",
        ));
    }
    let users = Arc::new(users);
    let behaviour = "concurrent update_user to one e-mail";
    let results = race(&store, 20, behaviour, |store, i| {
        let users = Arc::clone(&users);
        async move {
            store
                .update_user(User {
                    email: Some("prize@example.com".to_owned()),
                    ..users[i].clone()
                })
                .await
        }
    })
    .await;
    assert_one_winner_rest_conflict(&results, behaviour);
    let winner = results.into_iter().find_map(Result::ok);
    assert_eq!(
        ok(
            store.get_user_by_email("prize@example.com").await,
            "get_user_by_email"
        ),
        winner,
        "store failed: after an update_user race the e-mail must belong to the one winner"
    );
}

/// `update_user` of an id that does not exist is `NotFound` and creates nothing.
pub async fn update_user_unknown_id_not_found(store: Arc<dyn Store>) {
    let ghost = User {
        id: "424242424242".to_owned(),
        name: Some("Ghost".to_owned()),
        email: Some("ghost@example.com".to_owned()),
        email_verified: None,
        image: None,
    };
    assert_not_found(
        store.update_user(ghost.clone()).await,
        "update_user of an unknown id",
    );
    assert_eq!(
        ok(store.get_user(&ghost.id).await, "get_user"),
        None,
        "store failed: update_user of an unknown id must not create the user"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("ghost@example.com").await,
            "get_user_by_email"
        ),
        None,
        "store failed: update_user of an unknown id must not claim the e-mail"
    );
}
