//! `[hooks.*]`: checks each hook's settings (errors name the key) and attaches the
//! HTTP hooks to the engine.

use std::sync::Arc;
use std::time::Duration;

use portcullis::{OsEntropy, SystemClock};
use portcullis_domain::site::SiteUrl;
use portcullis_hooks_http::{Caller, Endpoint, HttpHooks, HttpVerificationSender, WebhookSecrets};

use crate::config::{HookConfig, ProviderConfig, ServerConfig};
use crate::error::StartupError;

/// The longest `timeout_ms` accepted: a sign-in waits this long at most.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// Every configured hook's endpoint, or the first error, naming its key
/// (`hooks.jwt.secret: …`).
pub fn endpoints(config: &ServerConfig) -> Result<Vec<(&'static str, Endpoint)>, StartupError> {
    config
        .hooks
        .endpoints()
        .into_iter()
        .map(|(name, hook)| endpoint(name, &hook).map(|e| (name, e)))
        .collect()
}

fn endpoint(name: &str, hook: &HookConfig) -> Result<Endpoint, StartupError> {
    let key = |field: &str, message: String| {
        StartupError::Settings(format!("hooks.{name}.{field}: {message}"))
    };
    let url =
        url::Url::parse(hook.url.trim()).map_err(|e| key("url", format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(key(
            "url",
            "must be an http:// or https:// URL with a host".into(),
        ));
    }
    let Some(secret) = &hook.secret else {
        return Err(key(
            "secret",
            format!(
                "missing: set a Standard Webhooks secret `whsec_…` (or PORTCULLIS_HOOK_{}_SECRET)",
                name.to_ascii_uppercase()
            ),
        ));
    };
    let secrets = WebhookSecrets::parse(&secret.to_vec()).map_err(|e| key("secret", e))?;
    if !(1..=MAX_TIMEOUT_MS).contains(&hook.timeout_ms) {
        return Err(key(
            "timeout_ms",
            format!("must be 1 to {MAX_TIMEOUT_MS}, got {}", hook.timeout_ms),
        ));
    }
    Ok(Endpoint {
        url: url.to_string(),
        secrets,
        timeout: Duration::from_millis(hook.timeout_ms),
    })
}

/// Attaches the configured hooks to `builder`: the decision hooks as the engine's
/// [`portcullis::Hooks`], `send_email` as its magic-link sender. Nothing configured:
/// `builder` unchanged.
pub fn attach(
    mut builder: portcullis::Builder,
    config: &ServerConfig,
    demo_fields: Option<(&str, &[portcullis::CredentialField])>,
) -> Result<portcullis::Builder, StartupError> {
    let endpoints = endpoints(config)?;
    if endpoints.is_empty() {
        return Ok(builder);
    }
    // Each call is bounded by its hook's `timeout_ms`; the client's own bound must not be
    // shorter.
    let settings = portcullis_http_reqwest::Settings {
        total_timeout: Duration::from_millis(MAX_TIMEOUT_MS),
        // The operator's own hook server, typically on the internal network.
        allow_private_network: true,
        ..portcullis_http_reqwest::Settings::default()
    };
    let http = portcullis_http_reqwest::ReqwestHttpClient::with_settings(settings)
        .map_err(|e| StartupError::Settings(format!("hooks: {e}")))?;
    let caller = Caller::new(Arc::new(http), Arc::new(SystemClock), Arc::new(OsEntropy));
    let site = SiteUrl::parse(&config.effective_url())
        .map_err(|e| StartupError::Settings(format!("url: {e}")))?;
    let mut hooks = HttpHooks::new(caller.clone(), site);
    let mut decisions = false;
    for (name, endpoint) in endpoints {
        match name {
            "sign_in" => hooks = hooks.with_sign_in(endpoint),
            "jwt" => {
                let on_read = config.hooks.jwt.as_ref().is_some_and(|j| j.on_read);
                hooks = hooks.with_jwt(endpoint, on_read);
            }
            "session" => hooks = hooks.with_session(endpoint),
            "redirect" => hooks = hooks.with_redirect(endpoint),
            _ => {
                builder = builder.verification_sender(Arc::new(HttpVerificationSender::new(
                    caller.clone(),
                    endpoint,
                )));
                continue;
            }
        }
        decisions = true;
    }
    if !decisions {
        return Ok(builder);
    }
    // `sign_in` may see each credentials form's fields, never one of type `password`.
    for provider in &config.providers {
        if let ProviderConfig::Credentials(c) = provider {
            let fields = c.fields.clone().unwrap_or_else(crate::app::default_fields);
            hooks = hooks.credentials_provider(&c.id, &fields);
        }
    }
    if let Some((id, fields)) = demo_fields {
        hooks = hooks.credentials_provider(id, fields);
    }
    Ok(builder.hooks(hooks.into_hooks()))
}
