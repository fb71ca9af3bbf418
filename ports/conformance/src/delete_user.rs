//! `delete_user`: the user goes with its accounts and sessions.

use std::sync::Arc;

use portcullis_domain::model::{Account, Session};
use portcullis_ports::Store;

use crate::fixtures::*;

/// `delete_user` removes the user, its e-mail, its accounts and its sessions, and leaves
/// every other user's data alone.
pub async fn delete_user_cascades_to_accounts_and_sessions(store: Arc<dyn Store>) {
    let doomed = ok(
        store
            .create_user(new_user("Doomed", Some("doomed@example.com")))
            .await,
        "create_user",
    );
    let bystander = ok(
        store
            .create_user(new_user("Bystander", Some("bystander@example.com")))
            .await,
        "create_user",
    );
    for (user, id) in [(&doomed, "d1"), (&doomed, "d2"), (&bystander, "b1")] {
        ok(
            store
                .link_account(full_account(&user.id, "github", id))
                .await,
            "link_account",
        );
    }
    for (user, n) in [(&doomed, 1), (&doomed, 2), (&bystander, 3)] {
        ok(
            store
                .create_session(session(&user.id, n, SESSION_EXPIRES))
                .await,
            "create_session",
        );
    }

    ok(store.delete_user(&doomed.id).await, "delete_user");

    assert_eq!(
        ok(store.get_user(&doomed.id).await, "get_user"),
        None,
        "store failed: delete_user must remove the user"
    );
    assert_eq!(
        ok(
            store.get_user_by_email("doomed@example.com").await,
            "get_user_by_email"
        ),
        None,
        "store failed: delete_user must remove the user's e-mail"
    );
    for id in ["d1", "d2"] {
        assert_eq!(
            ok(
                store.get_user_by_account("github", id).await,
                "get_user_by_account"
            ),
            None,
            "store failed: delete_user must remove the user's accounts"
        );
        assert_eq!(
            ok(store.get_account("github", id).await, "get_account"),
            None,
            "store failed: delete_user must remove the user's accounts"
        );
    }
    for n in [1, 2] {
        assert_eq!(
            ok(
                store.get_session_and_user(&[&hex_token('5', n)]).await,
                "get_session_and_user"
            ),
            None,
            "store failed: delete_user must remove the user's sessions"
        );
    }
    assert_eq!(
        ok(store.list_sessions(&doomed.id).await, "list_sessions"),
        Vec::<Session>::new(),
        "store failed: a deleted user must have no sessions listed"
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&doomed.id).await,
            "get_accounts_for_user"
        ),
        Vec::<Account>::new(),
        "store failed: a deleted user must have no accounts listed"
    );

    assert_eq!(
        ok(store.get_user(&bystander.id).await, "get_user"),
        Some(bystander.clone()),
        "store failed: delete_user must leave other users"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "b1").await,
            "get_user_by_account"
        ),
        Some(bystander.clone()),
        "store failed: delete_user must leave other users' accounts"
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&bystander.id).await,
            "get_accounts_for_user"
        ),
        vec![full_account(&bystander.id, "github", "b1")],
        "store failed: delete_user must leave other users' accounts listed"
    );
    assert_eq!(
        ok(
            store.get_session_and_user(&[&hex_token('5', 3)]).await,
            "get_session_and_user"
        ),
        Some((
            session(&bystander.id, 3, SESSION_EXPIRES),
            bystander.clone()
        )),
        "store failed: delete_user must leave other users' sessions"
    );

    // The freed e-mail and provider accounts can be used again.
    let again = ok(
        store
            .create_user(new_user("Again", Some("doomed@example.com")))
            .await,
        "create_user with the e-mail of a deleted user",
    );
    ok(
        store
            .link_account(full_account(&again.id, "github", "d1"))
            .await,
        "link_account of a provider account of a deleted user",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "d1").await,
            "get_user_by_account"
        ),
        Some(again),
        "store failed: a provider account freed by delete_user must link to its new user"
    );
}

/// Deleting an unknown user (or one already deleted) is not an error.
pub async fn delete_user_unknown_id_is_ok(store: Arc<dyn Store>) {
    ok(
        store.delete_user("31415926535").await,
        "delete_user of an unknown id",
    );
    let user = ok(
        store.create_user(new_user("Once", None)).await,
        "create_user",
    );
    ok(store.delete_user(&user.id).await, "delete_user");
    ok(
        store.delete_user(&user.id).await,
        "delete_user of a user already deleted",
    );
}
