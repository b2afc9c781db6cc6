//! Checks on the ends of a connection (`fd.sip`, `fd.cport`, `fd.snet`, and `fd.ip`,
//! `fd.port`, `fd.net`, which hold if either end does): projected onto the kernel's IPv4
//! address and port ranges of each end (`term::EndRanges`).
//!
//! As for numbers, the engine itself decides: the domain is cut at each literal's boundaries
//! (an address and the next one, a network's first address and the one after its last), the
//! check is constant on each piece, and one value per piece is run through it. A check on
//! either end is run on every pair of pieces, the client's and the server's.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
};

use super::{
    Dnf,
    atom::{literal_numbers, pieces},
    probe::{Binding, EndPart, Probe, Side},
    term::{IP_ALL, PORT_ALL, Ranges, Term},
};
use crate::{
    ast::Op,
    event::{EventSource, FieldArg},
    evttype::EvtType,
    fields::Field,
    filter::{CheckNode, Extractor, Rhs},
    ops::Lit,
    value::Value,
};

/// Pieces of a check on both ends, at most: a longer list of literals leaves it untestable
/// (its pairs would be run through the engine one by one).
const MAX_PIECES: usize = 64;

/// The boundaries of the IPv4 literals of an address check: `None` if it has an operator or
/// literal whose truth need not be constant between them. An IPv6 literal has none: the
/// engine never finds an IPv4 value equal to one, nor inside an IPv6 network.
fn ip_cuts(rhs: &Rhs, op: Op) -> Option<Vec<i128>> {
    if op == Op::Exists {
        return Some(Vec::new());
    }
    if !matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects) {
        return None;
    }
    let lits: Vec<&Lit> = match rhs {
        Rhs::One(l) => vec![l],
        Rhs::Lits(ls) => ls.iter().collect(),
        _ => return None,
    };
    let mut cuts = Vec::new();
    for l in lits {
        match l {
            Lit::Ip(IpAddr::V4(a)) => {
                let n = i128::from(u32::from(*a));
                cuts.extend([n, n + 1]);
            }
            Lit::Net(net) => {
                if let IpAddr::V4(a) = net.addr {
                    let mask = u32::MAX
                        .checked_shl(32 - u32::from(net.prefix.min(32)))
                        .unwrap_or(0);
                    let lo = u32::from(a) & mask;
                    let hi = lo | !mask;
                    cuts.extend([i128::from(lo), i128::from(hi) + 1]);
                }
            }
            Lit::Ip(IpAddr::V6(_)) => {}
            _ => return None,
        }
    }
    Some(cuts)
}

/// The pieces of `part`'s domain on which the check is constant (cut at its literals'
/// boundaries); `None` if it is not a check the pieces decide.
pub(super) fn pieces_of(c: &CheckNode, part: EndPart) -> Option<Vec<(i64, i64)>> {
    let (domain, cuts) = match part {
        EndPart::Ip => (IP_ALL, ip_cuts(&c.rhs, c.op)?),
        EndPart::Port => (
            PORT_ALL,
            literal_numbers(c)?
                .into_iter()
                .flat_map(|n| [n, n + 1])
                .collect(),
        ),
    };
    Some(pieces(domain, cuts.into_iter()))
}

/// The field's value for the number `n` of `part`'s domain.
pub(super) fn part_value(part: EndPart, n: i64) -> Value<'static> {
    match part {
        EndPart::Ip => Value::Ip(IpAddr::V4(Ipv4Addr::from(n as u32))),
        EndPart::Port => Value::Uint(n as u64),
    }
}

/// A term constraining one part of one end to `ranges`.
pub(super) fn term_with(side: Side, part: EndPart, ranges: Ranges) -> Term {
    let mut t = Term::top();
    let end = match side {
        Side::Server => &mut t.server,
        Side::Client => &mut t.client,
    };
    match part {
        EndPart::Ip => end.ip = ranges,
        EndPart::Port => end.port = ranges,
    }
    t
}

/// `fd.ip`, `fd.port`, `fd.net`: the terms under which the check on the two ends comes out
/// as wanted; `None` if the probe does not bind both ends or the check is not one the pieces
/// decide.
pub(super) fn either(
    c: &CheckNode,
    want: bool,
    probe: &Probe,
    ty: EvtType,
    client: &Extractor,
    server: &Extractor,
) -> Option<Dnf> {
    if !client.transforms.is_empty() || !server.transforms.is_empty() {
        return None;
    }
    let part = match (
        probe.binding(client.field, &client.arg)?,
        probe.binding(server.field, &server.arg)?,
    ) {
        (Binding::End(Side::Client, a), Binding::End(Side::Server, b)) if a == b => a,
        _ => return None,
    };
    let ps = pieces_of(c, part)?;
    if ps.len() > MAX_PIECES {
        return None;
    }
    // Per server piece, the client pieces on which the check holds; server pieces with the
    // same client pieces make one term.
    let mut by_clients: BTreeMap<Vec<bool>, Ranges> = BTreeMap::new();
    for &(s_lo, s_hi) in &ps {
        let row: Vec<bool> = ps
            .iter()
            .map(|&(c_lo, _)| {
                let ev = Ends {
                    ty,
                    client: (client.field, &client.arg, part_value(part, c_lo)),
                    server: (server.field, &server.arg, part_value(part, s_lo)),
                };
                c.eval(&ev) == want
            })
            .collect();
        by_clients
            .entry(row)
            .or_insert_with(Ranges::empty)
            .push(s_lo, s_hi);
    }
    let mut out = Vec::new();
    for (row, servers) in by_clients {
        let mut clients = Ranges::empty();
        for (&(lo, hi), _) in ps.iter().zip(&row).filter(|(_, hit)| **hit) {
            clients.push(lo, hi);
        }
        if clients.is_empty() {
            continue;
        }
        let mut t = term_with(Side::Server, part, servers);
        let end = term_with(Side::Client, part, clients);
        t.client = end.client;
        out.push(t);
    }
    Some(out)
}

/// An event with both ends' fields of one check.
struct Ends<'v> {
    ty: EvtType,
    client: (Field, &'v FieldArg, Value<'static>),
    server: (Field, &'v FieldArg, Value<'static>),
}

impl EventSource for Ends<'_> {
    fn evt_type(&self) -> EvtType {
        self.ty
    }
    fn extract(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>> {
        [&self.client, &self.server]
            .into_iter()
            .find(|(f, a, _)| *f == field && *a == arg)
            .map(|(_, _, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prefilter::{
        Options, derive,
        facts::{KernelFacts, admits},
    };

    fn v4(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    /// A connect from `client` to `server`, as the probe reads it.
    fn connect(server: (&str, u16), client: (&str, u16), l4: u8) -> KernelFacts {
        KernelFacts {
            ret: Some(0),
            l4: Some(l4),
            server: Some((v4(server.0), server.1)),
            client: Some((v4(client.0), client.1)),
            ..KernelFacts::task(KernelFacts::comm_of(b"curl"), 0)
        }
    }

    fn filter(cond: &str) -> crate::prefilter::TypeFilter {
        let rs = super::super::world::load_text(&format!(
            "- rule: r\n  desc: d\n  condition: evt.type = connect and {cond}\n  output: o\n  priority: WARNING\n"
        ));
        derive(&rs, EvtType::Connect, &Probe::CONNECT, &Options::default())
    }

    /// `fd.net != 127.0.0.0/8`: neither end in loopback; `fd.ip = X`: either end is X.
    #[test]
    fn either_end_checks_are_exact_on_both_ends() {
        use crate::prefilter::facts::l4::TCP;
        let f = filter("fd.net != \"127.0.0.0/8\"");
        assert!(!admits(
            &f,
            &connect(("127.0.0.1", 80), ("10.0.0.1", 5), TCP)
        ));
        assert!(!admits(
            &f,
            &connect(("10.0.0.2", 80), ("127.0.0.1", 5), TCP)
        ));
        assert!(admits(&f, &connect(("10.0.0.2", 80), ("10.0.0.1", 5), TCP)));
        let f = filter("fd.ip = \"169.254.169.254\"");
        assert!(admits(
            &f,
            &connect(("169.254.169.254", 80), ("10.0.0.1", 5), TCP)
        ));
        assert!(admits(
            &f,
            &connect(("10.0.0.3", 80), ("169.254.169.254", 5), TCP)
        ));
        assert!(!admits(
            &f,
            &connect(("10.0.0.3", 80), ("10.0.0.1", 5), TCP)
        ));
        let f = filter("not fd.port in (53, 443)");
        assert!(!admits(&f, &connect(("8.8.8.8", 53), ("10.0.0.1", 5), TCP)));
        assert!(!admits(
            &f,
            &connect(("8.8.8.8", 9), ("10.0.0.1", 443), TCP)
        ));
        assert!(admits(&f, &connect(("8.8.8.8", 9), ("10.0.0.1", 444), TCP)));
        // An end the probe did not read holds every constraint.
        let mut unknown = connect(("127.0.0.1", 80), ("10.0.0.1", 5), TCP);
        unknown.server = None;
        assert!(admits(&filter("fd.net != \"127.0.0.0/8\""), &unknown));
    }

    #[test]
    fn l4proto_and_server_checks() {
        use crate::prefilter::facts::l4::{TCP, UDP};
        let f = filter("fd.l4proto = udp and fd.sip = \"169.254.169.254\"");
        assert!(admits(
            &f,
            &connect(("169.254.169.254", 80), ("10.0.0.1", 5), UDP)
        ));
        assert!(!admits(
            &f,
            &connect(("169.254.169.254", 80), ("10.0.0.1", 5), TCP)
        ));
        assert!(!admits(
            &f,
            &connect(("169.254.169.253", 80), ("10.0.0.1", 5), UDP)
        ));
        let f = filter("fd.snet in (\"10.0.0.0/8\", \"192.168.0.0/16\")");
        assert!(admits(
            &f,
            &connect(("10.255.255.255", 1), ("1.1.1.1", 5), TCP)
        ));
        assert!(!admits(&f, &connect(("11.0.0.0", 1), ("10.0.0.1", 5), TCP)));
    }
}
