//! `serve --dev`'s e-mail sign-in without an SMTP server: each magic link is logged (an
//! info line holding the link, in dev mode only) and kept in memory for `GET /dev/mailbox`,
//! a page served only with `--dev`. The last [`KEPT`] links are kept; a restart forgets
//! them (the store still holds their tokens until they expire).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portcullis_domain::mail::VerificationRequest;
use portcullis_ports::VerificationSender;
use warp::Filter;

/// The id of the e-mail provider `serve --dev` adds.
pub const DEV_EMAIL_PROVIDER_ID: &str = "email";
/// How many links the page lists.
pub const KEPT: usize = 50;
/// Where the page is served.
pub const PATH: &str = "/dev/mailbox";

/// One link as it would have been mailed.
#[derive(Clone)]
struct Letter {
    to: String,
    link: String,
    provider: String,
    expires: time::OffsetDateTime,
}

/// The development mailbox: delivers magic links to the log and to its page.
#[derive(Default)]
pub struct DevMailbox {
    letters: Mutex<VecDeque<Letter>>,
}

impl std::fmt::Debug for DevMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The links sign people in: never in Debug output.
        f.debug_struct("DevMailbox").finish_non_exhaustive()
    }
}

#[async_trait]
impl VerificationSender for DevMailbox {
    async fn send_verification_request(&self, request: &VerificationRequest) -> Result<(), String> {
        // Dev mode only: this sender is never wired outside `serve --dev`.
        tracing::info!(
            target: "portcullis",
            to = %request.identifier,
            link = %request.url,
            page = PATH,
            "dev mailbox: a sign-in link"
        );
        let mut letters = self.letters.lock().unwrap_or_else(|e| e.into_inner());
        if letters.len() == KEPT {
            letters.pop_back();
        }
        letters.push_front(Letter {
            to: request.identifier.clone(),
            link: request.url.clone(),
            provider: request.provider_name.clone(),
            expires: request.expires,
        });
        Ok(())
    }
}

impl DevMailbox {
    /// The page: newest link first, every value escaped.
    fn page(&self) -> String {
        let letters = self.letters.lock().unwrap_or_else(|e| e.into_inner());
        let mut items = String::new();
        for letter in letters.iter() {
            let expires = letter
                .expires
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            items.push_str(&format!(
                "<li><p>To <strong>{}</strong> ({}), valid until {}</p>\
                 <p><a class=\"link\" href=\"{link}\">{link}</a></p></li>\n",
                escape(&letter.to),
                escape(&letter.provider),
                escape(&expires),
                link = escape(&letter.link),
            ));
        }
        let list = if items.is_empty() {
            "<p id=\"empty\">No link yet: ask for one on the sign-in page.</p>".to_owned()
        } else {
            format!("<ol id=\"letters\">\n{items}</ol>")
        };
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>Portcullis — dev mailbox</title>\n<link rel=\"stylesheet\" href=\"/demo.css\">\n\
             </head>\n<body>\n<main>\n<h1>Dev mailbox <span class=\"tag\">dev mode</span></h1>\n\
             <p class=\"note\">The sign-in links Portcullis would have e-mailed, newest first \
             (the last {KEPT}). Reload to see new ones. Not for production.</p>\n{list}\n\
             </main>\n</body>\n</html>\n"
        )
    }
}

/// `GET /dev/mailbox`: the page, with the demo page's policy (nothing inline, this origin
/// only); everything else is rejected (falls through).
pub fn routes(
    mailbox: Arc<DevMailbox>,
) -> impl warp::Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    warp::get()
        .and(warp::path!("dev" / "mailbox"))
        .map(move || crate::demo::file(mailbox.page(), "text/html; charset=utf-8"))
}

fn escape(text: &str) -> String {
    crate::demo::escape(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(to: &str, url: &str) -> VerificationRequest {
        VerificationRequest {
            identifier: to.to_owned(),
            url: url.to_owned(),
            host: "localhost".to_owned(),
            provider_id: "email".to_owned(),
            provider_name: "Email".to_owned(),
            expires: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn links_are_listed_newest_first_escaped_and_bounded() {
        let mailbox = DevMailbox::default();
        mailbox
            .send_verification_request(&request("a@example.com", "http://x/1"))
            .await
            .unwrap();
        mailbox
            .send_verification_request(&request("<b>@example.com", "http://x/2?a=1&b=\"2\""))
            .await
            .unwrap();
        let page = mailbox.page();
        assert!(page.contains("&lt;b&gt;@example.com"), "{page}");
        assert!(
            page.contains("href=\"http://x/2?a=1&amp;b=&quot;2&quot;\""),
            "{page}"
        );
        assert!(page.find("http://x/2").unwrap() < page.find("http://x/1").unwrap());
        assert!(!page.contains("<b>"));
        for i in 0..KEPT {
            mailbox
                .send_verification_request(&request("c@example.com", &format!("http://y/{i}")))
                .await
                .unwrap();
        }
        let page = mailbox.page();
        assert_eq!(page.matches("<li>").count(), KEPT);
        assert!(!page.contains("http://x/"));
        assert_eq!(format!("{mailbox:?}"), "DevMailbox { .. }");
    }
}
