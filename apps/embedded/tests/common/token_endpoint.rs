//! A token endpoint on loopback that rotates strictly (a used refresh token is retired)
//! and counts its calls: the refresh tests' provider.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use warp::Filter;

/// A token endpoint that rotates: each refresh token works once.
#[derive(Default)]
pub(crate) struct Provider {
    pub(crate) calls: AtomicUsize,
    pub(crate) current_refresh: Mutex<String>,
    pub(crate) refuse: Mutex<bool>,
}

/// Serves `POST /token` for `provider`; returns the origin (`http://127.0.0.1:port`).
pub(crate) async fn start_provider(provider: Arc<Provider>) -> String {
    let state = provider.clone();
    let token = warp::post()
        .and(warp::path!("token"))
        .and(warp::body::form())
        .map(move |form: std::collections::HashMap<String, String>| {
            let n = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let mut current = state.current_refresh.lock().unwrap();
            let valid = form.get("grant_type").map(String::as_str) == Some("refresh_token")
                && form.get("refresh_token") == Some(&*current)
                && form.get("client_secret").map(String::as_str) == Some("csecret");
            if !valid || *state.refuse.lock().unwrap() {
                return warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({"error": "invalid_grant"})),
                    warp::http::StatusCode::BAD_REQUEST,
                );
            }
            *current = format!("rt-{n}");
            warp::reply::with_status(
                warp::reply::json(&serde_json::json!({
                    "access_token": format!("at-{n}"),
                    "refresh_token": format!("rt-{n}"),
                    "token_type": "Bearer",
                    "expires_in": 3600,
                })),
                warp::http::StatusCode::OK,
            )
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(token).incoming(listener).run());
    format!("http://{addr}")
}
