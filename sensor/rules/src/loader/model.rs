//! What loading rules files produces, before compilation: the final lists, macros and rules
//! after every file's definitions, appends and overrides were applied, with positions.

use std::collections::{BTreeSet, HashMap};

use crate::{
    diag::{Diagnostic, Pos, TextMap},
    priority::Priority,
};

/// A text from the rules files with the map back to where each part of it was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Located {
    pub text: String,
    pub map: TextMap,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListDef {
    pub name: String,
    /// Final items, with references to lists defined earlier already expanded (Falco: an item
    /// naming list B is expanded if B was first defined before this list's last definition or
    /// append). Items are kept verbatim (quotes inside items survive).
    pub items: Vec<String>,
    /// Where the list was first defined.
    pub pos: Pos,
    /// Index of first definition among all lists (for ordering and the list-in-list rule).
    pub order: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacroDef {
    pub name: String,
    /// Final condition (appends applied).
    pub condition: Located,
    pub pos: Pos,
    pub order: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleDef {
    pub name: String,
    /// Where the rule was first defined.
    pub pos: Pos,
    /// Position in evaluation order: first definition across all files.
    pub order: usize,
    /// The final condition: the rule's condition with appends applied and every exception
    /// turned into `and not (...)` as Falco does (falco-fields.md 3.4).
    pub condition: Located,
    /// Whitespace-trimmed output format (appends applied).
    pub output: Located,
    pub desc: String,
    pub priority: Priority,
    pub tags: BTreeSet<String>,
    /// `syscall` unless given.
    pub source: String,
    pub enabled: bool,
    pub skip_if_unknown_filter: bool,
    /// Fields named by the rule's exceptions (reported, like Falco's `exception_fields`).
    pub exception_fields: BTreeSet<String>,
}

/// The result of loading one or more files (in order; later files override earlier ones).
#[derive(Clone, Debug, Default)]
pub struct Collected {
    pub lists: HashMap<String, ListDef>,
    pub macros: HashMap<String, MacroDef>,
    /// In evaluation order (`order` ascending).
    pub rules: Vec<RuleDef>,
    /// Highest `required_engine_version` seen, as written.
    pub required_engine_version: Option<String>,
    /// Warnings (unknown keys, deprecated `append`, rules of other sources skipped, …).
    pub warnings: Vec<Diagnostic>,
}
