//! The decisions of `GET /session`, shared with drivers that read a session directly
//! (the embedded crate's typed session): one place says when a session is valid, when it
//! expires, when a database session is due for extension and what its default JSON is.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{iso, truthy};
use crate::config::{Config, SessionSettings};
use crate::jwt::Claims;
use crate::model::{Session, User};

/// The signed-in user, as a session names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    /// The user's id: the JWT's `sub`, or the stored user's id.
    pub id: String,
    /// Display name, if the user has one.
    pub name: Option<String>,
    /// E-mail address, if the user has one.
    pub email: Option<String>,
    /// Avatar URL, if the user has one.
    pub image: Option<String>,
}

/// A valid session: who, and until when (the expiry `GET /session` answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// Who is signed in.
    pub user: SessionUser,
    /// When the session ends unless used again.
    pub expires: OffsetDateTime,
}

/// A JWT session's expiry when read at `now`: `maxAge` from now, but never past the
/// absolute lifetime counted from sign-in (`auth_time`, Unix seconds).
pub fn jwt_session_expiry(config: &Config, auth_time: i64, now: OffsetDateTime) -> OffsetDateTime {
    match OffsetDateTime::from_unix_timestamp(auth_time) {
        Ok(signed_in) => config.session.expiry(signed_in, now),
        Err(_) => now + time::Duration::seconds(config.session.max_age),
    }
}

/// v3's default session JSON for JWT claims: `name`, `email` and `picture`, each only
/// when JavaScript would call it truthy.
pub fn jwt_session_json(token: &Claims, expires: OffsetDateTime) -> Value {
    let pick = |claim: &str| match token.get(claim) {
        value @ Some(v) if truthy(value) => v.clone(),
        _ => Value::Null,
    };
    json!({
        "user": { "name": pick("name"), "email": pick("email"), "image": pick("picture") },
        "expires": iso(expires),
    })
}

/// The typed view of JWT claims; `None` without a non-empty string `sub` (the decoder
/// already refuses such a token; a `jwt` callback could have removed it).
pub fn jwt_session_view(token: &Claims, expires: OffsetDateTime) -> Option<SessionView> {
    let text = |claim: &str| {
        token
            .get(claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some(SessionView {
        user: SessionUser {
            id: text("sub")?,
            name: text("name"),
            email: text("email"),
            image: text("picture"),
        },
        expires,
    })
}

/// What a stored session read at `now` calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseSessionState {
    /// Past its expiry or its absolute lifetime: delete it; no session.
    Expired,
    /// Valid as stored.
    Fresh,
    /// Valid, and its expiry moves to this (sliding renewal at most once per `updateAge`,
    /// or brought back under a lowered absolute lifetime): write it, then serve.
    Extend(OffsetDateTime),
}

/// Judges a stored session at `now` (stores do not read the clock).
pub fn judge_database_session(
    settings: &SessionSettings,
    session: &Session,
    now: OffsetDateTime,
) -> DatabaseSessionState {
    let signed_in = settings.signed_in(session);
    if session.expires <= now || settings.outlived(signed_in, now) {
        return DatabaseSessionState::Expired;
    }
    let due_at = session.expires - time::Duration::seconds(settings.max_age)
        + time::Duration::seconds(settings.update_age);
    // Due: `max_age` from now, capped at the absolute end. Not due, but the stored expiry
    // lies past that end (the limit was lowered): brought back to it.
    let expires = settings.expiry(signed_in, now);
    if (now > due_at && expires != session.expires) || expires < session.expires {
        DatabaseSessionState::Extend(expires)
    } else {
        DatabaseSessionState::Fresh
    }
}

/// v3's default session JSON for a database session.
pub fn database_session_json(session: &Session, user: &User) -> Value {
    json!({
        "user": { "name": user.name, "email": user.email, "image": user.image },
        "accessToken": session.access_token.expose(),
        "expires": iso(session.expires),
    })
}

/// The typed view of a stored session and its user.
pub fn database_session_view(session: &Session, user: &User) -> SessionView {
    SessionView {
        user: SessionUser {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            image: user.image.clone(),
        },
        expires: session.expires,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;
    use time::macros::datetime;

    fn settings() -> SessionSettings {
        SessionSettings {
            strategy: crate::config::SessionStrategy::Database,
            max_age: 30 * 86_400,
            update_age: 86_400,
            absolute_max_age: Some(90 * 86_400),
            token_storage: crate::session_key::SessionTokenStorage::Hashed,
        }
    }

    fn stored(created: OffsetDateTime, expires: OffsetDateTime) -> Session {
        Session {
            session_token: SecretString::from("t"),
            user_id: "u1".into(),
            expires,
            access_token: SecretString::from("a"),
            created: Some(created),
        }
    }

    #[test]
    fn database_session_is_extended_once_per_update_age_and_never_past_its_absolute_end() {
        let now = datetime!(2026-01-10 00:00 UTC);
        let day = time::Duration::days(1);
        let s = settings();
        // Extended less than a day ago: fresh.
        let fresh = stored(now - 2 * day, now + 30 * day - day / 2);
        assert_eq!(
            judge_database_session(&s, &fresh, now),
            DatabaseSessionState::Fresh
        );
        // Extended two days ago: due, 30 days from now.
        let due = stored(now - 2 * day, now + 28 * day);
        assert_eq!(
            judge_database_session(&s, &due, now),
            DatabaseSessionState::Extend(now + 30 * day)
        );
        // Signed in 80 days ago: never past day 90.
        let old = stored(now - 80 * day, now + 5 * day);
        assert_eq!(
            judge_database_session(&s, &old, now),
            DatabaseSessionState::Extend(now + 10 * day)
        );
        // Past its expiry, or past its absolute lifetime.
        let expired = stored(now - 40 * day, now);
        assert_eq!(
            judge_database_session(&s, &expired, now),
            DatabaseSessionState::Expired
        );
        let outlived = stored(now - 91 * day, now + day);
        assert_eq!(
            judge_database_session(&s, &outlived, now),
            DatabaseSessionState::Expired
        );
    }

    #[test]
    fn jwt_view_takes_non_empty_strings_and_needs_a_subject() {
        let at = datetime!(2026-01-10 00:00 UTC);
        let claims: Claims = serde_json::from_value(json!({
            "sub": "u1", "name": "Ali", "email": "", "picture": 7
        }))
        .unwrap_or_default();
        let view = jwt_session_view(&claims, at);
        assert_eq!(
            view.map(|v| v.user),
            Some(SessionUser {
                id: "u1".into(),
                name: Some("Ali".into()),
                email: None,
                image: None
            })
        );
        let json = jwt_session_json(&claims, at);
        assert_eq!(json["user"]["name"], "Ali");
        assert_eq!(json["user"]["email"], Value::Null);
        assert_eq!(json["user"]["image"], 7);
        let mut anonymous = claims.clone();
        anonymous.remove("sub");
        assert_eq!(jwt_session_view(&anonymous, at), None);
    }
}
