//! An axum app with Portcullis: the auth routes under `/api/auth`, credentials sign-in
//! for one demo user, and `/me`, which answers the signed-in user's name or 401.

use axum::routing::get;
use axum::Router;
use portcullis::{Builder, ConfigError, CredentialField, Portcullis, Session};
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

/// The demo user's sign-in: a real app checks its own user table.
pub const DEMO_USERNAME: &str = "ali";
/// The demo user's password.
pub const DEMO_PASSWORD: &str = "open sesame";
/// The demo user's name.
pub const DEMO_NAME: &str = "Ali Baba";

/// The engine for a site at `url` (`NEXTAUTH_URL`: site URL and auth base path).
pub fn auth(url: &str, secret: &str) -> Result<Portcullis, ConfigError> {
    builder(url, secret).build()
}

/// [`auth`] before it is built, for more configuration.
pub fn builder(url: &str, secret: &str) -> Builder {
    Portcullis::builder().url(url).secret(secret).credentials(
        "credentials",
        "Demo account",
        vec![
            CredentialField::new("username", "Username", "text"),
            CredentialField::new("password", "Password", "password"),
        ],
        |credentials: Map<String, Value>, _request| async move {
            let field = |name| credentials.get(name).and_then(Value::as_str).unwrap_or("");
            let user_ok = field("username").as_bytes().ct_eq(DEMO_USERNAME.as_bytes());
            let password_ok = field("password").as_bytes().ct_eq(DEMO_PASSWORD.as_bytes());
            let ok = bool::from(user_ok & password_ok);
            Ok(ok.then(|| json!({ "id": "1", "name": DEMO_NAME, "email": "ali@example.com" })))
        },
    )
}

/// The app: its own routes, and the auth routes merged in.
pub fn app(auth: Portcullis) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .merge(portcullis::axum::routes(auth.clone()))
        .with_state(auth)
}

async fn home(session: Option<Session>) -> String {
    match session {
        Some(session) => format!("Signed in as {}", session.user.name.unwrap_or_default()),
        None => "Not signed in: /api/auth/signin".to_owned(),
    }
}

/// Protected: without a session the extractor answers 401 and this never runs.
async fn me(session: Session) -> String {
    session.user.name.unwrap_or_default()
}

/// Serves `app` on `listener` with the peers' addresses (per-IP rate limits count them).
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).await
}
