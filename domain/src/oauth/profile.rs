//! Mapping a provider's raw profile to `{id, name, email, image}` (spec §7.2, §7.10.2),
//! declared as data: paths into the JSON, joins, templates, and a function for the few
//! providers whose mapping is real logic (Discord's avatars, Twitter's image sizes).

use serde_json::Value;

use super::provider::Profile;

/// How each profile field is read from the raw profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileMap {
    /// Where the provider's account id is; it must give a value.
    pub id: Field,
    /// Where the display name is.
    pub name: Field,
    /// Where the e-mail address is.
    pub email: Field,
    /// Where the avatar URL is.
    pub image: Field,
    /// Read as a boolean: `true` or `"true"`.
    pub email_verified: Field,
}

/// One field's source.
#[derive(Debug, Clone)]
pub enum Field {
    /// Not provided by this provider.
    None,
    /// A dot path: `data.0.id` is `raw.data[0].id`. Numbers become decimal strings.
    Path(String),
    /// The first of these that gives a non-empty value (`name || login`).
    FirstOf(Vec<Field>),
    /// The non-empty values of these paths joined by the separator; `None` if all are empty.
    Join(Vec<String>, String),
    /// `{path}` placeholders filled from the raw profile; `None` if any is missing.
    Template(String),
    /// Logic no declaration captures.
    Custom(fn(&Value) -> Option<String>),
}

impl PartialEq for Field {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Field::None, Field::None) => true,
            (Field::Path(a), Field::Path(b)) | (Field::Template(a), Field::Template(b)) => a == b,
            (Field::FirstOf(a), Field::FirstOf(b)) => a == b,
            (Field::Join(a, s), Field::Join(b, t)) => a == b && s == t,
            (Field::Custom(a), Field::Custom(b)) => std::ptr::fn_addr_eq(*a, *b),
            _ => false,
        }
    }
}

impl Eq for Field {}

/// Shorthand for [`Field::Path`].
pub fn path(p: &str) -> Field {
    Field::Path(p.to_owned())
}

/// Why a raw profile could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The id field gives no value.
    #[error("the profile has no account id")]
    NoId,
}

impl ProfileMap {
    /// OpenID Connect standard claims: `sub`, `name`, `email`, `picture`, `email_verified`.
    pub fn openid() -> Self {
        Self {
            id: path("sub"),
            name: path("name"),
            email: path("email"),
            image: path("picture"),
            email_verified: path("email_verified"),
        }
    }

    /// The plain shape most OAuth 2 APIs answer with: `id`, `name`, `email`, `image`.
    pub fn plain() -> Self {
        Self {
            id: path("id"),
            name: path("name"),
            email: path("email"),
            image: path("image"),
            email_verified: Field::None,
        }
    }

    /// Maps `raw`; the account id is required, the e-mail lower-cased (spec §7.2).
    pub fn map(&self, raw: &Value) -> Result<Profile, ProfileError> {
        let id = self.id.read(raw).ok_or(ProfileError::NoId)?;
        Ok(Profile {
            id,
            name: self.name.read(raw),
            email: self.email.read(raw).map(|e| e.trim().to_lowercase()),
            image: self.image.read(raw),
            email_verified: self
                .email_verified
                .read(raw)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            raw: raw.clone(),
        })
    }
}

impl Field {
    /// The field's value in `raw`, `None` when absent, null or empty.
    pub fn read(&self, raw: &Value) -> Option<String> {
        match self {
            Field::None => None,
            Field::Path(p) => lookup(raw, p).and_then(scalar),
            Field::FirstOf(fields) => fields.iter().find_map(|f| f.read(raw)),
            Field::Join(paths, separator) => {
                let parts: Vec<String> = paths
                    .iter()
                    .filter_map(|p| lookup(raw, p).and_then(scalar))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(separator))
            }
            Field::Template(template) => fill(template, raw),
            Field::Custom(f) => f(raw).filter(|s| !s.is_empty()),
        }
    }
}

/// `raw` at a dot path (`a.0.b`).
pub fn lookup<'a>(raw: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(raw, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A string, number or boolean as a non-empty string.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn fill(template: &str, raw: &Value) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        out.push_str(&lookup(raw, &rest[open + 1..close]).and_then(scalar)?);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_read_paths_joins_and_templates() {
        let raw = json!({
            "id": 42, "login": "octo", "name": null,
            "data": [{"first": "Ada", "last": ""}],
            "verified": "true",
        });
        assert_eq!(path("id").read(&raw).as_deref(), Some("42"));
        assert_eq!(path("data.0.first").read(&raw).as_deref(), Some("Ada"));
        assert_eq!(path("data.1.first").read(&raw), None);
        assert_eq!(
            Field::FirstOf(vec![path("name"), path("login")])
                .read(&raw)
                .as_deref(),
            Some("octo")
        );
        assert_eq!(
            Field::Join(
                vec!["data.0.first".into(), "data.0.last".into()],
                " ".into()
            )
            .read(&raw)
            .as_deref(),
            Some("Ada")
        );
        assert_eq!(
            Field::Template("https://cdn.example/{id}/{login}.png".into())
                .read(&raw)
                .as_deref(),
            Some("https://cdn.example/42/octo.png")
        );
        assert_eq!(Field::Template("x/{missing}".into()).read(&raw), None);
    }

    #[test]
    fn map_requires_an_id_and_lowercases_email() {
        let map = ProfileMap::openid();
        let profile = map
            .map(&json!({"sub": "abc", "email": "Jane@Example.COM", "email_verified": true}))
            .unwrap();
        assert_eq!(profile.id, "abc");
        assert_eq!(profile.email.as_deref(), Some("jane@example.com"));
        assert!(profile.email_verified);
        assert_eq!(map.map(&json!({"email": "x@y.z"})), Err(ProfileError::NoId));
    }
}
