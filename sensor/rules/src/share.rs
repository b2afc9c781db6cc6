//! Checks repeated across the rules of one event type, run at most once per event.
//!
//! Macros are memoised (`filter::Memo`), but the same test is often written out in several
//! macros or rules: the connect rules' `inbound_outbound` and `outbound` macros both start
//! with `fd.typechar in (4, 6) and fd.ip != "0.0.0.0" and fd.net != "127.0.0.0/8"`, and
//! `container.id != host` recurs in rules of its own. Once a type's filters are specialised
//! and factored, every test that occurs more than once among them (a shared macro's body
//! counted once: it runs once; a check and its negation are one test) gets a memo slot, so an
//! event reads and compares it once.
//! On a loopback connect under the official rules that halves the checks run. Filters are
//! pure, so every answer is unchanged; only repeats are skipped.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use crate::{
    check_key::TestKey,
    filter::{CheckNode, Node},
};

/// Give every check that recurs in `filters` a memo slot, numbered from `first_slot`; returns
/// the slot after the last one used.
pub fn share_checks(filters: &mut [Node], first_slot: u32) -> u32 {
    let mut census = Census::default();
    let mut seen_macros = HashSet::new();
    for f in filters.iter() {
        census.count(f, &mut seen_macros);
    }
    let mut next = first_slot;
    let slots: Vec<Option<u32>> = census
        .uses
        .iter()
        .map(|&n| {
            (n >= 2).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    if next == first_slot {
        return next;
    }
    let mut rewrite = Rewrite {
        census: &census,
        slots: &slots,
        macros: HashMap::new(),
    };
    for f in filters.iter_mut() {
        *f = rewrite.node(f);
    }
    next
}

/// The distinct tests of a type's filters (a check and its negation are one test) and how
/// often each runs at most.
#[derive(Default)]
struct Census {
    uses: Vec<usize>,
    /// Each test's index, by its key (tests that cannot be compared have none and are not
    /// counted: they are never shared).
    ids: HashMap<TestKey, usize>,
}

impl Census {
    fn count(&mut self, n: &Node, seen_macros: &mut HashSet<u32>) {
        match n {
            Node::And(xs) | Node::Or(xs) => xs.iter().for_each(|x| self.count(x, seen_macros)),
            Node::Not(x) => self.count(x, seen_macros),
            Node::Memo(slot, x) => {
                if seen_macros.insert(*slot) {
                    self.count(x, seen_macros);
                }
            }
            Node::Check(c) => {
                if let Some(key) = TestKey::of(c) {
                    let next = self.uses.len();
                    let id = *self.ids.entry(key).or_insert(next);
                    if id == next {
                        self.uses.push(0);
                    }
                    self.uses[id] += 1;
                }
            }
            Node::EvtType(_) | Node::Const(_) => {}
        }
    }

    /// The index of `c`, if `count` has seen its test.
    fn find(&self, c: &CheckNode) -> Option<usize> {
        self.ids.get(&TestKey::of(c)?).copied()
    }
}

struct Rewrite<'a> {
    census: &'a Census,
    slots: &'a [Option<u32>],
    /// Macro bodies already rewritten, so filters keep sharing one body per macro.
    macros: HashMap<u32, Arc<Node>>,
}

impl Rewrite<'_> {
    fn node(&mut self, n: &Node) -> Node {
        match n {
            Node::And(xs) => Node::And(xs.iter().map(|x| self.node(x)).collect()),
            Node::Or(xs) => Node::Or(xs.iter().map(|x| self.node(x)).collect()),
            Node::Not(x) => Node::Not(Box::new(self.node(x))),
            Node::Memo(slot, x) => {
                let body = match self.macros.get(slot) {
                    Some(b) => b.clone(),
                    None => {
                        let b = Arc::new(self.node(x));
                        self.macros.insert(*slot, b.clone());
                        b
                    }
                };
                Node::Memo(*slot, body)
            }
            // The slot holds the test's own result; a negated use inverts it.
            Node::Check(c) => match self.census.find(c).and_then(|i| self.slots[i]) {
                Some(slot) if c.negate => {
                    let test = CheckNode {
                        negate: false,
                        ..(**c).clone()
                    };
                    Node::Not(Box::new(Node::Memo(
                        slot,
                        Arc::new(Node::Check(Box::new(test))),
                    )))
                }
                Some(slot) => Node::Memo(slot, Arc::new(n.clone())),
                None => n.clone(),
            },
            Node::EvtType(_) | Node::Const(_) => n.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
