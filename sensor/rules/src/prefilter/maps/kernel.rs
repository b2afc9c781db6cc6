//! The kernel's decision, over the maps as the kernel reads them: headers, the hash and the
//! tries (emulated: the longest entry that prefixes the query), the needle scan, the terms.

use super::{
    CommKey, KNeedle, KTerm, LpmKey, MODE_DROP, MODE_FILTER, Maps, USES_COMM, USES_DIRS,
    USES_NEEDLES, USES_PATH, USES_SUFFIX,
};
use lanner_common::prefilter::{in_gate, net_dim};

use crate::{
    evttype::EvtType,
    prefilter::{
        facts::{KernelFacts, kind_bit},
        term::dirname,
    },
};

impl Maps {
    /// What the kernel decides for an event of type `ty`.
    pub fn admits(&self, ty: EvtType, facts: &KernelFacts) -> bool {
        let ty = ty as u16;
        let header = self
            .headers
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, h)| *h)
            .unwrap_or_default();
        match header.mode {
            MODE_DROP => return false,
            MODE_FILTER => {}
            _ => return true,
        }
        let comm_bits = if header.uses & USES_COMM != 0 {
            let key = CommKey {
                ty: u32::from(ty),
                comm: facts.comm,
            };
            self.comm
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(0, |(_, v)| *v)
        } else {
            0
        };
        let mut path_bits = 0;
        if header.uses & USES_PATH != 0 {
            let (abs, raw) = (facts.path.decidable(), facts.path.raw_decidable());
            if abs.is_none() {
                path_bits |= header.abs_clauses;
            }
            if raw.is_none() {
                path_bits |= header.raw_clauses;
            }
            if let Some(p) = abs {
                // Each lookup behind its gate, as the kernel makes it.
                let key = [p, &[0]].concat();
                // A byte past the key's NUL is whatever the kernel's buffer held: 0 here (a key
                // that ends there puts every second byte in its gate).
                let at = |k: &[u8], i: usize| k.get(i).copied().unwrap_or(0);
                if in_gate(&header.prefix_gate, key[1], at(&key, 2)) {
                    path_bits |= lpm(&self.prefix, ty, &key);
                }
                let rev: Vec<u8> = p.iter().rev().copied().collect();
                if header.uses & USES_SUFFIX != 0
                    && in_gate(&header.suffix_gate, rev[0], at(&rev, 1))
                {
                    path_bits |= lpm(&self.suffix, ty, &rev);
                }
                if header.uses & USES_DIRS != 0
                    && let Some(d) = dirname(p)
                {
                    let key = [d, &[0]].concat();
                    if in_gate(&header.dir_gate, key[1], at(&key, 2)) {
                        path_bits |= lpm(&self.dirs, ty, &key);
                    }
                }
            }
            if header.uses & USES_NEEDLES != 0
                && let Some(r) = raw
            {
                let first = header.first_needle as usize;
                let needles = self
                    .needles
                    .get(first..first + usize::from(header.n_needles))
                    .unwrap_or_default();
                path_bits |= scan(r, needles, abs.is_some());
            }
        }
        let first = header.first as usize;
        let terms = self
            .terms
            .get(first..first + usize::from(header.n_terms))
            .unwrap_or_default();
        terms.iter().any(|t| {
            let uids = t.uid.map(|r| [i64::from(r[0]), i64::from(r[1])]);
            (comm_bits ^ t.comm_neg) & t.comm_need == t.comm_need
                && path_bits & t.path_need == t.path_need
                && in_ranges(&uids, t.n_uid, i64::from(facts.uid))
                && facts.ret.is_none_or(|r| in_ranges(&t.ret, t.n_ret, r))
                && t.kind & kind_bit(facts.kind) != 0
                && facts
                    .flags
                    .is_none_or(|f| f & t.flags_set == t.flags_set && f & t.flags_clear == 0)
                && facts.l4.is_none_or(|i| t.l4 & (1 << i) != 0)
                && facts.server.is_none_or(|(ip, port)| {
                    in_net(t, net_dim::SIP, ip) && in_net(t, net_dim::SPORT, u32::from(port))
                })
                && facts.client.is_none_or(|(ip, port)| {
                    in_net(t, net_dim::CIP, ip) && in_net(t, net_dim::CPORT, u32::from(port))
                })
        })
    }
}

fn in_net(t: &KTerm, dim: usize, v: u32) -> bool {
    let n = t.n_net[dim];
    n == 0
        || t.net[dim]
            .iter()
            .take(usize::from(n))
            .any(|r| r[0] <= v && v <= r[1])
}

fn in_ranges(rs: &[[i64; 2]], n: u8, v: i64) -> bool {
    n == 0
        || rs
            .iter()
            .take(usize::from(n))
            .any(|r| r[0] <= v && v <= r[1])
}

/// The longest entry of type `ty` that is a prefix of `query`, as an LPM trie answers.
fn lpm(entries: &[(LpmKey, u64)], ty: u16, query: &[u8]) -> u64 {
    let ty = ty.to_be_bytes();
    entries
        .iter()
        .filter(|(k, _)| k.data[..super::LPM_TYPE_BYTES] == ty && query.starts_with(k.bytes()))
        .max_by_key(|(k, _)| k.prefixlen)
        .map_or(0, |(_, v)| *v)
}

/// The clause bits of the needles found in `path`, as the kernel's single pass finds them:
/// the last 8 bytes in a shift register, each needle compared under its length's mask. A
/// needle on `fd.name` counts only when the path is decidable (`abs`): then it is `fd.name`.
fn scan(path: &[u8], needles: &[KNeedle], abs: bool) -> u64 {
    let mut window: u64 = 0;
    let mut bits = 0;
    for (i, &b) in path.iter().enumerate() {
        window = (window << 8) | u64::from(b);
        for n in needles {
            let len = usize::from(n.len);
            if len == 0 || len > i + 1 || (n.raw == 0 && !abs) {
                continue;
            }
            // The needle's bytes, first byte highest, as they sit in the window.
            let want = n.bytes[..len]
                .iter()
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
            let mask = if len == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * len)) - 1
            };
            if window & mask == want {
                bits |= n.clauses;
            }
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use lanner_common::prefilter::{pair_in, pair_table};
    use proptest::prelude::*;

    use super::{KNeedle, scan};
    use crate::prefilter::facts::is_absolute_normalized;

    fn needle(s: &[u8], raw: bool) -> KNeedle {
        let mut bytes = [0; 8];
        bytes[..s.len()].copy_from_slice(s);
        KNeedle {
            bytes,
            len: s.len() as u8,
            raw: u8::from(raw),
            clauses: 1,
            ..KNeedle::default()
        }
    }

    /// The official open needles, and one of one byte.
    fn needles() -> Vec<KNeedle> {
        let mut v: Vec<KNeedle> = [&b"/.ssh/"[..], b"fish_rea", b"id_rsa", b"liblzma."]
            .iter()
            .map(|s| needle(s, false))
            .collect();
        v.push(needle(b"../", true));
        v.push(needle(b"~", false));
        v
    }

    proptest! {
        /// What the kernel's fast pass relies on: a path in which no pair of the table occurs
        /// (the byte before the first reading as 0) has no needle, and is normalized iff it
        /// starts with `/` and is `/` or does not end with one.
        #[test]
        fn a_path_without_a_pair_of_the_table_is_decided_by_its_ends(
            path in proptest::collection::vec(
                prop_oneof![
                    Just(b'/'), Just(b'.'), Just(b'a'), Just(b's'), Just(b'h'), Just(b'e'),
                    Just(b'~'), Just(0u8), any::<u8>(),
                ],
                0..40,
            )
        ) {
            let n = needles();
            let t = pair_table(&n);
            let clean = path
                .iter()
                .enumerate()
                .all(|(i, &b)| !pair_in(&t, if i == 0 { 0 } else { path[i - 1] }, b));
            if clean {
                prop_assert_eq!(scan(&path, &n, true), 0);
                let ends = path.first() == Some(&b'/')
                    && (path.len() == 1 || path.last() != Some(&b'/'));
                prop_assert_eq!(is_absolute_normalized(&path), ends);
            }
        }
    }

    #[test]
    fn an_ordinary_path_is_clean_and_needles_and_dots_are_not() {
        let t = pair_table(&needles());
        let clean = |p: &[u8]| {
            p.iter()
                .enumerate()
                .all(|(i, &b)| !pair_in(&t, if i == 0 { 0 } else { p[i - 1] }, b))
        };
        assert!(clean(b"/tmp/lanner-workload-open.1234/plain.txt"));
        for p in [
            &b"/root/.ssh/id_rsa"[..],
            b"/a//b",
            b"/a/./b",
            b"x/../y",
            b"/tmp/~",
        ] {
            assert!(!clean(p), "{}", String::from_utf8_lossy(p));
        }
    }
}
