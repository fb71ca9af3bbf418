//! The engine: one HTTP request is one [`Run`], stepped until it is done.
//!
//! ```text
//! let mut run = engine.begin(request, env);
//! let response = loop {
//!     match run.step() {
//!         Step::Effect(effect) => run.resume(perform(effect).await),
//!         Step::Done(response) => break response,
//!     }
//! };
//! for event in run.take_events() {
//!     tell_listeners(event).await;
//! }
//! ```

use std::sync::Arc;

use http::{Method, StatusCode};
use rand_core::CryptoRngCore;
use time::OffsetDateTime;

use crate::config::Config;
use crate::effect::{Effect, Outcome};
use crate::flow::Taken;
use crate::flows::{self, Cx, Flow, Waiting};
use crate::request::{AuthRequest, RequestError};
use crate::response::Reply;

/// What a run gets from outside: the time and a source of randomness.
pub struct Env {
    /// The request's time.
    pub now: OffsetDateTime,
    /// A cryptographic RNG: it mints CSRF tokens, OAuth checks and IVs. The operating
    /// system's in production (the driver's `Entropy` port); a seeded ChaCha in tests.
    pub rng: Box<dyn CryptoRngCore + Send>,
    /// The socket peer's address, for per-IP rate limits. Behind trusted proxies
    /// (`Config::trusted_proxies`) the engine reads the client's from the forwarding header.
    pub client_ip: Option<core::net::IpAddr>,
}

/// What a run wants next: an effect performed, or the response. Inside, every flow takes
/// the same shape with its continuation attached (`flows::Flow`: ask, or done with its
/// result); the driver sees only the effect, and resumes the run with the outcome.
// Returned by value once per step and never stored in bulk: boxing the effect would cost
// an allocation on every step of the hot path to save a few hundred bytes of stack.
#[allow(clippy::large_enum_variant)]
pub enum Step {
    /// Perform this, then `resume` with its outcome.
    Effect(Effect),
    /// Finished: the response to send.
    Done(http::Response<String>),
}

/// Shows a finished response's status only: its headers carry session cookies.
impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Effect(effect) => f.debug_tuple("Effect").field(effect).finish(),
            Step::Done(response) => f.debug_tuple("Done").field(&response.status()).finish(),
        }
    }
}

/// The pure authentication engine.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Arc<Config>,
}

impl Engine {
    /// An engine that serves every request under `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// The configuration it serves under.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts handling one request.
    pub fn begin(&self, request: &http::Request<bytes::Bytes>, env: Env) -> Run {
        let parsed = match AuthRequest::parse(request, &self.config.site) {
            Ok(parsed) => parsed,
            Err(error) => return Run::finished(reject(request.method(), &error), env),
        };
        let mut cx = Cx::new(self.config.clone(), parsed, env);
        let first = flows::start(&mut cx);
        let mut run = Run {
            cx: Some(cx),
            waiting: None,
            pending: None,
            fault: None,
        };
        run.advance(first);
        run
    }
}

/// A request being handled.
pub struct Run {
    cx: Option<Cx>,
    /// The step waiting for the outcome of the effect handed out last.
    waiting: Option<Box<dyn Waiting<Reply>>>,
    pending: Option<Step>,
    fault: Option<String>,
}

impl Run {
    /// Set when the run ended on a bug (an undeclared move, an outcome that does not fit
    /// the effect): the driver logs it. It holds no request data.
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    fn finished(reply: Reply, _env: Env) -> Self {
        Self {
            cx: None,
            waiting: None,
            pending: Some(Step::Done(reply.into_http(&[]))),
            fault: None,
        }
    }

    /// The next thing to do. After `Step::Done` the run is over.
    pub fn step(&mut self) -> Step {
        self.pending
            .take()
            .unwrap_or_else(|| Step::Done(internal_error().into_http(&[])))
    }

    /// Feeds the outcome of the effect `step` returned to the step waiting for it. The
    /// waiting step takes only an answer to the question it asked (`flows::ask`); any
    /// other outcome, or one with nothing waiting, ends the run on a fault.
    pub fn resume(&mut self, outcome: Outcome) {
        let next = match (self.waiting.take(), self.cx.as_mut()) {
            (Some(waiting), Some(cx)) => waiting.resume(cx, outcome),
            _ => Err(flows::Fault::Unexpected(
                "the driver's outcome comes with no effect pending",
            )),
        };
        self.advance(next);
    }

    /// The events this run produced for the app's listeners, in order; the driver delivers
    /// them once the run is done (they cannot change the response, so no flow waits).
    pub fn take_events(&mut self) -> Vec<crate::effect::AuthEvent> {
        self.cx
            .as_mut()
            .map(|cx| std::mem::take(&mut cx.events))
            .unwrap_or_default()
    }

    /// The declared transitions this run took so far.
    pub fn trace(&self) -> &[Taken] {
        self.cx
            .as_ref()
            .map(|cx| cx.trace.as_slice())
            .unwrap_or(&[])
    }

    fn advance(&mut self, next: Result<Flow<Reply>, flows::Fault>) {
        let step = match next {
            Ok(Flow::Ask(effect, waiting)) => {
                self.waiting = Some(waiting);
                Step::Effect(effect)
            }
            Ok(Flow::Done(reply)) => Step::Done(self.finish(reply)),
            Err(fault) => {
                self.fault = Some(fault.to_string());
                Step::Done(self.finish(internal_error()))
            }
        };
        self.pending = Some(step);
    }

    fn finish(&mut self, reply: Reply) -> http::Response<String> {
        self.waiting = None;
        match &self.cx {
            Some(cx) => reply.into_http(&cx.prelude_cookies),
            None => reply.into_http(&[]),
        }
    }
}

fn internal_error() -> Reply {
    Reply::text(StatusCode::INTERNAL_SERVER_ERROR, "Error: internal error")
}

fn reject(method: &Method, error: &RequestError) -> Reply {
    match error {
        RequestError::NotUnderBasePath => Reply::text(StatusCode::NOT_FOUND, "Not Found"),
        RequestError::BodyTooLarge => Reply::text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Error: request body too large",
        ),
        RequestError::InvalidJson => {
            Reply::text(StatusCode::BAD_REQUEST, "Error: invalid JSON body")
        }
        RequestError::BadPath => Reply::unsupported(method),
    }
}
