//! The NextAuth.js v3 interop fixture (`fixtures/v3-sql/`): a database in v3's shape with
//! two users, an account, a live session and a pending e-mail sign-in, and the values a
//! test needs to use them (see `fixtures/v3-sql/README.md`).
//!
//! ```no_run
//! # async fn demo(url: &str) -> Result<(), portcullis_domain::store::StoreError> {
//! use portcullis_store_sql::v3_fixture::{self, load_v3_fixture};
//! use portcullis_store_sql::{SqlOptions, SqlStore};
//!
//! load_v3_fixture(url).await?; // into an empty database
//! let store = SqlStore::connect(url, SqlOptions::default()).await?;
//! store.migrate().await?;
//! // A `Portcullis` with secret `v3_fixture::SECRET` and database sessions now reads the
//! // cookie `v3_fixture::SESSION_TOKEN` as Ada's session.
//! # let _ = v3_fixture::SESSION_TOKEN; Ok(()) }
//! ```

use portcullis_domain::store::StoreError;
use time::macros::datetime;
use time::OffsetDateTime;

use crate::store::Pools;
use crate::{Dialect, SqlOptions, SqlStore};

/// The app secret v3 ran with (`NEXTAUTH_SECRET`).
pub const SECRET: &str = "v3-interop-secret-0123456789abcdef0123456789";

/// User 1 (has the account and the session).
pub const ADA_ID: &str = "1";
/// Ada's `name`.
pub const ADA_NAME: &str = "Ada Lovelace";
/// Ada's `email`.
pub const ADA_EMAIL: &str = "ada@example.com";
/// Ada's `email_verified`.
pub const ADA_EMAIL_VERIFIED: OffsetDateTime = datetime!(2021-03-04 05:06:07.890 UTC);
/// Ada's `image`.
pub const ADA_IMAGE: &str = "https://avatars.example/ada.png";

/// User 2 (has the pending e-mail sign-in).
pub const GRACE_ID: &str = "2";
/// Grace's `name`.
pub const GRACE_NAME: &str = "Grace Hopper";
/// Grace's `email`.
pub const GRACE_EMAIL: &str = "grace@example.com";

/// Ada's GitHub account.
pub const ACCOUNT_PROVIDER_ID: &str = "github";
/// The account's `provider_account_id`.
pub const ACCOUNT_PROVIDER_ACCOUNT_ID: &str = "123";
/// `hex(sha256("github:123"))`, spec §19.
pub const ACCOUNT_COMPOUND_ID: &str =
    "915d84666356e4cde7b02e25a2609280579d9048d34faaf011282716abd6286d";
/// The account's `access_token`.
pub const ACCOUNT_ACCESS_TOKEN: &str = "gho_v3InteropAccessToken0123456789";

/// Ada's live database session: the session cookie's value.
pub const SESSION_TOKEN: &str = "93dbc86306735948f2c858394c05db11ad289da4006828280bd656bf058e535f";
/// The session's `accessToken` (in the session JSON).
pub const SESSION_ACCESS_TOKEN: &str =
    "b024f4f8fdbf7a88e94197182b390b9cb055c4970cc7b7d5f0f7d966e3541efd";
/// The session's `expires`.
pub const SESSION_EXPIRES: OffsetDateTime = datetime!(2037-12-31 23:59:59.999 UTC);
/// When v3 created the session (its `created_at`): the session's `created`.
pub const SESSION_CREATED: OffsetDateTime = datetime!(2021-03-04 05:06:08.000 UTC);

/// Grace's pending e-mail sign-in: the raw token of the e-mail link …
pub const EMAIL_TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// … and what v3 stored: `hex(sha256(EMAIL_TOKEN + SECRET))` (spec §8.3).
pub const EMAIL_TOKEN_HASH: &str =
    "71273097e7c31e56b164e287623d508a59051a35b90245e4c7ec0f5be0fc2486";
/// The e-mail sign-in's `identifier`.
pub const EMAIL_IDENTIFIER: &str = GRACE_EMAIL;
/// The e-mail sign-in's `expires`.
pub const EMAIL_EXPIRES: OffsetDateTime = datetime!(2037-12-31 23:59:59.999 UTC);

/// The fixture's SQL for a dialect (DDL and rows).
pub fn sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => include_str!("../../../fixtures/v3-sql/postgres.sql"),
        Dialect::MySql => include_str!("../../../fixtures/v3-sql/mysql.sql"),
        Dialect::Sqlite => include_str!("../../../fixtures/v3-sql/sqlite.sql"),
    }
}

/// Loads the fixture into the empty database at `url` (any URL
/// [`SqlStore::connect`] takes), as v3 left it: no Portcullis migration applied.
pub async fn load_v3_fixture(url: &str) -> Result<(), StoreError> {
    let options = SqlOptions {
        max_connections: 1,
        ..SqlOptions::default()
    };
    let store = SqlStore::connect(url, options).await?;
    let script = sql(store.dialect());
    let result = match store.pools() {
        Pools::Postgres(pool) => sqlx::raw_sql(script).execute(pool).await.map(|_| ()),
        Pools::MySql(pool) => sqlx::raw_sql(script).execute(pool).await.map(|_| ()),
        Pools::Sqlite(pool) => sqlx::raw_sql(script).execute(pool).await.map(|_| ()),
    };
    store.close().await;
    result.map_err(|e| StoreError::Backend(format!("loading the v3 fixture: {e}")))
}
