//! A scriptable OAuth 2.0 / OpenID Connect / OAuth 1.0a provider for the scenarios: a real
//! HTTP server on 127.0.0.1:0 that Portcullis reaches through its real HTTP adapter.
//!
//! By default it behaves like a strict, correct provider: discovery names its issuer; the
//! authorisation endpoint records what it was sent and answers with a code bound to the
//! client, redirect URI, PKCE challenge and nonce (the scenario plays the browser); the
//! token endpoint checks the client secret, the code (once), the redirect URI and the PKCE
//! verifier, and mints RS256 ID tokens; userinfo wants a token it issued; the OAuth 1.0a
//! endpoints check every HMAC-SHA1 signature. A scenario can replace any endpoint's answer
//! (status, body, content type, a huge body, a redirect), make it unreachable, or change the
//! ID tokens (claims, algorithm, key).
//!
//! Every request is recorded, and every secret the provider handed out is remembered, so a
//! scenario can check what Portcullis sent and that none of it reached a log line.

mod id_token;
mod oauth1;
mod oauth1_endpoints;
mod openid;
mod reply;
mod routing;
mod token;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{HeaderMap, Method};
use portcullis_server::ShutdownHandle;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use warp::Filter as _;

pub(crate) use id_token::Signing;

use routing::handle;

/// What an endpoint of the provider is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Discovery,
    Jwks,
    Authorize,
    Token,
    Userinfo,
    RequestToken,
    OAuth1Authorize,
    AccessToken,
    Profile,
}

impl Role {
    pub(crate) fn parse(name: &str) -> Role {
        match name {
            "discovery" => Role::Discovery,
            "jwks" | "JWKS" => Role::Jwks,
            "authorization" | "authorize" => Role::Authorize,
            "token" => Role::Token,
            "userinfo" => Role::Userinfo,
            "request-token" => Role::RequestToken,
            "oauth1-authorize" => Role::OAuth1Authorize,
            "access-token" => Role::AccessToken,
            "profile" => Role::Profile,
            other => panic!("the provider has no {other:?} endpoint"),
        }
    }

    /// Where the endpoint lives unless a preset's path is aliased to it.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Role::Discovery => "/.well-known/openid-configuration",
            Role::Jwks => "/jwks",
            Role::Authorize => "/authorize",
            Role::Token => "/token",
            Role::Userinfo => "/userinfo",
            Role::RequestToken => "/oauth1/request_token",
            Role::OAuth1Authorize => "/oauth1/authorize",
            Role::AccessToken => "/oauth1/access_token",
            Role::Profile => "/oauth1/profile",
        }
    }

    const ALL: [Role; 9] = [
        Role::Discovery,
        Role::Jwks,
        Role::Authorize,
        Role::Token,
        Role::Userinfo,
        Role::RequestToken,
        Role::OAuth1Authorize,
        Role::AccessToken,
        Role::Profile,
    ];
}

/// An answer a scenario put in place of an endpoint's own.
#[derive(Debug, Clone)]
pub(crate) enum Canned {
    Status {
        status: u16,
        content_type: Option<String>,
        body: Vec<u8>,
    },
    /// 200 with a JSON-looking body of this many bytes.
    Huge(usize),
    Redirect(String),
}

/// One request the provider received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub role: Option<Role>,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(&self.form)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A code the authorisation endpoint issued.
#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    nonce: Option<String>,
    scope: String,
    used: bool,
}

/// An OAuth 1.0a request token.
#[derive(Debug, Clone)]
struct RequestToken {
    secret: String,
    callback: String,
    verifier: String,
    used: bool,
}

/// The provider's current time, as the site sees it (the embedded target's clock, or the
/// system's).
pub(crate) type Now = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What the provider knows and what the scenario scripted.
pub(crate) struct State {
    now: Now,
    origin: String,
    dead_origin: String,
    /// Client id → secret.
    pub clients: HashMap<String, String>,
    /// The signed-in user at the provider: OpenID claims (`sub`, `name`, `email` …).
    pub user: Map<String, Value>,
    /// Merged into every ID token (`null` removes a claim).
    pub id_token_claims: Map<String, Value>,
    /// Merged into every userinfo answer.
    pub userinfo_claims: Map<String, Value>,
    pub signing: Signing,
    /// The keys the JWKS publishes.
    pub published: Vec<usize>,
    /// The `issuer` the discovery document names (default: the provider's origin).
    pub discovery_issuer: Option<String>,
    /// Send RFC 9207's `iss` with the authorisation response.
    pub send_iss: Option<String>,
    /// `expires_in` of access tokens.
    pub expires_in: i64,
    /// Refresh grants are refused.
    pub refuse_refresh: bool,
    /// Replaces the body of a successful token or userinfo answer (a preset's fixture).
    pub token_body: Option<Value>,
    pub userinfo_body: Option<Value>,
    pub canned: HashMap<Role, Canned>,
    pub dead: HashSet<Role>,
    /// Preset paths served as one of the roles.
    pub aliases: HashMap<String, Role>,
    pub seen: Vec<Seen>,
    /// Every code, token and secret handed out, for the log checks.
    pub issued: Vec<String>,
    /// Access and refresh tokens, newest last.
    pub access_tokens: Vec<String>,
    pub refresh_tokens: Vec<String>,
    revoked: HashSet<String>,
    codes: HashMap<String, Grant>,
    request_tokens: HashMap<String, RequestToken>,
    /// OAuth 1.0a access token → secret.
    oauth1_access: HashMap<String, String>,
    counter: u64,
}

impl State {
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let digest = Sha256::digest(format!("{}:{}:{prefix}", self.origin, self.counter));
        let value = format!("{prefix}-{}", &hex::encode(digest)[..24]);
        self.issued.push(value.clone());
        value
    }

    /// The URL of an endpoint (a port that closes every connection unanswered when the
    /// scenario made it unreachable).
    pub(crate) fn url(&self, role: Role) -> String {
        let origin = if self.dead.contains(&role) {
            &self.dead_origin
        } else {
            &self.origin
        };
        format!("{origin}{}", role.path())
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.origin
    }

    pub(crate) fn now(&self) -> i64 {
        (self.now)()
    }

    /// Follows another clock (a site built from the server's configuration runs on the
    /// system clock whatever the target).
    pub(crate) fn set_now(&mut self, now: Now) {
        self.now = now;
    }
}

/// The running provider. Dropping it stops the server.
pub(crate) struct TestProvider {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _server: ShutdownHandle,
    _unreachable: AbortOnDrop,
}

/// Stops the unreachable endpoint's task (and frees its port) with the provider.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for TestProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProvider")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestProvider {
    pub(crate) async fn start(now: Now) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the provider binds 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        // A port that serves nothing: every connection is closed unanswered. It stays
        // bound while the provider lives, so no other server started meanwhile (the suite
        // starts many on 127.0.0.1:0) can take the port and answer in its place.
        let dead_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the unreachable endpoint binds 127.0.0.1:0");
        let dead = dead_listener.local_addr().expect("a bound address");
        let dead_task = tokio::spawn(async move {
            while let Ok((connection, _)) = dead_listener.accept().await {
                drop(connection);
            }
        });
        let origin = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State {
            now,
            origin,
            dead_origin: format!("http://{dead}"),
            clients: HashMap::new(),
            user: default_user(),
            id_token_claims: Map::new(),
            userinfo_claims: Map::new(),
            signing: Signing::Key(0),
            published: vec![0],
            discovery_issuer: None,
            send_iss: None,
            expires_in: 3600,
            refuse_refresh: false,
            token_body: None,
            userinfo_body: None,
            canned: HashMap::new(),
            dead: HashSet::new(),
            aliases: HashMap::new(),
            seen: Vec::new(),
            issued: Vec::new(),
            access_tokens: Vec::new(),
            refresh_tokens: Vec::new(),
            revoked: HashSet::new(),
            codes: HashMap::new(),
            request_tokens: HashMap::new(),
            oauth1_access: HashMap::new(),
            counter: 0,
        }));
        let shared = state.clone();
        let routes = warp::any()
            .and(warp::method())
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
                    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                    handle(&mut state, &method, path.as_str(), &query, &headers, &body)
                },
            );
        let (addr, server) =
            portcullis_server::serve_on(listener, routes, futures::future::pending())
                .expect("the provider serves");
        Self {
            addr,
            state,
            _server: server,
            _unreachable: AbortOnDrop(dead_task),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The user the provider signs in unless a scenario names another.
fn default_user() -> Map<String, Value> {
    let user = json!({
        "sub": "248289761001",
        "name": "Jane Doe",
        "email": "jane@example.com",
        "email_verified": true,
        "picture": "https://idp.example/jane.png",
    });
    user.as_object().cloned().unwrap_or_default()
}
