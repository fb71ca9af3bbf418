//! Store operations as data: what a flow asks the store to do, and what comes back.
//! `portcullis-ports` performs them through its `Store` trait.

use time::OffsetDateTime;

use crate::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use crate::secret::SecretString;
use crate::session_key::SessionKeys;

/// One store operation a flow asks for (the adapter surface of spec §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Creates a user; answers [`StoreReply::User`] with its id.
    CreateUser(NewUser),
    /// The user with this id; answers [`StoreReply::MaybeUser`].
    GetUser(String),
    /// The user with this canonical address; answers [`StoreReply::MaybeUser`].
    GetUserByEmail(String),
    /// The user a provider account is linked to; answers [`StoreReply::MaybeUser`].
    GetUserByAccount {
        /// The provider's id (`github`).
        provider_id: String,
        /// The account's id at that provider.
        provider_account_id: String,
    },
    /// Replaces a user's fields; answers [`StoreReply::User`].
    UpdateUser(User),
    /// Deletes the user with this id, its accounts and sessions.
    DeleteUser(String),
    /// Links a provider account to its user; answers [`StoreReply::Account`].
    LinkAccount(Account),
    /// Unlinks a provider account.
    UnlinkAccount {
        /// The provider's id.
        provider_id: String,
        /// The account's id at that provider.
        provider_account_id: String,
    },
    /// The account linked as this provider account; answers [`StoreReply::MaybeAccount`].
    GetAccount {
        /// The provider's id.
        provider_id: String,
        /// The account's id at that provider.
        provider_account_id: String,
    },
    /// The provider accounts linked to a user.
    GetAccountsForUser(String),
    /// Compare-and-set of the account's provider tokens on its stored refresh token.
    UpdateAccountTokens {
        /// The provider's id.
        provider_id: String,
        /// The account's id at that provider.
        provider_account_id: String,
        /// The refresh token the caller read; the update applies only while it is still stored.
        expected_refresh_token: Option<SecretString>,
        /// The tokens to store instead.
        tokens: AccountTokens,
    },
    /// `session.session_token` is the key to store it under (`session_key`).
    CreateSession(Session),
    /// The session stored under any of these keys, in one lookup (redacted in `Debug`).
    GetSessionAndUser(SessionKeys),
    /// By the stored key (as the store returned it with the session).
    UpdateSessionExpiry {
        /// The key the store returned the session under.
        session_token: SecretString,
        /// The new expiry.
        expires: OffsetDateTime,
    },
    /// Deletes the session stored under any of these keys.
    DeleteSession(SessionKeys),
    /// Records that the JWT session with this `jti` is revoked until `expires` (its `exp`),
    /// and drops the revocations that ended before `now` (stores do not read the clock).
    RevokeJwt {
        /// The revoked token's `jti` claim.
        jti: String,
        /// The token's `exp`: the revocation may be dropped after it.
        expires: OffsetDateTime,
        /// The request's time.
        now: OffsetDateTime,
    },
    /// Whether the JWT session with this `jti` was revoked.
    IsJwtRevoked(String),
    /// Stores a pending e-mail sign-in.
    CreateVerificationToken(VerificationToken),
    /// Takes and deletes the pending sign-in for this pair, expired or not; answers
    /// [`StoreReply::MaybeVerificationToken`].
    UseVerificationToken {
        /// The address the link was sent to.
        identifier: String,
        /// `hex(sha256(token + secret))` of the token in the link.
        token_hash: String,
    },
}

/// What a store operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReply {
    /// The user created or updated.
    User(User),
    /// The user found, if any.
    MaybeUser(Option<User>),
    /// The account linked.
    Account(Account),
    /// `None`: no such account, or (token update) another update won the race.
    MaybeAccount(Option<Account>),
    /// The session created.
    Session(Session),
    /// The session found, with its user.
    MaybeSessionAndUser(Option<(Session, User)>),
    /// The pending e-mail sign-in taken, if there was one.
    MaybeVerificationToken(Option<VerificationToken>),
    /// A user's accounts, oldest link first.
    Accounts(Vec<Account>),
    /// Whether a JWT was revoked.
    Revoked(bool),
    /// The operation is done; nothing to return.
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
