//! The Content-Security-Policy of the built-in pages: nothing loads but the page's own
//! stylesheet (by hash) and the configured logo; forms go only where the flow sends them.

/// `scheme://host[:port]` of an absolute http(s) URL, fit to stand in a policy; `None` for
/// a relative URL (covered by `'self'`) or one whose origin holds anything but letters,
/// digits, `.`, `-`, `:`, `/`, `[` and `]` (so nothing can end a directive or add one).
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let origin = parsed.origin().ascii_serialization();
    origin
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:/[]".contains(&b))
        .then_some(origin)
}

/// Builds the policy; sources equal to the site's origin are left to `'self'`.
pub(crate) struct Policy<'a> {
    pub(crate) site_origin: String,
    pub(crate) style: &'a str,
    pub(crate) logo_url: Option<&'a str>,
    /// Where the page's forms lead, redirects included: Chrome and Safari check
    /// `form-action` against every redirect that follows a submission, so a sign-in that
    /// POSTs to `/signin/github` and is sent on to github.com needs github.com here.
    /// `None`: the page has no form (`form-action 'none'`).
    pub(crate) form_targets: Option<Vec<String>>,
}

impl Policy<'_> {
    pub(crate) fn header(&self) -> String {
        let mut img = vec!["'self'".to_owned()];
        self.push_origin(&mut img, self.logo_url);
        let form = match &self.form_targets {
            None => vec!["'none'".to_owned()],
            Some(targets) => {
                let mut form = vec!["'self'".to_owned()];
                for target in targets {
                    self.push_origin(&mut form, Some(target));
                }
                form
            }
        };
        format!(
            "default-src 'none'; style-src {}; img-src {}; form-action {}; frame-ancestors 'none'; base-uri 'none'",
            self.style,
            img.join(" "),
            form.join(" ")
        )
    }

    fn push_origin(&self, sources: &mut Vec<String>, url: Option<&str>) {
        if let Some(origin) = url.and_then(origin_of) {
            if origin != self.site_origin && !sources.contains(&origin) {
                sources.push(origin);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_safe_to_splice() {
        assert_eq!(
            origin_of("https://github.com/login/oauth/authorize?x=1").as_deref(),
            Some("https://github.com")
        );
        assert_eq!(
            origin_of("http://[::1]:8080/x").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(origin_of("/logo.png"), None);
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("data:image/png;base64,AAAA"), None);
        assert_eq!(origin_of("https://a;script-src/x"), None);
        assert_eq!(origin_of("https://a'b/x"), None);
    }

    #[test]
    fn policy_lists_only_foreign_origins() {
        let targets = vec![
            "https://example.com/dash".to_owned(),
            "https://github.com/login/oauth/authorize".to_owned(),
            "https://github.com/other".to_owned(),
            "/relative".to_owned(),
        ];
        let policy = Policy {
            site_origin: "https://example.com".into(),
            style: "'sha256-abc'",
            logo_url: Some("https://cdn.example.net/logo.svg"),
            form_targets: Some(targets),
        };
        assert_eq!(
            policy.header(),
            "default-src 'none'; style-src 'sha256-abc'; img-src 'self' https://cdn.example.net; \
             form-action 'self' https://github.com; frame-ancestors 'none'; base-uri 'none'"
        );
        let formless = Policy {
            logo_url: None,
            form_targets: None,
            ..policy
        };
        assert_eq!(
            formless.header(),
            "default-src 'none'; style-src 'sha256-abc'; img-src 'self'; form-action 'none'; \
             frame-ancestors 'none'; base-uri 'none'"
        );
    }
}
