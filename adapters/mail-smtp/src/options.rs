//! The settings that are not in the URL ([`SmtpOptions`]) and the TLS mode read from it.

use std::time::Duration;

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
