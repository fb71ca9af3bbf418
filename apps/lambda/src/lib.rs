//! Portcullis on AWS Lambda: the server's routes, from API Gateway (REST and HTTP API),
//! function URL and Application Load Balancer events, configured from the environment
//! alone. A thin layer: the configuration is the server's ([`ServerConfig`]), and each
//! event becomes one [`Portcullis::handle_from`] call.

use std::net::IpAddr;
use std::path::Path;

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use portcullis::Portcullis;
use portcullis_server::config::ServerConfig;
use portcullis_server::error::StartupError;

/// The whole configuration file, inline (TOML). Wins over [`CONFIG_FILE_VAR`].
pub const CONFIG_TOML_VAR: &str = "PORTCULLIS_CONFIG_TOML";

/// A configuration file bundled with the function (as `portcullis --config` reads it).
pub const CONFIG_FILE_VAR: &str = "PORTCULLIS_CONFIG";

/// The configuration from the environment: the TOML of [`CONFIG_TOML_VAR`], else the file
/// of [`CONFIG_FILE_VAR`], else none; then every variable `portcullis serve` reads
/// (`NEXTAUTH_URL`, `NEXTAUTH_SECRET`, `PORTCULLIS_JWT_*`, hook secrets …).
///
/// Without a `database`, sessions are JWTs with no store (`stateless`): an instance's disk
/// is neither shared with the other instances nor kept, so the server's embedded sled
/// store has no place here.
pub fn config_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<ServerConfig, StartupError> {
    let mut config = match (env(CONFIG_TOML_VAR), env(CONFIG_FILE_VAR)) {
        (Some(text), _) if !text.trim().is_empty() => {
            let mut config = ServerConfig::from_toml(&text).map_err(|e| match e {
                // Name the variable the text came from, not a file.
                StartupError::ConfigFile { message, .. } => StartupError::ConfigFile {
                    path: CONFIG_TOML_VAR.into(),
                    message,
                },
                other => other,
            })?;
            config.apply_env(env)?;
            config
        }
        (_, Some(path)) if !path.is_empty() => ServerConfig::load(Some(Path::new(&path)), env)?,
        _ => ServerConfig::load(None, env)?,
    };
    if config.database.is_none() {
        config.stateless = true;
    }
    Ok(config)
}

/// Answers one Lambda HTTP event.
pub async fn respond(app: &Portcullis, request: lambda_http::Request) -> http::Response<Body> {
    let client = client_ip(&request);
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        // `Body` is non-exhaustive; a body of a kind this version does not know is refused
        // by the engine as malformed input rather than guessed at.
        _ => Bytes::from_static(b"\xff"),
    };
    let response = app
        .handle_from(http::Request::from_parts(parts, body), client)
        .await;
    response.map(Body::Text)
}

/// The client's address as the event's source reports it. An ALB passes it only in
/// `X-Forwarded-For`, which the engine reads when the balancer is listed in
/// `trusted_proxies`.
fn client_ip(request: &lambda_http::Request) -> Option<IpAddr> {
    let source = match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        _ => None,
    }?;
    source.parse().ok()
}
