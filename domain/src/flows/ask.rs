//! A flow that needs the outside world asks one [`Question`] and names the step that takes
//! its answer. The question fixes the answer's type, so a step is only ever handed the
//! answer to what it asked: a store step cannot be given a hook's answer, and no flow has a
//! catch-all arm for answers it did not ask for. The state a step needs is what its closure
//! owns, moved from step to step (rustls's handshake states, `handle(self) -> next`).
//!
//! The driver's outcome arrives untyped ([`Outcome`]); it is matched to the question in one
//! place, [`answer`], where a mismatch is the driver breaking the protocol.

use std::marker::PhantomData;

use serde_json::Value;

use super::{Cx, Fault};
use crate::effect::{
    AuthorizeCall, Effect, HookCall, HookFailure, Outcome, SignInDecision, ThrottleCheck,
};
use crate::http::{HttpCall, HttpFailure, HttpResponse};
use crate::jwt::Claims;
use crate::mail::VerificationRequest;

/// What a flow does next: ask the driver, with the step that waits for the answer, or
/// finish with `T` (a route flow's reply; issuing a session's cookie).
// Moved once per step, never stored in bulk: boxing the effect would cost an allocation on
// every step of the hot path (the same trade as `engine::Step`).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Flow<T> {
    /// Perform this effect, then hand its outcome to the waiting step.
    Ask(Effect, Box<dyn Waiting<T>>),
    /// Finished with this.
    Done(T),
}

/// The step a flow parked on an effect: it takes the effect's outcome, once.
pub(crate) trait Waiting<T>: Send {
    /// Goes on with `outcome`, the answer to the effect this step was parked on.
    fn resume(self: Box<Self>, cx: &mut Cx, outcome: Outcome) -> Result<Flow<T>, Fault>;
}

/// Something a flow asks the driver, and the type of its answer.
pub(crate) trait Question {
    /// What the driver answers.
    type Answer;
    /// The effect the driver performs.
    fn effect(self) -> Effect;
    /// The answer inside `outcome`, or `None` when it answers another question.
    fn answer(outcome: Outcome) -> Option<Self::Answer>;
}

/// Asks `question`; `then` takes its answer.
pub(crate) fn ask<Q, T, F>(question: Q, then: F) -> Flow<T>
where
    Q: Question + 'static,
    T: 'static,
    F: FnOnce(&mut Cx, Q::Answer) -> Result<Flow<T>, Fault> + Send + 'static,
{
    Flow::Ask(
        question.effect(),
        Box::new(Asked::<Q, F> {
            then,
            question: PhantomData,
        }),
    )
}

/// A step parked on a question of type `Q`.
struct Asked<Q, F> {
    then: F,
    question: PhantomData<fn() -> Q>,
}

impl<Q, T, F> Waiting<T> for Asked<Q, F>
where
    Q: Question,
    F: FnOnce(&mut Cx, Q::Answer) -> Result<Flow<T>, Fault> + Send,
{
    fn resume(self: Box<Self>, cx: &mut Cx, outcome: Outcome) -> Result<Flow<T>, Fault> {
        (self.then)(cx, answer::<Q>(outcome)?)
    }
}

/// The answer to `Q` in `outcome`. The one place an outcome meets its question: any other
/// outcome is the driver breaking the protocol (a fault, not bad input).
pub(crate) fn answer<Q: Question>(outcome: Outcome) -> Result<Q::Answer, Fault> {
    Q::answer(outcome).ok_or(Fault::Unexpected(
        "the driver's outcome does not answer the effect asked",
    ))
}

impl<T: 'static> Flow<T> {
    /// Runs this flow to its end, then goes on with `then`: how a route flow runs a
    /// sub-flow (issuing a session) and takes its result.
    pub(crate) fn then<U, F>(self, cx: &mut Cx, then: F) -> Result<Flow<U>, Fault>
    where
        U: 'static,
        F: FnOnce(&mut Cx, T) -> Result<Flow<U>, Fault> + Send + 'static,
    {
        match self {
            Flow::Done(value) => then(cx, value),
            Flow::Ask(effect, waiting) => Ok(Flow::Ask(effect, Box::new(Then { waiting, then }))),
        }
    }
}

/// A sub-flow under way, and the step that takes its result.
struct Then<T, F> {
    waiting: Box<dyn Waiting<T>>,
    then: F,
}

impl<T, U, F> Waiting<U> for Then<T, F>
where
    T: 'static,
    U: 'static,
    F: FnOnce(&mut Cx, T) -> Result<Flow<U>, Fault> + Send + 'static,
{
    fn resume(self: Box<Self>, cx: &mut Cx, outcome: Outcome) -> Result<Flow<U>, Fault> {
        self.waiting.resume(cx, outcome)?.then(cx, self.then)
    }
}

/// Pairs a question type with the effect variant that carries it and the outcome variant
/// that answers it.
macro_rules! question {
    ($question:ty => $effect:expr, $outcome:ident($answer:ty)) => {
        impl Question for $question {
            type Answer = $answer;
            fn effect(self) -> Effect {
                $effect(self)
            }
            fn answer(outcome: Outcome) -> Option<$answer> {
                match outcome {
                    Outcome::$outcome(answer) => Some(answer),
                    _ => None,
                }
            }
        }
    };
}

question!(AuthorizeCall => Effect::Authorize, Authorized(Result<Option<Value>, HookFailure>));
question!(ThrottleCheck => Effect::Throttle, Throttle(bool));
question!(VerificationRequest => Effect::SendVerification, Sent(Result<(), String>));
question!(HttpCall => Effect::Http, Http(Result<HttpResponse, HttpFailure>));
question!(SignInCall => SignInCall::hook, SignIn(Result<SignInDecision, HookFailure>));
question!(JwtCall => JwtCall::hook, Token(Result<Claims, HookFailure>));
question!(SessionCall => SessionCall::hook, Session(Result<Value, HookFailure>));
question!(RedirectCall => RedirectCall::hook, Redirect(Result<String, HookFailure>));

/// The `signIn` callback's arguments.
pub(crate) struct SignInCall {
    pub(crate) user: Value,
    pub(crate) account: Value,
    pub(crate) profile: Value,
}

/// The `jwt` callback's arguments.
pub(crate) struct JwtCall {
    pub(crate) token: Claims,
    pub(crate) user: Option<Value>,
    pub(crate) account: Option<Value>,
    pub(crate) profile: Option<Value>,
    pub(crate) is_new_user: Option<bool>,
}

/// The `session` callback's arguments.
pub(crate) struct SessionCall {
    pub(crate) session: Value,
    pub(crate) token: Value,
}

/// The `redirect` callback's arguments.
pub(crate) struct RedirectCall {
    pub(crate) url: String,
    pub(crate) base_url: String,
}

impl SignInCall {
    fn hook(self) -> Effect {
        let Self {
            user,
            account,
            profile,
        } = self;
        Effect::Hook(HookCall::SignIn {
            user,
            account,
            profile,
        })
    }
}

impl JwtCall {
    fn hook(self) -> Effect {
        let Self {
            token,
            user,
            account,
            profile,
            is_new_user,
        } = self;
        Effect::Hook(HookCall::Jwt {
            token,
            user,
            account,
            profile,
            is_new_user,
        })
    }
}

impl SessionCall {
    fn hook(self) -> Effect {
        let Self { session, token } = self;
        Effect::Hook(HookCall::Session { session, token })
    }
}

impl RedirectCall {
    fn hook(self) -> Effect {
        let Self { url, base_url } = self;
        Effect::Hook(HookCall::Redirect { url, base_url })
    }
}
