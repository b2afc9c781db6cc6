//! `cargo xtask bench`: the overhead of Lanner and of peer monitors on syscall storms.
//!
//! For every workload and monitor, `rounds` times: a baseline run (no monitor), then a run
//! with the monitor started before and stopped after. The ratio monitored/baseline of each
//! round goes into BENCHMARKS.md as median (min–max).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::monitors::Monitor;
use crate::report;
use crate::setup;
use crate::util::{self, cargo};

/// Workload name and iteration count: each baseline run takes ~1.5 s on the 2-core VM.
pub const WORKLOADS: [(&str, u64); 4] = [
    ("getpid", 7_000_000),
    ("exec", 2_000),
    ("connect", 20_000),
    ("mount", 30_000),
];
/// Pause after a baseline run, so its teardown does not spill into the monitor's start.
const SETTLE: Duration = Duration::from_millis(300);
/// Pause after stopping a monitor: detaching BPF programs and freeing their maps and
/// buffers goes on in kernel workers for a while, which would slow the next baseline.
const SETTLE_AFTER_STOP: Duration = Duration::from_secs(1);

#[derive(clap::Args)]
pub struct Opts {
    /// Baseline/monitored alternations per workload and monitor.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Only these workloads (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
    /// Only these monitors (comma-separated: lanner,auditd,bpftrace,execsnoop).
    #[arg(long, value_delimiter = ',')]
    pub monitors: Vec<String>,
    /// Multiply every iteration count by this (e.g. 0.1 for a smoke run).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Where to write the report (relative to the workspace root).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub output: PathBuf,
}

/// The results of one monitor on one workload.
pub struct Cell {
    pub monitor: Monitor,
    pub ratios: Vec<f64>,
    /// Events the monitor said it lost, summed over rounds (when it reports that).
    pub lost: Option<u64>,
    pub failure: Option<String>,
}

pub struct WorkloadResult {
    pub name: &'static str,
    pub iterations: u64,
    pub baselines: Vec<f64>,
    pub cells: Vec<Cell>,
    /// Lanner's stats files, one per round.
    pub lanner_stats: Vec<Value>,
    pub failure: Option<String>,
}

pub fn run(opts: &Opts) -> Result<()> {
    let started = Instant::now();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load_at_start = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let workloads = selected_workloads(opts)?;
    let monitors = selected_monitors(opts)?;
    setup::run()?;
    let unavailable = install_peers(&monitors);

    println!("bench: building lanner-workload");
    let workload_bin = crate::build::workload_bin()?;
    let lanner = crate::build::release_bin("lanner");
    let mut lanner_failure = None;
    if monitors.contains(&Monitor::Lanner) {
        println!("bench: building lanner");
        if let Err(e) = util::run(cargo().args(["build", "--release", "--package", "lanner"])) {
            eprintln!("bench: {e:#}");
            lanner_failure = Some("`cargo build --release -p lanner` failed".to_owned());
        }
    }

    let scratch = std::env::temp_dir().join(format!("lanner-bench.{}", std::process::id()));
    let mut results = Vec::new();
    for &(name, iterations) in &workloads {
        let iterations = ((iterations as f64 * opts.scale).round() as u64).max(1);
        let mut result = WorkloadResult {
            name,
            iterations,
            baselines: Vec::new(),
            cells: Vec::new(),
            lanner_stats: Vec::new(),
            failure: None,
        };
        // Warm-up (page cache, first-run effects) and a check that the workload works.
        if let Err(e) = run_workload(&workload_bin, name, iterations) {
            eprintln!("bench: {name}: {e:#}");
            result.failure = Some(format!("{e:#}"));
            results.push(result);
            continue;
        }
        for &monitor in &monitors {
            let known = match monitor {
                Monitor::Lanner => lanner_failure.clone(),
                _ => unavailable
                    .iter()
                    .find(|(m, _)| *m == monitor)
                    .map(|(_, why)| why.clone()),
            };
            let cell = match known {
                Some(why) => failed(monitor, why),
                None => measure(
                    monitor,
                    &Env {
                        workload_bin: &workload_bin,
                        lanner: &lanner,
                        scratch: &scratch,
                    },
                    opts.rounds,
                    &mut result,
                ),
            };
            if let Some(why) = &cell.failure {
                eprintln!("bench: {name} × {}: failed: {why}", monitor.name());
            }
            result.cells.push(cell);
        }
        results.push(result);
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let command = std::iter::once("cargo xtask".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let text = report::render(&command, opts.rounds, &load_at_start, &monitors, &results);
    util::write_report("bench", &opts.output, &text, started)
}

struct Env<'a> {
    workload_bin: &'a Path,
    lanner: &'a Path,
    scratch: &'a Path,
}

fn failed(monitor: Monitor, why: String) -> Cell {
    Cell {
        monitor,
        ratios: Vec::new(),
        lost: None,
        failure: Some(why),
    }
}

/// Alternates baseline and monitored runs; the first failure ends this cell.
fn measure(monitor: Monitor, env: &Env, rounds: u32, result: &mut WorkloadResult) -> Cell {
    let mut cell = Cell {
        monitor,
        ratios: Vec::new(),
        lost: None,
        failure: None,
    };
    for round in 1..=rounds {
        let attempt = || -> Result<(f64, f64, crate::monitors::Stopped)> {
            let baseline = run_workload(env.workload_bin, result.name, result.iterations)?;
            std::thread::sleep(SETTLE);
            let _ = std::fs::remove_dir_all(env.scratch);
            let running = monitor.start(env.lanner, env.scratch).context("start")?;
            let monitored = run_workload(env.workload_bin, result.name, result.iterations);
            let stopped = running.stop().context("stop");
            std::thread::sleep(SETTLE_AFTER_STOP);
            Ok((baseline, monitored?, stopped?))
        };
        match attempt() {
            Ok((baseline, monitored, stopped)) => {
                let ratio = monitored / baseline;
                println!(
                    "bench: {} × {} round {round}/{rounds}: baseline {baseline:.3} s, \
                     monitored {monitored:.3} s, {ratio:.2}×",
                    result.name,
                    monitor.name()
                );
                result.baselines.push(baseline);
                cell.ratios.push(ratio);
                if let Some(lost) = stopped.lost {
                    cell.lost = Some(cell.lost.unwrap_or(0) + lost);
                }
                result.lanner_stats.extend(stopped.lanner_stats);
            }
            Err(e) => {
                cell.failure = Some(if rounds > 1 {
                    format!("round {round}: {e:#}")
                } else {
                    format!("{e:#}")
                });
                break;
            }
        }
    }
    cell
}

/// Runs `lanner-workload name iterations` and returns its wall time in seconds.
fn run_workload(bin: &Path, name: &str, iterations: u64) -> Result<f64> {
    let start = Instant::now();
    let out = Command::new(bin)
        .args([name, &iterations.to_string()])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("workload {name} failed ({}): {}", out.status, err.trim());
    }
    Ok(secs)
}

/// Installs the peers' packages; returns the monitors that could not be installed.
fn install_peers(monitors: &[Monitor]) -> Vec<(Monitor, String)> {
    let packages: Vec<&str> = monitors.iter().filter_map(|m| m.package()).collect();
    if packages.is_empty() {
        return Vec::new();
    }
    match setup::ensure_apt(&packages) {
        Ok(outcome) => setup::report(&format!("apt {}", packages.join(" ")), outcome),
        Err(e) => eprintln!("bench: installing peers: {e:#}"),
    }
    let missing = setup::missing_apt(&packages);
    monitors
        .iter()
        .filter_map(|&m| {
            let package = m.package()?;
            let not_installed = missing.iter().any(|p| p == package);
            not_installed.then(|| (m, format!("apt package {package} not installed")))
        })
        .collect()
}

fn selected_workloads(opts: &Opts) -> Result<Vec<(&'static str, u64)>> {
    if opts.workloads.is_empty() {
        return Ok(WORKLOADS.to_vec());
    }
    opts.workloads
        .iter()
        .map(|w| {
            WORKLOADS
                .iter()
                .find(|(name, _)| name == w)
                .copied()
                .with_context(|| format!("unknown workload {w:?}"))
        })
        .collect()
}

fn selected_monitors(opts: &Opts) -> Result<Vec<Monitor>> {
    if opts.monitors.is_empty() {
        return Ok(Monitor::ALL.to_vec());
    }
    opts.monitors
        .iter()
        .map(|m| {
            Monitor::ALL
                .into_iter()
                .find(|x| x.name() == m)
                .with_context(|| format!("unknown monitor {m:?}"))
        })
        .collect()
}
