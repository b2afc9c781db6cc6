//! Right-hand-side literals parsed for the left-hand side's field type (falco-fields.md 0.1,
//! libsinsp `value_parser.cpp`).

use std::{collections::HashMap, sync::OnceLock};

use super::{
    Lit,
    net::{Cidr, parse_ip},
};
use crate::value::FieldType;

/// Parse `text` as a literal for a field of type `ty`. See `crate::ops::parse_literal`.
pub(super) fn parse_literal(ty: FieldType, text: &str, bytes_hex: bool) -> Result<Lit, String> {
    match ty {
        FieldType::Str => Ok(Lit::Str(text.to_owned())),
        FieldType::Bytes if bytes_hex => parse_hex(text).map(Lit::Bytes),
        FieldType::Bytes => Ok(Lit::Bytes(text.as_bytes().to_vec())),
        FieldType::Int64 => {
            let (neg, mag) = parse_number(ty, text)?;
            let n = if neg {
                0i64.checked_sub_unsigned(mag)
            } else {
                i64::try_from(mag).ok()
            };
            n.map(Lit::Int).ok_or_else(|| out_of_range(ty, text))
        }
        FieldType::Uint32 | FieldType::Uint64 | FieldType::RelTime | FieldType::AbsTime => {
            let (neg, mag) = parse_number(ty, text)?;
            if neg && mag != 0 {
                return Err(format!("\"{text}\" is not a valid {ty} number (negative)"));
            }
            if ty == FieldType::Uint32 && mag > u64::from(u32::MAX) {
                return Err(out_of_range(ty, text));
            }
            Ok(Lit::Uint(mag))
        }
        FieldType::Port => parse_port(text).map(|p| Lit::Uint(p.into())),
        FieldType::Bool => match text {
            "true" => Ok(Lit::Bool(true)),
            "false" => Ok(Lit::Bool(false)),
            _ => Err(format!(
                "\"{text}\" is not a valid BOOL value (only true or false)"
            )),
        },
        FieldType::IpAddr => parse_ip(text).map(Lit::Ip),
        FieldType::IpNet => Cidr::parse(text).map(Lit::Net),
    }
}

fn out_of_range(ty: FieldType, text: &str) -> String {
    format!("\"{text}\" is not a valid {ty} number (out of range)")
}

/// `[+-]?` then decimal digits or `0x` hex digits: a sign and a magnitude. Falco reads numbers
/// with `sscanf("%d%c")`, which would also take leading blanks and reject `0x..`; the condition
/// grammar accepts `0x..` after `<`/`>` though, so we take hex everywhere and blanks nowhere.
fn parse_number(ty: FieldType, text: &str) -> Result<(bool, u64), String> {
    let invalid = || format!("\"{text}\" is not a valid {ty} number");
    let (neg, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (digits, radix) = match rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (rest, 10),
    };
    // Checked by hand because `u64::from_str_radix` takes a sign of its own.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(invalid());
    }
    let mag = u64::from_str_radix(digits, radix).map_err(|_| out_of_range(ty, text))?;
    Ok((neg, mag))
}

/// An even-length hex string of either case (`bcontains cafebabe`).
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let invalid =
        || format!("\"{text}\" is not a valid hex string (an even number of hex digits is needed)");
    if !text.len().is_multiple_of(2) {
        return Err(invalid());
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(hi), Some(lo)) => Ok((hi * 16 + lo) as u8),
                _ => Err(invalid()),
            }
        })
        .collect()
}

/// Decimal, or a service name as `getservbyname(name, NULL)` would find it. An empty text is
/// port 0, as in Falco.
fn parse_port(text: &str) -> Result<u16, String> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        if text.is_empty() {
            return Ok(0);
        }
        return text
            .parse()
            .map_err(|_| out_of_range(FieldType::Port, text));
    }
    services()
        .get(text)
        .copied()
        .ok_or_else(|| format!("\"{text}\" is not a valid PORT number nor a known service name"))
}

/// Service names from /etc/services, read once: literals are parsed at load time, possibly
/// many of them, and the file does not change under a running sensor in a way rules could
/// rely on.
fn services() -> &'static HashMap<String, u16> {
    static SERVICES: OnceLock<HashMap<String, u16>> = OnceLock::new();
    SERVICES.get_or_init(|| match std::fs::read_to_string("/etc/services") {
        Ok(text) => parse_services(&text),
        // Minimal container images ship without the file: common names still work.
        Err(_) => BUILTIN_SERVICES
            .iter()
            .map(|&(name, port)| (name.to_owned(), port))
            .collect(),
    })
}

/// Lines `name port/proto [alias...] [# comment]`; tcp and udp entries, first one wins.
fn parse_services(text: &str) -> HashMap<String, u16> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((port, proto)) = port_proto.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if proto != "tcp" && proto != "udp" {
            continue;
        }
        for n in std::iter::once(name).chain(words) {
            map.entry(n.to_owned()).or_insert(port);
        }
    }
    map
}

/// Used only when /etc/services cannot be read.
const BUILTIN_SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("ntp", 123),
    ("netbios-ssn", 139),
    ("imap", 143),
    ("imap2", 143),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("syslog", 514),
    ("submission", 587),
    ("ldaps", 636),
    ("rsync", 873),
    ("imaps", 993),
    ("pop3s", 995),
    ("socks", 1080),
    ("openvpn", 1194),
    ("ms-sql-s", 1433),
    ("nfs", 2049),
    ("mysql", 3306),
    ("postgresql", 5432),
    ("x11", 6000),
    ("http-alt", 8080),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ok(ty: FieldType, text: &str) -> Lit {
        parse_literal(ty, text, false).unwrap_or_else(|e| panic!("{ty} {text:?}: {e}"))
    }

    fn err(ty: FieldType, text: &str) -> String {
        match parse_literal(ty, text, false) {
            Ok(lit) => panic!("{ty} {text:?} accepted as {lit:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn strings_are_verbatim() {
        assert_eq!(ok(FieldType::Str, " a b "), Lit::Str(" a b ".into()));
        assert_eq!(ok(FieldType::Str, ""), Lit::Str(String::new()));
        assert_eq!(ok(FieldType::Str, "<NA>"), Lit::Str("<NA>".into()));
        assert_eq!(ok(FieldType::Str, "true"), Lit::Str("true".into()));
    }

    #[test]
    fn bytes_are_text_or_hex() {
        assert_eq!(ok(FieldType::Bytes, "ab"), Lit::Bytes(b"ab".to_vec()));
        let hex = |t| parse_literal(FieldType::Bytes, t, true);
        assert_eq!(
            hex("cafebabe"),
            Ok(Lit::Bytes(vec![0xca, 0xfe, 0xba, 0xbe]))
        );
        assert_eq!(
            hex("CAFEbabe"),
            Ok(Lit::Bytes(vec![0xca, 0xfe, 0xba, 0xbe]))
        );
        assert_eq!(hex("00ff"), Ok(Lit::Bytes(vec![0, 255])));
        assert_eq!(hex(""), Ok(Lit::Bytes(vec![])));
        for bad in ["abc", "zz", "0x00", "ca fe", "é0", "+1"] {
            let e = hex(bad).unwrap_err();
            assert!(e.contains("hex string"), "{bad}: {e}");
        }
    }

    #[test]
    fn int64() {
        assert_eq!(ok(FieldType::Int64, "0"), Lit::Int(0));
        assert_eq!(ok(FieldType::Int64, "-1"), Lit::Int(-1));
        assert_eq!(ok(FieldType::Int64, "+42"), Lit::Int(42));
        assert_eq!(ok(FieldType::Int64, "0x10"), Lit::Int(16));
        assert_eq!(ok(FieldType::Int64, "-0X1f"), Lit::Int(-31));
        assert_eq!(ok(FieldType::Int64, "007"), Lit::Int(7));
        assert_eq!(
            ok(FieldType::Int64, "9223372036854775807"),
            Lit::Int(i64::MAX)
        );
        assert_eq!(
            ok(FieldType::Int64, "-9223372036854775808"),
            Lit::Int(i64::MIN)
        );
        let e = err(FieldType::Int64, "9223372036854775808");
        assert_eq!(
            e,
            "\"9223372036854775808\" is not a valid INT64 number (out of range)"
        );
        err(FieldType::Int64, "-9223372036854775809");
        err(FieldType::Int64, "99999999999999999999999");
        let e = err(FieldType::Int64, "abc");
        assert_eq!(e, "\"abc\" is not a valid INT64 number");
        for bad in [
            "", "-", "+", "0x", "--1", "+-1", "1.5", "1e3", " 1", "1 ", "12abc", "0x1g", "E", "١",
            "+0x",
        ] {
            err(FieldType::Int64, bad);
        }
    }

    #[test]
    fn uint32() {
        assert_eq!(
            ok(FieldType::Uint32, "4294967295"),
            Lit::Uint(4_294_967_295)
        );
        assert_eq!(
            ok(FieldType::Uint32, "0xffffffff"),
            Lit::Uint(4_294_967_295)
        );
        assert_eq!(ok(FieldType::Uint32, "-0"), Lit::Uint(0));
        let e = err(FieldType::Uint32, "4294967296");
        assert_eq!(
            e,
            "\"4294967296\" is not a valid UINT32 number (out of range)"
        );
        let e = err(FieldType::Uint32, "abc");
        assert_eq!(e, "\"abc\" is not a valid UINT32 number");
        let e = err(FieldType::Uint32, "-1");
        assert!(e.contains("UINT32") && e.contains("negative"), "{e}");
    }

    #[test]
    fn uint64_and_times() {
        for ty in [FieldType::Uint64, FieldType::RelTime, FieldType::AbsTime] {
            assert_eq!(ok(ty, "18446744073709551615"), Lit::Uint(u64::MAX));
            assert_eq!(ok(ty, "+5"), Lit::Uint(5));
            assert_eq!(ok(ty, "0x0"), Lit::Uint(0));
            let e = err(ty, "18446744073709551616");
            assert!(e.contains("out of range") && e.contains(ty.name()), "{e}");
            let e = err(ty, "-1");
            assert!(e.contains(ty.name()), "{e}");
            err(ty, "1s");
            err(ty, "");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(ok(FieldType::Port, "80"), Lit::Uint(80));
        assert_eq!(ok(FieldType::Port, "65535"), Lit::Uint(65535));
        assert_eq!(ok(FieldType::Port, "0"), Lit::Uint(0));
        // Falco's value parser maps an empty port to 0.
        assert_eq!(ok(FieldType::Port, ""), Lit::Uint(0));
        assert_eq!(ok(FieldType::Port, "ssh"), Lit::Uint(22));
        assert_eq!(ok(FieldType::Port, "http"), Lit::Uint(80));
        assert_eq!(ok(FieldType::Port, "https"), Lit::Uint(443));
        assert_eq!(ok(FieldType::Port, "domain"), Lit::Uint(53));
        let e = err(FieldType::Port, "65536");
        assert!(e.contains("PORT") && e.contains("out of range"), "{e}");
        let e = err(FieldType::Port, "no-such-service");
        assert!(e.contains("service name"), "{e}");
        err(FieldType::Port, "-1");
        err(FieldType::Port, "HTTP");
    }

    #[test]
    fn services_file_format() {
        let map = parse_services(
            "# comment\n\
             \n\
             ssh\t\t22/tcp\t\t\t# SSH Remote Login Protocol\n\
             http  80/tcp  www  # WorldWideWeb HTTP\n\
             domain 53/udp\n\
             domain 5353/tcp\n\
             sctponly 9999/sctp\n\
             broken\n\
             bad 99999/tcp\n\
             noproto 12\n",
        );
        assert_eq!(map.get("ssh"), Some(&22));
        assert_eq!(map.get("http"), Some(&80));
        assert_eq!(map.get("www"), Some(&80));
        assert_eq!(map.get("domain"), Some(&53));
        assert_eq!(map.get("sctponly"), None);
        assert_eq!(map.get("broken"), None);
        assert_eq!(map.get("bad"), None);
        assert_eq!(map.get("noproto"), None);
        assert_eq!(map.get("#"), None);
    }

    #[test]
    fn bools_are_lower_case_words_only() {
        assert_eq!(ok(FieldType::Bool, "true"), Lit::Bool(true));
        assert_eq!(ok(FieldType::Bool, "false"), Lit::Bool(false));
        let e = err(FieldType::Bool, "True");
        assert!(e.contains("BOOL") && e.contains("\"True\""), "{e}");
        for bad in ["TRUE", "1", "0", "yes", "", " true"] {
            err(FieldType::Bool, bad);
        }
    }

    #[test]
    fn ip_addresses_and_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(ok(FieldType::IpAddr, "10.0.0.1"), Lit::Ip(ip("10.0.0.1")));
        assert_eq!(ok(FieldType::IpAddr, "::1"), Lit::Ip(ip("::1")));
        err(FieldType::IpAddr, "10.0.0.0/8");
        err(FieldType::IpAddr, "host");
        assert_eq!(
            ok(FieldType::IpNet, "10.0.0.0/8"),
            Lit::Net(Cidr {
                addr: ip("10.0.0.0"),
                prefix: 8
            })
        );
        assert_eq!(
            ok(FieldType::IpNet, "fd00::/8"),
            Lit::Net(Cidr {
                addr: ip("fd00::"),
                prefix: 8
            })
        );
        err(FieldType::IpNet, "10.0.0.0");
        err(FieldType::IpNet, "10.0.0.0/33");
        err(FieldType::IpNet, "foo/8");
    }
}
