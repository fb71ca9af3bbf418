//! Configured sign-in providers: credentials, e-mail and OAuth.

use serde::{Deserialize, Serialize};

/// One sign-in method the site offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// URL segment: `/signin/<id>`, `/callback/<id>`.
    pub id: String,
    /// Shown to people: "Sign in with `<name>`".
    pub name: String,
    /// What kind of sign-in it is, with its settings.
    pub kind: ProviderKind,
}

/// The kinds of sign-in, with what each needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// A username/password (or any fields) form checked by the app's own backend (spec §9).
    Credentials {
        /// The form's inputs, in order.
        fields: Vec<CredentialField>,
    },
    /// A magic link sent by e-mail (spec §8); needs a store for its single-use tokens.
    Email {
        /// Seconds a link stays valid. v3's default is 24 h; OWASP ASVS 2.7.2 asks for
        /// 10 minutes.
        max_age: i64,
    },
    /// OAuth 1.0a, OAuth 2.0 or OpenID Connect (spec §7).
    OAuth(Box<crate::oauth::OAuthProvider>),
}

/// v3's e-mail link lifetime: 24 hours.
pub const DEFAULT_EMAIL_MAX_AGE: i64 = 24 * 60 * 60;

/// One input of a credentials form (v3's `credentials` option).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialField {
    /// Form field name.
    pub name: String,
    /// Text before the input; `None`: the field name.
    #[serde(default)]
    pub label: Option<String>,
    /// Input type: `text` (default), `password`, `email` …
    #[serde(default, rename = "type")]
    pub input_type: Option<String>,
    /// Hint shown in the empty input; `None`: none.
    #[serde(default)]
    pub placeholder: Option<String>,
    /// The input's initial value; `None`: empty.
    #[serde(default)]
    pub value: Option<String>,
}

impl CredentialField {
    /// A field with a label and an input type, no placeholder or initial value.
    pub fn new(name: &str, label: &str, input_type: &str) -> Self {
        Self {
            name: name.into(),
            label: Some(label.into()),
            input_type: Some(input_type.into()),
            placeholder: None,
            value: None,
        }
    }
}

impl Provider {
    /// A credentials provider; one without fields is left off the sign-in page.
    pub fn credentials(id: &str, name: &str, fields: Vec<CredentialField>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            kind: ProviderKind::Credentials { fields },
        }
    }

    /// An e-mail (magic link) provider.
    pub fn email(id: &str, name: &str, max_age: i64) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            kind: ProviderKind::Email { max_age },
        }
    }

    /// An OAuth provider (a preset, or one described in full).
    pub fn oauth(id: &str, name: &str, provider: crate::oauth::OAuthProvider) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            kind: ProviderKind::OAuth(Box::new(provider)),
        }
    }

    /// v3's `type`: `oauth`, `email` or `credentials`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ProviderKind::Credentials { .. } => "credentials",
            ProviderKind::Email { .. } => "email",
            ProviderKind::OAuth(_) => "oauth",
        }
    }

    /// The OAuth description, for OAuth providers.
    pub fn as_oauth(&self) -> Option<&crate::oauth::OAuthProvider> {
        match &self.kind {
            ProviderKind::OAuth(provider) => Some(provider),
            _ => None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err("id must be 1-64 characters of a-z, A-Z, 0-9, - and _".into());
        }
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        match &self.kind {
            ProviderKind::Email { max_age } if *max_age <= 0 => {
                Err("max_age must be positive".into())
            }
            ProviderKind::OAuth(provider) => provider.validate(),
            _ => Ok(()),
        }
    }
}
