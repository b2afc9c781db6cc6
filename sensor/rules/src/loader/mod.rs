//! Rules files → `Collected` (see `model`).

pub mod model;

pub use model::{Collected, ListDef, Located, MacroDef, RuleDef};
