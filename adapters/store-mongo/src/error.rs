//! Driver errors as [`StoreError`]s: codes and kinds only, never the server's message
//! (a duplicate-key message quotes the key, which may be a session token).

use mongodb::error::{ErrorKind, WriteFailure};
use portcullis_domain::store::StoreError;

/// Duplicate key: 11000; 11001 and 12582 are older servers' and mongos' spellings.
const DUPLICATE_KEY_CODES: [i32; 3] = [11000, 11001, 12582];
/// `NamespaceNotFound`: `listIndexes` on a collection that does not exist yet.
pub(crate) const NAMESPACE_NOT_FOUND: i32 = 26;

pub(crate) fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

pub(crate) fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => DUPLICATE_KEY_CODES.contains(&w.code),
        ErrorKind::Command(c) => DUPLICATE_KEY_CODES.contains(&c.code),
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .any(|w| DUPLICATE_KEY_CODES.contains(&w.code)),
        _ => false,
    }
}

/// `Conflict` for a duplicate key, otherwise a `Backend` error.
pub(crate) fn write_error(what: &str, conflict: &str, error: &mongodb::error::Error) -> StoreError {
    if is_duplicate_key(error) {
        StoreError::Conflict(conflict.to_owned())
    } else {
        backend(what, error)
    }
}

pub(crate) fn backend(what: &str, error: &mongodb::error::Error) -> StoreError {
    StoreError::Backend(format!("could not {what}: {}", describe(error)))
}

fn describe(error: &mongodb::error::Error) -> String {
    match error.kind.as_ref() {
        ErrorKind::Command(c) => format!("server error {} ({})", c.code, c.code_name),
        ErrorKind::Write(WriteFailure::WriteError(w)) => match &w.code_name {
            Some(name) => format!("write error {} ({name})", w.code),
            None => format!("write error {}", w.code),
        },
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => {
            format!("write concern error {} ({})", w.code, w.code_name)
        }
        ErrorKind::Write(_) | ErrorKind::InsertMany(_) | ErrorKind::BulkWrite(_) => {
            "write error".to_owned()
        }
        ErrorKind::Io(e) => format!("I/O error: {e}"),
        ErrorKind::ServerSelection { message, .. } => format!("no server available: {message}"),
        ErrorKind::ConnectionPoolCleared { message, .. } => {
            format!("connection pool cleared: {message}")
        }
        ErrorKind::Authentication { message, .. } => format!("authentication failed: {message}"),
        ErrorKind::InvalidArgument { message, .. } => format!("invalid argument: {message}"),
        ErrorKind::DnsResolve { message, .. } => format!("DNS resolution failed: {message}"),
        ErrorKind::InvalidTlsConfig { message, .. } => {
            format!("invalid TLS configuration: {message}")
        }
        ErrorKind::IncompatibleServer { message, .. } => format!("incompatible server: {message}"),
        ErrorKind::Shutdown => "the client was shut down".to_owned(),
        // These may describe document contents: kind only.
        ErrorKind::InvalidResponse { .. } => "invalid response from the server".to_owned(),
        ErrorKind::BsonDeserialization(_) | ErrorKind::BsonSerialization(_) => {
            "BSON conversion failed".to_owned()
        }
        _ => "driver error".to_owned(),
    }
}
