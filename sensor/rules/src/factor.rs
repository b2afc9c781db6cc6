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

use std::{collections::HashMap, sync::Arc};

use crate::{
    ast::Op,
    check_key::{TestKey, lhs_key},
    filter::{CheckNode, Lhs, Node, Rhs},
};

/// The filters of one event type with shared leading checks factored out, at every level. A
/// macro's body (the same for every use within a type) is factored once and stays shared.
pub fn factor_all(filters: Vec<Node>) -> Vec<Node> {
    let mut macros = HashMap::new();
    filters
        .into_iter()
        .map(|f| factor(f, &mut macros))
        .collect()
}

fn factor(node: Node, macros: &mut HashMap<u32, Arc<Node>>) -> Node {
    let mut all = |xs: Box<[Node]>| -> Vec<Node> {
        xs.into_vec()
            .into_iter()
            .map(|x| factor(x, macros))
            .collect()
    };
    match node {
        Node::And(xs) => group(all(xs), true, 0),
        Node::Or(xs) => group(all(xs), false, 0),
        Node::Not(x) => Node::Not(Box::new(factor(*x, macros))),
        Node::Memo(slot, x) => {
            let body = match macros.get(&slot) {
                Some(done) => done.clone(),
                None => {
                    let done = Arc::new(factor((*x).clone(), macros));
                    macros.insert(slot, done.clone());
                    done
                }
            };
            Node::Memo(slot, body)
        }
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

/// How many shared heads in a row are factored out: each nests the rest one level deeper
/// (`A and (B and (C and …))`), and the passes after this one recurse on that nesting, so
/// branches sharing thousands of leading checks must not become thousands of levels.
const MAX_NESTED_HEADS: usize = 64;

/// Rebuild an `And` (`in_and`) or `Or` of `xs` with the branches that share a head merged;
/// `nested`: how many heads were factored out above.
fn group(xs: Vec<Node>, in_and: bool, nested: usize) -> Node {
    if nested >= MAX_NESTED_HEADS {
        return match xs.len() {
            1 => xs.into_iter().next().unwrap_or(Node::Const(in_and)),
            _ if in_and => Node::And(xs.into()),
            _ => Node::Or(xs.into()),
        };
    }
    // For each branch, the first branch it shares its head with (itself when none): found by
    // the head's key, so a long `and`/`or` is grouped in one pass.
    let mut first_with: HashMap<(bool, TestKey), usize> = HashMap::new();
    let leaders: Vec<usize> = (0..xs.len())
        .map(|i| {
            let key =
                split(&xs[i], in_and).and_then(|(head, _)| Some((head.negate, TestKey::of(head)?)));
            match key {
                Some(k) => *first_with.entry(k).or_insert(i),
                None => i,
            }
        })
        .collect();
    // The members of each group, in order.
    let mut members_of: HashMap<usize, Vec<usize>> = HashMap::new();
    for (j, &l) in leaders.iter().enumerate() {
        members_of.entry(l).or_default().push(j);
    }
    let mut out = Vec::with_capacity(xs.len());
    for i in 0..xs.len() {
        if leaders[i] != i {
            continue;
        }
        let members = members_of.remove(&i).unwrap_or_default();
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
        let merged = Node::And(
            vec![
                Node::Check(Box::new(head.clone())),
                group(rests, false, nested + 1),
            ]
            .into(),
        );
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
    // Where in `out` each value's merged check sits, to add later tests to it.
    let mut groups = HashMap::new();
    for x in xs {
        if !mergeable(&x) {
            out.push(x);
            continue;
        }
        let Node::Check(c) = x else { continue };
        let key = lhs_key(&c.lhs);
        match groups.get(&key).copied() {
            Some(g) => {
                if let Node::Check(h) = &mut out[g] {
                    let mut tests = tests_of(std::mem::replace(&mut h.rhs, Rhs::None), h.op);
                    tests.extend(tests_of(c.rhs, c.op));
                    h.rhs = Rhs::AnyOf(tests.into());
                }
            }
            None => {
                groups.insert(key, out.len());
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
