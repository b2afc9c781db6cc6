//! Loader tests: the official Falco rules files, and small inline files for each rule of
//! falco-fields.md section 3.

mod exceptions;
mod garbage;
mod items;
mod official;
mod overrides;
mod positions;

use super::{LoadOutcome, RuleDef, Source, load};
use crate::diag::Diagnostic;

/// Load inline files named `a.yaml`, `b.yaml`, ... in order.
fn load_all(texts: &[&str]) -> LoadOutcome {
    let sources: Vec<Source> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Source {
            name: format!("{}.yaml", char::from(b'a' + i as u8)).into(),
            text: t.to_string(),
        })
        .collect();
    load(&sources)
}

/// Load one inline file, `a.yaml`.
fn load_one(text: &str) -> LoadOutcome {
    load_all(&[text])
}

/// Load one file that must have no error.
fn ok(text: &str) -> LoadOutcome {
    let o = load_one(text);
    assert!(
        o.errors.is_empty(),
        "unexpected errors: {}",
        show(&o.errors)
    );
    o
}

/// The single error of loading `text`, as displayed.
fn error(text: &str) -> String {
    let o = load_one(text);
    assert_eq!(
        o.errors.len(),
        1,
        "expected one error, got: {}",
        show(&o.errors)
    );
    o.errors[0].to_string()
}

fn show(ds: &[Diagnostic]) -> String {
    ds.iter().map(|d| format!("\n  {d}")).collect()
}

fn rule<'a>(o: &'a LoadOutcome, name: &str) -> &'a RuleDef {
    o.collected
        .rules
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no rule '{name}'"))
}

/// Warnings whose message contains `part`.
fn warnings_with<'a>(o: &'a LoadOutcome, part: &str) -> Vec<&'a Diagnostic> {
    o.collected
        .warnings
        .iter()
        .filter(|w| w.message.contains(part))
        .collect()
}
