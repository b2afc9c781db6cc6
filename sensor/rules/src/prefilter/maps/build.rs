//! The maps from the filters: bits for name sets and path clauses, entries with the bits of
//! what holds them, terms in the kernel's form. Types that do not fit pass instead.

use std::collections::{BTreeSet, HashMap};

use super::{
    COMM_MAP_ENTRIES, CommKey, DIR_MAP_ENTRIES, KNeedle, KTerm, LpmKey, MAX_NEEDLE_SLOTS,
    MAX_NEEDLES_PER_TYPE, MAX_RANGES, MAX_TERM_SLOTS, MAX_TERMS_PER_TYPE, MODE_DROP, MODE_FILTER,
    Maps, PREFIX_MAP_ENTRIES, SUFFIX_MAP_ENTRIES, TypeHeader, USES_COMM, USES_DIRS,
    USES_EXIT_FACTS, USES_FAILURES, USES_NEEDLES, USES_PATH, USES_SUFFIX,
};
use lanner_common::prefilter::{MAX_NET_RANGES, gate_add, net_dim};

use crate::{
    evttype::EvtType,
    prefilter::{
        Cost, PassReason, TypeFilter,
        facts::{ALL_KINDS, l4},
        term::{Comm, IP_ALL, PORT_ALL, PathClause, Pattern, RET_ALL, Ranges, Term, UID_ALL},
    },
};

/// One type's part of the maps.
#[derive(Default)]
struct Part {
    header: TypeHeader,
    terms: Vec<KTerm>,
    needles: Vec<KNeedle>,
    comm: Vec<(CommKey, u64)>,
    prefix: Vec<(LpmKey, u64)>,
    suffix: Vec<(LpmKey, u64)>,
    dirs: Vec<(LpmKey, u64)>,
}

impl Part {
    fn used(&self) -> [usize; 6] {
        [
            self.terms.len(),
            self.needles.len(),
            self.comm.len(),
            self.prefix.len(),
            self.suffix.len(),
            self.dirs.len(),
        ]
    }
}

impl Maps {
    /// The maps for these types. A type that does not fit passes instead (its verdict is
    /// replaced, saying which budget): first one over a per-type bound, then, while a map is
    /// full, the type using most of it.
    pub fn build(filters: &mut [(EvtType, TypeFilter)]) -> Maps {
        let capacity = [
            ("term slots", MAX_TERM_SLOTS),
            ("needle slots", MAX_NEEDLE_SLOTS),
            ("proc.name keys", COMM_MAP_ENTRIES),
            ("path prefix keys", PREFIX_MAP_ENTRIES),
            ("path suffix keys", SUFFIX_MAP_ENTRIES),
            ("directory keys", DIR_MAP_ENTRIES),
        ];
        for (_, f) in filters.iter_mut() {
            if let Some(over) = over_type_bounds(f) {
                *f = TypeFilter::Pass(vec![over]);
            }
        }
        loop {
            let parts: Vec<(u16, Part)> = filters
                .iter()
                .map(|(ty, f)| (*ty as u16, part(*ty as u16, f)))
                .collect();
            let mut totals = [0; 6];
            for (_, p) in &parts {
                for (t, u) in totals.iter_mut().zip(p.used()) {
                    *t += u;
                }
            }
            let Some(i) = (0..capacity.len()).find(|&i| totals[i] > capacity[i].1) else {
                return assemble(parts);
            };
            let Some(worst) = (0..parts.len()).max_by_key(|&j| parts[j].1.used()[i]) else {
                return assemble(parts);
            };
            filters[worst].1 = TypeFilter::Pass(vec![PassReason::OverBudget {
                what: capacity[i].0,
                needed: totals[i],
                limit: capacity[i].1,
            }]);
        }
    }
}

/// What one type's part cannot exceed: the loop bound, the needle slots, the bits of a u64.
fn over_type_bounds(f: &TypeFilter) -> Option<PassReason> {
    let TypeFilter::Filter(flt) = f else {
        return None;
    };
    let cost = Cost::of(&flt.terms);
    [
        ("terms", flt.terms.len(), MAX_TERMS_PER_TYPE),
        ("path needles", cost.needles, MAX_NEEDLES_PER_TYPE),
        ("proc.name sets", cost.comm_sets, 64),
        ("path clauses", cost.path_clauses, 64),
    ]
    .into_iter()
    .find(|(_, n, limit)| n > limit)
    .map(|(what, needed, limit)| PassReason::OverBudget {
        what,
        needed,
        limit,
    })
}

fn assemble(parts: Vec<(u16, Part)>) -> Maps {
    let mut maps = Maps::default();
    for (ty, mut p) in parts {
        p.header.first = maps.terms.len() as u32;
        p.header.first_needle = maps.needles.len() as u32;
        maps.headers.push((ty, p.header));
        maps.terms.extend(p.terms);
        maps.needles.extend(p.needles);
        maps.comm.extend(p.comm);
        maps.prefix.extend(p.prefix);
        maps.suffix.extend(p.suffix);
        maps.dirs.extend(p.dirs);
    }
    maps
}

/// The position of `x` in `v`, added if new (its bit).
fn index_of<T: PartialEq>(v: &mut Vec<T>, x: T) -> usize {
    match v.iter().position(|y| *y == x) {
        Some(i) => i,
        None => {
            v.push(x);
            v.len() - 1
        }
    }
}

fn part(ty: u16, f: &TypeFilter) -> Part {
    let f = match f {
        TypeFilter::Pass(_) => return Part::default(),
        TypeFilter::Drop => {
            return Part {
                header: TypeHeader {
                    mode: MODE_DROP,
                    ..TypeHeader::default()
                },
                ..Part::default()
            };
        }
        TypeFilter::Filter(f) => f,
    };
    // Bits: one per distinct name set, one per distinct path clause.
    let mut sets: Vec<&BTreeSet<Vec<u8>>> = Vec::new();
    let mut clauses: Vec<&PathClause> = Vec::new();
    let mut terms = Vec::new();
    for t in &f.terms {
        let mut k = kterm(t);
        if let Comm::In(s) | Comm::NotIn(s) = &t.comm {
            let bit = 1u64 << index_of(&mut sets, s);
            k.comm_need = bit;
            k.comm_neg = if matches!(t.comm, Comm::NotIn(_)) {
                bit
            } else {
                0
            };
        }
        for c in &t.paths {
            k.path_need |= 1u64 << index_of(&mut clauses, c);
        }
        terms.push(k);
    }
    // The terms that need no path first: the probe tries them before it reads the path.
    terms.sort_by_key(|k| k.path_need != 0);
    let n_free = terms.iter().filter(|k| k.path_need == 0).count() as u8;
    // Entries: each key with the bits of the sets / clauses that hold it.
    let mut comm: HashMap<Vec<u8>, u64> = HashMap::new();
    for (i, s) in sets.iter().enumerate() {
        for name in s.iter() {
            *comm.entry(name.clone()).or_default() |= 1 << i;
        }
    }
    let (mut prefix, mut suffix, mut needles) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut dirs = HashMap::new();
    let (mut abs_clauses, mut raw_clauses) = (0u64, 0u64);
    for (i, c) in clauses.iter().enumerate() {
        for p in c.iter() {
            let bit = 1u64 << i;
            if p.is_raw() {
                raw_clauses |= bit;
            } else {
                abs_clauses |= bit;
            }
            let (map, key) = match p {
                Pattern::Exact(b) => (&mut prefix, [b.as_slice(), &[0]].concat()),
                Pattern::Prefix(b) => (&mut prefix, b.clone()),
                Pattern::Suffix(b) => (&mut suffix, b.iter().rev().copied().collect()),
                Pattern::Dir(b) => (&mut dirs, b.clone()),
                Pattern::Contains(b) => (&mut needles, [&[0], b.as_slice()].concat()),
                Pattern::RawContains(b) => (&mut needles, [&[1], b.as_slice()].concat()),
            };
            *map.entry(key).or_insert(0u64) |= bit;
        }
    }
    let comm = comm
        .into_iter()
        .map(|(name, bits)| {
            let mut c = [0u8; 16];
            c[..name.len()].copy_from_slice(&name);
            let key = CommKey {
                ty: u32::from(ty),
                comm: c,
            };
            (key, bits)
        })
        .collect();
    let mut needles: Vec<KNeedle> = needles
        .into_iter()
        .map(|(key, clauses)| {
            let (raw, b) = (key[0], &key[1..]);
            let mut bytes = [0u8; 8];
            bytes[..b.len()].copy_from_slice(b);
            KNeedle {
                bytes,
                len: b.len() as u8,
                raw,
                _pad: [0; 6],
                clauses,
            }
        })
        .collect();
    needles.sort_by_key(|n| (n.raw, n.bytes, n.len));
    let mut uses = 0;
    if !sets.is_empty() {
        uses |= USES_COMM;
    }
    if !clauses.is_empty() {
        uses |= USES_PATH;
    }
    if !suffix.is_empty() {
        uses |= USES_SUFFIX;
    }
    if !needles.is_empty() {
        uses |= USES_NEEDLES;
    }
    if !dirs.is_empty() {
        uses |= USES_DIRS;
    }
    if terms.iter().any(|t| {
        t.n_ret != 0
            || t.kind & ALL_KINDS != ALL_KINDS
            || t.l4 != l4::ALL
            || t.n_net[net_dim::CIP] != 0
            || t.n_net[net_dim::CPORT] != 0
    }) {
        uses |= USES_EXIT_FACTS;
    }
    if terms
        .iter()
        .any(|t| t.n_ret == 0 || t.ret.iter().take(usize::from(t.n_ret)).any(|r| r[0] < 0))
    {
        uses |= USES_FAILURES;
    }
    // A directory too long for a key never holds a decidable path's file: left out.
    let dirs: Vec<(LpmKey, u64)> = dirs
        .into_iter()
        .filter_map(|(d, bits)| Some((LpmKey::dir(ty, &d)?, bits)))
        .collect();
    let (prefix, suffix) = (lpm_entries(ty, prefix), lpm_entries(ty, suffix));
    Part {
        header: TypeHeader {
            mode: MODE_FILTER,
            uses,
            n_terms: terms.len() as u8,
            n_needles: needles.len() as u8,
            n_free,
            abs_clauses,
            raw_clauses,
            prefix_gate: gate(&prefix, 1),
            suffix_gate: gate(&suffix, 0),
            dir_gate: gate(&dirs, 1),
            ..TypeHeader::default()
        },
        terms,
        needles,
        comm,
        prefix,
        suffix,
        dirs,
    }
}

/// The pairs at `at`, `at + 1` of the keys' path bytes (every second byte if a key ends
/// between them, every pair if before): a lookup whose key has another pair there matches
/// none of them (`TypeHeader::prefix_gate`).
fn gate(keys: &[(LpmKey, u64)], at: usize) -> [u64; 4] {
    let mut g = [0u64; 4];
    for (k, _) in keys {
        let bytes = k.bytes();
        match (bytes.get(at), bytes.get(at + 1)) {
            (Some(&a), Some(&b)) => gate_add(&mut g, a, b),
            (Some(&a), None) => (0..=255).for_each(|b| gate_add(&mut g, a, b)),
            (None, _) => return [u64::MAX; 4],
        }
    }
    g
}

/// Trie entries whose values include the bits of every shorter entry that prefixes them.
/// Keys too long for a trie are left out: a path that long is never decidable, so its
/// clauses hold anyway.
fn lpm_entries(ty: u16, keys: HashMap<Vec<u8>, u64>) -> Vec<(LpmKey, u64)> {
    let mut out: Vec<(LpmKey, u64)> = keys
        .keys()
        .filter_map(|k| {
            let bits = keys
                .iter()
                .filter(|(o, _)| k.starts_with(o))
                .fold(0, |a, (_, b)| a | b);
            Some((LpmKey::new(ty, k)?, bits))
        })
        .collect();
    out.sort_by(|a, b| a.0.bytes().cmp(b.0.bytes()));
    out
}

fn kterm(t: &Term) -> KTerm {
    let mut k = KTerm {
        flags_set: t.flags_set,
        flags_clear: t.flags_clear,
        kind: t.kind,
        ..KTerm::default()
    };
    // At most the slots there are (wider, never narrower).
    let (mut uid, mut ret) = (t.uid.clone(), t.ret.clone());
    uid.widen_to(MAX_RANGES);
    ret.widen_to(MAX_RANGES);
    if !uid.covers(&Ranges::of(UID_ALL.0, UID_ALL.1)) {
        k.n_uid = uid.0.len() as u8;
        for (slot, &(lo, hi)) in k.uid.iter_mut().zip(&uid.0) {
            let clamp = |v: i64| v.clamp(0, i64::from(u32::MAX)) as u32;
            *slot = [clamp(lo), clamp(hi)];
        }
    }
    if !ret.covers(&Ranges::of(RET_ALL.0, RET_ALL.1)) {
        k.n_ret = ret.0.len() as u8;
        for (slot, &(lo, hi)) in k.ret.iter_mut().zip(&ret.0) {
            *slot = [lo, hi];
        }
    }
    k.l4 = t.l4;
    for (dim, ranges, all) in [
        (net_dim::SIP, &t.server.ip, IP_ALL),
        (net_dim::SPORT, &t.server.port, PORT_ALL),
        (net_dim::CIP, &t.client.ip, IP_ALL),
        (net_dim::CPORT, &t.client.port, PORT_ALL),
    ] {
        k.n_net[dim] = net_ranges(ranges, all, &mut k.net[dim]);
    }
    k
}

/// An address or port dimension into its slots (widened to fit); 0 when it does not
/// constrain.
fn net_ranges(r: &Ranges, all: (i64, i64), slots: &mut [[u32; 2]; MAX_NET_RANGES]) -> u8 {
    let mut r = r.clone();
    r.widen_to(MAX_NET_RANGES);
    if r.covers(&Ranges::of(all.0, all.1)) {
        return 0;
    }
    for (slot, &(lo, hi)) in slots.iter_mut().zip(&r.0) {
        let clamp = |v: i64| v.clamp(all.0, all.1) as u32;
        *slot = [clamp(lo), clamp(hi)];
    }
    r.0.len() as u8
}
