//! What the scenarios plug into the engine's ports: a credentials backend, scripted
//! callbacks, an event recorder, a custom codec, a store that records every call (in front
//! of the run's real store), an app's own link sender, a clock.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portcullis::{
    AuthEvent, Clock, EventListener, HookFailure, Hooks, JwtCall, JwtHook, RedirectHook,
    RequestInfo, SessionHook, SignInDecision, SignInHook, Store, VerificationSender,
};
use portcullis_domain::jwt::{Claims, DecodeContext, EncodeContext, JwtError, SessionCodec};
use portcullis_domain::mail::VerificationRequest;
use portcullis_domain::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use portcullis_domain::store::StoreError;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::stores::{Cleanup, Location, StoreKind};

/// The user every scenario signs in as.
pub(crate) const USERNAME: &str = "jane";
pub(crate) const PASSWORD: &str = "correct horse";

/// What the credentials backend does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Backend {
    /// `jane` / `correct horse` is Jane Doe (id 42); anything else is wrong.
    Users,
    /// Fails like a thrown `Error` with this message (LDAP down …).
    Fails(String),
    /// Fails like a thrown non-Error: send the user to this URL.
    Redirects(String),
}

/// One call the backend received.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizeSeen {
    pub credentials: Map<String, Value>,
    pub request: RequestInfo,
}

pub(crate) type Seen = Arc<Mutex<Vec<AuthorizeSeen>>>;

/// The credentials check, as a closure over `backend` that records what it is given.
pub(crate) fn backend(
    mode: Backend,
    seen: Seen,
) -> impl Fn(
    Map<String, Value>,
    RequestInfo,
) -> futures::future::BoxFuture<'static, Result<Option<Value>, HookFailure>>
       + Send
       + Sync
       + 'static {
    move |credentials: Map<String, Value>, request: RequestInfo| {
        let mode = mode.clone();
        let seen = seen.clone();
        Box::pin(async move {
            let ok = credentials.get("username") == Some(&json!(USERNAME))
                && credentials.get("password") == Some(&json!(PASSWORD));
            seen.lock().unwrap().push(AuthorizeSeen {
                credentials,
                request,
            });
            match mode {
                Backend::Users => Ok(
                    ok.then(|| json!({"id": 42, "name": "Jane Doe", "email": "jane@example.com"}))
                ),
                Backend::Fails(message) => Err(HookFailure::Error(message.into())),
                Backend::Redirects(url) => Err(HookFailure::Redirect(url)),
            }
        })
    }
}

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

/// A custom session codec (C18): `plain.` + base64url(JSON claims), with its own `exp`.
/// Not secure in any way: it only shows the engine uses what it is given.
#[derive(Debug, Default)]
pub(crate) struct PlainCodec;

impl SessionCodec for PlainCodec {
    fn encode(&self, claims: &Claims, ctx: &mut EncodeContext<'_>) -> Result<String, JwtError> {
        let mut claims = claims.clone();
        claims.insert("exp".into(), json!(ctx.now_unix + ctx.settings.max_age));
        let json = serde_json::to_vec(&claims).map_err(|_| JwtError::Malformed)?;
        Ok(format!("plain.{}", crate::jose::b64(&json)))
    }

    fn decode(&self, token: &str, ctx: &DecodeContext<'_>) -> Result<Claims, JwtError> {
        let body = token.strip_prefix("plain.").ok_or(JwtError::Malformed)?;
        let bytes = crate::jose::unb64(body).map_err(|_| JwtError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
        match claims.get("exp").and_then(Value::as_i64) {
            Some(exp) if exp > ctx.now_unix => Ok(claims),
            _ => Err(JwtError::Expired),
        }
    }
}

/// The store the scenarios attach: it records every call, and either refuses every call
/// (to prove JWT sessions never need one) or passes it to a fresh store of the run's kind
/// (sled, SQLite, PostgreSQL, MariaDB, MongoDB, or the specs' own), failing the operations
/// a scenario names.
pub(crate) struct SpecStore {
    /// The store behind; empty while the real binary holds it (sled's one-process lock).
    inner: Mutex<Option<Arc<dyn Store>>>,
    /// Which store is behind (`None`: the refusing one).
    pub kind: Option<StoreKind>,
    pub location: Location,
    cleanup: Mutex<Option<Cleanup>>,
    fail: Mutex<HashSet<String>>,
    pub calls: Mutex<Vec<&'static str>>,
    /// Every verification row the engine handed to the store, as given.
    pub verification_rows: Mutex<Vec<VerificationToken>>,
}

impl std::fmt::Debug for SpecStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecStore")
            .field("kind", &self.kind)
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl SpecStore {
    /// Refuses and records every call.
    pub(crate) fn refusing() -> Self {
        Self {
            inner: Mutex::new(None),
            kind: None,
            location: Location::ThisHandle,
            cleanup: Mutex::new(None),
            fail: Mutex::new(HashSet::new()),
            calls: Mutex::new(Vec::new()),
            verification_rows: Mutex::new(Vec::new()),
        }
    }

    /// A fresh, empty store of `kind` (panics, saying which server is missing, when it
    /// cannot be made).
    pub(crate) async fn open(kind: StoreKind) -> Self {
        let fresh = crate::stores::fresh(kind)
            .await
            .unwrap_or_else(|why| panic!("no {kind} store for this scenario: {why}"));
        Self {
            inner: Mutex::new(Some(fresh.store)),
            kind: Some(kind),
            location: fresh.location,
            cleanup: Mutex::new(Some(fresh.cleanup)),
            ..Self::refusing()
        }
    }

    /// A sled store the real binary keeps in its data directory: opened by [`Self::attach`]
    /// while the binary is stopped (sled allows one process at a time).
    pub(crate) fn sled_of_binary() -> Self {
        Self {
            kind: Some(StoreKind::Sled),
            ..Self::refusing()
        }
    }

    /// Whether a handle on the store is open in this process.
    pub(crate) fn is_attached(&self) -> bool {
        self.inner.lock().unwrap().is_some()
    }

    /// Opens the store behind (the binary's sled, once the binary has stopped).
    pub(crate) fn attach(&self, store: Arc<dyn Store>) {
        *self.inner.lock().unwrap() = Some(store);
    }

    /// Lets go of the store behind (before the binary opens the same sled).
    pub(crate) fn release(&self) {
        self.inner.lock().unwrap().take();
    }

    /// Removes the store's database (after the scenario).
    pub(crate) async fn dispose(&self) {
        let cleanup = self.cleanup.lock().unwrap().take();
        if let Some(mut cleanup) = cleanup {
            cleanup.run().await;
        }
    }

    /// Makes `op` (`get_session_and_user`, `delete_session` …) fail from now on.
    pub(crate) fn fail(&self, op: &str) {
        self.fail.lock().unwrap().insert(op.to_owned());
    }

    /// The store behind, for arranging and inspecting records (not recorded, never failing).
    pub(crate) fn backend(&self) -> Arc<dyn Store> {
        self.inner
            .lock()
            .unwrap()
            .clone()
            .expect("this scenario's store refuses every call, or the real binary holds it")
    }

    /// How many times the engine called `op`.
    pub(crate) fn count(&self, op: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == op)
            .count()
    }

    fn check(&self, op: &'static str) -> Result<Arc<dyn Store>, StoreError> {
        self.calls.lock().unwrap().push(op);
        let inner = self.inner.lock().unwrap().clone();
        match inner {
            Some(inner) if !self.fail.lock().unwrap().contains(op) => Ok(inner),
            Some(_) => Err(StoreError::Backend(format!("{op}: failing on purpose"))),
            None => Err(StoreError::Backend(format!(
                "{op}: the recording store refuses"
            ))),
        }
    }
}

#[async_trait]
impl Store for SpecStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.check("create_user")?.create_user(user).await
    }
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.check("get_user")?.get_user(id).await
    }
    async fn get_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.check("get_user_by_email")?
            .get_user_by_email(email)
            .await
    }
    async fn get_user_by_account(&self, p: &str, a: &str) -> Result<Option<User>, StoreError> {
        self.check("get_user_by_account")?
            .get_user_by_account(p, a)
            .await
    }
    async fn update_user(&self, user: User) -> Result<User, StoreError> {
        self.check("update_user")?.update_user(user).await
    }
    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        self.check("delete_user")?.delete_user(id).await
    }
    async fn link_account(&self, account: Account) -> Result<Account, StoreError> {
        self.check("link_account")?.link_account(account).await
    }
    async fn get_account(&self, p: &str, a: &str) -> Result<Option<Account>, StoreError> {
        self.check("get_account")?.get_account(p, a).await
    }
    async fn get_accounts_for_user(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        self.check("get_accounts_for_user")?
            .get_accounts_for_user(user_id)
            .await
    }
    async fn unlink_account(&self, p: &str, a: &str) -> Result<(), StoreError> {
        self.check("unlink_account")?.unlink_account(p, a).await
    }
    async fn update_account_tokens(
        &self,
        p: &str,
        a: &str,
        expected: Option<&str>,
        tokens: AccountTokens,
    ) -> Result<Option<Account>, StoreError> {
        self.check("update_account_tokens")?
            .update_account_tokens(p, a, expected, tokens)
            .await
    }
    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        self.check("create_session")?.create_session(session).await
    }
    async fn get_session_and_user(
        &self,
        keys: &[&str],
    ) -> Result<Option<(Session, User)>, StoreError> {
        self.check("get_session_and_user")?
            .get_session_and_user(keys)
            .await
    }
    async fn update_session_expiry(
        &self,
        token: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.check("update_session_expiry")?
            .update_session_expiry(token, expires)
            .await
    }
    async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        self.check("delete_session")?.delete_session(token).await
    }
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        self.check("list_sessions")?.list_sessions(user_id).await
    }
    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        self.check("delete_sessions_for_user")?
            .delete_sessions_for_user(user_id)
            .await
    }
    async fn create_verification_token(&self, token: VerificationToken) -> Result<(), StoreError> {
        let store = self.check("create_verification_token")?;
        self.verification_rows.lock().unwrap().push(token.clone());
        store.create_verification_token(token).await
    }
    async fn use_verification_token(
        &self,
        identifier: &str,
        token_hash: &str,
    ) -> Result<Option<VerificationToken>, StoreError> {
        self.check("use_verification_token")?
            .use_verification_token(identifier, token_hash)
            .await
    }
    async fn revoke_jwt(
        &self,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.check("revoke_jwt")?
            .revoke_jwt(jti, expires, now)
            .await
    }
    async fn is_jwt_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.check("is_jwt_revoked")?.is_jwt_revoked(jti).await
    }
}

/// A clock the scenario moves by hand (embedded target): time passes only when a step
/// says so, so expiry is tested without sleeping.
#[derive(Debug)]
pub(crate) struct TestClock {
    unix: AtomicI64,
}

impl TestClock {
    pub(crate) fn at(unix: i64) -> Self {
        Self {
            unix: AtomicI64::new(unix),
        }
    }

    pub(crate) fn set(&self, unix: i64) {
        self.unix.store(unix, Ordering::SeqCst);
    }

    pub(crate) fn advance(&self, seconds: i64) {
        self.unix.fetch_add(seconds, Ordering::SeqCst);
    }

    pub(crate) fn unix(&self) -> i64 {
        self.unix.load(Ordering::SeqCst)
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.unix()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// The app's own link delivery (v3's `sendVerificationRequest`): records what it is given,
/// and fails when told to.
#[derive(Debug, Default)]
pub(crate) struct AppSender {
    pub seen: Mutex<Vec<VerificationRequest>>,
    pub fails: bool,
}

#[async_trait]
impl VerificationSender for AppSender {
    async fn send_verification_request(&self, request: &VerificationRequest) -> Result<(), String> {
        self.seen.lock().unwrap().push(request.clone());
        if self.fails {
            return Err("the app's mail service is down".into());
        }
        Ok(())
    }
}
