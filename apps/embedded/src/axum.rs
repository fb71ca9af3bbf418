//! axum integration (feature `axum`): [`routes`] serves the auth routes under the base
//! path, and [`Session`] hands the signed-in user to the app's handlers.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use portcullis::{Portcullis, Session};
//!
//! async fn me(session: Session) -> String {
//!     session.user.name.unwrap_or_default() // no session: 401 before this runs
//! }
//!
//! async fn home(session: Option<Session>) -> &'static str {
//!     if session.is_some() { "welcome back" } else { "hello, stranger" }
//! }
//!
//! # async fn demo(auth: Portcullis) -> std::io::Result<()> {
//! let app = Router::new()
//!     .route("/me", get(me))
//!     .route("/", get(home))
//!     .merge(portcullis::axum::routes(auth.clone()))
//!     .with_state(auth); // or any state with `impl FromRef<AppState> for Portcullis`
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
//! # }
//! ```

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::request::Parts;
use http::StatusCode;

use crate::tower::AuthService;
use crate::{Portcullis, Session};

/// A router serving the auth routes (`BASE` and everything under it) through
/// [`AuthService`]; merge it into the app's router. Other paths are not matched, so they
/// reach the app's own routes and fallback.
///
/// The base path is matched literally. One exception is axum's: a router with its default
/// checks panics on a route segment that starts with `:` or `*` (axum 0.7's capture
/// syntax), so a base path with such a segment needs the app's router built with
/// `Router::without_v07_checks`.
pub fn routes<S>(auth: Portcullis) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let base = literal_route(auth.config().site.base_path());
    let service = AuthService::new(auth);
    Router::new()
        .without_v07_checks()
        .route_service(&base, service.clone())
        .route_service(&format!("{base}/"), service.clone())
        .route_service(&format!("{base}/{{*rest}}"), service)
}

/// `path` as an axum route that matches only itself (braces are axum's captures).
fn literal_route(path: &str) -> String {
    path.replace('{', "{{").replace('}', "}}")
}

/// Why a handler that takes a [`Session`] did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRejection {
    /// No session cookie, or no valid session behind it: 401.
    Unauthenticated,
    /// The store could not say whether the session is valid: 503 (fail closed).
    Unavailable,
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "Unauthorized").into_response(),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Error: the session cannot be checked now",
            )
                .into_response(),
        }
    }
}

/// One read per request, however many extractors ask.
#[derive(Clone)]
struct ReadOnce(Option<Session>);

async fn read<S>(parts: &mut Parts, state: &S) -> Result<Option<Session>, SessionRejection>
where
    Portcullis: FromRef<S>,
{
    if let Some(ReadOnce(session)) = parts.extensions.get::<ReadOnce>() {
        return Ok(session.clone());
    }
    let auth = Portcullis::from_ref(state);
    match auth.read_session(&parts.headers).await {
        Ok(session) => {
            parts.extensions.insert(ReadOnce(session.clone()));
            Ok(session)
        }
        Err(error) => {
            tracing::warn!(target: "portcullis", %error, "session: the store cannot say; refused");
            Err(SessionRejection::Unavailable)
        }
    }
}

/// The signed-in user's session ([`Portcullis::read_session`]); 401 without one. The
/// engine comes from the router's state: `Portcullis` itself, or any state it can be
/// taken from (`FromRef`).
impl<S> FromRequestParts<S> for Session
where
    Portcullis: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        read(parts, state)
            .await?
            .ok_or(SessionRejection::Unauthenticated)
    }
}

/// `Option<Session>`: `None` without a valid session.
impl<S> OptionalFromRequestParts<S> for Session
where
    Portcullis: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        read(parts, state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_path_with_braces_colons_or_stars_is_a_literal_route() {
        assert_eq!(literal_route("/api/auth"), "/api/auth");
        assert_eq!(literal_route("/a/{b}"), "/a/{{b}}");
        let auth = |base: &str| {
            Portcullis::builder()
                .url(format!("https://example.com{base}"))
                .secret("a-test-secret-that-is-long-enough-0123456789")
                .build()
                .unwrap()
        };
        for base in ["/api/auth", "/a/{b}", "/a b/ü", "/x/{*y}"] {
            let app: Router = Router::new().route("/", axum::routing::get(|| async { "app" }));
            let _: Router = app.merge(routes(auth(base)));
        }
        let _: Router = Router::new()
            .without_v07_checks()
            .merge(routes(auth("/:x/*y")));
    }
}
