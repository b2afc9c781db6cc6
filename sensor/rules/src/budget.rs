//! How big conditions may get once their macros and lists are written out.
//!
//! A macro is compiled once and shared (`filter::Node::Memo`), but the passes after
//! specialisation, and the flattened program evaluation runs, write every use of it out in
//! full. Macros using a macro twice double at each level: eighteen levels fit in 1.4 KB and
//! wrote out to 5.8 GB. So every condition is measured before anything is written out — each
//! macro once, from the sizes of the macros it uses (memoised, bottom-up), so measuring costs
//! no more than compiling — and a ruleset over these limits is refused like any broken file,
//! with the rule and the macro that blew it.
//!
//! The limits are far above what real rules need, and keep a ruleset at the limits near 100 MB:
//! the official Falco rules files (all three loaded together) have at most 561 nodes and 6,283
//! bytes in one rule's condition, 2,117 nodes and 36,678 bytes in all, per event type
//! (`official_rules_are_far_inside_the_budget` prints them); a ruleset of 250,000 nodes peaks
//! at 115 MB while it loads, 16 MiB of list items at 95 MB.

use crate::{
    ast::{Expr, Rhs},
    diag::{Diagnostic, Pos},
    loader::{Collected, Located},
};

/// Most nodes (operators, checks, macro uses) one rule's condition may have once its macros
/// are written out.
pub const MAX_RULE_NODES: u64 = 50_000;
/// Most bytes of values (literals, list items) one rule's condition may compare against once
/// its macros and lists are written out.
pub const MAX_RULE_BYTES: u64 = 4 << 20;
/// Most nodes all rules may have together, each counted once per event type it can match (the
/// index holds one written-out filter per rule and type).
pub const MAX_TOTAL_NODES: u64 = 250_000;
/// Most bytes of values all rules may compare against together (counted like the nodes); also
/// the most list items a compile may write out.
pub const MAX_TOTAL_BYTES: u64 = 16 << 20;
/// Deepest a condition may nest once macros are written out.
pub const MAX_DEPTH: u64 = 1000;

/// The size of a condition with its macros and lists written out. Saturating: a bomb's size
/// is only ever compared with the limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expanded {
    pub nodes: u64,
    pub bytes: u64,
    pub depth: u64,
}

impl Expanded {
    /// One node holding `bytes` of values.
    fn leaf(bytes: u64) -> Self {
        Self {
            nodes: 1,
            bytes,
            depth: 1,
        }
    }

    /// `self` and `other` side by side (siblings).
    fn beside(self, other: Self) -> Self {
        Self {
            nodes: self.nodes.saturating_add(other.nodes),
            bytes: self.bytes.saturating_add(other.bytes),
            depth: self.depth.max(other.depth),
        }
    }

    /// `self` `times` times (a rule indexed under several event types).
    pub fn times(self, n: u64) -> Self {
        Self {
            nodes: self.nodes.saturating_mul(n),
            bytes: self.bytes.saturating_mul(n),
            depth: self.depth,
        }
    }

    /// `self` and `other` together (totals over rules).
    pub fn plus(self, other: Self) -> Self {
        self.beside(other)
    }

    /// The first limit of one rule's condition this size is over.
    pub fn over_rule_limit(&self) -> Option<Dimension> {
        Dimension::BOTH
            .into_iter()
            .find(|d| d.of(self) > d.rule_limit())
    }

    /// The first limit of the whole ruleset this total is over.
    pub fn over_total_limit(&self) -> Option<Dimension> {
        Dimension::BOTH
            .into_iter()
            .find(|d| d.of(self) > d.total_limit())
    }

    /// One level more (an operator above its operands).
    fn deeper(self) -> Self {
        Self {
            depth: self.depth.saturating_add(1),
            ..self
        }
    }
}

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Nodes,
    Bytes,
}

impl Dimension {
    const BOTH: [Dimension; 2] = [Dimension::Nodes, Dimension::Bytes];

    pub fn of(self, e: &Expanded) -> u64 {
        match self {
            Self::Nodes => e.nodes,
            Self::Bytes => e.bytes,
        }
    }

    pub fn rule_limit(self) -> u64 {
        match self {
            Self::Nodes => MAX_RULE_NODES,
            Self::Bytes => MAX_RULE_BYTES,
        }
    }

    pub fn total_limit(self) -> u64 {
        match self {
            Self::Nodes => MAX_TOTAL_NODES,
            Self::Bytes => MAX_TOTAL_BYTES,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Nodes => "nodes",
            Self::Bytes => "bytes of values",
        }
    }
}

/// A macro written in a condition, and where.
#[derive(Clone, Debug)]
pub struct MacroUse {
    pub name: String,
    pub pos: Pos,
}

/// A condition's size and the macros it uses directly.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub size: Expanded,
    pub uses: Vec<MacroUse>,
}

/// Measure a parsed condition whose macros are already measured: `macro_size` gives the size
/// of each (it is only asked about macros that compiled).
pub fn measure(
    expr: &Expr,
    src: &Located,
    collected: &Collected,
    macro_size: &dyn Fn(&str) -> Expanded,
) -> Measured {
    let mut uses = Vec::new();
    let size = walk(expr, src, collected, macro_size, &mut uses);
    Measured { size, uses }
}

fn walk(
    e: &Expr,
    src: &Located,
    collected: &Collected,
    macro_size: &dyn Fn(&str) -> Expanded,
    uses: &mut Vec<MacroUse>,
) -> Expanded {
    match e {
        Expr::And(xs) | Expr::Or(xs) => {
            let inner = xs
                .iter()
                .map(|x| walk(x, src, collected, macro_size, uses))
                .fold(Expanded::default(), Expanded::beside);
            Expanded::leaf(0).beside(inner).deeper()
        }
        Expr::Not(x) => Expanded::leaf(0)
            .beside(walk(x, src, collected, macro_size, uses))
            .deeper(),
        Expr::Macro { name, span } => {
            uses.push(MacroUse {
                name: name.clone(),
                pos: crate::compile::at(src, span.start),
            });
            // The memo node around the body; a macro adds no depth of its own.
            let body = macro_size(name);
            Expanded {
                nodes: body.nodes.saturating_add(1),
                ..body
            }
        }
        Expr::Check(c) => Expanded::leaf(rhs_bytes(&c.rhs, collected)),
    }
}

/// Bytes of the values a check compares against, a list name counted as its items (whatever
/// the operator: an over-estimate only where a list name is compared as a plain string).
fn rhs_bytes(rhs: &Rhs, collected: &Collected) -> u64 {
    let lits = match rhs {
        Rhs::Value(l) => std::slice::from_ref(l),
        Rhs::List { items, .. } => items.as_slice(),
        Rhs::None | Rhs::Operand(_) => return 0,
    };
    lits.iter()
        .map(
            |l| match collected.lists.get(&l.text).filter(|_| !l.quoted) {
                Some(list) => list_bytes(&list.items),
                None => l.text.len() as u64,
            },
        )
        .fold(0, u64::saturating_add)
}

/// Bytes of a list's items.
pub fn list_bytes(items: &[String]) -> u64 {
    items.iter().map(|i| i.len() as u64).sum()
}

/// The error for a rule whose condition is over a limit: at the innermost macro use that is
/// over it alone (the macro that blew it), else at the condition, naming its largest macro.
/// `lookup` gives a macro's measure.
pub fn rule_error(
    rule: &str,
    cond_pos: Pos,
    measured: &Measured,
    lookup: &dyn Fn(&str) -> Option<Measured>,
) -> Option<Diagnostic> {
    let dim = measured.size.over_rule_limit()?;
    let (what, size, limit) = (dim.name(), dim.of(&measured.size), dim.rule_limit());
    // The largest use, the first of equals (`max_by_key` keeps the last).
    let pick = |m: &Measured| -> Option<(MacroUse, Measured, u64)> {
        m.uses
            .iter()
            .rev()
            .filter_map(|u| {
                let inner = lookup(&u.name)?;
                let n = dim.of(&inner.size);
                Some((u.clone(), inner, n))
            })
            .max_by_key(|(_, _, n)| *n)
    };
    let Some(mut top) = pick(measured) else {
        return Some(Diagnostic::error(
            cond_pos,
            format!(
                "rule '{rule}': the condition has {size} {what}, more than the {limit} a rule may have"
            ),
        ));
    };
    if top.2 <= limit {
        let (u, _, n) = top;
        return Some(Diagnostic::error(
            cond_pos,
            format!(
                "rule '{rule}': the condition has {size} {what} once its macros are written out, more than the {limit} a rule may have (its largest macro, '{}' at {}, has {n})",
                u.name, u.pos
            ),
        ));
    }
    // Down to the innermost macro that is over the limit on its own. Chains are acyclic (the
    // compiler refuses cycles) and at most `MAX_MACRO_CHAIN` long.
    while let Some(next) = pick(&top.1).filter(|(_, _, n)| *n > limit) {
        top = next;
    }
    let (u, _, n) = top;
    Some(
        Diagnostic::error(
            u.pos,
            format!(
                "rule '{rule}': macro '{}' has {n} {what} once the macros it uses are written out, more than the {limit} a rule may have",
                u.name
            ),
        )
        .with_token(u.name),
    )
}

#[cfg(test)]
mod tests;
