//! Every input kept in `tests/fuzz/regressions/<target>/` (what a fuzzer once found, and
//! hand-made attacks) replayed through its target on every `cargo test`: a fixed bug stays
//! fixed without running the fuzzer.

use std::{
    path::{Path, PathBuf},
    sync::mpsc,
    time::Duration,
};

use super::{TARGETS, Target};

/// The fuzzer's own limit per input (`-timeout`, on a slower, instrumented build): an input
/// still running after it hangs. Healthy inputs take milliseconds.
const DEADLINE: Duration = Duration::from_secs(10);

/// Inputs that still fail, as (`<target>/<file>`, the bug): the sweep skips them; each needs
/// an ignored test that says what the fix must do with it. None today.
const KNOWN: &[(&str, &str)] = &[];

/// 20 levels of a macro naming the previous one twice, 1 KB: 2^20 checks once expanded (2.1 GB
/// and 3 s to load before issue 15 gave expansion a budget; a timeout under the fuzz build).
const MACRO_FAN_OUT: &str = "rules_file/macro-fan-out-20";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz/regressions")
}

/// Runs `target` on the input at `path` on a thread of its own: Err says how it failed.
fn replay(target: Target, path: &Path) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("reading: {e}"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(|| target(&data));
        let _ = tx.send(outcome.is_ok());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(true) => Ok(()),
        Ok(false) => Err("panicked".into()),
        Err(_) => Err(format!("still running after {DEADLINE:?}")),
    }
}

/// The macro fan-out is refused, naming a macro, instead of expanded (the sweep below also
/// replays it within its deadline).
#[test]
fn a_macro_fan_out_is_refused_naming_a_macro() {
    let text = std::fs::read_to_string(dir().join(MACRO_FAN_OUT)).expect("kept");
    let source = lanner_rules::loader::Source {
        name: MACRO_FAN_OUT.into(),
        text,
    };
    let errors = lanner_rules::load(&[source], &super::check::options())
        .expect_err("2^20 checks from 1 KB of rules are refused");
    let names_a_macro = |d: &lanner_rules::Diagnostic| {
        let text = d.to_string();
        (0..=20).any(|i| text.contains(&format!("m{i}")))
    };
    assert!(errors.iter().any(names_a_macro), "{errors:?}");
}

#[test]
fn every_kept_input_replays_cleanly_through_its_target() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (name, target) in TARGETS {
        let d = dir().join(name);
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        for f in files {
            let entry = format!(
                "{name}/{}",
                f.file_name().unwrap_or_default().to_string_lossy()
            );
            if KNOWN.iter().any(|(k, _)| *k == entry) {
                continue;
            }
            replayed += 1;
            if let Err(e) = replay(*target, &f) {
                failures.push(format!("{entry}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        replayed > 0,
        "no regression input found under {}",
        dir().display()
    );
}

#[test]
fn every_known_failure_names_a_kept_input() {
    for (entry, bug) in KNOWN {
        assert!(dir().join(entry).is_file(), "{entry} ({bug}) is not kept");
    }
}
