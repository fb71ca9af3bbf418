//! `GET|POST /callback/<oauth provider>` (spec §7.7, §7.8, §11.2): check what came back
//! against the sealed one-time checks, exchange the code, verify the ID token, read the
//! profile, then sign in, link or create — and always issue a fresh session.
//!
//! Four sub-machines, each declared with [`crate::flow!`] and run one after another, then
//! `session_issue`:
//! - [`checks`]: the check cookies and the provider's error answer (no effect);
//! - [`exchange`]: discovery and the token request, then the profile (JWKS, userinfo);
//! - [`account`]: who signs in (spec §11.2, [`account::decide`]) and the `signIn` hook;
//! - [`link`]: update, link or create, then issue the session and land.
//!
//! Each step waits on one typed question ([`wait`]) and owns exactly the data valid in its
//! state; it consumes that data and returns the next step ([`Go`]). The declared machines
//! still check every move (`Machine::fire`), so code that takes an undeclared edge fails.
//!
//! Every check cookie the callback reads is cleared on the response, whatever the outcome.

mod account;
mod checks;
mod exchange;
mod link;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::oauth_signin::binding;
use std::marker::PhantomData;

use super::ask::{self, Question};
use super::{Cx, Fault, Flow, Waiting};
use crate::effect::{Effect, Outcome};
use crate::error::ErrorCode;
use crate::model::User;
use crate::oauth::checks::Binding;
use crate::oauth::client::TokenSet;
use crate::oauth::{OAuthProvider, Profile, Protocol};
use crate::response::Reply;

pub(crate) use account::oauth_account;
pub(crate) use checks::oauth_checks;
pub(crate) use exchange::{oauth_exchange, oauth_profile};
pub(crate) use link::oauth_link;

/// Longest code, state or token we read back from a provider.
const MAX_PARAM_LEN: usize = 4096;

/// What stays the same through the whole callback.
struct Callback {
    provider_id: String,
    provider: OAuthProvider,
    binding: Binding,
    /// Check cookies to delete on the response.
    cleared: Vec<String>,
    m: Machines,
}

/// The declared sub-machines, each checking its own moves.
struct Machines {
    checks: oauth_checks::Machine,
    exchange: oauth_exchange::Machine,
    profile: oauth_profile::Machine,
    account: oauth_account::Machine,
    link: oauth_link::Machine,
}

/// The provider has vouched for a user: its tokens and the mapped profile.
struct Authenticated {
    tokens: TokenSet,
    profile: Profile,
    /// The session the sign-in started from, as sealed in its checks (see `session_key`).
    started_from: Option<String>,
}

/// What a step leads to: wait for the answer to a question, or answer.
enum Go {
    Wait(Effect, Box<dyn Step>),
    /// The answer (the check cookies are cleared on it).
    Reply(Reply),
}

/// A step parked on a question: it takes the answer, and the callback's constants with it.
/// The data of the state it waits in is what it owns.
trait Step: Send {
    fn take(self: Box<Self>, cb: &mut Callback, cx: &mut Cx, outcome: Outcome)
        -> Result<Go, Fault>;
}

/// Waits for the answer to `question`; `then` takes it.
fn wait<Q, F>(question: Q, then: F) -> Go
where
    Q: Question + 'static,
    F: FnOnce(&mut Callback, &mut Cx, Q::Answer) -> Result<Go, Fault> + Send + 'static,
{
    Go::Wait(
        question.effect(),
        Box::new(Waits::<Q, F> {
            then,
            question: PhantomData,
        }),
    )
}

struct Waits<Q, F> {
    then: F,
    question: PhantomData<fn() -> Q>,
}

impl<Q, F> Step for Waits<Q, F>
where
    Q: Question,
    F: FnOnce(&mut Callback, &mut Cx, Q::Answer) -> Result<Go, Fault> + Send,
{
    fn take(
        self: Box<Self>,
        cb: &mut Callback,
        cx: &mut Cx,
        outcome: Outcome,
    ) -> Result<Go, Fault> {
        (self.then)(cb, cx, ask::answer::<Q>(outcome)?)
    }
}

/// Runs a sub-flow (issuing the session) to its end; `then` takes its result.
fn follow<T, F>(cb: &mut Callback, cx: &mut Cx, flow: Flow<T>, then: F) -> Result<Go, Fault>
where
    T: 'static,
    F: FnOnce(&mut Callback, &mut Cx, T) -> Result<Go, Fault> + Send + 'static,
{
    match flow {
        Flow::Done(result) => then(cb, cx, result),
        Flow::Ask(effect, waiting) => Ok(Go::Wait(effect, Box::new(Following { waiting, then }))),
    }
}

struct Following<T, F> {
    waiting: Box<dyn Waiting<T>>,
    then: F,
}

impl<T, F> Step for Following<T, F>
where
    T: 'static,
    F: FnOnce(&mut Callback, &mut Cx, T) -> Result<Go, Fault> + Send + 'static,
{
    fn take(
        self: Box<Self>,
        cb: &mut Callback,
        cx: &mut Cx,
        outcome: Outcome,
    ) -> Result<Go, Fault> {
        let next = self.waiting.resume(cx, outcome)?;
        follow(cb, cx, next, self.then)
    }
}

/// The callback waiting on a step.
struct OAuthCallback {
    cb: Callback,
    step: Box<dyn Step>,
}

pub(super) fn start(
    cx: &mut Cx,
    provider_id: String,
    provider: OAuthProvider,
) -> Result<Flow<Reply>, Fault> {
    let binding = binding(cx, &provider_id, &provider);
    let mut cb = Callback {
        provider_id,
        provider,
        binding,
        cleared: Vec::new(),
        m: Machines {
            checks: oauth_checks::machine(),
            exchange: oauth_exchange::machine(),
            profile: oauth_profile::machine(),
            account: oauth_account::machine(),
            link: oauth_link::machine(),
        },
    };
    if let Some(reply) = checks::reroute_form_post(&mut cb, cx)? {
        return Ok(Flow::Done(reply));
    }
    let go = match cb.provider.protocol {
        Protocol::OAuth2 => checks::oauth2(&mut cb, cx)?,
        Protocol::OAuth1 => checks::oauth1(&mut cb, cx)?,
    };
    let go = match go {
        Ok(verified) => exchange::start(&mut cb, cx, verified)?,
        Err(reply) => Go::Reply(reply),
    };
    Ok(settle(cb, go))
}

impl Waiting<Reply> for OAuthCallback {
    fn resume(self: Box<Self>, cx: &mut Cx, outcome: Outcome) -> Result<Flow<Reply>, Fault> {
        let OAuthCallback { mut cb, step } = *self;
        let go = step.take(&mut cb, cx, outcome)?;
        Ok(settle(cb, go))
    }
}

/// The callback's next step as a route flow's: waiting, or the reply with every check
/// cookie cleared.
fn settle(mut cb: Callback, go: Go) -> Flow<Reply> {
    match go {
        Go::Wait(effect, step) => Flow::Ask(effect, Box::new(OAuthCallback { cb, step })),
        Go::Reply(mut reply) => {
            for cookie in cb.cleared.drain(..) {
                reply = reply.with_cookie(cookie);
            }
            Flow::Done(reply)
        }
    }
}

impl Callback {
    /// A parameter of the callback: query for GET, body for POST.
    fn param<'a>(&self, cx: &'a Cx, name: &str) -> Option<&'a str> {
        let value = if cx.req.method == Method::POST {
            cx.req.body_str(name).or_else(|| cx.req.query_str(name))
        } else {
            cx.req.query_str(name)
        };
        value.filter(|v| !v.is_empty() && v.len() <= MAX_PARAM_LEN)
    }

    /// `error?error=<code>`, not cached.
    fn error(&self, cx: &Cx, code: ErrorCode) -> Go {
        Go::Reply(cx.redirect(cx.error_url(&code), StatusCode::OK).no_store())
    }

    /// The account without its tokens (events, which may be logged).
    fn public_account(&self, profile_id: &str) -> Value {
        json!({
            "provider": self.provider_id,
            "type": "oauth",
            "id": profile_id,
            "providerAccountId": profile_id,
        })
    }

    /// The account as v3 hands it to `signIn` and `jwt` (spec §7.2): provider, type, id and
    /// the provider tokens (`accessToken` …) an app may keep in its JWT.
    fn hook_account(&self, auth: &Authenticated) -> Value {
        let mut account = self.public_account(&auth.profile.id);
        let tokens = &auth.tokens;
        if let Value::Object(map) = &mut account {
            map.insert("accessToken".into(), tokens.access_token.expose().into());
            map.insert(
                "refreshToken".into(),
                tokens.refresh_token.as_ref().map(|t| t.expose()).into(),
            );
            map.insert(
                "accessTokenExpires".into(),
                tokens
                    .expires_at
                    .map(|at| at.unix_timestamp() * 1000)
                    .into(),
            );
            map.insert(
                "idToken".into(),
                tokens.id_token.as_ref().map(|t| t.expose()).into(),
            );
            if let Some(scope) = &tokens.scope {
                map.insert("scope".into(), scope.clone().into());
            }
        }
        account
    }
}

/// The profile as the user v3 hands to hooks when no stored user exists.
fn profile_user(profile: &Profile) -> Value {
    json!({
        "id": profile.id,
        "name": profile.name,
        "email": profile.email,
        "image": profile.image,
    })
}

fn user_json(user: &User) -> Value {
    super::common::user_json(user)
}
