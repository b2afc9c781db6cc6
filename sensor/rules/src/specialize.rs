//! Specialise a filter for one event type: `evt.type` checks become constants, checks on
//! fields the event source never has for that type become false (Falco's missing-value rule:
//! every comparison on a missing value is false, `exists` too), and the constants are folded
//! away. What is left is only what can differ between two events of that type.
//!
//! The official rules are full of placeholders (`never_true` = `evt.num=0`, a field Lanner
//! never fills) and of `fd.*` or `evt.type` tests that are settled by the event type alone;
//! folding them removes most of the tree walk per event.

use std::{collections::HashMap, sync::Arc};

use crate::{
    evttype::EvtType,
    fields::Field,
    filter::{CheckNode, Lhs, Node, Rhs},
};

/// Whether an event source can ever have a value for `field` on events of a type. Given by
/// the event source (the sensor knows what it fills); the default claims every field.
pub type Availability = fn(EvtType, Field) -> bool;

pub fn everything(_: EvtType, _: Field) -> bool {
    true
}

pub struct Specializer {
    ty: EvtType,
    available: Availability,
    /// Macros already specialised for this type, by memo slot.
    memo: HashMap<u32, Node>,
}

impl Specializer {
    pub fn new(ty: EvtType, available: Availability) -> Self {
        Self {
            ty,
            available,
            memo: HashMap::new(),
        }
    }

    pub fn node(&mut self, n: &Node) -> Node {
        match n {
            Node::EvtType(set) => Node::Const(set.contains(self.ty)),
            Node::Const(b) => Node::Const(*b),
            // Every comparison on a missing value is false (inverted when negated).
            Node::Check(c) if !self.can_have(c) => Node::Const(c.negate),
            Node::Check(c) => Node::Check(c.clone()),
            Node::Not(x) => match self.node(x) {
                Node::Const(b) => Node::Const(!b),
                Node::Check(mut c) => {
                    c.negate = !c.negate;
                    Node::Check(c)
                }
                x => Node::Not(Box::new(x)),
            },
            Node::And(xs) => self.fold(xs, true),
            Node::Or(xs) => self.fold(xs, false),
            Node::Memo(slot, x) => {
                if let Some(done) = self.memo.get(slot) {
                    return done.clone();
                }
                let done = match self.node(x) {
                    // A constant or a single check is cheaper than a memo lookup.
                    c @ (Node::Const(_) | Node::Check(_)) => c,
                    x => Node::Memo(*slot, Arc::new(x)),
                };
                self.memo.insert(*slot, done.clone());
                done
            }
        }
    }

    /// `And` (`all` = true) or `Or`: drop neutral constants, stop at an absorbing one, splice
    /// nested nodes of the same kind, unwrap a single operand.
    fn fold(&mut self, xs: &[Node], all: bool) -> Node {
        let mut out = Vec::with_capacity(xs.len());
        for x in xs {
            match self.node(x) {
                Node::Const(b) if b == all => {}
                Node::Const(b) => return Node::Const(b),
                Node::And(ys) if all => out.extend(ys.into_vec()),
                Node::Or(ys) if !all => out.extend(ys.into_vec()),
                x => out.push(x),
            }
        }
        match out.len() {
            0 => Node::Const(all),
            1 => out.pop().unwrap_or(Node::Const(all)),
            _ if all => Node::And(out.into()),
            _ => Node::Or(out.into()),
        }
    }

    /// Could this check see a value on events of this type?
    fn can_have(&self, c: &CheckNode) -> bool {
        let has = |f: Field| (self.available)(self.ty, f);
        let lhs = match &c.lhs {
            Lhs::One(x) | Lhs::AnyAncestor(x) => has(x.field),
            Lhs::EitherEnd(a, b) => has(a.field) || has(b.field),
        };
        let rhs = match &c.rhs {
            Rhs::Field(x) => has(x.field),
            _ => true,
        };
        lhs && rhs
    }
}

/// Unwrap the macros that only one place of `filters` uses: a memo pays off only when a second
/// place can reuse the result.
pub fn unwrap_single_use(filters: &mut [Node]) {
    fn count(n: &Node, uses: &mut HashMap<u32, usize>) {
        match n {
            Node::And(xs) | Node::Or(xs) => xs.iter().for_each(|x| count(x, uses)),
            Node::Not(x) => count(x, uses),
            Node::Memo(slot, x) => {
                let seen = uses.entry(*slot).or_insert(0);
                *seen += 1;
                // The subtree is shared: count what it uses once.
                if *seen == 1 {
                    count(x, uses);
                }
            }
            Node::Check(_) | Node::EvtType(_) | Node::Const(_) => {}
        }
    }
    /// `done`: macros kept, each rebuilt once and shared by its uses.
    fn unwrap(n: &Node, uses: &HashMap<u32, usize>, done: &mut HashMap<u32, Arc<Node>>) -> Node {
        match n {
            Node::And(xs) => Node::And(xs.iter().map(|x| unwrap(x, uses, done)).collect()),
            Node::Or(xs) => Node::Or(xs.iter().map(|x| unwrap(x, uses, done)).collect()),
            Node::Not(x) => Node::Not(Box::new(unwrap(x, uses, done))),
            Node::Memo(slot, x) if uses.get(slot) == Some(&1) => unwrap(x, uses, done),
            Node::Memo(slot, x) => {
                let body = match done.get(slot) {
                    Some(b) => b.clone(),
                    None => {
                        let b = Arc::new(unwrap(x, uses, done));
                        done.insert(*slot, b.clone());
                        b
                    }
                };
                Node::Memo(*slot, body)
            }
            other => other.clone(),
        }
    }
    let mut uses = HashMap::new();
    for f in filters.iter() {
        count(f, &mut uses);
    }
    let mut done = HashMap::new();
    for f in filters.iter_mut() {
        *f = unwrap(f, &uses, &mut done);
    }
}
