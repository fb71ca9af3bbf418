//! Structured logs (tracing): an env-filter (`PORTCULLIS_LOG`) and text or JSON lines
//! (`PORTCULLIS_LOG_FORMAT`). What is logged never holds a cookie, header value, body,
//! secret or token: the request line is method, path, status and latency only.

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::error::StartupError;

/// A subscriber writing to `writer`. `filter` is a tracing filter such as `info` or
/// `portcullis=debug,warn`.
pub fn subscriber<W>(
    filter: &str,
    format: LogFormat,
    writer: W,
    ansi: bool,
) -> Result<Box<dyn Subscriber + Send + Sync>, StartupError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| StartupError::Logging(format!("filter {filter:?} (PORTCULLIS_LOG): {e}")))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let never = filter_fn(not_nats_wire_traffic);
    Ok(match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish().with(never)),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish().with(never)),
    })
}

/// async-nats (events to NATS) traces its wire traffic under `async_nats::connection`,
/// the CONNECT line with the NATS user's password included: never logged, whatever the
/// filter says.
fn not_nats_wire_traffic(metadata: &Metadata<'_>) -> bool {
    !(*metadata.level() == Level::TRACE && metadata.target().starts_with("async_nats::connection"))
}

/// Installs the process-wide subscriber, writing to standard error.
pub fn init(filter: &str, format: LogFormat) -> Result<(), StartupError> {
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    let subscriber = subscriber(filter, format, std::io::stderr, ansi)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| StartupError::Logging(e.to_string()))
}
