//! The store under the site: which one, what it holds, and the embedded API over sessions.

use cucumber::{given, then, when};

use super::require_embedded;
use crate::stores::{self, StoreKind};
use crate::world::{AuthWorld, StoreMode};

#[given("my own store, written against the store port")]
async fn own_store(w: &mut AuthWorld) {
    // Before the store is made: this scenario's store is the specs' own, whatever the run.
    w.store_kind = StoreKind::Memory;
    w.setup_mut().store = StoreMode::Backed;
}

#[then(expr = "the site's store is {string}")]
async fn store_is(w: &mut AuthWorld, kind: String) {
    let store = w.store().await;
    let actual = store.kind.map(|k| k.to_string());
    assert_eq!(actual.as_deref(), Some(kind.as_str()));
}

#[then("the site's store is the one this run is about")]
async fn store_is_the_runs(w: &mut AuthWorld) {
    let expected = w.store_kind;
    let store = w.store().await;
    assert_eq!(store.kind, Some(expected));
}

#[then(expr = "read afresh, the store's database has the user {string}")]
async fn reopened_has_user(w: &mut AuthWorld, email: String) {
    let store = w.store().await;
    let fresh = stores::reopen(&store.location)
        .await
        .unwrap_or_else(|why| panic!("{why}"));
    // sled's temporary database and the in-memory store have no second way in: their one
    // handle is what any reader would use.
    let user = match &fresh {
        Some(other) => other.get_user_by_email(&email).await,
        None => store.backend().get_user_by_email(&email).await,
    }
    .expect("the store reads")
    .unwrap_or_else(|| panic!("no user {email} in the {:?} database", store.kind));
    assert_eq!(
        Some(user.id.as_str()),
        w.saved.get("user-id").map(String::as_str)
    );
}

#[then(expr = "the store no longer holds the session {string}")]
async fn session_gone(w: &mut AuthWorld, token: String) {
    let token = w.expand(&token);
    let store = w.store().await;
    let found = store
        .backend()
        .get_session_and_user(&crate::cookie_keys(&token).exposed())
        .await
        .expect("the store reads");
    assert_eq!(found, None);
}

#[then(expr = "the store still holds the session {string}")]
async fn session_kept(w: &mut AuthWorld, token: String) {
    let token = w.expand(&token);
    let store = w.store().await;
    let found = store
        .backend()
        .get_session_and_user(&crate::cookie_keys(&token).exposed())
        .await
        .expect("the store reads");
    assert!(found.is_some(), "the session {token} is gone");
}

#[then(expr = "the store holds my session, of the user {string}")]
async fn holds_my_session(w: &mut AuthWorld, email: String) {
    let token = w.session_cookie().await;
    let store = w.store().await;
    let (session, user) = store
        .backend()
        .get_session_and_user(&crate::cookie_keys(&token).exposed())
        .await
        .expect("the store reads")
        .expect("the session cookie names no stored session");
    assert_eq!(user.email.as_deref(), Some(email.as_str()));
    // Stored under its `sha256:` key (or, on a database v3 still reads, the token itself).
    assert!(crate::cookie_keys(&token)
        .exposed()
        .contains(&session.session_token.expose()));
    assert_eq!(token.len(), 64, "a 256-bit token in hex");
    w.saved.insert("db-token".into(), token);
    w.saved.insert("user-id".into(), user.id);
}

fn user_id(w: &AuthWorld) -> String {
    w.saved
        .get("user-id")
        .cloned()
        .expect("no user id remembered yet")
}

#[then(expr = "the app lists {int} sessions of Jane's")]
async fn app_lists(w: &mut AuthWorld, n: usize) {
    require_embedded(w, "the embedded session API");
    let id = user_id(w);
    let app = w.app().await;
    let sessions = app.sessions(&id).await.expect("the sessions are listed");
    assert_eq!(sessions.len(), n);
    assert!(
        sessions.windows(2).all(|p| p[0].expires <= p[1].expires),
        "soonest expiry first"
    );
    assert!(sessions.iter().all(|s| s.user_id == id));
}

#[when(expr = "the app revokes the session {string}")]
async fn app_revokes(w: &mut AuthWorld, token: String) {
    require_embedded(w, "the embedded session API");
    let token = w.expand(&token);
    let app = w.app().await;
    app.revoke_session(&token)
        .await
        .expect("the session is revoked");
}

#[when("the app signs Jane out everywhere")]
async fn app_revokes_all(w: &mut AuthWorld) {
    require_embedded(w, "the embedded session API");
    let id = user_id(w);
    let app = w.app().await;
    let ended = app
        .revoke_all_sessions(&id)
        .await
        .expect("the sessions are revoked");
    w.saved.insert("ended".into(), ended.to_string());
}

#[then(expr = "{int} sessions were ended")]
async fn sessions_ended(w: &mut AuthWorld, n: u64) {
    assert_eq!(
        w.saved.get("ended").map(String::as_str),
        Some(n.to_string().as_str())
    );
}
