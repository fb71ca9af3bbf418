//! What goes over the wire: one request and one answer type per hook. The adapter
//! (de)serialises with exactly these types and `portcullis hooks schema` prints their JSON
//! Schemas, so the documentation cannot drift from the wire.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The hooks, by the name they have in `[hooks.<name>]` and in a request's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookName {
    /// `sign_in`: may this user sign in?
    SignIn,
    /// `jwt`: the claims to encode.
    Jwt,
    /// `session`: the session JSON the client sees.
    Session,
    /// `redirect`: where a requested callback URL may lead.
    Redirect,
    /// `send_email`: deliver a sign-in link.
    SendEmail,
}

impl HookName {
    /// Every hook, in the order of the docs.
    pub const ALL: [HookName; 5] = [
        HookName::SignIn,
        HookName::Jwt,
        HookName::Session,
        HookName::Redirect,
        HookName::SendEmail,
    ];

    /// The hook's name on the wire (`sign_in`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            HookName::SignIn => "sign_in",
            HookName::Jwt => "jwt",
            HookName::Session => "session",
            HookName::Redirect => "redirect",
            HookName::SendEmail => "send_email",
        }
    }
}

/// Every request body: `{"type": "<hook name>", "data": {…}}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HookRequest<D> {
    /// The hook's name (`sign_in`, `jwt`, `session`, `redirect`, `send_email`).
    #[serde(rename = "type")]
    pub hook: HookName,
    /// The hook's arguments.
    pub data: D,
}

/// `sign_in` (v3's `callbacks.signIn`): may this user sign in?
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SignInData {
    /// The user: `id` (once known), `name`, `email`, `image`.
    pub user: Value,
    /// The account: `provider`, `type` (`oauth`, `email`, `credentials`), `providerAccountId`;
    /// for OAuth also the provider's tokens, as v3 passes them.
    pub account: Value,
    /// The provider's profile (OAuth); for e-mail `{"email": …}`; `null` for credentials.
    pub profile: Value,
    /// The provider's id, e.g. `github`, `email`, `credentials`.
    pub provider: String,
    /// The address on e-mail sign-in (both when the link is asked for and when it is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// On credentials sign-in: the form fields the provider declares, except every field of
    /// type `password` (never sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Map<String, Value>>,
}

/// The answer to `sign_in`. A `redirect` must stay on the site's origin (a path, or an
/// absolute URL of the site); any other is refused as a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignInAnswer {
    /// Sign the user in.
    Allow,
    /// Refuse the sign-in.
    Deny,
    /// Send the user to `url` instead.
    Redirect {
        /// A path, or an absolute URL on the site's origin.
        url: String,
    },
}

/// `jwt` (v3's `callbacks.jwt`): claims in, claims out.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JwtData {
    /// The claims about to be encoded.
    pub token: Map<String, Value>,
    /// At sign-in only (absent on a session read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Value>,
    /// At sign-in only: the account signed in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Value>,
    /// At sign-in only: the provider's profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Value>,
    /// At sign-in only: whether the user was just created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_new_user: Option<bool>,
}

/// The answer to `jwt`: the claims to encode. `sub`, `iat`, `exp` and `jti` are protected:
/// the engine keeps its own values whatever the answer says.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtAnswer {
    /// The claims to encode.
    pub token: Map<String, Value>,
}

/// `session` (v3's `callbacks.session`): the session JSON the client will see.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SessionData {
    /// The default session: `user` (`name`, `email`, `image`), `expires`, …
    pub session: Value,
    /// JWT sessions: the token's claims; database sessions: the user.
    pub token: Value,
}

/// The answer to `session`: the session JSON to send (an object).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionAnswer {
    /// The session JSON to send.
    pub session: Map<String, Value>,
}

/// `redirect` (v3's `callbacks.redirect(url, baseUrl)`): where may this requested callback
/// URL lead? Asked only when a request names a `callbackUrl` (in its body or query).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RedirectData {
    /// The `callbackUrl` the request names, as given (absolute, or a path).
    pub url: String,
    /// The site's base URL, e.g. `https://example.com` (v3's `baseUrl`).
    pub base_url: String,
}

/// The answer to `redirect`: where to send the user (an absolute URL, or a path on the
/// site). It is still held to the static rule: the site's origin or one of
/// `[redirects] allowed_origins`; any other URL sends the user to the base URL.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectAnswer {
    /// Where to send the user.
    pub url: String,
}

/// `send_email`: deliver this sign-in link (instead of SMTP).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SendEmailData {
    /// The recipient (the canonical address).
    pub identifier: String,
    /// The sign-in link. It signs the user in: treat it as a secret until used.
    pub url: String,
    /// When the link stops working (RFC 3339).
    pub expires: String,
    /// The e-mail provider's id.
    pub provider: String,
    /// The e-mail provider's display name.
    pub provider_name: String,
    /// The site's host, e.g. `example.com`.
    pub host: String,
}

/// The answer to `send_email`: `{"sent": true}` once the message is handed over.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEmailAnswer {
    /// Whether the message was handed over.
    pub sent: bool,
}

/// `{"<hook>": {"request": <schema>, "answer": <schema>}, …}` for every hook.
pub fn schemas() -> Value {
    fn pair<D: JsonSchema, A: JsonSchema>(hook: HookName) -> Value {
        let mut request = schemars::schema_for!(HookRequest<D>).to_value();
        // The envelope's `type` is one fixed name per hook.
        if let Some(kind) = request.pointer_mut("/properties/type") {
            *kind = serde_json::json!({ "const": hook.as_str() });
        }
        let answer = schemars::schema_for!(A).to_value();
        serde_json::json!({ "request": request, "answer": answer })
    }
    let mut all = Map::new();
    for hook in HookName::ALL {
        let schema = match hook {
            HookName::SignIn => pair::<SignInData, SignInAnswer>(hook),
            HookName::Jwt => pair::<JwtData, JwtAnswer>(hook),
            HookName::Session => pair::<SessionData, SessionAnswer>(hook),
            HookName::Redirect => pair::<RedirectData, RedirectAnswer>(hook),
            HookName::SendEmail => pair::<SendEmailData, SendEmailAnswer>(hook),
        };
        all.insert(hook.as_str().to_owned(), schema);
    }
    Value::Object(all)
}
