//! What a flow asks the outside world for (effects) and what comes back (outcomes).

use serde_json::{Map, Value};

use crate::jwt::Claims;
use crate::store::{StoreError, StoreOp, StoreReply};

/// Something a flow needs done before it can go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A store operation; answer with [`Outcome::Store`].
    Store(StoreOp),
    /// Check credentials with the provider's backend; answer with [`Outcome::Authorized`].
    Authorize(AuthorizeCall),
    /// A user callback; answer with the matching outcome.
    Hook(HookCall),
    /// Count one attempt against a rate limit; answer with [`Outcome::Throttle`].
    Throttle(ThrottleCheck),
    /// Deliver a magic link; answer with [`Outcome::Sent`].
    SendVerification(crate::mail::VerificationRequest),
    /// Call a provider (OAuth token, profile, discovery, keys); answer with
    /// [`Outcome::Http`].
    Http(crate::http::HttpCall),
}

/// One attempt to count against a limit: at most `limit` per `window_seconds` per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleCheck {
    /// e.g. `email:addr:jane@example.com`, `email:ip:203.0.113.7`.
    pub key: String,
    /// Attempts allowed per window.
    pub limit: u32,
    /// The window's length in seconds.
    pub window_seconds: i64,
}

/// A credentials sign-in to check (spec §9). `Debug` shows field names only: the values
/// are passwords.
#[derive(Clone, PartialEq)]
pub struct AuthorizeCall {
    /// The credentials provider's id, to pick its `authorize` callback.
    pub provider_id: String,
    /// The whole parsed request body, as v3 passes it.
    pub credentials: Map<String, Value>,
    /// What the callback may know of the request.
    pub request: RequestInfo,
}

/// What an `authorize` callback may know of the request. Cookies and the
/// `Authorization` header are left out: a credentials check has no business with them.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestInfo {
    /// The HTTP method (`POST`).
    pub method: String,
    /// The query string, parsed.
    pub query: Map<String, Value>,
    /// The headers, in order, less `Cookie`, `Authorization` and values that are not UTF-8.
    pub headers: Vec<(String, String)>,
}

/// A user callback (spec §12). `Debug` redacts the sign-in profile: for credentials it is
/// the request body, password included.
#[derive(Clone, PartialEq)]
pub enum HookCall {
    /// May this user sign in? Answer with [`Outcome::SignIn`].
    SignIn {
        /// The user who would sign in (v3's `user`).
        user: Value,
        /// The provider account (v3's `account`).
        account: Value,
        /// The provider's profile; for credentials, the request body.
        profile: Value,
    },
    /// Shape the JWT; answer with [`Outcome::Token`]. At sign-in every argument is given;
    /// on a session read only `token`.
    Jwt {
        /// The claims so far.
        token: Claims,
        /// The signed-in user, at sign-in only.
        user: Option<Value>,
        /// The provider account, at sign-in only.
        account: Option<Value>,
        /// The provider's profile, at sign-in only.
        profile: Option<Value>,
        /// Whether the sign-in created the user, at sign-in only.
        is_new_user: Option<bool>,
    },
    /// Shape the session JSON; answer with [`Outcome::Session`]. `token` is the JWT claims.
    Session {
        /// The session JSON so far.
        session: Value,
        /// The JWT claims (JWT sessions), or the stored user (database sessions).
        token: Value,
    },
    /// Where may a requested callback URL lead? (v3's `redirect(url, baseUrl)`.) Answer
    /// with [`Outcome::Redirect`]; the answer is then held to the redirect policy.
    Redirect {
        /// The callback URL the request asked for.
        url: String,
        /// The site's base URL.
        base_url: String,
    },
}

impl std::fmt::Debug for AuthorizeCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeCall")
            .field("provider_id", &self.provider_id)
            .field("credentials", &Redacted(&self.credentials))
            .field("request", &self.request)
            .finish()
    }
}

impl std::fmt::Debug for HookCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookCall::SignIn {
                user,
                account,
                profile: Value::Object(profile),
            } => f
                .debug_struct("SignIn")
                .field("user", user)
                .field("account", &TokensRedacted(account))
                .field("profile", &Redacted(profile))
                .finish(),
            HookCall::SignIn { user, account, .. } => f
                .debug_struct("SignIn")
                .field("user", user)
                .field("account", &TokensRedacted(account))
                .finish_non_exhaustive(),
            HookCall::Jwt {
                token,
                user,
                account,
                profile,
                is_new_user,
            } => f
                .debug_struct("Jwt")
                .field("token", &TokensRedacted(&Value::Object(token.clone())))
                .field("user", user)
                .field("account", &account.as_ref().map(TokensRedacted))
                .field("profile", profile)
                .field("is_new_user", is_new_user)
                .finish(),
            HookCall::Session { session, token } => f
                .debug_struct("Session")
                .field("session", &TokensRedacted(session))
                .field("token", &TokensRedacted(token))
                .finish(),
            HookCall::Redirect { url, base_url } => f
                .debug_struct("Redirect")
                .field("url", url)
                .field("base_url", base_url)
                .finish(),
        }
    }
}

/// Provider tokens an account, token or session may carry (spec §7.2, v3's recipe names).
const TOKEN_KEYS: &[&str] = &[
    "accessToken",
    "refreshToken",
    "idToken",
    "access_token",
    "refresh_token",
    "id_token",
];

/// A JSON value with provider tokens shown as `[redacted]`.
struct TokensRedacted<'a>(&'a Value);

impl std::fmt::Debug for TokensRedacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Value::Object(map) => f
                .debug_map()
                .entries(map.iter().map(|(k, v)| {
                    let shown: &dyn std::fmt::Debug = if TOKEN_KEYS.contains(&k.as_str()) {
                        &"[redacted]"
                    } else {
                        v
                    };
                    (k, shown)
                }))
                .finish(),
            other => other.fmt(f),
        }
    }
}

/// Prints a map's keys, never its values.
struct Redacted<'a>(&'a Map<String, Value>);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[redacted]")))
            .finish()
    }
}

/// Events (spec §12.5): listeners are told, and cannot change the response.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthEvent {
    /// Someone signed in.
    SignIn {
        /// The user who signed in.
        user: Value,
        /// The provider account they signed in with.
        account: Value,
        /// Whether the sign-in created the user; `None` where unknown (credentials).
        is_new_user: Option<bool>,
    },
    /// The decoded session token (JWT sessions) or the stored session (database
    /// sessions); both `None` without a valid session.
    SignOut {
        /// The decoded session token, for JWT sessions.
        token: Option<Claims>,
        /// The stored session, for database sessions.
        session: Option<crate::model::Session>,
    },
    /// `token`: the JWT claims (JWT sessions only).
    Session {
        /// The session JSON `GET /session` returns.
        session: Value,
        /// The JWT claims, for JWT sessions.
        token: Option<Claims>,
    },
    /// A user was created (first e-mail or OAuth sign-in).
    CreateUser {
        /// The new user.
        user: Value,
    },
    /// A user was updated (e-mail verified).
    UpdateUser {
        /// The user as updated.
        user: Value,
    },
    /// A provider account was linked to a user (`account` holds no tokens).
    LinkAccount {
        /// The user the account now belongs to.
        user: Value,
        /// The account linked, without its tokens.
        account: Value,
    },
}

/// The answer to an [`Effect`].
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The store's answer to an [`Effect::Store`].
    Store(Result<StoreReply, StoreError>),
    /// The user object `authorize` returned, `None` for "wrong credentials".
    Authorized(Result<Option<Value>, HookFailure>),
    /// The `signIn` callback's answer.
    SignIn(Result<SignInDecision, HookFailure>),
    /// The `jwt` callback's claims.
    Token(Result<Claims, HookFailure>),
    /// The `session` callback's session JSON.
    Session(Result<Value, HookFailure>),
    /// The `redirect` callback's answer: the URL to send the user to (before the policy).
    Redirect(Result<String, HookFailure>),
    /// `true`: within the limit (the attempt was counted).
    Throttle(bool),
    /// Whether the magic link went out (the error text names no secret).
    Sent(Result<(), String>),
    /// The provider's response to an [`Effect::Http`].
    Http(Result<crate::http::HttpResponse, crate::http::HttpFailure>),
}

/// The `signIn` callback's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInDecision {
    /// Sign in.
    Allow,
    /// Refuse: the user is sent to the error page with `AccessDenied`.
    Deny,
    /// Do not sign in; send the user here instead.
    Redirect(String),
}

/// A callback that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookFailure {
    /// v3's thrown `Error`: the code (or a thrown message, as `ErrorCode::Other`) becomes
    /// `?error=<code>`. `"AccessDenied".into()` gives the typed code.
    #[error("{0}")]
    Error(crate::error::ErrorCode),
    /// v3's thrown non-Error (deprecated): the user is sent to this URL.
    #[error("redirect")]
    Redirect(String),
    /// No callback registered where one is required (credentials without `authorize`).
    #[error("not configured")]
    NotConfigured,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hook_debug_hides_provider_tokens_and_profiles() {
        let account = json!({"provider": "github", "accessToken": "gho_SECRET1", "refreshToken": "r_SECRET2"});
        let mut token = Claims::new();
        token.insert("accessToken".into(), "at_SECRET3".into());
        token.insert("sub".into(), "42".into());
        let calls = [
            HookCall::SignIn {
                user: json!({"id": "42"}),
                account: account.clone(),
                profile: json!({"password": "pw_SECRET4"}),
            },
            HookCall::Jwt {
                token: token.clone(),
                user: None,
                account: Some(account),
                profile: None,
                is_new_user: None,
            },
            HookCall::Session {
                session: json!({"accessToken": "at_SECRET5"}),
                token: Value::Object(token),
            },
        ];
        for call in calls {
            let shown = format!("{call:?}");
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }
}
