//! The store's questions, each typed by the shape of its reply: `stored::get_user(id)`
//! is answered with an `Option<User>`, never with a session. The pairing is the one the
//! driver's `perform` keeps (portcullis-ports, `store::perform`); a reply of another shape
//! is the driver breaking the protocol, caught where every answer meets its question
//! ([`super::ask::answer`]).

use std::marker::PhantomData;

use time::OffsetDateTime;

use super::ask::Question;
use crate::effect::{Effect, Outcome};
use crate::model::{Account, AccountTokens, NewUser, Session, User, VerificationToken};
use crate::secret::SecretString;
use crate::session_key::SessionKeys;
use crate::store::{StoreError, StoreOp, StoreReply};

/// A store operation whose reply has the shape `R`.
pub(crate) struct Stored<R> {
    op: StoreOp,
    reply: PhantomData<fn() -> R>,
}

impl<R: FromReply> Question for Stored<R> {
    type Answer = Result<R, StoreError>;

    fn effect(self) -> Effect {
        Effect::Store(self.op)
    }

    fn answer(outcome: Outcome) -> Option<Self::Answer> {
        match outcome {
            Outcome::Store(Ok(reply)) => R::from_reply(reply).map(Ok),
            Outcome::Store(Err(error)) => Some(Err(error)),
            _ => None,
        }
    }
}

/// A reply shape: the value inside the one [`StoreReply`] variant that carries it.
pub(crate) trait FromReply: Sized {
    /// The value, or `None` for a reply of another shape.
    fn from_reply(reply: StoreReply) -> Option<Self>;
}

/// Reads each reply shape out of its variant.
macro_rules! from_reply {
    ($($shape:ty => $variant:ident$(($value:ident))?;)*) => {$(
        impl FromReply for $shape {
            fn from_reply(reply: StoreReply) -> Option<Self> {
                match reply {
                    StoreReply::$variant$(($value))? => Some(from_reply!(@value $($value)?)),
                    _ => None,
                }
            }
        }
    )*};
    (@value $value:ident) => { $value };
    (@value) => { () };
}

from_reply! {
    User => User(user);
    Option<User> => MaybeUser(user);
    Account => Account(account);
    Option<Account> => MaybeAccount(account);
    Vec<Account> => Accounts(accounts);
    Session => Session(session);
    Option<(Session, User)> => MaybeSessionAndUser(found);
    Option<VerificationToken> => MaybeVerificationToken(token);
    bool => Revoked(revoked);
    () => Done;
}

fn stored<R>(op: StoreOp) -> Stored<R> {
    Stored {
        op,
        reply: PhantomData,
    }
}

/// Creates a user; the reply is the user with its id.
pub(crate) fn create_user(user: NewUser) -> Stored<User> {
    stored(StoreOp::CreateUser(user))
}

/// The user with this id, if any.
pub(crate) fn get_user(id: String) -> Stored<Option<User>> {
    stored(StoreOp::GetUser(id))
}

/// The user holding this (canonical) address, if any.
pub(crate) fn get_user_by_email(email: String) -> Stored<Option<User>> {
    stored(StoreOp::GetUserByEmail(email))
}

/// The user this provider account is linked to, if any.
pub(crate) fn get_user_by_account(
    provider_id: String,
    provider_account_id: String,
) -> Stored<Option<User>> {
    stored(StoreOp::GetUserByAccount {
        provider_id,
        provider_account_id,
    })
}

/// Saves the user as given; the reply is the user stored.
pub(crate) fn update_user(user: User) -> Stored<User> {
    stored(StoreOp::UpdateUser(user))
}

/// Links a provider account to its user.
pub(crate) fn link_account(account: Account) -> Stored<Account> {
    stored(StoreOp::LinkAccount(account))
}

/// The linked provider account, if any.
pub(crate) fn get_account(
    provider_id: String,
    provider_account_id: String,
) -> Stored<Option<Account>> {
    stored(StoreOp::GetAccount {
        provider_id,
        provider_account_id,
    })
}

/// A user's provider accounts, oldest link first.
pub(crate) fn get_accounts_for_user(user_id: String) -> Stored<Vec<Account>> {
    stored(StoreOp::GetAccountsForUser(user_id))
}

/// Stores new provider tokens if the stored refresh token is still `expected`; `None`:
/// another update won the race.
pub(crate) fn update_account_tokens(
    provider_id: String,
    provider_account_id: String,
    expected_refresh_token: Option<SecretString>,
    tokens: AccountTokens,
) -> Stored<Option<Account>> {
    stored(StoreOp::UpdateAccountTokens {
        provider_id,
        provider_account_id,
        expected_refresh_token,
        tokens,
    })
}

/// Creates a database session.
pub(crate) fn create_session(session: Session) -> Stored<Session> {
    stored(StoreOp::CreateSession(session))
}

/// The session stored under one of `keys`, with its user, in one lookup.
pub(crate) fn get_session_and_user(keys: SessionKeys) -> Stored<Option<(Session, User)>> {
    stored(StoreOp::GetSessionAndUser(keys))
}

/// Moves a session's expiry.
pub(crate) fn update_session_expiry(
    session_token: SecretString,
    expires: OffsetDateTime,
) -> Stored<()> {
    stored(StoreOp::UpdateSessionExpiry {
        session_token,
        expires,
    })
}

/// Deletes the session stored under any of `keys` (an absent one is no error).
pub(crate) fn delete_session(keys: SessionKeys) -> Stored<()> {
    stored(StoreOp::DeleteSession(keys))
}

/// Records a JWT's revocation until it expires.
pub(crate) fn revoke_jwt(jti: String, expires: OffsetDateTime, now: OffsetDateTime) -> Stored<()> {
    stored(StoreOp::RevokeJwt { jti, expires, now })
}

/// Whether a JWT's `jti` was revoked.
pub(crate) fn is_jwt_revoked(jti: String) -> Stored<bool> {
    stored(StoreOp::IsJwtRevoked(jti))
}

/// Stores a pending e-mail sign-in (its token's hash only).
pub(crate) fn create_verification_token(token: VerificationToken) -> Stored<()> {
    stored(StoreOp::CreateVerificationToken(token))
}

/// Takes the pending e-mail sign-in for this address and token hash, if there is one.
pub(crate) fn use_verification_token(
    identifier: String,
    token_hash: String,
) -> Stored<Option<VerificationToken>> {
    stored(StoreOp::UseVerificationToken {
        identifier,
        token_hash,
    })
}
