//! The three official Falco rules files load together, unchanged, without errors.

use super::{rule, show};
use crate::{
    loader::{Source, load},
    priority::Priority,
};

const FILES: [&str; 3] = [
    "falco_rules.yaml",
    "falco-incubating_rules.yaml",
    "falco-sandbox_rules.yaml",
];

fn sources() -> Vec<Source> {
    let dir = crate::official_tests::official_dir();
    FILES
        .iter()
        .map(|f| {
            let path = dir.join(f);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "cannot read the official Falco rules file {} ({e}); set LANNER_FALCO_RULES_DIR \
                     to the directory holding {FILES:?}",
                    path.display()
                )
            });
            Source {
                name: path.display().to_string().into(),
                text,
            }
        })
        .collect()
}

#[test]
fn official_rules_load_without_errors() {
    let o = load(&sources());
    assert!(o.errors.is_empty(), "errors: {}", show(&o.errors));
    let c = &o.collected;
    println!(
        "official rules: {} rules, {} macros, {} lists, {} warnings",
        c.rules.len(),
        c.macros.len(),
        c.lists.len(),
        c.warnings.len()
    );
    // Only the deprecation-free official files: no warning at all.
    assert!(c.warnings.is_empty(), "warnings: {}", show(&c.warnings));
    assert!(c.rules.len() > 80, "{}", c.rules.len());
    assert!(c.macros.len() > 150, "{}", c.macros.len());
    assert!(c.lists.len() > 100, "{}", c.lists.len());
    assert_eq!(c.required_engine_version.as_deref(), Some("0.57.0"));
    for r in &c.rules {
        assert!(!r.condition.text.trim().is_empty(), "{}", r.name);
        assert!(!r.output.text.is_empty(), "{}", r.name);
        assert_eq!(r.output.text, r.output.text.trim(), "{}", r.name);
        assert_eq!(r.source, "syscall");
        assert!(r.condition.map.locate(0).is_some(), "{}", r.name);
    }
    assert!(c.rules.windows(2).all(|w| w[0].order < w[1].order));
}

#[test]
fn official_rules_spot_checks() {
    let o = load(&sources());
    let c = &o.collected;

    let r = rule(&o, "Terminal shell in container");
    assert_eq!(r.priority, Priority::Notice);
    assert!(r.enabled);
    for t in ["maturity_stable", "mitre_execution", "container", "shell"] {
        assert!(r.tags.contains(t), "{t} not in {:?}", r.tags);
    }
    // `>` folds the lines into one.
    assert!(
        r.condition
            .text
            .starts_with("spawned_process and container and shell_procs")
    );
    assert!(
        r.output
            .text
            .starts_with("A shell was spawned in a container")
    );
    assert!(r.exception_fields.is_empty());
    // The condition is a `>` block: its third line maps to the third source line of the block.
    let third = r.condition.text.find("and shell_procs").unwrap();
    let p = r.condition.map.locate(third).unwrap();
    let text = std::fs::read_to_string(&*p.file).unwrap();
    let line = text.lines().nth(p.line - 1).unwrap();
    assert_eq!(&line[p.col - 1..], "and shell_procs");

    assert_eq!(
        c.lists["shell_binaries"].items,
        ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"]
    );
    // Rules keep file order: the first rule of falco_rules.yaml comes first.
    assert!(c.rules[0].pos.file.ends_with("falco_rules.yaml"));
    // Disabled sandbox rules are kept, disabled.
    assert!(c.rules.iter().any(|r| !r.enabled));
    // The item written `- condition: ... macro: ...` (keys in the other order) is a macro.
    assert!(c.macros.contains_key("recon_binaries_procs"));
}
