//! Who a request comes from: the peer's address, or, when the peer is a trusted proxy
//! (`--trusted-proxies`), the rightmost address of `X-Forwarded-For` that is not one: the address
//! the first trusted proxy saw. Any other peer's `X-Forwarded-For` is ignored: a client could write
//! anything there.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::{Addr, Request, http::HeaderMap};

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub(crate) fn new(blocks: Vec<IpNet>) -> Self {
        // A block of IPv4-mapped IPv6 addresses is the IPv4 block, as peers are made out.
        Self(
            blocks
                .into_iter()
                .map(|block| match block {
                    IpNet::V6(v6) if v6.prefix_len() >= 96 => v6
                        .network()
                        .to_ipv4_mapped()
                        .and_then(|v4| ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
                        .map_or(block, IpNet::V4),
                    block => block,
                })
                .collect(),
        )
    }

    fn trust(&self, address: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(&address))
    }

    /// The client's address for `request`, if it came over IP.
    pub(crate) fn client(&self, request: &Request) -> Option<IpAddr> {
        let Addr::SocketAddr(peer) = request.remote_addr().0 else {
            return None;
        };
        Some(self.client_behind(peer.ip(), request.headers()))
    }

    /// The client's address for a request from `peer` with `headers`.
    fn client_behind(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.0.is_empty() || !self.trust(peer) {
            return peer;
        }
        // Right to left, every value of every X-Forwarded-For line, the last line last; the first
        // address not trusted is the client. A value that is not an address ends the walk: what
        // is left of it was not written by a trusted proxy.
        let mut client = peer;
        let values = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|line| line.as_bytes().rsplit(|&byte| byte == b','));
        for value in values {
            let Some(address) = std::str::from_utf8(value)
                .ok()
                .and_then(|value| value.trim().parse::<IpAddr>().ok())
            else {
                break;
            };
            client = address.to_canonical();
            if !self.trust(client) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `proxies`' client for a request from `peer` with these `X-Forwarded-For` lines.
    fn client(proxies: &TrustedProxies, peer: &str, forwarded: &[&str]) -> Option<IpAddr> {
        let mut headers = HeaderMap::new();
        for line in forwarded {
            headers.append("x-forwarded-for", line.parse().expect("a header value"));
        }
        Some(proxies.client_behind(peer.parse().expect("an address"), &headers))
    }

    fn proxies(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            blocks
                .iter()
                .map(|block| block.parse().expect("a block"))
                .collect(),
        )
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("an address"))
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let forwarded = ["198.51.100.7"];
        assert_eq!(client(&trusted, "10.1.2.3", &forwarded), ip("198.51.100.7"));
        assert_eq!(
            client(&trusted, "203.0.113.9", &forwarded),
            ip("203.0.113.9")
        );
        assert_eq!(
            client(&proxies(&[]), "10.1.2.3", &forwarded),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1/32"]);
        // A client's own forgery on the left, then the client, then a trusted proxy.
        let forwarded = ["6.6.6.6, 198.51.100.7", "192.0.2.1"];
        assert_eq!(client(&trusted, "10.0.0.1", &forwarded), ip("198.51.100.7"));
        // Everything trusted: the leftmost address is the client's.
        assert_eq!(
            client(&trusted, "10.0.0.1", &["10.9.9.9, 192.0.2.1"]),
            ip("10.9.9.9")
        );
        // Garbage stops the walk at the last address a trusted proxy wrote.
        assert_eq!(
            client(&trusted, "10.0.0.1", &["198.51.100.7, unknown, 10.2.2.2"]),
            ip("10.2.2.2")
        );
        // IPv4 mapped in IPv6 is the IPv4 address, in the list of proxies too.
        assert_eq!(
            client(&trusted, "::ffff:10.0.0.1", &["::ffff:198.51.100.7"]),
            ip("198.51.100.7")
        );
        let mapped = proxies(&["::ffff:10.0.0.1/128"]);
        assert_eq!(
            client(&mapped, "10.0.0.1", &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // A byte that is not ASCII in what the client sent does not hide the rest.
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            poem::http::HeaderValue::from_bytes(b"\xff, 198.51.100.9").expect("a value"),
        );
        assert_eq!(
            Some(trusted.client_behind("10.0.0.1".parse().expect("an address"), &headers)),
            ip("198.51.100.9")
        );
    }
}
