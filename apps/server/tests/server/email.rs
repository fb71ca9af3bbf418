//! E-mail sign-in through the real server and a real SMTP server (aiosmtpd from
//! `bash .ci/smtp`): request a link, read the delivered message from the Maildir, follow
//! the link, get a session — with JWT and with database sessions. And the configurations
//! the server refuses.

use mailparse::MailHeaderMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portcullis::SessionStrategy;
use portcullis_server::config::{EmailProviderConfig, SmtpUrl};
use portcullis_server::{build, spawn, ProviderConfig, ServerConfig, StartupError};
use tempfile::TempDir;

use crate::support::{client, config_in, cookie_header, set_cookies};

const RUN_CI_SMTP: &str = "start the test SMTP server with `bash .ci/smtp`";

pub(crate) fn smtp_url() -> String {
    std::env::var("PORTCULLIS_TEST_SMTP_URL").unwrap_or_else(|_| "smtp://127.0.0.1:2525".into())
}

fn maildir() -> PathBuf {
    std::env::var_os("PORTCULLIS_TEST_MAILDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/portcullis/smtp/maildir")
        })
}

fn email_provider(smtp: Option<&str>) -> ProviderConfig {
    ProviderConfig::Email(EmailProviderConfig {
        id: "email".into(),
        name: "Email".into(),
        smtp: smtp.map(SmtpUrl::new),
        from: "Portcullis <no-reply@example.com>".into(),
        max_age: 600,
        template: None,
    })
}

fn email_config(dir: &Path, strategy: SessionStrategy) -> ServerConfig {
    let mut config = config_in(dir);
    // Credentials sign-in needs JWT sessions: e-mail alone here.
    config.providers = vec![email_provider(Some(&smtp_url()))];
    config.session.strategy = Some(strategy);
    config
}

/// The one message delivered to `recipient` (bounded polling of the Maildir).
pub(crate) fn delivered_to(recipient: &str) -> Vec<u8> {
    let dir = maildir();
    assert!(
        dir.join("new").is_dir(),
        "no Maildir at {}: {RUN_CI_SMTP}",
        dir.display()
    );
    let needle = format!("X-RcptTo: {recipient}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for entry in std::fs::read_dir(dir.join("new")).unwrap().flatten() {
            if let Ok(bytes) = std::fs::read(entry.path()) {
                if String::from_utf8_lossy(&bytes).contains(&needle) {
                    std::fs::remove_file(entry.path()).unwrap();
                    return bytes;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing delivered to {recipient}: {RUN_CI_SMTP}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The link in the message's text part.
pub(crate) fn link_in(raw: &[u8]) -> String {
    let mail = mailparse::parse_mail(raw).unwrap();
    let rcpt: Vec<_> = mail.headers.get_all_values("X-RcptTo");
    assert_eq!(rcpt.len(), 1, "exactly one RCPT TO");
    let text = mail
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype == "text/plain")
        .unwrap()
        .get_body()
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("http"))
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_mailed_link_signs_in_once_with_jwt_and_database_sessions() {
    for strategy in [SessionStrategy::Jwt, SessionStrategy::Database] {
        let dir = TempDir::new().unwrap();
        let app = build(&email_config(dir.path(), strategy), false).unwrap();
        let (addr, _handle) = spawn(app.portcullis, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let http = client();
        let url = |path: &str| format!("http://{addr}{path}");

        let res = http.get(url("/api/auth/csrf")).send().await.unwrap();
        let mut jar = set_cookies(&res);
        let csrf = res.json::<serde_json::Value>().await.unwrap()["csrfToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let address = format!(
            "server-e2e-{:?}-{}@example.com",
            strategy,
            std::process::id()
        )
        .to_lowercase();
        let res = http
            .post(url("/api/auth/signin/email"))
            .header("cookie", cookie_header(&jar))
            .form(&[
                ("csrfToken", csrf.as_str()),
                ("email", &address.to_uppercase()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        assert_eq!(
            res.headers()["location"],
            "http://localhost:3000/api/auth/verify-request?provider=email&type=email"
        );
        jar.extend(set_cookies(&res));

        let link = link_in(&delivered_to(&address));
        let path = link.strip_prefix("http://localhost:3000").unwrap();
        let res = http
            .get(url(path))
            .header("cookie", cookie_header(&jar))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302, "{strategy:?}");
        let cookies = set_cookies(&res);
        let session = cookies.get("next-auth.session-token").unwrap().clone();
        match strategy {
            SessionStrategy::Jwt => assert_eq!(session.split('.').count(), 3),
            SessionStrategy::Database => assert_eq!(session.len(), 64),
        }
        jar.insert("next-auth.session-token".into(), session);
        let me: serde_json::Value = http
            .get(url("/api/auth/session"))
            .header("cookie", cookie_header(&jar))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["user"]["email"], address.as_str(), "{strategy:?}");

        let again = http.get(url(path)).send().await.unwrap();
        assert_eq!(
            again.headers()["location"],
            "http://localhost:3000/api/auth/error?error=Verification",
            "a link signs in once"
        );
    }
}

#[test]
fn e_mail_sign_in_without_a_store_is_refused_at_startup() {
    let dir = TempDir::new().unwrap();
    let mut config = email_config(dir.path(), SessionStrategy::Jwt);
    config.stateless = true;
    let error = build(&config, false).unwrap_err();
    assert!(matches!(error, StartupError::Settings(_)));
    assert!(
        error.to_string().contains("e-mail sign-in needs a store"),
        "{error}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "a refused configuration writes nothing"
    );
}

#[test]
fn an_e_mail_provider_needs_an_smtp_server() {
    let dir = TempDir::new().unwrap();
    let mut config = config_in(dir.path());
    config.providers.push(email_provider(None));
    let error = build(&config, false).unwrap_err();
    assert!(error.to_string().contains("set `smtp`"), "{error}");
    let mut config = config_in(dir.path());
    config
        .providers
        .push(email_provider(Some("smtp://user:hunter2@example.com:25")));
    let error = build(&config, false).unwrap_err();
    assert!(
        !error.to_string().contains("hunter2"),
        "the SMTP password stays out of errors: {error}"
    );
}

#[test]
fn stateless_credentials_servers_write_nothing() {
    let dir = TempDir::new().unwrap();
    let mut config = config_in(dir.path());
    config.stateless = true;
    let app = build(&config, false).unwrap();
    assert!(!app.portcullis.config().store);
    assert!(!dir.path().join("data").exists());
    let _ = ServerConfig::json_schema();
}

/// The operator's template files (`[providers.template]`, paths relative to the config
/// file), end to end: the message that arrives through the real SMTP server is the
/// template's, and its link signs in.
#[tokio::test]
async fn a_link_sent_with_custom_templates_arrives_and_signs_in() {
    let dir = TempDir::new().unwrap();
    std::fs::create_dir(dir.path().join("mail")).unwrap();
    std::fs::write(
        dir.path().join("mail/subject.txt"),
        "Your Acme link for {{ host }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mail/text.txt"),
        "Hello from Acme.\n{{ url }}\nThe link works until {{ expires }}.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mail/body.html"),
        "<p>Hello from <b>Acme</b> on {{ host }}</p><a href=\"{{ url }}\">Sign in</a>",
    )
    .unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        format!(
            "secret = \"{}\"\nurl = \"http://localhost:3000/api/auth\"\ndata_dir = \"data\"\n\
             [[providers]]\ntype = \"email\"\nsmtp = \"{}\"\nfrom = \"Acme <no-reply@example.com>\"\n\
             [providers.template]\nsubject = \"mail/subject.txt\"\ntext = \"mail/text.txt\"\nhtml = \"mail/body.html\"\n",
            crate::support::SECRET,
            smtp_url()
        ),
    )
    .unwrap();
    let config = ServerConfig::from_file(&file).unwrap();
    let app = build(&config, false).unwrap();
    let (addr, _handle) = spawn(app.portcullis, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let http = client();
    let url = |path: &str| format!("http://{addr}{path}");

    let res = http.get(url("/api/auth/csrf")).send().await.unwrap();
    let mut jar = set_cookies(&res);
    let csrf = res.json::<serde_json::Value>().await.unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let address = format!("templated-{}@example.com", std::process::id());
    let res = http
        .post(url("/api/auth/signin/email"))
        .header("cookie", cookie_header(&jar))
        .form(&[("csrfToken", csrf.as_str()), ("email", address.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    jar.extend(set_cookies(&res));

    let raw = delivered_to(&address);
    let mail = mailparse::parse_mail(&raw).unwrap();
    assert_eq!(
        mail.headers.get_first_value("Subject").unwrap(),
        "Your Acme link for localhost:3000"
    );
    let part = |mime: &str| {
        mail.subparts
            .iter()
            .find(|p| p.ctype.mimetype == mime)
            .unwrap()
            .get_body()
            .unwrap()
    };
    let text = part("text/plain");
    assert!(text.starts_with("Hello from Acme."), "{text}");
    assert!(text.contains("The link works until 20"), "{text}");
    let html = part("text/html");
    assert!(
        html.contains("<p>Hello from <b>Acme</b> on localhost:3000</p>"),
        "{html}"
    );
    assert!(html.contains("&amp;token="), "the URL is escaped: {html}");
    assert!(
        !text.contains("templated-") || text.contains("email=templated"),
        "{text}"
    );

    let link = link_in(&raw);
    let path = link.strip_prefix("http://localhost:3000").unwrap();
    let res = http
        .get(url(path))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(set_cookies(&res).contains_key("next-auth.session-token"));
}

/// `portcullis config check` fails on a template typo, naming the file and the variable;
/// `portcullis mail preview` prints the rendered sample.
#[test]
fn template_typos_fail_config_check_and_preview_renders() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("subject.txt"), "Sign in to {{ host }}").unwrap();
    std::fs::write(dir.path().join("text.txt"), "{{ url }}\n").unwrap();
    std::fs::write(
        dir.path().join("body.html"),
        "<a href=\"{{ url }}\">{{ hots }}</a>",
    )
    .unwrap();
    let file = dir.path().join("portcullis.toml");
    let toml = |extra: &str| {
        format!(
            "secret = \"{}\"\nurl = \"https://auth.example.com/api/auth\"\n\
             [[providers]]\ntype = \"email\"\nid = \"magic\"\nsmtp = \"smtp://127.0.0.1:2525\"\nfrom = \"a@example.com\"\n\
             [providers.template]\nsubject = \"subject.txt\"\ntext = \"text.txt\"\nhtml = \"body.html\"\n{extra}",
            crate::support::SECRET
        )
    };
    std::fs::write(&file, toml("")).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .current_dir(dir.path())
            .env_clear()
            .args(args)
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hots") && stderr.contains("body.html") && stderr.contains("\"magic\""),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("body.html"),
        "<a href=\"{{ url }}\">{{ host }}</a>",
    )
    .unwrap();
    let out = run(&["config", "check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(&["mail", "preview", "--provider", "magic"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Subject: Sign in to auth.example.com"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "https://auth.example.com/api/auth/callback/magic?email=jane%40example.com&token="
        ),
        "{stdout}"
    );
    assert!(stdout.contains(">auth.example.com</a>"), "{stdout}");
    let out = run(&["mail", "preview", "--provider", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}
