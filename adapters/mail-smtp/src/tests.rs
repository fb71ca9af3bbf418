//! Tests: URLs and options accepted and refused, and the one-recipient message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn options() -> SmtpOptions {
    SmtpOptions::new("Portcullis <no-reply@example.com>")
}

fn refused(url: &str) -> String {
    match SmtpMailer::from_url(url, options()) {
        Ok(mailer) => panic!("{url} accepted: {mailer:?}"),
        Err(MailError::Transport(reason)) => reason,
        Err(other) => panic!("{url}: unexpected {other:?}"),
    }
}

#[test]
fn urls() {
    let cases = [
        ("smtp://mail.example.com", TlsMode::None, 25),
        ("smtp://127.0.0.1:2525", TlsMode::None, 2525),
        (
            "smtp://mail.example.com?tls=opportunistic",
            TlsMode::Opportunistic,
            587,
        ),
        (
            "smtp://mail.example.com:2587?tls=required",
            TlsMode::Required,
            2587,
        ),
        ("smtps://mail.example.com", TlsMode::Implicit, 465),
        ("smtps://u:p@mail.example.com:1465", TlsMode::Implicit, 1465),
        ("smtp://u:p@localhost:25", TlsMode::None, 25),
        ("smtp://u:p@[::1]:25", TlsMode::None, 25),
        ("smtp://u:p@127.0.0.1:25", TlsMode::None, 25),
        ("smtp://u:p@127.1.2.3:25", TlsMode::None, 25),
        ("smtp://u:p@LocalHost:25", TlsMode::None, 25),
        (
            "smtp://u:p@mail.example.com?tls=required",
            TlsMode::Required,
            587,
        ),
        (
            "smtp://mail.example.com/ehlo.example.com",
            TlsMode::None,
            25,
        ),
    ];
    for (url, tls, port) in cases {
        let mailer = SmtpMailer::from_url(url, options()).unwrap();
        assert_eq!(mailer.tls_mode(), tls, "{url}");
        assert_eq!(mailer.server().1, port, "{url}");
    }
    let v6 = SmtpMailer::from_url("smtp://[::1]:2525", options()).unwrap();
    assert_eq!(v6.server(), ("::1", 2525));
    let v4 = SmtpMailer::from_url("smtp://127.0.0.1:2525", options()).unwrap();
    assert_eq!(v4.server(), ("127.0.0.1", 2525));
    let named = SmtpMailer::from_url("smtp://Mail.Example.COM", options()).unwrap();
    assert_eq!(named.server(), ("mail.example.com", 25));
}

#[test]
fn bad_urls_are_refused_without_echoing_them() {
    let secret = "s3cr3t-pa55";
    let cases = [
        "not a url".to_owned(),
        "http://mail.example.com".to_owned(),
        "smtp:///nohost".to_owned(),
        "smtp://mail.example.com?tls=maybe".to_owned(),
        "smtp://mail.example.com?tsl=required".to_owned(),
        "smtp://mail.example.com?tls=required&tls=opportunistic".to_owned(),
        "smtps://mail.example.com?tls=required".to_owned(),
        "smtp://mail.example.com#frag".to_owned(),
        "smtp://mail%2eexample.com".to_owned(),
        format!("smtp://user:{secret}@10.0.0.1:25"),
        format!("smtp://user:{secret}@localhost.mail.example.com:25"),
        format!("smtp://user:{secret}@mail.example.com"),
        format!("smtp://user:{secret}@mail.example.com:25/bad_ehlo!"),
        format!("smtp://user:%FF{secret}@mail.example.com?tls=required"),
    ];
    for url in &cases {
        let reason = refused(url);
        assert!(!reason.contains(secret), "{reason}");
        assert!(!reason.contains("mail.example.com"), "{reason}");
    }
}

#[test]
fn bad_options_are_refused() {
    let url = "smtp://127.0.0.1:2525";
    for from in ["", "not an address", "a@b@c", "<>"] {
        assert!(
            SmtpMailer::from_url(url, SmtpOptions::new(from)).is_err(),
            "{from}"
        );
    }
    let zero_pool = SmtpOptions {
        pool_max_size: 0,
        ..options()
    };
    assert!(SmtpMailer::from_url(url, zero_pool).is_err());
    let zero_timeout = SmtpOptions {
        send_timeout: Duration::ZERO,
        ..options()
    };
    assert!(SmtpMailer::from_url(url, zero_timeout).is_err());
    let not_pem = SmtpOptions {
        root_certificates_pem: vec!["MIIB...".to_owned()],
        ..options()
    };
    assert!(SmtpMailer::from_url(url, not_pem).is_err());
    let broken_pem = SmtpOptions {
        root_certificates_pem: vec![
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".to_owned(),
        ],
        ..options()
    };
    assert!(SmtpMailer::from_url(url, broken_pem).is_err());
    let bad_ehlo = SmtpOptions {
        hello_name: Some("bad name\r\n".to_owned()),
        ..options()
    };
    assert!(SmtpMailer::from_url(url, bad_ehlo).is_err());
}

#[test]
fn debug_shows_no_credentials() {
    let mailer = SmtpMailer::from_url("smtps://jane:hunter2@mail.example.com", options()).unwrap();
    let debug = format!("{mailer:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("jane"), "{debug}");
    assert!(debug.contains("authenticated: true"), "{debug}");
}

fn mail(to: &str) -> MailMessage {
    MailMessage {
        to: to.to_owned(),
        subject: "Sign in to example.com\r\nBcc: eve@evil.example".to_owned(),
        text: "Sign in to example.com\nhttps://example.com/cb?token=t\n\n".to_owned(),
        html: "<p>x</p>".to_owned(),
    }
}

#[test]
fn compose_has_one_recipient_and_one_line_subject() {
    let mailer = SmtpMailer::from_url("smtp://127.0.0.1:2525", options()).unwrap();
    let email = mailer.compose(mail("jane@example.com")).unwrap();
    assert_eq!(email.envelope().to().len(), 1);
    assert_eq!(email.envelope().to()[0].to_string(), "jane@example.com");
    assert_eq!(
        email.envelope().from().map(ToString::to_string).as_deref(),
        Some("no-reply@example.com")
    );
    let formatted = String::from_utf8(email.formatted()).unwrap();
    assert!(!formatted.contains("\r\nBcc:"), "{formatted}");
    assert!(formatted.contains("multipart/alternative"));
    assert!(
        formatted.contains("@example.com>\r\n"),
        "message id: {formatted}"
    );
}

#[test]
fn compose_accepts_every_canonical_form() {
    let mailer = SmtpMailer::from_url("smtp://127.0.0.1:2525", options()).unwrap();
    for to in [
        "o'brien+signin@localhost",
        "a{b}|c~d=e?f^g`h#i$j&k*l/m@x.org",
        "jane@xn--bcher-kva.de",
        "x@a-b.c",
    ] {
        let email = mailer.compose(mail(to)).unwrap();
        assert_eq!(email.envelope().to().len(), 1);
        assert_eq!(email.envelope().to()[0].to_string(), to);
    }
}

#[test]
fn compose_refuses_non_canonical_recipients() {
    let mailer = SmtpMailer::from_url("smtp://127.0.0.1:2525", options()).unwrap();
    let cases = [
        ("Jane@example.com", "not_canonical"),
        (" jane@example.com", "not_canonical"),
        ("ｊａｎｅ＠example.com", "confusable"),
        ("a@b.com, c@d.com", "list"),
        ("\"e@attacker.tld\"@victim.tld", "quoted_local_part"),
        ("Jane <jane@example.com>", "display_name"),
        ("jane@example.com\r\n", "control_character"),
        ("", "empty"),
    ];
    for (to, code) in cases {
        assert_eq!(
            mailer.compose(mail(to)).unwrap_err(),
            MailError::InvalidRecipient(code.to_owned()),
            "{to:?}"
        );
    }
}
