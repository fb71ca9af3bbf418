//! # Portcullis, embedded
//!
//! Authentication for any Rust service, speaking NextAuth.js v3's wire: mount
//! [`Portcullis::handle`] under your auth base path, and check sessions server-side with
//! [`Portcullis::session`] and [`Portcullis::get_token`].
//!
//! ```no_run
//! use portcullis::{Portcullis, CredentialField};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Portcullis::builder()
//!     .url("https://example.com/api/auth")
//!     .secret(std::env::var("NEXTAUTH_SECRET")?)
//!     .credentials(
//!         "credentials",
//!         "Credentials",
//!         vec![CredentialField::new("username", "Username", "text"),
//!              CredentialField::new("password", "Password", "password")],
//!         |credentials: serde_json::Map<String, serde_json::Value>, _request| async move {
//!             let ok = credentials.get("password").and_then(|p| p.as_str()) == Some("open sesame");
//!             Ok(ok.then(|| json!({ "id": "1", "name": "Ali Baba" })))
//!         },
//!     )
//!     .build()?;
//! let response = auth.handle(http::Request::new(bytes::Bytes::new())).await;
//! # Ok(()) }
//! ```
//!
//! Callbacks are given as closures, and only those given run (the others keep v3's
//! default at no cost):
//!
//! ```no_run
//! use portcullis::{Hooks, Portcullis, SignInDecision};
//!
//! # fn demo() -> Result<(), portcullis::ConfigError> {
//! let hooks = Hooks::new().on_sign_in(|user: serde_json::Value, _account, _profile| async move {
//!     let staff = user["email"].as_str().is_some_and(|e| e.ends_with("@example.com"));
//!     Ok(if staff { SignInDecision::Allow } else { SignInDecision::Deny })
//! });
//! let auth = Portcullis::builder()
//!     .url("https://example.com/api/auth")
//!     .secret("a long random secret, at least 32 bytes of it")
//!     .hooks(hooks)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! For the app's own handlers, [`Portcullis::read_session`] gives the signed-in user as a
//! typed [`Session`], read directly from the cookie (no request runs through the routes).
//! Feature `tower`: `portcullis::tower::AuthService`, the routes as a `tower::Service`.
//! Feature `axum`: `portcullis::axum::routes` to merge into a router, and `Session` /
//! `Option<Session>` as extractors (`examples/axum/` is a whole app).
//!
//! The engine itself (`portcullis-domain`) is pure; this crate runs its effects through the
//! ports: a [`Store`], [`Hooks`], credentials backends ([`Authorize`]), a [`Clock`] and
//! [`Entropy`].

#[cfg(feature = "axum")]
pub mod axum;
mod builder;
pub mod metrics;
mod provider_tokens;
pub mod session;
#[cfg(feature = "tower")]
pub mod tower;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use rand_core::{CryptoRngCore, OsRng};
use serde_json::Value;
use time::OffsetDateTime;

pub use portcullis_domain::oauth::{self, OAuthProvider, PresetOptions};
pub use portcullis_domain::{
    config::ConfigBuilder, cookies::CookieKey, cookies::CookiePolicy, cookies::SameSite,
    effect::RequestInfo, flow::Taken, flow::TransitionInfo, jwt::Claims, jwt::SessionCodec,
    AuthEvent, Config, ConfigError, CredentialField, Effect, Engine, ErrorCode, HookCall,
    HookFailure, HookSet, Outcome, Pages, Provider, SessionStrategy, SignInDecision, Theme,
};
pub use portcullis_ports::http::{CachingHttpClient, HttpClient};
pub use portcullis_ports::{
    Authorize, Clock, Entropy, EventListener, Hooks, InProcessLimiter, JwtCall, JwtHook, MailError,
    Mailer, RateLimiter, RedirectHook, SessionHook, SignInHook, Store, VerificationSender,
};

pub use builder::{session_token_storage, Builder};
pub use metrics::Meter;
pub use portcullis_domain::session_key::SessionTokenStorage;
pub use portcullis_domain::store::StoreError;
use portcullis_domain::{Env, Step};
pub use provider_tokens::{AccessTokenError, ProviderAccessToken};
pub use session::{Session, SessionUser};

/// Every declared flow transition, for diagrams and coverage checks.
pub fn flow_transitions() -> Vec<TransitionInfo> {
    portcullis_domain::flows::all_transitions()
}

/// Every flow as a Mermaid state diagram.
pub fn flows_mermaid() -> String {
    portcullis_domain::flows::mermaid()
}

/// Hears which declared transitions each request took (the spec run uses it for coverage).
pub type TransitionObserver = Arc<dyn Fn(&[Taken]) + Send + Sync>;

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn rng(&self) -> Box<dyn CryptoRngCore + Send> {
        Box::new(OsRng)
    }
}

/// The default magic-link delivery: Portcullis's template, sent through a [`Mailer`].
pub struct TemplateSender {
    mailer: Arc<dyn Mailer>,
    accent: Option<String>,
}

impl TemplateSender {
    /// `accent`: the button colour (`#rgb` or `#rrggbb`).
    pub fn new(mailer: Arc<dyn Mailer>, accent: Option<String>) -> Self {
        Self { mailer, accent }
    }
}

#[async_trait::async_trait]
impl VerificationSender for TemplateSender {
    async fn send_verification_request(
        &self,
        request: &portcullis_domain::mail::VerificationRequest,
    ) -> Result<(), String> {
        let message = portcullis_domain::mail_template::render_verification_email(
            request,
            self.accent.as_deref(),
        );
        self.mailer.send(message).await.map_err(|e| e.to_string())
    }
}

/// What [`Portcullis::perform`] reports of an effect to the [`Meter`].
enum Measured {
    Hook(&'static str),
    Throttle(String),
    Provider(String),
}

/// An authentication engine with its ports attached.
#[derive(Clone)]
pub struct Portcullis {
    engine: Engine,
    store: Option<Arc<dyn Store>>,
    authorizers: Arc<HashMap<String, Arc<dyn Authorize>>>,
    hooks: Hooks,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    observer: Option<TransitionObserver>,
    limiter: Arc<dyn RateLimiter>,
    sender: Option<Arc<dyn VerificationSender>>,
    http: Option<Arc<dyn HttpClient>>,
    renewals: Arc<provider_tokens::RenewalLocks>,
    meter: Option<Arc<dyn Meter>>,
}

impl std::fmt::Debug for Portcullis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portcullis")
            .field("config", self.engine.config())
            .field("store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl Portcullis {
    /// A builder: the site URL, the secret and the providers are what every app gives.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The engine's checked configuration.
    pub fn config(&self) -> &Config {
        self.engine.config()
    }

    /// Handles one request under the base path (any other path gets 404).
    pub async fn handle(&self, request: http::Request<Bytes>) -> http::Response<String> {
        self.handle_from(request, None).await
    }

    /// Handles one request from the socket peer `client_ip` (per-IP rate limits count it).
    /// When the peer is one of `ConfigBuilder::trusted_proxies`, the engine takes the
    /// client's address from the forwarding header instead.
    pub async fn handle_from(
        &self,
        request: http::Request<Bytes>,
        client_ip: Option<std::net::IpAddr>,
    ) -> http::Response<String> {
        let env = Env {
            now: self.clock.now(),
            rng: self.entropy.rng(),
            client_ip,
        };
        let mut run = self.engine.begin(&request, env);
        let response: http::Response<String> = loop {
            let outcome = match run.step() {
                Step::Done(response) => break response,
                // Boxed: the effect's future (store, HTTP, hooks) is large, and inlined it
                // would make every request's future that large, moved on every poll
                // setup, even for a read that performs no effect (perf, docs/performance.md).
                Step::Effect(effect) => Box::pin(self.perform(effect)).await,
            };
            run.resume(outcome);
        };
        // Before the response leaves, so a durable listener (the event outbox) has the
        // event once the client sees the answer.
        let events = run.take_events();
        if !events.is_empty() {
            Box::pin(self.tell_listeners(events)).await;
        }
        if let Some(fault) = run.fault() {
            tracing::error!(target: "portcullis", fault, "flow fault");
        }
        if let Some(observer) = &self.observer {
            observer(run.trace());
        }
        if let Some(meter) = &self.meter {
            metrics::record_answer(
                meter.as_ref(),
                self.config(),
                request.method(),
                request.uri().path(),
                &response,
            );
        }
        response
    }

    /// Delivers a run's events to the listeners, one after another, timed for the
    /// [`Meter`] if any.
    async fn tell_listeners(&self, events: Vec<AuthEvent>) {
        for event in events {
            let started = Instant::now();
            self.hooks.event(event).await;
            if let Some(meter) = &self.meter {
                meter.hook("event", started.elapsed());
            }
        }
    }

    /// Runs one effect, timing callbacks and provider calls for the [`Meter`], if any.
    async fn perform(&self, effect: Effect) -> Outcome {
        let Some(meter) = &self.meter else {
            return self.run_effect(effect).await;
        };
        let measured = match &effect {
            Effect::Hook(HookCall::SignIn { .. }) => Measured::Hook("sign_in"),
            Effect::Hook(HookCall::Jwt { .. }) => Measured::Hook("jwt"),
            Effect::Hook(HookCall::Session { .. }) => Measured::Hook("session"),
            Effect::Hook(HookCall::Redirect { .. }) => Measured::Hook("redirect"),
            Effect::Authorize(_) => Measured::Hook("authorize"),
            Effect::SendVerification(_) => Measured::Hook("send_verification"),
            Effect::Throttle(check) => Measured::Throttle(check.key.clone()),
            Effect::Http(call) => Measured::Provider(metrics::host_of(&call.url).to_owned()),
            _ => return self.run_effect(effect).await,
        };
        let started = Instant::now();
        let outcome = self.run_effect(effect).await;
        match (measured, &outcome) {
            (Measured::Hook(hook), _) => meter.hook(hook, started.elapsed()),
            (Measured::Throttle(key), Outcome::Throttle(false)) => {
                let (scope, per) = metrics::throttle_labels(&key);
                meter.throttled(scope, per);
            }
            (Measured::Provider(host), Outcome::Http(answer)) => {
                meter.provider_call(&host, started.elapsed(), answer.is_ok())
            }
            _ => {}
        }
        outcome
    }

    async fn run_effect(&self, effect: Effect) -> Outcome {
        match effect {
            Effect::Store(op) => Outcome::Store(match &self.store {
                Some(store) => portcullis_ports::perform(store.as_ref(), op).await,
                None => Err(StoreError::Backend("no store configured".into())),
            }),
            Effect::Authorize(call) => {
                Outcome::Authorized(match self.authorizers.get(&call.provider_id) {
                    Some(backend) => backend.authorize(&call.credentials, &call.request).await,
                    None => Err(HookFailure::NotConfigured),
                })
            }
            Effect::Hook(HookCall::SignIn {
                user,
                account,
                profile,
            }) => Outcome::SignIn(self.hooks.sign_in(&user, &account, &profile).await),
            Effect::Hook(HookCall::Jwt {
                token,
                user,
                account,
                profile,
                is_new_user,
            }) => Outcome::Token(
                self.hooks
                    .jwt(JwtCall {
                        token,
                        user,
                        account,
                        profile,
                        is_new_user,
                    })
                    .await,
            ),
            Effect::Hook(HookCall::Session { session, token }) => {
                Outcome::Session(self.hooks.session(session, token).await)
            }
            Effect::Hook(HookCall::Redirect { url, base_url }) => {
                let answer = self.hooks.redirect(&url, &base_url).await;
                if answer.is_err() {
                    tracing::warn!(
                        target: "portcullis",
                        hook = "redirect",
                        "redirect callback failed; the callback URL is the base URL"
                    );
                }
                Outcome::Redirect(answer)
            }
            Effect::Throttle(check) => {
                Outcome::Throttle(self.limiter.hit(&check, self.clock.now()).await)
            }
            Effect::SendVerification(request) => Outcome::Sent(match &self.sender {
                Some(sender) => {
                    let sent = sender.send_verification_request(&request).await;
                    if let Err(reason) = &sent {
                        tracing::error!(target: "portcullis", provider = %request.provider_id, %reason, "magic link not sent");
                    }
                    sent
                }
                None => Err("no mailer configured".into()),
            }),
            Effect::Http(call) => Outcome::Http(match &self.http {
                Some(http) => {
                    let url = call.url_for_logs().to_owned();
                    let answer = http.send(call).await;
                    match &answer {
                        Ok(r) => {
                            tracing::debug!(target: "portcullis", %url, status = r.status, "provider answered")
                        }
                        Err(e) => {
                            tracing::warn!(target: "portcullis", %url, error = %e, "provider call failed")
                        }
                    }
                    answer
                }
                None => Err(portcullis_domain::http::HttpFailure::Transport(
                    "no HTTP client configured".into(),
                )),
            }),
        }
    }

    /// The session as `GET /session` would answer it (callbacks and `session` event
    /// included), or `None`. Like NextAuth's `getSession`, for server-side checks; the
    /// typed [`Portcullis::read_session`] is the same read without the JSON.
    ///
    /// Read directly (see [`mod@session`] for what differs from the route),
    /// except with provider tokens kept in the JWT: then the route runs, so an expired
    /// access token is renewed before it is answered.
    pub async fn session(&self, headers: &HeaderMap) -> Option<Value> {
        if self.config().provider_tokens_in_jwt {
            return self.session_through_route(headers).await;
        }
        let found = match self.find_session(headers).await {
            Ok(found) => found?,
            Err(error) => {
                tracing::warn!(target: "portcullis", %error, "session: the store cannot say; no session");
                return None;
            }
        };
        let session = if self.config().hooks.session {
            self.hooks
                .session(found.default_json(), found.hook_token())
                .await
                .ok()?
        } else {
            found.default_json()
        };
        if self.config().hooks.events {
            self.hooks
                .event(AuthEvent::Session {
                    session: session.clone(),
                    token: found.into_claims(),
                })
                .await;
        }
        session
            .as_object()
            .is_some_and(|s| !s.is_empty())
            .then_some(session)
    }

    /// `GET /session` through the engine, its `Set-Cookie` dropped.
    async fn session_through_route(&self, headers: &HeaderMap) -> Option<Value> {
        let mut request = http::Request::new(Bytes::new());
        *request.uri_mut() = self.config().site.route("/session").parse().ok()?;
        if let Some(path) = request.uri().path_and_query().cloned() {
            *request.uri_mut() = http::Uri::from(path);
        }
        for cookie in headers.get_all(http::header::COOKIE) {
            request
                .headers_mut()
                .append(http::header::COOKIE, cookie.clone());
        }
        let response = self.handle(request).await;
        let session: Value = serde_json::from_str(response.body()).ok()?;
        session
            .as_object()
            .is_some_and(|s| !s.is_empty())
            .then_some(session)
    }

    /// The decoded session token, from the session cookie or an `Authorization: Bearer`
    /// header (taken as it is: never percent-decoded). No callbacks run; nothing is
    /// written. Like NextAuth's `getToken`, but `None` (never an error) for a bad token.
    ///
    /// With `jwt.revocable` it also asks the store, and a token that signed out (on any
    /// instance sharing the store), has no `jti`, or cannot be checked is `None`.
    pub async fn get_token(&self, headers: &HeaderMap) -> Option<Claims> {
        let claims = self.decode_token(headers)?;
        if !self.config().jwt_revocable {
            return Some(claims);
        }
        let jti = portcullis_domain::flows::session_jti(&claims)?;
        match self.store.as_ref()?.is_jwt_revoked(jti).await {
            Ok(false) => Some(claims),
            Ok(true) => None,
            Err(error) => {
                tracing::warn!(target: "portcullis", %error, "get_token: cannot check the token's revocation; refused");
                None
            }
        }
    }

    /// [`Portcullis::get_token`] without the store: decode and verify only, synchronous.
    /// It does not see revocations (`jwt.revocable`); use it where the token's signature
    /// and lifetime are all that matter.
    pub fn decode_token(&self, headers: &HeaderMap) -> Option<Claims> {
        let token = self.raw_token(headers)?;
        portcullis_domain::flows::decode_session_token(self.config(), &token, self.clock.now()).ok()
    }

    /// A user's database sessions, soonest expiry first (ASVS 3.3.4: users can see them).
    pub async fn sessions(
        &self,
        user_id: &str,
    ) -> Result<Vec<portcullis_domain::model::Session>, StoreError> {
        self.require_store()?.list_sessions(user_id).await
    }

    /// Ends one database session: given its cookie value, or its stored key as
    /// [`Portcullis::sessions`] lists it (`sha256:…` for a hashed session).
    pub async fn revoke_session(&self, session_token: &str) -> Result<(), StoreError> {
        let store = self.require_store()?;
        match portcullis_domain::session_key::SessionKeys::for_cookie(session_token) {
            Some(keys) => {
                for key in keys.keys() {
                    store.delete_session(key.expose()).await?;
                }
                Ok(())
            }
            None => store.delete_session(session_token).await,
        }
    }

    /// "Sign out everywhere": ends every database session of a user (ASVS 3.3.3, e.g.
    /// after a password change). Returns how many ended.
    pub async fn revoke_all_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        self.require_store()?
            .delete_sessions_for_user(user_id)
            .await
    }

    fn require_store(&self) -> Result<&Arc<dyn Store>, StoreError> {
        self.store
            .as_ref()
            .ok_or_else(|| StoreError::Backend("no store configured".into()))
    }

    fn raw_token(&self, headers: &HeaderMap) -> Option<String> {
        let name = &self.config().cookies.session_token.name;
        if let Some(value) = portcullis_domain::cookies::RequestCookies::find(headers, name) {
            if !value.is_empty() {
                return Some(value);
            }
        }
        let authorization = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = authorization.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
            .then(|| token.trim().to_owned())
    }
}

/// `docs/flows.md`: every flow's Mermaid diagram, generated from the declarations.
pub fn flows_markdown() -> String {
    let mut out = String::from(
        "# Flows\n\nGenerated from the flow declarations in `domain/src/flows/` by \
         `portcullis flows --markdown`; a test fails when this file drifts from them.\n",
    );
    for diagram in portcullis_domain::flows::mermaid_each() {
        out.push_str("\n```mermaid\n");
        out.push_str(&diagram);
        out.push_str("```\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashed unless the app says otherwise, or the store's migration took the database
    /// over from NextAuth v3 (which reads only raw tokens) and the app said nothing.
    #[test]
    fn session_token_storage_default() {
        use SessionTokenStorage::{Hashed, Raw};
        assert_eq!(session_token_storage(None, false), Hashed);
        assert_eq!(session_token_storage(None, true), Raw);
        assert_eq!(session_token_storage(Some(true), true), Hashed);
        assert_eq!(session_token_storage(Some(false), false), Raw);
    }
}
