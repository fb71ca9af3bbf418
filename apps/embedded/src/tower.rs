//! The auth routes as a [`tower::Service`] (feature `tower`), for hyper, axum or any
//! tower stack. Mount it under the base path (`NEXTAUTH_URL`'s path): it sees the full
//! request path, which the engine checks. With axum, [`crate::axum::routes`] does that.
//!
//! ```no_run
//! # async fn demo(auth: portcullis::Portcullis) {
//! use tower::Service;
//! let mut service = portcullis::tower::AuthService::new(auth);
//! let request = http::Request::get("/api/auth/csrf").body(String::new()).unwrap();
//! // Always ready: no need to poll `poll_ready` first.
//! let response = service.call(request).await;
//! # }
//! ```

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::Portcullis;

/// The largest request body the engine reads (as the engine's own check).
pub const MAX_BODY_BYTES: usize = portcullis_domain::request::MAX_BODY_BYTES;

/// Serves the auth routes: each request runs through [`Portcullis::handle_from`].
///
/// The client's address for rate limits is the socket peer: axum's
/// `ConnectInfo<SocketAddr>` (feature `axum`; serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`), or a `SocketAddr` request
/// extension a hyper server inserts. Bodies larger than [`MAX_BODY_BYTES`] are refused
/// with 413 as they arrive, never buffered in full.
#[derive(Debug, Clone)]
pub struct AuthService {
    auth: Portcullis,
}

impl AuthService {
    /// A service that answers with `auth`.
    pub fn new(auth: Portcullis) -> Self {
        Self { auth }
    }
}

impl<B> tower::Service<Request<B>> for AuthService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<String>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let auth = self.auth.clone();
        Box::pin(async move { Ok(serve(&auth, request).await) })
    }
}

/// Reads the body (at most [`MAX_BODY_BYTES`]) and runs the request through the engine.
pub async fn serve<B>(auth: &Portcullis, request: Request<B>) -> Response<String>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let body: Bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => return too_large(),
        Err(error) => {
            tracing::debug!(target: "portcullis", %error, "request body not read");
            return text(StatusCode::BAD_REQUEST, "Error: request body not readable");
        }
    };
    let client_ip = client_ip(&parts.extensions);
    auth.handle_from(Request::from_parts(parts, body), client_ip)
        .await
}

/// The socket peer's address, from what the server put on the request.
fn client_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(peer)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(peer.ip());
    }
    extensions.get::<SocketAddr>().map(SocketAddr::ip)
}

fn too_large() -> Response<String> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Error: request body too large",
    )
}

fn text(status: StatusCode, body: &'static str) -> Response<String> {
    let mut response = Response::new(body.to_owned());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use tower::Service;

    fn auth() -> Portcullis {
        Portcullis::builder()
            .url("http://localhost:3000/api/auth")
            .secret("a-test-secret-that-is-long-enough-0123456789")
            .build()
            .unwrap()
    }

    /// A body of `chunks` chunks of 16 KiB with no declared length, as a chunked upload.
    fn streamed(
        chunks: usize,
    ) -> StreamBody<impl futures::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>>> {
        let chunk = Bytes::from(vec![b'a'; 16 * 1024]);
        StreamBody::new(futures::stream::iter(
            (0..chunks).map(move |_| Ok(http_body::Frame::data(chunk.clone()))),
        ))
    }

    #[tokio::test]
    async fn serves_the_routes_and_refuses_bodies_over_the_limit_as_they_arrive() {
        let mut service = AuthService::new(auth());
        let csrf = Request::get("/api/auth/csrf")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = service.call(csrf).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.body().contains("csrfToken"));

        // Five 16 KiB chunks, no Content-Length: refused once past 64 KiB.
        let post = |body| {
            Request::post("/api/auth/signout")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .unwrap()
        };
        let res = service.call(post(streamed(5))).await.unwrap();
        assert_eq!(res.status(), 413);
        // Four fit: the engine answers (no CSRF token: back to the sign-out page).
        let res = service.call(post(streamed(4))).await.unwrap();
        assert_ne!(res.status(), 413);

        // A declared length over the limit is refused before any of it is read.
        let declared = Request::post("/api/auth/signout")
            .header("content-length", "70000")
            .body(streamed(0))
            .unwrap();
        assert_eq!(service.call(declared).await.unwrap().status(), 413);
    }

    #[cfg(feature = "axum")]
    #[test]
    fn the_client_address_is_the_socket_peer() {
        let peer: SocketAddr = "192.0.2.7:5555".parse().unwrap();
        let mut extensions = http::Extensions::new();
        assert_eq!(client_ip(&extensions), None);
        extensions.insert(axum::extract::ConnectInfo(peer));
        assert_eq!(client_ip(&extensions), Some(peer.ip()));
        let mut plain = http::Extensions::new();
        plain.insert(peer);
        assert_eq!(client_ip(&plain), Some(peer.ip()));
    }
}
