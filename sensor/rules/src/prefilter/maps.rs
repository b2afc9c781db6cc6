//! The maps the probes consult, as plain data, and the kernel's decision over them
//! (`Maps::admits`), which must agree with the reference `facts::admits`.
//!
//! Layout (names for the kernel side; every key carries the event type, so one set of maps
//! serves every type):
//! - `PREFILTER_TYPES`: array, `MAX_TYPES` × `TypeHeader`, indexed by type id. A zeroed
//!   header is `MODE_PASS`: a type the loader has not written passes (sound by default).
//! - `PREFILTER_TERMS`: array, `MAX_TERM_SLOTS` × `KTerm`; a type's terms are
//!   `first..first + n_terms` (at most `MAX_TERMS_PER_TYPE`: the probe's bounded loop).
//! - `PREFILTER_COMM`: hash, `CommKey` (type, comm) → u64: bit i set iff the comm is in the
//!   type's name set i. A term tests `(bits ^ comm_neg) & comm_need == comm_need`, so one
//!   lookup answers every `in` and `not in` of the type.
//! - `PREFILTER_PREFIX`: LPM trie, `LpmKey` (type, path bytes) → u64 path-clause bits; an
//!   exact name is the path with its NUL, so one longest-prefix lookup of "path\0" serves
//!   prefixes and names. LPM returns only the longest match, so each entry's value already
//!   holds the bits of every shorter entry that is a prefix of it.
//! - `PREFILTER_SUFFIX`: LPM trie on reversed paths, same value scheme.
//!
//! Per event (mode `MODE_FILTER`): comm lookup if `USES_COMM`; if `USES_PATH`, path bits =
//! the trie lookups when the path is decidable (`facts::PathArg::decidable`: one bounded byte
//! loop, which also reverses the path for the suffix trie when `USES_SUFFIX`), else
//! `all_path_clauses`; then the first term whose every test holds admits the event.
//!
//! Reload without detaching: per type, write its header `MODE_PASS`, delete its old entries,
//! write the new entries and terms, then its real header. A stale bit could make a `not in`
//! drop what the new rules want; in between, the type passes whole.

use std::collections::HashMap;

use super::{
    Cost, PassReason, TypeFilter,
    facts::{KernelFacts, PathArg},
    term::{Comm, Pattern, RET_ALL, Ranges, Term, UID_ALL},
};
use crate::evttype::EvtType;

pub const MAX_TYPES: usize = 128;
pub const MAX_TERMS_PER_TYPE: usize = 32;
pub const MAX_TERM_SLOTS: usize = 1024;
pub const MAX_RANGES: usize = 4;
pub const COMM_MAP_ENTRIES: usize = 8192;
pub const PREFIX_MAP_ENTRIES: usize = 16384;
pub const SUFFIX_MAP_ENTRIES: usize = 8192;
/// LPM trie data bytes: the kernel's maximum (`LPM_DATA_SIZE_MAX`).
pub const LPM_DATA: usize = 256;
/// Bytes of an LPM key's data that name the event type (big-endian).
pub const LPM_TYPE_BYTES: usize = 2;

pub const MODE_PASS: u8 = 0;
pub const MODE_DROP: u8 = 1;
pub const MODE_FILTER: u8 = 2;

pub const USES_COMM: u8 = 1;
pub const USES_PATH: u8 = 2;
pub const USES_SUFFIX: u8 = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeHeader {
    pub mode: u8,
    pub uses: u8,
    pub n_terms: u8,
    pub _pad: u8,
    pub first: u32,
    /// Every path-clause bit of the type: all satisfied when the path is undecidable.
    pub all_path_clauses: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KTerm {
    pub comm_need: u64,
    pub comm_neg: u64,
    pub path_need: u64,
    pub flags_set: u32,
    pub flags_clear: u32,
    pub kind: u32,
    /// 0: any uid / any return value.
    pub n_uid: u8,
    pub n_ret: u8,
    pub _pad: [u8; 2],
    pub uid: [[u32; 2]; MAX_RANGES],
    pub ret: [[i64; 2]; MAX_RANGES],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommKey {
    pub ty: u32,
    pub comm: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LpmKey {
    /// In bits, type bytes included.
    pub prefixlen: u32,
    pub data: [u8; LPM_DATA],
}

const _: () = assert!(std::mem::size_of::<TypeHeader>() == 16);
const _: () = assert!(std::mem::size_of::<KTerm>() == 136);
const _: () = assert!(std::mem::size_of::<CommKey>() == 20);
const _: () = assert!(std::mem::size_of::<LpmKey>() == 260);

impl LpmKey {
    /// `bytes` must fit (`LPM_DATA - LPM_TYPE_BYTES`).
    fn new(ty: u16, bytes: &[u8]) -> Option<LpmKey> {
        let mut data = [0u8; LPM_DATA];
        data[..LPM_TYPE_BYTES].copy_from_slice(&ty.to_be_bytes());
        data.get_mut(LPM_TYPE_BYTES..LPM_TYPE_BYTES + bytes.len())?
            .copy_from_slice(bytes);
        Some(LpmKey {
            prefixlen: ((LPM_TYPE_BYTES + bytes.len()) * 8) as u32,
            data,
        })
    }

    fn bytes(&self) -> &[u8] {
        &self.data[LPM_TYPE_BYTES..self.prefixlen as usize / 8]
    }
}

/// Everything the loader writes.
#[derive(Clone, Debug, Default)]
pub struct Maps {
    pub headers: Vec<(u16, TypeHeader)>,
    pub terms: Vec<KTerm>,
    pub comm: Vec<(CommKey, u64)>,
    pub prefix: Vec<(LpmKey, u64)>,
    pub suffix: Vec<(LpmKey, u64)>,
}

/// One type's part of the maps.
#[derive(Default)]
struct Part {
    header: TypeHeader,
    terms: Vec<KTerm>,
    comm: Vec<(CommKey, u64)>,
    prefix: Vec<(LpmKey, u64)>,
    suffix: Vec<(LpmKey, u64)>,
}

impl Maps {
    /// The maps for these types. A type that does not fit what is left of the maps passes
    /// (its verdict is replaced, saying so), largest first.
    pub fn build(filters: &mut [(EvtType, TypeFilter)]) -> Maps {
        let capacity = [
            ("term slots", MAX_TERM_SLOTS),
            ("proc.name keys", COMM_MAP_ENTRIES),
            ("path prefix keys", PREFIX_MAP_ENTRIES),
            ("path suffix keys", SUFFIX_MAP_ENTRIES),
        ];
        // What a type's own part cannot exceed: the loop bound and the bits of a u64.
        for (_, f) in filters.iter_mut() {
            if let TypeFilter::Filter(flt) = f {
                let cost = Cost::of(&flt.terms);
                let hard = [
                    ("terms", flt.terms.len(), MAX_TERMS_PER_TYPE),
                    ("proc.name sets", cost.comm_sets, 64),
                    ("path clauses", cost.path_clauses, 64),
                ];
                if let Some((what, needed, limit)) = hard.into_iter().find(|(_, n, l)| n > l) {
                    *f = TypeFilter::Pass(vec![PassReason::OverBudget {
                        what,
                        needed,
                        limit,
                    }]);
                }
            }
        }
        loop {
            let parts: Vec<(u16, Part)> = filters
                .iter()
                .map(|(ty, f)| (*ty as u16, part(*ty as u16, f)))
                .collect();
            let used = |p: &Part| [p.terms.len(), p.comm.len(), p.prefix.len(), p.suffix.len()];
            let totals = parts.iter().fold([0; 4], |mut acc, (_, p)| {
                for (a, u) in acc.iter_mut().zip(used(p)) {
                    *a += u;
                }
                acc
            });
            let over = (0..4).find(|&i| totals[i] > capacity[i].1);
            let Some(i) = over else {
                return assemble(parts);
            };
            // The type using most of the exhausted map passes instead.
            let Some(worst) = (0..parts.len()).max_by_key(|&j| used(&parts[j].1)[i]) else {
                return assemble(parts);
            };
            filters[worst].1 = TypeFilter::Pass(vec![PassReason::OverBudget {
                what: capacity[i].0,
                needed: totals[i],
                limit: capacity[i].1,
            }]);
        }
    }

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
        let path_bits = match (&facts.path, facts.path.decidable()) {
            (PathArg::Absent, _) | (_, None) => header.all_path_clauses,
            (_, Some(p)) if header.uses & USES_PATH != 0 => {
                let mut with_nul = p.to_vec();
                with_nul.push(0);
                let mut bits = lpm(&self.prefix, ty, &with_nul);
                if header.uses & USES_SUFFIX != 0 {
                    let rev: Vec<u8> = p.iter().rev().copied().collect();
                    bits |= lpm(&self.suffix, ty, &rev);
                }
                bits
            }
            _ => 0,
        };
        let first = header.first as usize;
        let terms = self
            .terms
            .get(first..first + usize::from(header.n_terms))
            .unwrap_or_default();
        terms.iter().any(|t| {
            let in_ranges = |rs: &[[i64; 2]], n: u8, v: i64| {
                n == 0 || rs[..usize::from(n)].iter().any(|r| r[0] <= v && v <= r[1])
            };
            let uids: Vec<[i64; 2]> = t
                .uid
                .iter()
                .map(|r| [i64::from(r[0]), i64::from(r[1])])
                .collect();
            (comm_bits ^ t.comm_neg) & t.comm_need == t.comm_need
                && path_bits & t.path_need == t.path_need
                && in_ranges(&uids, t.n_uid, i64::from(facts.uid))
                && facts.ret.is_none_or(|r| in_ranges(&t.ret, t.n_ret, r))
                && facts.kind.is_none_or(|k| t.kind & (1 << k) != 0)
                && facts
                    .flags
                    .is_none_or(|f| f & t.flags_set == t.flags_set && f & t.flags_clear == 0)
        })
    }
}

/// The longest entry of type `ty` that is a prefix of `query`, as an LPM trie answers.
fn lpm(entries: &[(LpmKey, u64)], ty: u16, query: &[u8]) -> u64 {
    let ty = ty.to_be_bytes();
    entries
        .iter()
        .filter(|(k, _)| k.data[..LPM_TYPE_BYTES] == ty && query.starts_with(k.bytes()))
        .max_by_key(|(k, _)| k.prefixlen)
        .map_or(0, |(_, v)| *v)
}

fn assemble(parts: Vec<(u16, Part)>) -> Maps {
    let mut maps = Maps::default();
    for (ty, mut p) in parts {
        p.header.first = maps.terms.len() as u32;
        maps.headers.push((ty, p.header));
        maps.terms.extend(p.terms);
        maps.comm.extend(p.comm);
        maps.prefix.extend(p.prefix);
        maps.suffix.extend(p.suffix);
    }
    maps
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
    let mut sets: Vec<&std::collections::BTreeSet<Vec<u8>>> = Vec::new();
    let mut clauses: Vec<&super::term::PathClause> = Vec::new();
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
    // Entries: each key with the bits of the sets / clauses that hold it.
    let mut comm: HashMap<Vec<u8>, u64> = HashMap::new();
    for (i, s) in sets.iter().enumerate() {
        for name in s.iter() {
            *comm.entry(name.clone()).or_default() |= 1 << i;
        }
    }
    let (mut prefix, mut suffix) = (HashMap::new(), HashMap::new());
    for (i, c) in clauses.iter().enumerate() {
        for p in c.iter() {
            let (map, key) = match p {
                Pattern::Exact(b) => (&mut prefix, [b.as_slice(), &[0]].concat()),
                Pattern::Prefix(b) => (&mut prefix, b.clone()),
                Pattern::Suffix(b) => (&mut suffix, b.iter().rev().copied().collect()),
            };
            *map.entry(key).or_insert(0u64) |= 1 << i;
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
    let cost = Cost::of(&f.terms);
    let mut uses = 0;
    if cost.comm_sets > 0 {
        uses |= USES_COMM;
    }
    if cost.path_clauses > 0 {
        uses |= USES_PATH;
    }
    if !suffix.is_empty() {
        uses |= USES_SUFFIX;
    }
    Part {
        header: TypeHeader {
            mode: MODE_FILTER,
            uses,
            n_terms: terms.len() as u8,
            _pad: 0,
            first: 0,
            all_path_clauses: (0..clauses.len()).fold(0, |a, i| a | 1 << i),
        },
        terms,
        comm,
        prefix: lpm_entries(ty, prefix),
        suffix: lpm_entries(ty, suffix),
    }
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

/// Trie entries whose values include the bits of every shorter entry that prefixes them.
/// Keys too long for a trie are left out: a path that long is never decidable, so its
/// clauses hold anyway.
fn lpm_entries(ty: u16, keys: HashMap<Vec<u8>, u64>) -> Vec<(LpmKey, u64)> {
    let max = LPM_DATA - LPM_TYPE_BYTES;
    let mut out: Vec<(LpmKey, u64)> = keys
        .iter()
        .filter(|(k, _)| k.len() <= max)
        .filter_map(|(k, _)| {
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
    let full = |r: &Ranges, (lo, hi)| r.covers(&Ranges::of(lo, hi));
    // At most the slots there are (wider, never narrower).
    let (mut uid, mut ret) = (t.uid.clone(), t.ret.clone());
    uid.widen_to(MAX_RANGES);
    ret.widen_to(MAX_RANGES);
    let t = Term {
        uid,
        ret,
        ..t.clone()
    };
    if !full(&t.uid, UID_ALL) {
        k.n_uid = t.uid.0.len().min(MAX_RANGES) as u8;
        for (slot, &(lo, hi)) in k.uid.iter_mut().zip(&t.uid.0) {
            *slot = [
                lo.clamp(0, u32::MAX as i64) as u32,
                hi.clamp(0, u32::MAX as i64) as u32,
            ];
        }
    }
    if !full(&t.ret, RET_ALL) {
        k.n_ret = t.ret.0.len().min(MAX_RANGES) as u8;
        for (slot, &(lo, hi)) in k.ret.iter_mut().zip(&t.ret.0) {
            *slot = [lo, hi];
        }
    }
    k
}
