//! Structured logs (tracing): an env-filter (`PORTCULLIS_LOG`) and text or JSON lines
//! (`PORTCULLIS_LOG_FORMAT`). What is logged never holds a cookie, header value, body,
//! secret or token: the request line is method, path, status and latency only.

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
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
    Ok(match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    })
}

/// Installs the process-wide subscriber, writing to standard error.
pub fn init(filter: &str, format: LogFormat) -> Result<(), StartupError> {
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    let subscriber = subscriber(filter, format, std::io::stderr, ansi)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| StartupError::Logging(e.to_string()))
}
