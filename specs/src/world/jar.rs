//! The browser's state: its cookie jar, and the OAuth redirect it is following.

use time::OffsetDateTime;

/// The browser's cookies: name → value as sent on the wire, in the order first set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Jar(Vec<(String, String)>);

impl Jar {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn set(&mut self, name: &str, value: &str) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.0.push((name.to_owned(), value.to_owned())),
        }
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| n != name);
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `Cookie` header a browser would send.
    pub(crate) fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Applies one `Set-Cookie` line as a browser would (expiry, deletion).
    pub(crate) fn apply(&mut self, line: &str, now: OffsetDateTime) {
        let mut parts = line.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        let mut gone = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "max-age" => gone |= val.trim().parse::<i64>().is_ok_and(|s| s <= 0),
                "expires" => {
                    gone |= httpdate::parse_http_date(val.trim())
                        .is_ok_and(|at| at <= std::time::SystemTime::from(now))
                }
                _ => {}
            }
        }
        if gone {
            self.remove(name);
        } else {
            self.set(name, value);
        }
    }
}

/// The browser's side of an OAuth sign-in under way.
#[derive(Debug, Clone, Default)]
pub(crate) struct OAuthBrowser {
    /// Where the site sent the browser: the provider's authorisation URL.
    pub authorization_url: Option<String>,
    /// Where the provider sends the browser back: the site's callback, by GET (a URL with
    /// the answer in its query) or by a form POST (Apple's `form_post`).
    pub back: Option<ProviderAnswer>,
}

/// The provider's answer to an authorisation request, as the browser carries it back.
#[derive(Debug, Clone)]
pub(crate) struct ProviderAnswer {
    /// The callback URL (absolute, on the site), without the answer when it is POSTed.
    pub url: String,
    /// The answer's fields, in the query (GET) or the form body (POST).
    pub fields: Vec<(String, String)>,
    pub post: bool,
}
