//! A specialised condition in disjunctive normal form over the kernel's dimensions, negation
//! pushed to the checks. `and` of `or`s multiplies terms; the product is bounded: past
//! `MAX_EXPANSION` terms an operand (then the product so far) is widened to the join of its
//! terms — it admits more, never less, so the result stays sound whatever the rule.

use std::collections::HashMap;

use super::{
    Dnf, atom,
    probe::Probe,
    term::{Term, join_all},
};
use crate::{evttype::EvtType, filter::Node};

/// Terms a sub-condition may have before it is widened.
pub const MAX_EXPANSION: usize = 64;

/// Walks the conditions of one event type; macros shared by its rules are projected once.
pub struct Walker<'p> {
    probe: &'p Probe,
    ty: EvtType,
    memo: HashMap<(u32, bool), Dnf>,
}

impl<'p> Walker<'p> {
    pub fn new(probe: &'p Probe, ty: EvtType) -> Self {
        Self {
            probe,
            ty,
            memo: HashMap::new(),
        }
    }

    /// `node` (negated if `neg`) as terms; empty: no event can satisfy it.
    pub fn dnf(&mut self, node: &Node, neg: bool) -> Dnf {
        let truth = |b: bool| if b { vec![Term::top()] } else { Vec::new() };
        match node {
            Node::Const(b) => truth(*b != neg),
            Node::EvtType(set) => truth(set.contains(self.ty) != neg),
            Node::Not(x) => self.dnf(x, !neg),
            // The check's own `not` and the one around it: the value of the check that makes
            // the literal true.
            Node::Check(c) => atom::atom(c, c.negate == neg, self.probe, self.ty),
            Node::And(xs) | Node::Or(xs) => {
                let parts = xs.iter().map(|x| self.dnf(x, neg)).collect();
                if matches!(node, Node::And(_)) != neg {
                    conj(parts)
                } else {
                    disj(parts)
                }
            }
            Node::Memo(slot, x) => {
                if let Some(done) = self.memo.get(&(*slot, neg)) {
                    return done.clone();
                }
                let done = self.dnf(x, neg);
                self.memo.insert((*slot, neg), done.clone());
                done
            }
        }
    }
}

/// Add `t` to a disjunction unless a term there admits all it does; drop those it covers.
/// Merged with a term it differs from in one dimension, when their union is one term.
pub fn push_absorbing(out: &mut Vec<Term>, mut t: Term) {
    loop {
        if out.iter().any(|o| o.subsumes(&t)) {
            return;
        }
        out.retain(|o| !t.subsumes(o));
        let Some(i) = out.iter().position(|o| o.merge_exact(&t).is_some()) else {
            out.push(t);
            return;
        };
        let o = out.swap_remove(i);
        t = o.merge_exact(&t).unwrap_or(t);
    }
}

/// Any of `parts`.
pub fn disj(parts: Vec<Dnf>) -> Dnf {
    let mut out = Vec::new();
    for t in parts.into_iter().flatten() {
        // Unconstrained: nothing else matters (it says why it is).
        if t.is_top() {
            return vec![t];
        }
        push_absorbing(&mut out, t);
    }
    widen(out)
}

/// All of `parts`.
pub fn conj(mut parts: Vec<Dnf>) -> Dnf {
    // Fewest terms first: a contradiction shows early, and the product grows last.
    parts.sort_by_key(Vec::len);
    let mut acc = vec![Term::top()];
    for mut p in parts {
        if p.is_empty() {
            return Vec::new();
        }
        if acc.len() * p.len() > MAX_EXPANSION {
            p = widen_to_one(p);
            if acc.len() * p.len() > MAX_EXPANSION {
                acc = widen_to_one(acc);
            }
        }
        let mut next = Vec::new();
        for a in &acc {
            for b in &p {
                if let Some(m) = a.meet(b) {
                    push_absorbing(&mut next, m);
                }
            }
        }
        if next.is_empty() {
            return Vec::new();
        }
        acc = next;
    }
    acc
}

fn widen(terms: Dnf) -> Dnf {
    if terms.len() > MAX_EXPANSION {
        widen_to_one(terms)
    } else {
        terms
    }
}

fn widen_to_one(terms: Dnf) -> Dnf {
    join_all(&terms).into_iter().collect()
}
