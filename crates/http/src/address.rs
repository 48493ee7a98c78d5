//! Which IP addresses an outbound request may reach: the ranges that are never a tenant's
//! upstream (loopback, private, link-local, …) and the operator's exceptions to them.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A range of addresses no tenant-chosen request may reach unless an operator allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenRange {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and IPv6 unique local addresses (`fc00::/7`).
    Private,
    /// `169.254/16` (cloud metadata services live at `169.254.169.254`), `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT, `100.64/10`.
    Shared,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`.
    Documentation,
}

impl ForbiddenRange {
    pub fn as_str(self) -> &'static str {
        match self {
            ForbiddenRange::Loopback => "loopback",
            ForbiddenRange::Private => "private",
            ForbiddenRange::LinkLocal => "link-local",
            ForbiddenRange::Shared => "shared (carrier-grade NAT)",
            ForbiddenRange::Multicast => "multicast",
            ForbiddenRange::Unspecified => "unspecified",
            ForbiddenRange::Broadcast => "broadcast",
            ForbiddenRange::Documentation => "documentation",
        }
    }
}

impl std::fmt::Display for ForbiddenRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    )
}

/// The forbidden IPv4 ranges, each with its name.
const V4: [(Ipv4Net, ForbiddenRange); 12] = [
    (v4(255, 255, 255, 255, 32), ForbiddenRange::Broadcast),
    (v4(0, 0, 0, 0, 8), ForbiddenRange::Unspecified),
    (v4(10, 0, 0, 0, 8), ForbiddenRange::Private),
    (v4(100, 64, 0, 0, 10), ForbiddenRange::Shared),
    (v4(127, 0, 0, 0, 8), ForbiddenRange::Loopback),
    (v4(169, 254, 0, 0, 16), ForbiddenRange::LinkLocal),
    (v4(172, 16, 0, 0, 12), ForbiddenRange::Private),
    (v4(192, 0, 2, 0, 24), ForbiddenRange::Documentation),
    (v4(192, 168, 0, 0, 16), ForbiddenRange::Private),
    (v4(198, 51, 100, 0, 24), ForbiddenRange::Documentation),
    (v4(203, 0, 113, 0, 24), ForbiddenRange::Documentation),
    (v4(224, 0, 0, 0, 4), ForbiddenRange::Multicast),
];

/// IPv6's own forbidden ranges (an address embedding an IPv4 one is judged as that address).
const V6: [(Ipv6Net, ForbiddenRange); 6] = [
    (
        v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
        ForbiddenRange::Unspecified,
    ),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), ForbiddenRange::Loopback),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        ForbiddenRange::Private,
    ),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        ForbiddenRange::LinkLocal,
    ),
    (
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        ForbiddenRange::Multicast,
    ),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        ForbiddenRange::Documentation,
    ),
];

/// IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at: IPv4-mapped
/// (`::ffff:0:0/96`), IPv4-compatible (`::/96`, deprecated) and NAT64's well-known prefix
/// (`64:ff9b::/96`).
const EMBEDS_V4: [Ipv6Net; 3] = [
    v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
    v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
    v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
];

/// The IPv4 address an IPv6 address stands for (mapped, compatible or NAT64), if any. `::` and
/// `::1` are IPv6's own unspecified and loopback addresses, not IPv4's `0.0.0.0` and `0.0.0.1`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if ip.is_unspecified() || ip.is_loopback() {
        return None;
    }
    EMBEDS_V4.iter().any(|net| net.contains(&ip)).then(|| {
        let [.., a, b, c, d] = ip.octets();
        Ipv4Addr::new(a, b, c, d)
    })
}

/// The forbidden range `ip` is in, if any; an IPv6 address that embeds an IPv4 one (mapped
/// `::ffff:0:0/96`, compatible `::/96`, NAT64 `64:ff9b::/96`) is judged as that IPv4 address.
pub fn forbidden_range(ip: IpAddr) -> Option<ForbiddenRange> {
    let v4_range = |ip: Ipv4Addr| {
        V4.iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(_, range)| *range)
    };
    match ip {
        IpAddr::V4(ip) => v4_range(ip),
        IpAddr::V6(ip) => match embedded_v4(ip) {
            Some(ip) => v4_range(ip),
            None => V6
                .iter()
                .find(|(net, _)| net.contains(&ip))
                .map(|(_, range)| *range),
        },
    }
}

/// The addresses outbound requests may reach: every address outside the [`ForbiddenRange`]s,
/// and those inside the ranges an operator allows (`[network] allow_private`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    /// No forbidden range allowed: what `serve` runs with unless configured otherwise.
    pub fn strict() -> Self {
        Self::default()
    }

    /// The forbidden ranges minus `allow`.
    pub fn allowing(allow: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            allow: allow.into_iter().collect(),
        }
    }

    /// `127.0.0.1/32` allowed: for the demo and tests, whose simulators listen there.
    pub fn loopback() -> Self {
        Self::allowing([IpNet::V4(v4(127, 0, 0, 1, 32))])
    }

    /// The ranges allowed.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allow
    }

    /// `Err` with the range when `ip` may not be reached. An allowed range matches the address
    /// as written or the IPv4 address it embeds.
    pub fn check(&self, ip: IpAddr) -> Result<(), ForbiddenRange> {
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = |ip: IpAddr| self.allow.iter().any(|net| net.contains(&ip));
        if allowed(ip) || embedded.is_some_and(allowed) {
            return Ok(());
        }
        forbidden_range(ip).map_or(Ok(()), Err)
    }
}

/// A request refused because its host is, or resolves only to, a forbidden address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address not allowed: {}", describe(host, *address, *range))]
pub struct AddressNotAllowed {
    /// The host as the URL names it (a name or an IP literal).
    pub host: String,
    /// The (first) forbidden address it is or resolves to.
    pub address: IpAddr,
    pub range: ForbiddenRange,
}

fn describe(host: &str, address: IpAddr, range: ForbiddenRange) -> String {
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip == address);
    if literal {
        format!("{host} is a {range} address")
    } else {
        format!("{host} resolves to {address}, a {range} address")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_every_range_in_v4_and_v6() {
        use ForbiddenRange::*;
        let table: &[(&str, Option<ForbiddenRange>)] = &[
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(Private)),
            ("169.254.169.254", Some(LinkLocal)),
            ("100.64.0.1", Some(Shared)),
            ("100.127.255.255", Some(Shared)),
            ("100.128.0.1", None),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("255.255.255.255", Some(Broadcast)),
            ("192.0.2.10", Some(Documentation)),
            ("198.51.100.7", Some(Documentation)),
            ("203.0.113.200", Some(Documentation)),
            ("8.8.8.8", None),
            ("93.184.215.14", None),
            ("::1", Some(Loopback)),
            ("::", Some(Unspecified)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Documentation)),
            ("2606:4700::1111", None),
            // IPv4-mapped, IPv4-compatible and NAT64: judged as the IPv4 address.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some(Loopback)),
            ("::192.168.0.1", Some(Private)),
            ("64:ff9b::7f00:1", Some(Loopback)),
            ("64:ff9b::808:808", None),
        ];
        for (addr, expected) in table {
            assert_eq!(forbidden_range(ip(addr)), *expected, "{addr}");
        }
    }

    #[test]
    fn allowed_ranges_pass_and_match_mapped_addresses() {
        let policy = AddressPolicy::loopback();
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("127.0.0.2")), Err(ForbiddenRange::Loopback));
        assert_eq!(policy.check(ip("::1")), Err(ForbiddenRange::Loopback));
        assert_eq!(policy.check(ip("8.8.8.8")), Ok(()));
        let strict = AddressPolicy::strict();
        assert_eq!(
            strict.check(ip("::ffff:127.0.0.1")),
            Err(ForbiddenRange::Loopback)
        );
        let lan =
            AddressPolicy::allowing(["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        assert_eq!(lan.check(ip("10.9.9.9")), Ok(()));
        assert_eq!(lan.check(ip("fd00::5")), Ok(()));
        assert_eq!(lan.check(ip("fc00::5")), Err(ForbiddenRange::Private));
        assert_eq!(
            lan.check(ip("169.254.169.254")),
            Err(ForbiddenRange::LinkLocal)
        );
    }

    #[test]
    fn refusals_name_the_host_and_the_range() {
        let literal = AddressNotAllowed {
            host: "[::1]".into(),
            address: ip("::1"),
            range: ForbiddenRange::Loopback,
        };
        assert_eq!(
            literal.to_string(),
            "address not allowed: [::1] is a loopback address"
        );
        let named = AddressNotAllowed {
            host: "localhost".into(),
            address: ip("127.0.0.1"),
            range: ForbiddenRange::Loopback,
        };
        assert_eq!(
            named.to_string(),
            "address not allowed: localhost resolves to 127.0.0.1, a loopback address"
        );
    }
}
