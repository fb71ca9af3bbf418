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
//! Each waiting state is a struct that carries exactly the data valid in it ([`Stage`]);
//! a step consumes it and returns the next one ([`Go`]). The declared machines still check
//! every move (`Machine::fire`), so code that takes an undeclared edge fails.
//!
//! Every check cookie the callback reads is cleared on the response, whatever the outcome.

mod account;
mod checks;
mod exchange;
mod link;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::oauth_signin::binding;
use super::{Cx, Fault, Next, RouteFlow, Started};
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

/// The state waiting on an outcome, with the data valid in it. One lives per request, and
/// it is boxed where it moves ([`Go`]), so its variants' sizes may differ.
#[allow(clippy::large_enum_variant)]
enum Stage {
    Discovering(exchange::Discovering),
    Exchanging(exchange::Exchanging),
    FetchingKeys(exchange::Keys),
    RefetchingKeys(exchange::Keys),
    FetchingProfile(exchange::Userinfo),
    Resolving(account::Resolving),
    CheckingSignIn(account::CheckingSignIn),
    Updating(link::Updating),
    Creating(link::Creating),
    Linking(link::Linking),
    Issuing(link::Issuing),
    /// Answered (or a step is running): no outcome is expected.
    Done,
}

/// What a step leads to: wait on an effect in a state, or answer.
enum Go {
    Wait(Effect, Box<Stage>),
    /// The answer (the check cookies are cleared on it).
    Reply(Reply),
}

struct OAuthCallback {
    cb: Callback,
    stage: Box<Stage>,
}

pub(super) fn start(
    cx: &mut Cx,
    provider_id: String,
    provider: OAuthProvider,
) -> Result<Started, Fault> {
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
        return Ok((Next::Done(reply), None));
    }
    let go = match cb.provider.protocol {
        Protocol::OAuth2 => checks::oauth2(&mut cb, cx)?,
        Protocol::OAuth1 => checks::oauth1(&mut cb, cx)?,
    };
    let go = match go {
        Ok(verified) => exchange::start(&mut cb, cx, verified)?,
        Err(reply) => Go::Reply(reply),
    };
    let mut flow = OAuthCallback {
        cb,
        stage: Box::new(Stage::Done),
    };
    let next = flow.settle(go);
    let waiting = matches!(next, Next::Effect(_));
    Ok((next, waiting.then(|| Box::new(flow) as Box<dyn RouteFlow>)))
}

impl RouteFlow for OAuthCallback {
    fn resume(&mut self, cx: &mut Cx, outcome: Outcome) -> Result<Next, Fault> {
        let cb = &mut self.cb;
        let stage = std::mem::replace(&mut *self.stage, Stage::Done);
        let go = match (stage, outcome) {
            (Stage::Discovering(s), Outcome::Http(answer)) => s.on_document(cb, cx, answer)?,
            (Stage::Exchanging(s), Outcome::Http(answer)) => s.on_tokens(cb, cx, answer)?,
            (Stage::FetchingKeys(s), Outcome::Http(answer)) => s.on_keys(cb, cx, answer, true)?,
            (Stage::RefetchingKeys(s), Outcome::Http(answer)) => {
                s.on_keys(cb, cx, answer, false)?
            }
            (Stage::FetchingProfile(s), Outcome::Http(answer)) => s.on_profile(cb, cx, answer)?,
            (Stage::Resolving(s), Outcome::Store(result)) => s.on_lookup(cb, cx, result)?,
            (Stage::CheckingSignIn(s), Outcome::SignIn(result)) => s.on_sign_in(cb, cx, result)?,
            (Stage::Updating(s), Outcome::Store(result)) => s.on_saved(cb, cx, result)?,
            (Stage::Creating(s), Outcome::Store(result)) => s.on_created(cb, cx, result)?,
            (Stage::Linking(s), Outcome::Store(result)) => s.on_linked(cb, cx, result)?,
            (Stage::Issuing(s), outcome) => s.resume(cb, cx, outcome)?,
            // The driver answered another question than the one asked.
            _ => {
                return Err(Fault::Unexpected(
                    "oauth_callback: outcome does not answer the effect",
                ))
            }
        };
        Ok(self.settle(go))
    }
}

impl OAuthCallback {
    fn settle(&mut self, go: Go) -> Next {
        match go {
            Go::Wait(effect, stage) => {
                self.stage = stage;
                Next::Effect(effect)
            }
            Go::Reply(mut reply) => {
                for cookie in self.cb.cleared.drain(..) {
                    reply = reply.with_cookie(cookie);
                }
                Next::Done(reply)
            }
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
