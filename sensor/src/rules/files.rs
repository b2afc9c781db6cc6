//! Which rules files to load: the paths given (`-r`, `rules_files`), a directory meaning its
//! `*.yaml`/`*.yml` files in name order, or the built-in ruleset when none is given.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use anyhow::{Context as _, bail};
use lanner_rules::loader::Source;

use crate::textfile;

/// Name shown in diagnostics for the built-in ruleset.
pub const BUILTIN_NAME: &str = "<built-in>/lanner_rules.yaml";

/// Largest rules file read (the official ones are under 100 KB; a ConfigMap holds at most
/// 1 MiB).
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// Most bytes all the rules files may have together.
pub const MAX_TOTAL_BYTES: u64 = 32 << 20;

/// The files `paths` stand for, in load order.
pub fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("rules path {}", p.display()))?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing rules directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                // Every `*.yaml` but directories: one that is not a regular file (a FIFO) is
                // refused by name when read, not skipped unseen.
                .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml") && !f.is_dir())
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
    let mut total = 0;
    let mut sources = Vec::with_capacity(files.len());
    for f in &files {
        let source = read_file(f)?;
        total += source.text.len() as u64;
        if total > MAX_TOTAL_BYTES {
            bail!(
                "{}: error: the rules files have more than the {MAX_TOTAL_BYTES} bytes they may have together",
                f.display()
            );
        }
        sources.push(source);
    }
    Ok(sources)
}

/// One rules file: a regular file of at most `MAX_FILE_BYTES`, UTF-8 (see `textfile`).
pub fn read_file(f: &Path) -> Result<Source, textfile::TextFileError> {
    let text = textfile::read(f, "rules file", MAX_FILE_BYTES)?;
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

#[cfg(test)]
mod tests {
    use lanner_tests::TempDir;

    use super::*;

    #[test]
    fn a_fifo_in_a_rules_directory_is_refused_by_name() {
        let dir = TempDir::new("rules-dir-fifo");
        std::fs::write(dir.path().join("a.yaml"), "- list: l\n  items: [a]\n").unwrap();
        std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
        let fifo = dir.path().join("b.yaml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&[dir.path().to_path_buf()]).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: error: not a regular file (it is a FIFO); a rules file must be a regular file",
                fifo.display()
            )
        );
        std::fs::remove_file(&fifo).unwrap();
        assert_eq!(read(&[dir.path().to_path_buf()]).unwrap().len(), 1);
    }
}
