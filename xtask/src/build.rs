//! `cargo xtask build`: setup, then a release build of the workspace (the sensor's build.rs
//! builds the eBPF object with bpf-linker from ~/.cargo/bin).

use std::path::PathBuf;

use anyhow::Result;

use crate::setup;
use crate::util::{self, cargo};

pub fn run() -> Result<()> {
    setup::run()?;
    util::run(cargo().args(["build", "--release"]))
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the root) or `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => util::root().join(dir),
        None => util::root().join("target"),
    }
}

/// The path of a binary of the release build.
pub fn release_bin(name: &str) -> PathBuf {
    target_dir().join("release").join(name)
}

/// Build the benchmarks' workload generator (`tests/src/bin/workload.rs`); its path.
pub fn workload_bin() -> anyhow::Result<PathBuf> {
    crate::util::run(crate::util::cargo().args([
        "build",
        "--release",
        "--package",
        "lanner-tests",
        "--bin",
        "lanner-workload",
    ]))?;
    Ok(release_bin("lanner-workload"))
}
