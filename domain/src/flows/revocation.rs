//! Revocable JWT sessions (`jwt.revocable`): signing out records the token's `jti` in the
//! store until the token expires; every read asks the store before it trusts the token.
//! Renewals keep the `jti`, so one revocation ends every copy of the session.

use serde_json::Value;
use time::OffsetDateTime;

use super::stored::{self, Stored};
use super::{Cx, Fault};
use crate::jwt::Claims;
use crate::store::StoreError;

crate::flow! {
    /// Ask the store whether a JWT session was revoked (with `jwt.revocable`).
    pub(crate) mod jwt_revocation = "jwt_revocation" {
        states { Asking, Live, Revoked, Unknown }
        events { NotRevoked, Revoked, StoreFailed }
        initial Asking;
        Asking + NotRevoked => Live, guard "no revocation of the jti is stored", effect "the read goes on";
        Asking + Revoked => Revoked, guard "the session signed out (on any instance)", effect "the token is refused";
        Asking + StoreFailed => Unknown, guard "store error", effect "the token is not trusted (fail closed)";
    }
}

use jwt_revocation::Event as E;

/// What the store said of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Revocation {
    Live,
    Revoked,
    Unknown,
}

/// A question to the store about one token, waiting for its answer.
pub(super) struct Check {
    m: jwt_revocation::Machine,
}

/// The token's `jti`, if it has one: what a revocation names.
pub fn jti(claims: &Claims) -> Option<&str> {
    match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() => Some(jti),
        _ => None,
    }
}

/// Starts asking whether `claims` were revoked; `None` for a token without a `jti`, which
/// no revocation could ever name.
pub(super) fn check(claims: &Claims) -> Option<(Check, Stored<bool>)> {
    let jti = jti(claims)?;
    let check = Check {
        m: jwt_revocation::machine(),
    };
    Some((check, stored::is_jwt_revoked(jti.to_owned())))
}

impl Check {
    /// The store's answer. When it cannot say, the token is not trusted (fail closed).
    pub(super) fn answer(
        mut self,
        cx: &mut Cx,
        answer: Result<bool, StoreError>,
    ) -> Result<Revocation, Fault> {
        let (event, revocation) = match answer {
            Ok(false) => (E::NotRevoked, Revocation::Live),
            Ok(true) => (E::Revoked, Revocation::Revoked),
            Err(_) => (E::StoreFailed, Revocation::Unknown),
        };
        self.m.fire(event, &mut cx.trace)?;
        Ok(revocation)
    }
}

/// The store operation that revokes `claims` until they expire; `None` for a token without
/// a `jti`. A token without `exp` (a codec of the app's own) is revoked for the configured
/// token lifetime.
pub(super) fn revoke(claims: &Claims, now: OffsetDateTime, max_age: i64) -> Option<Stored<()>> {
    let jti = jti(claims)?.to_owned();
    let expires = claims
        .get("exp")
        .and_then(Value::as_i64)
        .and_then(|exp| OffsetDateTime::from_unix_timestamp(exp).ok())
        .unwrap_or_else(|| now.saturating_add(time::Duration::seconds(max_age)));
    Some(stored::revoke_jwt(jti, expires, now))
}
