//! What the scenarios plug into the engine's ports: a credentials backend, scripted
//! callbacks, an event recorder, a custom codec, a store that records every call (in front
//! of the run's real store), an app's own link sender, a clock.

mod hooks;
mod store;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portcullis::{Clock, HookFailure, RequestInfo, VerificationSender};
use portcullis_domain::jwt::{Claims, DecodeContext, EncodeContext, JwtError, SessionCodec};
use portcullis_domain::mail::VerificationRequest;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

pub(crate) use hooks::{
    EventLog, HookScript, JwtScript, RedirectScript, ScriptedHooks, SessionScript, SignInScript,
    SignInStage,
};
pub(crate) use store::SpecStore;

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
