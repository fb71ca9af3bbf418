//! C16 in a real browser: headless Chromium (ChromeDriver, `bash .ci/browser`) opens the
//! client script's test page in several tabs of one profile, against the scenario's site
//! served on a loopback port of its own. Over HTTP only (`@http`): the embedded target's
//! clock is not the browser's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cucumber::{given, then, when};
use fantoccini::wd::WindowHandle;
use portcullis_server::testing::{bind_loopback, client_test_page, Browser, ChromeDriver};
use portcullis_server::{serve_on, ShutdownHandle};
use serde_json::Value;
use warp::Filter as _;

use crate::doubles::{PASSWORD, USERNAME};
use crate::world::{AuthWorld, Target};

/// The longest an awaited browser state may take.
const WAIT: Duration = Duration::from_secs(15);

/// One browser scenario at a time: a Chromium each, on two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The scenario's browser and the server it talks to; dropped with the world, which
/// stops ChromeDriver and every Chromium it started.
pub(crate) struct BrowserState {
    origin: String,
    browser: Browser,
    tabs: HashMap<String, Tab>,
    /// The first tab reuses the window the session opened with.
    spare_window: Option<WindowHandle>,
    /// What the last reads in a tab answered.
    reads: Vec<Value>,
    _driver: ChromeDriver,
    _server: ShutdownHandle,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

struct Tab {
    window: WindowHandle,
    /// `#loaded` when the page was opened: unchanged means not reloaded.
    loaded: String,
}

impl AuthWorld {
    fn real_browser(&mut self) -> &mut BrowserState {
        self.browser
            .as_mut()
            .expect("no browser yet: `Given the site is open in a real browser`")
    }
}

impl BrowserState {
    async fn switch_to(&mut self, tab: &str) {
        let window = self
            .tabs
            .get(tab)
            .unwrap_or_else(|| panic!("no tab {tab:?}"))
            .window
            .clone();
        self.browser
            .switch_to_window(window)
            .await
            .expect("switch tab");
    }

    async fn text(&self, id: &str) -> String {
        self.browser
            .text(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn wait_text(&self, id: &str, want: &str) {
        let waited = self.browser.wait_text(id, want, WAIT).await;
        waited.unwrap_or_else(|e| panic!("{e}"));
    }

    async fn run(&self, script: &str) -> Value {
        self.browser
            .run(script)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn session_cookie(&self) -> Option<(String, i64)> {
        self.browser.cookie("next-auth.session-token").await
    }
}

/// Every request, passed to the server at `upstream` unchanged, and its answer back.
fn pass_to(
    upstream: std::net::SocketAddr,
) -> impl warp::Filter<Extract = (warp::http::Response<String>,), Error = warp::Rejection>
       + Clone
       + Send
       + Sync
       + 'static {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(
            move |method: http::Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: http::HeaderMap,
                  body: bytes::Bytes| {
                let client = client.clone();
                async move {
                    let mut url = format!("http://{upstream}{}", path.as_str());
                    if !query.is_empty() {
                        url = format!("{url}?{query}");
                    }
                    let answer = client
                        .request(method, &url)
                        .headers(headers)
                        .body(body)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("passing on to {url}: {e}"));
                    let mut response = warp::http::Response::builder().status(answer.status());
                    for (name, value) in answer.headers() {
                        response = response.header(name, value);
                    }
                    // The site answers text (pages, JSON, the client script).
                    let body = answer.bytes().await.unwrap_or_default();
                    response
                        .body(String::from_utf8_lossy(&body).into_owned())
                        .expect("a response")
                }
            },
        )
}

#[given("the site is open in a real browser")]
async fn open_in_a_browser(w: &mut AuthWorld) {
    assert_eq!(
        w.target,
        Target::Http,
        "a real browser needs the real server and clock: tag the scenario @http"
    );
    let turn = ONE_AT_A_TIME.lock().await;
    // The site's URL names the port the browser reaches it on (redirects, callback URLs).
    let (listener, addr) = bind_loopback().await.expect("a loopback port");
    let setup = w.setup_mut();
    let path = url::Url::parse(&setup.url)
        .expect("the site's URL")
        .path()
        .trim_end_matches('/')
        .to_owned();
    assert_eq!(path, "/api/auth", "the client test page expects /api/auth");
    setup.url = format!("http://{addr}{path}");
    // The real binary serves the site; the page and the site share this origin, the
    // browser's requests to the site passed on to the binary as they are.
    w.app().await;
    let upstream = w.server_addr().expect("the binary listens");
    let routes = client_test_page().or(pass_to(upstream)).unify();
    let (_, server) = serve_on(listener, routes, futures::future::pending()).expect("serving");
    let driver = ChromeDriver::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let browser = driver.open().await.unwrap_or_else(|e| panic!("{e}"));
    let first = browser.window().await.expect("the first window");
    w.browser = Some(BrowserState {
        origin: format!("http://{addr}"),
        browser,
        tabs: HashMap::new(),
        spare_window: Some(first),
        reads: Vec::new(),
        _driver: driver,
        _server: server,
        _turn: turn,
    });
}

async fn open_tab(w: &mut AuthWorld, tab: String, query: &str) {
    let b = w.real_browser();
    let window = match b.spare_window.take() {
        Some(window) => window,
        None => {
            b.browser
                .new_window(false)
                .await
                .expect("a new window")
                .handle
        }
    };
    b.browser
        .switch_to_window(window.clone())
        .await
        .expect("switch");
    let url = format!("{}/test/client.html{query}", b.origin);
    b.browser.goto(&url).await.expect("open the test page");
    // Loaded once the first read is shown.
    let started = Instant::now();
    while b.text("status").await == "loading" {
        assert!(
            started.elapsed() < WAIT,
            "the test page never read the session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let loaded = b.text("loaded").await;
    b.tabs.insert(tab, Tab { window, loaded });
}

#[given(expr = "the client test page is open in tab {string}")]
#[when(expr = "the client test page is open in tab {string}")]
async fn page_open(w: &mut AuthWorld, tab: String) {
    open_tab(w, tab, "").await;
}

#[given(expr = "the client test page is open in tab {string} with {word} {int}")]
#[when(expr = "the client test page is open in tab {string} with {word} {int}")]
async fn page_open_with(w: &mut AuthWorld, tab: String, option: String, seconds: u64) {
    assert!(
        ["keepAlive", "clientMaxAge"].contains(&option.as_str()),
        "the test page takes keepAlive or clientMaxAge, not {option}"
    );
    open_tab(w, tab, &format!("?{option}={seconds}")).await;
}

#[when(expr = "Jane signs in with the client script in tab {string}")]
async fn signs_in(w: &mut AuthWorld, tab: String) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    let result = b
        .run(&format!(
            "return Portcullis.signIn('credentials', \
             {{redirect: false, username: {USERNAME:?}, password: {PASSWORD:?}}})"
        ))
        .await;
    assert_eq!(result["ok"], true, "signIn answered {result}");
    assert_eq!(result["error"], Value::Null, "signIn answered {result}");
}

#[when(expr = "I sign out with the client script in tab {string}")]
async fn signs_out(w: &mut AuthWorld, tab: String) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    let result = b.run("return Portcullis.signOut({redirect: false})").await;
    assert!(result["url"].is_string(), "signOut answered {result}");
}

#[then(expr = "tab {string} shows {string}")]
async fn tab_shows(w: &mut AuthWorld, tab: String, status: String) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    b.wait_text("status", &status).await;
}

#[then(expr = "tab {string} shows {string}, learned from another tab")]
async fn tab_shows_from_another(w: &mut AuthWorld, tab: String, status: String) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    b.wait_text("status", &status).await;
    assert_eq!(
        b.text("event").await,
        "storage",
        "the change came from elsewhere"
    );
}

#[then(expr = "tab {string} shows {string}, last changed by {string}")]
async fn tab_shows_changed_by(w: &mut AuthWorld, tab: String, status: String, event: String) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    b.wait_text("event", &event).await;
    b.wait_text("status", &status).await;
}

#[then(expr = "tab {string} was not reloaded")]
async fn not_reloaded(w: &mut AuthWorld, tab: String) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    let loaded = b.tabs[&tab].loaded.clone();
    assert_eq!(b.text("loaded").await, loaded, "tab {tab} was reloaded");
}

#[when("I remember the browser's session cookie")]
async fn remember_cookie(w: &mut AuthWorld) {
    let (value, expires) = w
        .real_browser()
        .session_cookie()
        .await
        .expect("the browser has a session cookie");
    w.saved.insert("browser-cookie".into(), value);
    w.saved
        .insert("browser-cookie-expires".into(), expires.to_string());
}

#[then(
    expr = "within {int} seconds the browser's session cookie is replaced by one that expires later"
)]
async fn cookie_replaced(w: &mut AuthWorld, seconds: u64) {
    let before = w.saved["browser-cookie"].clone();
    let expires: i64 = w.saved["browser-cookie-expires"].parse().expect("a number");
    let (value, new_expires) = w
        .real_browser()
        .browser
        .wait_cookie_change(
            "next-auth.session-token",
            &before,
            Duration::from_secs(seconds),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(value, before);
    assert!(
        new_expires > expires,
        "the new cookie does not expire later: {expires} → {new_expires}"
    );
}

#[then(expr = "tab {string} has sent {int} session request(s)")]
async fn session_requests(w: &mut AuthWorld, tab: String, count: u64) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    assert_eq!(
        b.text("session-fetches").await,
        count.to_string(),
        "GET /session requests sent by tab {tab}"
    );
}

#[when(expr = "tab {string} reads the session {int} times")]
async fn reads_times(w: &mut AuthWorld, tab: String, times: usize) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    for _ in 0..times {
        let read = b.run("return Portcullis.getSession()").await;
        b.reads.push(read);
    }
}

#[when(expr = "tab {string} reads the session for the event {string}")]
async fn reads_for_event(w: &mut AuthWorld, tab: String, event: String) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    let read = b
        .run(&format!(
            "return Portcullis.getSession({{event: {event:?}}})"
        ))
        .await;
    b.reads.push(read);
}

#[then(expr = "every read in the browser answered the session of {string}")]
async fn every_read_was(w: &mut AuthWorld, name: String) {
    let b = w.real_browser();
    assert!(!b.reads.is_empty(), "nothing was read");
    for read in &b.reads {
        assert_eq!(read["user"]["name"], Value::String(name.clone()), "{read}");
    }
}

#[then(expr = "within {int} seconds a read in tab {string} sends a new session request")]
async fn read_refetches(w: &mut AuthWorld, seconds: u64, tab: String) {
    let b = w.real_browser();
    b.switch_to(&tab).await;
    let before = b.text("session-fetches").await;
    let started = Instant::now();
    loop {
        b.run("return Portcullis.getSession()").await;
        if b.text("session-fetches").await != before {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(seconds),
            "no new GET /session within {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
