//! A check's operator and right-hand side resolved at load time into the one test it makes:
//! a string compared by its operator (a substring searcher built once), a set lookup, a
//! literal of another kind, a path set, a regex. The reference semantics are the tree's
//! (`filter::CheckNode::test_with`), which matched on the operator, the right-hand side and
//! then the literal's kind for every value; the flattened program (`program`) evaluates with
//! these, and a test checks the two agree over every operator and literal kind. Both compare
//! strings with [`StrTest`].

use memchr::memmem::Finder;

use crate::{
    ast::Op,
    event::EventSource,
    filter::{self, Extractor, Rhs, StrSet},
    ops::{self, Lit, PathSet},
    value::Value,
};

#[derive(Clone, Debug)]
pub enum Matcher {
    /// `exists`: any present value.
    Exists,
    /// A pairing of operator and right-hand side that matches nothing.
    Never,
    /// A string literal. A byte-buffer value is compared as bytes under `op`.
    Str {
        op: Op,
        test: StrTest,
        lit: Box<str>,
    },
    /// A literal of another kind (numbers, booleans, addresses, networks, bytes).
    Lit(Op, Lit),
    /// `in` / `intersects` over strings.
    StrIn(StrSet),
    /// `in` / `intersects` over other literals.
    LitsIn(Vec<Lit>),
    Paths(Box<PathSet>),
    Regex(regex::Regex),
    /// Another field of the same event (`val()`).
    Field(Op, Extractor),
    /// Merged sibling checks of one field: true if any holds.
    AnyOf(Box<[Matcher]>),
}

/// How a string value meets a string literal: the string operators' one definition (a
/// one-off comparison, `filter::compare_str`, resolves one and uses it).
#[derive(Clone, Debug)]
pub enum StrTest {
    Eq,
    Ne,
    /// `<`, `<=`, `>`, `>=`: byte-wise order.
    Ord(Op),
    /// Boxed: a searcher is ~300 bytes, and every check of a program shares its array.
    Contains(Box<Finder<'static>>),
    IContains,
    StartsWith,
    EndsWith,
    Glob,
    IGlob,
    Never,
}

impl Matcher {
    pub fn new(op: Op, rhs: &Rhs) -> Self {
        match (rhs, op) {
            (Rhs::AnyOf(tests), _) => {
                Self::AnyOf(tests.iter().map(|(op, rhs)| Self::new(*op, rhs)).collect())
            }
            (_, Op::Exists) => Self::Exists,
            (Rhs::One(Lit::Str(l)), op) => Self::Str {
                op,
                test: StrTest::new(op, l),
                lit: l.as_str().into(),
            },
            (Rhs::One(lit), op) => Self::Lit(op, lit.clone()),
            (Rhs::Strings(set), Op::In | Op::Intersects) => Self::StrIn(set.clone()),
            (Rhs::Lits(lits), Op::In | Op::Intersects) => Self::LitsIn(lits.clone()),
            (Rhs::Paths(paths), Op::PMatch) => Self::Paths(Box::new(paths.clone())),
            (Rhs::Regex(re), Op::Regex) => Self::Regex(re.clone()),
            (Rhs::Field(x), op) => Self::Field(op, x.clone()),
            _ => Self::Never,
        }
    }

    /// The operator on one present value.
    pub fn test<E: EventSource>(&self, v: &Value, ev: &E) -> bool {
        match self {
            Self::Exists => true,
            Self::Never => false,
            Self::Str { op, test, lit } => match v {
                Value::Str(s) => test.test(s, lit),
                Value::Bytes(b) => filter::compare_bytes(b, *op, lit.as_bytes()),
                _ => false,
            },
            Self::Lit(op, lit) => filter::compare(v, *op, lit),
            Self::StrIn(set) => matches!(v, Value::Str(s) if set.contains(s)),
            Self::LitsIn(lits) => lits.iter().any(|l| filter::compare(v, Op::Eq, l)),
            Self::Paths(paths) => matches!(v, Value::Str(s) if paths.matches(s)),
            Self::Regex(re) => matches!(v, Value::Str(s) if re.is_match(s)),
            Self::Field(op, x) => match x.extract(ev) {
                Some(r) => filter::compare_values(v, *op, &r),
                None => false,
            },
            Self::AnyOf(tests) => tests.iter().any(|m| m.test(v, ev)),
        }
    }
}

impl StrTest {
    pub fn new(op: Op, lit: &str) -> Self {
        match op {
            Op::Eq | Op::In | Op::Intersects => Self::Eq,
            Op::Ne => Self::Ne,
            Op::Lt | Op::Le | Op::Gt | Op::Ge => Self::Ord(op),
            Op::Contains | Op::BContains => {
                Self::Contains(Box::new(Finder::new(lit.as_bytes()).into_owned()))
            }
            Op::IContains => Self::IContains,
            // On a string value `bstartswith` is `startswith` of its bytes.
            Op::StartsWith | Op::BStartsWith => Self::StartsWith,
            Op::EndsWith => Self::EndsWith,
            Op::Glob => Self::Glob,
            Op::IGlob => Self::IGlob,
            Op::PMatch | Op::Regex | Op::Exists => Self::Never,
        }
    }

    pub fn test(&self, s: &str, lit: &str) -> bool {
        match self {
            Self::Eq => s == lit,
            Self::Ne => s != lit,
            Self::Ord(op) => filter::ord_ok(s.cmp(lit), *op),
            Self::Contains(f) => f.find(s.as_bytes()).is_some(),
            Self::IContains => ops::icontains(s, lit),
            Self::StartsWith => s.starts_with(lit),
            Self::EndsWith => s.ends_with(lit),
            Self::Glob => ops::glob(lit, s, false),
            Self::IGlob => ops::glob(lit, s, true),
            Self::Never => false,
        }
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
