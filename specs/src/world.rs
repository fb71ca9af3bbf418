//! The World: one scenario's site (engine or real server), browser (cookie jar) and what the
//! last request returned.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cucumber::World;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use portcullis::{CookieKey, CookiePolicy, CredentialField, Pages, Portcullis, Provider};
use time::OffsetDateTime;

use crate::doubles::{
    backend, AppSender, Backend, EventLog, HookScript, PlainCodec, ScriptedHooks, Seen, SpecStore,
    TestClock,
};
use crate::mailbox::Delivered;
use crate::matching::Window;
use crate::stores::StoreKind;

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

/// The secret every site uses unless a scenario says otherwise (44 bytes).
pub const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";
/// Where the embedded clock starts: 2023-11-14T22:13:20Z (the §19 vectors' `iat`).
pub const START_UNIX: i64 = 1_700_000_000;
/// Longest any request may take before the scenario fails ("never a hang").
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How the scenario's site is configured.
#[derive(Debug, Clone)]
pub struct Setup {
    pub url: String,
    pub secrets: Vec<String>,
    pub allow_short_secret: bool,
    pub encryption: bool,
    pub session_max_age: Option<i64>,
    pub jwt_max_age: Option<i64>,
    pub use_secure_cookies: Option<bool>,
    pub cookies: Vec<(CookieKey, CookiePolicy)>,
    pub pages: Pages,
    pub backend: Backend,
    /// Credentials providers configured without a backend.
    pub unbacked: Vec<String>,
    pub hooks: HookScript,
    pub plain_codec: bool,
    /// The built-in `credentials` provider (on unless database sessions are).
    pub credentials: bool,
    pub database_sessions: bool,
    /// Seconds between writes that extend a database session (`updateAge`).
    pub session_update_age: Option<i64>,
    /// Seconds a session may last from its sign-in (`session.absolute_max_age`).
    pub session_absolute_max_age: Option<i64>,
    /// JWT sign-out revokes the token in the store (`jwt.revocable`).
    pub jwt_revocable: bool,
    pub store: StoreMode,
    /// The e-mail provider `email`, with its links' lifetime in seconds.
    pub email: Option<i64>,
    /// How magic links are delivered.
    pub mail: MailMode,
    pub throttle: Option<portcullis_domain::config::ThrottleSettings>,
    /// Built by the server's own configuration code instead (TOML text).
    pub server_config: Option<String>,
    pub server_dev_mode: bool,
    /// What serves `server_config` on the HTTP target.
    pub frontend: Frontend,
    /// OAuth providers (their endpoints on the scenario's test provider).
    pub oauth: Vec<OAuthEntry>,
    /// JWT sessions keep the provider's tokens and renew the access token on read.
    pub provider_tokens_in_jwt: bool,
    /// v3's `jwt.signingKey` / `jwt.encryptionKey` (JWK JSON strings).
    pub jwt_signing_key: Option<String>,
    pub jwt_encryption_key: Option<String>,
}

/// The browser's side of an OAuth sign-in under way.
#[derive(Debug, Clone, Default)]
pub struct OAuthBrowser {
    /// Where the site sent the browser: the provider's authorisation URL.
    pub authorization_url: Option<String>,
    /// Where the provider sends the browser back: the site's callback, by GET (a URL with
    /// the answer in its query) or by a form POST (Apple's `form_post`).
    pub back: Option<ProviderAnswer>,
}

/// The provider's answer to an authorisation request, as the browser carries it back.
#[derive(Debug, Clone)]
pub struct ProviderAnswer {
    /// The callback URL (absolute, on the site), without the answer when it is POSTed.
    pub url: String,
    /// The answer's fields, in the query (GET) or the form body (POST).
    pub fields: Vec<(String, String)>,
    pub post: bool,
}

/// One configured OAuth provider of the site.
#[derive(Debug, Clone)]
pub struct OAuthEntry {
    pub id: String,
    pub name: String,
    pub provider: portcullis::OAuthProvider,
    /// Built from the built-in preset of this id (with `preset_options`).
    pub preset: bool,
}

impl Setup {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            secrets: vec![SECRET.to_owned()],
            allow_short_secret: false,
            encryption: false,
            session_max_age: None,
            jwt_max_age: None,
            use_secure_cookies: None,
            cookies: Vec::new(),
            pages: Pages::default(),
            backend: Backend::Users,
            unbacked: Vec::new(),
            hooks: HookScript::default(),
            plain_codec: false,
            credentials: true,
            database_sessions: false,
            session_update_age: None,
            session_absolute_max_age: None,
            jwt_revocable: false,
            store: StoreMode::None,
            email: None,
            mail: MailMode::Smtp,
            throttle: None,
            server_config: None,
            server_dev_mode: false,
            frontend: Frontend::Server,
            oauth: Vec::new(),
            provider_tokens_in_jwt: false,
            jwt_signing_key: None,
            jwt_encryption_key: None,
        }
    }
}

/// Which store the site has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    None,
    /// Records and refuses every call.
    Refusing,
    /// A fresh store of the run's kind ([`AuthWorld::store_kind`]; failures injectable).
    Backed,
}

/// How the site delivers magic links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailMode {
    /// The built-in template through the SMTP adapter to the test SMTP server.
    Smtp,
    /// The SMTP adapter pointed at a port where nothing listens.
    Unreachable,
    /// The app's own sender (v3's `sendVerificationRequest`), a double; failing or not.
    AppSender { fails: bool },
}

/// The site as it runs. With the real binary, `app` is the same configuration checked
/// in process (`portcullis config check`'s engine), read for cookie names and the like.
struct Running {
    app: Portcullis,
    server: Option<Served>,
    /// Keeps a server configuration's data directory alive.
    _data_dir: Option<tempfile::TempDir>,
}

/// What runs a scenario's configuration file on the HTTP target (the embedded target runs
/// it in process, whichever is named).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Frontend {
    /// `portcullis serve`.
    #[default]
    Server,
    /// `portcullis-lambda` under cargo-lambda's emulator.
    Lambda,
    /// The axum example app (`examples/axum`), its engine built from the file.
    Axum,
}

/// The server the HTTP target speaks to. One per scenario: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Served {
    /// `portcullis serve` from the scenario's configuration file.
    Binary(crate::binary::ServerProcess),
    /// `portcullis-lambda` from the scenario's configuration file, under the emulator.
    Lambda(crate::lambda::LambdaProcess),
}

impl Served {
    fn addr(&self) -> SocketAddr {
        match self {
            Served::Binary(process) => process.addr,
            Served::Lambda(process) => process.addr,
        }
    }

    /// What comes before the site's paths on this server.
    fn prefix(&self) -> &str {
        match self {
            Served::Binary(_) => "",
            Served::Lambda(process) => &process.prefix,
        }
    }

    async fn stop(self) {
        match self {
            Served::Binary(process) => process.stop().await,
            Served::Lambda(process) => process.stop().await,
        }
    }
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub window: Window,
}

impl Resp {
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {:?}", self.body))
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub target: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Send the jar's cookies (unless the request has its own `Cookie` header).
    pub with_jar: bool,
    /// Over HTTP, write the request on a bare TCP connection and read the answer while
    /// the body is still going out (a server may answer a huge upload early and close).
    pub raw: bool,
    /// The client's address as the embedded app is told it (`handle_from`).
    pub client_ip: Option<std::net::IpAddr>,
}

impl Req {
    pub fn new(method: Method, target: &str) -> Self {
        Self {
            method,
            target: target.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
            with_jar: true,
            raw: false,
            client_ip: None,
        }
    }

    pub fn header(mut self, name: &str, value: HeaderValue) -> Self {
        self.headers.push((
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value,
        ));
        self
    }

    pub fn form(self, body: String) -> Self {
        let mut req = self.header(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        req.body = Bytes::from(body);
        req
    }
}

/// The browser's cookies: name → value as sent on the wire, in the order first set.
#[derive(Debug, Clone, Default)]
pub struct Jar(Vec<(String, String)>);

impl Jar {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.0.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| n != name);
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `Cookie` header a browser would send.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Applies one `Set-Cookie` line as a browser would (expiry, deletion).
    pub fn apply(&mut self, line: &str, now: OffsetDateTime) {
        let mut parts = line.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        let mut gone = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "max-age" => gone |= val.trim().parse::<i64>().is_ok_and(|s| s <= 0),
                "expires" => {
                    gone |= httpdate::parse_http_date(val.trim())
                        .is_ok_and(|at| at <= std::time::SystemTime::from(now))
                }
                _ => {}
            }
        }
        if gone {
            self.remove(name);
        } else {
            self.set(name, value);
        }
    }
}

#[derive(World)]
#[world(init = Self::new)]
pub struct AuthWorld {
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
    pub fn keep_dir(&mut self, dir: tempfile::TempDir) {
        self.kept_dirs.push(dir);
    }

    /// The site's configuration, to change before the first request.
    /// Changing a running site restarts it (the browser keeps its cookies).
    pub fn setup_mut(&mut self) -> &mut Setup {
        // Dropping the server's handle shuts it down.
        self.running = None;
        self.setup
            .as_mut()
            .expect("no site yet: start with `Given a site at \"…\"`")
    }

    pub fn setup(&self) -> &Setup {
        self.setup
            .as_ref()
            .expect("no site yet: start with `Given a site at \"…\"`")
    }

    /// The current time as the site sees it.
    pub fn now(&self) -> OffsetDateTime {
        match self.target {
            Target::Embedded => portcullis::Clock::now(self.clock.as_ref()),
            Target::Http => OffsetDateTime::now_utc(),
        }
    }

    /// Stops the site; the next request starts it again with the current setup (a restart:
    /// the browser keeps its cookies).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            if let Some(server) = running.server {
                server.stop().await;
            }
        }
    }

    /// After the scenario: stops the site, removes the mail it was sent and its store's
    /// database.
    pub async fn finish(&mut self) {
        self.stop().await;
        let _ = crate::mailbox::take_from(&self.mail_sender);
        crate::steps::drop_password_tables(std::mem::take(&mut self.password_tables)).await;
        if let Some(store) = self.store.take() {
            store.dispose().await;
        }
    }

    /// The running engine, started on first use.
    pub async fn app(&mut self) -> Portcullis {
        if self.running.is_none() {
            let running = self.start().await;
            self.running = Some(running);
        }
        self.running.as_ref().expect("started").app.clone()
    }

    /// The real server's address (HTTP target, once started).
    pub fn server_addr(&self) -> Option<SocketAddr> {
        self.running
            .as_ref()
            .and_then(|r| r.server.as_ref())
            .map(Served::addr)
    }

    /// The scenario's store (made on first use, as the setup says), kept across restarts.
    pub async fn store(&mut self) -> Arc<SpecStore> {
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

    async fn start(&mut self) -> Running {
        if self.setup().store != StoreMode::None {
            self.store().await;
        }
        let setup = self.setup().clone();
        if let (Some(toml), Target::Http) = (&setup.server_config, self.target) {
            return start_binary(toml, setup.server_dev_mode, setup.frontend).await;
        }
        if self.target == Target::Http {
            let toml = match in_process_only(&setup, self.store_kind) {
                Some(why) => Err(why.to_owned()),
                None => self.server_toml(&setup).await,
            };
            // The HTTP target runs the real binary only.
            match toml {
                Ok(toml) => return self.start_configured(&toml).await,
                Err(why) => panic!(
                    "the HTTP target runs the real binary, and this setup cannot: {why}; tag \
                     the scenario @embedded"
                ),
            }
        }
        // The embedded target: the engine in process, no server.
        let (app, data_dir) = match &setup.server_config {
            Some(toml) => {
                let (app, dir) = build_from_server_config(toml, setup.server_dev_mode);
                (app, Some(dir))
            }
            None => (self.build(&setup), None),
        };
        let server = None;
        Running {
            app,
            server,
            _data_dir: data_dir,
        }
    }

    /// Runs the real binary from the configuration file `toml`, in the scenario's directory.
    async fn start_configured(&mut self, toml: &str) -> Running {
        let config = portcullis_server::ServerConfig::from_toml(toml)
            .unwrap_or_else(|e| panic!("the server configuration is refused: {e}\n{toml}"));
        let app = portcullis_server::app::check(&config)
            .unwrap_or_else(|e| panic!("the server configuration does not check: {e}\n{toml}"));
        if self.binary_sled.is_some() {
            self.release_sled().await;
        }
        let dir = self.site_dir();
        let process = crate::binary::ServerProcess::start(&dir, toml, false).await;
        Running {
            app,
            server: Some(Served::Binary(process)),
            _data_dir: None,
        }
    }

    /// The server configuration (TOML) that runs `setup` on the real binary: what
    /// [`Self::build`] builds in process, as an operator writes it.
    async fn server_toml(&mut self, setup: &Setup) -> Result<String, String> {
        use serde_json::json;
        let dir = self.site_dir();
        let mut session = json!({
            "strategy": if setup.database_sessions { "database" } else { "jwt" },
        });
        if let Some(age) = setup.session_max_age {
            session["max_age"] = json!(age);
        }
        if let Some(age) = setup.session_update_age {
            session["update_age"] = json!(age);
        }
        if let Some(age) = setup.session_absolute_max_age {
            session["absolute_max_age"] = json!(age);
        }
        let mut jwt = json!({ "encryption": setup.encryption });
        if setup.jwt_revocable {
            jwt["revocable"] = json!(true);
        }
        if let Some(age) = setup.jwt_max_age {
            jwt["max_age"] = json!(age);
        }
        if let Some(jwk) = &setup.jwt_signing_key {
            jwt["signing_key"] = json!(jwk);
        }
        if let Some(jwk) = &setup.jwt_encryption_key {
            jwt["encryption_key"] = json!(jwk);
        }
        let mut cookies = serde_json::Map::new();
        for (key, policy) in &setup.cookies {
            let name = match key {
                CookieKey::SessionToken => "sessionToken",
                CookieKey::CallbackUrl => "callbackUrl",
                CookieKey::CsrfToken => "csrfToken",
                CookieKey::PkceCodeVerifier => "pkceCodeVerifier",
                CookieKey::State => "state",
                CookieKey::Nonce => "nonce",
                CookieKey::OAuthTokenSecret => "oauthTokenSecret",
            };
            cookies.insert(name.into(), json!(policy));
        }
        if self.backend_service.is_none() && (setup.credentials || !setup.unbacked.is_empty()) {
            let service = crate::steps::BackendService::start(self.authorize_seen.clone()).await;
            self.backend_service = Some(service);
        }
        let mut providers: Vec<serde_json::Value> = Vec::new();
        for id in &setup.unbacked {
            // The server has no credentials provider without a backend (it refuses to
            // start): one whose service never answers is the nearest.
            let service = self.backend_service.as_ref().expect("started");
            providers.push(json!({
                "type": "credentials",
                "id": id,
                "name": id,
                "http": {
                    "url": crate::mailbox::unreachable_url().replace("smtp://", "http://"),
                    "secret": service.secret,
                },
            }));
        }
        providers.extend(setup.oauth.iter().map(oauth_provider_config));
        if setup.credentials {
            let service = self.backend_service.as_ref().expect("started");
            providers.push(json!({
                "type": "credentials",
                "id": "credentials",
                "name": "Credentials",
                "http": { "url": service.url, "secret": service.secret },
            }));
        }
        if let Some(max_age) = setup.email {
            let smtp = match setup.mail {
                MailMode::Unreachable => crate::mailbox::unreachable_url(),
                _ => {
                    if let Err(why) = crate::mailbox::preflight() {
                        panic!("{why}");
                    }
                    crate::mailbox::smtp_url()
                }
            };
            providers.push(json!({
                "type": "email",
                "id": "email",
                "name": "Email",
                "max_age": max_age,
                "smtp": smtp,
                "from": format!("Portcullis <{}>", self.mail_sender),
            }));
        }
        let mut config = json!({
            "url": setup.url,
            "secret": setup.secrets,
            "allow_short_secret": setup.allow_short_secret,
            // The scenario's providers run on 127.0.0.1 (issue 11 §9).
            "allow_private_network": true,
            "data_dir": dir.join("data"),
            "session": session,
            "jwt": jwt,
            "cookies": cookies,
            "pages": setup.pages,
            "providers": providers,
        });
        if let Some(on) = setup.use_secure_cookies {
            config["use_secure_cookies"] = json!(on);
        }
        match setup.store {
            StoreMode::None => config["stateless"] = json!(true),
            StoreMode::Backed => {
                let store = self.store().await;
                match &store.location {
                    _ if self.binary_sled.is_some() => {}
                    crate::stores::Location::Sql(url) => config["database"] = json!(url),
                    crate::stores::Location::Mongo { url, database } => {
                        let mut url = url::Url::parse(url).expect("a MongoDB URL");
                        url.set_path(&format!("/{database}"));
                        config["database"] = json!(url.to_string());
                    }
                    crate::stores::Location::ThisHandle => {
                        panic!(
                            "the {:?} store cannot be shared with the binary",
                            store.kind
                        )
                    }
                }
            }
            StoreMode::Refusing => panic!("a recording store runs in process only"),
        }
        if setup.provider_tokens_in_jwt {
            config["jwt"]["provider_tokens"] = json!(true);
        }
        let toml = toml::to_string(&without_nulls(config))
            .unwrap_or_else(|e| panic!("the server configuration as TOML: {e}"));
        // Each OAuth provider must come out of the file exactly as the scenario made it.
        let parsed = portcullis_server::ServerConfig::from_toml(&toml)
            .unwrap_or_else(|e| panic!("the server configuration is refused: {e}\n{toml}"));
        for entry in &setup.oauth {
            let built = parsed.providers.iter().find_map(|p| match p {
                portcullis_server::ProviderConfig::Oauth(o) if o.id() == entry.id => {
                    Some(o.build())
                }
                _ => None,
            });
            match built {
                Some(Ok((id, name, provider)))
                    if id == entry.id && name == entry.name && provider == entry.provider => {}
                other => {
                    return Err(format!(
                        "the OAuth provider {:?} cannot be described in the file ({other:?})",
                        entry.id
                    ))
                }
            }
        }
        Ok(toml)
    }

    fn build(&mut self, setup: &Setup) -> Portcullis {
        // The scenarios' providers run on 127.0.0.1 (issue 11 §9).
        let mut builder = Portcullis::builder()
            .url(&setup.url)
            .allow_private_network(true);
        for secret in &setup.secrets {
            builder = builder.secret(secret);
        }
        let s = setup.clone();
        builder = builder.configure(move |mut c| {
            c = c
                .allow_short_secret(s.allow_short_secret)
                .jwt_encryption(s.encryption);
            if let Some(age) = s.session_max_age {
                c = c.session_max_age(age);
            }
            if let Some(age) = s.jwt_max_age {
                c = c.jwt_max_age(age);
            }
            if let Some(on) = s.use_secure_cookies {
                c = c.use_secure_cookies(on);
            }
            for (key, policy) in s.cookies {
                c = c.cookie(key, policy);
            }
            for id in &s.unbacked {
                c = c.provider(Provider::credentials(id, id, credential_fields()));
            }
            if s.database_sessions {
                c = c.session_strategy(portcullis::SessionStrategy::Database);
            }
            if let Some(age) = s.session_update_age {
                c = c.session_update_age(age);
            }
            if let Some(age) = s.session_absolute_max_age {
                c = c.session_absolute_max_age(age);
            }
            c = c.jwt_revocable(s.jwt_revocable);
            if let Some(throttle) = s.throttle {
                c = c.throttle(throttle);
            }
            if s.plain_codec {
                c = c.codec(Arc::new(PlainCodec));
            }
            if let Some(jwk) = &s.jwt_signing_key {
                c = c.jwt_signing_key(jwk.as_str());
            }
            if let Some(jwk) = &s.jwt_encryption_key {
                c = c.jwt_encryption_key(jwk.as_str());
            }
            c.provider_tokens_in_jwt(s.provider_tokens_in_jwt)
                .pages(s.pages)
        });
        for entry in &setup.oauth {
            builder = builder.oauth(&entry.id, &entry.name, entry.provider.clone());
        }
        if setup.credentials {
            builder = builder.credentials(
                "credentials",
                "Credentials",
                credential_fields(),
                backend(setup.backend.clone(), self.authorize_seen.clone()),
            );
        }
        if let Some(max_age) = setup.email {
            builder = builder.email("email", "Email", max_age);
            builder = match setup.mail {
                MailMode::Smtp => builder.mailer(crate::mailbox::smtp_mailer(&self.mail_sender)),
                MailMode::Unreachable => {
                    builder.mailer(crate::mailbox::unreachable_mailer(&self.mail_sender))
                }
                MailMode::AppSender { fails } => {
                    let sender = self
                        .app_sender
                        .get_or_insert_with(|| {
                            Arc::new(AppSender {
                                fails,
                                ..AppSender::default()
                            })
                        })
                        .clone();
                    builder.verification_sender(sender)
                }
            };
        }
        if setup.hooks.any() {
            let scripted = ScriptedHooks {
                script: setup.hooks.clone(),
                events: self.events.clone(),
            };
            builder = builder.hooks(scripted.into_hooks());
        }
        if setup.store != StoreMode::None {
            let store = self
                .store
                .clone()
                .expect("the store is made before the site");
            builder = builder.store(store);
        }
        if self.target == Target::Embedded {
            builder = builder.clock(self.clock.clone());
        }
        builder
            .observe(crate::coverage::observer(self.target))
            .build()
            .unwrap_or_else(|e| panic!("the site's configuration is refused: {e}"))
    }

    /// Sends a request to the site (embedded call or real HTTP), updates the jar from the
    /// answer and keeps it as `last`.
    pub async fn send(&mut self, mut req: Req) -> Resp {
        let app = self.app().await;
        if req.with_jar
            && !self.jar.is_empty()
            && !req.headers.iter().any(|(n, _)| n == http::header::COOKIE)
        {
            let header = HeaderValue::from_str(&self.jar.header()).expect("jar cookies are ASCII");
            req.headers.push((http::header::COOKIE, header));
        }
        let start = self.now();
        let (status, headers, body) = match &self.running.as_ref().expect("running").server {
            None => {
                let mut request = http::Request::new(req.body.clone());
                *request.method_mut() = req.method.clone();
                *request.uri_mut() = req.target.parse().expect("a request target");
                for (name, value) in &req.headers {
                    request.headers_mut().append(name.clone(), value.clone());
                }
                // The engine's log lines go to this scenario's buffer only.
                let handled = tracing::instrument::WithSubscriber::with_subscriber(
                    app.handle_from(request, req.client_ip),
                    self.logs.dispatch(),
                );
                let response = tokio::time::timeout(REQUEST_TIMEOUT, handled)
                    .await
                    .unwrap_or_else(|_| panic!("{} {} hung", req.method, req.target));
                let (parts, body) = response.into_parts();
                (parts.status.as_u16(), parts.headers, body)
            }
            Some(_) if req.client_ip.is_some() => {
                panic!("a client address is told to the embedded engine only: tag the scenario @embedded")
            }
            Some(server) if req.raw && !server.prefix().is_empty() => {
                panic!("raw requests go to `portcullis serve` only")
            }
            Some(server) if req.raw => {
                let addr = server.addr();
                tokio::time::timeout(REQUEST_TIMEOUT, raw_http(addr, &req))
                    .await
                    .unwrap_or_else(|_| panic!("{} {} hung", req.method, req.target))
            }
            Some(server) => {
                let url = format!("http://{}{}{}", server.addr(), server.prefix(), req.target);
                let mut request = self.client.request(req.method.clone(), &url);
                for (name, value) in &req.headers {
                    request = request.header(name.clone(), value.clone());
                }
                let response = request
                    .body(req.body.clone())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{} {url}: {e:?}", req.method));
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response
                    .bytes()
                    .await
                    .unwrap_or_else(|e| panic!("{} {url}: reading the body: {e:?}", req.method));
                (status, headers, String::from_utf8_lossy(&body).into_owned())
            }
        };
        let end = self.now();
        let resp = Resp {
            status,
            headers,
            body,
            window: Window { start, end },
        };
        for line in resp.set_cookies() {
            self.jar.apply(&line, end);
            if let Some((name, _)) = line.split_once('=') {
                self.cookie_windows
                    .insert(name.trim().to_owned(), resp.window);
            }
        }
        if let Some(token) = crate::steps::csrf_in(&resp) {
            self.csrf = Some(token);
        }
        self.last = Some(resp.clone());
        resp
    }

    pub fn last(&self) -> &Resp {
        self.last.as_ref().expect("no request was sent yet")
    }

    /// The name of the session cookie on this site.
    pub async fn cookie_name(&mut self, key: CookieKey) -> String {
        let app = self.app().await;
        app.config().cookies.get(key).name.clone()
    }

    /// Replaces `{csrf}`, `{saved:NAME}`, `{vector:jws}`, `{vector:jwe}` and `{U+XXXX}`
    /// (that character: Gherkin has no escapes in table cells) in `text`.
    pub fn expand(&self, text: &str) -> String {
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

/// Why `setup` cannot run on the real binary (only in process: tag its scenarios
/// `@embedded`), or `None`.
pub fn in_process_only(setup: &Setup, store_kind: StoreKind) -> Option<&'static str> {
    let reasons = [
        (setup.hooks.any(), "scripted callbacks (Rust hooks)"),
        (setup.plain_codec, "a custom session codec"),
        (
            setup.store == StoreMode::Refusing,
            "a store that records every call",
        ),
        (
            setup.backend != Backend::Users,
            "a credentials backend that throws",
        ),
        (
            setup.throttle.is_some(),
            "rate limits other than the defaults",
        ),
        (
            matches!(setup.mail, MailMode::AppSender { .. }),
            "the app's own link sender",
        ),
        (
            setup.email.is_some() && setup.store == StoreMode::None,
            "e-mail sign-in without a store (the server refuses to start)",
        ),
        (
            setup.store == StoreMode::Backed && store_kind == StoreKind::Memory,
            "the specs' own store (an in-process object)",
        ),
    ];
    reasons
        .into_iter()
        .find_map(|(applies, why)| applies.then_some(why))
}

/// The `[[providers]]` entry of an OAuth provider (what `oauth_config.rs` reads).
fn oauth_provider_config(entry: &OAuthEntry) -> serde_json::Value {
    use portcullis::oauth::{ClientSecret, ProfileSource, Protocol};
    use serde_json::json;
    let p = &entry.provider;
    let e = &p.endpoints;
    let pairs = |list: &[(String, String)]| -> serde_json::Map<String, serde_json::Value> {
        list.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
    };
    let mut c = json!({
        "type": "oauth",
        "id": entry.id,
        "name": entry.name,
        "client_id": p.client_id,
        "issuer": e.issuer,
        "authorization_url": e.authorization,
        "token_url": e.token,
        "userinfo_url": e.userinfo,
        "jwks_uri": e.jwks_uri,
        "request_token_url": e.request_token,
        "scope": p.scope,
        "authorization_params": pairs(&p.authorization_params),
        "token_params": pairs(&p.token_params),
        "headers": pairs(&p.headers),
        "checks": { "state": p.checks.state, "pkce": p.checks.pkce, "nonce": p.checks.nonce },
        "client_auth": match p.client_auth {
            portcullis_domain::oauth::ClientAuth::Post => "post",
            portcullis_domain::oauth::ClientAuth::Basic => "basic",
        },
        "profile_source": match p.profile_source {
            ProfileSource::Userinfo => "userinfo",
            ProfileSource::IdToken => "id_token",
            ProfileSource::IdTokenAndUserinfo => "id_token_and_userinfo",
        },
        "allow_dangerous_email_account_linking": p.allow_dangerous_email_account_linking,
    });
    if entry.preset {
        // The preset with the scenarios' options; its parameters are the preset's own.
        let options = crate::steps::preset_options(&entry.id);
        c["preset"] = json!(entry.id);
        c["domain"] = json!(options.domain);
        c["tenant"] = json!(options.tenant);
        c["region"] = json!(options.region);
        c["api_version"] = json!(options.api_version);
        c["headers"] = json!(pairs(&options.headers));
        if let Some(o) = c.as_object_mut() {
            o.remove("authorization_params");
            o.remove("token_params");
        }
    } else if p.protocol == Protocol::OAuth1 {
        c["protocol"] = json!("oauth1");
    }
    if p.protocol == Protocol::OAuth1 {
        if let Some(o) = c.as_object_mut() {
            o.remove("checks");
        }
    }
    match &p.client_secret {
        ClientSecret::Secret(secret) => c["client_secret"] = json!(secret.expose()),
        ClientSecret::AppleKey {
            key_id,
            team_id,
            private_key,
        } => {
            c["apple_key_id"] = json!(key_id);
            c["apple_team_id"] = json!(team_id);
            c["apple_private_key"] = json!(private_key.expose());
        }
    }
    let path = |field: &portcullis_domain::oauth::Field| match field {
        portcullis_domain::oauth::Field::Path(path) => Some(path.clone()),
        _ => None,
    };
    let m = &p.profile;
    c["profile"] = json!({
        "id": path(&m.id),
        "name": path(&m.name),
        "email": path(&m.email),
        "image": path(&m.image),
        "email_verified": path(&m.email_verified),
    });
    c
}

/// `value` without its `null`s (TOML has none: an absent key is the default).
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// `username` (text) and `password` (password), the form of the scenarios' provider.
pub fn credential_fields() -> Vec<CredentialField> {
    vec![
        CredentialField::new("username", "Username", "text"),
        CredentialField::new("password", "Password", "password"),
    ]
}

/// Runs the real binary from the scenario's configuration file, in a fresh directory with
/// the users file (`{dir}` in the TOML).
async fn start_binary(toml: &str, dev: bool, frontend: Frontend) -> Running {
    let (dir, text) = server_directory(toml);
    let config = portcullis_server::ServerConfig::from_toml(&text)
        .unwrap_or_else(|e| panic!("the server configuration is refused: {e}"));
    let app = match portcullis_server::app::check(&config) {
        Ok(app) => app,
        // Dev mode needs no secret; the binary makes one. The URL decides the cookie names.
        Err(_) if dev => Portcullis::builder()
            .url(config.effective_url())
            .secret(SECRET)
            .build()
            .expect("a minimal engine for the dev site's cookie names"),
        Err(e) => panic!("the server configuration does not check: {e}"),
    };
    let server = match frontend {
        Frontend::Server => {
            Served::Binary(crate::binary::ServerProcess::start(dir.path(), &text, dev).await)
        }
        Frontend::Lambda => {
            assert!(!dev, "the Lambda function has no dev mode");
            Served::Lambda(crate::lambda::LambdaProcess::start(dir.path(), &text).await)
        }
        Frontend::Axum => {
            assert!(!dev, "the axum example has no dev mode");
            Served::Binary(crate::binary::ServerProcess::start_axum(dir.path(), &text).await)
        }
    };
    Running {
        app,
        server: Some(server),
        _data_dir: Some(dir),
    }
}

/// Runs the real binary from `toml` (in a fresh directory, as [`start_binary`] does),
/// expecting it to refuse to start: its exit status and standard error.
pub async fn refused_binary(toml: &str, dev: bool) -> (Option<i32>, String) {
    let (dir, text) = server_directory(toml);
    crate::binary::ServerProcess::refused(dir.path(), &text, dev).await
}

/// Builds the site in process with the server's own code: TOML configuration, users file,
/// sled store. `{dir}` in the TOML is a fresh temporary directory.
fn build_from_server_config(toml: &str, dev: bool) -> (Portcullis, tempfile::TempDir) {
    let (dir, text) = server_directory(toml);
    let config = portcullis_server::ServerConfig::from_toml(&text)
        .unwrap_or_else(|e| panic!("the server configuration is refused: {e}"));
    let app = portcullis_server::build_app(&config, dev)
        .unwrap_or_else(|e| panic!("the server does not start: {e}"));
    (app, dir)
}

/// A fresh directory holding the scenarios' users file; `toml` with `{dir}` replaced.
fn server_directory(toml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let users = dir.path().join("users.toml");
    let hash = portcullis_server::hash_password(crate::doubles::PASSWORD).expect("hashing");
    std::fs::write(
        &users,
        format!(
            "[[users]]\nusername = \"{}\"\npassword_hash = \"{hash}\"\nid = \"42\"\nname = \"Jane Doe\"\nemail = \"jane@example.com\"\n",
            crate::doubles::USERNAME
        ),
    )
    .expect("writing the users file");
    let text = toml.replace("{dir}", &dir.path().display().to_string());
    // Top-level keys first (before any table): the scenarios' providers and services run on
    // 127.0.0.1, which the server refuses unless told (issue 11 §9), and a configuration
    // without a URL is refused outside `--dev`; the scenario's site is where a developer's
    // app would be (as `binary` sets NEXTAUTH_URL). A scenario that sets either keeps it.
    let mut preamble = String::new();
    if !text.contains("allow_private_network") {
        preamble.push_str("allow_private_network = true\n");
    }
    if portcullis_server::ServerConfig::from_toml(&text).is_ok_and(|c| c.url.is_none()) {
        preamble.push_str("url = \"http://localhost:3000\"\n");
    }
    (dir, preamble + &text)
}

/// One HTTP/1.1 request on a fresh TCP connection: the body is written while the answer is
/// read, so an early answer (413 before the upload ends) is seen even if the server then
/// closes the connection.
async fn raw_http(addr: SocketAddr, req: &Req) -> (u16, HeaderMap, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
        req.method,
        req.target,
        req.body.len()
    )
    .into_bytes();
    for (name, value) in &req.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let body = req.body.clone();
    let upload = tokio::spawn(async move {
        // The server may stop reading and close: a failed write is not an error here.
        if writer.write_all(&head).await.is_ok() {
            for chunk in body.chunks(64 * 1024) {
                if writer.write_all(chunk).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
        if let Some(done) = complete_response(&answer) {
            answer.truncate(done);
            break;
        }
    }
    upload.abort();
    parse_response(&answer)
}

/// The length of a complete response at the start of `bytes` (head + content-length body).
fn complete_response(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())?;
    (bytes.len() >= head_end + length).then_some(head_end + length)
}

fn parse_response(bytes: &[u8]) -> (u16, HeaderMap, String) {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(bytes)))
        + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').expect("a header line");
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name"),
            HeaderValue::from_str(value.trim()).expect("a header value"),
        );
    }
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes[head_end..]).into_owned(),
    )
}
