//! The client's real address behind reverse proxies, and the key rate limits count it by.
//!
//! The socket's peer is the client unless it is a trusted proxy. Then the forwarding header
//! is read right to left, skipping trusted hops: the first untrusted hop is the client (a
//! client can prepend anything to the header, but cannot forge what a trusted proxy
//! appended). With no trusted proxy configured the headers are never read.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use http::HeaderMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An address block, `10.0.0.0/8` or `fd00::/8`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct IpCidr {
    network: IpAddr,
    prefix: u8,
}

impl IpCidr {
    /// Whether `ip` lies in this block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(ip, self.prefix) == mask_v4(net, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(ip, self.prefix) == mask_v6(net, self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for IpCidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("{text:?} is not an address block such as 10.0.0.0/8 or fd00::/8");
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { network, prefix })
    }
}

impl TryFrom<String> for IpCidr {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<IpCidr> for String {
    fn from(cidr: IpCidr) -> String {
        cidr.to_string()
    }
}

impl core::fmt::Display for IpCidr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Which header trusted proxies write the client chain into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The client's address: `peer` itself unless it is a trusted proxy, else the rightmost
/// untrusted hop of `header`. Only the configured header is read, so a client cannot
/// choose the other one. A hop that is not an address (`unknown`, an obfuscated name)
/// ends the walk at the last trusted hop.
pub fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpCidr],
    header: ForwardedHeader,
) -> Option<IpAddr> {
    let mut client = canonical(peer?);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    if !is_trusted(client) {
        return Some(client);
    }
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all(name) {
        // A header that is not text cannot be read; the peer stays the client.
        let Ok(value) = value.to_str() else {
            return Some(client);
        };
        hops.extend(value.split(','));
    }
    for hop in hops.iter().rev() {
        let parsed = match header {
            ForwardedHeader::XForwardedFor => parse_node(hop),
            ForwardedHeader::Forwarded => forwarded_for(hop).and_then(parse_node),
        };
        let Some(ip) = parsed else {
            return Some(client);
        };
        client = canonical(ip);
        if !is_trusted(client) {
            return Some(client);
        }
    }
    Some(client)
}

/// The key per-IP limits count under: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber usually holds a whole /64, so counting single addresses would let them rotate
/// through 2^64 keys).
pub fn limit_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("{}/64", mask_v6(ip, 64)),
    }
}

/// The `for=` value of one `Forwarded` element (`for=1.2.3.4;proto=https`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then_some(value)
    })
}

/// A node as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `"[2001:db8::1]:80"`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _port) = rest.split_once(']')?;
        return ip.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (ip, _port) = node.rsplit_once(':')?;
    ip.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, from dual-stack sockets) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let bits = u32::from(ip);
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(bits & mask)
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let bits = u128::from(ip);
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(bits & mask)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn cidrs(list: &[&str]) -> Vec<IpCidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn without_trusted_proxies_the_headers_change_nothing() {
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        let peer = Some(ip("198.51.100.1"));
        assert_eq!(resolve(peer, &h, &[], ForwardedHeader::XForwardedFor), peer);
        let trusted = cidrs(&["10.0.0.0/8"]);
        assert_eq!(
            resolve(peer, &h, &trusted, ForwardedHeader::XForwardedFor),
            peer,
            "an untrusted peer's header is ignored"
        );
    }

    #[test]
    fn walks_right_to_left_skipping_trusted_hops() {
        let trusted = cidrs(&["10.0.0.0/8", "192.0.2.7"]);
        let peer = Some(ip("10.1.2.3"));
        // The client prepended a forged hop; the proxies appended the real one.
        let h = headers("x-forwarded-for", &["1.1.1.1, 203.0.113.9", "192.0.2.7"]);
        assert_eq!(
            resolve(peer, &h, &trusted, ForwardedHeader::XForwardedFor),
            Some(ip("203.0.113.9"))
        );
        let h = headers(
            "forwarded",
            &["for=1.1.1.1, for=\"[2001:db8::1]:4711\";proto=https, For=10.0.0.9"],
        );
        assert_eq!(
            resolve(peer, &h, &trusted, ForwardedHeader::Forwarded),
            Some(ip("2001:db8::1"))
        );
        // Only the configured header is read.
        assert_eq!(
            resolve(peer, &h, &trusted, ForwardedHeader::XForwardedFor),
            peer
        );
        // All hops trusted: the leftmost is the client.
        let h = headers("x-forwarded-for", &["10.9.9.9:1234"]);
        assert_eq!(
            resolve(peer, &h, &trusted, ForwardedHeader::XForwardedFor),
            Some(ip("10.9.9.9"))
        );
        // An unreadable hop stops at the last trusted one.
        let h = headers("forwarded", &["for=203.0.113.9, for=unknown"]);
        assert_eq!(
            resolve(peer, &h, &trusted, ForwardedHeader::Forwarded),
            peer
        );
    }

    #[test]
    fn blocks_parse_and_match() {
        let block: IpCidr = "fd00::/8".parse().unwrap();
        assert!(block.contains(ip("fd12::1")));
        assert!(!block.contains(ip("fe80::1")));
        let one: IpCidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("::ffff:127.0.0.1")), "mapped IPv4 counts");
        assert!(!one.contains(ip("127.0.0.2")));
        let all: IpCidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nope", "::/129", "10.0.0.0/x"] {
            assert!(bad.parse::<IpCidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }
}
