//! Lanner's Falco rule engine: the rules-file language (lists, macros, rules, exceptions,
//! append/override), the condition language, the field table, output formatting, and a ruleset
//! indexed by event type that evaluates events through the `EventSource` trait.
//!
//! The official Falco rules files load unchanged. Where Lanner deviates from Falco, the module
//! that does it says so.

pub mod ast;
pub mod availability;
pub mod budget;
mod check_key;
pub mod compile;
pub mod diag;
pub mod event;
pub mod evttype;
pub mod factor;
pub mod fields;
pub mod filter;
pub mod format;
mod index;
pub mod loader;
mod matcher;
pub mod ops;
pub mod outfields;
pub mod parse;
pub mod prefilter;
pub mod priority;
mod program;
pub mod ruleset;
mod share;
pub mod specialize;
pub mod text;
pub mod timefmt;
pub mod value;
pub mod yaml;

pub use diag::{Diagnostic, Pos, Severity, TextMap};
pub use event::{EventSource, FieldArg};
pub use evttype::{EvtSet, EvtType};
pub use fields::Field;
pub use priority::Priority;
pub use ruleset::{Alert, CompiledRule, Loaded, Matching, Options, Ruleset, load};
pub use value::{FieldType, Value};

/// Lanner's default ruleset (`default/lanner_rules.yaml`), used when no rules file is given.
pub const DEFAULT_RULES: &str = include_str!("../default/lanner_rules.yaml");

/// A plain map-backed event, for tests and benchmarks.
#[doc(hidden)]
pub mod testing;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod evttype_tests;
#[cfg(test)]
mod large_tests;
#[cfg(test)]
mod official_tests;
#[cfg(test)]
mod program_props;
