//! IP networks for IPNET literals (`fd.net = 10.0.0.0/8`, falco-fields.md 0.1) and IP address
//! literals.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `fd00::/8`).
///
/// The address is kept as written (host bits are not cleared): `contains` only looks at the
/// first `prefix` bits, and keeping it lets the network be shown back as the rule wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n` (the `/n` is mandatory) or `x::/n`.
    ///
    /// As in Falco, the family is chosen by the presence of a `.`, so an IPv6 network written
    /// with an embedded dotted quad (`::ffff:10.0.0.0/104`) is rejected. Unlike Falco, an
    /// IPv6 `/0` is accepted (Falco refuses it while accepting an IPv4 `/0`).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let Some((ip, len)) = s.split_once('/') else {
            return Err(format!(
                "\"{s}\" is not a valid IP network: the \"/prefix length\" is missing"
            ));
        };
        let (addr, max) = parse_ip(ip)
            .map(|a| (a, if a.is_ipv4() { 32 } else { 128 }))
            .map_err(|e| format!("\"{s}\" is not a valid IP network: {e}"))?;
        let prefix = match len.parse::<u8>() {
            // `u8::from_str` takes a leading `+`: insist on plain digits.
            Ok(n) if len.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(format!(
                    "\"{s}\" is not a valid IP network: \"{len}\" is not a prefix length"
                ));
            }
        };
        if prefix > max {
            return Err(format!(
                "\"{s}\" is not a valid IP network: prefix length {prefix} is larger than {max}"
            ));
        }
        Ok(Cidr { addr, prefix })
    }

    /// Same family and the first `prefix` bits equal. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4 peer) counts as the
    /// IPv4 address for an IPv4 network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix_v4(net, ip, self.prefix),
            (IpAddr::V4(net), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| same_prefix_v4(net, ip, self.prefix)),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix.min(128)))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

fn same_prefix_v4(net: Ipv4Addr, ip: Ipv4Addr, prefix: u8) -> bool {
    // A shift by the full width is `None`: a /0 mask is empty.
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    u32::from(net) & mask == u32::from(ip) & mask
}

/// Strict dotted quad, as `inet_pton(AF_INET)`: four decimal parts, no leading zeros.
pub(super) fn parse_v4(s: &str) -> Result<Ipv4Addr, String> {
    s.parse()
        .map_err(|_| format!("\"{s}\" is not a valid IPv4 address"))
}

pub(super) fn parse_v6(s: &str) -> Result<Ipv6Addr, String> {
    s.parse()
        .map_err(|_| format!("\"{s}\" is not a valid IPv6 address"))
}

/// An IPADDR literal: dotted IPv4 if the text contains a `.`, else IPv6 (Falco's rule, so
/// `::ffff:1.2.3.4` is not accepted as a literal; write `1.2.3.4`).
pub(super) fn parse_ip(s: &str) -> Result<IpAddr, String> {
    if s.contains('.') {
        parse_v4(s).map(IpAddr::V4)
    } else {
        parse_v6(s).map(IpAddr::V6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn parses_v4_and_v6() {
        assert_eq!(
            net("10.0.0.0/8"),
            Cidr {
                addr: ip("10.0.0.0"),
                prefix: 8
            }
        );
        assert_eq!(net("192.168.1.7/32").prefix, 32);
        assert_eq!(net("0.0.0.0/0").prefix, 0);
        assert_eq!(
            net("fd00::/8"),
            Cidr {
                addr: ip("fd00::"),
                prefix: 8
            }
        );
        assert_eq!(net("::/0").prefix, 0);
        assert_eq!(net("2001:db8::1/128").prefix, 128);
    }

    #[test]
    fn rejects_bad_networks_naming_the_problem() {
        let err = Cidr::parse("10.0.0.0").unwrap_err();
        assert!(err.contains("prefix length\" is missing"), "{err}");
        let err = Cidr::parse("10.0.0.0/33").unwrap_err();
        assert!(err.contains("larger than 32"), "{err}");
        let err = Cidr::parse("fd00::/129").unwrap_err();
        assert!(err.contains("larger than 128"), "{err}");
        let err = Cidr::parse("foo/8").unwrap_err();
        assert!(err.contains("\"foo\" is not a valid IPv6 address"), "{err}");
        let err = Cidr::parse("10.0.0/8").unwrap_err();
        assert!(
            err.contains("\"10.0.0\" is not a valid IPv4 address"),
            "{err}"
        );
        for bad in [
            "10.0.0.0/",
            "10.0.0.0/x",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/ 8",
            "10.0.0.0/8/8",
            "10.0.0.0/256",
            "10.0.0.0/1000",
            "010.0.0.0/8",
            "256.0.0.0/8",
            "/8",
            "",
            "::ffff:10.0.0.0/104",
            "fd00::/",
            " 10.0.0.0/8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn v4_containment() {
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("10.0.0.0")));
        assert!(n.contains(ip("10.255.255.255")));
        assert!(!n.contains(ip("11.0.0.0")));
        assert!(!n.contains(ip("9.255.255.255")));
        let n = net("192.168.1.0/25");
        assert!(n.contains(ip("192.168.1.127")));
        assert!(!n.contains(ip("192.168.1.128")));
        // Host bits in the written address do not matter.
        assert!(net("10.1.2.3/8").contains(ip("10.200.0.1")));
    }

    #[test]
    fn zero_and_full_prefixes() {
        let all = net("0.0.0.0/0");
        assert!(all.contains(ip("1.2.3.4")));
        assert!(all.contains(ip("255.255.255.255")));
        assert!(!all.contains(ip("::1")));
        let one = net("1.2.3.4/32");
        assert!(one.contains(ip("1.2.3.4")));
        assert!(!one.contains(ip("1.2.3.5")));
        let all6 = net("::/0");
        assert!(all6.contains(ip("2001:db8::1")));
        assert!(!all6.contains(ip("1.2.3.4")));
        let one6 = net("2001:db8::1/128");
        assert!(one6.contains(ip("2001:db8::1")));
        assert!(!one6.contains(ip("2001:db8::2")));
    }

    #[test]
    fn v6_containment() {
        let n = net("fd00::/8");
        assert!(n.contains(ip("fd12:3456::1")));
        assert!(!n.contains(ip("fe80::1")));
        let n = net("2001:db8:abcd::/47");
        assert!(n.contains(ip("2001:db8:abcd:1::1")));
        assert!(n.contains(ip("2001:db8:abcc::1")));
        assert!(!n.contains(ip("2001:db8:abce::1")));
    }

    #[test]
    fn families_do_not_mix_except_mapped_v4() {
        assert!(!net("10.0.0.0/8").contains(ip("a00::1")));
        assert!(!net("::/96").contains(ip("10.0.0.1")));
        assert!(net("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        assert!(!net("10.0.0.0/8").contains(ip("::ffff:11.1.2.3")));
        assert!(net("0.0.0.0/0").contains(ip("::ffff:11.1.2.3")));
        // IPv4-compatible (not mapped) addresses are plain IPv6.
        assert!(!net("10.0.0.0/8").contains(ip("::10.1.2.3")));
    }

    #[test]
    fn out_of_range_prefix_in_a_built_value_is_clamped() {
        let n = Cidr {
            addr: ip("10.0.0.0"),
            prefix: 200,
        };
        assert!(n.contains(ip("10.0.0.0")));
        assert!(!n.contains(ip("10.0.0.1")));
    }

    #[test]
    fn ip_literals_pick_the_family_by_dot() {
        assert_eq!(parse_ip("1.2.3.4"), Ok(ip("1.2.3.4")));
        assert_eq!(parse_ip("::1"), Ok(ip("::1")));
        assert_eq!(parse_ip("FE80::1"), Ok(ip("fe80::1")));
        assert!(parse_ip("::ffff:1.2.3.4").is_err());
        assert!(parse_ip("1.2.3").is_err());
        assert!(parse_ip("01.2.3.4").is_err());
        assert!(parse_ip("localhost").is_err());
        assert!(parse_ip("").is_err());
        assert!(parse_ip("1.2.3.4/8").is_err());
    }
}
