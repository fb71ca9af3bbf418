//! Portcullis's outbound [`HttpClient`] on reqwest (rustls, Mozilla roots).
//!
//! Built for talking to OAuth providers on behalf of a server that attackers can reach:
//!
//! - **No redirects followed.** A 3xx comes back as an [`HttpResponse`] with its status, so a
//!   provider (or a URL an attacker got into a discovery document) cannot bounce the request
//!   to an internal address (SSRF).
//! - **Bounded time.** [`Settings::connect_timeout`] bounds the TCP/TLS connect,
//!   [`Settings::total_timeout`] the whole exchange, body included.
//! - **Bounded size.** The body is read chunk by chunk and dropped as soon as it passes
//!   [`Settings::max_body_bytes`] (or when `Content-Length` announces more): [`HttpFailure::TooLarge`].
//!   No content decoding is enabled, so a compressed body cannot expand past the limit.
//! - **Only `http` and `https` URLs**; anything else is [`HttpFailure::RefusedUrl`] before any
//!   I/O.
//! - **No private networks** unless [`Settings::allow_private_network`]. Every address a
//!   host name resolves to (at request time, through [`PublicOnlyResolver`]) and every IP
//!   literal in a URL must be public: loopback, link-local, private (RFC 1918, IPv6 unique
//!   local), CGNAT, unspecified, multicast and reserved ranges are [`HttpFailure::PrivateAddress`],
//!   so a provider endpoint or an `issuer`'s discovery document cannot point the server at
//!   its own network (SSRF). A name that resolves to any such address is refused as a
//!   whole (no falling back to its public addresses), and the checked addresses are the ones
//!   connected to, so DNS rebinding between check and connect is not possible. With a proxy
//!   from the environment the proxy's own address is exempt and the proxy resolves the target:
//!   its egress policy is then what keeps the internal network out.
//! - **No secrets in errors.** Header values are marked sensitive, and errors never carry a
//!   header value, a body or the URL (whose query may hold an access token).
//!
//! Requests carry `User-Agent: Portcullis/<version> (+https://example.invalid/portcullis)`
//! and `Accept: application/json` unless the call sets its own. Proxies named by the usual
//! environment variables (`HTTPS_PROXY`, `NO_PROXY`, …) are honoured, as reqwest does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
pub use portcullis_ports::{HttpCall, HttpClient, HttpFailure, HttpMethod, HttpResponse};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use reqwest::{redirect, Method, Url};

/// The `User-Agent` sent when a call sets none.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "Portcullis/",
    env!("CARGO_PKG_VERSION"),
    " (+https://example.invalid/portcullis)"
);

/// Limits of a [`ReqwestHttpClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Bound on connecting (TCP and TLS). Default 5 s.
    pub connect_timeout: Duration,
    /// Bound on one whole exchange: connect, request, response head and body. Default 15 s.
    pub total_timeout: Duration,
    /// Largest body accepted. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Whether hosts on loopback, link-local or private addresses may be called. Default
    /// `false`: right for provider endpoints, which come from configuration and discovery
    /// documents; an operator's own services (hooks, events, credentials backends) set it.
    pub allow_private_network: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(15),
            max_body_bytes: 1024 * 1024,
            allow_private_network: false,
        }
    }
}

/// The HTTP client could not be set up (e.g. the TLS backend failed to initialise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct BuildError(String);

/// An [`HttpClient`] on reqwest. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
    settings: Settings,
}

impl ReqwestHttpClient {
    /// A client with the default [`Settings`].
    pub fn new() -> Result<Self, BuildError> {
        Self::with_settings(Settings::default())
    }

    /// A client with the default [`Settings`] that may call loopback, link-local and
    /// private addresses: for the operator's own services (hooks, event receivers,
    /// credentials backends) and tests, never for provider endpoints.
    pub fn allowing_private_network() -> Result<Self, BuildError> {
        Self::with_settings(Settings {
            allow_private_network: true,
            ..Settings::default()
        })
    }

    /// A client with `settings`; an error if it cannot be built.
    pub fn with_settings(settings: Settings) -> Result<Self, BuildError> {
        let mut builder = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.total_timeout);
        if !settings.allow_private_network {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver::from_env()));
        }
        let client = builder
            .build()
            .map_err(|e| BuildError(message(&e.without_url())))?;
        Ok(Self { client, settings })
    }

    /// The settings the client was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn request(&self, call: HttpCall) -> Result<reqwest::Request, HttpFailure> {
        let url = Url::parse(&call.url).map_err(|_| HttpFailure::RefusedUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpFailure::RefusedUrl);
        }
        // An IP literal never reaches the resolver: check it here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if !self.settings.allow_private_network && literal.is_some_and(|ip| !is_public(ip)) {
            return Err(HttpFailure::PrivateAddress);
        }
        let method = match call.method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &call.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpFailure::Transport("invalid header name".into()))?;
            let mut value = HeaderValue::from_str(value.expose())
                .map_err(|_| HttpFailure::Transport(format!("invalid value for header {name}")))?;
            // Keeps values such as `Authorization` out of hyper's and reqwest's Debug output.
            value.set_sensitive(true);
            headers.append(name, value);
        }
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(DEFAULT_USER_AGENT));
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("application/json"));
        let mut builder = self.client.request(method, url).headers(headers);
        if let Some(body) = call.body {
            builder = builder.body(body.expose().to_owned());
        }
        builder.build().map_err(map_error)
    }

    async fn exchange(&self, request: reqwest::Request) -> Result<HttpResponse, HttpFailure> {
        let mut response = self.client.execute(request).await.map_err(map_error)?;
        let limit = self.settings.max_body_bytes;
        let announced_too_large = response
            .content_length()
            .is_some_and(|length| length > u64::try_from(limit).unwrap_or(u64::MAX));
        if announced_too_large {
            return Err(HttpFailure::TooLarge);
        }
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            if chunk.len() > limit - body.len() {
                // Dropping the response closes the connection; the rest is never read.
                return Err(HttpFailure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            content_type,
            headers,
            body: body.freeze(),
        })
    }
}

#[async_trait]
impl HttpClient for ReqwestHttpClient {
    async fn send(&self, call: HttpCall) -> Result<HttpResponse, HttpFailure> {
        let request = self.request(call)?;
        self.exchange(request).await
    }
}

fn map_error(err: reqwest::Error) -> HttpFailure {
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        if cause.is::<PrivateAddressError>() {
            return HttpFailure::PrivateAddress;
        }
        source = cause.source();
    }
    if err.is_timeout() {
        HttpFailure::Timeout
    } else if err.is_connect() {
        HttpFailure::Connect
    } else {
        HttpFailure::Transport(message(&err.without_url()))
    }
}

/// Resolves host names with the system resolver and refuses any name with a non-public
/// address ([`is_public`]). Proxy hosts named in the environment are exempt (the proxy
/// resolves the target).
#[derive(Debug, Clone, Default)]
pub struct PublicOnlyResolver {
    exempt: Vec<String>,
}

impl PublicOnlyResolver {
    /// Exempts the hosts of `HTTPS_PROXY`, `HTTP_PROXY` and `ALL_PROXY` (either case).
    pub fn from_env() -> Self {
        let exempt = [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .filter_map(|value| {
            let value = if value.contains("://") {
                value
            } else {
                format!("http://{value}")
            };
            Url::parse(&value)
                .ok()?
                .host_str()
                .map(str::to_ascii_lowercase)
        })
        .collect();
        Self { exempt }
    }
}

/// A host name resolved to a non-public address (the address is not named: it says
/// something about the internal network).
#[derive(Debug, thiserror::Error)]
#[error("the host resolves to a loopback, link-local or private address")]
pub struct PrivateAddressError;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let exempt = self.exempt.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !exempt && addrs.iter().any(|addr| !is_public(addr.ip())) {
                return Err(
                    Box::new(PrivateAddressError) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address: not loopback, unspecified, link-local,
/// private (RFC 1918, IPv6 unique local and site-local), shared (CGNAT, 100.64/10),
/// IETF-reserved (192.0.0/24, 240/4), benchmarking (198.18/15), documentation, broadcast or
/// multicast. IPv4 inside IPv6 (mapped, compatible, NAT64 64:ff9b::/96, 6to4) is judged
/// as the IPv4 it carries.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || ip.is_multicast()
        || a >= 240) // reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded_v4 = || {
        let [.., a, b, c, d] = ip.octets();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    match segments {
        // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
        [0, 0, 0, 0, 0, 0, _, _] => ip.segments()[6] != 0 && is_public_v4(embedded_v4()),
        // NAT64 well-known prefix
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => is_public_v4(embedded_v4()),
        // 6to4: the IPv4 is in segments 1 and 2
        [0x2002, hi, lo, ..] => {
            let [a, b] = hi.to_be_bytes();
            let [c, d] = lo.to_be_bytes();
            is_public_v4(Ipv4Addr::new(a, b, c, d))
        }
        // documentation
        [0x2001, 0xdb8, ..] => false,
        [first, ..] => {
            !((first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (first & 0xff00) == 0xff00) // multicast
        }
    }
}

/// An error and its sources, `: `-separated. reqwest's own text names the URL, so callers
/// strip it first ([`reqwest::Error::without_url`]); the sources (hyper, io, rustls) name
/// neither URLs, headers nor bodies.
fn message(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_with_a_private_address() {
        let resolver = PublicOnlyResolver::default();
        let err = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(err.is::<PrivateAddressError>(), "{err}");
        let exempt = PublicOnlyResolver {
            exempt: vec!["localhost".into()],
        };
        assert!(exempt.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
