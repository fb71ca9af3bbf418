//! Scripted callbacks (signIn, jwt, session, redirect) and an event recorder: each
//! answers as the scenario's script says and logs what it was called with.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portcullis::{
    AuthEvent, EventListener, HookFailure, Hooks, JwtCall, JwtHook, RedirectHook, SessionHook,
    SignInDecision, SignInHook,
};
use portcullis_domain::jwt::Claims;
use serde_json::Value;

/// What the `signIn` callback answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignInScript {
    Deny,
    RedirectTo(String),
    Fail(String),
}

/// What the `jwt` callback does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JwtScript {
    /// At sign-in, adds a claim (v3's usual "put the role in the token").
    AddClaim(String, String),
    /// Fails at sign-in and on every read.
    Fail,
    /// Works at sign-in, fails when the session is read.
    FailOnRead,
}

/// What the `session` callback does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionScript {
    /// Copies a claim of the token into the session JSON.
    CopyClaim(String),
    Fail,
}

/// What the `redirect` callback answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedirectScript {
    /// This URL, whatever was asked.
    Answer(String),
    Fail,
}

/// When the scripted `signIn` answer applies (e-mail sign-in calls `signIn` twice: when
/// the link is asked for, with `verificationRequest: true`, and when it is used).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SignInStage {
    #[default]
    Always,
    /// Only when a link is asked for; allows when it is used.
    LinkRequest,
    /// Only when a link is used (and at any other sign-in); allows link requests.
    LinkUse,
}

/// The app's callbacks, as a scenario scripted them.
#[derive(Debug, Clone, Default)]
pub(crate) struct HookScript {
    pub sign_in: Option<SignInScript>,
    pub sign_in_stage: SignInStage,
    pub jwt: Option<JwtScript>,
    pub session: Option<SessionScript>,
    pub redirect: Option<RedirectScript>,
    pub events: bool,
}

impl HookScript {
    pub(crate) fn any(&self) -> bool {
        self.sign_in.is_some()
            || self.jwt.is_some()
            || self.session.is_some()
            || self.redirect.is_some()
            || self.events
    }
}

pub(crate) type EventLog = Arc<Mutex<Vec<String>>>;

/// [`Hooks`] that follow a [`HookScript`] and log events.
#[derive(Clone)]
pub(crate) struct ScriptedHooks {
    pub script: HookScript,
    pub events: EventLog,
}

impl ScriptedHooks {
    /// The callbacks the script names, given to the engine.
    pub(crate) fn into_hooks(self) -> Hooks {
        let script = &self.script;
        let mut hooks = Hooks::new();
        if script.sign_in.is_some() {
            hooks = hooks.on_sign_in(self.clone());
        }
        if script.jwt.is_some() {
            hooks = hooks.on_jwt(self.clone());
        }
        if script.session.is_some() {
            hooks = hooks.on_session(self.clone());
        }
        if script.redirect.is_some() {
            hooks = hooks.on_redirect(self.clone());
        }
        if script.events {
            hooks = hooks.on_event(self.clone());
        }
        hooks
    }
}

#[async_trait]
impl SignInHook for ScriptedHooks {
    async fn sign_in(
        &self,
        _user: &Value,
        _account: &Value,
        profile: &Value,
    ) -> Result<SignInDecision, HookFailure> {
        let link_request = profile.get("verificationRequest") == Some(&Value::Bool(true));
        let applies = match self.script.sign_in_stage {
            SignInStage::Always => true,
            SignInStage::LinkRequest => link_request,
            SignInStage::LinkUse => !link_request,
        };
        if !applies {
            return Ok(SignInDecision::Allow);
        }
        match &self.script.sign_in {
            None => Ok(SignInDecision::Allow),
            Some(SignInScript::Deny) => Ok(SignInDecision::Deny),
            Some(SignInScript::RedirectTo(url)) => Ok(SignInDecision::Redirect(url.clone())),
            Some(SignInScript::Fail(message)) => Err(HookFailure::Error(message.clone().into())),
        }
    }
}

#[async_trait]
impl JwtHook for ScriptedHooks {
    async fn jwt(&self, call: JwtCall) -> Result<Claims, HookFailure> {
        let at_sign_in = call.user.is_some();
        let mut token = call.token;
        match &self.script.jwt {
            None => Ok(token),
            Some(JwtScript::AddClaim(name, value)) => {
                if at_sign_in {
                    token.insert(name.clone(), Value::String(value.clone()));
                }
                Ok(token)
            }
            Some(JwtScript::Fail) => Err(HookFailure::Error("jwt callback failed".into())),
            Some(JwtScript::FailOnRead) if at_sign_in => Ok(token),
            Some(JwtScript::FailOnRead) => Err(HookFailure::Error("jwt callback failed".into())),
        }
    }
}

#[async_trait]
impl SessionHook for ScriptedHooks {
    async fn session(&self, mut session: Value, token: Value) -> Result<Value, HookFailure> {
        match &self.script.session {
            None => Ok(session),
            Some(SessionScript::CopyClaim(name)) => {
                let value = token.get(name).cloned().unwrap_or(Value::Null);
                if let Some(object) = session.as_object_mut() {
                    object.insert(name.clone(), value);
                }
                Ok(session)
            }
            Some(SessionScript::Fail) => Err(HookFailure::Error("session callback failed".into())),
        }
    }
}

#[async_trait]
impl RedirectHook for ScriptedHooks {
    async fn redirect(&self, url: &str, _base_url: &str) -> Result<String, HookFailure> {
        match &self.script.redirect {
            None => Ok(url.to_owned()),
            Some(RedirectScript::Answer(answer)) => Ok(answer.clone()),
            Some(RedirectScript::Fail) => {
                Err(HookFailure::Error("redirect callback failed".into()))
            }
        }
    }
}

#[async_trait]
impl EventListener for ScriptedHooks {
    async fn event(&self, event: AuthEvent) {
        let entry = match event {
            AuthEvent::SignIn { user, account, .. } => format!(
                "signIn({}, {})",
                user.get("name").and_then(Value::as_str).unwrap_or("?"),
                account.get("type").and_then(Value::as_str).unwrap_or("?")
            ),
            AuthEvent::SignOut {
                session: Some(session),
                ..
            } => format!("signOut(database session of user {})", session.user_id),
            AuthEvent::SignOut { token, .. } => format!(
                "signOut({})",
                token
                    .as_ref()
                    .and_then(|t| t.get("sub"))
                    .and_then(Value::as_str)
                    .unwrap_or("no token")
            ),
            AuthEvent::Session { session, .. } => format!(
                "session({})",
                session
                    .pointer("/user/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            ),
            AuthEvent::CreateUser { user } => format!(
                "createUser({})",
                user.get("email").and_then(Value::as_str).unwrap_or("?")
            ),
            AuthEvent::UpdateUser { user } => format!(
                "updateUser({})",
                user.get("email").and_then(Value::as_str).unwrap_or("?")
            ),
            AuthEvent::LinkAccount { user, account } => format!(
                "linkAccount({}, {})",
                user.get("email").and_then(Value::as_str).unwrap_or("?"),
                account
                    .get("provider")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            ),
        };
        self.events.lock().unwrap().push(entry);
    }
}
