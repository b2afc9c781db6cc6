//! Which rules files to load: the paths given (`-r`, `rules_files`), a directory meaning its
//! `*.yaml`/`*.yml` files in name order, or the built-in ruleset when none is given.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use anyhow::{Context as _, bail};
use lanner_rules::loader::Source;

/// Name shown in diagnostics for the built-in ruleset.
pub const BUILTIN_NAME: &str = "<built-in>/lanner_rules.yaml";

/// The files `paths` stand for, in load order.
pub fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("rules path {}", p.display()))?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing rules directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml") && f.is_file())
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Read the sources to load: the files of `paths`, or the built-in ruleset.
pub fn read(paths: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    if paths.is_empty() {
        return Ok(vec![builtin()]);
    }
    let files = expand(paths)?;
    if files.is_empty() {
        bail!("no rules files (*.yaml, *.yml) in {}", show(paths));
    }
    files.iter().map(|f| read_file(f)).collect()
}

pub fn read_file(f: &Path) -> anyhow::Result<Source> {
    let text = std::fs::read_to_string(f)
        .with_context(|| format!("reading rules file {}", f.display()))?;
    Ok(Source {
        name: Arc::from(f.display().to_string()),
        text,
    })
}

pub fn builtin() -> Source {
    Source {
        name: Arc::from(BUILTIN_NAME),
        text: lanner_rules::DEFAULT_RULES.to_string(),
    }
}

/// What the rules files look like on disk: changes when a file is edited, added, removed or
/// replaced (a ConfigMap update swaps a symlink: the resolved metadata changes).
pub fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
    let files = expand(paths).unwrap_or_else(|_| paths.to_vec());
    files
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(&f)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
            (f, m)
        })
        .collect()
}

fn show(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
