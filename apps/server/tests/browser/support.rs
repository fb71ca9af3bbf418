//! A site on a free loopback port whose URL names that port (redirects and callback URLs
//! must come back to it), extra routes beside it, and a headless Chromium to drive it.

use std::net::SocketAddr;
use std::time::Duration;

use portcullis_server::testing::{bind_loopback, Browser, ChromeDriver};
use portcullis_server::{build_app, serve_on, ServerConfig, ShutdownHandle};
use tempfile::TempDir;
use warp::Filter;

use crate::server_support::{cheap_hash, PASSWORD, SECRET};

/// The longest any awaited browser state may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// One browser test at a time: each runs a Chromium, and the machines have two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running site, its ChromeDriver and one open browser; dropped, all of them stop.
pub(crate) struct Harness {
    pub addr: SocketAddr,
    pub browser: Browser,
    // Field order is drop order: the browser's session before its driver.
    pub _driver: ChromeDriver,
    pub _server: ShutdownHandle,
    pub _dir: TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// What a test changes in the site.
#[derive(Default)]
pub(crate) struct SiteOptions {
    /// More TOML for the configuration (after `url`, `secret`, `data_dir`; before the
    /// providers).
    pub toml: String,
    /// Also an e-mail provider (no mail is sent: its form only shows on the sign-in page).
    pub email: bool,
    /// Also two OAuth presets (GitHub, Google) before the other providers: their buttons
    /// show on the sign-in page (no provider is called).
    pub oauth: bool,
    /// Serve the dev-mode demo page at `/` (as `serve --dev`).
    pub demo: bool,
    /// Dev mode as `serve --dev` builds it: no secret, no provider configured (the demo
    /// user `demo` / `demo`); `toml` and `email` are ignored.
    pub dev: bool,
}

impl Harness {
    /// The site with the `credentials` provider (`jane` / [`PASSWORD`]), the client test
    /// page, and `extra` routes before the engine's.
    pub(crate) async fn start<F>(options: SiteOptions, extra: F) -> Self
    where
        F: Filter<Extract = (http::Response<String>,), Error = warp::Rejection>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let turn = ONE_AT_A_TIME.lock().await;
        let dir = TempDir::new().unwrap();
        let (listener, addr) = bind_loopback().await.unwrap();
        let config = if options.dev {
            let data = dir.path().join("data").display().to_string();
            ServerConfig::from_toml(&format!(
                "url = \"http://{addr}/api/auth\"\ndata_dir = {data:?}\n"
            ))
            .unwrap()
        } else {
            site_config(&dir, addr, &options)
        };
        let app = build_app(&config, options.dev).unwrap();
        let pages = portcullis_server::testing::client_test_page();
        let (_, server) = if options.demo {
            let routes = extra
                .or(pages)
                .unify()
                .or(portcullis_server::demo::routes_with_demo(app))
                .unify();
            serve_on(listener, routes, futures::future::pending()).unwrap()
        } else {
            let routes = extra
                .or(pages)
                .unify()
                .or(portcullis_server::routes(app))
                .unify();
            serve_on(listener, routes, futures::future::pending()).unwrap()
        };
        let driver = ChromeDriver::start().await.unwrap();
        let browser = driver.open().await.unwrap();
        Self {
            addr,
            browser,
            _driver: driver,
            _server: server,
            _dir: dir,
            _turn: turn,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Opens `path` in a new window and switches to it; returns the window.
    pub(crate) async fn new_window(&self, path: &str) -> fantoccini::wd::WindowHandle {
        let window = self.browser.new_window(false).await.unwrap().handle;
        self.browser.switch_to_window(window.clone()).await.unwrap();
        self.browser.goto(&self.url(path)).await.unwrap();
        window
    }

    pub(crate) async fn switch_to(&self, window: &fantoccini::wd::WindowHandle) {
        self.browser.switch_to_window(window.clone()).await.unwrap();
    }

    /// The text of `#id` in the current window.
    pub(crate) async fn text(&self, id: &str) -> String {
        self.browser
            .text(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits (polling, at most [`WAIT`]) until `#id` reads `want`.
    pub(crate) async fn wait_text(&self, id: &str, want: &str) {
        let waited = self.browser.wait_text(id, want, WAIT).await;
        waited.unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs `script` (may return a promise) in the current window.
    pub(crate) async fn run(&self, script: &str) -> serde_json::Value {
        self.browser
            .run(script)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The session cookie as the browser holds it: (value, expiry as unix seconds).
    pub(crate) async fn session_cookie(&self) -> Option<(String, i64)> {
        self.browser.cookie("next-auth.session-token").await
    }

    /// Signs Jane in through the client script of the current page (`redirect: false`).
    pub(crate) async fn sign_in_with_client(&self) -> serde_json::Value {
        self.run(&format!(
            "return Portcullis.signIn('credentials', {{redirect: false, username: 'jane', password: {:?}}})",
            PASSWORD
        ))
        .await
    }
}

/// The configuration: URL on `addr`, a secret, the credentials provider; as TOML, so it
/// goes through the server's own loading.
fn site_config(dir: &TempDir, addr: SocketAddr, options: &SiteOptions) -> ServerConfig {
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[users]]\nusername = \"jane\"\npassword_hash = \"{}\"\nname = \"Jane\"\nemail = \"jane@example.com\"\nid = \"user-1\"\n",
            cheap_hash(PASSWORD)
        ),
    )
    .unwrap();
    let mut toml = format!(
        "url = \"http://{addr}/api/auth\"\nsecret = \"{SECRET}\"\ndata_dir = {data:?}\n{extra}\n",
        data = dir.path().join("data").display().to_string(),
        extra = options.toml,
    );
    if options.oauth {
        for preset in ["github", "google"] {
            toml.push_str(&format!(
                "[[providers]]\ntype = \"oauth\"\npreset = \"{preset}\"\nclient_id = \"demo-client\"\nclient_secret = \"demo-secret\"\n"
            ));
        }
    }
    toml.push_str(&format!(
        "[[providers]]\ntype = \"credentials\"\nid = \"credentials\"\nname = \"Credentials\"\nusers_file = {:?}\n",
        users.display().to_string()
    ));
    if options.email {
        toml.push_str(
            "[[providers]]\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:2525\"\nfrom = \"Portcullis <auth@example.com>\"\n",
        );
    }
    ServerConfig::from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"))
}
