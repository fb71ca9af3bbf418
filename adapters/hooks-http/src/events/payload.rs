//! An [`AuthEvent`] as the JSON the receiver gets, and as the `portcullis::audit` log line.
//!
//! Both leave out every secret an event may carry: provider tokens in an account or a JWT
//! (`accessToken`, `refreshToken`, `idToken` …), a database session's token, passwords.

use portcullis_domain::effect::AuthEvent;
use portcullis_domain::jwt::Claims;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Keys dropped wherever they appear, compared lower-case without `_` and `-`.
const SECRET_KEYS: &[&str] = &[
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "sessiontoken",
    "oauthtoken",
    "oauthtokensecret",
    "password",
    "secret",
    "clientsecret",
];

/// v3's name of the event (`events.<name>`).
pub fn event_name(event: &AuthEvent) -> &'static str {
    match event {
        AuthEvent::SignIn { .. } => "signIn",
        AuthEvent::SignOut { .. } => "signOut",
        AuthEvent::Session { .. } => "session",
        AuthEvent::CreateUser { .. } => "createUser",
        AuthEvent::UpdateUser { .. } => "updateUser",
        AuthEvent::LinkAccount { .. } => "linkAccount",
    }
}

/// The request body: `{"type":"event","data":{"event":…,"id":…,"at":…, …fields}}`, with v3's
/// field names per event (`signIn`: `user`, `account`, `isNewUser`; `linkAccount`: `user`,
/// `providerAccount`; …) and no secrets.
pub fn payload(event: &AuthEvent, id: &str, at: OffsetDateTime) -> Value {
    let mut data = Map::new();
    data.insert("event".into(), event_name(event).into());
    data.insert("id".into(), id.into());
    data.insert(
        "at".into(),
        at.format(&Rfc3339).map(Value::from).unwrap_or(Value::Null),
    );
    for (key, value) in fields(event) {
        data.insert(key.into(), without_secrets(value));
    }
    json!({ "type": "event", "data": data })
}

fn fields(event: &AuthEvent) -> Vec<(&'static str, Value)> {
    match event {
        AuthEvent::SignIn {
            user,
            account,
            is_new_user,
        } => vec![
            ("user", user.clone()),
            ("account", account.clone()),
            ("isNewUser", is_new_user.map_or(Value::Null, Value::from)),
        ],
        AuthEvent::SignOut { token, session } => vec![
            ("token", claims(token.as_ref())),
            (
                "session",
                session.as_ref().map_or(Value::Null, |s| {
                    json!({
                        "userId": s.user_id,
                        "expires": s.expires.format(&Rfc3339).ok(),
                    })
                }),
            ),
        ],
        AuthEvent::Session { session, token } => vec![
            ("session", session.clone()),
            ("token", claims(token.as_ref())),
        ],
        AuthEvent::CreateUser { user } | AuthEvent::UpdateUser { user } => {
            vec![("user", user.clone())]
        }
        AuthEvent::LinkAccount { user, account } => {
            vec![("user", user.clone()), ("providerAccount", account.clone())]
        }
    }
}

fn claims(token: Option<&Claims>) -> Value {
    token.map_or(Value::Null, |t| Value::Object(t.clone()))
}

fn is_secret_key(key: &str) -> bool {
    let normal: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.contains(&normal.as_str())
}

/// `value` with every secret key dropped, at any depth.
pub fn without_secrets(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k, without_secrets(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_secrets).collect()),
        other => other,
    }
}

/// Writes the `portcullis::audit` line of one event: its name, id, the user's id and the
/// provider where the event names them. Nothing else (no e-mail, no token).
pub fn audit(data: &Value) {
    let text = |v: Option<&Value>| -> Option<String> {
        v.and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let event = data
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id = data.get("id").and_then(Value::as_str).unwrap_or_default();
    let user_id = text(data.pointer("/user/id"))
        .or_else(|| text(data.pointer("/token/sub")))
        .or_else(|| text(data.pointer("/session/userId")));
    let provider = text(data.pointer("/account/provider"))
        .or_else(|| text(data.pointer("/providerAccount/provider")));
    let is_new_user = data.get("isNewUser").and_then(Value::as_bool);
    tracing::info!(
        target: "portcullis::audit",
        event,
        id,
        user_id = user_id.as_deref(),
        provider = provider.as_deref(),
        is_new_user,
        "auth event"
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use portcullis_domain::model::Session;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2030-01-02 03:04:05 UTC);

    #[test]
    fn sign_in_keeps_v3_fields_and_drops_provider_tokens() {
        let event = AuthEvent::SignIn {
            user: json!({"id": "7", "email": "zoe@example.com"}),
            account: json!({
                "provider": "github", "type": "oauth", "id": "123",
                "accessToken": "gho_SECRET", "refresh_token": "r_SECRET",
                "nested": {"id-token": "SECRET", "keep": 1}
            }),
            is_new_user: Some(true),
        };
        let body = payload(&event, "msg_1", AT);
        assert_eq!(
            body,
            json!({"type": "event", "data": {
                "event": "signIn", "id": "msg_1", "at": "2030-01-02T03:04:05Z",
                "user": {"id": "7", "email": "zoe@example.com"},
                "account": {"provider": "github", "type": "oauth", "id": "123", "nested": {"keep": 1}},
                "isNewUser": true,
            }})
        );
    }

    #[test]
    fn sign_out_never_carries_the_session_token() {
        let event = AuthEvent::SignOut {
            token: None,
            session: Some(Session {
                session_token: "st_SECRET".into(),
                user_id: "7".into(),
                expires: AT,
                access_token: "at_SECRET".into(),
                created: None,
            }),
        };
        let text = payload(&event, "msg_2", AT).to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains(r#""session":{"userId":"7","expires":"2030-01-02T03:04:05Z"}"#));
    }

    #[test]
    fn session_and_link_account_drop_tokens_in_claims_and_session_json() {
        let mut token = Claims::new();
        token.insert("sub".into(), "7".into());
        token.insert("accessToken".into(), "at_SECRET".into());
        let session = AuthEvent::Session {
            session: json!({"user": {"name": "Zoë"}, "accessToken": "SECRET"}),
            token: Some(token),
        };
        let link = AuthEvent::LinkAccount {
            user: json!({"id": "7"}),
            account: json!({"provider": "google", "id_token": "SECRET"}),
        };
        for (event, name) in [(session, "session"), (link, "linkAccount")] {
            let body = payload(&event, "msg_3", AT);
            assert_eq!(body["data"]["event"], name);
            assert!(!body.to_string().contains("SECRET"), "{body}");
        }
    }
}
