//! The in-kernel prefilter, derived from the loaded rules: for each event type, what a probe
//! may drop before it copies anything to the ring buffer. Falco sends every event of a type
//! it watches to user space and filters there; for the hottest syscalls (open, above all)
//! that copy and wake-up is the overhead. Here the kernel drops what no loaded rule can match.
//!
//! # Soundness
//! An event the kernel drops must match no enabled rule. Everything below over-approximates:
//! each rule's condition (specialised for the type) is projected onto what the kernel can
//! test, anything else counting as "may be true or false" (`container.*`, `proc.pname`,
//! `proc.cmdline`, ancestors, transformers, `val()`, …). The property test (`props.rs`) runs
//! the real engine on events built from the same facts as the reference evaluator `admits`,
//! with the three official rules files and rules written to stress negation, `pmatch`, `glob`
//! and lists: whenever `admits` says drop, no rule matches.
//!
//! # The dimensions (what the kernel tests, and why it is cheap and sound)
//! - **`proc.name`** (`Comm`): the task's comm, 16 bytes the probe already reads for the
//!   record header; one hash lookup gives its membership in every name set of the type.
//!   Exact: the sensor's `proc.name` is that comm. Sets and complements (`in`, `=`, `!=`,
//!   `not … in`) are kept; `startswith`, `contains`, … on it are untestable. A literal longer
//!   than 15 bytes can never equal a comm; one with U+FFFD is untestable in a positive set
//!   (the sensor decodes invalid UTF-8 to it).
//! - **The path argument as passed** (`term::Pattern`): the user string the record needs
//!   anyway, read once (at most 255 bytes), then one pass over its bytes and a few lookups.
//!   Falco's `fd.name` is the absolute, normalized path, so the kernel decides on `fd.name`
//!   only when the path was read whole, is at most `PATH_MAX_DECIDABLE` bytes, absolute and
//!   already normalized (no `.`, `..` or empty component, no trailing `/`): then `fd.name` is
//!   those very bytes. Any other path (relative, through a dirfd, `..`, `//`, too long, a
//!   fault) satisfies every `fd.name` constraint — the kernel does not resolve paths.
//!   - exact names and prefixes: one LPM trie (an exact name is a key with its NUL);
//!     `fd.name =`/`in`, `startswith`, `pmatch` (the literal components before a glob, as a
//!     directory prefix), a `glob`'s literal head;
//!   - suffixes: an LPM trie of reversed paths; `endswith`, `fd.filename = n` (`/n`), a
//!     `glob`'s literal tail;
//!   - the parent directory: one hash lookup of the path up to its last `/`, which the pass
//!     notes; `fd.directory = d` is exactly `d` itself (a directory fd) or a file in `d`.
//!     (Cheaper than it is precise: as a prefix `d/`, `fd.directory = /` — the sandbox's
//!     *Write below root* — would admit every write.)
//!   - needles: substrings of at most 8 bytes, matched by the same pass in a shift
//!     register; `contains`, a `glob`'s inner literal run, and `fd.nameraw` (the raw path,
//!     `//` collapsed — decided on any path read whole). Without them the stable *Directory
//!     traversal monitored file read* (`fd.nameraw contains '../'`) would admit every read.
//!   - a negated path check is not one of these sets: untestable (admits more).
//! - **Open flag classes** (`probe::flag`): a few bit tests on the flags argument
//!   (`evt.is_open_read/write/exec`, `evt.arg.flags contains O_TRUNC`, …).
//! - **The return value**, as ranges (`evt.res`, `evt.rawres`, `evt.failed`, `fd.num` of a
//!   call returning an fd): known at exit, where the record is completed. The sign decides
//!   `fd.num>=0` and `evt.res startswith E`; exact values `evt.rawres in (0, 1, 2)`.
//! - **The fd kind** (`fd.typechar`, `fd.type`) where the probe knows it: a mask test.
//! - **`user.uid`**, as ranges: in the header the probe fills anyway.
//! - **A connect's ends and protocol** (`ends`, `probe::NetProbe`): the server's IPv4
//!   address and port, from the address argument at entry, as ranges (`fd.sip`, `fd.snet`,
//!   `fd.sport`); the client's, from the socket at exit; `fd.ip`, `fd.net`, `fd.port` over
//!   both; `fd.l4proto` as a mask, from the socket at exit. The official *outbound* and
//!   *inbound_outbound* macros keep a loopback connect in the kernel at entry. An accept's
//!   `fd.l4proto` is never `udp`: decided without a fact.
//!
//! Which fields are which fact for a type is `probe::Probe` — the only per-type input, so a
//! new family needs a probe description, not a new analysis.
//!
//! # Form and budgets
//! A type's filter is a disjunction of terms (`term::Term`), each a conjunction with at most
//! one constraint per dimension but any number of path clauses. Budgets bound what the kernel
//! loops over and what the maps hold (`Budgets`): past them a rule's terms are joined into one
//! (admits more), and if that is not enough the type passes, saying which budget.
//!
//! Results: `Drop` (no enabled rule can match the type), `Pass` (some rule needs what the
//! kernel cannot test: which rule and why, for `-L` and a metric; or `--dump-events`), or
//! `Filter`. A type the sensor needs for itself (exec, fork, exit feed the process table)
//! must still be captured whatever the rules say: the caller decides that, not this module.
//! The kernel's map layout is in `maps`.

mod atom;
mod dnf;
mod ends;
pub mod facts;
pub mod maps;
mod paths;
pub mod plan;
pub mod probe;
mod ranges;
mod show;
pub mod term;

#[cfg(test)]
mod official;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod world;

use std::{collections::BTreeSet, fmt, sync::Arc};

pub use facts::{KernelFacts, PathArg, admits};
pub use plan::{Plan, kernel_probe, plan};
pub use probe::Probe;
use term::{Comm, Pattern, Term};

use crate::{evttype::EvtType, filter::Node, ruleset::Ruleset, specialize::Specializer};

/// A disjunction of terms; empty: false.
pub type Dnf = Vec<Term>;

/// How the analysis runs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--dump-events`: every event of every type is wanted, rules or not.
    pub dump_events: bool,
    pub budgets: Budgets,
}

/// What one type's filter may cost the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budgets {
    /// Terms the probe loops over (a bounded loop for the verifier).
    pub terms: usize,
    /// Distinct `proc.name` sets: bits of the comm map's value.
    pub comm_sets: usize,
    /// Distinct path clauses: bits of the tries' values.
    pub path_clauses: usize,
    /// Ranges per term for `user.uid` and for the return value.
    pub ranges: usize,
    /// …for each address and port of a connection's ends.
    pub net_ranges: usize,
    /// Entries of this type in the comm map, the prefix trie and the suffix trie.
    pub comm_keys: usize,
    pub prefix_keys: usize,
    pub suffix_keys: usize,
    pub dir_keys: usize,
    /// Substrings the path pass looks for.
    pub needles: usize,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            terms: maps::MAX_TERMS_PER_TYPE,
            comm_sets: 64,
            path_clauses: 64,
            ranges: maps::MAX_RANGES,
            net_ranges: maps::MAX_NET_RANGES,
            comm_keys: 1024,
            prefix_keys: 2048,
            suffix_keys: 1024,
            dir_keys: 1024,
            needles: maps::MAX_NEEDLES_PER_TYPE,
        }
    }
}

/// What the kernel does with events of one type.
#[derive(Clone, Debug)]
pub enum TypeFilter {
    /// No enabled rule can match an event of this type.
    Drop,
    /// Every event goes to user space, for these reasons.
    Pass(Vec<PassReason>),
    Filter(Filter),
}

impl TypeFilter {
    /// `drop`, `pass` or `filter`: a metric label.
    pub fn mode(&self) -> &'static str {
        match self {
            TypeFilter::Drop => "drop",
            TypeFilter::Pass(_) => "pass",
            TypeFilter::Filter(_) => "filter",
        }
    }

    /// Why the type passes whole (empty unless it does).
    pub fn pass_reasons(&self) -> &[PassReason] {
        match self {
            TypeFilter::Pass(r) => r,
            _ => &[],
        }
    }
}

/// Why a type passes whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassReason {
    /// `--dump-events`.
    DumpEvents,
    /// The rule may match events the kernel cannot tell apart from others, because of these
    /// checks (empty: its condition holds for every event of the type).
    Rule {
        rule: Arc<str>,
        untestable: Vec<String>,
    },
    /// The type's filter would exceed a budget.
    OverBudget {
        what: &'static str,
        needed: usize,
        limit: usize,
    },
}

impl fmt::Display for PassReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassReason::DumpEvents => f.write_str("--dump-events"),
            PassReason::Rule { rule, untestable } if untestable.is_empty() => {
                write!(f, "rule '{rule}' matches every event of this type")
            }
            PassReason::Rule { rule, untestable } => write!(
                f,
                "rule '{rule}' needs what the kernel cannot test: {}",
                untestable.join(", ")
            ),
            PassReason::OverBudget {
                what,
                needed,
                limit,
            } => write!(f, "over budget: {needed} {what} (at most {limit})"),
        }
    }
}

/// The terms of a filtered type.
#[derive(Clone, Debug)]
pub struct Filter {
    pub terms: Vec<Term>,
    /// Rules that can match events of the type (each contributed terms).
    pub rules: usize,
}

/// Derive what the kernel may do with events of type `ty`, whose probe decides on `probe`.
pub fn derive(rs: &Ruleset, ty: EvtType, probe: &Probe, opts: &Options) -> TypeFilter {
    if opts.dump_events {
        return TypeFilter::Pass(vec![PassReason::DumpEvents]);
    }
    let mut spec = Specializer::new(ty, rs.options().available);
    let mut walker = dnf::Walker::new(probe, ty);
    let mut passes = Vec::new();
    let mut per_rule: Vec<Dnf> = Vec::new();
    for r in rs.rules() {
        if !r.enabled || !r.evt_types.contains(ty) {
            continue;
        }
        let node = spec.node(r.filter());
        if matches!(node, Node::Const(false)) {
            continue;
        }
        let terms = walker.dnf(&node, false);
        // Empty: even the over-approximation is false, so the rule never matches.
        if let Some(top) = terms.iter().find(|t| t.is_top()) {
            passes.push(PassReason::Rule {
                rule: r.name.clone(),
                untestable: top.untestable.iter().cloned().collect(),
            });
        } else if !terms.is_empty() {
            per_rule.push(terms);
        }
    }
    if !passes.is_empty() {
        return TypeFilter::Pass(passes);
    }
    if per_rule.is_empty() {
        return TypeFilter::Drop;
    }
    match fit(per_rule, &opts.budgets) {
        Ok(f) => TypeFilter::Filter(f),
        Err(over) => TypeFilter::Pass(vec![over]),
    }
}

/// Every type of `types` with its probe (`probe_of`).
pub fn derive_all(
    rs: &Ruleset,
    types: impl IntoIterator<Item = EvtType>,
    probe_of: impl Fn(EvtType) -> Probe,
    opts: &Options,
) -> Vec<(EvtType, TypeFilter)> {
    types
        .into_iter()
        .map(|t| (t, derive(rs, t, &probe_of(t), opts)))
        .collect()
}

/// The terms of all rules within the budgets: join the terms of the rule with the most until
/// they fit, or say which budget is exceeded.
fn fit(mut per_rule: Vec<Dnf>, b: &Budgets) -> Result<Filter, PassReason> {
    limit_needles(&mut per_rule, b.needles);
    loop {
        let mut terms: Vec<Term> = Vec::new();
        for ts in &per_rule {
            for t in ts {
                let mut t = t.clone();
                t.uid.widen_to(b.ranges);
                t.ret.widen_to(b.ranges);
                for end in [&mut t.server, &mut t.client] {
                    end.ip.widen_to(b.net_ranges);
                    end.port.widen_to(b.net_ranges);
                }
                dnf::push_absorbing(&mut terms, t);
            }
        }
        if terms.iter().any(Term::is_top) {
            return Err(PassReason::OverBudget {
                what: "path needles",
                needed: b.needles + 1,
                limit: b.needles,
            });
        }
        let cost = Cost::of(&terms);
        let over = [
            ("terms", terms.len(), b.terms),
            ("proc.name sets", cost.comm_sets, b.comm_sets),
            ("path clauses", cost.path_clauses, b.path_clauses),
            ("proc.name keys", cost.comm_keys, b.comm_keys),
            ("path prefix keys", cost.prefix_keys, b.prefix_keys),
            ("path suffix keys", cost.suffix_keys, b.suffix_keys),
            ("directory keys", cost.dir_keys, b.dir_keys),
            ("path needles", cost.needles, b.needles),
        ]
        .into_iter()
        .find(|(_, n, limit)| n > limit);
        let Some((what, needed, limit)) = over else {
            return Ok(Filter {
                terms,
                rules: per_rule.len(),
            });
        };
        // Widen the rule with the most terms to one.
        match per_rule
            .iter_mut()
            .filter(|ts| ts.len() > 1)
            .max_by_key(|ts| ts.len())
        {
            Some(ts) => *ts = term::join_all(ts).into_iter().collect(),
            None => {
                return Err(PassReason::OverBudget {
                    what,
                    needed,
                    limit,
                });
            }
        }
    }
}

/// At most `max` distinct needles (the first met): a clause holding another is dropped
/// from its term (a conjunction with one clause less admits more).
fn limit_needles(per_rule: &mut [Dnf], max: usize) {
    let mut kept: Vec<Pattern> = Vec::new();
    for t in per_rule.iter_mut().flatten() {
        t.paths.retain(|c| {
            c.iter().filter(|p| p.is_needle()).all(|p| {
                if kept.contains(p) {
                    return true;
                }
                if kept.len() < max {
                    kept.push(p.clone());
                    return true;
                }
                false
            })
        });
    }
}

/// What a filter takes in the kernel's maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub comm_sets: usize,
    pub path_clauses: usize,
    pub comm_keys: usize,
    /// Prefixes and exact names (one trie).
    pub prefix_keys: usize,
    pub suffix_keys: usize,
    pub dir_keys: usize,
    pub needles: usize,
}

impl Cost {
    pub fn of(terms: &[Term]) -> Cost {
        let mut sets = BTreeSet::new();
        let mut clauses = BTreeSet::new();
        for t in terms {
            if let Comm::In(s) | Comm::NotIn(s) = &t.comm {
                sets.insert(s);
            }
            clauses.extend(t.paths.iter());
        }
        let names: BTreeSet<&Vec<u8>> = sets.iter().flat_map(|s| s.iter()).collect();
        let patterns: BTreeSet<&Pattern> = clauses.iter().flat_map(|c| c.iter()).collect();
        let count = |f: fn(&&&Pattern) -> bool| patterns.iter().filter(f).count();
        Cost {
            comm_sets: sets.len(),
            path_clauses: clauses.len(),
            comm_keys: names.len(),
            prefix_keys: count(|p| matches!(p, Pattern::Exact(_) | Pattern::Prefix(_))),
            suffix_keys: count(|p| matches!(p, Pattern::Suffix(_))),
            dir_keys: count(|p| matches!(p, Pattern::Dir(_))),
            needles: count(|p| p.is_needle()),
        }
    }
}
