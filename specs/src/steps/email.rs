//! E-mail sign-in: asking for links, reading the mail the SMTP server delivered, following
//! its link, and what the store was given.

use cucumber::{given, then, when};
use http::Method;
use portcullis_domain::config::{Limit, ThrottleSettings};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{form, require_embedded};
use crate::doubles::SignInStage;
use crate::mailbox::{self, Delivered};
use crate::matching::{match_json, match_line};
use crate::world::{AuthWorld, MailMode, Req, Resp, StoreMode, Target};

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

// ---------------------------------------------------------------------------------------
// The mail

/// What every sign-in mail must be: exactly one recipient, the canonical address, on the
/// envelope and in `To`; the built-in subject; one link in the HTML, the same as the text's;
/// a link to this site's e-mail callback for that address.
fn check_mail(w: &AuthWorld, mail: &Delivered, canonical: &str) {
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

// ---------------------------------------------------------------------------------------
// Following links

/// The link's query with `email` replaced.
fn with_email(link: &str, email: &str) -> String {
    let mut url = url::Url::parse(link).expect("the link is a URL");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "email" {
                email.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

#[when("I follow the link in the mail")]
async fn follow_link(w: &mut AuthWorld) {
    let link = w.mail().link();
    let target = w.on_site(&link).await;
    w.send(Req::new(Method::GET, &target)).await;
}

#[when(expr = "I follow the link in the mail from {word}")]
async fn follow_link_from(w: &mut AuthWorld, ip: String) {
    require_embedded(w, "choosing the client's address");
    let link = w.mail().link();
    let target = w.on_site(&link).await;
    let mut req = Req::new(Method::GET, &target);
    req.client_ip = Some(ip.parse().expect("an IP address"));
    w.send(req).await;
}

#[when(expr = "I follow the link in the mail from {word} with a guessed token {int} times")]
async fn guess_links_from(w: &mut AuthWorld, ip: String, n: usize) {
    require_embedded(w, "choosing the client's address");
    let link = w.mail().link();
    for i in 0..n {
        let mut url = url::Url::parse(&link).expect("the link is a URL");
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "token" {
                    format!("guess-{i}")
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        let target = w.on_site(url.as_str()).await;
        let mut req = Req::new(Method::GET, &target);
        req.client_ip = Some(ip.parse().expect("an IP address"));
        w.send(req).await;
    }
}

#[when(expr = "I follow the link in the mail with the e-mail changed to {string}")]
async fn follow_link_as(w: &mut AuthWorld, email: String) {
    let link = with_email(&w.mail().link(), &email);
    let target = w.on_site(&link).await;
    w.send(Req::new(Method::GET, &target)).await;
}

#[when(expr = "{int} other browsers follow the link in the mail at the same time")]
async fn follow_link_at_once(w: &mut AuthWorld, n: usize) {
    let link = w.mail().link();
    let target = w.on_site(&link).await;
    let app = w.app().await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let barrier = barrier.clone();
        let target = target.clone();
        match (w.target, w.server_addr()) {
            (Target::Embedded, _) => {
                let app = app.clone();
                tasks.push(tokio::spawn(async move {
                    let mut request = http::Request::new(bytes::Bytes::new());
                    *request.uri_mut() = target.parse().expect("a request target");
                    barrier.wait().await;
                    let response = app.handle(request).await;
                    let (parts, body) = response.into_parts();
                    (parts.status.as_u16(), parts.headers, body)
                }));
            }
            (Target::Http, addr) => {
                let addr = addr.expect("the server runs");
                let client = w.client.clone();
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    let response = client
                        .get(format!("http://{addr}{target}"))
                        .send()
                        .await
                        .expect("the server answers");
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let body = response.text().await.expect("a body");
                    (status, headers, body)
                }));
            }
        }
    }
    let window = crate::matching::Window::at(w.now());
    let joined = tokio::time::timeout(
        crate::world::REQUEST_TIMEOUT,
        futures::future::join_all(tasks),
    )
    .await
    .expect("the requests finish");
    w.parallel = joined
        .into_iter()
        .map(|r| {
            let (status, headers, body) = r.expect("a request panicked");
            Resp {
                status,
                headers,
                body,
                window,
            }
        })
        .collect();
}

#[then(expr = "exactly one of them was signed in, and the other {int} sent to {string}")]
async fn one_winner(w: &mut AuthWorld, losers: usize, error_url: String) {
    let session = w.cookie_name(portcullis::CookieKey::SessionToken).await;
    let base = w.setup().url.clone();
    let site = base
        .split_once("://")
        .and_then(|(scheme, rest)| Some(format!("{scheme}://{}", rest.split('/').next()?)))
        .unwrap_or_default();
    let signed_in = |r: &Resp| {
        r.status == 302
            && r.header("location").as_deref() == Some(site.as_str())
            && r.set_cookies()
                .iter()
                .any(|c| c.starts_with(&format!("{session}=")) && !c.contains("Max-Age=0"))
    };
    let refused = |r: &Resp| {
        r.status == 302
            && r.header("location").as_deref() == Some(error_url.as_str())
            && !r
                .set_cookies()
                .iter()
                .any(|c| c.starts_with(&format!("{session}=")))
    };
    let winners = w.parallel.iter().filter(|r| signed_in(r)).count();
    let refusals = w.parallel.iter().filter(|r| refused(r)).count();
    assert_eq!(
        (winners, refusals),
        (1, losers),
        "answers: {:#?}",
        w.parallel
            .iter()
            .map(|r| (r.status, r.header("location")))
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------
// What the store holds

/// The link's `email` and `token`.
fn link_parts(link: &str) -> (String, String) {
    let url = url::Url::parse(link).expect("the link is a URL");
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("the link has no {name}"))
    };
    (get("email"), get("token"))
}

fn v3_hash(token: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(format!("{token}{secret}").as_bytes()))
}

#[then("the store was given the link's token only as hex(sha256(token + secret))")]
async fn store_given_hash(w: &mut AuthWorld) {
    let (email, token) = link_parts(&w.mail().link());
    assert_eq!(token.len(), 64, "a 256-bit token in hex: {token}");
    let expected = v3_hash(&token, &w.setup().secrets[0]);
    let store = w.store().await;
    let rows = store.verification_rows.lock().unwrap().clone();
    assert_eq!(rows.len(), 1, "rows given to the store: {rows:?}");
    let row = &rows[0];
    assert_eq!(row.identifier, email);
    assert_eq!(row.token_hash, expected);
    assert!(!row.token_hash.contains(&token));
    let text = format!("{row:?}");
    assert!(
        !text.contains(&token),
        "the token went to the store: {text}"
    );
}

#[then("the store finds the link's row by that hash, and not by the token itself")]
async fn store_finds_by_hash(w: &mut AuthWorld) {
    let (email, token) = link_parts(&w.mail().link());
    let hash = v3_hash(&token, &w.setup().secrets[0]);
    let store = w.store().await;
    let by_token = store
        .backend()
        .use_verification_token(&email, &token)
        .await
        .expect("the store reads");
    assert_eq!(by_token, None, "the row is found by the raw token");
    let by_hash = store
        .backend()
        .use_verification_token(&email, &hash)
        .await
        .expect("the store reads")
        .expect("no row under hex(sha256(token + secret))");
    assert_eq!(by_hash.identifier, email);
    assert_eq!(by_hash.token_hash, hash);
}

async fn find_user(w: &mut AuthWorld, email: &str) -> Option<portcullis_domain::model::User> {
    let store = w.store().await;
    store
        .backend()
        .get_user_by_email(email)
        .await
        .expect("the store reads")
}

#[then(expr = "the store has a user {string}, verified {string}")]
async fn user_verified(w: &mut AuthWorld, email: String, pattern: String) {
    let user = find_user(w, &email)
        .await
        .unwrap_or_else(|| panic!("no user {email}"));
    let verified = user
        .email_verified
        .unwrap_or_else(|| panic!("{email} is not verified: {user:?}"));
    let pattern = w.expand(&pattern);
    if let Err(why) = match_line(&pattern, &crate::matching::iso(verified), &w.last().window) {
        panic!("{why}");
    }
    w.saved.insert("user-id".into(), user.id);
}

#[then(expr = "the store has no user {string}")]
async fn no_user(w: &mut AuthWorld, email: String) {
    let user = find_user(w, &email).await;
    assert_eq!(user, None);
}

#[then(expr = "my database session reads back as the user {string}")]
async fn database_session_reads_back(w: &mut AuthWorld, email: String) {
    let token = w.session_cookie().await;
    let store = w.store().await;
    let (session, user) = store
        .backend()
        .get_session_and_user(&crate::cookie_keys(&token).exposed())
        .await
        .expect("the store reads")
        .expect("the session cookie names no stored session");
    assert_eq!(user.email.as_deref(), Some(email.as_str()));
    let resp = w.read_session().await;
    let expected = serde_json::json!({
        "user": { "name": user.name, "email": user.email, "image": user.image },
        "accessToken": session.access_token.expose(),
        "expires": crate::matching::iso(session.expires),
    });
    let actual: Value = resp.json();
    if let Err(why) = match_json(&expected, &actual, &resp.window, "$") {
        panic!("{why}\n  body: {}", resp.body);
    }
    assert_eq!(session.access_token.expose().len(), 64);
    assert_ne!(session.access_token.expose(), token);
}

#[then(expr = "the session cookie is not {string}")]
async fn cookie_is_not(w: &mut AuthWorld, value: String) {
    let value = w.expand(&value);
    let cookie = w.session_cookie().await;
    assert_ne!(cookie, value);
}
