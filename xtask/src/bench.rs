//! `cargo xtask bench`: what Lanner and peer monitors cost on syscall storms.
//!
//! For every workload, `rounds` times, and in each round every monitor in turn (the order
//! rotates from round to round, so a slow phase of a shared machine is spread over all of
//! them): a baseline run (no monitor), then a run with the monitor started before and
//! stopped after it had worked off what the run made. Each pair gives a wall-time ratio and a
//! CPU-time ratio, into BENCHMARKS.md as median (min–max); see `bench_cpu` for why both.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::bench_alerts::Alerts;
use crate::bench_cpu::{self, Run};
use crate::monitors::Monitor;
use crate::report;
use crate::setup;
use crate::util::{self, cargo};

/// A workload of `lanner-workload` and its default iteration count.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub name: &'static str,
    pub iterations: u64,
    /// What it does, for the report's Method section.
    pub about: &'static str,
}

/// Iteration counts: each baseline run takes ~1.5 s on the 2-core VM when idle.
pub const WORKLOADS: [Workload; 9] = [
    Workload {
        name: "getpid",
        iterations: 7_000_000,
        about: "raw getpid syscalls (a syscall nobody watches: the cost of hooking the syscall \
                path as such)",
    },
    Workload {
        name: "exec",
        iterations: 2_000,
        about: "fork + execve of /bin/true",
    },
    Workload {
        name: "connect",
        iterations: 20_000,
        about: "loopback TCP connect/accept/close",
    },
    Workload {
        name: "mount",
        iterations: 30_000,
        about: "tmpfs mount + umount2 in a private mount namespace",
    },
    Workload {
        name: "open",
        iterations: 1_200_000,
        about: "open (read-only) + close of an ordinary file in a temporary directory, which \
                no rule cares about",
    },
    Workload {
        name: "open-sensitive",
        iterations: 950_000,
        about: "root's open + read + close of /etc/shadow: with the official rules every \
                open must raise *Read sensitive file untrusted*",
    },
    Workload {
        name: "unlink-rename",
        iterations: 90_000,
        about: "the atomic-save pattern in a temporary directory: create a file (open \
                O_CREAT), rename it over the final name, unlink that",
    },
    Workload {
        name: "dup2",
        iterations: 7_000_000,
        about: "dup2 of a connected loopback TCP socket onto fd 900 (never stdio)",
    },
    Workload {
        name: "accept",
        iterations: 42_000,
        about: "a loopback TCP server: accept, read one byte, close. Its client opens each \
                connection with sendto(MSG_FASTOPEN) instead of connect, so the host sees \
                only the inbound side, as with a remote client",
    },
];
/// Pause after a baseline run, so its teardown does not spill into the monitor's start.
pub const SETTLE: Duration = Duration::from_millis(300);
/// Pause after stopping a monitor: detaching BPF programs and freeing their maps and
/// buffers goes on in kernel workers for a while, which would slow the next baseline.
pub const SETTLE_AFTER_STOP: Duration = Duration::from_secs(1);

#[derive(clap::Args)]
pub struct Opts {
    /// Rounds: in each, every monitor gets a baseline run and a monitored run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Only these workloads, comma-separated, each optionally with its iteration count
    /// (`open,open-sensitive=10000`; default: all, with their default counts).
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
    /// Only these monitors (comma-separated: lanner-dump,lanner-rules,auditd,bpftrace,
    /// execsnoop,floor; `lanner` is both Lanner columns).
    #[arg(long, value_delimiter = ',')]
    pub monitors: Vec<String>,
    /// Multiply every iteration count by this (e.g. 0.1 for a smoke run).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Where to write the report (relative to the workspace root).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub output: PathBuf,
    /// Only this overhead benchmark: skip bench-rules and bench-pipeline afterwards.
    #[arg(long)]
    pub overhead_only: bool,
}

/// One round of one monitor on one workload.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub baseline: Run,
    pub monitored: Run,
    /// CPU seconds of the monitor (`Running::cpu`) from the workload's start until it had
    /// drained.
    pub monitor_cpu: f64,
    /// Busy seconds of the machine over the monitored run and the drain.
    pub machine: f64,
    /// How long after the workload's end the monitor was still busy; `None`: still busy
    /// after `bench_cpu::DRAIN_MAX`.
    pub drain: Option<Duration>,
}

impl Sample {
    pub fn wall_ratio(&self) -> f64 {
        self.monitored.wall / self.baseline.wall
    }

    /// CPU time of the work done with the monitor (the workload's, the monitor's) over the
    /// workload's alone.
    pub fn cpu_ratio(&self) -> f64 {
        (self.monitored.cpu + self.monitor_cpu) / self.baseline.cpu
    }

    pub fn machine_ratio(&self) -> f64 {
        self.machine / self.baseline.machine
    }
}

/// The results of one monitor on one workload.
pub struct Cell {
    pub monitor: Monitor,
    pub samples: Vec<Sample>,
    /// Events the monitor said it lost, summed over rounds (when it reports that).
    pub lost: Option<u64>,
    /// Lanner's stats files, one per round.
    pub lanner_stats: Vec<Value>,
    /// Lanner with the official rules: alerts summed over rounds.
    pub alerts: Option<Alerts>,
    pub failure: Option<String>,
}

pub struct WorkloadResult {
    pub name: &'static str,
    pub iterations: u64,
    pub cells: Vec<Cell>,
    pub failure: Option<String>,
}

impl WorkloadResult {
    pub fn cell(&self, monitor: Monitor) -> Option<&Cell> {
        self.cells.iter().find(|c| c.monitor == monitor)
    }
}

/// What the report's header says about the machine during the run.
pub struct Conditions {
    pub load_at_start: String,
    pub load_at_end: String,
    /// Other processes holding eBPF programs or links (another monitor would slow the
    /// baselines), at the start and at the end.
    pub other_bpf_at_start: Vec<String>,
    pub other_bpf_at_end: Vec<String>,
}

pub fn run(opts: &Opts) -> Result<()> {
    let started = Instant::now();
    let load_at_start = load_average();
    let other_bpf_at_start = bpf_holders();
    let workloads = selected_workloads(opts)?;
    let monitors = selected_monitors(opts)?;
    setup::run()?;
    let unavailable = install_peers(&monitors);

    println!("bench: building lanner-workload");
    let workload_bin = crate::build::workload_bin()?;
    let lanner = crate::build::release_bin("lanner");
    let mut lanner_failure = None;
    if monitors.iter().any(|m| m.is_lanner()) {
        println!("bench: building lanner");
        if let Err(e) = util::run(cargo().args(["build", "--release", "--package", "lanner"])) {
            eprintln!("bench: {e:#}");
            lanner_failure = Some("`cargo build --release -p lanner` failed".to_owned());
        }
    }

    let env = Env {
        workload_bin: &workload_bin,
        lanner: &lanner,
        scratch: &std::env::temp_dir().join(format!("lanner-bench.{}", std::process::id())),
    };
    let mut results = Vec::new();
    for w in &workloads {
        let iterations = ((w.iterations as f64 * opts.scale).round() as u64).max(1);
        let known_failure = |monitor: Monitor| match monitor {
            m if m.is_lanner() => lanner_failure.clone(),
            _ => unavailable
                .iter()
                .find(|(m, _)| *m == monitor)
                .map(|(_, why)| why.clone()),
        };
        let result = measure_workload(
            &env,
            w.name,
            iterations,
            &monitors,
            opts.rounds,
            known_failure,
        );
        results.push(result);
    }
    let _ = std::fs::remove_dir_all(env.scratch);

    let command = std::iter::once("cargo xtask".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let conditions = Conditions {
        load_at_start,
        load_at_end: load_average(),
        other_bpf_at_start,
        other_bpf_at_end: bpf_holders(),
    };
    let text = report::render(&command, opts.rounds, &conditions, &monitors, &results);
    util::write_report("bench", &opts.output, &text, started)
}

struct Env<'a> {
    workload_bin: &'a Path,
    lanner: &'a Path,
    scratch: &'a Path,
}

/// A warm-up run, then the rounds, each monitor in turn; a monitor's first failure ends its
/// cell.
fn measure_workload(
    env: &Env,
    name: &'static str,
    iterations: u64,
    monitors: &[Monitor],
    rounds: u32,
    known_failure: impl Fn(Monitor) -> Option<String>,
) -> WorkloadResult {
    let mut result = WorkloadResult {
        name,
        iterations,
        cells: monitors
            .iter()
            .map(|&monitor| Cell {
                monitor,
                samples: Vec::new(),
                lost: None,
                lanner_stats: Vec::new(),
                alerts: None,
                failure: known_failure(monitor),
            })
            .collect(),
        failure: None,
    };
    // Warm-up (page cache, first-run effects) and a check that the workload works.
    if let Err(e) = bench_cpu::run_workload(env.workload_bin, name, iterations) {
        eprintln!("bench: {name}: {e:#}");
        result.failure = Some(format!("{e:#}"));
        return result;
    }
    let n = result.cells.len();
    for round in 0..rounds {
        for i in 0..n {
            let cell = &mut result.cells[(i + round as usize) % n];
            if cell.failure.is_some() {
                continue;
            }
            match measure_once(cell.monitor, env, name, iterations) {
                Ok((sample, stopped)) => {
                    println!(
                        "bench: {name} × {} round {}/{rounds}: baseline {:.3} s ({:.3} s CPU), \
                         monitored {:.3} s ({:.3} s CPU + monitor {:.3} s): wall {:.2}×, \
                         CPU {:.2}×",
                        cell.monitor.name(),
                        round + 1,
                        sample.baseline.wall,
                        sample.baseline.cpu,
                        sample.monitored.wall,
                        sample.monitored.cpu,
                        sample.monitor_cpu,
                        sample.wall_ratio(),
                        sample.cpu_ratio(),
                    );
                    cell.samples.push(sample);
                    if let Some(lost) = stopped.lost {
                        cell.lost = Some(cell.lost.unwrap_or(0) + lost);
                    }
                    cell.lanner_stats.extend(stopped.lanner_stats);
                    if let Some(a) = stopped.alerts {
                        cell.alerts.get_or_insert_default().add(&a);
                    }
                }
                Err(e) => {
                    let why = format!("round {}: {e:#}", round + 1);
                    eprintln!("bench: {name} × {}: failed: {why}", cell.monitor.name());
                    cell.failure = Some(why);
                }
            }
        }
    }
    result
}

/// A baseline run, then a monitored run; the monitor is stopped once it has drained.
fn measure_once(
    monitor: Monitor,
    env: &Env,
    name: &str,
    iterations: u64,
) -> Result<(Sample, crate::monitors::Stopped)> {
    let baseline = bench_cpu::run_workload(env.workload_bin, name, iterations)?;
    std::thread::sleep(SETTLE);
    let _ = std::fs::remove_dir_all(env.scratch);
    let running = monitor.start(env.lanner, env.scratch).context("start")?;
    let cpu_before = running.cpu();
    let busy_before = bench_cpu::machine_busy();
    let monitored = bench_cpu::run_workload(env.workload_bin, name, iterations);
    let (cpu_after, drain) = bench_cpu::wait_drained(|| running.cpu());
    let machine = bench_cpu::machine_busy() - busy_before;
    let stopped = running.stop().context("stop");
    std::thread::sleep(SETTLE_AFTER_STOP);
    let sample = Sample {
        baseline,
        monitored: monitored?,
        monitor_cpu: cpu_after - cpu_before,
        machine,
        drain,
    };
    Ok((sample, stopped?))
}

/// /proc/loadavg's first three fields (a busy machine makes every ratio noisier).
fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `comm (pid)` of every process holding an eBPF program or link.
fn bpf_holders() -> Vec<String> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut holders: Vec<String> = procs
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(e.path().join("fd")).ok()?;
            let holds = fds
                .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .any(|t| {
                    let t = t.to_string_lossy();
                    t == "anon_inode:bpf-prog" || t == "anon_inode:bpf_link"
                });
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            holds.then(|| format!("{} ({pid})", comm.trim()))
        })
        .collect();
    holders.sort();
    holders
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

fn selected_workloads(opts: &Opts) -> Result<Vec<Workload>> {
    if opts.workloads.is_empty() {
        return Ok(WORKLOADS.to_vec());
    }
    opts.workloads.iter().map(|w| parse_workload(w)).collect()
}

/// `name` or `name=iterations`.
fn parse_workload(spec: &str) -> Result<Workload> {
    let (name, count) = match spec.split_once('=') {
        Some((name, n)) => (name, Some(n)),
        None => (spec, None),
    };
    let mut w = *WORKLOADS
        .iter()
        .find(|w| w.name == name)
        .with_context(|| format!("unknown workload {name:?}"))?;
    if let Some(n) = count {
        w.iterations = n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("bad iteration count in {spec:?}"))?;
    }
    Ok(w)
}

fn selected_monitors(opts: &Opts) -> Result<Vec<Monitor>> {
    if opts.monitors.is_empty() {
        return Ok(Monitor::ALL.to_vec());
    }
    let mut chosen = Vec::new();
    for m in &opts.monitors {
        let these: Vec<Monitor> = match m.as_str() {
            "lanner" => vec![Monitor::LannerDump, Monitor::LannerRules],
            _ => vec![
                Monitor::ALL
                    .into_iter()
                    .find(|x| x.name() == m)
                    .with_context(|| format!("unknown monitor {m:?}"))?,
            ],
        };
        for x in these {
            if !chosen.contains(&x) {
                chosen.push(x);
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_specs_take_an_iteration_count() {
        let w = parse_workload("open-sensitive=1000").unwrap();
        assert_eq!((w.name, w.iterations), ("open-sensitive", 1000));
        assert_eq!(parse_workload("dup2").unwrap().iterations, 7_000_000);
        assert!(parse_workload("dup2=0").is_err());
        assert!(parse_workload("nope").is_err());
    }
}
