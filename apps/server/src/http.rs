//! HTTP: one warp filter forwarding every request under the base path to
//! [`Portcullis::handle`], a bounded body, one log line per request, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use portcullis::Portcullis;
use portcullis_domain::request::MAX_BODY_BYTES;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use warp::Filter;

use crate::error::StartupError;

/// How long a client may take to send a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest path written to a log line.
const MAX_LOGGED_PATH: usize = 256;

/// The warp filter serving `app`: every method and path; paths outside the base path get
/// 404, bodies over 64 KiB get 413. It never rejects.
pub fn routes(
    app: Portcullis,
) -> impl Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    let app = Arc::new(app);
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::any()
        .map(move || app.clone())
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::body::stream())
        .and_then(
            |app: Arc<Portcullis>,
             method: Method,
             path: warp::path::FullPath,
             query: Option<String>,
             headers: HeaderMap,
             peer: Option<std::net::SocketAddr>,
             body| async move {
                let started = Instant::now();
                let client = peer.map(|p| p.ip());
                let response =
                    respond(&app, &method, path.as_str(), query, headers, client, body).await;
                log_request(&method, path.as_str(), response.status(), started.elapsed());
                Ok::<_, Infallible>(response)
            },
        )
}

async fn respond<S, B>(
    app: &Portcullis,
    method: &Method,
    path: &str,
    query: Option<String>,
    headers: HeaderMap,
    client: Option<std::net::IpAddr>,
    body: S,
) -> http::Response<String>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let base = app.config().site.base_path();
    let under_base = path
        .strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !under_base {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let body = match tokio::time::timeout(BODY_TIMEOUT, read_body(body)).await {
        Ok(BodyRead::Complete(bytes)) => bytes,
        Ok(BodyRead::TooLarge) => return too_large(),
        Ok(BodyRead::Failed) => {
            return plain(StatusCode::BAD_REQUEST, "Error: unreadable request body")
        }
        Err(_) => return plain(StatusCode::REQUEST_TIMEOUT, "Error: request body timed out"),
    };
    let target = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut request = http::Request::new(body);
    *request.method_mut() = method.clone();
    match target.parse::<http::Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return plain(StatusCode::BAD_REQUEST, "Error: bad request target"),
    }
    *request.headers_mut() = headers;
    // The socket's peer; behind a trusted proxy (`trusted_proxies`) the engine reads the
    // client's address from the forwarding header.
    app.handle_from(request, client).await
}

enum BodyRead {
    Complete(Bytes),
    TooLarge,
    Failed,
}

/// Reads at most [`MAX_BODY_BYTES`], whatever the framing (length or chunked).
async fn read_body<S, B>(body: S) -> BodyRead
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut buffer = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let Ok(mut chunk) = chunk else {
            return BodyRead::Failed;
        };
        if buffer.len() + chunk.remaining() > MAX_BODY_BYTES {
            return BodyRead::TooLarge;
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let len = part.len();
            buffer.extend_from_slice(part);
            chunk.advance(len);
        }
    }
    BodyRead::Complete(buffer.freeze())
}

fn too_large() -> http::Response<String> {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Error: request body too large",
    )
}

fn plain(status: StatusCode, text: &str) -> http::Response<String> {
    let mut response = http::Response::new(text.to_owned());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// One line per request: method, path (never the query: it may carry a callback URL or a
/// token), status, latency. No header, cookie or body ever.
fn log_request(method: &Method, path: &str, status: StatusCode, elapsed: Duration) {
    let path = match path.char_indices().nth(MAX_LOGGED_PATH) {
        Some((cut, _)) => &path[..cut],
        None => path,
    };
    tracing::info!(
        target: "portcullis::http",
        method = %method,
        path = %path,
        status = status.as_u16(),
        latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        "request"
    );
}

/// Stops a server started by [`spawn`]. Dropping it stops the server too.
#[derive(Debug)]
pub struct ShutdownHandle {
    trigger: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// The server task ended abnormally.
#[derive(Debug, thiserror::Error)]
#[error("the server task failed: {0}")]
pub struct ServeError(#[from] tokio::task::JoinError);

impl ShutdownHandle {
    /// Stops accepting connections, lets requests in flight finish, and returns once every
    /// connection is closed.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(trigger) = self.trigger.take() {
            let _ = trigger.send(());
        }
        (&mut self.task).await?;
        Ok(())
    }

    /// Waits until the server stops (after [`spawn_with_signal`]'s signal fires).
    pub async fn stopped(mut self) -> Result<(), ServeError> {
        (&mut self.task).await?;
        Ok(())
    }
}

/// Binds `addr` (port 0 picks a free port) and serves `app` on a tokio task. Returns the
/// bound address and the handle that stops the server.
pub async fn spawn(
    app: Portcullis,
    addr: SocketAddr,
) -> Result<(SocketAddr, ShutdownHandle), StartupError> {
    spawn_with_signal(app, addr, futures::future::pending()).await
}

/// [`spawn`], also shutting down gracefully when `signal` completes (e.g. [`os_signal`]).
pub async fn spawn_with_signal(
    app: Portcullis,
    addr: SocketAddr,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, ShutdownHandle), StartupError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    serve_on(listener, routes(app), signal)
}

/// Serves any warp `filter` — [`routes`] with more routes beside it, such as the dev-mode
/// demo page or a test's pages — on a bound `listener`, shutting down gracefully when
/// `signal` completes. Binding first lets a caller learn the port before building the app
/// (its URL names the port).
pub fn serve_on<F, R>(
    listener: tokio::net::TcpListener,
    filter: F,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, ShutdownHandle), StartupError>
where
    F: Filter<Extract = (R,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
    R: warp::Reply,
{
    let bound = listener.local_addr().map_err(|source| StartupError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let (trigger, triggered) = oneshot::channel::<()>();
    let stop = async move {
        tokio::select! {
            _ = triggered => {}
            () = signal => {}
        }
        tracing::info!(target: "portcullis", "shutting down: finishing requests in flight");
    };
    let server = warp::serve(filter).incoming(listener).graceful(stop);
    let task = tokio::spawn(server.run());
    Ok((
        bound,
        ShutdownHandle {
            trigger: Some(trigger),
            task,
        },
    ))
}

/// Completes on SIGINT or SIGTERM (Ctrl-C elsewhere). The handlers are installed by this
/// call, not on first poll: call it before announcing "listening", so a signal sent as soon
/// as the server is up stops it gracefully instead of killing it.
pub fn os_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::warn!(target: "portcullis", error = %e, "cannot listen for {name}");
                None
            }
        };
        let terminate = install(SignalKind::terminate(), "SIGTERM");
        let interrupt = install(SignalKind::interrupt(), "SIGINT");
        async move {
            tokio::select! {
                () = received(terminate) => {}
                () = received(interrupt) => {}
            }
        }
    }
    #[cfg(not(unix))]
    interrupt()
}

/// Waits for the signal; forever when it could not be installed.
#[cfg(unix)]
async fn received(stream: Option<tokio::signal::unix::Signal>) {
    match stream {
        Some(mut stream) => {
            stream.recv().await;
        }
        None => futures::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn interrupt() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(target: "portcullis", error = %e, "cannot listen for Ctrl-C");
        futures::future::pending::<()>().await;
    }
}
