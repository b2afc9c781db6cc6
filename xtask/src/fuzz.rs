//! `cargo xtask fuzz` and the fuzz step of `cargo xtask test`: the libFuzzer targets of
//! `tests/fuzz/` (cargo-fuzz, nightly, AddressSanitizer), each run for a fixed time from seeds
//! made from real inputs (`sensor/examples/fuzz_seeds.rs`). A finding — a panic, an input slower
//! than [`TIMEOUT_S`], more than [`RSS_LIMIT_MB`] — fails the step; the input is printed and
//! copied into `tests/fuzz/regressions/<target>/`, which `cargo test` replays on every run
//! (`lanner::fuzz::regressions_tests`), so it stays there as the bug's regression case.

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Instant, SystemTime},
};

use anyhow::{Context, Result, bail};

use crate::{
    setup,
    util::{self, cargo, root, secs},
};

/// The targets and the longest input each is given (what the sensor accepts of that input, or
/// the largest real one: the official rules files are under 100 KB; an exec record with its
/// env block is 15 KB).
pub const TARGETS: &[(&str, u32)] = &[
    ("rules_file", 128 << 10),
    ("condition", 4 << 10),
    ("output", 4 << 10),
    ("config", 16 << 10),
    ("decode", 20 << 10),
    ("pod_json", 64 << 10),
];

/// Seconds per target in `cargo xtask test`: with the build, the step stays within about six
/// minutes on a 2-core machine (see tests/fuzz/README.md for the measurement).
pub const CI_SECONDS: u64 = 20;

/// One input that takes longer than this (on the instrumented build) is a hang.
const TIMEOUT_S: u32 = 10;
/// A run that needs more than this is a memory blow-up (the DaemonSet's limit is far lower
/// than what an unbounded parse would take).
const RSS_LIMIT_MB: u32 = 2048;

fn fuzz_dir() -> PathBuf {
    root().join("tests/fuzz")
}

/// Make the seeds, build the targets, run each of `only` (all when empty) for `seconds`.
pub fn run(seconds: u64, only: &[String]) -> Result<()> {
    let targets: Vec<(&str, u32)> = TARGETS
        .iter()
        .copied()
        .filter(|(t, _)| only.is_empty() || only.iter().any(|o| o == t))
        .collect();
    if let Some(unknown) = only.iter().find(|o| !TARGETS.iter().any(|(t, _)| t == o)) {
        let names: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
        bail!("no fuzz target {unknown}; targets: {}", names.join(", "));
    }
    setup::report("cargo-fuzz", setup::cargo_fuzz()?);
    let dir = fuzz_dir();
    let seeds = dir.join("seeds");
    let started = Instant::now();
    util::run(
        cargo()
            .args([
                "run",
                "--release",
                "-q",
                "-p",
                "lanner",
                "--example",
                "fuzz_seeds",
                "--",
            ])
            .arg(&seeds),
    )?;
    println!("fuzz: seeds made in {}", secs(started.elapsed()));
    let started = Instant::now();
    util::run(&mut fuzz_cmd("build"))?;
    println!("fuzz: targets built in {}", secs(started.elapsed()));
    let mut findings = Vec::new();
    for (target, max_len) in targets {
        let started = Instant::now();
        let corpus = dir.join("corpus").join(target);
        fs::create_dir_all(&corpus).with_context(|| format!("mkdir {}", corpus.display()))?;
        let artifacts = dir.join("artifacts").join(target);
        fs::create_dir_all(&artifacts)?;
        let mut c = fuzz_cmd("run");
        c.arg(target)
            .arg(&corpus)
            .arg(seeds.join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-max_len={max_len}"))
            .arg(format!("-timeout={TIMEOUT_S}"))
            .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-print_final_stats=1");
        let dict = seeds.join(format!("{target}.dict"));
        if dict.is_file() {
            c.arg(format!("-dict={}", dict.display()));
        }
        println!("\n==> fuzz {target}: {}", util::display(&c));
        let result = util::run(&mut c);
        println!(
            "==> fuzz {target}: {} in {}",
            if result.is_ok() { "ok" } else { "FOUND A BUG" },
            secs(started.elapsed())
        );
        if result.is_err() {
            findings.push(keep_finding(target, &artifacts, started)?);
        }
    }
    if !findings.is_empty() {
        bail!(
            "the fuzzers found {} input(s) the sensor mishandles, kept as regression cases:\n{}",
            findings.len(),
            findings.join("\n")
        );
    }
    Ok(())
}

/// `cargo +nightly fuzz <sub> --fuzz-dir tests/fuzz` (release, with debug assertions: overflow
/// is a finding too).
fn fuzz_cmd(sub: &str) -> std::process::Command {
    let mut c = cargo();
    c.args(["+nightly", "fuzz", sub, "--fuzz-dir"])
        .arg(fuzz_dir())
        .args(["--release", "--debug-assertions"]);
    c
}

/// The newest artifact the run wrote: printed, and copied into the target's regressions.
fn keep_finding(target: &str, artifacts: &Path, since: Instant) -> Result<String> {
    let started = SystemTime::now() - since.elapsed();
    let newest = fs::read_dir(artifacts)?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .filter(|(t, _)| *t >= started)
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p);
    let Some(found) = newest else {
        bail!(
            "fuzz {target} failed without leaving an input in {}",
            artifacts.display()
        );
    };
    let data = fs::read(&found)?;
    let name = found
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kept = fuzz_dir().join("regressions").join(target).join(&name);
    fs::copy(&found, &kept).with_context(|| format!("copy to {}", kept.display()))?;
    println!(
        "fuzz {target}: the input ({} bytes), kept as {}:\n{}",
        data.len(),
        kept.display(),
        escaped(&data, 4096)
    );
    Ok(format!(
        "  {} ({})",
        kept.display(),
        name.split('-').next().unwrap_or("crash")
    ))
}

/// Bytes as a Rust byte-string literal's contents, at most `max` of them.
fn escaped(data: &[u8], max: usize) -> String {
    let mut s: String = data[..data.len().min(max)]
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    if data.len() > max {
        s.push_str(&format!("… ({} more bytes)", data.len() - max));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_print_as_escaped_bytes() {
        assert_eq!(escaped(b"a\"\0\n\xff", 10), "a\\\"\\x00\\n\\xff");
        assert_eq!(escaped(b"abcdef", 2), "ab… (4 more bytes)");
    }

    #[test]
    fn every_target_has_a_regressions_directory() {
        for (t, _) in TARGETS {
            let d = fuzz_dir().join("regressions").join(t);
            assert!(d.is_dir(), "{}", d.display());
            assert!(
                fuzz_dir()
                    .join("fuzz_targets")
                    .join(format!("{t}.rs"))
                    .is_file()
            );
        }
    }
}
