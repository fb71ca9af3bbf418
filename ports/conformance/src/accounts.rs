//! Provider accounts: linking, exact lookups, unlinking, and listing a user's accounts.

use std::sync::Arc;

use portcullis_domain::model::Account;
use portcullis_domain::secret::SecretString;
use portcullis_domain::store::StoreError;
use portcullis_ports::Store;

use crate::fixtures::*;

/// `link_account` keeps every field, secrets included; `get_account` and
/// `get_user_by_account` read them back.
pub async fn link_account_round_trips_every_field(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Linker", Some("linker@example.com")))
            .await,
        "create_user",
    );
    let account = full_account(&user.id, "github", "1234567");
    assert_eq!(
        ok(store.link_account(account.clone()).await, "link_account"),
        account,
        "store failed: link_account must return the account as stored"
    );
    let read = ok(store.get_account("github", "1234567").await, "get_account")
        .expect("store failed: get_account must find a linked account");
    assert_eq!(
        read, account,
        "store failed: get_account must return every field as linked"
    );
    // SecretString's Eq is over content; compare exposed values too, to name the field.
    assert_eq!(
        read.access_token.as_ref().map(SecretString::expose),
        Some("at-1234567"),
        "store failed: access_token must round-trip"
    );
    assert_eq!(
        read.refresh_token.as_ref().map(SecretString::expose),
        Some("rt-1234567"),
        "store failed: refresh_token must round-trip"
    );
    assert_eq!(
        read.id_token.as_ref().map(SecretString::expose),
        Some("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
        "store failed: id_token must round-trip"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "1234567").await,
            "get_user_by_account"
        ),
        Some(user.clone()),
        "store failed: get_user_by_account must find the linked user"
    );

    // A user may have several accounts, at different providers.
    let google = full_account(&user.id, "google", "1234567-g");
    ok(
        store.link_account(google.clone()).await,
        "link_account of a second provider for the same user",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("google", "1234567-g").await,
            "get_user_by_account"
        ),
        Some(user),
        "store failed: a user's second account must lead to the same user"
    );
    assert_eq!(
        ok(
            store.get_account("google", "1234567-g").await,
            "get_account"
        ),
        Some(google),
        "store failed: get_account must return the second account"
    );
}

/// An account with every optional field `None` reads back with `None`s.
pub async fn link_account_without_tokens_round_trips(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Bare", Some("bare@example.com")))
            .await,
        "create_user",
    );
    let account = bare_account(&user.id, "email", "bare@example.com");
    ok(
        store.link_account(account.clone()).await,
        "link_account without tokens",
    );
    assert_eq!(
        ok(
            store.get_account("email", "bare@example.com").await,
            "get_account"
        ),
        Some(account),
        "store failed: None token fields must read back as None"
    );
}

/// Lookups match both provider id and provider account id exactly. In particular, v3's
/// `compoundId` joins them with `:`, so (`a:b`, `c`) and (`a`, `b:c`) have the same
/// compound id; a store keyed by it must not hand one's user to the other (it may refuse
/// the second link with `Conflict` instead).
pub async fn provider_account_lookup_is_exact(store: Arc<dyn Store>) {
    let first = ok(
        store.create_user(new_user("First", None)).await,
        "create_user",
    );
    let second = ok(
        store.create_user(new_user("Second", None)).await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&first.id, "corp:staging", "42"))
            .await,
        "link_account",
    );
    for (provider, id) in [
        ("corp:staging", "4"),
        ("corp:staging", "420"),
        ("corp:staging", ""),
        ("corp", "staging:42"),
        ("CORP:STAGING", "42"),
        ("corp:staging ", "42"),
        ("github", "42"),
    ] {
        assert_eq!(
            ok(
                store.get_user_by_account(provider, id).await,
                "get_user_by_account of an unlinked provider account"
            ),
            None,
            "store failed: get_user_by_account({provider:?}, {id:?}) must not match the account \
             (\"corp:staging\", \"42\")"
        );
        assert_eq!(
            ok(
                store.get_account(provider, id).await,
                "get_account of an unlinked provider account"
            ),
            None,
            "store failed: get_account({provider:?}, {id:?}) must not match the account \
             (\"corp:staging\", \"42\")"
        );
    }
    // Same provider account id at another provider is another account.
    ok(
        store
            .link_account(full_account(&second.id, "github", "42"))
            .await,
        "link_account of the same provider account id at another provider",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "42").await,
            "get_user_by_account"
        ),
        Some(second.clone()),
        "store failed: the same provider account id at two providers must be two accounts"
    );
    // The ambiguous pair: either linked as its own account, or refused; never confused.
    match store
        .link_account(full_account(&second.id, "corp", "staging:42"))
        .await
    {
        Ok(_) => {
            assert_eq!(
                ok(
                    store.get_user_by_account("corp", "staging:42").await,
                    "get_user_by_account"
                ),
                Some(second),
                "store failed: (\"corp\", \"staging:42\") must lead to the user it was linked to"
            );
        }
        Err(StoreError::Conflict(_)) => {
            assert_eq!(
                ok(
                    store.get_user_by_account("corp", "staging:42").await,
                    "get_user_by_account"
                ),
                None,
                "store failed: a refused link must not make (\"corp\", \"staging:42\") resolve"
            );
        }
        Err(other) => panic!(
            "store failed: link_account of a provider account whose compound id collides \
             must succeed or be Conflict, got {other}"
        ),
    }
    assert_eq!(
        ok(
            store.get_user_by_account("corp:staging", "42").await,
            "get_user_by_account"
        ),
        Some(first),
        "store failed: (\"corp:staging\", \"42\") must still lead to its own user"
    );
}

/// A provider account links to one user only: a second link is `Conflict` and the first
/// link stays.
pub async fn link_account_twice_conflicts(store: Arc<dyn Store>) {
    let owner = ok(
        store.create_user(new_user("Owner", None)).await,
        "create_user",
    );
    let intruder = ok(
        store.create_user(new_user("Intruder", None)).await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&owner.id, "github", "777"))
            .await,
        "link_account",
    );
    assert_conflict(
        store
            .link_account(full_account(&intruder.id, "github", "777"))
            .await,
        "link_account of a provider account linked to another user",
    );
    assert_conflict(
        store
            .link_account(bare_account(&owner.id, "github", "777"))
            .await,
        "link_account of a provider account linked to the same user",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "777").await,
            "get_user_by_account"
        ),
        Some(owner.clone()),
        "store failed: a refused link_account must leave the account with its first user"
    );
    assert_eq!(
        ok(store.get_account("github", "777").await, "get_account"),
        Some(full_account(&owner.id, "github", "777")),
        "store failed: a refused link_account must not overwrite the stored tokens"
    );
}

/// 20 concurrent links of one provider account to different users: exactly one wins.
pub async fn link_account_race_has_one_winner(store: Arc<dyn Store>) {
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(ok(
            store
                .create_user(new_user(&format!("Racer {i}"), None))
                .await,
            "create_user",
        ));
    }
    let users = Arc::new(users);
    let behaviour = "concurrent link_account of one provider account";
    let results = race(&store, 20, behaviour, |store, i| {
        let users = Arc::clone(&users);
        async move {
            store
                .link_account(full_account(&users[i].id, "github", "contested"))
                .await
        }
    })
    .await;
    assert_one_winner_rest_conflict(&results, behaviour);
    let winner = results
        .into_iter()
        .find_map(Result::ok)
        .expect("one winner");
    let winner_user = users
        .iter()
        .find(|u| u.id == winner.user_id)
        .cloned()
        .expect("store failed: link_account returned an account for a user it was not given");
    assert_eq!(
        ok(
            store.get_user_by_account("github", "contested").await,
            "get_user_by_account"
        ),
        Some(winner_user),
        "store failed: after a link_account race the account must lead to the winner"
    );
}

/// `unlink_account` removes the link (the user stays), is idempotent, and the provider
/// account can be linked again afterwards.
pub async fn unlink_account_removes_the_link(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Unlinker", Some("unlinker@example.com")))
            .await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&user.id, "github", "55"))
            .await,
        "link_account",
    );
    ok(
        store
            .link_account(full_account(&user.id, "gitlab", "55"))
            .await,
        "link_account",
    );
    ok(store.unlink_account("github", "55").await, "unlink_account");
    assert_eq!(
        ok(store.get_account("github", "55").await, "get_account"),
        None,
        "store failed: unlink_account must remove the account"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "55").await,
            "get_user_by_account"
        ),
        None,
        "store failed: an unlinked account must no longer lead to the user"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("gitlab", "55").await,
            "get_user_by_account"
        ),
        Some(user.clone()),
        "store failed: unlink_account must leave the user's other accounts"
    );
    assert_eq!(
        ok(store.get_user(&user.id).await, "get_user"),
        Some(user.clone()),
        "store failed: unlink_account must leave the user"
    );
    ok(
        store.unlink_account("github", "55").await,
        "unlink_account of an account already unlinked",
    );
    ok(
        store.unlink_account("nowhere", "0").await,
        "unlink_account of an account never linked",
    );
    let other = ok(
        store.create_user(new_user("Next owner", None)).await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&other.id, "github", "55"))
            .await,
        "link_account of a provider account that was unlinked",
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "55").await,
            "get_user_by_account"
        ),
        Some(other),
        "store failed: a re-linked account must lead to its new user"
    );
}

/// `get_accounts_for_user` returns exactly the user's accounts, every field as linked,
/// oldest link first; an unknown user has none.
pub async fn get_accounts_for_user_lists_the_users_accounts(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Many", None)).await,
        "create_user",
    );
    let other = ok(
        store.create_user(new_user("Neighbour", None)).await,
        "create_user",
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        Vec::<Account>::new(),
        "store failed: a user without accounts must list none"
    );
    // Linked in an order that is neither the order of provider ids, provider account ids,
    // provider types nor compound ids (or its reverse), with another user's accounts (one
    // at the same provider) in between.
    let gitlab = full_account(&user.id, "gitlab", "m-2");
    let apple = bare_account(&user.id, "apple", "m-3");
    let github = full_account(&user.id, "github", "m-1");
    let foreign = full_account(&other.id, "github", "n-1");
    let foreign_too = bare_account(&other.id, "gitlab", "n-2");
    for account in [&gitlab, &foreign, &apple, &foreign_too, &github] {
        ok(store.link_account(account.clone()).await, "link_account");
    }
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        vec![gitlab, apple, github],
        "store failed: get_accounts_for_user must return exactly the user's accounts, every \
         field as linked, oldest link first"
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&other.id).await,
            "get_accounts_for_user"
        ),
        vec![foreign, foreign_too],
        "store failed: get_accounts_for_user must not mix users"
    );
    // Unknown ids in the shapes stores issue (a decimal, an ObjectId's hex) and others.
    for unknown in ["161803398874", "0123456789abcdef01234567", "", "nobody"] {
        assert_eq!(
            ok(
                store.get_accounts_for_user(unknown).await,
                "get_accounts_for_user of an unknown user"
            ),
            Vec::<Account>::new(),
            "store failed: get_accounts_for_user({unknown:?}) of an unknown user must be empty"
        );
    }
}

/// An unlinked account is no longer listed; linked again, it is the newest link.
pub async fn get_accounts_for_user_follows_unlink_and_relink(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Relinker", None)).await,
        "create_user",
    );
    let first = full_account(&user.id, "github", "r-1");
    let second = full_account(&user.id, "google", "r-2");
    let third = bare_account(&user.id, "email", "relinker@example.com");
    for account in [&first, &second, &third] {
        ok(store.link_account(account.clone()).await, "link_account");
    }
    ok(
        store.unlink_account("google", "r-2").await,
        "unlink_account",
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        vec![first.clone(), third.clone()],
        "store failed: an unlinked account must no longer be listed"
    );
    ok(
        store.link_account(second.clone()).await,
        "link_account of an unlinked account",
    );
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        vec![first, third, second],
        "store failed: an account linked again must be listed as the newest link"
    );
    for (provider, id) in [
        ("github", "r-1"),
        ("google", "r-2"),
        ("email", "relinker@example.com"),
    ] {
        ok(store.unlink_account(provider, id).await, "unlink_account");
    }
    assert_eq!(
        ok(
            store.get_accounts_for_user(&user.id).await,
            "get_accounts_for_user"
        ),
        Vec::<Account>::new(),
        "store failed: a user whose accounts are all unlinked must list none"
    );
    assert_eq!(
        ok(store.get_user(&user.id).await, "get_user"),
        Some(user),
        "store failed: unlinking every account must leave the user"
    );
}
