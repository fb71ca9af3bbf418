//! The mail a sign-in link request sends: who receives it, what it says, and what the app's
//! own sender was asked.

use cucumber::then;

use super::numbered;
use crate::mailbox::{self, Delivered};
use crate::matching::match_line;
use crate::world::AuthWorld;

/// What every sign-in mail must be: exactly one recipient, the canonical address, on the
/// envelope and in `To`; the built-in subject; one link in the HTML, the same as the text's;
/// a link to this site's e-mail callback for that address.
pub(super) fn check_mail(w: &AuthWorld, mail: &Delivered, canonical: &str) {
    assert_eq!(
        mail.rcpt_to,
        vec![canonical.to_owned()],
        "RCPT TO: exactly one, the canonical address"
    );
    assert_eq!(mail.to, vec![canonical.to_owned()], "To:");
    assert!(
        mail.cc.is_empty() && mail.bcc.is_empty(),
        "Cc/Bcc: {mail:?}"
    );
    let host = w
        .setup()
        .url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest).to_owned())
        .unwrap_or_default();
    assert_eq!(mail.subject, format!("Sign in to {host}"));
    let link = mail.link();
    let email: String = form_urlencoded::byte_serialize(canonical.as_bytes()).collect();
    let expected = format!("{}/callback/email?email={email}&token=", w.setup().url);
    assert!(
        link.starts_with(&expected),
        "the link {link:?} is not {expected}…"
    );
    assert_eq!(mail.hrefs, vec![link], "the HTML part's one link");
    assert!(
        !mail.html.contains(canonical),
        "the HTML part names the address:\n{}",
        mail.html
    );
}

#[then(expr = "I receive one mail, sent to {string} only")]
async fn receive_one(w: &mut AuthWorld, canonical: String) {
    let mail = w.receive(1).await;
    check_mail(w, &mail[0], &canonical);
}

#[then(expr = "I receive {int} mails, each sent to {string} only")]
async fn receive_many(w: &mut AuthWorld, n: usize, canonical: String) {
    let mail = w.receive(n).await;
    for m in &mail {
        check_mail(w, m, &canonical);
    }
}

#[then(expr = "I receive {int} mails, one for each of those addresses")]
async fn receive_numbered(w: &mut AuthWorld, n: usize) {
    let mail = w.receive(n).await;
    let mut got: Vec<String> = mail.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    let mut want = numbered(n);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    for m in &mail {
        check_mail(w, m, &m.rcpt_to[0]);
    }
}

#[then("no mail was delivered")]
async fn no_mail(w: &mut AuthWorld) {
    // The SMTP server writes a message before it acknowledges it, and the engine answers
    // after the send: anything sent for the last request is in the Maildir by now.
    let mail = mailbox::take_from(&w.mail_sender).unwrap_or_else(|why| panic!("{why}"));
    assert!(
        mail.is_empty(),
        "{} message(s) delivered, to {:?}",
        mail.len(),
        mail.iter().map(|m| &m.rcpt_to).collect::<Vec<_>>()
    );
}

#[then(expr = "the mail's link is {string}")]
async fn link_is(w: &mut AuthWorld, pattern: String) {
    let pattern = w.expand(&pattern);
    let link = w.mail().link();
    if let Err(why) = match_line(&pattern, &link, &w.last().window) {
        panic!("{why}");
    }
}

#[then(expr = "the mail does not contain {string}")]
async fn mail_lacks(w: &mut AuthWorld, text: String) {
    let text = w.expand(&text);
    let raw = &w.mail().raw;
    assert!(!raw.contains(&text), "the mail contains {text:?}:\n{raw}");
}

#[then(expr = "the app's sender was asked to send one link, to {string}")]
async fn app_sender_asked(w: &mut AuthWorld, identifier: String) {
    let sender = w.app_sender.clone().expect("no app sender is configured");
    let seen = sender.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "requests: {seen:?}");
    let request = &seen[0];
    assert_eq!(request.identifier, identifier);
    assert_eq!(request.provider_id, "email");
    assert_eq!(request.provider_name, "Email");
    let email: String = form_urlencoded::byte_serialize(identifier.as_bytes()).collect();
    if let Err(why) = match_line(
        &format!(
            "{}/callback/email?email={email}&token={{hex64}}",
            w.setup().url
        ),
        &request.url,
        &w.last().window,
    ) {
        panic!("{why}");
    }
}
