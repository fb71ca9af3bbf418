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

/// v3's `callbacks.redirect` as configuration: the site's origin, or one of the listed
/// origins (e.g. the app on another subdomain); anything else becomes the base URL.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    origins: Vec<url::Origin>,
}

impl AllowedOrigins {
    /// Each entry must be an origin: `https://` (or `http://`) and a host, optionally a
    /// port, with no credentials, path, query or fragment. The error names the entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let origins = entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref();
                let url = Url::parse(entry).map_err(|e| format!("{entry:?}: {e}"))?;
                // `https://host` parses with the path `/`: a trailing slash is fine.
                let bare = url.username().is_empty()
                    && url.password().is_none()
                    && url.path() == "/"
                    && url.query().is_none()
                    && url.fragment().is_none();
                match url.scheme() {
                    "https" | "http" if bare && url.host().is_some() => Ok(url.origin()),
                    _ => Err(format!(
                        "{entry:?} is not an origin: give the scheme and host (and port), \
                         e.g. \"https://app.example.com\""
                    )),
                }
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { origins })
    }
}

impl RedirectPolicy for AllowedOrigins {
    fn redirect(&self, url: &str, site: &SiteUrl) -> String {
        same_origin(url, site)
            .or_else(|| on_origins(url, &self.origins))
            .unwrap_or_else(|| site.base_url().to_owned())
    }
}

/// Browsers strip tabs and newlines and read `\` as `/`: a URL holding any of them means
/// something else to the browser than to us.
fn plausible(url: &str) -> bool {
    !url.is_empty() && url.len() <= 4096 && !url.chars().any(|c| c.is_control() || c == '\\')
}

/// `url` when it is absolute, without credentials, on one of `origins`.
fn on_origins(url: &str, origins: &[url::Origin]) -> Option<String> {
    if !plausible(url) || url.starts_with('/') {
        return None;
    }
    let parsed = Url::parse(url).ok()?;
    let clean = parsed.username().is_empty() && parsed.password().is_none();
    (clean && origins.contains(&parsed.origin())).then(|| url.to_owned())
}

/// `url` when it stays on the site's origin (relative paths resolved), else `None`.
pub fn same_origin(url: &str, site: &SiteUrl) -> Option<String> {
    if !plausible(url) {
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

    #[test]
    fn allowed_origins_add_exactly_those_origins() {
        let policy =
            AllowedOrigins::parse(&["https://app.example.org", "http://localhost:5173"]).unwrap();
        let base = "https://example.com";
        let cases: &[(&str, &str)] = &[
            ("/dash", "https://example.com/dash"),
            (
                "https://app.example.org/after",
                "https://app.example.org/after",
            ),
            ("http://localhost:5173/", "http://localhost:5173/"),
            ("http://app.example.org/after", base),
            ("https://app.example.org:8443/", base),
            ("https://evil.app.example.org/", base),
            ("https://app.example.org.evil.net/", base),
            ("https://user@app.example.org/", base),
            ("https://app.example.org\\@evil.net/", base),
            ("//app.example.org/x", base),
            ("https://app.exa\tmple.org/", base),
        ];
        for (input, expected) in cases {
            assert_eq!(
                policy.redirect(input, &site()),
                *expected,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn allowed_origins_must_be_origins() {
        for bad in [
            "app.example.org",
            "https://app.example.org/path",
            "https://app.example.org?x=1",
            "https://u@app.example.org",
            "javascript:alert(1)",
            "ftp://app.example.org",
            "",
        ] {
            let error = AllowedOrigins::parse(&[bad]).unwrap_err();
            assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
        }
        assert!(AllowedOrigins::parse(&["https://app.example.org/"]).is_ok());
        assert!(AllowedOrigins::parse(&["https://[::1]:8443"]).is_ok());
    }
}
