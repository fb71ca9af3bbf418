//! The SMTP adapter against a real SMTP server on loopback (aiosmtpd, started by
//! `bash .ci/smtp`), reading what was delivered from its Maildir; and against sockets that
//! refuse or never answer.
//!
//! The servers and files are what `.ci/smtp` prints, each with the same default here:
//! `PORTCULLIS_TEST_SMTP_URL` (`smtp://127.0.0.1:2525`), `PORTCULLIS_TEST_SMTP_STARTTLS_URL`
//! (`smtp://localhost:2587?tls=required`), `PORTCULLIS_TEST_SMTPS_URL`
//! (`smtps://localhost:2465`), `PORTCULLIS_TEST_SMTP_CA` and `PORTCULLIS_TEST_MAILDIR`
//! (under `$HOME/.cache/portcullis/smtp/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mailparse::{MailHeaderMap, ParsedMail};
use portcullis_domain::mail::{render_verification_email, MailMessage, VerificationRequest};
use portcullis_mail_smtp::{MailError, Mailer, SmtpMailer, SmtpOptions};

/// Bound on any one operation in these tests, so a regression shows as a failure, not a hang.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn state_dir() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/portcullis/smtp")
}

fn maildir() -> PathBuf {
    std::env::var_os("PORTCULLIS_TEST_MAILDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir().join("maildir"))
}

fn test_ca() -> String {
    let path = std::env::var_os("PORTCULLIS_TEST_SMTP_CA")
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir().join("tls/ca.pem"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the test CA {} cannot be read ({e}): run `bash .ci/smtp` first",
            path.display()
        )
    })
}

const RUN_CI_SMTP: &str = "Start the test servers with `bash .ci/smtp` (it installs aiosmtpd and \
     runs it on 127.0.0.1:2525 (SMTP), :2587 (STARTTLS) and :2465 (SMTPS) with one Maildir), \
     or point the PORTCULLIS_TEST_SMTP* variables at running ones.";

/// Fails the test with instructions unless something accepts TCP at the URL's address
/// and, for `greets`, says `220` in plaintext.
fn require_server(url: &str, greets: bool) {
    let parsed = url::Url::parse(url).expect("the test SMTP URL is a URL");
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port_or_known_default().unwrap_or(25);
    let answered = (|| {
        let addr = (host, port).to_socket_addrs().ok()?.next()?;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        if !greets {
            return Some(());
        }
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut buf = [0u8; 3];
        stream.read_exact(&mut buf).ok()?;
        (&buf == b"220").then_some(())
    })();
    if answered.is_none() {
        panic!("no SMTP server answers at {url}. {RUN_CI_SMTP}");
    }
}

/// The plaintext server's URL and the Maildir, checked.
fn plain_server() -> (String, PathBuf) {
    let url = env_or("PORTCULLIS_TEST_SMTP_URL", "smtp://127.0.0.1:2525");
    require_server(&url, true);
    let dir = maildir();
    if !dir.join("new").is_dir() {
        panic!(
            "the Maildir {} does not exist. {RUN_CI_SMTP}",
            dir.display()
        );
    }
    (url, dir)
}

fn starttls_server() -> String {
    let url = env_or(
        "PORTCULLIS_TEST_SMTP_STARTTLS_URL",
        "smtp://localhost:2587?tls=required",
    );
    require_server(&url, true);
    url
}

fn smtps_server() -> String {
    let url = env_or("PORTCULLIS_TEST_SMTPS_URL", "smtps://localhost:2465");
    require_server(&url, false);
    url
}

/// A recipient no other test (or earlier run) uses.
fn unique_recipient(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{tag}-{nanos:x}-{}-{}@example.com",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn options() -> SmtpOptions {
    SmtpOptions::new("Portcullis <no-reply@example.com>")
}

const TOKEN: &str = "4f9c2a1be0d34c6a8e7f5b3d2c1a09887766554433221100ffeeddccbbaa9988";

fn request_for(to: &str) -> VerificationRequest {
    let email: String = url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
    VerificationRequest {
        identifier: to.to_owned(),
        url: format!("http://localhost:3000/api/auth/callback/email?email={email}&token={TOKEN}"),
        host: "localhost:3000".to_owned(),
        provider_id: "email".to_owned(),
        provider_name: "Email".to_owned(),
        expires: time::OffsetDateTime::UNIX_EPOCH,
    }
}

/// Waits (bounded, polling the directory) for exactly one delivered message whose envelope
/// names `recipient`, and returns its bytes; the file is removed.
fn take_delivered(maildir: &Path, recipient: &str) -> Vec<u8> {
    let needle = format!("X-RcptTo: {recipient}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            for entry in std::fs::read_dir(maildir.join(sub)).unwrap().flatten() {
                let Ok(bytes) = std::fs::read(entry.path()) else {
                    continue; // moved or removed meanwhile
                };
                if String::from_utf8_lossy(&bytes).contains(&needle) {
                    found.push((entry.path(), bytes));
                }
            }
        }
        match found.len() {
            0 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            0 => panic!("nothing delivered to {recipient} in {}", maildir.display()),
            1 => {
                let (path, bytes) = found.remove(0);
                std::fs::remove_file(path).unwrap();
                return bytes;
            }
            n => panic!("{n} messages delivered for {recipient}"),
        }
    }
}

fn header(mail: &ParsedMail<'_>, name: &str) -> Vec<String> {
    mail.headers.get_all_values(name)
}

/// Checks one delivered sign-in mail: envelope, headers, both parts, the link intact.
fn check_delivered(raw: &[u8], recipient: &str, sent: &MailMessage, url: &str) {
    let mail = mailparse::parse_mail(raw).unwrap();

    // The envelope, as recorded by aiosmtpd's Mailbox handler: one RCPT TO, one MAIL FROM.
    assert_eq!(header(&mail, "X-RcptTo"), vec![recipient.to_owned()]);
    assert_eq!(
        header(&mail, "X-MailFrom"),
        vec!["no-reply@example.com".to_owned()]
    );
    // The headers.
    assert_eq!(header(&mail, "To"), vec![recipient.to_owned()]);
    assert_eq!(header(&mail, "Cc"), Vec::<String>::new());
    assert_eq!(header(&mail, "Bcc"), Vec::<String>::new());
    assert_eq!(
        header(&mail, "From"),
        vec!["Portcullis <no-reply@example.com>".to_owned()]
    );
    assert_eq!(
        header(&mail, "Subject"),
        vec!["Sign in to localhost:3000".to_owned()]
    );
    assert_eq!(header(&mail, "Message-ID").len(), 1);
    assert_eq!(header(&mail, "Date").len(), 1);

    // multipart/alternative: text, then HTML.
    assert_eq!(mail.ctype.mimetype, "multipart/alternative");
    assert_eq!(mail.subparts.len(), 2);
    let text = &mail.subparts[0];
    let html = &mail.subparts[1];
    assert_eq!(text.ctype.mimetype, "text/plain");
    assert_eq!(html.ctype.mimetype, "text/html");

    let text_body = text.get_body().unwrap().replace("\r\n", "\n");
    assert_eq!(text_body.trim_end(), sent.text.trim_end());
    assert_eq!(
        text_body.lines().nth(1),
        Some(url),
        "the link in the text part"
    );

    let html_body = html.get_body().unwrap().replace("\r\n", "\n");
    assert_eq!(html_body.trim_end(), sent.html.trim_end());
    let hrefs: Vec<&str> = html_body
        .split("href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(hrefs.len(), 1, "exactly one link");
    assert_eq!(
        html_escape::decode_html_entities(hrefs[0]),
        url,
        "the link in the HTML part"
    );
    assert!(
        !html_body.contains(recipient),
        "the HTML does not echo the identifier"
    );
}

async fn guarded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(HANG_GUARD, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} hung for {HANG_GUARD:?}"),
    }
}

#[tokio::test]
async fn delivers_the_sign_in_mail_to_exactly_one_recipient() {
    let (url, maildir) = plain_server();
    let recipient = unique_recipient("signin");
    let request = request_for(&recipient);
    let message = render_verification_email(&request, None);
    let mailer = SmtpMailer::from_url(&url, options()).unwrap();

    guarded("send", mailer.send(message.clone())).await.unwrap();

    let raw = take_delivered(&maildir, &recipient);
    check_delivered(&raw, &recipient, &message, &request.url);
}

#[tokio::test]
async fn pooled_concurrent_sends_each_reach_only_their_recipient() {
    let (url, maildir) = plain_server();
    let mailer = SmtpMailer::from_url(
        &url,
        SmtpOptions {
            pool_max_size: 2,
            ..options()
        },
    )
    .unwrap();
    let recipients: Vec<String> = (0..5).map(|_| unique_recipient("pool")).collect();
    let requests: Vec<VerificationRequest> = recipients.iter().map(|r| request_for(r)).collect();
    let messages: Vec<MailMessage> = requests
        .iter()
        .map(|r| render_verification_email(r, Some("#0a7")))
        .collect();

    let mailer = std::sync::Arc::new(mailer);
    let mut sends = tokio::task::JoinSet::new();
    for message in &messages {
        let (mailer, message) = (mailer.clone(), message.clone());
        sends.spawn(async move { mailer.send(message).await });
    }
    while let Some(joined) = guarded("sends", sends.join_next()).await {
        joined.unwrap().unwrap();
    }
    // And once more over the now-warm pool.
    guarded("send", mailer.send(messages[0].clone()))
        .await
        .unwrap();

    for ((recipient, message), request) in recipients.iter().zip(&messages).zip(&requests) {
        if recipient == &recipients[0] {
            // Sent twice: two files, each with the one recipient.
            let first = take_delivered_any(&maildir, recipient);
            check_delivered(&first, recipient, message, &request.url);
        }
        let raw = take_delivered(&maildir, recipient);
        check_delivered(&raw, recipient, message, &request.url);
    }
}

/// Like [`take_delivered`] but takes one of several matching messages.
fn take_delivered_any(maildir: &Path, recipient: &str) -> Vec<u8> {
    let needle = format!("X-RcptTo: {recipient}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for entry in std::fs::read_dir(maildir.join("new")).unwrap().flatten() {
            if let Ok(bytes) = std::fs::read(entry.path()) {
                if String::from_utf8_lossy(&bytes).contains(&needle) {
                    std::fs::remove_file(entry.path()).unwrap();
                    return bytes;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing delivered to {recipient}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn opportunistic_tls_falls_back_to_plaintext_when_not_offered() {
    let (url, maildir) = plain_server();
    let recipient = unique_recipient("opportunistic");
    let request = request_for(&recipient);
    let message = render_verification_email(&request, None);
    let mailer = SmtpMailer::from_url(&format!("{url}?tls=opportunistic"), options()).unwrap();

    guarded("send", mailer.send(message.clone())).await.unwrap();

    let raw = take_delivered(&maildir, &recipient);
    check_delivered(&raw, &recipient, &message, &request.url);
}

#[tokio::test]
async fn required_starttls_refuses_a_server_without_it() {
    let (url, maildir) = plain_server();
    let recipient = unique_recipient("required");
    let message = render_verification_email(&request_for(&recipient), None);
    let mailer = SmtpMailer::from_url(&format!("{url}?tls=required"), options()).unwrap();

    let error = guarded("send", mailer.send(message)).await.unwrap_err();
    let MailError::Transport(reason) = &error else {
        panic!("unexpected {error:?}");
    };
    assert!(reason.contains("STARTTLS"), "{reason}");
    assert_no_secret(reason, &recipient);
    assert_nothing_delivered(&maildir, &recipient);
}

#[tokio::test]
async fn implicit_tls_against_a_plaintext_server_fails() {
    let (url, maildir) = plain_server();
    let recipient = unique_recipient("smtps");
    let message = render_verification_email(&request_for(&recipient), None);
    let smtps = url.replacen("smtp://", "smtps://", 1);
    let mailer = SmtpMailer::from_url(
        &smtps,
        SmtpOptions {
            send_timeout: Duration::from_secs(5),
            ..options()
        },
    )
    .unwrap();

    let error = guarded("send", mailer.send(message)).await.unwrap_err();
    assert!(matches!(error, MailError::Transport(_)), "{error:?}");
    assert_no_secret(&error.to_string(), &recipient);
    assert_nothing_delivered(&maildir, &recipient);
}

#[tokio::test]
async fn non_canonical_recipient_is_refused_before_any_connection() {
    // A listener nobody should connect to.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mailer = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), options()).unwrap();

    let cases = [
        ("Jane@Example.com", "not_canonical"),
        ("jane@example.com ", "not_canonical"),
        ("jane＠example.com", "confusable"),
        ("jane@example.com, eve@evil.example", "list"),
        ("jane@example.com;eve@evil.example", "list"),
        ("\"e@attacker.tld\"@victim.tld", "quoted_local_part"),
        ("Jane <jane@example.com>", "display_name"),
        ("jane@evil.example@example.com", "multiple_at"),
        (
            "jane@example.com\r\nRCPT TO:<eve@evil.example>",
            "control_character",
        ),
        ("jane@[127.0.0.1]", "ip_literal"),
    ];
    for (to, code) in cases {
        let mut message = render_verification_email(&request_for("jane@example.com"), None);
        message.to = to.to_owned();
        let error = guarded("send", mailer.send(message)).await.unwrap_err();
        assert_eq!(
            error,
            MailError::InvalidRecipient(code.to_owned()),
            "{to:?}"
        );
        assert!(!error.to_string().contains(TOKEN));
    }
    // Nothing ever connected: a connection would already be waiting in the backlog.
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the mailer connected: {other:?}"),
    }
}

#[tokio::test]
async fn refused_connection_is_a_transport_error_at_once() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let mailer = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), options()).unwrap();
    let message = render_verification_email(&request_for("jane@example.com"), None);

    let error = guarded("send", mailer.send(message)).await.unwrap_err();
    let MailError::Transport(reason) = &error else {
        panic!("unexpected {error:?}");
    };
    assert!(reason.to_lowercase().contains("refused"), "{reason}");
    assert_no_secret(reason, "jane@example.com");
}

#[tokio::test]
async fn silent_server_is_a_transport_error_after_the_send_timeout() {
    // Accepts TCP (the kernel completes the handshake) but never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mailer = SmtpMailer::from_url(
        &format!("smtp://127.0.0.1:{port}"),
        SmtpOptions {
            connect_timeout: Duration::from_millis(500),
            send_timeout: Duration::from_millis(800),
            ..options()
        },
    )
    .unwrap();
    let message = render_verification_email(&request_for("jane@example.com"), None);

    let error = guarded("send", mailer.send(message)).await.unwrap_err();
    let MailError::Transport(reason) = &error else {
        panic!("unexpected {error:?}");
    };
    assert!(reason.contains("no answer"), "{reason}");
    assert_no_secret(reason, "jane@example.com");
    held.abort();
}

fn assert_no_secret(text: &str, recipient: &str) {
    assert!(!text.contains(TOKEN), "error holds the token: {text}");
    assert!(
        !text.contains("callback/email"),
        "error holds the link: {text}"
    );
    assert!(!text.contains(recipient), "error holds the address: {text}");
}

fn assert_nothing_delivered(maildir: &Path, recipient: &str) {
    let needle = format!("X-RcptTo: {recipient}");
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(maildir.join(sub)).unwrap().flatten() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&needle),
                "delivered although the send failed"
            );
        }
    }
}

fn trusting_the_test_ca() -> SmtpOptions {
    SmtpOptions {
        root_certificates_pem: vec![test_ca()],
        send_timeout: Duration::from_secs(10),
        ..options()
    }
}

#[tokio::test]
async fn required_starttls_delivers_over_verified_tls() {
    let (_, maildir) = plain_server();
    let url = starttls_server();
    let recipient = unique_recipient("starttls");
    let request = request_for(&recipient);
    let message = render_verification_email(&request, None);
    let mailer = SmtpMailer::from_url(&url, trusting_the_test_ca()).unwrap();

    guarded("send", mailer.send(message.clone())).await.unwrap();

    let raw = take_delivered(&maildir, &recipient);
    check_delivered(&raw, &recipient, &message, &request.url);
}

#[tokio::test]
async fn implicit_tls_delivers_over_verified_tls() {
    let (_, maildir) = plain_server();
    let url = smtps_server();
    let recipient = unique_recipient("smtps");
    let request = request_for(&recipient);
    let message = render_verification_email(&request, None);
    let mailer = SmtpMailer::from_url(&url, trusting_the_test_ca()).unwrap();

    guarded("send", mailer.send(message.clone())).await.unwrap();

    let raw = take_delivered(&maildir, &recipient);
    check_delivered(&raw, &recipient, &message, &request.url);
}

#[tokio::test]
async fn certificates_from_an_unknown_ca_are_refused() {
    let (_, maildir) = plain_server();
    for url in [starttls_server(), smtps_server()] {
        let recipient = unique_recipient("unknown-ca");
        let message = render_verification_email(&request_for(&recipient), None);
        let mailer = SmtpMailer::from_url(&url, options()).unwrap();

        let error = guarded("send", mailer.send(message)).await.unwrap_err();
        let MailError::Transport(reason) = &error else {
            panic!("unexpected {error:?}");
        };
        assert!(reason.contains("UnknownIssuer"), "{url}: {reason}");
        assert_no_secret(reason, &recipient);
        assert_nothing_delivered(&maildir, &recipient);
    }
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let (_, maildir) = plain_server();
    // The certificate names `localhost` only; reach the same server as 127.0.0.1.
    let url = smtps_server().replacen("//localhost:", "//127.0.0.1:", 1);
    assert!(url.contains("127.0.0.1"), "expected a localhost URL: {url}");
    let recipient = unique_recipient("wrong-name");
    let message = render_verification_email(&request_for(&recipient), None);
    let mailer = SmtpMailer::from_url(&url, trusting_the_test_ca()).unwrap();

    let error = guarded("send", mailer.send(message)).await.unwrap_err();
    let MailError::Transport(reason) = &error else {
        panic!("unexpected {error:?}");
    };
    assert!(reason.contains("not valid for name"), "{reason}");
    assert_nothing_delivered(&maildir, &recipient);
}

#[tokio::test]
async fn connect_timeout_bounds_a_connect_that_gets_no_answer() {
    // A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    // gets no answer at all, as with a firewalled host (on loopback only).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let _listener = socket.listen(0).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(stream);
        }
    }
    let mailer = SmtpMailer::from_url(
        &format!("smtp://{addr}"),
        SmtpOptions {
            connect_timeout: Duration::from_millis(300),
            send_timeout: Duration::from_secs(20),
            ..options()
        },
    )
    .unwrap();
    let message = render_verification_email(&request_for("jane@example.com"), None);

    let error = guarded("send", mailer.send(message)).await.unwrap_err();
    let MailError::Transport(reason) = &error else {
        panic!("unexpected {error:?}");
    };
    assert!(reason.contains("timed out connecting"), "{reason}");
}
