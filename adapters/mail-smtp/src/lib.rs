//! Portcullis's [`Mailer`] over SMTP, on lettre (Tokio, rustls).
//!
//! Configured by one URL, as v3's `server` string (spec §8.1):
//!
//! | URL | transport | default port |
//! |---|---|---|
//! | `smtp://host:port` | plaintext, never upgraded (for a relay on loopback or a trusted network) | 25 |
//! | `smtp://host:port?tls=opportunistic` | STARTTLS if the server offers it, plaintext otherwise (an attacker on the path can strip it) | 587 |
//! | `smtp://host:port?tls=required` | STARTTLS, and the send fails if the server does not offer it | 587 |
//! | `smtps://host:port` | implicit TLS from the first byte | 465 |
//!
//! `user:password@` in the URL (percent-encoded) are the AUTH credentials. They are refused
//! on a plaintext `smtp://` URL unless the host is a loopback address, so a password never
//! crosses a network in the clear by configuration mistake. A path (`smtp://host/name`) sets
//! the EHLO name, as in lettre. Any other query parameter, or `tls` with `smtps://`, is an
//! error: a typo such as `?tsl=required` must not quietly mean "plaintext".
//!
//! Certificates are checked against the Mozilla roots (webpki-roots), plus any CA given in
//! [`SmtpOptions::root_certificates_pem`] (for a relay with a private CA). Host names are
//! verified; there is no switch to turn verification off.
//!
//! # What is sent
//!
//! One `multipart/alternative` message (text, then HTML) to exactly one recipient. The
//! recipient is checked again here: `message.to` must already be the canonical form given by
//! [`portcullis_domain::email_address::canonicalize`], or the send is refused with
//! [`MailError::InvalidRecipient`] before any connection is made. The SMTP envelope is built
//! explicitly with that one address, so the server sees exactly one `RCPT TO`.
//!
//! # Errors and secrets
//!
//! The body carries the sign-in link, so neither the body, the subject, the URL nor the
//! server's reply text ever goes into an error: errors name the class of failure, the SMTP
//! reply code and, for network failures, the operating system's reason. Credentials are not
//! printed by `Debug`.
//!
//! # Time
//!
//! lettre bounds the TCP connect with [`SmtpOptions::connect_timeout`] but does not bound
//! reads on an established connection: a server that accepts and then stays silent would
//! hold a send forever. Every send is therefore also bounded as a whole by
//! [`SmtpOptions::send_timeout`].
//!
//! # Runtime
//!
//! The connection pool is created on the first send, inside the Tokio runtime that runs it
//! (lettre's pool spawns a clean-up task), so [`SmtpMailer::from_url`] can be called before
//! a runtime exists. Use one `SmtpMailer` within one runtime.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use lettre::address::{Address, Envelope};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_domain::email_address::canonicalize;
use portcullis_domain::mail::MailMessage;
pub use portcullis_ports::{MailError, Mailer};
use tokio::sync::OnceCell;
use url::{Host, Url};

/// Settings that are not in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpOptions {
    /// The `From:` mailbox, with or without a display name:
    /// `Portcullis <no-reply@example.com>` or `no-reply@example.com`. Required.
    pub from: String,
    /// The EHLO name. `None`: the URL's path if it has one, else this machine's host name.
    pub hello_name: Option<String>,
    /// Bound on the TCP connect (lettre's transport timeout). Default 10 s.
    pub connect_timeout: Duration,
    /// Bound on one whole send: connect, TLS, AUTH and the SMTP dialogue. Default 30 s.
    pub send_timeout: Duration,
    /// Most connections kept open to the server. Default 4.
    pub pool_max_size: u32,
    /// Connections the pool keeps open while idle. Default 0.
    pub pool_min_idle: u32,
    /// An idle pooled connection is closed after this long. Default 60 s.
    pub pool_idle_timeout: Duration,
    /// Extra trusted CA certificates (PEM, one or more per entry), in addition to the
    /// Mozilla roots. Default none.
    pub root_certificates_pem: Vec<String>,
}

impl SmtpOptions {
    /// Defaults, sending as `from`.
    pub fn new(from: impl Into<String>) -> Self {
        SmtpOptions {
            from: from.into(),
            hello_name: None,
            connect_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            pool_max_size: 4,
            pool_min_idle: 0,
            pool_idle_timeout: Duration::from_secs(60),
            root_certificates_pem: Vec::new(),
        }
    }
}

/// How the connection is protected, as read from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `smtp://` without `tls`.
    None,
    /// `smtp://…?tls=opportunistic`.
    Opportunistic,
    /// `smtp://…?tls=required`.
    Required,
    /// `smtps://`.
    Implicit,
}

/// Sends Portcullis's mail over SMTP. Cheap to share behind an `Arc`.
pub struct SmtpMailer {
    builder: AsyncSmtpTransportBuilder,
    transport: OnceCell<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    message_id_domain: String,
    send_timeout: Duration,
    host: String,
    port: u16,
    tls: TlsMode,
    authenticated: bool,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("from", &self.from.email.to_string())
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

fn config_error(reason: &str) -> MailError {
    MailError::Transport(format!("invalid SMTP configuration: {reason}"))
}

impl SmtpMailer {
    /// Reads the server URL (see the crate documentation) and `options`. Makes no
    /// connection. Errors are [`MailError::Transport`] naming what is wrong, never the URL
    /// or its credentials.
    pub fn from_url(url: &str, options: SmtpOptions) -> Result<SmtpMailer, MailError> {
        let parsed = Url::parse(url)
            .map_err(|e| config_error(&format!("the server URL is not a URL ({e})")))?;

        let mut tls_param: Option<String> = None;
        for (key, value) in parsed.query_pairs() {
            if key != "tls" {
                return Err(config_error(
                    "the server URL has a query parameter other than `tls`",
                ));
            }
            if tls_param.replace(value.into_owned()).is_some() {
                return Err(config_error("the server URL gives `tls` more than once"));
            }
        }
        if parsed.fragment().is_some() {
            return Err(config_error("the server URL has a fragment (#…)"));
        }

        let (tls, default_port) = match (parsed.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (TlsMode::None, 25),
            ("smtp", Some("opportunistic")) => (TlsMode::Opportunistic, 587),
            ("smtp", Some("required")) => (TlsMode::Required, 587),
            ("smtp", Some(_)) => {
                return Err(config_error(
                    "`tls` must be `opportunistic` or `required` (or absent for plaintext)",
                ))
            }
            ("smtps", None) => (TlsMode::Implicit, 465),
            ("smtps", Some(_)) => {
                return Err(config_error(
                    "`smtps://` is TLS from the start: `tls` does not apply (use `smtp://…?tls=…` for STARTTLS)",
                ))
            }
            _ => return Err(config_error("the scheme must be `smtp` or `smtps`")),
        };

        // `smtp` is not a special scheme to the URL standard, so an IPv4 address arrives as
        // an opaque "domain": read it as an address here.
        let (host, loopback) = match parsed.host() {
            Some(Host::Domain(name)) => match name.parse::<IpAddr>() {
                Ok(ip) => (ip.to_string(), ip.is_loopback()),
                Err(_) if is_host_name(name) => {
                    let name = name.to_ascii_lowercase();
                    let loopback = name == "localhost";
                    (name, loopback)
                }
                Err(_) => {
                    return Err(config_error(
                        "the server host is not a host name or IP address",
                    ))
                }
            },
            Some(Host::Ipv4(ip)) => (ip.to_string(), ip.is_loopback()),
            Some(Host::Ipv6(ip)) => (ip.to_string(), ip.is_loopback()),
            None => return Err(config_error("the server URL has no host")),
        };
        let port = parsed.port().unwrap_or(default_port);

        let credentials = if !parsed.username().is_empty() || parsed.password().is_some() {
            let user = percent_decode(parsed.username())?;
            let password = percent_decode(parsed.password().unwrap_or(""))?;
            Some(Credentials::new(user, password))
        } else {
            None
        };
        if credentials.is_some() && tls == TlsMode::None && !loopback {
            return Err(config_error(
                "credentials over plaintext `smtp://` are only sent to a loopback host: \
                 use `smtps://` or `?tls=required`",
            ));
        }

        let hello_name = match (&options.hello_name, parsed.path().trim_matches('/')) {
            (Some(name), _) => Some(name.clone()),
            (None, "") => None,
            (None, path) => Some(path.to_owned()),
        };
        if hello_name
            .as_deref()
            .is_some_and(|name| !is_host_name(name))
        {
            return Err(config_error("the EHLO name must be a host name"));
        }

        let from: Mailbox = options
            .from
            .parse()
            .map_err(|_| config_error("`from` is not a mailbox (`Name <address>` or `address`)"))?;
        let message_id_domain = from.email.domain().to_owned();

        if options.pool_max_size == 0 {
            return Err(config_error("the pool needs at least one connection"));
        }
        if options.send_timeout.is_zero() || options.connect_timeout.is_zero() {
            return Err(config_error("timeouts must be longer than zero"));
        }

        let mut roots = Vec::new();
        for pem in &options.root_certificates_pem {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(config_error("a root certificate is not PEM"));
            }
            roots.push(
                Certificate::from_pem(pem.as_bytes())
                    .map_err(|_| config_error("a root certificate could not be read"))?,
            );
        }
        let tls_parameters = || {
            roots
                .iter()
                .cloned()
                .fold(TlsParameters::builder(host.clone()), |builder, root| {
                    builder.add_root_certificate(root)
                })
                .build_rustls()
                .map_err(|_| config_error("TLS could not be set up for this host"))
        };
        let lettre_tls = match tls {
            TlsMode::None => Tls::None,
            TlsMode::Opportunistic => Tls::Opportunistic(tls_parameters()?),
            TlsMode::Required => Tls::Required(tls_parameters()?),
            TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
        };

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(lettre_tls)
            .timeout(Some(options.connect_timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(options.pool_max_size)
                    .min_idle(options.pool_min_idle)
                    .idle_timeout(options.pool_idle_timeout),
            );
        if let Some(name) = hello_name {
            builder = builder.hello_name(ClientId::Domain(name));
        }
        let authenticated = credentials.is_some();
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }

        Ok(SmtpMailer {
            builder,
            transport: OnceCell::new(),
            from,
            message_id_domain,
            send_timeout: options.send_timeout,
            host,
            port,
            tls,
            authenticated,
        })
    }

    /// How the connection is protected.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// The server's host and port.
    pub fn server(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// Opens a connection to the server and closes it (`NOOP`), within the send timeout:
    /// what a readiness probe asks. Sends nothing.
    pub async fn check_connection(&self) -> Result<(), MailError> {
        let check = async {
            let transport = self
                .transport
                .get_or_init(|| async { self.builder.clone().build() })
                .await;
            transport.test_connection().await
        };
        match tokio::time::timeout(self.send_timeout, check).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(MailError::Transport(
                "the SMTP server did not accept a connection".to_owned(),
            )),
            Ok(Err(error)) => Err(MailError::Transport(describe(&error))),
            Err(_elapsed) => Err(MailError::Transport(format!(
                "no answer from the SMTP server within {} ms",
                self.send_timeout.as_millis()
            ))),
        }
    }

    /// Builds the lettre message with its one-recipient envelope, or refuses the recipient.
    fn compose(&self, message: MailMessage) -> Result<Message, MailError> {
        let recipient = canonicalize(&message.to)
            .map_err(|refused| MailError::InvalidRecipient(refused.code().to_owned()))?;
        if recipient.as_str() != message.to {
            return Err(MailError::InvalidRecipient("not_canonical".to_owned()));
        }
        let to = Address::new(recipient.local_part(), recipient.domain())
            .map_err(|_| MailError::InvalidRecipient("refused_by_mail_library".to_owned()))?;
        let envelope = Envelope::new(Some(self.from.email.clone()), vec![to.clone()])
            .map_err(|_| MailError::InvalidRecipient("envelope".to_owned()))?;

        let email = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to.clone()))
            .subject(one_line(&message.subject))
            .date_now()
            .message_id(Some(self.message_id()))
            .envelope(envelope)
            .multipart(MultiPart::alternative_plain_html(
                message.text,
                message.html,
            ))
            .map_err(|e| MailError::Transport(format!("the message could not be built: {e}")))?;

        // The one guarantee this adapter exists for: one RCPT TO, the canonical address.
        if email.envelope().to() != [to] {
            return Err(MailError::InvalidRecipient("envelope".to_owned()));
        }
        Ok(email)
    }

    fn message_id(&self) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!(
            "<{nanos:x}.{:x}.{count:x}@{}>",
            std::process::id(),
            self.message_id_domain
        )
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: MailMessage) -> Result<(), MailError> {
        let email = self.compose(message)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MailError::Transport(
                "the SMTP mailer must run inside a Tokio runtime".to_owned(),
            ));
        }
        let send = async {
            let transport = self
                .transport
                .get_or_init(|| async { self.builder.clone().build() })
                .await;
            transport.send(email).await
        };
        match tokio::time::timeout(self.send_timeout, send).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(error)) => Err(MailError::Transport(describe(&error))),
            Err(_elapsed) => Err(MailError::Transport(format!(
                "no answer from the SMTP server within {} ms",
                self.send_timeout.as_millis()
            ))),
        }
    }
}

/// The class of an SMTP failure, without the server's reply text (it may quote the message).
fn describe(error: &lettre::transport::smtp::Error) -> String {
    use std::error::Error as _;
    if error.is_timeout() {
        return "timed out connecting to the SMTP server".to_owned();
    }
    if let Some(code) = error.status() {
        return if error.is_permanent() {
            format!("the SMTP server refused the message ({code}, permanent)")
        } else {
            format!("the SMTP server refused the message for now ({code}, transient)")
        };
    }
    if error.is_tls() {
        return match error.source() {
            Some(source) => format!("TLS with the SMTP server failed: {source}"),
            None => "TLS with the SMTP server failed".to_owned(),
        };
    }
    if error.is_client() {
        // lettre's own fixed texts, e.g. "STARTTLS is not supported on this server".
        return match error.source() {
            Some(source) => format!("SMTP client error: {source}"),
            None => "SMTP client error".to_owned(),
        };
    }
    if error.is_response() {
        return "the SMTP server sent an answer that could not be read".to_owned();
    }
    if error.is_transport_shutdown() {
        return "the SMTP transport has been shut down".to_owned();
    }
    match io_error(error) {
        Some(io) => format!("could not talk to the SMTP server: {io}"),
        None => "could not talk to the SMTP server".to_owned(),
    }
}

fn io_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut current = error.source();
    while let Some(source) = current {
        if let Some(io) = source.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = source.source();
    }
    None
}

/// Letters, digits, dots and hyphens: enough to refuse anything that is not a host name.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

fn percent_decode(value: &str) -> Result<String, MailError> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| config_error("the credentials in the server URL are not UTF-8 once decoded"))
}

/// One header line: control characters become spaces (lettre encodes the rest).
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
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
        let mailer =
            SmtpMailer::from_url("smtps://jane:hunter2@mail.example.com", options()).unwrap();
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
}
