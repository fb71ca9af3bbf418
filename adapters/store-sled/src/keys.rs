//! How records become keys and values: length-prefixed index keys, JSON values, and
//! sled's errors as the port's (none quoting a stored value).

use portcullis_domain::model::{Account, Session};
use portcullis_domain::store::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

/// A revocation's expiry (Unix nanoseconds), if the value is one.
pub(crate) fn revocation_expiry(value: &[u8]) -> Option<i128> {
    <[u8; 16]>::try_from(value).ok().map(i128::from_be_bytes)
}

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

/// `s` prefixed with its byte length (big-endian `u64`).
pub(crate) fn length_prefixed(s: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + s.len());
    key.extend_from_slice(&(s.len() as u64).to_be_bytes());
    key.extend_from_slice(s.as_bytes());
    key
}

/// `lp(owner) ‖ suffix`: a per-owner index key.
pub(crate) fn index_key(owner: &str, suffix: &[u8]) -> Vec<u8> {
    let mut key = length_prefixed(owner);
    key.extend_from_slice(suffix);
    key
}

/// [`index_key`] for use inside a transaction, where `insert`/`remove` take owned keys.
pub(crate) fn index_key_of(owner: &str, suffix: &[u8]) -> sled::IVec {
    sled::IVec::from(index_key(owner, suffix))
}

pub(crate) fn is_pair(account: &Account, provider_id: &str, provider_account_id: &str) -> bool {
    account.provider_id == provider_id && account.provider_account_id == provider_account_id
}

/// Inside a transaction: removes the session stored under `token` if it belongs to
/// `user_id` (or no longer decodes: the caller's index says it is this user's).
pub(crate) fn remove_session_of(
    sessions: &TransactionalTree,
    token: &[u8],
    user_id: &str,
) -> Result<bool, ConflictableTransactionError<StoreError>> {
    let Some(bytes) = sessions.get(token)? else {
        return Ok(false);
    };
    match decode::<Session>(&bytes, "session") {
        Ok(session) if session.user_id != user_id => Ok(false),
        _ => {
            sessions.remove(token)?;
            Ok(true)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Encoding and errors
// ---------------------------------------------------------------------------------------

pub(crate) fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| {
        StoreError::Backend(format!(
            "sled: could not encode {what} ({:?})",
            e.classify()
        ))
    })
}

/// Decodes a stored value. The message names the record kind and the position only:
/// serde_json's own message may quote the stored bytes, which can be a secret.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError::Decode(format!(
            "stored {what} is not valid ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// A sled failure as a `Backend` error. sled's messages name trees, files and internal
/// positions, never keys or values, so no token reaches the message.
pub(crate) fn backend(operation: &str, error: &sled::Error) -> StoreError {
    StoreError::Backend(format!("sled: {operation}: {error}"))
}

pub(crate) fn from_transaction(operation: &str, error: TransactionError<StoreError>) -> StoreError {
    match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => backend(operation, &error),
    }
}

pub(crate) fn abort<T>(error: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(error))
}

pub(crate) fn email_taken() -> StoreError {
    StoreError::Conflict("e-mail address belongs to another user".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefix_separates_owners() {
        assert_ne!(index_key("1", b"23"), index_key("12", b"3"));
        assert!(!index_key("12", b"x").starts_with(&length_prefixed("1")));
    }

    #[test]
    fn decode_error_does_not_quote_the_stored_value() {
        let secret = "5f3c9b0e1d2a4b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";
        let corrupt = format!(r#"{{"session_token":"{secret}","user_id":1}}"#);
        let error = decode::<Session>(corrupt.as_bytes(), "session")
            .expect_err("a corrupt session must not decode");
        assert!(matches!(error, StoreError::Decode(_)));
        assert!(!error.to_string().contains(secret), "{error}");
    }
}
