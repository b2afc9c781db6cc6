//! Lanner's Falco rule engine: the rules-file language (lists, macros, rules, exceptions,
//! append/override), the condition language, the field table, output formatting, and a ruleset
//! indexed by event type that evaluates events through the `EventSource` trait.
//!
//! The official Falco rules files load unchanged. Where Lanner deviates from Falco, the module
//! that does it says so.

pub mod ast;
pub mod diag;
pub mod event;
pub mod evttype;
pub mod fields;
pub mod loader;
pub mod ops;
pub mod parse;
pub mod priority;
pub mod value;
pub mod yaml;

pub use diag::{Diagnostic, Pos, Severity, TextMap};
pub use event::{EventSource, FieldArg};
pub use evttype::{EvtSet, EvtType};
pub use fields::Field;
pub use value::{FieldType, Value};
pub use priority::Priority;
