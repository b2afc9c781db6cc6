//! The rules an event meets: per event type, and within a type narrowed by the process name
//! where a rule requires one (`proc.name in (...)` as a top-level condition — most exec rules:
//! `spawned_process and shell_procs and …`). A rule is skipped only when its own condition
//! would be false, so the result is exactly what trying every rule gives, in the same order.

use std::{collections::HashMap, hash::BuildHasherDefault};

use crate::{
    ast::Op,
    event::{EventSource, FieldArg},
    fields::Field,
    filter::{FastHasher, Lhs, Memo, Node, Rhs},
    ops::Lit,
    program::Program,
    value::Value,
};

/// One rule's filter for this event type.
#[derive(Debug)]
pub struct Entry {
    pub rule: u32,
    /// The specialised filter, as a tree (for sizes and the name index)…
    pub filter: Node,
    /// …and flattened, as evaluation runs it.
    pub program: Program,
    /// Memo results without which the program is false (`Program::guards`).
    pub guards: Box<[(u32, bool)]>,
}

impl Entry {
    /// Known false from memo results this event already has: no need to run the program.
    #[inline]
    pub fn ruled_out(&self, memo: &Memo) -> bool {
        self.guards
            .iter()
            .any(|&(slot, needed)| memo.get(slot).is_some_and(|v| v != needed))
    }
}

#[derive(Debug, Default)]
pub struct TypeIndex {
    /// In evaluation order.
    entries: Vec<Entry>,
    /// Positions (in `entries`) of rules that need no particular process name.
    any_name: Vec<u32>,
    /// Per process name some rule needs: the positions of those rules merged with `any_name`,
    /// ascending — the whole candidate list for an event with that name. Unless `merged` is
    /// false: then only the rules needing the name, merged with `any_name` per event.
    by_name: HashMap<Box<str>, Vec<u32>, BuildHasherDefault<FastHasher>>,
    merged: bool,
}

/// Most positions the merged per-name lists may hold in all: each name's list repeats every
/// rule that needs no name, so 20,000 names and 20,000 such rules would take 400 million.
/// Past this, lists are merged per event instead (a few comparisons more per candidate).
const MAX_MERGED: usize = 1 << 21;

impl TypeIndex {
    pub fn push(&mut self, rule: u32, filter: Node) {
        let pos = self.entries.len() as u32;
        match required_names(&filter) {
            Some(names) => {
                for n in names {
                    let list = self.by_name.entry(n.into()).or_default();
                    if list.last() != Some(&pos) {
                        list.push(pos);
                    }
                }
            }
            None => self.any_name.push(pos),
        }
        let program = Program::compile(&filter);
        let guards = program.guards();
        self.entries.push(Entry {
            rule,
            filter,
            program,
            guards,
        });
    }

    /// Merge `any_name` into each name's list, once all rules are in: an event then walks one
    /// ready list.
    pub fn finish(&mut self) {
        self.finish_within(MAX_MERGED);
    }

    fn finish_within(&mut self, max_merged: usize) {
        let own: usize = self.by_name.values().map(Vec::len).sum();
        let merged = self
            .by_name
            .len()
            .checked_mul(self.any_name.len())
            .and_then(|n| n.checked_add(own));
        if merged.is_none_or(|n| n > max_merged) {
            return;
        }
        self.merged = true;
        for list in self.by_name.values_mut() {
            list.extend_from_slice(&self.any_name);
            list.sort_unstable();
            list.dedup();
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries `ev` could match, in evaluation order; `visit` returns false to stop.
    pub fn candidates<E: EventSource>(&self, ev: &E, mut visit: impl FnMut(&Entry) -> bool) {
        let list: &[u32] = match ev.extract(Field::ProcName, &FieldArg::None) {
            Some(Value::Str(name)) => self.by_name.get(name.as_ref()).unwrap_or(&self.any_name),
            _ => &self.any_name,
        };
        if self.merged || std::ptr::eq(list, self.any_name.as_slice()) {
            for &pos in list {
                if !visit(&self.entries[pos as usize]) {
                    return;
                }
            }
            return;
        }
        // Both lists ascend and share no rule: walk them in one order.
        let (mut named, mut any) = (list.iter().peekable(), self.any_name.iter().peekable());
        loop {
            let pos = match (named.peek(), any.peek()) {
                (Some(&&n), Some(&&a)) if n < a => named.next(),
                (_, Some(_)) => any.next(),
                (Some(_), None) => named.next(),
                (None, None) => return,
            };
            if let Some(&pos) = pos
                && !visit(&self.entries[pos as usize])
            {
                return;
            }
        }
    }
}

/// The process names without which `n` is false, if it has such a requirement.
fn required_names(n: &Node) -> Option<Vec<String>> {
    match n {
        Node::Check(c) => {
            let Lhs::One(x) = &c.lhs else { return None };
            if c.negate {
                return None;
            }
            if x.field != Field::ProcName || !x.transforms.is_empty() || x.arg != FieldArg::None {
                return None;
            }
            names_of(c.op, &c.rhs)
        }
        // Any one conjunct's requirement holds for the whole; take the narrowest.
        Node::And(xs) => xs.iter().filter_map(required_names).min_by_key(Vec::len),
        // Every branch needs one of its names.
        Node::Or(xs) => xs.iter().try_fold(Vec::new(), |mut all, x| {
            all.extend(required_names(x)?);
            Some(all)
        }),
        Node::Memo(_, x) => required_names(x),
        Node::Not(_) | Node::EvtType(_) | Node::Const(_) => None,
    }
}

/// The names a test of `proc.name` accepts, if it accepts only listed names.
fn names_of(op: Op, rhs: &Rhs) -> Option<Vec<String>> {
    match (op, rhs) {
        (Op::Eq | Op::In | Op::Intersects, Rhs::One(Lit::Str(s))) => Some(vec![s.clone()]),
        (Op::In | Op::Intersects, Rhs::Strings(set)) => {
            Some(set.items().map(str::to_string).collect())
        }
        // Merged alternatives: each must accept only listed names.
        (_, Rhs::AnyOf(tests)) => tests.iter().try_fold(Vec::new(), |mut all, (op, rhs)| {
            all.extend(names_of(*op, rhs)?);
            Some(all)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        evttype::EvtType,
        filter::{CheckNode, Extractor, StrSet},
        testing::MapEvent,
        value::FieldType,
    };

    /// Rules alternately needing a name among `names` and needing none.
    fn index(names: &[&str]) -> TypeIndex {
        let mut ix = TypeIndex::default();
        for (i, n) in names.iter().enumerate() {
            let named = Node::Check(Box::new(CheckNode {
                lhs: Lhs::One(Extractor {
                    field: Field::ProcName,
                    arg: FieldArg::None,
                    transforms: Vec::new(),
                    ty: FieldType::Str,
                }),
                op: Op::In,
                rhs: Rhs::Strings(StrSet::new(vec![n.to_string(), "shared".into()])),
                negate: false,
            }));
            ix.push(2 * i as u32, named);
            ix.push(2 * i as u32 + 1, Node::Const(true));
        }
        ix
    }

    fn visited(ix: &TypeIndex, name: Option<&str>, stop_after: usize) -> Vec<u32> {
        let mut ev = MapEvent::new(EvtType::Execve);
        if let Some(n) = name {
            ev = ev.str("proc.name", n);
        }
        let mut out = Vec::new();
        ix.candidates(&ev, |e| {
            out.push(e.rule);
            out.len() < stop_after
        });
        out
    }

    #[test]
    fn lists_merged_per_event_give_what_merged_lists_give() {
        let names = ["a", "b", "c", "d"];
        let (mut merged, mut per_event) = (index(&names), index(&names));
        merged.finish();
        per_event.finish_within(0);
        assert!(merged.merged && !per_event.merged);
        for name in [Some("a"), Some("c"), Some("shared"), Some("other"), None] {
            for stop in [1, 3, usize::MAX] {
                assert_eq!(
                    visited(&merged, name, stop),
                    visited(&per_event, name, stop),
                    "{name:?}, stop after {stop}"
                );
            }
        }
        assert_eq!(
            visited(&per_event, Some("shared"), usize::MAX),
            (0..8).collect::<Vec<_>>()
        );
        assert_eq!(visited(&per_event, Some("c"), usize::MAX), [1, 3, 4, 5, 7]);
    }
}
