//! The default sign-in e-mail (v3's `sendVerificationRequest` text, spec §8.5), hardened.
//!
//! * Subject `Sign in to <host>`, text part `Sign in to <host>\n<url>\n\n`, as v3.
//! * The HTML part names the site and carries one "Sign in" button. As in v3, each dot in the
//!   site name is preceded by a zero-width space (`&#8203;`) so mail clients do not turn it
//!   into a link.
//! * The submitted identifier is **not** rendered (checklist §1 #6: v3 < 3.29.8 echoed it,
//!   and an address carrying HTML became phishing content). Only the host, from the
//!   configuration, is shown.
//! * Every interpolated value is HTML-escaped for its context (text or quoted attribute).
//! * The sign-in link is the only actionable element: no other link, no image, no remote
//!   resource, no script, no form. A URL that is not `http(s)` is not made a link at all.
//! * Control and invisible characters are removed from the host and URL, so neither can
//!   add a line to the subject or the text part.
//! * The accent colour goes into a `style` attribute, where HTML escaping is not enough
//!   (`red; background: url(…)` would load a remote image): only `#rgb` or `#rrggbb` is
//!   used, anything else falls back to the default.

use crate::email_address::is_control_or_invisible;
use crate::mail::{MailMessage, VerificationRequest};

/// The button colour when none (or an unusable one) is configured: v3's.
pub const DEFAULT_ACCENT: &str = "#346df1";

/// Renders the default sign-in message for `request`, addressed to `request.identifier`.
/// `accent` is the button colour (`#rgb` or `#rrggbb`; anything else is ignored).
pub fn render_verification_email(
    request: &VerificationRequest,
    accent: Option<&str>,
) -> MailMessage {
    let site = one_line(&request.host);
    let url = one_line(&request.url);
    let accent = accent
        .map(str::trim)
        .filter(|a| is_hex_colour(a))
        .unwrap_or(DEFAULT_ACCENT);

    let subject = format!("Sign in to {site}");
    let text = format!("Sign in to {site}\n{url}\n\n");
    let html = html_body(&site, &url, accent);

    MailMessage {
        to: request.identifier.clone(),
        subject,
        text,
        html,
    }
}

fn html_body(site: &str, url: &str, accent: &str) -> String {
    // Escape first, then add the zero-width spaces (the dot survives escaping unchanged).
    let site_html = html_escape::encode_text(site).replace('.', "&#8203;.");
    let title = html_escape::encode_text(site);
    let button_style = format!(
        "display: inline-block; padding: 10px 20px; border: 1px solid {accent}; \
         border-radius: 5px; background: {accent}; color: #ffffff; font-size: 18px; \
         font-family: Helvetica, Arial, sans-serif; font-weight: bold; text-decoration: none;"
    );
    let button = if is_web_url(url) {
        let href = html_escape::encode_double_quoted_attribute(url);
        format!("<a href=\"{href}\" style=\"{button_style}\">Sign in</a>")
    } else {
        // Never a `javascript:` or other non-web link; the text part still has the URL.
        format!("<span style=\"{button_style}\">Sign in</span>")
    };
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to {title}</title>
</head>
<body style="margin: 0; padding: 20px 0; background: #f9f9f9;">
  <table role="presentation" width="100%" border="0" cellspacing="0" cellpadding="0">
    <tr>
      <td align="center" style="padding: 10px 0 20px 0; font-size: 22px; font-family: Helvetica, Arial, sans-serif; color: #444444;">
        <strong>{site_html}</strong>
      </td>
    </tr>
  </table>
  <table role="presentation" width="100%" border="0" cellspacing="20" cellpadding="0" style="max-width: 600px; margin: auto; border-radius: 10px; background: #ffffff;">
    <tr>
      <td align="center" style="padding: 10px 0 0 0; font-size: 18px; font-family: Helvetica, Arial, sans-serif; color: #444444;">
        Sign in to <strong>{site_html}</strong>
      </td>
    </tr>
    <tr>
      <td align="center" style="padding: 20px 0;">
        {button}
      </td>
    </tr>
    <tr>
      <td align="center" style="padding: 0 0 10px 0; font-size: 16px; line-height: 22px; font-family: Helvetica, Arial, sans-serif; color: #444444;">
        If you did not request this email you can safely ignore it.
      </td>
    </tr>
  </table>
</body>
</html>
"#
    )
}

/// The value with control and invisible characters removed: one line of visible text.
fn one_line(value: &str) -> String {
    value
        .chars()
        .filter(|c| !is_control_or_invisible(*c))
        .collect()
}

fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fn is_hex_colour(value: &str) -> bool {
    let Some(digits) = value.strip_prefix('#') else {
        return false;
    };
    matches!(digits.len(), 3 | 6) && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn request(identifier: &str, host: &str, url: &str) -> VerificationRequest {
        VerificationRequest {
            identifier: identifier.to_owned(),
            url: url.to_owned(),
            host: host.to_owned(),
            provider_id: "email".to_owned(),
            provider_name: "Email".to_owned(),
            expires: time::macros::datetime!(2030-01-02 03:04:05 UTC),
        }
    }

    fn normal() -> VerificationRequest {
        request(
            "jane@example.com",
            "example.com",
            "https://example.com/api/auth/callback/email?email=jane%40example.com&token=0123456789abcdef",
        )
    }

    fn hostile() -> VerificationRequest {
        request(
            "jane@example.com",
            "evil.example\"><script>alert('host')</script><img src=https://evil.example/x.png>",
            "https://example.com/api/auth/callback/email?email=a&token=\"><script>alert(\"url\")</script>'",
        )
    }

    /// Every `<tag` in the HTML, by name.
    fn tags(html: &str) -> Vec<String> {
        html.split('<')
            .skip(1)
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '!' || *c == '/')
                    .collect::<String>()
                    .to_ascii_lowercase()
            })
            .filter(|name| !name.starts_with('/'))
            .collect()
    }

    #[test]
    fn normal_request_text() {
        let mail = render_verification_email(&normal(), None);
        assert_eq!(mail.to, "jane@example.com");
        assert_eq!(mail.subject, "Sign in to example.com");
        assert_eq!(
            mail.text,
            "Sign in to example.com\nhttps://example.com/api/auth/callback/email?email=jane%40example.com&token=0123456789abcdef\n\n"
        );
        insta::assert_snapshot!("normal_text", mail.text);
        insta::assert_snapshot!("normal_html", mail.html);
    }

    #[test]
    fn hostile_request() {
        let mail = render_verification_email(
            &hostile(),
            Some("red; background: url(https://evil.example/x.png)"),
        );
        insta::assert_snapshot!("hostile_subject", mail.subject);
        insta::assert_snapshot!("hostile_text", mail.text);
        insta::assert_snapshot!("hostile_html", mail.html);
        assert!(!mail.html.contains("<script"));
        assert!(!mail.html.contains("<img"));
        assert!(!mail.html.contains("url("));
        assert!(mail.html.contains(DEFAULT_ACCENT));
        // Exactly one link, and it is the (escaped) sign-in URL.
        assert_eq!(mail.html.matches("href=").count(), 1);
        let escaped = html_escape::encode_double_quoted_attribute(&hostile().url).into_owned();
        assert!(mail.html.contains(&format!("href=\"{escaped}\"")));
    }

    #[test]
    fn only_the_link_is_actionable() {
        for req in [normal(), hostile()] {
            let mail = render_verification_email(&req, Some("#0a0"));
            let tags = tags(&mail.html);
            let allowed = [
                "!doctype", "html", "head", "meta", "title", "body", "table", "tr", "td", "strong",
                "a",
            ];
            for tag in &tags {
                assert!(allowed.contains(&tag.as_str()), "unexpected tag <{tag}>");
            }
            assert_eq!(tags.iter().filter(|t| *t == "a").count(), 1);
            assert_eq!(mail.html.matches("href=").count(), 1);
            assert!(mail.html.contains("background: #0a0;"));
        }
    }

    #[test]
    fn the_identifier_is_never_rendered() {
        let hostile_identifier = "<b>Click</b>@evil.example";
        let mail = render_verification_email(
            &request(
                hostile_identifier,
                "example.com",
                "https://example.com/cb?token=t",
            ),
            None,
        );
        assert_eq!(mail.to, hostile_identifier);
        for part in [&mail.subject, &mail.text, &mail.html] {
            assert!(!part.contains("Click"), "identifier echoed in {part:?}");
            assert!(!part.contains("evil"), "identifier echoed in {part:?}");
        }
        let normal = render_verification_email(&normal(), None);
        assert!(!normal.html.contains("jane@"));
        assert!(!normal.html.contains("Sign in as"));
    }

    #[test]
    fn lines_cannot_be_injected() {
        let mail = render_verification_email(
            &request(
                "jane@example.com",
                "example.com\r\nBcc: eve@evil.example",
                "https://example.com/cb?token=t\nhttps://evil.example/",
            ),
            None,
        );
        assert!(!mail.subject.contains(['\r', '\n']));
        assert_eq!(mail.subject, "Sign in to example.comBcc: eve@evil.example");
        assert_eq!(
            mail.text,
            "Sign in to example.comBcc: eve@evil.example\nhttps://example.com/cb?token=thttps://evil.example/\n\n"
        );
    }

    #[test]
    fn non_web_urls_are_not_links() {
        for url in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,x",
            "//evil.example/",
        ] {
            let mail = render_verification_email(&request("j@x.org", "x.org", url), None);
            assert!(!mail.html.contains("href="), "{url} became a link");
            assert!(mail.html.contains("Sign in</span>"));
        }
        for url in ["https://x.org/cb", "HTTP://x.org/cb"] {
            let mail = render_verification_email(&request("j@x.org", "x.org", url), None);
            assert_eq!(mail.html.matches("href=").count(), 1);
        }
    }

    #[test]
    fn accent_colours() {
        assert!(is_hex_colour("#abc"));
        assert!(is_hex_colour("#A0B1C2"));
        for bad in [
            "",
            "#",
            "#ab",
            "#abcd",
            "red",
            "#gggggg",
            "#abc;x",
            "rgb(0,0,0)",
            "#abc\"",
            "abc",
        ] {
            assert!(!is_hex_colour(bad), "{bad}");
        }
        let mail = render_verification_email(&normal(), Some(" #123456 "));
        assert!(mail.html.contains("background: #123456;"));
        assert!(!mail.html.contains(DEFAULT_ACCENT));
    }
}
