//! `update_account_tokens`: a compare-and-set on the stored refresh token.

use std::sync::Arc;

use portcullis_domain::secret::SecretString;
use portcullis_ports::Store;

use crate::fixtures::*;

/// `update_account_tokens` with the stored refresh token replaces every token field (and
/// nothing else), returns the account as stored, and `get_account` reads it back; a
/// refresh may also clear every token.
pub async fn update_account_tokens_replaces_every_token(store: Arc<dyn Store>) {
    let user = ok(
        store
            .create_user(new_user("Refresher", Some("refresher@example.com")))
            .await,
        "create_user",
    );
    let github = full_account(&user.id, "github", "31");
    // Same provider account id at another provider: the same refresh token value "rt-31".
    let gitlab = full_account(&user.id, "gitlab", "31");
    ok(store.link_account(github.clone()).await, "link_account");
    ok(store.link_account(gitlab.clone()).await, "link_account");

    let tokens = refreshed_tokens(Some("rt-31-next"));
    let updated = tokens.clone().apply_to(github.clone());
    assert_eq!(
        ok(
            store
                .update_account_tokens("github", "31", Some("rt-31"), tokens)
                .await,
            "update_account_tokens with the stored refresh token"
        ),
        Some(updated.clone()),
        "store failed: update_account_tokens must return the account with the new tokens"
    );
    let read = ok(store.get_account("github", "31").await, "get_account")
        .expect("store failed: an account whose tokens were updated must still be linked");
    assert_eq!(
        read, updated,
        "store failed: get_account must read back every token update_account_tokens stored"
    );
    // SecretString's Eq is over content; compare exposed values too, to name the field.
    assert_eq!(
        read.refresh_token.as_ref().map(SecretString::expose),
        Some("rt-31-next"),
        "store failed: the rotated refresh_token must be stored"
    );
    assert_eq!(
        read.access_token.as_ref().map(SecretString::expose),
        Some("at-refreshed"),
        "store failed: the new access_token must be stored"
    );
    assert_eq!(
        read.id_token.as_ref().map(SecretString::expose),
        Some(REFRESHED_ID_TOKEN),
        "store failed: the new id_token must be stored"
    );
    assert_eq!(
        ok(store.get_account("gitlab", "31").await, "get_account"),
        Some(gitlab),
        "store failed: update_account_tokens must change only the account it names"
    );
    assert_eq!(
        ok(
            store.get_user_by_account("github", "31").await,
            "get_user_by_account"
        ),
        Some(user),
        "store failed: update_account_tokens must leave the account linked to its user"
    );

    let cleared = tokens_none();
    let emptied = cleared.clone().apply_to(github);
    assert_eq!(
        ok(
            store
                .update_account_tokens("github", "31", Some("rt-31-next"), cleared)
                .await,
            "update_account_tokens clearing every token"
        ),
        Some(emptied.clone()),
        "store failed: update_account_tokens must be able to clear every token"
    );
    assert_eq!(
        ok(store.get_account("github", "31").await, "get_account"),
        Some(emptied),
        "store failed: cleared tokens must read back as None"
    );
}

/// An expected refresh token that is not the stored one — another value, another case,
/// a prefix, trailing space, empty, or `None` — is `Ok(None)` and changes nothing; the
/// stored one still works afterwards.
pub async fn update_account_tokens_stale_refresh_token_is_none(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Stale", None)).await,
        "create_user",
    );
    let account = full_account(&user.id, "google", "58");
    ok(store.link_account(account.clone()).await, "link_account");
    for stale in [
        Some("rt-57"),
        Some("RT-58"),
        Some("rt-58 "),
        Some(" rt-58"),
        Some("rt-5"),
        Some("rt-5%"),
        Some(""),
        None,
    ] {
        assert_eq!(
            ok(
                store
                    .update_account_tokens(
                        "google",
                        "58",
                        stale,
                        refreshed_tokens(Some("rt-stale"))
                    )
                    .await,
                "update_account_tokens with a refresh token that is not the stored one"
            ),
            None,
            "store failed: update_account_tokens expecting {stale:?} must not match the stored \
             refresh token \"rt-58\""
        );
    }
    assert_eq!(
        ok(store.get_account("google", "58").await, "get_account"),
        Some(account.clone()),
        "store failed: a refused update_account_tokens must change nothing"
    );
    let tokens = refreshed_tokens(Some("rt-59"));
    assert_eq!(
        ok(
            store
                .update_account_tokens("google", "58", Some("rt-58"), tokens.clone())
                .await,
            "update_account_tokens with the stored refresh token"
        ),
        Some(tokens.apply_to(account)),
        "store failed: after refused updates the stored refresh token must still match"
    );
    assert_eq!(
        ok(
            store
                .update_account_tokens("google", "58", Some("rt-58"), tokens_none())
                .await,
            "update_account_tokens with the refresh token just rotated away"
        ),
        None,
        "store failed: a rotated-away refresh token must no longer match"
    );
}

/// No such provider account (never linked, another pair with the same compound id, a
/// near miss, or unlinked) is `NotFound`, and nothing is created or changed.
pub async fn update_account_tokens_unknown_account_not_found(store: Arc<dyn Store>) {
    assert_not_found(
        store
            .update_account_tokens("github", "404", Some("rt-404"), refreshed_tokens(Some("x")))
            .await,
        "update_account_tokens of an account never linked",
    );
    assert_eq!(
        ok(store.get_account("github", "404").await, "get_account"),
        None,
        "store failed: update_account_tokens of an unknown account must not create it"
    );
    let user = ok(
        store.create_user(new_user("Exact", None)).await,
        "create_user",
    );
    let linked = full_account(&user.id, "corp:staging", "42");
    ok(store.link_account(linked.clone()).await, "link_account");
    for (provider, id) in [
        ("corp", "staging:42"),
        ("corp:staging", "4"),
        ("CORP:STAGING", "42"),
        ("github", "42"),
    ] {
        assert_not_found(
            store
                .update_account_tokens(provider, id, Some("rt-42"), refreshed_tokens(Some("x")))
                .await,
            &format!(
                "update_account_tokens({provider:?}, {id:?}) while only (\"corp:staging\", \
                 \"42\") is linked"
            ),
        );
    }
    assert_eq!(
        ok(store.get_account("corp:staging", "42").await, "get_account"),
        Some(linked),
        "store failed: update_account_tokens of another pair must not touch this account"
    );
    ok(
        store.unlink_account("corp:staging", "42").await,
        "unlink_account",
    );
    assert_not_found(
        store
            .update_account_tokens(
                "corp:staging",
                "42",
                Some("rt-42"),
                refreshed_tokens(Some("x")),
            )
            .await,
        "update_account_tokens of an unlinked account",
    );
}

/// Expecting `None` matches an account stored without a refresh token (and only such an
/// account: an empty string is not "none").
pub async fn update_account_tokens_none_expected_matches_no_refresh_token(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Tokenless", None)).await,
        "create_user",
    );
    let bare = bare_account(&user.id, "apple", "77");
    ok(store.link_account(bare.clone()).await, "link_account");
    for expected in [Some("rt-77"), Some("")] {
        assert_eq!(
            ok(
                store
                    .update_account_tokens("apple", "77", expected, refreshed_tokens(Some("x")))
                    .await,
                "update_account_tokens expecting a refresh token where none is stored"
            ),
            None,
            "store failed: expecting {expected:?} must not match an account without refresh token"
        );
    }
    assert_eq!(
        ok(store.get_account("apple", "77").await, "get_account"),
        Some(bare.clone()),
        "store failed: a refused update_account_tokens must change nothing"
    );

    let first = refreshed_tokens(Some("rt-first"));
    let updated = first.clone().apply_to(bare.clone());
    assert_eq!(
        ok(
            store
                .update_account_tokens("apple", "77", None, first)
                .await,
            "update_account_tokens expecting no refresh token on an account without one"
        ),
        Some(updated.clone()),
        "store failed: expecting None must match an account stored without refresh token"
    );
    assert_eq!(
        ok(store.get_account("apple", "77").await, "get_account"),
        Some(updated.clone()),
        "store failed: get_account must read back the tokens stored"
    );
    assert_eq!(
        ok(
            store
                .update_account_tokens("apple", "77", None, tokens_none())
                .await,
            "update_account_tokens expecting no refresh token on an account with one"
        ),
        None,
        "store failed: expecting None must not match an account with a refresh token"
    );

    // A token response without a refresh token stores none, which `None` then matches.
    let without = refreshed_tokens(None);
    ok(
        store
            .update_account_tokens("apple", "77", Some("rt-first"), without.clone())
            .await,
        "update_account_tokens storing no refresh token",
    )
    .expect("store failed: update_account_tokens with the stored refresh token must match");
    assert_eq!(
        ok(
            store
                .update_account_tokens("apple", "77", None, without.clone())
                .await,
            "update_account_tokens expecting no refresh token after one was cleared"
        ),
        Some(without.apply_to(bare)),
        "store failed: expecting None must match once the refresh token was cleared"
    );
}

/// 20 concurrent refreshes from one refresh token, each storing its own rotated token:
/// exactly one gets `Some`, every other `Ok(None)`, and the winner's tokens are stored.
pub async fn update_account_tokens_race_has_one_winner(store: Arc<dyn Store>) {
    let user = ok(
        store.create_user(new_user("Racer", None)).await,
        "create_user",
    );
    ok(
        store
            .link_account(full_account(&user.id, "github", "rotating"))
            .await,
        "link_account",
    );
    let behaviour = "concurrent update_account_tokens from one refresh token";
    let results = race(&store, 20, behaviour, |store, i| async move {
        let tokens = refreshed_tokens(Some(&format!("rt-rotating-{i}")));
        store
            .update_account_tokens("github", "rotating", Some("rt-rotating"), tokens)
            .await
    })
    .await;
    let mut winners = Vec::new();
    for result in results {
        match result {
            Ok(Some(account)) => winners.push(account),
            Ok(None) => {}
            Err(error) => panic!(
                "store failed: {behaviour}: a losing call must be Ok(None), got error {error}"
            ),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "store failed: {behaviour}: expected exactly one Some among 20 racing calls, got {}",
        winners.len()
    );
    let winner = winners.pop();
    assert_eq!(
        ok(store.get_account("github", "rotating").await, "get_account"),
        winner,
        "store failed: after an update_account_tokens race the winner's tokens must be stored"
    );
}
