//! What the store holds after e-mail sign-in: hashed tokens, users, database sessions.

use cucumber::then;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::matching::{match_json, match_line};
use crate::world::AuthWorld;

/// The link's `email` and `token`.
fn link_parts(link: &str) -> (String, String) {
    let url = url::Url::parse(link).expect("the link is a URL");
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("the link has no {name}"))
    };
    (get("email"), get("token"))
}

fn v3_hash(token: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(format!("{token}{secret}").as_bytes()))
}

#[then("the store was given the link's token only as hex(sha256(token + secret))")]
async fn store_given_hash(w: &mut AuthWorld) {
    let (email, token) = link_parts(&w.mail().link());
    assert_eq!(token.len(), 64, "a 256-bit token in hex: {token}");
    let expected = v3_hash(&token, &w.setup().secrets[0]);
    let store = w.store().await;
    let rows = store.verification_rows.lock().unwrap().clone();
    assert_eq!(rows.len(), 1, "rows given to the store: {rows:?}");
    let row = &rows[0];
    assert_eq!(row.identifier, email);
    assert_eq!(row.token_hash, expected);
    assert!(!row.token_hash.contains(&token));
    let text = format!("{row:?}");
    assert!(
        !text.contains(&token),
        "the token went to the store: {text}"
    );
}

#[then("the store finds the link's row by that hash, and not by the token itself")]
async fn store_finds_by_hash(w: &mut AuthWorld) {
    let (email, token) = link_parts(&w.mail().link());
    let hash = v3_hash(&token, &w.setup().secrets[0]);
    let store = w.store().await;
    let by_token = store
        .backend()
        .use_verification_token(&email, &token)
        .await
        .expect("the store reads");
    assert_eq!(by_token, None, "the row is found by the raw token");
    let by_hash = store
        .backend()
        .use_verification_token(&email, &hash)
        .await
        .expect("the store reads")
        .expect("no row under hex(sha256(token + secret))");
    assert_eq!(by_hash.identifier, email);
    assert_eq!(by_hash.token_hash, hash);
}

async fn find_user(w: &mut AuthWorld, email: &str) -> Option<portcullis_domain::model::User> {
    let store = w.store().await;
    store
        .backend()
        .get_user_by_email(email)
        .await
        .expect("the store reads")
}

#[then(expr = "the store has a user {string}, verified {string}")]
async fn user_verified(w: &mut AuthWorld, email: String, pattern: String) {
    let user = find_user(w, &email)
        .await
        .unwrap_or_else(|| panic!("no user {email}"));
    let verified = user
        .email_verified
        .unwrap_or_else(|| panic!("{email} is not verified: {user:?}"));
    let pattern = w.expand(&pattern);
    if let Err(why) = match_line(&pattern, &crate::matching::iso(verified), &w.last().window) {
        panic!("{why}");
    }
    w.saved.insert("user-id".into(), user.id);
}

#[then(expr = "the store has no user {string}")]
async fn no_user(w: &mut AuthWorld, email: String) {
    let user = find_user(w, &email).await;
    assert_eq!(user, None);
}

#[then(expr = "my database session reads back as the user {string}")]
async fn database_session_reads_back(w: &mut AuthWorld, email: String) {
    let token = w.session_cookie().await;
    let store = w.store().await;
    let (session, user) = store
        .backend()
        .get_session_and_user(&crate::cookie_keys(&token).exposed())
        .await
        .expect("the store reads")
        .expect("the session cookie names no stored session");
    assert_eq!(user.email.as_deref(), Some(email.as_str()));
    let resp = w.read_session().await;
    let expected = serde_json::json!({
        "user": { "name": user.name, "email": user.email, "image": user.image },
        "accessToken": session.access_token.expose(),
        "expires": crate::matching::iso(session.expires),
    });
    let actual: Value = resp.json();
    if let Err(why) = match_json(&expected, &actual, &resp.window, "$") {
        panic!("{why}\n  body: {}", resp.body);
    }
    assert_eq!(session.access_token.expose().len(), 64);
    assert_ne!(session.access_token.expose(), token);
}

#[then(expr = "the session cookie is not {string}")]
async fn cookie_is_not(w: &mut AuthWorld, value: String) {
    let value = w.expand(&value);
    let cookie = w.session_cookie().await;
    assert_ne!(cookie, value);
}
