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

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use portcullis_server::ShutdownHandle;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use warp::Filter as _;

pub(crate) use id_token::Signing;

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

type Reply = Response<Vec<u8>>;

fn reply(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(body.into())
        .unwrap_or_default()
}

fn json_reply(status: u16, body: &Value) -> Reply {
    reply(status, "application/json", body.to_string())
}

fn oauth_error(status: u16, error: &str) -> Reply {
    json_reply(status, &json!({ "error": error }))
}

fn redirect(location: &str) -> Reply {
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .body(Vec::new())
        .unwrap_or_default()
}

fn pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn handle(
    state: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Reply {
    let role = Role::ALL
        .into_iter()
        .find(|r| r.path() == path)
        .or_else(|| state.aliases.get(path).copied());
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let seen = Seen {
        role,
        method: method.to_string(),
        path: path.to_owned(),
        query: pairs(query),
        form: if is_form {
            pairs(&String::from_utf8_lossy(body))
        } else {
            Vec::new()
        },
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    state.seen.push(seen.clone());
    let Some(role) = role else {
        return reply(404, "text/plain", "not found");
    };
    if let Some(canned) = state.canned.get(&role).cloned() {
        return match canned {
            Canned::Status {
                status,
                content_type,
                body,
            } => reply(
                status,
                content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
                body,
            ),
            Canned::Huge(n) => {
                let mut body = Vec::with_capacity(n);
                body.extend_from_slice(b"{\"padding\":\"");
                body.resize(n.saturating_sub(2), b'a');
                body.extend_from_slice(b"\"}");
                reply(200, "application/json", body)
            }
            Canned::Redirect(location) => redirect(&location),
        };
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match role {
        Role::Discovery => discovery(state),
        Role::Jwks => json_reply(200, &id_token::jwks(&state.published)),
        Role::Authorize => authorize(state, &seen),
        Role::Token => token(state, &seen),
        Role::Userinfo => userinfo(state, &seen),
        Role::RequestToken => request_token(state, &seen, &host),
        Role::OAuth1Authorize => oauth1_authorize(state, &seen),
        Role::AccessToken => access_token(state, &seen, &host),
        Role::Profile => oauth1_profile(state, &seen, &host),
    }
}

fn discovery(state: &State) -> Reply {
    let issuer = state
        .discovery_issuer
        .clone()
        .unwrap_or_else(|| state.origin.clone());
    json_reply(
        200,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": state.url(Role::Authorize),
            "token_endpoint": state.url(Role::Token),
            "userinfo_endpoint": state.url(Role::Userinfo),
            "jwks_uri": state.url(Role::Jwks),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": state.send_iss.is_some(),
        }),
    )
}

fn authorize(state: &mut State, seen: &Seen) -> Reply {
    let param = |name: &str| seen.param(name).map(str::to_owned);
    let (Some(client_id), Some(redirect_uri)) = (param("client_id"), param("redirect_uri")) else {
        return reply(400, "text/plain", "client_id and redirect_uri are required");
    };
    if !state.clients.contains_key(&client_id) || param("response_type").as_deref() != Some("code")
    {
        return reply(400, "text/plain", "unknown client or response type");
    }
    let challenge = param("code_challenge");
    if challenge.is_some() && param("code_challenge_method").as_deref() != Some("S256") {
        return reply(400, "text/plain", "PKCE must be S256");
    }
    let code = state.fresh("code");
    state.codes.insert(
        code.clone(),
        Grant {
            client_id,
            redirect_uri: redirect_uri.clone(),
            challenge,
            nonce: param("nonce"),
            scope: param("scope").unwrap_or_default(),
            used: false,
        },
    );
    let mut answer = vec![("code".to_owned(), code)];
    if let Some(s) = param("state") {
        answer.push(("state".into(), s));
    }
    if let Some(iss) = &state.send_iss {
        answer.push(("iss".into(), iss.clone()));
    }
    if param("response_mode").as_deref() == Some("form_post") {
        // Apple: an auto-submitting form that POSTs the answer to the redirect URI.
        let inputs: String = answer
            .iter()
            .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{v}\">"))
            .collect();
        let page = format!(
            "<!doctype html><form method=\"post\" action=\"{redirect_uri}\">{inputs}</form>"
        );
        return reply(200, "text/html", page);
    }
    let mut url = url::Url::parse(&redirect_uri).expect("the redirect URI is a URL");
    url.query_pairs_mut().extend_pairs(&answer);
    redirect(url.as_str())
}

/// The client of a token request, if its secret is right (form fields or HTTP Basic).
fn client(state: &State, seen: &Seen) -> Option<String> {
    use base64::Engine as _;
    let (id, secret) = match seen
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
    {
        Some(basic) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic)
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (id, secret) = text.split_once(':')?;
            let unescape = |s: &str| {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (unescape(id), unescape(secret))
        }
        None => (
            seen.param("client_id")?.to_owned(),
            seen.param("client_secret")?.to_owned(),
        ),
    };
    (state.clients.get(&id) == Some(&secret)).then_some(id)
}

fn token(state: &mut State, seen: &Seen) -> Reply {
    let Some(client_id) = client(state, seen) else {
        return oauth_error(401, "invalid_client");
    };
    match seen.param("grant_type") {
        Some("refresh_token") => refresh(state, seen),
        // GitHub's preset sends no grant_type, as v3 did; GitHub accepts that.
        Some("authorization_code") | None => exchange(state, seen, &client_id),
        Some(_) => oauth_error(400, "unsupported_grant_type"),
    }
}

fn exchange(state: &mut State, seen: &Seen, client_id: &str) -> Reply {
    let Some(grant) = seen.param("code").and_then(|c| state.codes.get_mut(c)) else {
        return oauth_error(400, "invalid_grant");
    };
    let pkce_ok = match (&grant.challenge, seen.param("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            use base64::Engine as _;
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            &computed == challenge
        }
        (Some(_), None) => false,
        (None, _) => true,
    };
    if grant.used
        || grant.client_id != client_id
        || seen.param("redirect_uri") != Some(grant.redirect_uri.as_str())
        || !pkce_ok
    {
        return oauth_error(400, "invalid_grant");
    }
    grant.used = true;
    let grant = grant.clone();
    if let Some(body) = state.token_body.clone() {
        return json_reply(200, &body);
    }
    let mut answer = tokens(state);
    answer.insert("scope".into(), grant.scope.clone().into());
    if grant.scope.split(' ').any(|s| s == "openid") {
        let claims = id_claims(state, client_id, grant.nonce.as_deref());
        let jwt = id_token::mint(&state.signing, &claims);
        state.issued.push(jwt.clone());
        answer.insert("id_token".into(), jwt.into());
    }
    json_reply(200, &Value::Object(answer))
}

/// A fresh access token and refresh token.
fn tokens(state: &mut State) -> Map<String, Value> {
    let access = state.fresh("at");
    let refresh = state.fresh("rt");
    state.access_tokens.push(access.clone());
    state.refresh_tokens.push(refresh.clone());
    let answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": state.expires_in,
        "refresh_token": refresh,
    });
    answer.as_object().cloned().unwrap_or_default()
}

fn refresh(state: &mut State, seen: &Seen) -> Reply {
    let Some(old) = seen.param("refresh_token").map(str::to_owned) else {
        return oauth_error(400, "invalid_request");
    };
    if state.refuse_refresh || state.revoked.contains(&old) || !state.refresh_tokens.contains(&old)
    {
        return oauth_error(400, "invalid_grant");
    }
    // Rotation: the old refresh token is spent.
    state.revoked.insert(old);
    json_reply(200, &Value::Object(tokens(state)))
}

fn id_claims(state: &State, client_id: &str, nonce: Option<&str>) -> Map<String, Value> {
    let now = state.now();
    let mut claims = state.user.clone();
    claims.insert("iss".into(), state.origin.clone().into());
    claims.insert("aud".into(), client_id.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + 3600).into());
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    for (k, v) in &state.id_token_claims {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
    claims
}

fn userinfo(state: &mut State, seen: &Seen) -> Reply {
    let token = seen
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .or_else(|| seen.param("access_token"));
    let known = token.is_some_and(|t| {
        state.access_tokens.iter().any(|a| a == t)
            || state
                .token_body
                .as_ref()
                .is_some_and(|b| contains_string(b, t))
    });
    if !known {
        return oauth_error(401, "invalid_token");
    }
    if let Some(body) = &state.userinfo_body {
        return json_reply(200, body);
    }
    let mut profile = state.user.clone();
    for (k, v) in &state.userinfo_claims {
        profile.insert(k.clone(), v.clone());
    }
    json_reply(200, &Value::Object(profile))
}

/// Whether `needle` is a string anywhere in `value` (a fixture's access token).
fn contains_string(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s == needle,
        Value::Array(items) => items.iter().any(|v| contains_string(v, needle)),
        Value::Object(map) => map.values().any(|v| contains_string(v, needle)),
        _ => false,
    }
}

/// The parameters of a signed OAuth 1.0a request, or `None` when the header is missing.
fn oauth1_params(seen: &Seen) -> Option<Vec<(String, String)>> {
    let mut params = oauth1::header_params(seen.header("authorization")?)?;
    params.extend(seen.query.iter().cloned());
    params.extend(seen.form.iter().cloned());
    Some(params)
}

/// Checks a signed request; answers the consumer key and the parameters.
fn signed(
    state: &State,
    seen: &Seen,
    host: &str,
    token_secret: impl Fn(&str) -> Option<String>,
) -> Option<(String, Vec<(String, String)>)> {
    let params = oauth1_params(seen)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("oauth_signature_method").as_deref() != Some("HMAC-SHA1")
        || get("oauth_nonce").is_none()
        || get("oauth_timestamp").is_none()
    {
        return None;
    }
    let consumer = get("oauth_consumer_key")?;
    let consumer_secret = state.clients.get(&consumer)?;
    let secret = match get("oauth_token") {
        Some(token) => token_secret(&token)?,
        None => String::new(),
    };
    let base_uri = format!("http://{host}{}", seen.path);
    oauth1::verify(&seen.method, &base_uri, &params, consumer_secret, &secret)
        .then_some((consumer, params))
}

fn form_reply(pairs: &[(&str, &str)]) -> Reply {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    reply(200, "application/x-www-form-urlencoded", body)
}

fn request_token(state: &mut State, seen: &Seen, host: &str) -> Reply {
    let Some((_, params)) = signed(state, seen, host, |_| None) else {
        return reply(401, "text/plain", "bad signature");
    };
    let Some(callback) = params
        .iter()
        .find(|(k, _)| k == "oauth_callback")
        .map(|(_, v)| v.clone())
    else {
        return reply(400, "text/plain", "oauth_callback is required");
    };
    let token = state.fresh("rqt");
    let secret = state.fresh("rqs");
    let verifier = state.fresh("verifier");
    state.request_tokens.insert(
        token.clone(),
        RequestToken {
            secret: secret.clone(),
            callback,
            verifier,
            used: false,
        },
    );
    form_reply(&[
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
        ("oauth_callback_confirmed", "true"),
    ])
}

fn oauth1_authorize(state: &mut State, seen: &Seen) -> Reply {
    let Some(token) = seen.param("oauth_token") else {
        return reply(400, "text/plain", "oauth_token is required");
    };
    let Some(request) = state.request_tokens.get(token) else {
        return reply(400, "text/plain", "unknown request token");
    };
    let Ok(mut url) = url::Url::parse(&request.callback) else {
        return reply(400, "text/plain", "bad callback");
    };
    url.query_pairs_mut()
        .append_pair("oauth_token", token)
        .append_pair("oauth_verifier", &request.verifier);
    redirect(url.as_str())
}

fn access_token(state: &mut State, seen: &Seen, host: &str) -> Reply {
    let requests = state.request_tokens.clone();
    let secret_of = |t: &str| {
        requests
            .get(t)
            .filter(|r| !r.used)
            .map(|r| r.secret.clone())
    };
    let Some((_, params)) = signed(state, seen, host, secret_of) else {
        return reply(401, "text/plain", "bad signature");
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let token = get("oauth_token");
    let Some(request) = state.request_tokens.get_mut(&token) else {
        return reply(401, "text/plain", "unknown request token");
    };
    if request.verifier != get("oauth_verifier") {
        return reply(401, "text/plain", "bad verifier");
    }
    request.used = true;
    let access = state.fresh("oat");
    let secret = state.fresh("oas");
    state.oauth1_access.insert(access.clone(), secret.clone());
    state.access_tokens.push(access.clone());
    let sub = state
        .user
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    form_reply(&[
        ("oauth_token", &access),
        ("oauth_token_secret", &secret),
        ("user_id", &sub),
    ])
}

fn oauth1_profile(state: &mut State, seen: &Seen, host: &str) -> Reply {
    let access = state.oauth1_access.clone();
    if signed(state, seen, host, |t| access.get(t).cloned()).is_none() {
        return reply(401, "text/plain", "bad signature");
    }
    if let Some(body) = &state.userinfo_body {
        return json_reply(200, body);
    }
    json_reply(200, &Value::Object(state.user.clone()))
}
