//! The SSRF guard: webhook targets must be public internet addresses.
//!
//! A tenant chooses the URL we POST to, so without a guard it could make Tessera reach
//! into the network it runs in (cloud metadata services, databases, admin panels).
//! [`vet`] resolves the host (every address it resolves to must be public: loopback,
//! private, link-local — which covers the `169.254.169.254` metadata service —,
//! unspecified, CGNAT, multicast, reserved and documentation ranges, IPv6 ULA and
//! link-local, and IPv4 addresses embedded in IPv6 are all refused: IPv4-mapped and
//! NAT64 `64:ff9b::/96` addresses are judged by their IPv4 address, and the
//! IPv4-translated `::ffff:0:0/96`, 6to4 `2002::/16`, Teredo `2001::/32` and NAT64
//! local-use `64:ff9b:1::/48` ranges, which a translator or relay forwards to an IPv4
//! host we cannot see, are refused outright) and returns the
//! checked addresses. The delivery client then connects to exactly those addresses
//! ([`client_for`] pins them), so a DNS answer that changes between the check and the
//! connection (DNS rebinding) cannot redirect the request; redirects are never
//! followed and timeouts are short.
//!
//! `TESSERA_WEBHOOK_ALLOW_PRIVATE=true` turns the address check off (development and
//! tests with a local receiver); URL syntax is still checked.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use async_trait::async_trait;

/// How long to wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole delivery request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long DNS resolution may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a target was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an absolute http(s) URL with a host, or it carries credentials.
    #[error("{0}")]
    BadUrl(String),
    /// The host did not resolve.
    #[error("the host does not resolve")]
    Unresolvable,
    /// The host is or resolves to an address that is not public.
    #[error("the target resolves to a non-public address ({0}); only public addresses are allowed")]
    Forbidden(IpAddr),
}

/// A checked target: the URL and the addresses the request may connect to.
#[derive(Clone, Debug)]
pub struct Target {
    /// The URL.
    pub url: url::Url,
    /// The host name to pin (`None` for an IP literal).
    pub host: Option<String>,
    /// The checked addresses.
    pub addrs: Vec<SocketAddr>,
}

/// Resolves host names (the system resolver in production; tests substitute one).
#[async_trait]
pub trait Resolve: Send + Sync {
    /// Every address `host` resolves to, with `port`.
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The operating system's resolver.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// Checks `url` and resolves its host with the system resolver.
pub async fn vet(url: &str, allow_private: bool) -> Result<Target, TargetError> {
    vet_with(&SystemResolver, url, allow_private).await
}

/// [`vet`] with a given resolver.
pub async fn vet_with(
    resolver: &dyn Resolve,
    url: &str,
    allow_private: bool,
) -> Result<Target, TargetError> {
    let url = tenancy::journal::webhooks::validate_url(url).map_err(TargetError::BadUrl)?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| TargetError::BadUrl("has no port".into()))?;
    let (host, addrs) = match url.host() {
        Some(url::Host::Ipv4(ip)) => (None, vec![SocketAddr::new(IpAddr::V4(ip), port)]),
        Some(url::Host::Ipv6(ip)) => (None, vec![SocketAddr::new(IpAddr::V6(ip), port)]),
        Some(url::Host::Domain(name)) => {
            let name = name.to_owned();
            let addrs = tokio::time::timeout(RESOLVE_TIMEOUT, resolver.resolve(&name, port))
                .await
                .map_err(|_| TargetError::Unresolvable)?
                .map_err(|_| TargetError::Unresolvable)?;
            (Some(name), addrs)
        }
        None => return Err(TargetError::BadUrl("must name a host".into())),
    };
    if addrs.is_empty() {
        return Err(TargetError::Unresolvable);
    }
    if !allow_private && let Some(bad) = addrs.iter().map(SocketAddr::ip).find(|ip| !is_public(*ip))
    {
        return Err(TargetError::Forbidden(bad));
    }
    Ok(Target { url, host, addrs })
}

/// An HTTP client that connects only to `target`'s checked addresses, follows no
/// redirects, uses no proxy and gives up quickly.
pub fn client_for(target: &Target) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent("Tessera-Webhooks/1");
    if let Some(host) = &target.host {
        builder = builder.resolve_to_addrs(host, &target.addrs);
    }
    builder.build()
}

/// Whether `ip` is a public unicast address a webhook may be sent to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let forbidden = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network", 0.0.0.0/8
        || (a == 100 && (64..=127).contains(&b)) // CGNAT shared space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, RFC 6890
        || (a == 198 && (18..=19).contains(&b)) // benchmarking, RFC 2544
        || a >= 240; // reserved, RFC 1112
    !forbidden
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // IPv4-mapped `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2): the IPv4 address decides.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let [s0, s1, ..] = segments;
    // NAT64 (64:ff9b::/96) and IPv4-compatible (::a.b.c.d) addresses carry an IPv4
    // address that decides.
    if (s0 == 0x64 && s1 == 0xff9b && segments.iter().skip(2).take(4).all(|s| *s == 0))
        || segments.iter().take(6).all(|s| *s == 0) && !ip.is_loopback() && !ip.is_unspecified()
    {
        let [.., hi, lo] = segments;
        let [h1, h2] = hi.to_be_bytes();
        let [l1, l2] = lo.to_be_bytes();
        return is_public_v4(Ipv4Addr::new(h1, h2, l1, l2));
    }
    let [_, _, _, _, s4, s5, ..] = segments;
    let forbidden = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s0 & 0xfe00) == 0xfc00 // unique local, fc00::/7 (includes fd00:ec2::254)
        || (s0 & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (s0 & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || (s0 == 0x2001 && s1 == 0x0db8) // documentation, 2001:db8::/32
        || (s0 == 0x0100 && segments.iter().skip(1).take(3).all(|s| *s == 0)) // discard, 100::/64
        // IPv4-translated ::ffff:0:a.b.c.d, ::ffff:0:0/96 (RFC 2765 §2.1, SIIT): it
        // reaches an IPv4 host through a translator, so it is refused outright.
        || (segments.iter().take(4).all(|s| *s == 0) && s4 == 0xffff && s5 == 0)
        // 6to4, 2002::/16 (RFC 3056): a relay forwards it to the embedded IPv4 address.
        || s0 == 0x2002
        // Teredo, 2001::/32 (RFC 4380): tunnelled to an IPv4 server and client.
        || (s0 == 0x2001 && s1 == 0)
        // NAT64 local-use prefix, 64:ff9b:1::/48 (RFC 8215): translated by a local
        // NAT64 into whatever IPv4 address the operator maps it to.
        || (s0 == 0x64 && s1 == 0xff9b && segments.get(2) == Some(&1));
    !forbidden
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct FakeDns(HashMap<&'static str, Vec<IpAddr>>);

    #[async_trait]
    impl Resolve for FakeDns {
        async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
            Ok(self
                .0
                .get(host)
                .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
                .unwrap_or_default())
        }
    }

    fn dns() -> FakeDns {
        FakeDns(HashMap::from([
            ("public.example", vec!["93.184.216.34".parse().unwrap()]),
            ("loopback.example", vec!["127.0.0.1".parse().unwrap()]),
            (
                "mixed.example",
                vec![
                    "93.184.216.34".parse().unwrap(),
                    "10.1.2.3".parse().unwrap(),
                ],
            ),
            ("v6ula.example", vec!["fd00:ec2::254".parse().unwrap()]),
        ]))
    }

    #[test]
    fn internal_ranges_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::10.0.0.1",
            "2001:db8::1",
            // IPv4-mapped private and loopback addresses.
            "::ffff:10.0.0.1",
            "::ffff:192.168.0.1",
            "::ffff:7f00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn translated_and_tunnelled_ipv6_ranges_are_not_public() {
        for ip in [
            // IPv4-translated, ::ffff:0:0/96, even with a public IPv4 address inside.
            "::ffff:0:808:808",
            "::ffff:0:a00:1",
            // 6to4, 2002::/16.
            "2002:c000:0204::1",
            "2002:0a00:0001::1",
            // Teredo, 2001::/32.
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001::1",
            // NAT64 local-use, 64:ff9b:1::/48.
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        // Neighbours of those ranges stay public.
        for ip in ["2001:4860:4860::8888", "2003::1", "64:ff9b:2::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn every_resolved_address_must_be_public() {
        let dns = dns();
        let ok = vet_with(&dns, "https://public.example/hook", false)
            .await
            .unwrap();
        assert_eq!(ok.host.as_deref(), Some("public.example"));
        assert_eq!(ok.addrs, vec!["93.184.216.34:443".parse().unwrap()]);
        for (url, bad) in [
            ("https://loopback.example/", "127.0.0.1"),
            ("https://mixed.example/", "10.1.2.3"),
            ("http://v6ula.example/", "fd00:ec2::254"),
            (
                "http://169.254.169.254/latest/meta-data/",
                "169.254.169.254",
            ),
            ("http://[::1]:8080/", "::1"),
        ] {
            assert_eq!(
                vet_with(&dns, url, false).await.unwrap_err(),
                TargetError::Forbidden(bad.parse().unwrap()),
                "{url}"
            );
        }
        assert_eq!(
            vet_with(&dns, "https://nowhere.example/", false)
                .await
                .unwrap_err(),
            TargetError::Unresolvable
        );
        assert!(matches!(
            vet_with(&dns, "https://u:p@public.example/", false).await,
            Err(TargetError::BadUrl(_))
        ));
    }

    #[tokio::test]
    async fn allowing_private_targets_skips_only_the_address_check() {
        let dns = dns();
        assert!(
            vet_with(&dns, "https://loopback.example/", true)
                .await
                .is_ok()
        );
        assert!(
            vet_with(&dns, "ftp://loopback.example/", true)
                .await
                .is_err()
        );
    }
}
