//! User callbacks (spec §12) and credentials backends (spec §9) as ports.

use async_trait::async_trait;
use portcullis_domain::effect::{AuthEvent, HookFailure, RequestInfo, SignInDecision};
use portcullis_domain::jwt::Claims;
use portcullis_domain::HookSet;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Checks credentials against the app's own backend: LDAP, an HTTP service, a password
/// table … Returns the user (an object with at least `id`; `name`, `email`, `image` are
/// read too) or `None` for wrong credentials.
#[async_trait]
pub trait Authorize: Send + Sync {
    /// The user for these credentials, `None` for wrong ones.
    async fn authorize(
        &self,
        credentials: &Map<String, Value>,
        request: &RequestInfo,
    ) -> Result<Option<Value>, HookFailure>;
}

/// Any `async` closure `(credentials, request) -> Result<Option<user>, HookFailure>`.
#[async_trait]
impl<F, Fut> Authorize for F
where
    F: Fn(Map<String, Value>, RequestInfo) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<Option<Value>, HookFailure>> + Send,
{
    async fn authorize(
        &self,
        credentials: &Map<String, Value>,
        request: &RequestInfo,
    ) -> Result<Option<Value>, HookFailure> {
        self(credentials.clone(), request.clone()).await
    }
}

/// The arguments of the `jwt` callback (spec §12.3).
#[derive(Debug, Clone, PartialEq)]
pub struct JwtCall {
    /// The claims so far.
    pub token: Claims,
    /// Present at sign-in only.
    pub user: Option<Value>,
    /// The provider account (OAuth, e-mail or credentials), at sign-in only.
    pub account: Option<Value>,
    /// The provider's profile (or the posted form for credentials), at sign-in only.
    pub profile: Option<Value>,
    /// Whether the sign-in created the user, at sign-in only.
    pub is_new_user: Option<bool>,
}

/// `signIn`: may this user sign in? `(user, account, profile)`; any `async` closure of
/// owned values is one.
#[async_trait]
pub trait SignInHook: Send + Sync {
    /// `Allow`, `Deny`, or a redirect elsewhere; `Err` ends the sign-in with its error.
    async fn sign_in(
        &self,
        user: &Value,
        account: &Value,
        profile: &Value,
    ) -> Result<SignInDecision, HookFailure>;
}

#[async_trait]
impl<F, Fut> SignInHook for F
where
    F: Fn(Value, Value, Value) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<SignInDecision, HookFailure>> + Send,
{
    async fn sign_in(
        &self,
        user: &Value,
        account: &Value,
        profile: &Value,
    ) -> Result<SignInDecision, HookFailure> {
        self(user.clone(), account.clone(), profile.clone()).await
    }
}

/// `jwt`: shapes the token before it is encoded.
#[async_trait]
pub trait JwtHook: Send + Sync {
    /// The claims to encode; `Err` ends the sign-in (or, on a read, the session).
    async fn jwt(&self, call: JwtCall) -> Result<Claims, HookFailure>;
}

#[async_trait]
impl<F, Fut> JwtHook for F
where
    F: Fn(JwtCall) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<Claims, HookFailure>> + Send,
{
    async fn jwt(&self, call: JwtCall) -> Result<Claims, HookFailure> {
        self(call).await
    }
}

/// `session`: shapes the session JSON `(session, token)`.
#[async_trait]
pub trait SessionHook: Send + Sync {
    /// The session JSON the client gets; `Err` answers no session.
    async fn session(&self, session: Value, token: Value) -> Result<Value, HookFailure>;
}

#[async_trait]
impl<F, Fut> SessionHook for F
where
    F: Fn(Value, Value) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<Value, HookFailure>> + Send,
{
    async fn session(&self, session: Value, token: Value) -> Result<Value, HookFailure> {
        self(session, token).await
    }
}

/// `redirect(url, baseUrl)`: where a `callbackUrl` given on the request may lead. Asked
/// only when the request names one (not for the URL its cookie remembers). The answer is
/// still held to the engine's redirect policy (same origin, or the allowed origins):
/// anything beyond it, and any `Err`, sends the user to `base_url`.
#[async_trait]
pub trait RedirectHook: Send + Sync {
    /// The URL to send the user to, before the redirect policy holds it.
    async fn redirect(&self, url: &str, base_url: &str) -> Result<String, HookFailure>;
}

#[async_trait]
impl<F, Fut> RedirectHook for F
where
    F: Fn(String, String) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<String, HookFailure>> + Send,
{
    async fn redirect(&self, url: &str, base_url: &str) -> Result<String, HookFailure> {
        self(url.to_owned(), base_url.to_owned()).await
    }
}

/// Hears about sign-ins, sign-outs, session reads and user changes; cannot change the
/// response.
#[async_trait]
pub trait EventListener: Send + Sync {
    /// Hears one event; runs before the response leaves, so a durable listener has it.
    async fn event(&self, event: AuthEvent);
}

#[async_trait]
impl<F, Fut> EventListener for F
where
    F: Fn(AuthEvent) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = ()> + Send,
{
    async fn event(&self, event: AuthEvent) {
        self(event).await
    }
}

/// The app's callbacks and event listeners (spec §12). A callback runs because it was
/// given (`.on_sign_in(f)`); one not given keeps v3's default and costs nothing, so no
/// flag can be forgotten that would silently skip a deny hook.
#[derive(Clone)]
pub struct Hooks {
    sign_in: Option<Arc<dyn SignInHook>>,
    jwt: Option<Arc<dyn JwtHook>>,
    jwt_on_read: bool,
    session: Option<Arc<dyn SessionHook>>,
    redirect: Option<Arc<dyn RedirectHook>>,
    listeners: Vec<Arc<dyn EventListener>>,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            sign_in: None,
            jwt: None,
            jwt_on_read: true,
            session: None,
            redirect: None,
            listeners: Vec::new(),
        }
    }
}

/// Names which callbacks are given; they are code, nothing to show.
impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("given", &self.registered())
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl Hooks {
    /// v3's defaults: nothing given.
    pub fn new() -> Self {
        Self::default()
    }

    /// `signIn`: asked before any session is issued; may deny or redirect.
    pub fn on_sign_in(mut self, hook: impl SignInHook + 'static) -> Self {
        self.sign_in = Some(Arc::new(hook));
        self
    }

    /// The `jwt` callback, run at sign-in and (as in v3) on every session read.
    pub fn on_jwt(mut self, hook: impl JwtHook + 'static) -> Self {
        self.jwt = Some(Arc::new(hook));
        self
    }

    /// Whether `jwt` also runs on every session read (v3 does; the default). When false it
    /// runs at sign-in only and a read serves the claims the token carries: a callback
    /// behind a network call then costs nothing per read.
    pub fn jwt_on_read(mut self, on_read: bool) -> Self {
        self.jwt_on_read = on_read;
        self
    }

    /// The `session` callback, run on every session read that answers JSON.
    pub fn on_session(mut self, hook: impl SessionHook + 'static) -> Self {
        self.session = Some(Arc::new(hook));
        self
    }

    /// The `redirect` callback, asked where a `callbackUrl` given on a request leads.
    pub fn on_redirect(mut self, hook: impl RedirectHook + 'static) -> Self {
        self.redirect = Some(Arc::new(hook));
        self
    }

    /// Adds a listener; every event goes to each, in the order they were added.
    pub fn on_event(self, listener: impl EventListener + 'static) -> Self {
        self.with_listener(Arc::new(listener))
    }

    /// Adds a listener already shared elsewhere (an outbox the app also drains).
    pub fn with_listener(mut self, listener: Arc<dyn EventListener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// What the engine must ask for: exactly the callbacks given.
    pub fn registered(&self) -> HookSet {
        HookSet {
            sign_in: self.sign_in.is_some(),
            jwt: self.jwt.is_some(),
            session: self.session.is_some(),
            events: !self.listeners.is_empty(),
            redirect: self.redirect.is_some(),
            jwt_on_read: self.jwt_on_read,
        }
    }

    /// Asks `signIn`, or allows when none was given.
    pub async fn sign_in(
        &self,
        user: &Value,
        account: &Value,
        profile: &Value,
    ) -> Result<SignInDecision, HookFailure> {
        match &self.sign_in {
            Some(hook) => hook.sign_in(user, account, profile).await,
            None => Ok(SignInDecision::Allow),
        }
    }

    /// Asks `jwt`, or keeps the token when none was given.
    pub async fn jwt(&self, call: JwtCall) -> Result<Claims, HookFailure> {
        match &self.jwt {
            Some(hook) => hook.jwt(call).await,
            None => Ok(call.token),
        }
    }

    /// Asks `session`, or keeps the session when none was given.
    pub async fn session(&self, session: Value, token: Value) -> Result<Value, HookFailure> {
        match &self.session {
            Some(hook) => hook.session(session, token).await,
            None => Ok(session),
        }
    }

    /// Asks `redirect`, or keeps the URL when none was given.
    pub async fn redirect(&self, url: &str, base_url: &str) -> Result<String, HookFailure> {
        match &self.redirect {
            Some(hook) => hook.redirect(url, base_url).await,
            None => Ok(url.to_owned()),
        }
    }

    /// Tells every listener, one after another.
    pub async fn event(&self, event: AuthEvent) {
        if let Some((last, others)) = self.listeners.split_last() {
            for listener in others {
                listener.event(event.clone()).await;
            }
            last.event(event).await;
        }
    }
}

/// Delivers magic links (v3's `sendVerificationRequest`): replace it to send your own
/// message. The default renders Portcullis's template and hands it to a [`crate::Mailer`].
#[async_trait]
pub trait VerificationSender: Send + Sync {
    /// `Err` carries a reason for the logs; it must not contain the link.
    async fn send_verification_request(
        &self,
        request: &portcullis_domain::mail::VerificationRequest,
    ) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_callback_is_asked_because_it_was_given() {
        let none = Hooks::new();
        assert_eq!(none.registered(), HookSet::default());
        assert_eq!(
            none.redirect("/dash", "https://example.com").await,
            Ok("/dash".to_owned())
        );
        let deny =
            Hooks::new().on_sign_in(|_user, _account, _profile| async { Ok(SignInDecision::Deny) });
        assert!(deny.registered().sign_in);
        assert_eq!(
            deny.sign_in(&Value::Null, &Value::Null, &Value::Null).await,
            Ok(SignInDecision::Deny)
        );
        let rewrites = Hooks::new().on_redirect(|_url, _base| async { Ok("/welcome".into()) });
        assert!(rewrites.registered().redirect);
        assert_eq!(
            rewrites.redirect("/dash", "https://example.com").await,
            Ok("/welcome".to_owned())
        );
    }

    #[tokio::test]
    async fn every_listener_hears_every_event_in_order() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let listener = |name: &'static str| {
            let heard = heard.clone();
            move |_event: AuthEvent| {
                let heard = heard.clone();
                async move { heard.lock().unwrap().push(name) }
            }
        };
        let hooks = Hooks::new()
            .on_event(listener("app"))
            .on_event(listener("outbox"));
        assert!(hooks.registered().events);
        hooks
            .event(AuthEvent::SignOut {
                token: None,
                session: None,
            })
            .await;
        assert_eq!(*heard.lock().unwrap(), vec!["app", "outbox"]);
    }
}
