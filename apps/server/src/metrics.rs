//! `[metrics]`: the engine's [`Meter`] as Prometheus metrics (the `prometheus-client`
//! crate, OpenMetrics text), served at `GET /metrics` on a listener of its own or, behind a
//! bearer token, on the main one.
//!
//! | metric | labels |
//! |---|---|
//! | `portcullis_sign_ins_total` | `provider`, `outcome` (`ok`, `csrf`, `rate_limited` or a v3 error code) |
//! | `portcullis_session_reads_total` | `result` (`signed_in`, `anonymous`) |
//! | `portcullis_hook_duration_seconds` | `hook` (`jwt`, `session`, `sign_in`, `redirect`, `event`, `authorize`, `send_verification`) |
//! | `portcullis_provider_request_duration_seconds` | `host`, `result` (`answered`, `failed`) |
//! | `portcullis_rate_limit_refusals_total` | `scope`, `per` (`ip`, `id`) |
//!
//! Every label value comes from the configuration or a fixed list (see
//! [`portcullis::metrics`]): no user, address or token.

use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderValue, StatusCode};
use portcullis::Meter;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use warp::Filter;

use crate::config::MetricsToken;

/// The OpenMetrics text format's media type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    provider: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabel {
    hook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    host: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ThrottleLabels {
    scope: String,
    per: String,
}

/// 1 ms to about 16 s, doubling: a callback or a provider round trip.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The registry and the handles the engine updates.
pub struct Metrics {
    registry: Registry,
    sign_ins: Family<SignInLabels, Counter>,
    /// The two session-read counters, made once: the hot path is one atomic add.
    reads_signed_in: Counter,
    reads_anonymous: Counter,
    hooks: Family<HookLabel, Histogram, fn() -> Histogram>,
    provider_calls: Family<ProviderLabels, Histogram, fn() -> Histogram>,
    throttled: Family<ThrottleLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, named with the prefix `portcullis`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let sign_ins = Family::<SignInLabels, Counter>::default();
        registry.register(
            "sign_ins",
            "Sign-in callbacks by provider and outcome (ok, csrf, rate_limited or a v3 error code)",
            sign_ins.clone(),
        );
        let reads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "session_reads",
            "GET /session answers, with a session or without",
            reads.clone(),
        );
        let reads_signed_in = reads
            .get_or_create(&ResultLabel {
                result: "signed_in".into(),
            })
            .clone();
        let reads_anonymous = reads
            .get_or_create(&ResultLabel {
                result: "anonymous".into(),
            })
            .clone();
        let hooks = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "hook_duration_seconds",
            "Time in callbacks, credentials backends and the magic-link sender",
            hooks.clone(),
        );
        let provider_calls = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "provider_request_duration_seconds",
            "Time of requests to OAuth and OpenID providers, by host",
            provider_calls.clone(),
        );
        let throttled = Family::<ThrottleLabels, Counter>::default();
        registry.register(
            "rate_limit_refusals",
            "Attempts refused by a rate limit, by scope and key kind",
            throttled.clone(),
        );
        Self {
            registry,
            sign_ins,
            reads_signed_in,
            reads_anonymous,
            hooks,
            provider_calls,
            throttled,
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Meter for Metrics {
    fn sign_in(&self, provider: &str, outcome: &str) {
        self.sign_ins
            .get_or_create(&SignInLabels {
                provider: provider.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    fn session_read(&self, signed_in: bool) {
        if signed_in {
            self.reads_signed_in.inc();
        } else {
            self.reads_anonymous.inc();
        }
    }

    fn hook(&self, hook: &str, elapsed: Duration) {
        self.hooks
            .get_or_create(&HookLabel {
                hook: hook.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    fn provider_call(&self, host: &str, elapsed: Duration, ok: bool) {
        self.provider_calls
            .get_or_create(&ProviderLabels {
                host: host.to_owned(),
                result: if ok { "answered" } else { "failed" }.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    fn throttled(&self, scope: &str, per: &str) {
        self.throttled
            .get_or_create(&ThrottleLabels {
                scope: scope.to_owned(),
                per: per.to_owned(),
            })
            .inc();
    }
}

/// `GET /metrics`: with a `token`, only for `Authorization: Bearer <token>` (401 otherwise,
/// the same for a missing and a wrong token). Every request falls through when `metrics`
/// is `None`.
pub fn routes(
    metrics: Option<Arc<Metrics>>,
    token: Option<MetricsToken>,
) -> impl Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    let on = warp::any().and_then(move || {
        let metrics = metrics.clone();
        async move { metrics.ok_or_else(warp::reject::not_found) }
    });
    on.and(warp::path!("metrics"))
        .and(warp::get())
        .and(warp::header::optional::<String>("authorization"))
        .map(
            move |metrics: Arc<Metrics>, authorization: Option<String>| {
                let allowed = match &token {
                    None => true,
                    Some(token) => authorization
                        .as_deref()
                        .and_then(|value| value.strip_prefix("Bearer "))
                        .is_some_and(|presented| token.matches(presented.trim())),
                };
                if !allowed {
                    let mut response = text(StatusCode::UNAUTHORIZED, "unauthorized".into());
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer realm=\"metrics\""),
                    );
                    return response;
                }
                let mut response = text(StatusCode::OK, metrics.render());
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
                response
            },
        )
}

fn text(status: StatusCode, body: String) -> http::Response<String> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_each_family_with_its_labels() {
        let metrics = Metrics::new();
        metrics.sign_in("github", "OAuthCallback");
        metrics.session_read(true);
        metrics.hook("jwt", Duration::from_millis(3));
        metrics.provider_call("github.com", Duration::from_millis(40), true);
        metrics.throttled("credentials:ldap", "ip");
        let text = metrics.render();
        for line in [
            "portcullis_sign_ins_total{provider=\"github\",outcome=\"OAuthCallback\"} 1",
            "portcullis_session_reads_total{result=\"signed_in\"} 1",
            "portcullis_session_reads_total{result=\"anonymous\"} 0",
            "portcullis_hook_duration_seconds_count{hook=\"jwt\"} 1",
            "portcullis_provider_request_duration_seconds_count{host=\"github.com\",result=\"answered\"} 1",
            "portcullis_rate_limit_refusals_total{scope=\"credentials:ldap\",per=\"ip\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
