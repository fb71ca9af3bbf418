//! The World: one scenario's site (engine or real server), browser (cookie jar) and what the
//! last request returned.

mod config_file;
mod http;
mod jar;
mod setup;
mod site;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cucumber::World;
use portcullis::{CookieKey, Portcullis};
use time::OffsetDateTime;

use crate::doubles::{AppSender, EventLog, Seen, SpecStore, TestClock};
use crate::mailbox::Delivered;
use crate::matching::Window;
use crate::stores::StoreKind;

pub(crate) use self::http::{Req, Resp};
pub(crate) use jar::{Jar, OAuthBrowser, ProviderAnswer};
pub(crate) use setup::{
    credential_fields, in_process_only, Frontend, MailMode, OAuthEntry, Setup, StoreMode, SECRET,
};
pub(crate) use site::refused_binary;
use site::{Running, Served};

/// Where the features run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// `Portcullis::handle` called directly, with a clock the scenario moves by hand.
    Embedded,
    /// The real `portcullis` binary on 127.0.0.1:0, configured from a TOML file, spoken to
    /// over real HTTP.
    Http,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Embedded => "embedded",
            Target::Http => "http",
        })
    }
}

/// Where the embedded clock starts: 2023-11-14T22:13:20Z (the §19 vectors' `iat`).
pub(crate) const START_UNIX: i64 = 1_700_000_000;
/// Longest any request may take before the scenario fails ("never a hang").
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(World)]
#[world(init = Self::new)]
pub(crate) struct AuthWorld {
    pub target: Target,
    pub setup: Option<Setup>,
    running: Option<Running>,
    /// The embedded engine's clock (unused over HTTP, where the system clock runs).
    pub clock: Arc<TestClock>,
    pub jar: Jar,
    pub last: Option<Resp>,
    /// The CSRF token the last `GET /csrf` (or page) gave.
    pub csrf: Option<String>,
    /// Values a scenario remembered by name.
    pub saved: HashMap<String, String>,
    pub authorize_seen: Seen,
    pub events: EventLog,
    /// The store, made on first use and kept across restarts.
    store: Option<Arc<SpecStore>>,
    /// When each cookie was last set: the window of the response that set it.
    pub cookie_windows: HashMap<String, Window>,
    /// What the last in-process token check found.
    pub token_check: Option<Option<portcullis::Claims>>,
    /// The store scenarios tagged `@stores` run on (set by the runner; sled otherwise).
    pub store_kind: StoreKind,
    /// This scenario's envelope sender: the mail it finds in the Maildir is the mail sent
    /// with this `MAIL FROM`.
    pub mail_sender: String,
    /// The mail taken from the Maildir so far, oldest first; the last is "the mail".
    pub mails: Vec<Delivered>,
    /// The app's own link sender, when the setup uses one.
    pub app_sender: Option<Arc<AppSender>>,
    /// Answers a scenario remembered by name.
    pub answers: HashMap<String, Resp>,
    /// The answers of the last requests sent at the same time.
    pub parallel: Vec<Resp>,
    /// The scenario's OAuth / OpenID test provider, once a step started it.
    pub provider: Option<Arc<crate::provider::TestProvider>>,
    /// The OAuth sign-in under way: where the site sent the browser, and where the provider
    /// sends it back.
    pub oauth: OAuthBrowser,
    /// What the embedded engine logged while handling this scenario's requests.
    pub logs: crate::logs::Captured,
    /// The scenario's real browser (C16), once a step opened one; dropped with the world.
    pub(crate) browser: Option<crate::steps::browser::BrowserState>,
    pub(crate) client: reqwest::Client,
    /// Password tables the scenario made (dropped when it finishes).
    pub(crate) password_tables: Vec<crate::steps::PasswordTable>,
    /// The scenario's credentials service (C04), once a step started it.
    pub(crate) service: Option<crate::steps::CredentialsService>,
    /// The operator's hook server (C18), once a step started it.
    pub(crate) hook_server: Option<crate::steps::HookServer>,
    /// Directories that live as long as the scenario.
    kept_dirs: Vec<tempfile::TempDir>,
    /// The real binary's directory (configuration file, data directory), kept across
    /// restarts: HTTP target.
    site_dir: Option<tempfile::TempDir>,
    /// The scripted credentials backend, served to the real binary (HTTP target).
    backend_service: Option<crate::steps::BackendService>,
    /// The binary keeps the scenario's sled store here; this process opens it only while
    /// the binary is stopped (sled allows one process at a time).
    binary_sled: Option<std::path::PathBuf>,
    /// This process's handle on the binary's sled store, while it holds it.
    sled_handle: Option<portcullis_store_sled::SledStore>,
    /// The exit status and standard error of a server that refused to start.
    pub refused: Option<(Option<i32>, String)>,
}

impl std::fmt::Debug for AuthWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthWorld")
            .field("target", &self.target)
            .field("setup", &self.setup)
            .field("jar", &self.jar)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl AuthWorld {
    fn new() -> Self {
        Self {
            target: Target::Embedded,
            setup: None,
            running: None,
            clock: Arc::new(TestClock::at(START_UNIX)),
            jar: Jar::default(),
            last: None,
            csrf: None,
            saved: HashMap::new(),
            authorize_seen: Arc::new(Mutex::new(Vec::new())),
            events: Arc::new(Mutex::new(Vec::new())),
            store: None,
            token_check: None,
            store_kind: StoreKind::Sled,
            mail_sender: crate::mailbox::unique_sender(),
            mails: Vec::new(),
            app_sender: None,
            answers: HashMap::new(),
            parallel: Vec::new(),
            cookie_windows: HashMap::new(),
            provider: None,
            oauth: OAuthBrowser::default(),
            logs: crate::logs::Captured::default(),
            browser: None,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("an HTTP client"),
            password_tables: Vec::new(),
            service: None,
            hook_server: None,
            kept_dirs: Vec::new(),
            site_dir: None,
            backend_service: None,
            binary_sled: None,
            sled_handle: None,
            refused: None,
        }
    }

    /// Keeps `dir` until the scenario ends.
    pub(crate) fn keep_dir(&mut self, dir: tempfile::TempDir) {
        self.kept_dirs.push(dir);
    }

    /// The site's configuration, to change before the first request.
    /// Changing a running site restarts it (the browser keeps its cookies).
    pub(crate) fn setup_mut(&mut self) -> &mut Setup {
        // Dropping the server's handle shuts it down.
        self.running = None;
        self.setup
            .as_mut()
            .expect("no site yet: start with `Given a site at \"…\"`")
    }

    pub(crate) fn setup(&self) -> &Setup {
        self.setup
            .as_ref()
            .expect("no site yet: start with `Given a site at \"…\"`")
    }

    /// The current time as the site sees it.
    pub(crate) fn now(&self) -> OffsetDateTime {
        match self.target {
            Target::Embedded => portcullis::Clock::now(self.clock.as_ref()),
            Target::Http => OffsetDateTime::now_utc(),
        }
    }

    /// Stops the site; the next request starts it again with the current setup (a restart:
    /// the browser keeps its cookies).
    pub(crate) async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            if let Some(server) = running.server {
                server.stop().await;
            }
        }
    }

    /// After the scenario: stops the site, removes the mail it was sent and its store's
    /// database.
    pub(crate) async fn finish(&mut self) {
        self.stop().await;
        let _ = crate::mailbox::take_from(&self.mail_sender);
        crate::steps::drop_password_tables(std::mem::take(&mut self.password_tables)).await;
        if let Some(store) = self.store.take() {
            store.dispose().await;
        }
    }

    /// The running engine, started on first use.
    pub(crate) async fn app(&mut self) -> Portcullis {
        if self.running.is_none() {
            let running = self.start().await;
            self.running = Some(running);
        }
        self.running.as_ref().expect("started").app.clone()
    }

    /// The real server's address (HTTP target, once started).
    pub(crate) fn server_addr(&self) -> Option<SocketAddr> {
        self.running
            .as_ref()
            .and_then(|r| r.server.as_ref())
            .map(Served::addr)
    }

    /// The scenario's store (made on first use, as the setup says), kept across restarts.
    pub(crate) async fn store(&mut self) -> Arc<SpecStore> {
        if let Some(store) = self.store.clone() {
            if self.binary_sled.is_some() && !store.is_attached() {
                // The binary holds the sled store: stop it (the next request starts it
                // again, as a restart) and open the store here.
                self.stop().await;
                self.attach_sled(&store);
            }
            return store;
        }
        let store = Arc::new(match self.setup().store {
            StoreMode::Backed if self.sled_by_binary() => {
                let path = self.site_dir().join("data").join("store");
                self.binary_sled = Some(path);
                SpecStore::sled_of_binary()
            }
            StoreMode::Backed => SpecStore::open(self.store_kind).await,
            StoreMode::Refusing | StoreMode::None => SpecStore::refusing(),
        });
        if self.binary_sled.is_some() {
            self.attach_sled(&store);
        }
        self.store = Some(store.clone());
        store
    }

    /// Opens the binary's sled store in this process (the binary is stopped).
    fn attach_sled(&mut self, store: &SpecStore) {
        let path = self
            .binary_sled
            .clone()
            .expect("the binary keeps a sled store");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the data directory");
        }
        let sled = portcullis_store_sled::SledStore::open(&path)
            .unwrap_or_else(|e| panic!("opening the binary's sled store: {e}"));
        store.attach(Arc::new(sled.clone()));
        self.sled_handle = Some(sled);
    }

    /// Closes this process's handle on the binary's sled store, before the binary opens it.
    async fn release_sled(&mut self) {
        if let Some(store) = &self.store {
            store.release();
        }
        if let Some(sled) = self.sled_handle.take() {
            sled.flush()
                .await
                .unwrap_or_else(|e| panic!("flushing the sled store: {e}"));
        }
    }

    /// The real binary's directory for this scenario (made on first use).
    fn site_dir(&mut self) -> std::path::PathBuf {
        self.site_dir
            .get_or_insert_with(|| tempfile::tempdir().expect("a temporary directory"))
            .path()
            .to_owned()
    }

    /// Whether the scenario's sled store is the binary's (HTTP target, configured from a
    /// file this world writes).
    fn sled_by_binary(&self) -> bool {
        let setup = self.setup();
        self.target == Target::Http
            && self.store_kind == StoreKind::Sled
            && setup.server_config.is_none()
            && in_process_only(setup, self.store_kind).is_none()
    }

    pub(crate) fn last(&self) -> &Resp {
        self.last.as_ref().expect("no request was sent yet")
    }

    /// The name of the session cookie on this site.
    pub(crate) async fn cookie_name(&mut self, key: CookieKey) -> String {
        let app = self.app().await;
        app.config().cookies.get(key).name.clone()
    }

    /// Replaces `{csrf}`, `{saved:NAME}`, `{vector:jws}`, `{vector:jwe}` and `{U+XXXX}`
    /// (that character: Gherkin has no escapes in table cells) in `text`.
    pub(crate) fn expand(&self, text: &str) -> String {
        let mut out = expand_code_points(text);
        if out.contains("{csrf}") {
            let token = self
                .csrf
                .as_deref()
                .expect("{csrf} used before any CSRF token was fetched");
            out = out.replace("{csrf}", token);
        }
        for (name, value) in &self.saved {
            out = out.replace(&format!("{{saved:{name}}}"), value);
        }
        // `{v3-key:NAME}`: a JWK of fixtures/nextauth-v3/explicit-keys.
        while let Some(start) = out.find("{v3-key:") {
            let end = out[start..]
                .find('}')
                .map(|i| start + i)
                .expect("{v3-key:NAME} is closed");
            let key = crate::fixtures::v3_key(&out[start + 8..end]);
            out.replace_range(start..=end, key);
        }
        if out.contains("{vector:") {
            let v = crate::fixtures::vectors();
            out = out
                .replace(
                    "{vector:jws}",
                    v["jws"]["token"].as_str().expect("jws token"),
                )
                .replace(
                    "{vector:jwe}",
                    v["jwe"]["token"].as_str().expect("jwe token"),
                );
        }
        assert!(
            !out.contains("{saved:"),
            "unknown saved value in {text:?} (saved: {:?})",
            self.saved.keys().collect::<Vec<_>>()
        );
        out
    }
}

/// `{U+000A}` → a line feed, and so on (any Unicode scalar value, 4 to 6 hex digits).
fn expand_code_points(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("{U+") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let decoded = after.find('}').and_then(|end| {
            let hex = &after[..end];
            let c = (4..=6)
                .contains(&hex.len())
                .then(|| u32::from_str_radix(hex, 16).ok())
                .flatten()
                .and_then(char::from_u32)?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => panic!("{{U+…}} needs 4 to 6 hex digits of a character: {text:?}"),
        }
    }
    out.push_str(rest);
    out
}
