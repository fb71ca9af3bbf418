//! Real-browser test support (feature `test-support`): ChromeDriver on a free loopback
//! port, headless Chromium sessions driven through WebDriver ([`fantoccini`]), and a test
//! page that uses the client script. This crate's `browser` tests and the specs (C16) use it.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`bash .ci/browser` installs them);
//! `CHROMEDRIVER` and `CHROMIUM` override `/usr/bin/chromedriver` and `/usr/bin/chromium`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use http::{header, HeaderValue};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use warp::Filter;

/// How long ChromeDriver may take to answer `GET /status` with `ready: true`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The flags headless Chromium needs on the test machines (no sandbox, no GPU, no
/// background traffic), plus a fixed window size for comparable screenshots.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1024,768",
];

/// The test pages' policy: scripts, styles and fetches from this origin only.
pub const TEST_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

const CLIENT_PAGE: &str = include_str!("testing/client.html");
const CLIENT_PAGE_SCRIPT: &str = include_str!("testing/page.js");

/// Why a browser could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Chromium or ChromeDriver could not be started.
    #[error("{0}")]
    Start(String),
    /// ChromeDriver refused a session.
    #[error("starting a Chromium session: {0}")]
    Session(String),
    /// A page could not be loaded or driven.
    #[error("{0}")]
    Page(String),
}

/// A ChromeDriver process in a process group of its own. Dropping it kills the group: the
/// driver and every Chromium it started, even when a test fails half-way.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl ChromeDriver {
    /// Starts ChromeDriver on a free port of 127.0.0.1 and waits until `GET /status` says
    /// it is ready.
    pub async fn start() -> Result<Self, BrowserError> {
        let program = env_path("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = env_path("CHROMIUM", "/usr/bin/chromium");
        for path in [&program, &chromium] {
            if !path.exists() {
                return Err(BrowserError::Start(format!(
                    "{} is missing: run `bash .ci/browser` (installs Debian's chromium and chromium-driver)",
                    path.display()
                )));
            }
        }
        // A free port may be taken between the probe and the start: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let mut command = Command::new(&program);
            command
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            let child = command
                .spawn()
                .map_err(|e| BrowserError::Start(format!("starting {}: {e}", program.display())))?;
            let mut driver = Self {
                child,
                url: format!("http://127.0.0.1:{port}"),
                chromium: chromium.clone(),
            };
            match driver.wait_ready(port).await {
                Ok(()) => return Ok(driver),
                Err(why) => last = why,
            }
        }
        Err(BrowserError::Start(format!(
            "ChromeDriver did not start: {last}"
        )))
    }

    /// Polls `GET /status` until `"ready":true`; gives up when the process exits or after
    /// [`READY_TIMEOUT`].
    async fn wait_ready(&mut self, port: u16) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited with {status}"));
            }
            if status_ready(port).await {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!("not ready after {READY_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The WebDriver URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new headless Chromium with an empty profile of its own (its own cookies and
    /// storage), closed with [`Browser::close`] or, at the latest, with the driver.
    pub async fn open(&self) -> Result<Browser, BrowserError> {
        let profile = tempfile::tempdir()
            .map_err(|e| BrowserError::Session(format!("a profile directory: {e}")))?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium.display().to_string(),
                "args": args,
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            return Err(BrowserError::Session("capabilities".into()));
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .map_err(|e| BrowserError::Session(e.to_string()))?;
        Ok(Browser {
            client,
            _profile: profile,
        })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The whole group: ChromeDriver and the Chromium processes it started.
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One Chromium session (one profile). Derefs to the WebDriver [`Client`].
pub struct Browser {
    client: Client,
    _profile: tempfile::TempDir,
}

impl std::ops::Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Browser {
    /// The text of the element `#id` in the current window.
    pub async fn text(&self, id: &str) -> Result<String, BrowserError> {
        let element = self
            .client
            .find(Locator::Id(id))
            .await
            .map_err(|e| BrowserError::Page(format!("no #{id}: {e}")))?;
        element
            .text()
            .await
            .map_err(|e| BrowserError::Page(format!("#{id}: {e}")))
    }

    /// Polls (every 50 ms, at most `timeout`) until `#id` reads `want`.
    pub async fn wait_text(
        &self,
        id: &str,
        want: &str,
        timeout: Duration,
    ) -> Result<(), BrowserError> {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < timeout {
            if let Ok(text) = self.text(id).await {
                if text == want {
                    return Ok(());
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BrowserError::Page(format!(
            "#{id} still reads {last:?} after {timeout:?}, not {want:?}"
        )))
    }

    /// Runs `script` in the current window; a promise it returns is awaited.
    pub async fn run(&self, script: &str) -> Result<serde_json::Value, BrowserError> {
        self.client
            .execute(script, Vec::new())
            .await
            .map_err(|e| BrowserError::Page(format!("{script}: {e}")))
    }

    /// The cookie `name` of the current page's site: its value and expiry (unix seconds,
    /// 0 for a session cookie). HttpOnly cookies included.
    pub async fn cookie(&self, name: &str) -> Option<(String, i64)> {
        let cookie = self.client.get_named_cookie(name).await.ok()?;
        let expires = cookie
            .expires_datetime()
            .map(|at| at.unix_timestamp())
            .unwrap_or(0);
        Some((cookie.value().to_owned(), expires))
    }

    /// Polls (every 100 ms, at most `timeout`) until the cookie `name` holds another value
    /// than `from`; returns the new value and expiry.
    pub async fn wait_cookie_change(
        &self,
        name: &str,
        from: &str,
        timeout: Duration,
    ) -> Result<(String, i64), BrowserError> {
        let started = Instant::now();
        loop {
            match self.cookie(name).await {
                Some(cookie) if cookie.0 != from => return Ok(cookie),
                Some(_) => {}
                None => return Err(BrowserError::Page(format!("the cookie {name} is gone"))),
            }
            if started.elapsed() > timeout {
                return Err(BrowserError::Page(format!(
                    "the cookie {name} did not change within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the session (Chromium quits) and removes the profile.
    pub async fn close(self) -> Result<(), BrowserError> {
        self.client
            .close()
            .await
            .map_err(|e| BrowserError::Session(format!("closing: {e}")))
    }
}

fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn free_port() -> Result<u16, BrowserError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BrowserError::Start(format!("finding a free port: {e}")))
}

/// `GET /status` answers `"ready":true`. A bare HTTP/1.1 request, read until the body is
/// complete (ChromeDriver may keep the connection open).
async fn status_ready(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await?;
            answer.extend_from_slice(&buffer[..n]);
            if let Some(body) = complete_body(&answer) {
                return Ok::<_, std::io::Error>(body.to_vec());
            }
            if n == 0 {
                return Ok(Vec::new());
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(Ok(body)) => serde_json::from_slice::<serde_json::Value>(&body)
            .is_ok_and(|v| v["value"]["ready"] == serde_json::Value::Bool(true)),
        _ => false,
    }
}

/// The body of a complete `Content-Length` HTTP response in `bytes`, once all of it is in.
fn complete_body(bytes: &[u8]) -> Option<&[u8]> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())?;
    bytes.get(head_end..head_end + length)
}

/// Binds 127.0.0.1 on a free port, so the site's URL can name the port before the app is
/// built; serve on it with [`crate::serve_on`].
pub async fn bind_loopback() -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// `GET /test/<name>` answers `body` with `content_type` and [`TEST_CSP`]; anything else
/// is rejected (falls through to the next route).
pub fn test_file(
    name: &'static str,
    content_type: &'static str,
    body: String,
) -> impl Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    warp::get()
        .and(warp::path("test"))
        .and(warp::path(name))
        .and(warp::path::end())
        .map(move || {
            let mut response = http::Response::new(body.clone());
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(TEST_CSP),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        })
}

/// The client script's test page: `GET /test/client.html[?keepAlive=S&clientMaxAge=S]`
/// (and its script). It shows the session as the tab sees it in `#status` (`loading`,
/// `signed-in`, `signed-out`) and `#user`, what caused the last change in `#event`
/// (`none` for the first read, `storage` for another tab, `timer`, …), the number of
/// `GET /session` the client sent in `#session-fetches`, and a random id per page load
/// in `#loaded`. The site's base path must be `/api/auth`.
pub fn client_test_page(
) -> impl Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    test_file(
        "client.html",
        "text/html; charset=utf-8",
        CLIENT_PAGE.to_owned(),
    )
    .or(test_file(
        "page.js",
        "text/javascript; charset=utf-8",
        CLIENT_PAGE_SCRIPT.to_owned(),
    ))
    .unify()
}

/// Counts the requests whose path is `path` and lets them through (rejects, so the next
/// route answers). Put it first in an `or` chain.
pub fn count_requests(
    path: &'static str,
) -> (
    Arc<AtomicUsize>,
    impl Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone,
) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let filter = warp::path::full().and_then(move |full: warp::path::FullPath| {
        if full.as_str() == path {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        async { Err::<http::Response<String>, _>(warp::reject::not_found()) }
    });
    (count, filter)
}
