//! The rows the queries read, and the domain values made of them.

use portcullis_domain::model::{Account, Session, User, VerificationToken};
use portcullis_domain::secret::SecretString;
use sqlx::FromRow;

use crate::types::{DbId, DbText, Ts};

fn text(value: Option<DbText>) -> Option<String> {
    value.map(|t| t.0)
}

#[derive(FromRow)]
pub(super) struct UserRow {
    id: DbId,
    name: Option<DbText>,
    email: Option<DbText>,
    email_verified: Option<Ts>,
    image: Option<DbText>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> User {
        User {
            id: row.id.to_string(),
            name: text(row.name),
            email: text(row.email),
            email_verified: row.email_verified.map(|t| t.0),
            image: text(row.image),
        }
    }
}

#[derive(FromRow)]
pub(super) struct SessionRow {
    session_token: DbText,
    user_id: DbId,
    expires: Ts,
    access_token: DbText,
    /// NOT NULL in v3's schema; read leniently all the same.
    created_at: Option<Ts>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Session {
        Session {
            session_token: SecretString::new(row.session_token.0),
            user_id: row.user_id.to_string(),
            expires: row.expires.0,
            access_token: SecretString::new(row.access_token.0),
            created: row.created_at.map(|t| t.0),
        }
    }
}

#[derive(FromRow)]
pub(super) struct SessionAndUserRow {
    #[sqlx(flatten)]
    pub(super) session: SessionRow,
    #[sqlx(flatten)]
    pub(super) user: UserRow,
}

#[derive(FromRow)]
pub(super) struct AccountRow {
    user_id: DbId,
    provider_type: DbText,
    provider_id: DbText,
    provider_account_id: DbText,
    refresh_token: Option<DbText>,
    access_token: Option<DbText>,
    access_token_expires: Option<Ts>,
    token_type: Option<DbText>,
    scope: Option<DbText>,
    id_token: Option<DbText>,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Account {
        Account {
            user_id: row.user_id.to_string(),
            provider_type: row.provider_type.0,
            provider_id: row.provider_id.0,
            provider_account_id: row.provider_account_id.0,
            refresh_token: row.refresh_token.map(|t| SecretString::new(t.0)),
            access_token: row.access_token.map(|t| SecretString::new(t.0)),
            access_token_expires: row.access_token_expires.map(|t| t.0),
            token_type: text(row.token_type),
            scope: text(row.scope),
            id_token: row.id_token.map(|t| SecretString::new(t.0)),
        }
    }
}

#[derive(FromRow)]
pub(super) struct VerificationRow {
    pub(super) id: DbId,
    identifier: DbText,
    token: DbText,
    expires: Ts,
}

impl From<VerificationRow> for VerificationToken {
    fn from(row: VerificationRow) -> VerificationToken {
        VerificationToken {
            identifier: row.identifier.0,
            token_hash: row.token.0,
            expires: row.expires.0,
        }
    }
}
