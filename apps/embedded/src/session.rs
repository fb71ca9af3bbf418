//! Reading the session for the app's own handlers, without a round trip through the
//! routes: the session cookie is decoded (JWT) or looked up (database) with the checks and
//! lifetimes `GET /session` uses (`portcullis_domain::flows::session_read`).
//!
//! What differs from the route, and why:
//! - No `Set-Cookie`: a read from the app's handler has no response to put it on. The
//!   cookie's sliding expiry moves when the client reads `BASE/session` (as NextAuth's
//!   client does on focus and on its poll). A database session's stored expiry does move.
//! - The `session` callback and the `session` event are not run for the typed value: the
//!   callback shapes the JSON for the browser, the typed value is the identity.
//!   [`Portcullis::session`] runs both, as the route does.
//! - Provider access tokens kept in the JWT are not renewed here (use
//!   [`Portcullis::provider_access_token`], or `Portcullis::session`, which renews them).

use http::HeaderMap;
use portcullis_domain::flows::{self, DatabaseSessionState, SessionView};
use portcullis_domain::model::{Session as StoredSession, User};
use portcullis_domain::session_key::SessionKeys;
use portcullis_domain::SessionStrategy;
use serde_json::Value;
use time::OffsetDateTime;

pub use portcullis_domain::flows::SessionUser;

use crate::{Claims, JwtCall, Portcullis, StoreError};

/// A signed-in user's session, as the app's handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who is signed in.
    pub user: SessionUser,
    /// When the session ends unless it is used (the `expires` of `GET /session`).
    pub expires: OffsetDateTime,
}

impl From<SessionView> for Session {
    fn from(view: SessionView) -> Self {
        Self {
            user: view.user,
            expires: view.expires,
        }
    }
}

/// A valid session. What the route's callbacks and events get is derived from its source
/// only when asked for: the typed read needs the view alone.
pub(crate) struct Found {
    pub view: SessionView,
    source: Source,
}

enum Source {
    Jwt {
        claims: Claims,
        expires: OffsetDateTime,
    },
    Database {
        session: StoredSession,
        user: User,
    },
}

impl Found {
    /// v3's default session JSON (before the `session` callback).
    pub(crate) fn default_json(&self) -> Value {
        match &self.source {
            Source::Jwt { claims, expires } => flows::jwt_session_json(claims, *expires),
            Source::Database { session, user } => flows::database_session_json(session, user),
        }
    }

    /// The `session` callback's second argument: the JWT claims, or the stored user.
    pub(crate) fn hook_token(&self) -> Value {
        match &self.source {
            Source::Jwt { claims, .. } => Value::Object(claims.clone()),
            Source::Database { user, .. } => serde_json::to_value(user).unwrap_or(Value::Null),
        }
    }

    /// The JWT claims (JWT sessions only), for the `session` event.
    pub(crate) fn into_claims(self) -> Option<Claims> {
        match self.source {
            Source::Jwt { claims, .. } => Some(claims),
            Source::Database { .. } => None,
        }
    }
}

impl Portcullis {
    /// The session of the request with `headers` (its session cookie), read directly: no
    /// request runs through the routes. `Ok(None)` without a valid session; `Err` when the
    /// store cannot say (a database session, or `jwt.revocable`): fail closed.
    ///
    /// Same checks as `GET /session`: signature or encryption, expiry, absolute lifetime,
    /// revocation, the `jwt` callback on reads (a failing callback means no session); an
    /// expired database session is deleted and a due one extended. See the module docs
    /// for what it leaves to the route.
    pub async fn read_session(&self, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
        Ok(self.find_session(headers).await?.map(|f| f.view.into()))
    }

    pub(crate) async fn find_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Found>, StoreError> {
        let name = &self.config().cookies.session_token.name;
        let cookie = portcullis_domain::cookies::RequestCookies::find(headers, name);
        let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let now = self.clock.now();
        match self.config().session.strategy {
            SessionStrategy::Jwt => self.find_jwt_session(&cookie, now).await,
            SessionStrategy::Database => self.find_database_session(&cookie, now).await,
        }
    }

    async fn find_jwt_session(
        &self,
        cookie: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Found>, StoreError> {
        let config = self.config();
        let Ok(mut token) = flows::decode_session_token(config, cookie, now) else {
            return Ok(None);
        };
        let Ok(auth_time) = flows::session_auth_time(&token) else {
            return Ok(None);
        };
        if config.jwt_revocable {
            // A token without a `jti` could never be revoked: not accepted.
            let Some(jti) = flows::session_jti(&token) else {
                return Ok(None);
            };
            if self.require_store()?.is_jwt_revoked(jti).await? {
                return Ok(None);
            }
        }
        // The callbacks see the claims the route gives them: the sign-in time stamped
        // (unless the token is from this very second and never had it), whatever the `jwt`
        // callback returns.
        let stamp = token.contains_key(flows::AUTH_TIME) || auth_time != now.unix_timestamp();
        if stamp {
            token.insert(flows::AUTH_TIME.into(), auth_time.into());
        }
        if config.hooks.jwt && config.hooks.jwt_on_read {
            let call = JwtCall {
                token,
                user: None,
                account: None,
                profile: None,
                is_new_user: None,
            };
            match self.hooks.jwt(call).await {
                Ok(refreshed) => token = refreshed,
                Err(_) => return Ok(None),
            }
            if stamp {
                token.insert(flows::AUTH_TIME.into(), auth_time.into());
            }
        }
        let expires = flows::jwt_session_expiry(config, auth_time, now);
        let Some(view) = flows::jwt_session_view(&token, expires) else {
            return Ok(None);
        };
        Ok(Some(Found {
            view,
            source: Source::Jwt {
                claims: token,
                expires,
            },
        }))
    }

    async fn find_database_session(
        &self,
        cookie: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Found>, StoreError> {
        // A stored key's shape is no session of ours, and is never looked up.
        let Some(keys) = SessionKeys::for_cookie(cookie) else {
            return Ok(None);
        };
        let store = self.require_store()?;
        let Some((mut session, user)) = store.get_session_and_user(&keys.exposed()).await? else {
            return Ok(None);
        };
        match flows::judge_database_session(&self.config().session, &session, now) {
            DatabaseSessionState::Expired => {
                // As the route: a failed delete still reads as no session.
                if let Err(error) = store.delete_session(session.session_token.expose()).await {
                    tracing::warn!(target: "portcullis", %error, "expired session not deleted");
                }
                return Ok(None);
            }
            DatabaseSessionState::Extend(expires) => {
                store
                    .update_session_expiry(session.session_token.expose(), expires)
                    .await?;
                session.expires = expires;
            }
            DatabaseSessionState::Fresh => {}
        }
        Ok(Some(Found {
            view: flows::database_session_view(&session, &user),
            source: Source::Database { session, user },
        }))
    }
}
