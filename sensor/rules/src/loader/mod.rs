//! Rules files → `Collected` (see `model`): the final lists, macros and rules after every
//! file's definitions, appends and overrides, as Falco's rule loader reads and collects them
//! (falco-fields.md section 3). Conditions are not parsed here; the compiler does that.
//!
//! Split by concern: `reader` turns one YAML item into a typed item (shape and types),
//! `collect` merges items in order, `exceptions` turns exceptions into condition text, `lists`
//! expands lists naming lists, `decode` / `located` / `version` are their helpers.
//!
//! Deviations from Falco:
//! * Rules of a source other than `syscall` are dropped from the result with one warning each
//!   (Falco keeps rules of every source it has a plugin for).
//! * `output` is trimmed also when appended or replaced by an override (Falco trims only a full
//!   definition, so an appended `>` block kept its trailing newline).
//! * Exceptions replaced by an override are checked like defined ones (Falco skips the check,
//!   leaving `comps` without its default).
//! * A `values` entry that is empty or a mapping is an error (Falco renders it as an empty
//!   string). Field names in exceptions are checked by the compiler on the generated
//!   condition, not here.
//! * A key written twice in an item is a warning (the first is used, as with yaml-cpp).
//!
//! Like Falco (and unlike the reference's summary), `override: {items: replace}` and
//! `override: {condition: replace}` on a list or macro that does not exist define it.

mod collect;
mod decode;
mod exceptions;
mod lists;
mod located;
pub mod model;
mod reader;
mod version;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use collect::SYSCALL_SOURCE;
pub use model::{Collected, ListDef, Located, MacroDef, RuleDef};

use crate::{
    diag::Diagnostic,
    yaml::{NodeKind, YamlFile},
};

/// One rules file.
#[derive(Clone, Debug)]
pub struct Source {
    /// The path as shown in diagnostics.
    pub name: Arc<str>,
    pub text: String,
}

#[derive(Debug)]
pub struct LoadOutcome {
    pub collected: Collected,
    /// Loading a file stops at its first error; the next file is still loaded.
    pub errors: Vec<Diagnostic>,
}

/// The Falco engine version Lanner's loader matches (for `required_engine_version`).
pub const ENGINE_VERSION: (u64, u64, u64) = (0, 63, 0);

/// Load `sources` in order: later files redefine, append to and override earlier ones.
pub fn load(sources: &[Source]) -> LoadOutcome {
    let mut collector = collect::Collector::default();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for src in sources {
        if let Err(e) = load_file(src, &mut collector, &mut warnings) {
            errors.push(e);
        }
    }
    LoadOutcome {
        collected: collector.finish(warnings),
        errors,
    }
}

/// One file, up to its first error (Falco stops there: later items of the file are not read,
/// earlier ones stay applied).
fn load_file(
    src: &Source,
    collector: &mut collect::Collector,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    let yaml = YamlFile::parse(src.name.clone(), &src.text)?;
    for doc in &yaml.docs {
        let items = match &doc.kind {
            NodeKind::Null => continue,
            NodeKind::Seq(items) => items,
            NodeKind::Map(_) => {
                return Err(Diagnostic::error(
                    yaml.pos(doc),
                    "Rules content is not yaml array of objects",
                ));
            }
            NodeKind::Scalar { .. } => {
                return Err(Diagnostic::error(
                    yaml.pos(doc),
                    "Rules content is not yaml",
                ));
            }
        };
        for item in items.iter().filter(|i| !i.is_null()) {
            let item = reader::read_item(&yaml, item, warnings)?;
            collector.apply(item)?;
        }
    }
    Ok(())
}
