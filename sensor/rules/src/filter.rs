//! Compiled conditions and their evaluation. Everything is resolved at load time — fields to
//! table entries, literals to typed values, lists to sets, macros inlined — so evaluating an
//! event is a walk over this tree with short-circuiting, and nothing is parsed per event.

use std::{
    collections::HashSet,
    hash::{BuildHasherDefault, Hasher},
    sync::Arc,
};

use crate::{
    ast::{Op, Transformer},
    event::{EventSource, FieldArg},
    evttype::EvtSet,
    fields::Field,
    matcher::StrTest,
    ops::{self, Cidr, Lit, PathSet},
    value::{FieldType, Value},
};

#[derive(Clone, Debug)]
pub enum Node {
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Check(Box<CheckNode>),
    /// `evt.type = x` / `evt.type in (...)`, resolved to a set of captured types.
    EvtType(EvtSet),
    Const(bool),
    /// A macro: evaluated at most once per event, whichever rules use it (`spawned_process`,
    /// `container`, `shell_procs` recur in dozens of rules).
    Memo(u32, Arc<Node>),
}

/// Per-event results of macros. A slot holds a result only if its generation is the current
/// event's, so starting an event costs one increment, not a clear.
#[derive(Debug, Default)]
pub struct Memo {
    generation: u32,
    slots: Vec<(u32, bool)>,
}

impl Memo {
    /// Forget every result: a new event with `slots` macros.
    pub fn start(&mut self, slots: usize) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.fill((0, false));
            self.generation = 1;
        }
        if self.slots.len() < slots {
            self.slots.resize(slots, (0, false));
        }
    }

    /// This event's result for macro `slot`, if it has one yet.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<bool> {
        match self.slots.get(slot as usize) {
            Some(&(g, v)) if g == self.generation => Some(v),
            _ => None,
        }
    }

    #[inline]
    pub fn set(&mut self, slot: u32, value: bool) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = (self.generation, value);
        }
    }
}

/// Where a check's left-hand value comes from: a field with its argument, then transformers
/// applied innermost first.
#[derive(Clone, Debug, PartialEq)]
pub struct Extractor {
    pub field: Field,
    pub arg: FieldArg,
    pub transforms: Vec<Transformer>,
    /// The type after the transformers.
    pub ty: FieldType,
}

impl Extractor {
    pub fn extract<'e, E: EventSource>(&self, ev: &'e E) -> Option<Value<'e>> {
        self.extract_arg(ev, &self.arg)
    }

    fn extract_arg<'e, E: EventSource>(&self, ev: &'e E, arg: &FieldArg) -> Option<Value<'e>> {
        // Most checks have no transformer: hand the value on as extracted (re-wrapping it made
        // the compiler copy it through unaligned stack slots, the main cost of a check).
        if self.transforms.is_empty() {
            return ev.extract(self.field, arg);
        }
        let mut v = ev.extract(self.field, arg)?;
        for t in &self.transforms {
            v = ops::transform(*t, v)?;
        }
        Some(v)
    }
}

/// How the left-hand side is read.
#[derive(Clone, Debug, PartialEq)]
pub enum Lhs {
    One(Extractor),
    /// `proc.aname` without an index: true if any ancestor from the parent upward matches.
    AnyAncestor(Extractor),
    /// `fd.ip`, `fd.port`, `fd.net`: the client or the server side matches; `!=` means both
    /// (present) sides differ.
    EitherEnd(Extractor, Extractor),
}

impl Lhs {
    /// Whether `test` (the operator `op` and its right-hand side) holds for the value(s) read
    /// from `ev`; false when there is none.
    #[inline(always)]
    pub(crate) fn holds<'e, E: EventSource>(
        &self,
        op: Op,
        ev: &'e E,
        test: impl Fn(&Value<'e>) -> bool,
    ) -> bool {
        match self {
            // Borrow the extracted value in place: moving it to another stack slot first made
            // the copy wait on the callee's narrower stores (a store-forwarding stall that was
            // the single largest cost of a check).
            Lhs::One(x) => match &x.extract(ev) {
                Some(v) => test(v),
                None => false,
            },
            Lhs::AnyAncestor(x) => (1..)
                .map_while(|i| x.extract_arg(ev, &FieldArg::Index(i)))
                .take(MAX_ANCESTORS)
                .any(|v| test(&v)),
            Lhs::EitherEnd(c, s) => {
                let (c, s) = (c.extract(ev), s.extract(ev));
                if op == Op::Ne {
                    // Both present sides differ; false when neither is present.
                    let differs = |v: &Option<Value<'e>>| v.as_ref().map(&test);
                    match (differs(&c), differs(&s)) {
                        (None, None) => false,
                        (a, b) => a.unwrap_or(true) && b.unwrap_or(true),
                    }
                } else {
                    c.is_some_and(|v| test(&v)) || s.is_some_and(|v| test(&v))
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub enum Rhs {
    None,
    One(Lit),
    /// `in` / `intersects` over strings.
    Strings(StrSet),
    /// `in` / `intersects` over other literals (numbers, addresses, networks).
    Lits(Vec<Lit>),
    Paths(PathSet),
    Regex(regex::Regex),
    /// `val(field)` or a transformed field on the right.
    Field(Extractor),
    /// Several tests of the same value, true if any holds (the check's own `op` is then the
    /// first one's): sibling checks of one field merged at load so the value is read once.
    AnyOf(Box<[(Op, Rhs)]>),
}

/// A set of strings: a few are compared in a row, many are hashed (with a fast hasher: the
/// keys are rule literals, not attacker-chosen, and lookups are on the hot path).
#[derive(Clone, Debug, PartialEq)]
pub enum StrSet {
    Few(Vec<Box<str>>),
    Many(HashSet<Box<str>, BuildHasherDefault<FastHasher>>),
}

/// Multiply-rotate hashing over 8-byte words (the FxHash scheme): a few ns for a process name,
/// where SipHash takes tens. The tail is read as one zero-padded word, so a name of up to
/// eight bytes costs one round (plus one for the terminator `str` hashing adds).
#[derive(Default)]
pub struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn round(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.round(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            // Read the tail with loads of its own bytes (overlapping if need be), never through
            // a byte-wise copy into a word: loading a word just written byte by byte stalls on
            // store forwarding, which cost more than the hashing.
            let n = tail.len();
            let word = if n >= 4 {
                let lo = u32::from_le_bytes(tail[..4].try_into().unwrap_or_default());
                let hi = u32::from_le_bytes(tail[n - 4..].try_into().unwrap_or_default());
                u64::from(lo) | (u64::from(hi) << 32)
            } else {
                u64::from(tail[0]) | (u64::from(tail[n / 2]) << 8) | (u64::from(tail[n - 1]) << 16)
            };
            // The length keeps tails that read the same bytes apart.
            self.round(word ^ ((n as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.round(u64::from(b));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl StrSet {
    const HASH_FROM: usize = 8;

    pub fn new(items: Vec<String>) -> Self {
        if items.len() < Self::HASH_FROM {
            Self::Few(items.into_iter().map(String::into_boxed_str).collect())
        } else {
            Self::Many(items.into_iter().map(String::into_boxed_str).collect())
        }
    }

    pub fn items(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            Self::Few(v) => Box::new(v.iter().map(|s| &**s)),
            Self::Many(h) => Box::new(h.iter().map(|s| &**s)),
        }
    }

    pub fn contains(&self, s: &str) -> bool {
        match self {
            Self::Few(v) => v.iter().any(|x| &**x == s),
            Self::Many(h) => h.contains(s),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CheckNode {
    pub lhs: Lhs,
    pub op: Op,
    pub rhs: Rhs,
    /// `not` folded into the check (one node less per exclusion): the result is inverted,
    /// missing values included (`not x = y` is true when x is missing).
    pub negate: bool,
}

impl Node {
    /// Evaluate for `ev`; `memo` must have been started for this event with enough slots.
    pub fn eval<E: EventSource>(&self, ev: &E, memo: &mut Memo) -> bool {
        match self {
            Node::And(xs) => xs.iter().all(|x| x.eval(ev, memo)),
            Node::Or(xs) => xs.iter().any(|x| x.eval(ev, memo)),
            Node::Not(x) => !x.eval(ev, memo),
            Node::Check(c) => c.eval(ev) != c.negate,
            Node::EvtType(set) => set.contains(ev.evt_type()),
            Node::Const(b) => *b,
            Node::Memo(slot, x) => match memo.get(*slot) {
                Some(v) => v,
                None => {
                    let v = x.eval(ev, memo);
                    memo.set(*slot, v);
                    v
                }
            },
        }
    }

    /// Nodes in the tree, counting each macro's subtree where it is used.
    pub fn size(&self) -> usize {
        match self {
            Node::And(xs) | Node::Or(xs) => 1 + xs.iter().map(Node::size).sum::<usize>(),
            Node::Not(x) => 1 + x.size(),
            Node::Memo(_, x) => 1 + x.size(),
            _ => 1,
        }
    }

    /// Nesting depth (for the compile-time limit on expanded macros).
    pub fn depth(&self) -> usize {
        match self {
            Node::And(xs) | Node::Or(xs) => 1 + xs.iter().map(Node::depth).max().unwrap_or(0),
            Node::Not(x) => 1 + x.depth(),
            Node::Memo(_, x) => x.depth(),
            _ => 1,
        }
    }
}

impl CheckNode {
    pub(crate) fn eval<E: EventSource>(&self, ev: &E) -> bool {
        self.lhs.holds(self.op, ev, |v| self.test(v, ev))
    }

    /// The operator on one present value.
    fn test<E: EventSource>(&self, v: &Value, ev: &E) -> bool {
        Self::test_with(&self.rhs, self.op, v, ev)
    }

    pub(crate) fn test_with<E: EventSource>(rhs: &Rhs, op: Op, v: &Value, ev: &E) -> bool {
        match (rhs, op) {
            (Rhs::AnyOf(tests), _) => tests
                .iter()
                .any(|(op, rhs)| Self::test_with(rhs, *op, v, ev)),
            (_, Op::Exists) => true,
            (Rhs::One(lit), op) => compare(v, op, lit),
            (Rhs::Strings(set), Op::In | Op::Intersects) => match v {
                Value::Str(s) => set.contains(s),
                _ => false,
            },
            (Rhs::Lits(lits), Op::In | Op::Intersects) => {
                lits.iter().any(|l| compare(v, Op::Eq, l))
            }
            (Rhs::Paths(paths), Op::PMatch) => matches!(v, Value::Str(s) if paths.matches(s)),
            (Rhs::Regex(re), Op::Regex) => matches!(v, Value::Str(s) if re.is_match(s)),
            (Rhs::Field(x), op) => match x.extract(ev) {
                Some(r) => compare_values(v, op, &r),
                None => false,
            },
            _ => false,
        }
    }
}

/// Ancestor walks stop here even if the process table has a loop.
const MAX_ANCESTORS: usize = 256;

/// A present value against a literal. Mismatched kinds never match.
pub fn compare(v: &Value, op: Op, lit: &Lit) -> bool {
    match (v, lit) {
        (Value::Str(s), Lit::Str(l)) => compare_str(s, op, l),
        (Value::Bytes(b), Lit::Bytes(l)) => compare_bytes(b, op, l),
        (Value::Bytes(b), Lit::Str(l)) => compare_bytes(b, op, l.as_bytes()),
        (Value::Int(n), Lit::Int(l)) => compare_ord(n, op, l),
        (Value::Uint(n), Lit::Uint(l)) => compare_ord(n, op, l),
        (Value::Int(n), Lit::Uint(l)) => i128::from(*n)
            .partial_cmp(&i128::from(*l))
            .is_some_and(|o| ord_ok(o, op)),
        (Value::Uint(n), Lit::Int(l)) => i128::from(*n)
            .partial_cmp(&i128::from(*l))
            .is_some_and(|o| ord_ok(o, op)),
        (Value::Bool(b), Lit::Bool(l)) => eq_op(b == l, op),
        (Value::Ip(ip), Lit::Ip(l)) => eq_op(same_ip(*ip, *l), op),
        (Value::Ip(ip), Lit::Net(net)) => eq_op(net_contains(net, *ip), op),
        _ => false,
    }
}

fn net_contains(net: &Cidr, ip: std::net::IpAddr) -> bool {
    net.contains(ip)
}

fn same_ip(a: std::net::IpAddr, b: std::net::IpAddr) -> bool {
    a == b
}

fn eq_op(equal: bool, op: Op) -> bool {
    match op {
        Op::Eq | Op::In | Op::Intersects => equal,
        Op::Ne => !equal,
        _ => false,
    }
}

pub(crate) fn ord_ok(o: std::cmp::Ordering, op: Op) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq | Op::In | Op::Intersects => o == Equal,
        Op::Ne => o != Equal,
        Op::Lt => o == Less,
        Op::Le => o != Greater,
        Op::Gt => o == Greater,
        Op::Ge => o != Less,
        _ => false,
    }
}

fn compare_ord<T: Ord>(a: &T, op: Op, b: &T) -> bool {
    ord_ok(a.cmp(b), op)
}

fn compare_str(s: &str, op: Op, l: &str) -> bool {
    // One definition of the string operators: the one a loaded check resolves to.
    StrTest::new(op, l).test(s, l)
}

pub(crate) fn compare_bytes(b: &[u8], op: Op, l: &[u8]) -> bool {
    match op {
        Op::Eq | Op::In | Op::Intersects => b == l,
        Op::Ne => b != l,
        Op::Contains | Op::BContains => memchr::memmem::find(b, l).is_some(),
        Op::StartsWith | Op::BStartsWith => b.starts_with(l),
        Op::EndsWith => b.ends_with(l),
        _ => false,
    }
}

/// Field against field (`val()`): same kinds only.
pub(crate) fn compare_values(a: &Value, op: Op, b: &Value) -> bool {
    // Strings and bytes are compared in place (this runs per event, per `val()` check).
    let lit = match (a, b) {
        (Value::Str(s), Value::Str(r)) => return compare_str(s, op, r),
        (Value::Bytes(x), Value::Bytes(r)) => return compare_bytes(x, op, r),
        (Value::Bytes(x), Value::Str(r)) => return compare_bytes(x, op, r.as_bytes()),
        (_, Value::Str(_) | Value::Bytes(_)) => return false,
        (_, Value::Int(n)) => Lit::Int(*n),
        (_, Value::Uint(n)) => Lit::Uint(*n),
        (_, Value::Bool(x)) => Lit::Bool(*x),
        (_, Value::Ip(ip)) => Lit::Ip(*ip),
    };
    compare(a, op, &lit)
}
