//! One term of a type's filter: a conjunction of constraints, one per kernel dimension, and
//! the lattice operations the analysis needs on them: `meet` (and), `join` (the least term
//! that admits what either admits: the widening used when a budget is hit) and `subsumes`.
//!
//! Every operation here is exact or over-approximates (admits more): never the other way,
//! since a term that admits less than the rule it comes from would drop events that match.

use std::collections::BTreeSet;

use super::facts::{KindMask, l4};
pub use super::ranges::{EndRanges, IP_ALL, PORT_ALL, Ranges};

/// `proc.name` against sets of names (the kernel's comm, at most 15 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Comm {
    Any,
    In(BTreeSet<Vec<u8>>),
    NotIn(BTreeSet<Vec<u8>>),
}

impl Comm {
    fn normalized(self) -> Self {
        match self {
            Comm::NotIn(s) if s.is_empty() => Comm::Any,
            c => c,
        }
    }

    pub fn admits(&self, comm: &[u8]) -> bool {
        match self {
            Comm::Any => true,
            Comm::In(s) => s.contains(comm),
            Comm::NotIn(s) => !s.contains(comm),
        }
    }

    fn meet(&self, o: &Comm) -> Comm {
        match (self, o) {
            (Comm::Any, c) | (c, Comm::Any) => c.clone(),
            (Comm::In(a), Comm::In(b)) => Comm::In(a.intersection(b).cloned().collect()),
            (Comm::In(a), Comm::NotIn(n)) | (Comm::NotIn(n), Comm::In(a)) => {
                Comm::In(a.difference(n).cloned().collect())
            }
            (Comm::NotIn(a), Comm::NotIn(b)) => Comm::NotIn(a.union(b).cloned().collect()),
        }
    }

    fn join(&self, o: &Comm) -> Comm {
        match (self, o) {
            (Comm::Any, _) | (_, Comm::Any) => Comm::Any,
            (Comm::In(a), Comm::In(b)) => Comm::In(a.union(b).cloned().collect()),
            (Comm::In(a), Comm::NotIn(n)) | (Comm::NotIn(n), Comm::In(a)) => {
                Comm::NotIn(n.difference(a).cloned().collect())
            }
            (Comm::NotIn(a), Comm::NotIn(b)) => Comm::NotIn(a.intersection(b).cloned().collect()),
        }
        .normalized()
    }

    /// Every comm `o` admits, `self` admits too.
    fn covers(&self, o: &Comm) -> bool {
        match (self, o) {
            (Comm::Any, _) => true,
            (_, Comm::Any) => false,
            (Comm::In(a), Comm::In(b)) => b.is_subset(a),
            (Comm::In(_), Comm::NotIn(_)) => false,
            (Comm::NotIn(a), Comm::In(b)) => a.is_disjoint(b),
            (Comm::NotIn(a), Comm::NotIn(b)) => a.is_subset(b),
        }
    }
}

/// Bytes of a needle: what the kernel's shift window holds.
pub const NEEDLE_MAX: usize = 8;

/// A path pattern the kernel can test.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    /// On `fd.name` (decided on an absolute normalized path, which it then is).
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    /// The path's parent directory (`fd.directory` of a file): the path is the directory, a
    /// `/` (none after `/` itself), and a last component.
    Dir(Vec<u8>),
    /// A substring of at most `NEEDLE_MAX` bytes of `fd.name` (same decidability).
    Contains(Vec<u8>),
    /// A substring of at most `NEEDLE_MAX` bytes of the raw path (`fd.nameraw`), decided on
    /// any path read whole.
    RawContains(Vec<u8>),
}

impl Pattern {
    /// Whether the pattern holds, given the path bytes where its view is decidable (`None`:
    /// undecidable, it holds).
    pub fn holds(&self, abs: Option<&[u8]>, raw: Option<&[u8]>) -> bool {
        let contains = |h: &[u8], n: &[u8]| h.windows(n.len()).any(|w| w == n);
        match (self, abs, raw) {
            (Pattern::Exact(p), Some(a), _) => a == p.as_slice(),
            (Pattern::Prefix(p), Some(a), _) => a.starts_with(p),
            (Pattern::Suffix(p), Some(a), _) => a.ends_with(p),
            (Pattern::Dir(d), Some(a), _) => dirname(a) == Some(d.as_slice()),
            (Pattern::Contains(n), Some(a), _) => contains(a, n),
            (Pattern::RawContains(n), _, Some(r)) => contains(r, n),
            (Pattern::RawContains(_), _, None) => true,
            (_, None, _) => true,
        }
    }

    pub fn is_raw(&self) -> bool {
        matches!(self, Pattern::RawContains(_))
    }

    pub fn is_needle(&self) -> bool {
        matches!(self, Pattern::Contains(_) | Pattern::RawContains(_))
    }
}

/// The parent directory of an absolute normalized path other than `/`: up to its last
/// `/`, or `/` itself for a file in the root.
pub fn dirname(path: &[u8]) -> Option<&[u8]> {
    if path.len() < 2 {
        return None;
    }
    let last = path.iter().rposition(|&b| b == b'/')?;
    Some(if last == 0 { &path[..1] } else { &path[..last] })
}

/// A disjunction of patterns: the path matches one of them.
pub type PathClause = BTreeSet<Pattern>;

/// A conjunction of constraints on what the kernel sees. A dimension left at its default does
/// not constrain.
#[derive(Clone, Debug)]
pub struct Term {
    pub comm: Comm,
    /// `user.uid`; default: every u32.
    pub uid: Ranges,
    /// The return value; default: every i64.
    pub ret: Ranges,
    /// Allowed fd kinds (`facts::KINDS` bits); default: all.
    pub kind: KindMask,
    /// Flag class bits that must be set / clear (`probe::flag`).
    pub flags_set: u32,
    pub flags_clear: u32,
    /// Each clause must match (sorted, no duplicates).
    pub paths: Vec<PathClause>,
    /// Allowed `fd.l4proto` values (`facts::l4` bits); default: all.
    pub l4: u32,
    /// The IPv4 server and client ends (`fd.sip`/`fd.sport`, `fd.cip`/`fd.cport`); default:
    /// any.
    pub server: EndRanges,
    pub client: EndRanges,
    /// What was not kernel-testable on the way to this term (why it is as wide as it is):
    /// `-L` names these when a rule makes its type pass. Not part of the term's meaning.
    pub untestable: BTreeSet<String>,
}

pub const UID_ALL: (i64, i64) = (0, u32::MAX as i64);
pub const RET_ALL: (i64, i64) = (i64::MIN, i64::MAX);
/// Reasons kept per term: enough to say why, bounded whatever the rule.
const MAX_REASONS: usize = 8;

impl Term {
    /// No constraint at all.
    pub fn top() -> Term {
        Term {
            comm: Comm::Any,
            uid: Ranges::of(UID_ALL.0, UID_ALL.1),
            ret: Ranges::of(RET_ALL.0, RET_ALL.1),
            kind: super::facts::ALL_KINDS,
            flags_set: 0,
            flags_clear: 0,
            paths: Vec::new(),
            l4: l4::ALL,
            server: EndRanges::any(),
            client: EndRanges::any(),
            untestable: BTreeSet::new(),
        }
    }

    /// No constraint, because of something the kernel cannot test.
    pub fn untestable(why: String) -> Term {
        let mut t = Term::top();
        t.untestable.insert(why);
        t
    }

    pub fn is_top(&self) -> bool {
        self.comm == Comm::Any
            && self.uid.covers(&Ranges::of(UID_ALL.0, UID_ALL.1))
            && self.ret.covers(&Ranges::of(RET_ALL.0, RET_ALL.1))
            && self.kind == super::facts::ALL_KINDS
            && self.flags_set == 0
            && self.flags_clear == 0
            && self.paths.is_empty()
            && self.l4 == l4::ALL
            && self.server.is_any()
            && self.client.is_any()
    }

    /// No event can satisfy it.
    pub fn is_unsat(&self) -> bool {
        matches!(&self.comm, Comm::In(s) if s.is_empty())
            || self.uid.is_empty()
            || self.ret.is_empty()
            || self.kind == 0
            || self.flags_set & self.flags_clear != 0
            || self.paths.iter().any(BTreeSet::is_empty)
            || self.l4 == 0
            || self.server.is_empty()
            || self.client.is_empty()
    }

    fn add_reasons(&mut self, from: &BTreeSet<String>) {
        for r in from {
            if self.untestable.len() >= MAX_REASONS {
                break;
            }
            self.untestable.insert(r.clone());
        }
    }

    /// Both at once; `None` when that is impossible.
    pub fn meet(&self, o: &Term) -> Option<Term> {
        let mut paths: Vec<PathClause> = self.paths.iter().chain(&o.paths).cloned().collect();
        paths.sort();
        paths.dedup();
        let mut t = Term {
            comm: self.comm.meet(&o.comm).normalized(),
            uid: self.uid.intersect(&o.uid),
            ret: self.ret.intersect(&o.ret),
            kind: self.kind & o.kind,
            flags_set: self.flags_set | o.flags_set,
            flags_clear: self.flags_clear | o.flags_clear,
            paths,
            l4: self.l4 & o.l4,
            server: self.server.meet(&o.server),
            client: self.client.meet(&o.client),
            untestable: self.untestable.clone(),
        };
        t.add_reasons(&o.untestable);
        (!t.is_unsat()).then_some(t)
    }

    /// A term admitting everything either admits (and usually more).
    pub fn join(&self, o: &Term) -> Term {
        // A ⊆ a1 and B ⊆ b1 give A ∪ B ⊆ a1 ∪ b1: one clause, the union of the smallest
        // clause of each side; none if either side has none.
        let smallest = |t: &Term| t.paths.iter().min_by_key(|c| c.len()).cloned();
        let paths = match (smallest(self), smallest(o)) {
            (Some(a), Some(b)) => vec![a.union(&b).cloned().collect()],
            _ => Vec::new(),
        };
        let mut t = Term {
            comm: self.comm.join(&o.comm),
            uid: self.uid.union(&o.uid),
            ret: self.ret.union(&o.ret),
            kind: self.kind | o.kind,
            flags_set: self.flags_set & o.flags_set,
            flags_clear: self.flags_clear & o.flags_clear,
            paths,
            l4: self.l4 | o.l4,
            server: self.server.join(&o.server),
            client: self.client.join(&o.client),
            untestable: self.untestable.clone(),
        };
        t.add_reasons(&o.untestable);
        t
    }

    /// One term admitting exactly what either admits, when they differ in one dimension
    /// whose union is one constraint (name sets, ranges, kinds, one path clause).
    pub fn merge_exact(&self, o: &Term) -> Option<Term> {
        let same_flags = self.flags_set == o.flags_set && self.flags_clear == o.flags_clear;
        if !same_flags {
            return None;
        }
        let differs = [
            self.comm != o.comm,
            self.uid != o.uid,
            self.ret != o.ret,
            self.kind != o.kind,
            self.paths != o.paths,
            self.l4 != o.l4,
            self.server != o.server,
            self.client != o.client,
        ];
        if differs.iter().filter(|d| **d).count() != 1 {
            return None;
        }
        let mut t = self.clone();
        t.add_reasons(&o.untestable);
        match differs.iter().position(|d| *d) {
            Some(0) => t.comm = self.comm.join(&o.comm),
            Some(1) => t.uid = self.uid.union(&o.uid),
            Some(2) => t.ret = self.ret.union(&o.ret),
            Some(3) => t.kind = self.kind | o.kind,
            Some(5) => t.l4 = self.l4 | o.l4,
            Some(6) => t.server = self.server.union_exact(&o.server)?,
            Some(7) => t.client = self.client.union_exact(&o.client)?,
            Some(4) => {
                // (C ∧ a) ∨ (C ∧ b) = C ∧ (a ∨ b): the clause lists differ in one clause.
                let only_mine: Vec<&PathClause> =
                    self.paths.iter().filter(|c| !o.paths.contains(c)).collect();
                let only_theirs: Vec<&PathClause> =
                    o.paths.iter().filter(|c| !self.paths.contains(c)).collect();
                let ([a], [b]) = (only_mine.as_slice(), only_theirs.as_slice()) else {
                    return None;
                };
                let merged: PathClause = a.union(b).cloned().collect();
                t.paths = self
                    .paths
                    .iter()
                    .filter(|c| c != a)
                    .cloned()
                    .chain([merged])
                    .collect();
                t.paths.sort();
                t.paths.dedup();
            }
            _ => return None,
        }
        Some(t)
    }

    /// Every event `o` admits, `self` admits too (checked dimension by dimension; a path
    /// clause of `self` must contain every pattern of some clause of `o`).
    pub fn subsumes(&self, o: &Term) -> bool {
        self.comm.covers(&o.comm)
            && self.uid.covers(&o.uid)
            && self.ret.covers(&o.ret)
            && self.kind & o.kind == o.kind
            && self.flags_set & o.flags_set == self.flags_set
            && self.flags_clear & o.flags_clear == self.flags_clear
            && self
                .paths
                .iter()
                .all(|c| o.paths.iter().any(|d| d.is_subset(c)))
            && self.l4 & o.l4 == o.l4
            && self.server.covers(&o.server)
            && self.client.covers(&o.client)
    }

    /// The meaning without the reasons: terms equal under it admit the same events.
    pub fn same_as(&self, o: &Term) -> bool {
        self.comm == o.comm
            && self.uid == o.uid
            && self.ret == o.ret
            && self.kind == o.kind
            && self.flags_set == o.flags_set
            && self.flags_clear == o.flags_clear
            && self.paths == o.paths
            && self.l4 == o.l4
            && self.server == o.server
            && self.client == o.client
    }
}

/// Join every term into one (the widening of last resort: sound, and bounded).
pub fn join_all(terms: &[Term]) -> Option<Term> {
    let (first, rest) = terms.split_first()?;
    Some(rest.iter().fold(first.clone(), |acc, t| acc.join(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(xs: &[&str]) -> BTreeSet<Vec<u8>> {
        xs.iter().map(|x| x.as_bytes().to_vec()).collect()
    }

    #[test]
    fn comm_meet_and_join_are_the_set_operations() {
        let a = Comm::In(set(&["cat", "less"]));
        let n = Comm::NotIn(set(&["cat", "sshd"]));
        assert_eq!(a.meet(&n), Comm::In(set(&["less"])));
        assert_eq!(a.join(&n), Comm::NotIn(set(&["sshd"])));
        let m = Comm::NotIn(set(&["sshd"]));
        assert_eq!(n.meet(&m), Comm::NotIn(set(&["cat", "sshd"])));
        assert_eq!(n.join(&m), Comm::NotIn(set(&["sshd"])));
        assert_eq!(
            Comm::NotIn(set(&["x"])).join(&Comm::In(set(&["x"]))),
            Comm::Any
        );
        assert!(n.covers(&Comm::In(set(&["less"]))));
        assert!(!n.covers(&a));
    }

    #[test]
    fn join_admits_both_and_meet_detects_contradictions() {
        let mut a = Term::top();
        a.flags_set = 1;
        a.paths = vec![[Pattern::Prefix(b"/etc/".to_vec())].into()];
        let mut b = Term::top();
        b.flags_set = 3;
        b.paths = vec![[Pattern::Exact(b"/x".to_vec())].into()];
        let j = a.join(&b);
        assert!(j.subsumes(&a) && j.subsumes(&b));
        assert_eq!(j.flags_set, 1);
        let mut c = Term::top();
        c.flags_clear = 1;
        assert!(a.meet(&c).is_none());
        assert!(Term::top().is_top() && !a.is_top());
    }
}
