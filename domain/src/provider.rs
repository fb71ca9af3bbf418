//! Configured sign-in providers. Credentials now; OAuth and e-mail plug in as new kinds.

use serde::{Deserialize, Serialize};

/// One sign-in method the site offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// URL segment: `/signin/<id>`, `/callback/<id>`.
    pub id: String,
    /// Shown to people: "Sign in with <name>".
    pub name: String,
    pub kind: ProviderKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// A username/password (or any fields) form checked by the app's own backend (spec §9).
    Credentials { fields: Vec<CredentialField> },
}

/// One input of a credentials form (v3's `credentials` option).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialField {
    /// Form field name.
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    /// Input type: `text` (default), `password`, `email` …
    #[serde(default, rename = "type")]
    pub input_type: Option<String>,
    #[serde(default)]
    pub placeholder: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

impl CredentialField {
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
    pub fn credentials(id: &str, name: &str, fields: Vec<CredentialField>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            kind: ProviderKind::Credentials { fields },
        }
    }

    /// v3's `type`: `oauth`, `email` or `credentials`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ProviderKind::Credentials { .. } => "credentials",
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
        Ok(())
    }
}
