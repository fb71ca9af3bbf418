//! A Portcullis [`Store`] on MongoDB, in the collections and documents NextAuth.js v3's
//! TypeORM adapter used (spec §10.5), so a team on v3 with MongoDB points Portcullis at the
//! same database and carries on.
//!
//! ```no_run
//! # async fn demo() -> Result<(), portcullis_ports::StoreError> {
//! use portcullis_ports::Store;
//! use portcullis_store_mongo::MongoStore;
//!
//! let store = MongoStore::connect("mongodb://127.0.0.1:27017", "nextauth").await?;
//! store.ensure_indexes().await?;
//! let user = store.get_user("6a1f0c2e9b3d4e5f60718293").await?;
//! # let _ = user;
//! # Ok(()) }
//! ```
//!
//! # Documents
//!
//! Collections `users`, `accounts`, `sessions`, `verificationRequests`; camelCase fields;
//! `_id` and `userId` are ObjectIds; times are BSON dates (UTC, milliseconds).
//!
//! | collection | fields |
//! |---|---|
//! | `users` | `_id`, `name`, `email`, `emailVerified`, `image`, `createdAt`, `updatedAt` |
//! | `accounts` | `_id`, `compoundId`, `userId`, `providerType`, `providerId`, `providerAccountId`, `refreshToken`, `accessToken`, `accessTokenExpires`, `tokenType`*, `scope`*, `idToken`*, `createdAt`, `updatedAt` |
//! | `sessions` | `_id`, `userId`, `expires`, `sessionToken`, `accessToken`, `createdAt`, `updatedAt` |
//! | `verificationRequests` | `_id`, `identifier`, `token`, `expires`, `createdAt`, `updatedAt` |
//! | `portcullis_revoked_jwts`† | `_id` (the JWT's `jti`), `expires` |
//!
//! (* beyond v3: token fields v3 dropped; v3 ignores them. † Portcullis's own: the JWT
//! sessions signed out until their tokens expire, `jwt.revocable`; see
//! [`Store::revoke_jwt`].)
//!
//! Optional values are written as `null`, except a user's `email`, which is left out when
//! there is none: the unique index on `users.email` is sparse, and a sparse index skips
//! documents *without* the field but indexes `null` (two v3 users stored with `email: null`
//! collide on a real MongoDB). Reads accept a missing field and `null` alike.
//! `createdAt`/`updatedAt` are bookkeeping for v3's ORM and for people reading the data;
//! the store stamps them from the system clock, except `sessions.createdAt`, which is the
//! session's `created` (when it was signed in, from the domain's clock; the system clock
//! only for a session without one). It reads back `sessions.createdAt` (the session's
//! `created`, which the absolute lifetime counts from) and `accounts.createdAt`, to sort
//! a user's accounts by link time ([`Store::get_accounts_for_user`], through the index on
//! `accounts.userId`; ties by `_id`).
//!
//! Reading v3's data: v3 stored `providerAccountId` as the provider gave it, which may be a
//! number (GitHub's ids); such a number reads as its decimal string, and accounts are looked
//! up by `compoundId` (which v3 computed from that same string), then checked field by field.
//!
//! # Ids
//!
//! [`User::id`] is the user's ObjectId in lower-case hex. Any other string (a JWT `sub` may
//! be anything) names no user: `get_user` reads `None`, `update_user` is `NotFound`,
//! `delete_user` does nothing, and linking an account or creating a session for it is
//! `NotFound` (the reference could never resolve).
//!
//! # Atomicity (no transactions: a standalone server has none)
//!
//! - Uniqueness is the server's: the unique indexes of [`MongoStore::ensure_indexes`] turn
//!   a race into one winner and duplicate-key errors (code 11000), which are `Conflict`.
//!   Without those indexes the store cannot keep its contract: call `ensure_indexes` once
//!   (the server's `migrate` does) before serving.
//! - [`Store::use_verification_token`] is one `findAndModify` with `remove`
//!   (`find_one_and_delete`): of concurrent calls exactly one gets the document.
//! - [`Store::delete_user`] deletes the user's sessions, then its accounts, then the user: a
//!   crash midway leaves a live user with fewer sessions or accounts, never a session or an
//!   account of a deleted user. A session or account created for the user while it is being
//!   deleted may outlive it: a session of a missing user reads as `None`, and an account
//!   whose user is gone is replaced (not `Conflict`) when that provider account is linked
//!   again.
//! - `update_user` and `update_session_expiry` read the document and write it back whole
//!   (`replaceOne` on its `_id`), keeping fields this store does not know. Not `$set`:
//!   nx-27017, the MongoDB-wire server the tests run on, stores a date given to `$set` as a
//!   string, and v3 (and this store) need BSON dates. On MongoDB this costs one point read
//!   more, on writes that are rare (a session's expiry moves at most once per `updateAge`).
//!   Two concurrent updates of one user: the last write wins, as with `$set`.
//! - [`Store::update_account_tokens`] reads the account, then writes it back with one
//!   `findAndModify` whose filter holds the account's `_id` and the expected refresh token:
//!   of concurrent refreshes from one refresh token exactly one matches.
//! - [`Store::get_session_and_user`] is one round trip: an aggregation that matches the
//!   session by `sessionToken` and joins its user (`$lookup`, `$unwind`).
//! - [`Store::revoke_jwt`] deletes the revocations whose `expires` is before the caller's
//!   `now` (`deleteMany`, through the index on `expires`), then inserts `{ _id: jti,
//!   expires }`; a duplicate `_id` (revoked already, or by a racing call) is success.
//!   Both writes are journaled like every other before the answer.
//!
//! # Errors
//!
//! No error message carries a stored value: server errors are reported by code and code
//! name only (a duplicate-key message quotes the key, which may be a session token), and
//! decode errors name the collection and field, never the content.
//!
//! [`Store`]: portcullis_ports::Store
//! [`Store::delete_user`]: portcullis_ports::Store::delete_user
//! [`Store::get_accounts_for_user`]: portcullis_ports::Store::get_accounts_for_user
//! [`Store::get_session_and_user`]: portcullis_ports::Store::get_session_and_user
//! [`Store::revoke_jwt`]: portcullis_ports::Store::revoke_jwt
//! [`Store::update_account_tokens`]: portcullis_ports::Store::update_account_tokens
//! [`Store::upgraded_from_v3`]: portcullis_ports::Store::upgraded_from_v3
//! [`Store::use_verification_token`]: portcullis_ports::Store::use_verification_token
//! [`User::id`]: portcullis_domain::model::User::id

mod error;
mod schema;
mod store;
mod types;

pub use schema::collection;
pub use store::MongoStore;
