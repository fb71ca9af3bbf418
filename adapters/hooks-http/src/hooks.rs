//! [`HttpHooks`]: the `Hooks` port answered by the operator's endpoints.

use std::collections::HashMap;

use async_trait::async_trait;
use portcullis_domain::effect::{HookFailure, SignInDecision};
use portcullis_domain::error::ErrorCode;
use portcullis_domain::jwt::Claims;
use portcullis_domain::redirect::same_origin;
use portcullis_domain::site::SiteUrl;
use portcullis_domain::CredentialField;
use portcullis_ports::{Hooks, JwtCall, JwtHook, RedirectHook, SessionHook, SignInHook};
use serde_json::{Map, Value};

use crate::caller::{Caller, Endpoint};
use crate::wire::{
    HookName, JwtAnswer, JwtData, RedirectAnswer, RedirectData, SessionAnswer, SessionData,
    SignInAnswer, SignInData,
};

/// Claims the engine owns: a `jwt` hook's values for them are ignored.
pub const PROTECTED_CLAIMS: [&str; 4] = ["sub", "iat", "exp", "jti"];

/// The error code a failed `sign_in` hook ends in (`/error?error=AccessDenied`).
pub const SIGN_IN_FAILED: ErrorCode = ErrorCode::AccessDenied;
/// The error code a failed `jwt` or `session` hook ends in at sign-in.
pub const CALLBACK_FAILED: ErrorCode = ErrorCode::Callback;

/// The decision hooks (`sign_in`, `jwt`, `session`, `redirect`) over signed HTTP. A hook left unset
/// keeps v3's default and costs nothing: [`HttpHooks::into_hooks`] gives the engine only
/// the hooks with an endpoint.
#[derive(Clone)]
pub struct HttpHooks {
    caller: Caller,
    site: SiteUrl,
    sign_in: Option<Endpoint>,
    jwt: Option<Endpoint>,
    jwt_on_read: bool,
    session: Option<Endpoint>,
    redirect: Option<Endpoint>,
    /// Per credentials provider: the fields `sign_in` may see (none of type `password`).
    credential_fields: HashMap<String, Vec<String>>,
}

impl HttpHooks {
    /// No hook set yet. `site` is `NEXTAUTH_URL`: a `sign_in` redirect must stay on it.
    pub fn new(caller: Caller, site: SiteUrl) -> Self {
        Self {
            caller,
            site,
            sign_in: None,
            jwt: None,
            jwt_on_read: false,
            session: None,
            redirect: None,
            credential_fields: HashMap::new(),
        }
    }

    /// Asks `endpoint` whether a user may sign in (v3's `callbacks.signIn`).
    pub fn with_sign_in(mut self, endpoint: Endpoint) -> Self {
        self.sign_in = Some(endpoint);
        self
    }

    /// `on_read`: also on every session read (else at sign-in only).
    pub fn with_jwt(mut self, endpoint: Endpoint, on_read: bool) -> Self {
        self.jwt = Some(endpoint);
        self.jwt_on_read = on_read;
        self
    }

    /// Runs wherever the session JSON is made, i.e. on every session read.
    pub fn with_session(mut self, endpoint: Endpoint) -> Self {
        self.session = Some(endpoint);
        self
    }

    /// Asked where a `callbackUrl` given on a request leads; its answer is still held to
    /// the engine's redirect policy, and a failure sends the user to the base URL.
    pub fn with_redirect(mut self, endpoint: Endpoint) -> Self {
        self.redirect = Some(endpoint);
        self
    }

    /// Declares a credentials provider's form: `sign_in` gets its fields, except those of
    /// type `password`. A provider not declared here sends no field at all.
    pub fn credentials_provider(mut self, id: &str, fields: &[CredentialField]) -> Self {
        let visible = fields
            .iter()
            .filter(|f| !f.input_type.as_deref().is_some_and(is_password))
            .map(|f| f.name.clone())
            .collect();
        self.credential_fields.insert(id.to_owned(), visible);
        self
    }

    fn sign_in_data(&self, user: &Value, account: &Value, profile: &Value) -> SignInData {
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let kind = text(account, "type");
        // v3's credentials account names its provider in `id` (`{id, type}`).
        let provider = match kind.as_deref() {
            Some("credentials") => text(account, "provider").or_else(|| text(account, "id")),
            _ => text(account, "provider"),
        }
        .unwrap_or_default();
        let mut data = SignInData {
            user: user.clone(),
            account: account.clone(),
            profile: profile.clone(),
            provider,
            email: None,
            credentials: None,
        };
        match kind.as_deref() {
            // The profile is the posted form, password included: only declared,
            // non-password fields go out.
            Some("credentials") => {
                let allowed = self.credential_fields.get(&data.provider);
                let fields: Map<String, Value> = profile
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(name, _)| allowed.is_some_and(|a| a.contains(name)))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                data.profile = Value::Null;
                data.credentials = Some(fields);
            }
            Some("email") => data.email = text(profile, "email"),
            _ => {}
        }
        data
    }
}

fn is_password(input_type: &str) -> bool {
    input_type.trim().eq_ignore_ascii_case("password")
}

impl HttpHooks {
    /// The hooks with an endpoint, registered; the others keep v3's default.
    pub fn into_hooks(self) -> Hooks {
        let mut hooks = Hooks::new();
        if self.sign_in.is_some() {
            hooks = hooks.on_sign_in(self.clone());
        }
        if self.jwt.is_some() {
            hooks = hooks.on_jwt(self.clone()).jwt_on_read(self.jwt_on_read);
        }
        if self.session.is_some() {
            hooks = hooks.on_session(self.clone());
        }
        if self.redirect.is_some() {
            hooks = hooks.on_redirect(self);
        }
        hooks
    }
}

#[async_trait]
impl SignInHook for HttpHooks {
    async fn sign_in(
        &self,
        user: &Value,
        account: &Value,
        profile: &Value,
    ) -> Result<SignInDecision, HookFailure> {
        let Some(endpoint) = &self.sign_in else {
            return Ok(SignInDecision::Allow);
        };
        let refused = || HookFailure::Error(SIGN_IN_FAILED);
        let data = self.sign_in_data(user, account, profile);
        let answer: SignInAnswer = self
            .caller
            .call(HookName::SignIn, endpoint, data)
            .await
            .map_err(|_| refused())?;
        match answer {
            SignInAnswer::Allow => Ok(SignInDecision::Allow),
            SignInAnswer::Deny => Ok(SignInDecision::Deny),
            SignInAnswer::Redirect { url } => match same_origin(&url, &self.site) {
                Some(url) => Ok(SignInDecision::Redirect(url)),
                None => {
                    tracing::warn!(
                        target: "portcullis",
                        hook = "sign_in",
                        "the hook's redirect leaves the site's origin; refusing"
                    );
                    Err(refused())
                }
            },
        }
    }
}

#[async_trait]
impl JwtHook for HttpHooks {
    async fn jwt(&self, call: JwtCall) -> Result<Claims, HookFailure> {
        let Some(endpoint) = &self.jwt else {
            return Ok(call.token);
        };
        let original = call.token.clone();
        let data = JwtData {
            token: call.token,
            user: call.user,
            account: call.account,
            profile: call.profile,
            is_new_user: call.is_new_user,
        };
        let answer: JwtAnswer = self
            .caller
            .call(HookName::Jwt, endpoint, data)
            .await
            .map_err(|_| HookFailure::Error(CALLBACK_FAILED))?;
        Ok(keep_protected(answer.token, &original))
    }
}

#[async_trait]
impl SessionHook for HttpHooks {
    async fn session(&self, session: Value, token: Value) -> Result<Value, HookFailure> {
        let Some(endpoint) = &self.session else {
            return Ok(session);
        };
        let answer: SessionAnswer = self
            .caller
            .call(HookName::Session, endpoint, SessionData { session, token })
            .await
            .map_err(|_| HookFailure::Error(CALLBACK_FAILED))?;
        Ok(Value::Object(answer.session))
    }
}

#[async_trait]
impl RedirectHook for HttpHooks {
    async fn redirect(&self, url: &str, base_url: &str) -> Result<String, HookFailure> {
        let Some(endpoint) = &self.redirect else {
            return Ok(url.to_owned());
        };
        let data = RedirectData {
            url: url.to_owned(),
            base_url: base_url.to_owned(),
        };
        // A failure is logged by the caller; the engine then sends the user to the base
        // URL (fails closed: no destination the hook did not confirm).
        let answer: RedirectAnswer = self
            .caller
            .call(HookName::Redirect, endpoint, data)
            .await
            .map_err(|_| HookFailure::Error(CALLBACK_FAILED))?;
        Ok(answer.url)
    }
}

/// `claims` with the protected claims as they were in `original` (added, replaced or
/// removed back).
fn keep_protected(mut claims: Claims, original: &Claims) -> Claims {
    for name in PROTECTED_CLAIMS {
        match original.get(name) {
            Some(value) => claims.insert(name.to_owned(), value.clone()),
            None => claims.remove(name),
        };
    }
    claims
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn protected_claims_are_restored_added_back_or_dropped() {
        let original: Claims = json!({"sub": "1", "iat": 10, "exp": 20, "jti": "j", "name": "A"})
            .as_object()
            .cloned()
            .unwrap();
        let answered: Claims = json!({"sub": "2", "exp": 99, "name": "B", "role": "admin"})
            .as_object()
            .cloned()
            .unwrap();
        let kept = keep_protected(answered, &original);
        assert_eq!(
            Value::Object(kept),
            json!({"sub": "1", "exp": 20, "name": "B", "role": "admin", "iat": 10, "jti": "j"})
        );
        let without_jti: Claims = json!({"sub": "1"}).as_object().cloned().unwrap();
        let kept = keep_protected(
            json!({"jti": "x"}).as_object().cloned().unwrap(),
            &without_jti,
        );
        assert_eq!(Value::Object(kept), json!({"sub": "1"}));
    }
}
