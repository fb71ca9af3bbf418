//! Ports: the traits Portcullis performs the domain's effects through.
//!
//! The domain (`portcullis-domain`) never does I/O; it yields effects as data. The embedded
//! app performs them through these traits, implemented by the adapters.

pub mod env;
pub mod hooks;
pub mod http;
pub mod limit;
pub mod mail;
pub mod outbox;
pub mod store;

pub use env::{Clock, Entropy};
pub use hooks::{
    Authorize, EventListener, Hooks, JwtCall, JwtHook, RedirectHook, SessionHook, SignInHook,
    VerificationSender,
};
pub use http::{
    Cache, CacheSettings, CachingHttpClient, HttpCall, HttpClient, HttpFailure, HttpMethod,
    HttpResponse,
};
pub use limit::{InProcessLimiter, RateLimiter};
pub use mail::{MailError, Mailer};
pub use outbox::{MemoryOutbox, Outbox, OutboxEntry};
pub use portcullis_domain::store::{StoreError, StoreOp, StoreReply};
pub use store::{perform, Store};
