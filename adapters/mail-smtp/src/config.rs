//! Reading the server URL and the options into an [`SmtpMailer`]: transport, TLS,
//! credentials, EHLO name, pool; every mistake refused without quoting the URL.

use std::net::IpAddr;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use portcullis_ports::MailError;
use tokio::sync::OnceCell;
use url::{Host, Url};

use super::options::{SmtpOptions, TlsMode};
use super::SmtpMailer;

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
