//! Terms as text, for `-L`, logs and test output.

use std::fmt;

use super::{
    facts::{ALL_KINDS, KINDS, L4_NAMES, l4},
    probe::flag,
    term::{Comm, IP_ALL, PORT_ALL, Pattern, RET_ALL, Ranges, Term, UID_ALL},
};

impl fmt::Display for Term {
    /// `proc.name not in {sshd, sudo} and flags +read and ret in [0, max] and kind in {f}
    /// and path in {=/etc/shadow, /etc/pam.d/…}`; `anything` when unconstrained.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let few = |items: Vec<String>| {
            let n = items.len();
            let mut shown: Vec<String> = items.into_iter().take(4).collect();
            if n > 4 {
                shown.push(format!("+{}", n - 4));
            }
            shown.join(", ")
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match &self.comm {
            Comm::Any => {}
            Comm::In(s) => parts.push(format!(
                "proc.name in {{{}}}",
                few(s.iter().map(|b| text(b)).collect())
            )),
            Comm::NotIn(s) => parts.push(format!(
                "proc.name not in {{{}}}",
                few(s.iter().map(|b| text(b)).collect())
            )),
        }
        let ranges = |r: &Ranges| {
            let end = |v: i64| match v {
                i64::MIN => "min".to_string(),
                i64::MAX => "max".to_string(),
                v => v.to_string(),
            };
            few(r
                .0
                .iter()
                .map(|&(lo, hi)| format!("[{}, {}]", end(lo), end(hi)))
                .collect())
        };
        if !self.uid.covers(&Ranges::of(UID_ALL.0, UID_ALL.1)) {
            parts.push(format!("user.uid in {}", ranges(&self.uid)));
        }
        if !self.ret.covers(&Ranges::of(RET_ALL.0, RET_ALL.1)) {
            parts.push(format!("ret in {}", ranges(&self.ret)));
        }
        if self.kind != ALL_KINDS {
            let kinds = (0..=KINDS.len())
                .filter(|&i| self.kind & (1 << i) != 0)
                .map(|i| KINDS.get(i).map_or("none", |k| k.1).to_string())
                .collect();
            parts.push(format!("kind in {{{}}}", few(kinds)));
        }
        if self.flags_set | self.flags_clear != 0 {
            let flags: Vec<String> = flag::NAMES
                .iter()
                .filter_map(|&(bit, name)| {
                    if self.flags_set & bit != 0 {
                        Some(format!("+{name}"))
                    } else if self.flags_clear & bit != 0 {
                        Some(format!("-{name}"))
                    } else {
                        None
                    }
                })
                .collect();
            parts.push(format!("flags {}", flags.join(" ")));
        }
        if self.l4 != l4::ALL {
            let names = (0..=l4::NONE)
                .filter(|&i| self.l4 & (1 << i) != 0)
                .map(|i| L4_NAMES.get(usize::from(i)).unwrap_or(&"none").to_string())
                .collect();
            parts.push(format!("l4proto in {{{}}}", few(names)));
        }
        let ips = |r: &Ranges| {
            let ip = |v: i64| std::net::Ipv4Addr::from(v as u32).to_string();
            few(r
                .0
                .iter()
                .map(|&(lo, hi)| match lo == hi {
                    true => ip(lo),
                    false => format!("[{}, {}]", ip(lo), ip(hi)),
                })
                .collect())
        };
        for (name, end) in [("server", &self.server), ("client", &self.client)] {
            if !end.ip.covers(&Ranges::of(IP_ALL.0, IP_ALL.1)) {
                parts.push(format!("{name} ip in {{{}}}", ips(&end.ip)));
            }
            if !end.port.covers(&Ranges::of(PORT_ALL.0, PORT_ALL.1)) {
                parts.push(format!("{name} port in {}", ranges(&end.port)));
            }
        }
        for c in &self.paths {
            let pats = c
                .iter()
                .map(|p| match p {
                    Pattern::Exact(b) => format!("={}", text(b)),
                    Pattern::Prefix(b) => format!("{}…", text(b)),
                    Pattern::Suffix(b) => format!("…{}", text(b)),
                    Pattern::Dir(b) => format!("{}/*", text(b).trim_end_matches('/')),
                    Pattern::Contains(b) => format!("…{}…", text(b)),
                    Pattern::RawContains(b) => format!("raw …{}…", text(b)),
                })
                .collect();
            parts.push(format!("path in {{{}}}", few(pats)));
        }
        if parts.is_empty() {
            f.write_str("anything")
        } else {
            f.write_str(&parts.join(" and "))
        }
    }
}
