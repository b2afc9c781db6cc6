//! Factor a test shared by the head of several branches out of them, once a rule's filter is
//! specialised: `(A and B1) or (A and B2)` becomes `A and (B1 or B2)`, and the exclusion
//! form `not (A and B1) and not (A and B2)` becomes `not (A and (B1 or B2))`. Sibling
//! checks of one value are merged into one that reads it once.
//!
//! The official files write many exclusions as macros sharing their first test
//! (`proc.pexe endswith java and proc.pcmdline contains …`, nine of them in
//! `Run shell untrusted`); without this, an event runs that test once per macro. Filters are
//! pure (a test has no effect but a macro memo that always records the same result), so the
//! rewrite keeps every answer; moving a grouped branch to its group's first place only changes
//! which tests run first.

use std::sync::Arc;

use crate::{
    ast::Op,
    filter::{CheckNode, Lhs, Node, Rhs},
};

/// `node` with shared leading checks factored out, at every level.
pub fn factor(node: Node) -> Node {
    match node {
        Node::And(xs) => group(xs.into_vec().into_iter().map(factor).collect(), true),
        Node::Or(xs) => group(xs.into_vec().into_iter().map(factor).collect(), false),
        Node::Not(x) => Node::Not(Box::new(factor(*x))),
        Node::Memo(slot, x) => Node::Memo(slot, Arc::new(factor((*x).clone()))),
        n => n,
    }
}

/// The parts of a branch of an `And` (`in_and`: `not (A and rest…)`) or of an `Or`
/// (`A and rest…`) that can share `A`.
fn split(n: &Node, in_and: bool) -> Option<(&CheckNode, &[Node])> {
    let conj = match (n, in_and) {
        (Node::Not(x), true) => x.as_ref(),
        (n, false) => n,
        _ => return None,
    };
    match conj {
        Node::And(ys) if ys.len() >= 2 => match &ys[0] {
            Node::Check(c) => Some((c, &ys[1..])),
            _ => None,
        },
        _ => None,
    }
}

/// Rebuild an `And` (`in_and`) or `Or` of `xs` with the branches that share a head merged.
fn group(xs: Vec<Node>, in_and: bool) -> Node {
    // For each branch, the first branch it shares its head with (itself when none).
    let leaders: Vec<usize> = (0..xs.len())
        .map(|i| match split(&xs[i], in_and) {
            Some((head, _)) => (0..i)
                .find(|&j| split(&xs[j], in_and).is_some_and(|(h, _)| same_check(h, head)))
                .unwrap_or(i),
            None => i,
        })
        .collect();
    let mut out = Vec::with_capacity(xs.len());
    for i in 0..xs.len() {
        if leaders[i] != i {
            continue;
        }
        let members: Vec<usize> = (i..xs.len()).filter(|&j| leaders[j] == i).collect();
        if members.len() < 2 {
            out.push(xs[i].clone());
            continue;
        }
        let Some((head, _)) = split(&xs[i], in_and) else {
            out.push(xs[i].clone());
            continue;
        };
        let rests = members
            .iter()
            .filter_map(|&j| split(&xs[j], in_and))
            .map(|(_, rest)| match rest {
                [one] => one.clone(),
                more => Node::And(more.into()),
            })
            .collect();
        // The alternatives may share heads of their own.
        let merged =
            Node::And(vec![Node::Check(Box::new(head.clone())), group(rests, false)].into());
        out.push(if in_and {
            Node::Not(Box::new(merged))
        } else {
            merged
        });
    }
    let mut out = merge_checks(out, in_and);
    match out.len() {
        1 => out.pop().unwrap_or(Node::Const(in_and)),
        _ if in_and => Node::And(out.into()),
        _ => Node::Or(out.into()),
    }
}

/// Merge the checks of one value that an `Or` ORs (`x op1 a or x op2 b`) or an `And` excludes
/// (`not x op1 a and not x op2 b`, the same thing negated) into one check that reads the value
/// once and tries each test. On a missing value both forms keep their answer: false for the
/// `Or`, true for the `And`. Only single-valued reads (`Lhs::One`) of a literal right-hand side
/// are merged.
fn merge_checks(xs: Vec<Node>, in_and: bool) -> Vec<Node> {
    let mergeable = |n: &Node| match n {
        Node::Check(c) => {
            c.negate == in_and && matches!(c.lhs, Lhs::One(_)) && !matches!(c.rhs, Rhs::Field(_))
        }
        _ => false,
    };
    let mut out: Vec<Node> = Vec::with_capacity(xs.len());
    // Where in `out` each merged group sits, to add later members to it.
    let mut groups: Vec<usize> = Vec::new();
    for x in xs {
        if !mergeable(&x) {
            out.push(x);
            continue;
        }
        let Node::Check(c) = x else { continue };
        let found = groups
            .iter()
            .copied()
            .find(|&g| matches!(&out[g], Node::Check(h) if h.lhs == c.lhs));
        match found {
            Some(g) => {
                if let Node::Check(h) = &mut out[g] {
                    let mut tests = tests_of(std::mem::replace(&mut h.rhs, Rhs::None), h.op);
                    tests.extend(tests_of(c.rhs, c.op));
                    h.rhs = Rhs::AnyOf(tests.into());
                }
            }
            None => {
                groups.push(out.len());
                out.push(Node::Check(c));
            }
        }
    }
    out
}

fn tests_of(rhs: Rhs, op: Op) -> Vec<(Op, Rhs)> {
    match rhs {
        Rhs::AnyOf(tests) => tests.into_vec(),
        rhs => vec![(op, rhs)],
    }
}

/// Whether two checks always give the same answer (conservatively: regex and path sets are
/// never compared).
fn same_check(a: &CheckNode, b: &CheckNode) -> bool {
    a.negate == b.negate && same_test(a, b)
}

/// Whether two checks make the same test, one possibly negated.
pub(crate) fn same_test(a: &CheckNode, b: &CheckNode) -> bool {
    a.op == b.op && a.lhs == b.lhs && same_rhs(&a.rhs, &b.rhs)
}

fn same_rhs(a: &Rhs, b: &Rhs) -> bool {
    match (a, b) {
        (Rhs::None, Rhs::None) => true,
        (Rhs::One(x), Rhs::One(y)) => x == y,
        (Rhs::Strings(x), Rhs::Strings(y)) => x == y,
        (Rhs::Lits(x), Rhs::Lits(y)) => x == y,
        (Rhs::Field(x), Rhs::Field(y)) => x == y,
        (Rhs::AnyOf(x), Rhs::AnyOf(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((o1, r1), (o2, r2))| o1 == o2 && same_rhs(r1, r2))
        }
        _ => false,
    }
}
