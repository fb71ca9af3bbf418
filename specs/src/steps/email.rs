//! E-mail sign-in: asking for links, reading the mail the SMTP server delivered, following
//! its link, and what the store was given.

mod links;
mod mail;
mod stored;

use cucumber::{given, then, when};
use http::Method;
use portcullis_domain::config::{Limit, ThrottleSettings};

use super::{form, require_embedded};
use crate::doubles::SignInStage;
use crate::mailbox::{self, Delivered};
use crate::world::{AuthWorld, MailMode, Req, Resp, StoreMode};

use mail::check_mail;

// ---------------------------------------------------------------------------------------
// The site

#[given(expr = "e-mail sign-in with links valid for {int} seconds")]
async fn email_sign_in(w: &mut AuthWorld, max_age: i64) {
    let setup = w.setup_mut();
    setup.email = Some(max_age);
    if setup.store == StoreMode::None {
        setup.store = StoreMode::Backed;
    }
}

#[given("e-mail sign-in without a store")]
async fn email_without_store(w: &mut AuthWorld) {
    let setup = w.setup_mut();
    setup.email = Some(86_400);
    setup.store = StoreMode::None;
}

#[given("the mail server cannot be reached")]
async fn mail_unreachable(w: &mut AuthWorld) {
    w.setup_mut().mail = MailMode::Unreachable;
}

#[given("links are sent by the app's own sender")]
async fn app_sender(w: &mut AuthWorld) {
    require_embedded(w, "the app's own sender (an in-process double)");
    w.setup_mut().mail = MailMode::AppSender { fails: false };
}

#[given("links are sent by the app's own sender, which fails")]
async fn failing_app_sender(w: &mut AuthWorld) {
    require_embedded(w, "the app's own sender (an in-process double)");
    w.setup_mut().mail = MailMode::AppSender { fails: true };
}

#[given(expr = "at most {int} links per address and {int} per client IP a minute")]
async fn email_limits(w: &mut AuthWorld, per_address: u32, per_ip: u32) {
    let minute = |limit| Limit {
        limit,
        window_seconds: 60,
    };
    w.setup_mut().throttle = Some(ThrottleSettings {
        email_per_address: minute(per_address),
        email_per_ip: minute(per_ip),
        ..ThrottleSettings::default()
    });
}

#[given("the signIn callback answers so only when a link is asked for")]
async fn sign_in_at_request(w: &mut AuthWorld) {
    w.setup_mut().hooks.sign_in_stage = SignInStage::LinkRequest;
}

#[given("the signIn callback answers so only when a link is used")]
async fn sign_in_at_use(w: &mut AuthWorld) {
    w.setup_mut().hooks.sign_in_stage = SignInStage::LinkUse;
}

#[given(expr = "the store has a user {string} with the e-mail {string}")]
async fn given_stored_user(w: &mut AuthWorld, name: String, email: String) {
    let id = super::store_user(w, Some(&name), &email).await;
    w.saved.insert("user-id".into(), id);
}

// ---------------------------------------------------------------------------------------
// Asking for links

impl AuthWorld {
    /// `POST BASE/signin/email` as a browser's form does (CSRF token, no `json`).
    pub(crate) async fn ask_for_link(&mut self, email: &str, client_ip: Option<&str>) -> Resp {
        // A browser that lost its cookies fetches a new token first.
        let csrf_cookie = self.cookie_name(portcullis::CookieKey::CsrfToken).await;
        let csrf = match self.jar.get(&csrf_cookie) {
            Some(_) => self.csrf_or_fetch().await,
            None => self.fetch_csrf().await,
        };
        let target = self.route("/signin/email").await;
        let email = self.expand(email);
        let mut req =
            Req::new(Method::POST, &target).form(form(&[("csrfToken", &csrf), ("email", &email)]));
        if let Some(ip) = client_ip {
            require_embedded(self, "choosing the client's address");
            req.client_ip = Some(ip.parse().expect("an IP address"));
        }
        self.send(req).await
    }

    /// Takes the mail delivered since the last look: waits (bounded) for at least `n`,
    /// fails when there are not exactly `n`.
    pub(crate) async fn receive(&mut self, n: usize) -> Vec<Delivered> {
        let mail = mailbox::wait_for(&self.mail_sender, n)
            .await
            .unwrap_or_else(|why| panic!("{why}"));
        assert_eq!(
            mail.len(),
            n,
            "{} messages were delivered, expected {n}: {:#?}",
            mail.len(),
            mail.iter().map(|m| &m.rcpt_to).collect::<Vec<_>>()
        );
        self.mails.extend(mail.iter().cloned());
        mail
    }

    /// The last mail taken.
    pub(crate) fn mail(&self) -> &Delivered {
        self.mails
            .last()
            .expect("no mail was received yet: say `Then I receive one mail, sent to … only`")
    }
}

fn verify_request_url(w: &AuthWorld) -> String {
    format!("{}/verify-request?provider=email&type=email", w.setup().url)
}

fn assert_verify_request(w: &AuthWorld) {
    let last = w.last();
    assert_eq!(last.status, 302, "answer: {last:?}");
    assert_eq!(
        last.header("location"),
        Some(verify_request_url(w)),
        "answer: {last:?}"
    );
}

#[when(expr = "I ask for a sign-in link for {string}")]
async fn ask(w: &mut AuthWorld, email: String) {
    w.ask_for_link(&email, None).await;
}

#[when(expr = "I ask for a sign-in link for {string} {int} times")]
async fn ask_times(w: &mut AuthWorld, email: String, times: usize) {
    for _ in 0..times {
        w.ask_for_link(&email, None).await;
        assert_verify_request(w);
    }
}

#[when(expr = "I ask from {word} for a sign-in link for {string}")]
async fn ask_from(w: &mut AuthWorld, ip: String, email: String) {
    w.ask_for_link(&email, Some(&ip)).await;
}

/// `user1@example.com` … `userN@example.com`.
fn numbered(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("user{i}@example.com")).collect()
}

#[when(expr = "I ask from {word} for sign-in links for {int} different addresses")]
async fn ask_from_many(w: &mut AuthWorld, ip: String, n: usize) {
    for email in numbered(n) {
        w.ask_for_link(&email, Some(&ip)).await;
        assert_verify_request(w);
    }
}

#[given(expr = "I have a sign-in link for {string}")]
#[when(expr = "I have a sign-in link for {string}")]
async fn have_link(w: &mut AuthWorld, email: String) {
    w.ask_for_link(&email, None).await;
    assert_verify_request(w);
    let mail = w.receive(1).await;
    check_mail(w, &mail[0], &email);
}

#[when(expr = "I remember the answer as {string}")]
async fn remember_answer(w: &mut AuthWorld, name: String) {
    let last = w.last().clone();
    w.answers.insert(name, last);
}

#[then(expr = "the answer is the same as {string}")]
async fn same_answer(w: &mut AuthWorld, name: String) {
    let earlier = w
        .answers
        .get(&name)
        .unwrap_or_else(|| panic!("no answer remembered as {name:?}"));
    let last = w.last();
    let headers = |r: &Resp| -> Vec<(String, String)> {
        r.headers
            .iter()
            .filter(|(n, _)| *n != http::header::DATE)
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        (last.status, headers(last), &last.body),
        (earlier.status, headers(earlier), &earlier.body),
        "the answer differs from {name:?}"
    );
}
