//! A fixture provider on loopback: real HTTP, canned answers by path, and a log of every
//! request it received so the test can check them after the flow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method};
use tokio::sync::oneshot;
use warp::Filter;

/// One canned JSON answer.
#[derive(Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub(crate) fn json(value: &serde_json::Value) -> Self {
        Self {
            status: 200,
            body: value.to_string(),
        }
    }
}

/// A request as the provider saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub method: Method,
    pub path: String,
    /// The raw query, without `?` (empty when there is none).
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether a canned answer was found for the path.
    pub served: bool,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        pairs(self.query.as_bytes())
    }

    pub(crate) fn form(&self) -> Vec<(String, String)> {
        pairs(&self.body)
    }
}

pub(crate) fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Answer>,
    log: Vec<Recorded>,
}

pub(crate) struct FixtureProvider {
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    state: Arc<Mutex<State>>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl FixtureProvider {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let filter = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(
                move |method: Method,
                      path: warp::path::FullPath,
                      query: String,
                      headers: HeaderMap,
                      body: Bytes| {
                    let mut state = shared.lock().unwrap();
                    let answer = state.routes.get(path.as_str()).cloned();
                    state.log.push(Recorded {
                        method,
                        path: path.as_str().to_owned(),
                        query,
                        headers,
                        body,
                        served: answer.is_some(),
                    });
                    let answer = answer.unwrap_or(Answer {
                        status: 404,
                        body: r#"{"error":"not_found"}"#.into(),
                    });
                    http::Response::builder()
                        .status(answer.status)
                        .header("content-type", "application/json")
                        .body(answer.body)
                        .unwrap()
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = warp::serve(filter).incoming(listener).graceful(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(server.run());
        Self {
            origin,
            state,
            stop,
            task,
        }
    }

    /// Answers every request to `path` (any method, any query) with `answer`.
    pub(crate) fn serve(&self, path: &str, answer: Answer) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), answer);
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().log.clone()
    }

    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}
