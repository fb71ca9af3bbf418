//! Store operations as data: what a flow asks the store to do, and what comes back.
//! `portcullis-ports` performs them through its `Store` trait.

use time::OffsetDateTime;

use crate::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use crate::secret::SecretString;
use crate::session_key::SessionKeys;

/// One store operation a flow asks for (the adapter surface of spec §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    CreateUser(NewUser),
    GetUser(String),
    GetUserByEmail(String),
    GetUserByAccount {
        provider_id: String,
        provider_account_id: String,
    },
    UpdateUser(User),
    DeleteUser(String),
    LinkAccount(Account),
    UnlinkAccount {
        provider_id: String,
        provider_account_id: String,
    },
    GetAccount {
        provider_id: String,
        provider_account_id: String,
    },
    /// The provider accounts linked to a user.
    GetAccountsForUser(String),
    /// Compare-and-set of the account's provider tokens on its stored refresh token.
    UpdateAccountTokens {
        provider_id: String,
        provider_account_id: String,
        expected_refresh_token: Option<SecretString>,
        tokens: AccountTokens,
    },
    /// `session.session_token` is the key to store it under (`session_key`).
    CreateSession(Session),
    /// The session stored under any of these keys, in one lookup (redacted in `Debug`).
    GetSessionAndUser(SessionKeys),
    /// By the stored key (as the store returned it with the session).
    UpdateSessionExpiry {
        session_token: SecretString,
        expires: OffsetDateTime,
    },
    /// Deletes the session stored under any of these keys.
    DeleteSession(SessionKeys),
    /// Records that the JWT session with this `jti` is revoked until `expires` (its `exp`),
    /// and drops the revocations that ended before `now` (stores do not read the clock).
    RevokeJwt {
        jti: String,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    },
    /// Whether the JWT session with this `jti` was revoked.
    IsJwtRevoked(String),
    CreateVerificationToken(VerificationToken),
    UseVerificationToken {
        identifier: String,
        token_hash: String,
    },
}

/// What a store operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReply {
    User(User),
    MaybeUser(Option<User>),
    Account(Account),
    /// `None`: no such account, or (token update) another update won the race.
    MaybeAccount(Option<Account>),
    Session(Session),
    MaybeSessionAndUser(Option<(Session, User)>),
    MaybeVerificationToken(Option<VerificationToken>),
    Accounts(Vec<Account>),
    /// Whether a JWT was revoked.
    Revoked(bool),
    Done,
}

/// Why a store operation failed. Every adapter maps its own errors into these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint would be broken (e-mail taken, account already linked …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The record to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Stored data could not be read back.
    #[error("decode: {0}")]
    Decode(String),
    /// The database itself failed (connection, I/O …).
    #[error("backend: {0}")]
    Backend(String),
}
