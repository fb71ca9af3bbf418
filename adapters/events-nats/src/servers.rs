//! The server URL(s) split into what the client may see and may log (the addresses) and the
//! credentials, which go to it through its options instead.

use percent_encoding::percent_decode_str;
use url::Url;

/// How the client signs in, taken from the URL's user part.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// `nats://user:password@host`.
    UserPassword { user: String, password: String },
    /// `nats://token@host`.
    Token(String),
}

/// The servers of one URL setting.
#[derive(Clone)]
pub(crate) struct Servers {
    /// Each server's URL without credentials.
    pub(crate) addresses: Vec<String>,
    pub(crate) credentials: Option<Credentials>,
}

impl Servers {
    /// `nats://` or `tls://` URLs, comma-separated (a cluster's seed servers). All that carry
    /// credentials carry the same ones.
    pub(crate) fn parse(setting: &str) -> Result<Self, String> {
        let mut addresses = Vec::new();
        let mut credentials = None;
        for (n, part) in setting.split(',').map(str::trim).enumerate() {
            let url = Url::parse(part)
                .map_err(|_| format!("server {}: not a URL (nats://host:4222)", n + 1))?;
            if !matches!(url.scheme(), "nats" | "tls") || url.host_str().is_none() {
                return Err(format!(
                    "server {}: must be a nats:// or tls:// URL with a host",
                    n + 1
                ));
            }
            if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some()
            {
                return Err(format!(
                    "server {}: only scheme, credentials, host and port (no path or query)",
                    n + 1
                ));
            }
            let these = credentials_of(&url)?;
            match (&credentials, these) {
                (_, None) => {}
                (None, Some(these)) => credentials = Some(these),
                (Some(known), Some(these)) if *known == these => {}
                (Some(_), Some(_)) => {
                    return Err("servers with different credentials: give them once".into())
                }
            }
            addresses.push(without_credentials(&url));
        }
        Ok(Self {
            addresses,
            credentials,
        })
    }

    /// The addresses, as logs show them.
    pub(crate) fn for_logs(&self) -> String {
        self.addresses.join(",")
    }
}

fn credentials_of(url: &Url) -> Result<Option<Credentials>, String> {
    let decode = |text: &str| {
        percent_decode_str(text)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| "credentials: not UTF-8 once percent-decoded".to_owned())
    };
    let user = decode(url.username())?;
    Ok(match url.password() {
        Some(password) => Some(Credentials::UserPassword {
            user,
            password: decode(password)?,
        }),
        None if user.is_empty() => None,
        None => Some(Credentials::Token(user)),
    })
}

fn without_credentials(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// `url` (one or several, comma-separated) with any user part replaced by `[redacted]`,
/// for `Debug` and logs. What does not parse is shown as its scheme only.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(str::trim)
        .map(|part| match Url::parse(part) {
            Ok(parsed) if parsed.username().is_empty() && parsed.password().is_none() => {
                part.trim_end_matches('/').to_owned()
            }
            Ok(parsed) if parsed.host_str().is_some() => {
                let (scheme, rest) = without_credentials(&parsed)
                    .split_once("://")
                    .map(|(s, r)| (s.to_owned(), r.to_owned()))
                    .unwrap_or_default();
                format!("{scheme}://[redacted]@{rest}")
            }
            _ => {
                let scheme = part.split_once("://").map_or("?", |(scheme, _)| scheme);
                format!("{scheme}://[redacted]")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_the_addresses() {
        let s = Servers::parse("nats://us%40er:p%3Ass@127.0.0.1:4222, nats://n2").unwrap();
        assert_eq!(s.addresses, ["nats://127.0.0.1:4222", "nats://n2"]);
        assert!(matches!(
            s.credentials,
            Some(Credentials::UserPassword { ref user, ref password })
                if user == "us@er" && password == "p:ss"
        ));
        let t = Servers::parse("tls://s3cr3t@nats.example.com").unwrap();
        assert_eq!(t.addresses, ["tls://nats.example.com"]);
        assert!(matches!(t.credentials, Some(Credentials::Token(ref t)) if t == "s3cr3t"));
        assert!(Servers::parse("nats://localhost:4222")
            .unwrap()
            .credentials
            .is_none());
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for bad in [
            "http://u:s3cret@host",
            "nats://u:s3cret@host/path",
            "nats:s3cret",
            "s3cret",
            "nats://a:s3cret@h1,nats://b:other@h2",
            "nats://h1,,nats://h2",
        ] {
            let error = Servers::parse(bad).err().unwrap_or_else(|| panic!("{bad}"));
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn redact_hides_the_user_part() {
        assert_eq!(
            redact("nats://u:s3cret@127.0.0.1:4222,nats://tok@h2"),
            "nats://[redacted]@127.0.0.1:4222,nats://[redacted]@h2"
        );
        assert_eq!(redact("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact("nats//u:s3cret@x"), "?://[redacted]");
    }
}
