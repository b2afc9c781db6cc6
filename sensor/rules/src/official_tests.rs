//! The official Falco rules files (falco_rules, incubating, sandbox) load together, unchanged,
//! with zero errors. They are read from `$LANNER_FALCO_RULES_DIR`, else `/work/shared/falco-rules`
//! or `../shared/falco-rules` next to the workspace; they are test data, not part of Lanner.

use std::{path::PathBuf, sync::Arc};

use crate::{EvtType, Options, loader::Source};

pub const OFFICIAL_FILES: [&str; 3] = [
    "falco_rules.yaml",
    "falco-incubating_rules.yaml",
    "falco-sandbox_rules.yaml",
];

pub fn official_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("LANNER_FALCO_RULES_DIR").map(PathBuf::from),
        Some(PathBuf::from("/work/shared/falco-rules")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/falco-rules")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join(OFFICIAL_FILES[0]).is_file())
        .expect("the official Falco rules files: set LANNER_FALCO_RULES_DIR to their directory")
}

pub fn official_sources() -> Vec<Source> {
    let dir = official_dir();
    OFFICIAL_FILES
        .iter()
        .map(|f| {
            let path = dir.join(f);
            Source {
                name: Arc::from(path.display().to_string()),
                text: std::fs::read_to_string(&path).expect("readable rules file"),
            }
        })
        .collect()
}

#[test]
fn the_three_official_files_load_together_without_errors() {
    let loaded = match crate::load(&official_sources(), &Options::default()) {
        Ok(l) => l,
        Err(e) => panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    let rs = &loaded.ruleset;
    let rules = rs.rules();
    let captured: Vec<_> = rules.iter().filter(|r| !r.evt_types.is_empty()).collect();
    let by_exec_connect = captured
        .iter()
        .filter(|r| {
            r.evt_types
                .iter()
                .all(|t| matches!(t, EvtType::Execve | EvtType::Execveat | EvtType::Connect))
        })
        .count();
    println!(
        "official rules: {} loaded, {} for event types Lanner captures ({} of them driven by execve/execveat/connect), {} enabled, {} warnings",
        rules.len(),
        captured.len(),
        by_exec_connect,
        rules.iter().filter(|r| r.enabled).count(),
        loaded.warnings.len(),
    );
    for r in &captured {
        let types: Vec<_> = r.evt_types.iter().map(|t| t.name()).collect();
        println!("  {:<60} {}", r.name, types.join(","));
    }
    assert_eq!(rules.len(), 93);
    assert_eq!(captured.len(), 49);
    assert_eq!(by_exec_connect, 49);
}

#[test]
fn the_default_ruleset_loads() {
    let src = Source {
        name: Arc::from("lanner_rules.yaml"),
        text: crate::DEFAULT_RULES.to_string(),
    };
    let loaded = crate::load(&[src], &Options::default()).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(loaded.ruleset.active_count() > 10);
}
