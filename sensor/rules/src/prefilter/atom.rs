//! One check, projected onto the kernel's dimensions: the terms under which the check may
//! come out as wanted (`want`: the value of the check that makes its literal in the rule
//! true; false under a `not`). Untestable checks become an unconstrained term that says why.
//!
//! Over finite or interval domains (booleans, fd kinds, numbers) the check is run by the
//! engine itself on one value per piece of the domain, so the operators' semantics are not
//! written twice. Names and paths are sets and patterns, read from the operator and literals.

use std::collections::BTreeSet;

use super::{
    Dnf, ends,
    facts::{ALL_KINDS, KINDS, KindMask, L4_NAMES, kind_bit, l4},
    probe::{Binding, EndPart, Probe, RetView, Side},
    term::{Comm, Ranges, Term, UID_ALL},
};
use crate::{
    ast::Op,
    event::{EventSource, FieldArg},
    evttype::EvtType,
    fields::Field,
    filter::{CheckNode, Extractor, Lhs, Rhs},
    ops::Lit,
    value::Value,
};

/// The longest comm the kernel has (16 bytes with the NUL).
const COMM_MAX: usize = 15;

pub fn atom(c: &CheckNode, want: bool, probe: &Probe, ty: EvtType) -> Dnf {
    // Merged sibling checks: any of them (each its own check on the same value).
    if let Rhs::AnyOf(tests) = &c.rhs {
        let parts = tests.iter().map(|(op, rhs)| {
            let one = CheckNode {
                lhs: c.lhs.clone(),
                op: *op,
                rhs: rhs.clone(),
                negate: false,
            };
            atom(&one, want, probe, ty)
        });
        return if want {
            super::dnf::disj(parts.collect())
        } else {
            super::dnf::conj(parts.collect())
        };
    }
    // `in` or `intersects` an empty list holds for no value of any field
    // (`CheckNode::test_with`): the official `k8s.ns.name in (namespace_scope_…)` over an
    // empty list makes its rule one no event matches, whatever the kernel can test.
    if matches!(c.op, Op::In | Op::Intersects) && empty_list(&c.rhs) {
        return if want { Vec::new() } else { vec![Term::top()] };
    }
    let why = || describe(c, want);
    if let Lhs::EitherEnd(client, server) = &c.lhs {
        return match super::ends::either(c, want, probe, ty, client, server) {
            Some(d) => d.into_iter().filter(|t| !t.is_unsat()).collect(),
            None => untestable(why()),
        };
    }
    let x = match &c.lhs {
        Lhs::One(x) if x.transforms.is_empty() && !matches!(c.rhs, Rhs::Field(_)) => x,
        _ => return untestable(why()),
    };
    let Some(binding) = probe.binding(x.field, &x.arg) else {
        return untestable(why());
    };
    let sample = Sampler { c, x, want, ty };
    let dnf = match binding {
        Binding::Comm => comm(c, want).map(|comm| {
            vec![Term {
                comm,
                ..Term::top()
            }]
        }),
        Binding::Uid => sample
            .ranges(UID_ALL, |v| Value::Uint(v as u64))
            .map(|uid| vec![Term { uid, ..Term::top() }]),
        Binding::Ret(view) => sample
            .ret(view)
            .map(|ret| vec![Term { ret, ..Term::top() }]),
        Binding::FlagBit(bit) => Some(sample.flag_bit(bit)),
        Binding::FlagText(names) => flag_text(c, want, names),
        Binding::Kind => Some(sample.kind(x.field)),
        Binding::Path(view) if want => super::paths::path(c, view).map(|clauses| {
            vec![Term {
                paths: clauses,
                ..Term::top()
            }]
        }),
        // The complement of a prefix or suffix set is not one; not kept (it admits more).
        Binding::Path(_) => None,
        Binding::L4 => Some(sample.l4()),
        Binding::Within(values) => Some(
            if values
                .iter()
                .any(|v| sample.holds_on(v.map(|s| Value::Str(s.into()))))
            {
                vec![Term::top()]
            } else {
                Vec::new()
            },
        ),
        Binding::End(side, part) => sample.end(side, part),
        Binding::DomainKind => Some(sample.domain_kind(want)),
        // A check on a missing field is false: under `not`, true.
        Binding::Missing => Some(if want { Vec::new() } else { vec![Term::top()] }),
    };
    match dnf {
        Some(d) => d.into_iter().filter(|t| !t.is_unsat()).collect(),
        None => untestable(why()),
    }
}

/// The numbers among a check's literals (`None` if there is anything else: then the truth
/// need not be constant between them).
pub(super) fn literal_numbers(c: &CheckNode) -> Option<Vec<i128>> {
    let num = |l: &Lit| match l {
        Lit::Int(n) => Some(i128::from(*n)),
        Lit::Uint(n) => Some(i128::from(*n)),
        _ => None,
    };
    match (&c.rhs, c.op) {
        (_, Op::Exists) | (Rhs::None, _) => Some(Vec::new()),
        (Rhs::One(l), _) => Some(vec![num(l)?]),
        (Rhs::Lits(ls), _) => ls.iter().map(num).collect(),
        _ => None,
    }
}

/// `lo..=hi` cut before each of `cuts` inside it: the pieces on which a comparison with
/// literals whose boundaries are the cuts is constant.
pub(super) fn pieces((lo, hi): (i64, i64), cuts: impl Iterator<Item = i128>) -> Vec<(i64, i64)> {
    let mut starts: BTreeSet<i64> = [lo].into();
    for s in cuts {
        if i128::from(lo) < s && s <= i128::from(hi) {
            starts.insert(s as i64);
        }
    }
    let starts: Vec<i64> = starts.into_iter().collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, starts.get(i + 1).map_or(hi, |n| n - 1)))
        .collect()
}

/// The terms of a kind constraint: none for no kind, the top one for every kind.
fn kind_terms(kind: KindMask) -> Dnf {
    match kind {
        0 => Vec::new(),
        ALL_KINDS => vec![Term::top()],
        kind => vec![Term {
            kind,
            ..Term::top()
        }],
    }
}

fn empty_list(rhs: &Rhs) -> bool {
    match rhs {
        Rhs::Strings(set) => set.items().next().is_none(),
        Rhs::Lits(lits) => lits.is_empty(),
        _ => false,
    }
}

fn untestable(why: String) -> Dnf {
    vec![Term::untestable(why)]
}

/// `proc.pname`, `not fd.name startswith`: the field and operator, for `-L`.
fn describe(c: &CheckNode, want: bool) -> String {
    let name = match &c.lhs {
        Lhs::One(x) | Lhs::AnyAncestor(x) => x.field.name(),
        Lhs::EitherEnd(a, _) => a.field.name(),
    };
    let transformed = matches!(&c.lhs, Lhs::One(x) if !x.transforms.is_empty());
    let not = if want { "" } else { "not " };
    let op = match c.op {
        Op::Exists => "exists",
        op => op.as_str(),
    };
    let name = if transformed {
        format!("a transformed {name}")
    } else {
        name.to_string()
    };
    format!("{not}{name} {op}")
}

/// The string literals on the right-hand side, if that is what it is.
pub(super) fn strings(rhs: &Rhs) -> Option<Vec<&str>> {
    match rhs {
        Rhs::One(Lit::Str(s)) => Some(vec![s.as_str()]),
        Rhs::Strings(set) => Some(set.items().collect()),
        _ => None,
    }
}

/// A literal the kernel compares byte for byte with what it read. Not one with U+FFFD (the
/// sensor decodes invalid UTF-8 to it, so the text could match bytes that do not) or NUL
/// (never in a C string the kernel reads, and Falco rejects it).
pub(super) fn kernel_literal(s: &str) -> bool {
    !s.contains(['\u{FFFD}', '\0'])
}

fn comm(c: &CheckNode, want: bool) -> Option<Comm> {
    // proc.name is always present, so `!=` is the complement of `=`.
    let (set, member) = match c.op {
        Op::Eq | Op::In | Op::Intersects => (strings(&c.rhs)?, want),
        Op::Ne => (strings(&c.rhs)?, !want),
        Op::Exists if want => return Some(Comm::Any),
        _ => return None,
    };
    if member && !set.iter().all(|s| kernel_literal(s)) {
        return None;
    }
    // A name longer than a comm is never equal to one.
    let set = set
        .into_iter()
        .filter(|s| s.len() <= COMM_MAX && !s.contains('\0'))
        .map(|s| s.as_bytes().to_vec())
        .collect();
    Some(if member {
        Comm::In(set)
    } else {
        Comm::NotIn(set)
    })
}

/// `evt.arg.flags contains O_TRUNC`: exact when every name the literal can be part of has a
/// class bit (a literal with no `|` lies inside one name).
fn flag_text(c: &CheckNode, want: bool, names: &[(&str, Option<u32>)]) -> Option<Dnf> {
    let (Op::Contains, Rhs::One(Lit::Str(lit))) = (c.op, &c.rhs) else {
        return None;
    };
    if lit.is_empty() || lit.contains('|') {
        return None;
    }
    let hit: Vec<Option<u32>> = names
        .iter()
        .filter(|(n, _)| n.contains(lit.as_str()))
        .map(|&(_, b)| b)
        .collect();
    // No name holds it: the renderer's vocabulary is the contract, but an unexpected name
    // would make this wrong, so it stays untestable.
    if hit.is_empty() || hit.iter().any(Option::is_none) {
        return None;
    }
    let bits = hit.into_iter().flatten();
    Some(if want {
        bits.map(|b| Term {
            flags_set: b,
            ..Term::top()
        })
        .collect()
    } else {
        vec![Term {
            flags_clear: bits.fold(0, |a, b| a | b),
            ..Term::top()
        }]
    })
}

/// Runs the check through the engine on chosen values.
struct Sampler<'a> {
    c: &'a CheckNode,
    x: &'a Extractor,
    want: bool,
    ty: EvtType,
}

/// An event with (at most) one field.
struct OneField<'v> {
    field: Field,
    arg: &'v FieldArg,
    value: Option<Value<'v>>,
    ty: EvtType,
}

impl EventSource for OneField<'_> {
    fn evt_type(&self) -> EvtType {
        self.ty
    }
    fn extract(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>> {
        if field == self.field && arg == self.arg {
            self.value.clone()
        } else {
            None
        }
    }
}

impl Sampler<'_> {
    /// Whether the check comes out as wanted on `value`.
    fn holds(&self, value: Value) -> bool {
        self.holds_on(Some(value))
    }

    /// …or on an event without the field (`None`).
    fn holds_on(&self, value: Option<Value>) -> bool {
        let ev = OneField {
            field: self.x.field,
            arg: &self.x.arg,
            value,
            ty: self.ty,
        };
        self.c.eval(&ev) == self.want
    }

    /// The numbers among the literals (`None` if there is anything else: then the truth
    /// need not be constant between them).
    fn numbers(&self) -> Option<Vec<i128>> {
        literal_numbers(self.c)
    }

    /// The values in `lo..=hi` on which the check comes out as wanted, `value` mapping a
    /// number to the field's value. A comparison with a literal n is constant on (.., n-1],
    /// [n, n] and [n+1, ..), so one value per piece between the literals decides it.
    fn ranges(&self, domain: (i64, i64), value: impl Fn(i64) -> Value<'static>) -> Option<Ranges> {
        let cuts = self.numbers()?.into_iter().flat_map(|n| [n, n + 1]);
        let mut out = Ranges::empty();
        for (lo, hi) in pieces(domain, cuts) {
            if self.holds(value(lo)) {
                out.push(lo, hi);
            }
        }
        Some(out)
    }

    /// socket's `evt.arg.domain`: the kinds of the domains on which the check comes out as
    /// wanted, and no kind (a failed call) if any. A domain Falco has no name for shows its
    /// number, and may have any kind (the probe takes the family from the argument's low 16
    /// bits): all kinds, unless the check holds on no number's text.
    fn domain_kind(&self, want: bool) -> Dnf {
        use lanner_common::net_fd::{SOCKET_FAMILIES, family_kind};
        let mut kind = 0;
        let mut values: Vec<u32> = SOCKET_FAMILIES.iter().map(|(v, _)| *v).collect();
        values.dedup();
        for v in values {
            let names: Vec<&str> = SOCKET_FAMILIES
                .iter()
                .filter(|(x, _)| *x == v)
                .map(|(_, n)| *n)
                .collect();
            if self.holds(Value::Str(names.join("|").into())) {
                kind |= kind_bit(Some(family_kind(v as u16)));
            }
        }
        // A number's text is digits and a sign: a positive test of literals that each have
        // another character holds on none.
        let positive = matches!(
            self.c.op,
            Op::Eq
                | Op::In
                | Op::Intersects
                | Op::Contains
                | Op::IContains
                | Op::StartsWith
                | Op::EndsWith
        );
        let lits = strings(&self.c.rhs).unwrap_or_default();
        let numbers_fail = want
            && positive
            && !lits.is_empty()
            && lits
                .iter()
                .all(|l| l.chars().any(|c| !c.is_ascii_digit() && c != '-'));
        if !numbers_fail {
            kind = ALL_KINDS;
        }
        if kind != 0 {
            kind |= kind_bit(None);
        }
        kind_terms(kind)
    }

    /// `fd.l4proto`'s values on which the check comes out as wanted, as `l4` bits.
    fn l4(&self) -> Dnf {
        let mut bits = 0;
        for (i, name) in L4_NAMES.iter().enumerate() {
            if self.holds(Value::Str((*name).into())) {
                bits |= 1 << i;
            }
        }
        if self.holds_on(None) {
            bits |= 1 << l4::NONE;
        }
        match bits {
            0 => Vec::new(),
            l4::ALL => vec![Term::top()],
            l4 => vec![Term { l4, ..Term::top() }],
        }
    }

    /// An address or port of one end: the values of its domain on which the check comes out
    /// as wanted.
    fn end(&self, side: Side, part: EndPart) -> Option<Dnf> {
        let mut ranges = Ranges::empty();
        for (lo, hi) in ends::pieces_of(self.c, part)? {
            if self.holds(ends::part_value(part, lo)) {
                ranges.push(lo, hi);
            }
        }
        Some(vec![ends::term_with(side, part, ranges)])
    }

    /// The return values on which a return field's check comes out as wanted.
    fn ret(&self, view: RetView) -> Option<Ranges> {
        let (neg, nonneg) = ((i64::MIN, -1), (0, i64::MAX));
        let whole = |(lo, hi): (i64, i64), yes: bool| {
            if yes {
                Ranges::of(lo, hi)
            } else {
                Ranges::empty()
            }
        };
        Some(match view {
            RetView::Raw => self.ranges((i64::MIN, i64::MAX), Value::Int)?,
            RetView::FdNum => self
                .ranges(nonneg, Value::Int)?
                .union(&whole(neg, self.holds(Value::Int(-1)))),
            RetView::Failed => whole(neg, self.holds(Value::Bool(true)))
                .union(&whole(nonneg, self.holds(Value::Bool(false)))),
            RetView::Res => whole(nonneg, self.holds(Value::Str("SUCCESS".into())))
                .union(&whole(neg, self.errno_may())),
        })
    }

    /// Whether `evt.res` of a failed call (an errno name, or a number as text — never
    /// `SUCCESS`) may come out as wanted. Exact for the forms the rules use with `SUCCESS`;
    /// otherwise it may.
    fn errno_may(&self) -> bool {
        let only_success = |ls: &[&str]| ls.iter().all(|l| *l == "SUCCESS");
        let lits = strings(&self.c.rhs);
        match (self.c.op, lits.as_deref()) {
            // `= SUCCESS`, `in (SUCCESS)`: never true on a failure.
            (Op::Eq | Op::In | Op::Intersects, Some(ls)) if only_success(ls) => !self.want,
            // `!= SUCCESS`: always true on a failure.
            (Op::Ne, Some(["SUCCESS"])) => self.want,
            // Present: `exists` is true.
            (Op::Exists, _) => self.want,
            _ => true,
        }
    }

    fn flag_bit(&self, bit: u32) -> Dnf {
        match (
            self.holds(Value::Bool(true)),
            self.holds(Value::Bool(false)),
        ) {
            (true, true) => vec![Term::top()],
            (true, false) => vec![Term {
                flags_set: bit,
                ..Term::top()
            }],
            (false, true) => vec![Term {
                flags_clear: bit,
                ..Term::top()
            }],
            (false, false) => Vec::new(),
        }
    }

    fn kind(&self, field: Field) -> Dnf {
        let mut kind = 0;
        for (i, (typechar, name)) in KINDS.iter().enumerate() {
            let v = if field == Field::FdTypechar {
                typechar
            } else {
                name
            };
            if self.holds(Value::Str((*v).into())) {
                kind |= 1 << i;
            }
        }
        if self.holds_on(None) {
            kind |= kind_bit(None);
        }
        kind_terms(kind)
    }
}
