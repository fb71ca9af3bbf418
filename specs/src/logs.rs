//! What the embedded engine logs while it handles one scenario's requests: every `tracing`
//! event at every level (Portcullis's own and its HTTP stack's), formatted as the server
//! would print it, kept in memory for the no-secrets-in-logs checks.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// The scenario's log lines (a scoped subscriber writes here; no global one is installed).
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// A subscriber that writes every event, TRACE and up, into this buffer.
    pub(crate) fn dispatch(&self) -> tracing::Dispatch {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(self.clone())
            .finish()
            .into()
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// One event's writer: appends to the shared buffer.
pub(crate) struct Line(Arc<Mutex<Vec<u8>>>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self.0.clone())
    }
}
