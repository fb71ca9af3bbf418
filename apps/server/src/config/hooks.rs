//! `[hooks]`: the signed HTTP hooks, and `[hooks.events]`.

use super::{NatsUrl, Secrets};
use schemars::JsonSchema;
use serde::Deserialize;

/// The hooks (docs/hooks.md). A hook left out keeps NextAuth v3's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HooksSection {
    /// v3's `callbacks.signIn`: answers allow, deny or a redirect on the site.
    #[serde(default)]
    pub sign_in: Option<HookConfig>,
    /// v3's `callbacks.jwt`: claims in, claims out (`sub`, `iat`, `exp`, `jti` protected).
    #[serde(default)]
    pub jwt: Option<JwtHookConfig>,
    /// v3's `callbacks.session`: the session JSON the client sees; runs on every session
    /// read (the session JSON only exists there).
    #[serde(default)]
    pub session: Option<HookConfig>,
    /// v3's `callbacks.redirect`: asked where a `callbackUrl` given on a request leads.
    /// Its answer stays within the site's origin and `[redirects] allowed_origins`; a
    /// failed call sends the user to the site's base URL.
    #[serde(default)]
    pub redirect: Option<HookConfig>,
    /// Delivers sign-in links through the operator's mail API instead of SMTP: e-mail
    /// providers then need no `smtp`.
    #[serde(default)]
    pub send_email: Option<HookConfig>,
    /// v3's `events`: signIn, signOut, createUser, updateUser, linkAccount and session,
    /// POSTed to the operator's receiver or published to NATS JetStream (docs/hooks.md,
    /// "Events").
    #[serde(default)]
    pub events: Option<EventsHookConfig>,
}

/// One hook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// The endpoint: an `http://` or `https://` URL, called with `POST`.
    pub url: String,
    /// The Standard Webhooks secret `whsec_<base64 of 24 to 64 random bytes>`, or a list
    /// while rotating (each signs the request; an answer signed by any one is accepted).
    /// Env: `PORTCULLIS_HOOK_<NAME>_SECRET` (e.g. `PORTCULLIS_HOOK_SIGN_IN_SECRET`; several
    /// separated by spaces), which keeps it out of the file.
    #[serde(default)]
    pub secret: Option<Secrets>,
    /// Milliseconds the whole call may take; then the hook fails closed. Default 2000.
    #[serde(default = "default_hook_timeout_ms")]
    pub timeout_ms: u64,
}

/// The `jwt` hook's endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtHookConfig {
    /// As in every hook: an `http://` or `https://` URL.
    pub url: String,
    /// As in every hook: `whsec_…` or a list. Env: `PORTCULLIS_HOOK_JWT_SECRET`.
    #[serde(default)]
    pub secret: Option<Secrets>,
    /// As in every hook. Default 2000.
    #[serde(default = "default_hook_timeout_ms")]
    pub timeout_ms: u64,
    /// Also call the hook on every session read (one HTTP call per read). Default false:
    /// at sign-in only; reads serve the claims the token carries.
    #[serde(default)]
    pub on_read: bool,
}

/// The default bound on one hook call.
pub const DEFAULT_HOOK_TIMEOUT_MS: u64 = 2000;

fn default_hook_timeout_ms() -> u64 {
    DEFAULT_HOOK_TIMEOUT_MS
}

impl JwtHookConfig {
    /// The endpoint part, as any hook has it.
    pub fn endpoint(&self) -> HookConfig {
        HookConfig {
            url: self.url.clone(),
            secret: self.secret.clone(),
            timeout_ms: self.timeout_ms,
        }
    }
}

impl HooksSection {
    /// The configured endpoints, by hook name (`sign_in`, `jwt`, …).
    pub fn endpoints(&self) -> Vec<(&'static str, HookConfig)> {
        [
            ("sign_in", self.sign_in.clone()),
            ("jwt", self.jwt.as_ref().map(JwtHookConfig::endpoint)),
            ("session", self.session.clone()),
            ("redirect", self.redirect.clone()),
            ("send_email", self.send_email.clone()),
        ]
        .into_iter()
        .filter_map(|(name, hook)| hook.map(|hook| (name, hook)))
        .collect()
    }

    /// `PORTCULLIS_HOOK_<NAME>_SECRET` replaces the secret of a configured hook.
    pub(super) fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) {
        let from_env = |name: &str| {
            get(&format!(
                "PORTCULLIS_HOOK_{}_SECRET",
                name.to_ascii_uppercase()
            ))
            .map(|v| Secrets::Many(v.split_whitespace().map(str::to_owned).collect()))
        };
        let slots = [
            ("sign_in", self.sign_in.as_mut().map(|h| &mut h.secret)),
            ("jwt", self.jwt.as_mut().map(|h| &mut h.secret)),
            ("session", self.session.as_mut().map(|h| &mut h.secret)),
            ("redirect", self.redirect.as_mut().map(|h| &mut h.secret)),
            (
                "send_email",
                self.send_email.as_mut().map(|h| &mut h.secret),
            ),
        ];
        for (name, slot) in slots {
            if let (Some(slot), Some(secrets)) = (slot, from_env(name)) {
                *slot = Some(secrets);
            }
        }
    }
}

/// `[hooks.events]`: events go to `url`, signed, or to NATS JetStream (`[hooks.events.nats]`),
/// retried until delivered. They are kept in the store until then (sled or SQL: a restart
/// loses none); without one (`stateless`, or MongoDB for now) in a bounded memory queue that
/// drops the oldest when full.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsHookConfig {
    /// The webhook receiver: an `http://` or `https://` URL. Exactly one of `url` and
    /// `[hooks.events.nats]`.
    #[serde(default)]
    pub url: Option<String>,
    /// With `url`: a Standard Webhooks secret, `whsec_` and the base64 of 24 to 64 random
    /// bytes (`echo whsec_$(openssl rand -base64 32)`), or a list while rotating: every one
    /// signs each request.
    #[serde(default)]
    pub secret: Option<Secrets>,
    /// Events published to NATS JetStream instead of POSTed.
    #[serde(default)]
    pub nats: Option<NatsEventsConfig>,
    /// Bound on one delivery attempt, in milliseconds (and, with NATS, on connecting).
    /// Default 5000.
    #[serde(default = "default_events_timeout_ms")]
    pub timeout_ms: u64,
    /// The first retry's delay, in milliseconds; each later one doubles, with jitter.
    /// Default 1000.
    #[serde(default = "default_events_retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// The longest delay between two retries, in milliseconds. Default 600000 (10 min).
    #[serde(default = "default_events_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Without a durable store: events held in memory at most; when full, the oldest is
    /// dropped (an error is logged). Default 10000.
    #[serde(default = "default_events_queue_capacity")]
    pub queue_capacity: usize,
}

/// `[hooks.events.nats]`: each event published to a JetStream subject with its id as
/// `Nats-Msg-Id`, delivered once the stream acks it (docs/hooks.md, "Events to NATS").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsEventsConfig {
    /// `nats://host:4222`, with `user:password@` or `token@` when the server wants them, or
    /// `tls://…`; several comma-separated for a cluster.
    pub url: NatsUrl,
    /// The subject events are published to, e.g. `portcullis.events`.
    pub subject: String,
    /// The stream that must store them, created (file storage, default limits) if missing;
    /// left out, a stream taking `subject` must exist.
    #[serde(default)]
    pub stream: Option<String>,
    /// With `stream`: its subjects when created. Default: `[subject]`.
    #[serde(default)]
    pub subjects: Option<Vec<String>>,
}

fn default_events_timeout_ms() -> u64 {
    5000
}

fn default_events_retry_initial_ms() -> u64 {
    1000
}

fn default_events_retry_max_ms() -> u64 {
    600_000
}

fn default_events_queue_capacity() -> usize {
    10_000
}
