//! The records a store keeps (spec §10.3): users, accounts, sessions, verification tokens.
//!
//! Ids are opaque strings: an integer in SQL, an ObjectId in MongoDB, a generated id in
//! sled. A JWT `sub` is one of these strings.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::secret::SecretString;

/// A person who can sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The store's id for the user (the JWT's `sub`).
    pub id: String,
    /// Display name, as the provider gave it.
    pub name: Option<String>,
    /// Canonical (lower-cased) address; unique among users when present.
    pub email: Option<String>,
    /// When the address was proven (a magic link, or a provider that vouches for it);
    /// `None`: never.
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified: Option<OffsetDateTime>,
    /// Avatar URL, as the provider gave it.
    pub image: Option<String>,
}

/// A user before the store gave it an id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NewUser {
    /// Display name, as the provider gave it.
    pub name: Option<String>,
    /// Canonical (lower-cased) address.
    pub email: Option<String>,
    /// When the address was proven (a magic link, or a provider that vouches for it);
    /// `None`: never.
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified: Option<OffsetDateTime>,
    /// Avatar URL, as the provider gave it.
    pub image: Option<String>,
}

impl NewUser {
    /// The user this becomes once the store assigned `id`.
    pub fn with_id(self, id: impl Into<String>) -> User {
        User {
            id: id.into(),
            name: self.name,
            email: self.email,
            email_verified: self.email_verified,
            image: self.image,
        }
    }
}

/// A user's identity at one provider (one row per provider account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The [`User::id`] of the account's owner.
    pub user_id: String,
    /// `oauth`, `email`, `credentials`.
    pub provider_type: String,
    /// The provider's id (`github`).
    pub provider_id: String,
    /// The account's id at that provider (its `sub`, or its user id).
    pub provider_account_id: String,
    /// Renews the access token; `None` when the provider gave none.
    pub refresh_token: Option<SecretString>,
    /// The provider's access token, if it gave one.
    pub access_token: Option<SecretString>,
    /// When the access token expires; `None`: not said.
    #[serde(with = "time::serde::rfc3339::option")]
    pub access_token_expires: Option<OffsetDateTime>,
    /// Beyond v3: token fields v3 dropped.
    pub token_type: Option<String>,
    /// The scopes the provider granted, space-separated.
    pub scope: Option<String>,
    /// The OpenID Connect ID token, if the provider gave one.
    pub id_token: Option<SecretString>,
}

impl Account {
    /// v3's `compoundId`: `hex(sha256(providerId + ":" + providerAccountId))`.
    pub fn compound_id(&self) -> String {
        compound_id(&self.provider_id, &self.provider_account_id)
    }
}

/// The provider tokens of an account: what a token refresh replaces
/// (`Store::update_account_tokens`), every field at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTokens {
    /// The provider's access token, if it gave one.
    pub access_token: Option<SecretString>,
    /// Renews the access token; `None` when the provider gave none.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires; `None`: not said.
    #[serde(with = "time::serde::rfc3339::option")]
    pub access_token_expires: Option<OffsetDateTime>,
    /// Usually `bearer`.
    pub token_type: Option<String>,
    /// The scopes the provider granted, space-separated.
    pub scope: Option<String>,
    /// The OpenID Connect ID token, if the provider gave one.
    pub id_token: Option<SecretString>,
}

impl From<&Account> for AccountTokens {
    fn from(account: &Account) -> Self {
        Self {
            access_token: account.access_token.clone(),
            refresh_token: account.refresh_token.clone(),
            access_token_expires: account.access_token_expires,
            token_type: account.token_type.clone(),
            scope: account.scope.clone(),
            id_token: account.id_token.clone(),
        }
    }
}

impl AccountTokens {
    /// `account` with its provider tokens replaced by these.
    pub fn apply_to(self, account: Account) -> Account {
        Account {
            access_token: self.access_token,
            refresh_token: self.refresh_token,
            access_token_expires: self.access_token_expires,
            token_type: self.token_type,
            scope: self.scope,
            id_token: self.id_token,
            ..account
        }
    }
}

/// v3's `compoundId` for a provider account (spec §10.3).
pub fn compound_id(provider_id: &str, provider_account_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(provider_id.as_bytes());
    hasher.update(b":");
    hasher.update(provider_account_id.as_bytes());
    crate::secret::lower_hex(&hasher.finalize())
}

/// A database session (spec §6.3): the cookie carries `session_token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The key the session is stored under: `sha256:<hex>` of the cookie's token, or (v3
    /// rows) the token itself.
    pub session_token: SecretString,
    /// The [`User::id`] of the session's user.
    pub user_id: String,
    /// When the session ends unless used again.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// v3's second random identifier, exposed in the session JSON.
    pub access_token: SecretString,
    /// When the session was signed in (v3's `created_at`): the absolute lifetime
    /// (`session.absolute_max_age`) counts from it, and no extension moves it. `None` for a
    /// row that does not record it; the domain then counts from its last extension.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
}

/// A pending e-mail sign-in: only the hash of the token is stored (spec §8.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationToken {
    /// The canonical address the link was sent to.
    pub identifier: String,
    /// `hex(sha256(token + secret))`.
    pub token_hash: String,
    /// When the link stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_id_matches_spec_vector() {
        // spec §19
        assert_eq!(
            compound_id("github", "123"),
            "915d84666356e4cde7b02e25a2609280579d9048d34faaf011282716abd6286d"
        );
    }
}
