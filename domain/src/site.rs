//! The site's public URL: `baseUrl` + `basePath` (spec §1.1).

use url::Url;

/// Where Portcullis is mounted, e.g. `http://localhost:3000` + `/api/auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUrl {
    base_url: String,
    base_path: String,
    origin: url::Origin,
}

/// `NEXTAUTH_URL` could not be read as a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a usable site URL (NEXTAUTH_URL): {0}")]
pub struct SiteUrlError(String);

impl SiteUrl {
    /// Parses `NEXTAUTH_URL` exactly as v3's `parseUrl` does (spec §1.1): `http` only when
    /// the string starts with `http:`, the path (default `/api/auth`) is the base path.
    pub fn parse(nextauth_url: &str) -> Result<Self, SiteUrlError> {
        let raw = nextauth_url.trim();
        let raw = if raw.is_empty() {
            "http://localhost:3000/api/auth"
        } else {
            raw
        };
        let protocol = if raw.starts_with("http:") {
            "http"
        } else {
            "https"
        };
        let rest = raw
            .strip_prefix("http://")
            .or_else(|| raw.strip_prefix("https://"))
            .unwrap_or(raw);
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, path) = match rest.split_once('/') {
            Some((host, path)) => (host, path),
            None => (rest, ""),
        };
        let host = if host.is_empty() {
            "localhost:3000"
        } else {
            host
        };
        let base_url = format!("{protocol}://{host}");
        let base_path = if path.is_empty() {
            "/api/auth".to_owned()
        } else {
            format!("/{path}")
        };
        let parsed = Url::parse(&base_url).map_err(|e| SiteUrlError(e.to_string()))?;
        if parsed.host_str().is_none() || parsed.query().is_some() || !parsed.username().is_empty()
        {
            return Err(SiteUrlError(
                "expected scheme://host[:port][/base/path]".into(),
            ));
        }
        if base_path.contains(['?', '#', '\\']) {
            return Err(SiteUrlError("the base path may not hold ?, # or \\".into()));
        }
        Ok(Self {
            base_url,
            base_path,
            origin: parsed.origin(),
        })
    }

    /// `https://example.com` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `/api/auth` (leading slash, no trailing slash).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// `BASE` = base URL + base path.
    pub fn base(&self) -> String {
        format!("{}{}", self.base_url, self.base_path)
    }

    /// An absolute URL under `BASE`, e.g. `route("/signin")`.
    pub fn route(&self, path: &str) -> String {
        format!("{}{}{}", self.base_url, self.base_path, path)
    }

    /// Whether the site is served over `https://` (cookies then get `Secure`).
    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// The site's origin, for same-origin checks.
    pub fn origin(&self) -> &url::Origin {
        &self.origin
    }
}

impl Default for SiteUrl {
    fn default() -> Self {
        Self {
            base_url: "http://localhost:3000".into(),
            base_path: "/api/auth".into(),
            origin: url::Origin::Tuple("http".into(), url::Host::Domain("localhost".into()), 3000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_v3() {
        let cases = [
            ("", "http://localhost:3000", "/api/auth"),
            ("https://example.com", "https://example.com", "/api/auth"),
            ("https://example.com/", "https://example.com", "/api/auth"),
            (
                "https://example.com/custom/api/auth",
                "https://example.com",
                "/custom/api/auth",
            ),
            ("example.com", "https://example.com", "/api/auth"),
            (
                "http://127.0.0.1:3000/auth",
                "http://127.0.0.1:3000",
                "/auth",
            ),
        ];
        for (input, base_url, base_path) in cases {
            let site = SiteUrl::parse(input).unwrap();
            assert_eq!(site.base_url(), base_url, "{input}");
            assert_eq!(site.base_path(), base_path, "{input}");
        }
        assert_eq!(SiteUrl::default(), SiteUrl::parse("").unwrap());
    }

    #[test]
    fn refuses_unusable_urls() {
        assert!(SiteUrl::parse("https://user@example.com").is_err());
        assert!(SiteUrl::parse("https://exa mple.com").is_err());
        assert!(SiteUrl::parse("https://example.com/a?b").is_err());
    }
}
