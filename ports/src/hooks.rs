//! User callbacks (spec §12) and credentials backends (spec §9) as ports.

use async_trait::async_trait;
use portcullis_domain::effect::{AuthEvent, HookFailure, RequestInfo, SignInDecision};
use portcullis_domain::jwt::Claims;
use portcullis_domain::HookSet;
use serde_json::{Map, Value};

/// Checks credentials against the app's own backend: LDAP, an HTTP service, a password
/// table … Returns the user (an object with at least `id`; `name`, `email`, `image` are
/// read too) or `None` for wrong credentials.
#[async_trait]
pub trait Authorize: Send + Sync {
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
    pub token: Claims,
    /// Present at sign-in only.
    pub user: Option<Value>,
    pub account: Option<Value>,
    pub profile: Option<Value>,
    pub is_new_user: Option<bool>,
}

/// The app's callbacks and event listeners. Every method has v3's default; say which ones
/// you implement in [`Hooks::registered`] — the others run inline at no cost.
#[async_trait]
pub trait Hooks: Send + Sync {
    /// Which methods this implementation overrides.
    fn registered(&self) -> HookSet;

    /// May this user sign in? (`signIn`)
    async fn sign_in(
        &self,
        _user: &Value,
        _account: &Value,
        _profile: &Value,
    ) -> Result<SignInDecision, HookFailure> {
        Ok(SignInDecision::Allow)
    }

    /// Shapes the token before it is encoded. (`jwt`)
    async fn jwt(&self, call: JwtCall) -> Result<Claims, HookFailure> {
        Ok(call.token)
    }

    /// Shapes the session JSON. (`session`)
    async fn session(&self, session: Value, _token: Value) -> Result<Value, HookFailure> {
        Ok(session)
    }

    /// Where a `callbackUrl` given on the request may lead (`redirect(url, baseUrl)`).
    /// Asked only when the request names one (not for the URL its cookie remembers), and
    /// only when [`HookSet::redirect`] is registered. The answer is still held to the
    /// engine's redirect policy (same origin, or the allowed origins): anything beyond it,
    /// and any `Err`, sends the user to `base_url`.
    async fn redirect(&self, url: &str, _base_url: &str) -> Result<String, HookFailure> {
        Ok(url.to_owned())
    }

    /// Hears about sign-ins, sign-outs and session reads; cannot change the response.
    async fn event(&self, _event: AuthEvent) {}
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

/// v3's defaults, nothing registered.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultHooks;

impl Hooks for DefaultHooks {
    fn registered(&self) -> HookSet {
        HookSet::default()
    }
}

/// Decisions from one [`Hooks`], events heard by another as well: e.g. the app's callbacks
/// beside a durable event outbox. Each event goes to `listener`, and to `decisions` too if
/// it listens.
pub struct WithEvents {
    decisions: std::sync::Arc<dyn Hooks>,
    listener: std::sync::Arc<dyn Hooks>,
}

impl WithEvents {
    pub fn new(decisions: std::sync::Arc<dyn Hooks>, listener: std::sync::Arc<dyn Hooks>) -> Self {
        Self {
            decisions,
            listener,
        }
    }
}

#[async_trait]
impl Hooks for WithEvents {
    fn registered(&self) -> HookSet {
        let decisions = self.decisions.registered();
        HookSet {
            events: decisions.events || self.listener.registered().events,
            ..decisions
        }
    }

    async fn sign_in(
        &self,
        user: &Value,
        account: &Value,
        profile: &Value,
    ) -> Result<SignInDecision, HookFailure> {
        self.decisions.sign_in(user, account, profile).await
    }

    async fn jwt(&self, call: JwtCall) -> Result<Claims, HookFailure> {
        self.decisions.jwt(call).await
    }

    async fn session(&self, session: Value, token: Value) -> Result<Value, HookFailure> {
        self.decisions.session(session, token).await
    }

    async fn redirect(&self, url: &str, base_url: &str) -> Result<String, HookFailure> {
        self.decisions.redirect(url, base_url).await
    }

    async fn event(&self, event: AuthEvent) {
        if self.decisions.registered().events {
            self.decisions.event(event.clone()).await;
        }
        self.listener.event(event).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;

    /// Rewrites every destination to `/welcome`, or fails.
    struct Rewrites(bool);

    #[async_trait]
    impl Hooks for Rewrites {
        fn registered(&self) -> HookSet {
            HookSet {
                redirect: true,
                ..HookSet::default()
            }
        }

        async fn redirect(&self, _url: &str, _base_url: &str) -> Result<String, HookFailure> {
            if self.0 {
                Ok("/welcome".into())
            } else {
                Err(HookFailure::Error("down".into()))
            }
        }
    }

    #[tokio::test]
    async fn redirect_defaults_to_the_requested_url_and_with_events_asks_the_decisions() {
        assert_eq!(
            DefaultHooks.redirect("/dash", "https://example.com").await,
            Ok("/dash".to_owned())
        );
        assert!(!DefaultHooks.registered().redirect);
        for (works, expected) in [
            (true, Ok("/welcome".to_owned())),
            (false, Err(HookFailure::Error("down".into()))),
        ] {
            let hooks = WithEvents::new(Arc::new(Rewrites(works)), Arc::new(DefaultHooks));
            assert!(hooks.registered().redirect);
            assert_eq!(
                hooks.redirect("/dash", "https://example.com").await,
                expected
            );
        }
    }
}
