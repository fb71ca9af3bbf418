//! Callback URLs and the open-redirect defence (spec §4, checklist #3, #4, #5).
//!
//! v3 accepted any URL that string-prefixed the base URL and rejected relative ones. Here a
//! URL is accepted only when its parsed origin is the site's origin; a relative path is
//! resolved against the base URL by concatenation (never URL-joining, which lets `//evil`
//! escape); anything else, including what does not parse, becomes the base URL.

use url::Url;

use crate::site::SiteUrl;

/// Decides where a user may be sent after signing in or out. Must be pure: it runs inline
/// on every request.
pub trait RedirectPolicy: Send + Sync {
    /// Returns the URL to use for the requested `url`.
    fn redirect(&self, url: &str, site: &SiteUrl) -> String;
}

/// The built-in policy: same origin as the site, or the base URL.
#[derive(Debug, Default, Clone, Copy)]
pub struct SameOrigin;

impl RedirectPolicy for SameOrigin {
    fn redirect(&self, url: &str, site: &SiteUrl) -> String {
        same_origin(url, site).unwrap_or_else(|| site.base_url().to_owned())
    }
}

impl<F> RedirectPolicy for F
where
    F: Fn(&str, &SiteUrl) -> String + Send + Sync,
{
    fn redirect(&self, url: &str, site: &SiteUrl) -> String {
        self(url, site)
    }
}

/// `url` when it stays on the site's origin (relative paths resolved), else `None`.
pub fn same_origin(url: &str, site: &SiteUrl) -> Option<String> {
    // Browsers strip tabs and newlines and read `\` as `/`: a URL holding any of them
    // means something else to the browser than to us.
    if url.is_empty() || url.len() > 4096 || url.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let candidate = if url.starts_with('/') {
        if url.starts_with("//") {
            return None;
        }
        format!("{}{}", site.base_url(), url)
    } else {
        url.to_owned()
    };
    let parsed = Url::parse(&candidate).ok()?;
    let clean = parsed.username().is_empty() && parsed.password().is_none();
    (clean && &parsed.origin() == site.origin()).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteUrl {
        SiteUrl::parse("https://example.com").unwrap()
    }

    #[test]
    fn redirect_table() {
        let base = "https://example.com";
        let cases: &[(&str, &str)] = &[
            ("https://example.com", "https://example.com"),
            (
                "https://example.com/dash?x=1",
                "https://example.com/dash?x=1",
            ),
            ("/dashboard", "https://example.com/dashboard"),
            ("/%2F%2Fevil.net", "https://example.com/%2F%2Fevil.net"),
            ("https://example.com.evil.net/x", base),
            ("https://example.com@evil.net/", base),
            ("https://user@example.com/", base),
            ("https://example.com:8443/", base),
            ("http://example.com/", base),
            ("//evil.net", base),
            ("/\\evil.net", base),
            ("\\\\evil.net", base),
            ("/\tevil", base),
            ("https://exa\nmple.com", base),
            ("javascript:alert(1)", base),
            ("evil.net", base),
            ("", base),
            ("http://[::1", base),
            ("%", base),
        ];
        for (input, expected) in cases {
            assert_eq!(
                SameOrigin.redirect(input, &site()),
                *expected,
                "input {input:?}"
            );
        }
    }
}
