//! Verification tokens (security checklist #1, #2): bound to their identifier, single-use
//! even under concurrency, expired ones still handed to the caller.

use std::sync::Arc;

use portcullis_ports::Store;
use time::Duration;

use crate::fixtures::*;

/// A verification token is returned by the first `use_verification_token` and never again.
pub async fn verification_token_is_single_use(store: Arc<dyn Store>) {
    let token = verification_token("once@example.com", 1, TOKEN_EXPIRES);
    ok(
        store.create_verification_token(token.clone()).await,
        "create_verification_token",
    );
    assert_eq!(
        ok(
            store
                .use_verification_token(&token.identifier, &token.token_hash)
                .await,
            "use_verification_token"
        ),
        Some(token.clone()),
        "store failed: the first use_verification_token must return the token as created"
    );
    for _ in 0..2 {
        assert_eq!(
            ok(
                store
                    .use_verification_token(&token.identifier, &token.token_hash)
                    .await,
                "use_verification_token of a used token"
            ),
            None,
            "store failed: a verification token must be single-use"
        );
    }
}

/// CVE-2021-21310 / CVE-2022-39263: the token for identifier A does not sign in B, and
/// trying it with B must not consume it for A.
pub async fn verification_token_is_bound_to_identifier(store: Arc<dyn Store>) {
    let for_a = verification_token("a@example.com", 1, TOKEN_EXPIRES);
    let for_b = verification_token("b@example.com", 2, TOKEN_EXPIRES);
    ok(
        store.create_verification_token(for_a.clone()).await,
        "create_verification_token",
    );
    ok(
        store.create_verification_token(for_b.clone()).await,
        "create_verification_token",
    );
    for identifier in [
        "b@example.com",
        "A@example.com",
        "a@example.com ",
        "",
        "%",
        "attacker@evil.example",
    ] {
        assert_eq!(
            ok(
                store
                    .use_verification_token(identifier, &for_a.token_hash)
                    .await,
                "use_verification_token with another identifier"
            ),
            None,
            "store failed: the token of \"a@example.com\" must not be usable with identifier \
             {identifier:?} (CVE-2021-21310)"
        );
    }
    assert_eq!(
        ok(
            store
                .use_verification_token("a@example.com", &for_b.token_hash)
                .await,
            "use_verification_token with another identifier's token"
        ),
        None,
        "store failed: the token of \"b@example.com\" must not be usable with \"a@example.com\""
    );
    assert_eq!(
        ok(
            store
                .use_verification_token("a@example.com", &for_a.token_hash)
                .await,
            "use_verification_token"
        ),
        Some(for_a),
        "store failed: a failed attempt with another identifier must not consume the token"
    );
    assert_eq!(
        ok(
            store
                .use_verification_token("b@example.com", &for_b.token_hash)
                .await,
            "use_verification_token"
        ),
        Some(for_b),
        "store failed: failed attempts with another identifier must not consume the token"
    );
}

/// The right identifier with a wrong hash (or a prefix of the right one) gets `None` and
/// does not consume the token.
pub async fn verification_token_wrong_hash_is_none(store: Arc<dyn Store>) {
    // Hex letters in the hash, so that its upper-case form differs.
    let token = verification_token("hash@example.com", 0xabc_def, TOKEN_EXPIRES);
    ok(
        store.create_verification_token(token.clone()).await,
        "create_verification_token",
    );
    let upper = token.token_hash.to_uppercase();
    assert_ne!(upper, token.token_hash);
    let prefix = &token.token_hash[..32];
    let longer = format!("{}0", token.token_hash);
    for wrong in [
        hex_token('7', 2).as_str(),
        upper.as_str(),
        prefix,
        longer.as_str(),
        "",
        "%",
    ] {
        assert_eq!(
            ok(
                store.use_verification_token(&token.identifier, wrong).await,
                "use_verification_token with a wrong hash"
            ),
            None,
            "store failed: use_verification_token must match the token hash exactly"
        );
    }
    assert_eq!(
        ok(
            store
                .use_verification_token(&token.identifier, &token.token_hash)
                .await,
            "use_verification_token"
        ),
        Some(token),
        "store failed: attempts with wrong hashes must not consume the token"
    );
}

/// Stores do not read the clock: an expired token is returned (and removed); the caller
/// compares `expires` with its own `now`.
pub async fn expired_verification_token_is_returned_and_removed(store: Arc<dyn Store>) {
    let expired = verification_token("late@example.com", 1, LONG_AGO);
    ok(
        store.create_verification_token(expired.clone()).await,
        "create_verification_token of an expired token",
    );
    assert_eq!(
        ok(
            store
                .use_verification_token(&expired.identifier, &expired.token_hash)
                .await,
            "use_verification_token of an expired token"
        ),
        Some(expired.clone()),
        "store failed: an expired verification token must be returned with its expiry"
    );
    assert_eq!(
        ok(
            store
                .use_verification_token(&expired.identifier, &expired.token_hash)
                .await,
            "use_verification_token of a used expired token"
        ),
        None,
        "store failed: an expired verification token must be removed when used"
    );
}

/// Several pending tokens for one identifier are independent: using one leaves the others.
pub async fn verification_tokens_are_independent(store: Arc<dyn Store>) {
    let identifier = "many@example.com";
    let tokens: Vec<_> = (1..=3)
        .map(|n| verification_token(identifier, n, TOKEN_EXPIRES + Duration::minutes(n as i64)))
        .collect();
    for token in &tokens {
        ok(
            store.create_verification_token(token.clone()).await,
            "create_verification_token",
        );
    }
    for token in [&tokens[1], &tokens[0], &tokens[2]] {
        assert_eq!(
            ok(
                store
                    .use_verification_token(identifier, &token.token_hash)
                    .await,
                "use_verification_token"
            ),
            Some(token.clone()),
            "store failed: using one verification token must leave the identifier's others"
        );
    }
}

/// 50 concurrent `use_verification_token` calls on one token: exactly one gets it.
/// Run for a few tokens in turn, since a non-atomic take may win a single race by luck.
pub async fn verification_token_race_has_one_winner(store: Arc<dyn Store>) {
    let behaviour = "concurrent use_verification_token of one token";
    for round in 1..=4 {
        let token = verification_token("race@example.com", round, TOKEN_EXPIRES);
        ok(
            store.create_verification_token(token.clone()).await,
            "create_verification_token",
        );
        let results = race(&store, 50, behaviour, |store, _| {
            let token = token.clone();
            async move {
                store
                    .use_verification_token(&token.identifier, &token.token_hash)
                    .await
            }
        })
        .await;
        let mut winners = Vec::new();
        for result in results {
            match result {
                Ok(Some(found)) => winners.push(found),
                Ok(None) => {}
                Err(error) => panic!("store failed: {behaviour}: a call returned error {error}"),
            }
        }
        assert_eq!(
            winners,
            vec![token.clone()],
            "store failed: of 50 concurrent use_verification_token calls exactly one may get \
             the token (single use must be atomic)"
        );
        assert_eq!(
            ok(
                store
                    .use_verification_token(&token.identifier, &token.token_hash)
                    .await,
                "use_verification_token after the race"
            ),
            None,
            "store failed: the token must be gone after it was used"
        );
    }
}
