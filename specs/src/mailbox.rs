//! Mail, end to end: the sites send their magic links through the SMTP adapter to the real
//! SMTP server on loopback (aiosmtpd, started by `.ci/smtp`), and the scenarios read what
//! it delivered from its Maildir.
//!
//! Server and Maildir are what `.ci/smtp` exports, with the SMTP adapter tests' defaults:
//! `PORTCULLIS_TEST_SMTP_URL` (`smtp://127.0.0.1:2525`) and `PORTCULLIS_TEST_MAILDIR`
//! (`$HOME/.cache/portcullis/smtp/maildir`). aiosmtpd's Maildir handler records the SMTP
//! envelope as `X-MailFrom` and `X-RcptTo` headers (all `RCPT TO` addresses in one header,
//! comma-separated), so a scenario sees the exact recipients the server was given.
//!
//! Scenarios run concurrently and share the Maildir: each site sends from an envelope
//! address of its own ([`unique_sender`]), and a scenario takes only the messages with
//! that `X-MailFrom`.

use std::io::Read as _;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mailparse::MailHeaderMap as _;
use portcullis_mail_smtp::{SmtpMailer, SmtpOptions};

const SMTP_DEFAULT: &str = "smtp://127.0.0.1:2525";
/// Longest a delivered message may take to appear in the Maildir.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

const RUN_CI_SMTP: &str = "start it with `eval \"$(bash .ci/smtp)\"` (aiosmtpd on \
     127.0.0.1:2525 writing a Maildir), or point PORTCULLIS_TEST_SMTP_URL and \
     PORTCULLIS_TEST_MAILDIR at a running one";

pub(crate) fn smtp_url() -> String {
    std::env::var("PORTCULLIS_TEST_SMTP_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| SMTP_DEFAULT.to_owned())
}

pub(crate) fn maildir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PORTCULLIS_TEST_MAILDIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/portcullis/smtp/maildir")
}

/// Whether the SMTP server greets (`220`) and its Maildir exists; checked once per run.
/// `Err` says what is missing and how to start it.
pub(crate) fn preflight() -> Result<(), String> {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let url = smtp_url();
            let parsed = url::Url::parse(&url)
                .map_err(|e| format!("PORTCULLIS_TEST_SMTP_URL {url:?} is not a URL: {e}"))?;
            let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
            let port = parsed.port_or_known_default().unwrap_or(25);
            let greeted = (|| {
                let addr = (host.as_str(), port).to_socket_addrs().ok()?.next()?;
                let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
                stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                let mut greeting = [0u8; 3];
                stream.read_exact(&mut greeting).ok()?;
                (&greeting == b"220").then_some(())
            })();
            if greeted.is_none() {
                return Err(format!("no SMTP server answers at {url}: {RUN_CI_SMTP}"));
            }
            let dir = maildir();
            if !dir.join("new").is_dir() || !dir.join("cur").is_dir() {
                return Err(format!(
                    "the Maildir {} does not exist: {RUN_CI_SMTP}",
                    dir.display()
                ));
            }
            Ok(())
        })
        .clone()
}

/// An envelope sender no other scenario (or earlier run) uses.
pub(crate) fn unique_sender() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "spec-{:x}-{}-{nanos:x}@portcullis.example",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The SMTP adapter, sending as `sender` to the test server (panics, with instructions,
/// when the server is not running).
pub(crate) fn smtp_mailer(sender: &str) -> Arc<SmtpMailer> {
    if let Err(why) = preflight() {
        panic!("{why}");
    }
    Arc::new(
        SmtpMailer::from_url(
            &smtp_url(),
            SmtpOptions::new(format!("Portcullis <{sender}>")),
        )
        .unwrap_or_else(|e| panic!("the SMTP adapter refuses {}: {e}", smtp_url())),
    )
}

/// An SMTP URL on a loopback port where nothing listens: connecting is refused.
pub(crate) fn unreachable_url() -> String {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
        // Closed here: connecting to it is refused.
    };
    format!("smtp://127.0.0.1:{port}")
}

/// The SMTP adapter pointed at a port where nothing listens: every send fails.
pub(crate) fn unreachable_mailer(sender: &str) -> Arc<SmtpMailer> {
    let url = unreachable_url();
    let options = SmtpOptions {
        connect_timeout: Duration::from_secs(2),
        send_timeout: Duration::from_secs(5),
        ..SmtpOptions::new(format!("Portcullis <{sender}>"))
    };
    Arc::new(SmtpMailer::from_url(&url, options).expect("a valid SMTP URL"))
}

/// One message as the SMTP server stored it.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    /// The whole file: envelope headers, headers, both parts.
    pub raw: String,
    /// The `RCPT TO` addresses the server was given.
    pub rcpt_to: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Every `href` of the HTML part, entities decoded.
    pub hrefs: Vec<String>,
}

impl Delivered {
    fn parse(raw: Vec<u8>) -> Result<Delivered, String> {
        let mail = mailparse::parse_mail(&raw).map_err(|e| format!("not a message: {e}"))?;
        let all = |name: &str| mail.headers.get_all_values(name);
        let rcpt_to = all("X-RcptTo")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|a| a.trim().to_owned())
            .collect();
        if mail.ctype.mimetype != "multipart/alternative" || mail.subparts.len() != 2 {
            return Err(format!(
                "expected multipart/alternative with a text and an HTML part, got {} with {} parts",
                mail.ctype.mimetype,
                mail.subparts.len()
            ));
        }
        let (text, html) = (&mail.subparts[0], &mail.subparts[1]);
        if text.ctype.mimetype != "text/plain" || html.ctype.mimetype != "text/html" {
            return Err(format!(
                "parts {} and {}, expected text/plain then text/html",
                text.ctype.mimetype, html.ctype.mimetype
            ));
        }
        let text = text
            .get_body()
            .map_err(|e| e.to_string())?
            .replace("\r\n", "\n");
        let html = html
            .get_body()
            .map_err(|e| e.to_string())?
            .replace("\r\n", "\n");
        let hrefs = html
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(|href| html_escape::decode_html_entities(href).into_owned())
            .collect();
        Ok(Delivered {
            raw: String::from_utf8_lossy(&raw).into_owned(),
            rcpt_to,
            to: all("To"),
            cc: all("Cc"),
            bcc: all("Bcc"),
            subject: mail.headers.get_first_value("Subject").unwrap_or_default(),
            text,
            html,
            hrefs,
        })
    }

    /// The sign-in link: the text part's second line (`Sign in to <host>\n<url>\n\n`).
    pub(crate) fn link(&self) -> String {
        self.text.lines().nth(1).unwrap_or_default().to_owned()
    }
}

/// Takes (reads and removes) every delivered message sent from `sender`, oldest first,
/// without waiting.
pub(crate) fn take_from(sender: &str) -> Result<Vec<Delivered>, String> {
    let needle = format!("X-MailFrom: {sender}");
    let dir = maildir();
    let mut found: Vec<(SystemTime, PathBuf, Vec<u8>)> = Vec::new();
    for sub in ["new", "cur"] {
        let entries = std::fs::read_dir(dir.join(sub))
            .map_err(|e| format!("reading {}: {e}: {RUN_CI_SMTP}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(bytes) = std::fs::read(&path) else {
                continue; // moved or removed meanwhile
            };
            if has_header_line(&bytes, &needle) {
                let at = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(UNIX_EPOCH);
                found.push((at, path, bytes));
            }
        }
    }
    found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    found
        .into_iter()
        .map(|(_, path, bytes)| {
            remove(&path);
            Delivered::parse(bytes)
        })
        .collect()
}

/// Whether the message's header block has exactly the line `line`.
fn has_header_line(bytes: &[u8], line: &str) -> bool {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .take_while(|l| !l.is_empty())
        .any(|l| l == line)
}

fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Waits (polling, bounded) until at least `n` messages from `sender` were delivered, and
/// takes every one there is.
pub(crate) async fn wait_for(sender: &str, n: usize) -> Result<Vec<Delivered>, String> {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    let mut taken = Vec::new();
    loop {
        taken.extend(take_from(sender)?);
        if taken.len() >= n || Instant::now() >= deadline {
            return Ok(taken);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
