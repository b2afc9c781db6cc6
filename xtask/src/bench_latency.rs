//! End-to-end latency for `cargo xtask bench-pipeline`: from just before an exec to the moment
//! its alert line is read from the sensor's stdout.
//!
//! The sensor runs with the official rules plus [`PROBE_RULE`]. [`PROBES`] times: note
//! CLOCK_REALTIME, spawn `/bin/busybox echo lanner-bench-probe-<i>`, wait for the alert line
//! naming probe `<i>` (a reader thread stamps every line as it reads it). Probes are spaced by
//! 10–30 ms (pseudo-random, so they do not beat with the reader's 10 ms drain tick). Under
//! load, `lanner-workload` exec and connect storms run in a loop beside the probes.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::bench_sensor::{Sensor, stats_events};
use crate::util;

/// Probes per measurement.
pub const PROBES: u32 = 200;
const PREFIX: &str = "lanner-bench-probe-";
/// How long a probe waits for its alert before it counts as missed.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The rule that makes each probe raise an alert (loaded after the official files).
pub const PROBE_RULE: &str = r#"- rule: Lanner bench probe
  desc: An exec of the latency probe of cargo xtask bench-pipeline.
  condition: spawned_process and proc.name = busybox and proc.args startswith "echo lanner-bench-probe-"
  output: "bench probe (cmdline=%proc.cmdline rawtime=%evt.rawtime)"
  priority: NOTICE
  tags: [lanner_bench]
"#;
/// The background load: `lanner-workload` runs, each restarted as soon as it ends.
pub const LOAD: [(&str, &str); 2] = [("exec", "500"), ("connect", "5000")];

pub struct Latency {
    pub command: String,
    /// ns from before the spawn to the alert line read, one per probe that got its alert.
    pub samples_ns: Vec<u64>,
    /// The sensor's part of each: ns from the event's kernel timestamp (`evt.rawtime`) to
    /// the line read.
    pub sensor_ns: Vec<u64>,
    pub missed: u32,
    /// Events the sensor read, and lost, per second of the measurement.
    pub events_per_second: f64,
    pub lost: u64,
    /// Alert lines other than the probes'.
    pub other_alerts: u64,
    pub load: Option<String>,
}

pub fn measure(
    lanner: &Path,
    rules: &[OsString],
    dir: &Path,
    load_with: Option<&Path>,
) -> Result<Latency> {
    let name = if load_with.is_some() {
        "loaded"
    } else {
        "idle"
    };
    let mut sensor = Sensor::start(lanner, rules, dir, name, Stdio::piped())?;
    let stdout = sensor.child.stdout.take().context("piped stdout")?;
    let other = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<Line>();
    let reader = {
        let other = other.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let at = realtime_ns();
                match probe_number(&line) {
                    Some(i) => {
                        let _ = tx.send(Line {
                            probe: i,
                            read_ns: at,
                            event_ns: event_time(&line),
                        });
                    }
                    None => {
                        other.fetch_add(1, SeqCst);
                    }
                }
            }
        })
    };
    let load = load_with.map(Load::start);
    let started = Instant::now();
    if load.is_some() {
        // Let the storms get going.
        std::thread::sleep(Duration::from_secs(1));
    }
    let probes = run_probes(&rx);
    let load_text = load.map(|l| l.stop());
    let elapsed = started.elapsed().as_secs_f64();
    let command = sensor.command.clone();
    let stats = sensor.stop()?;
    let _ = reader.join();
    let (samples_ns, sensor_ns, missed) = probes?;
    let (events, lost) = stats_events(&stats);
    println!(
        "bench-pipeline: latency {name}: {} probes, {missed} missed",
        samples_ns.len()
    );
    Ok(Latency {
        command,
        samples_ns,
        sensor_ns,
        missed,
        events_per_second: events as f64 / elapsed,
        lost,
        other_alerts: other.load(SeqCst),
        load: load_text,
    })
}

/// An alert line of a probe, as the reader thread saw it.
struct Line {
    probe: u32,
    read_ns: u64,
    event_ns: Option<u64>,
}

/// (whole latencies, sensor parts, missed probes)
fn run_probes(rx: &mpsc::Receiver<Line>) -> Result<(Vec<u64>, Vec<u64>, u32)> {
    let mut samples = Vec::new();
    let mut sensor = Vec::new();
    let mut missed = 0;
    let mut seed: u32 = 0x9e37_79b9;
    for i in 0..PROBES {
        let before = realtime_ns();
        let mut child = util::cmd("/bin/busybox")
            .args(["echo", &format!("{PREFIX}{i}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("spawning the busybox probe")?;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.probe == i => {
                    samples.push(line.read_ns.saturating_sub(before));
                    if let Some(ev) = line.event_ns {
                        sensor.push(line.read_ns.saturating_sub(ev));
                    }
                    break;
                }
                // A late alert of an earlier (missed) probe.
                Ok(_) => {}
                Err(_) => {
                    missed += 1;
                    break;
                }
            }
        }
        child.wait()?;
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        std::thread::sleep(Duration::from_millis(10 + u64::from(seed % 21)));
    }
    Ok((samples, sensor, missed))
}

/// The event's `evt.rawtime` from the alert's output fields.
fn event_time(line: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v["output_fields"]["evt.rawtime"].as_u64()
}

/// The probe number in an alert line, if it is a probe's.
fn probe_number(line: &str) -> Option<u32> {
    let rest = &line[line.find(PREFIX)? + PREFIX.len()..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

fn realtime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// The background storms, one thread per workload.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
    text: String,
}

impl Load {
    fn start(workload: &Path) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = LOAD
            .iter()
            .map(|&(name, n)| {
                let (stop, bin): (_, PathBuf) = (stop.clone(), workload.into());
                std::thread::spawn(move || {
                    let mut runs = 0;
                    while !stop.load(SeqCst) {
                        let ok = util::cmd(&bin)
                            .args([name, n])
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .status()
                            .is_ok_and(|s| s.success());
                        if !ok {
                            break;
                        }
                        runs += 1;
                    }
                    runs
                })
            })
            .collect();
        let text = LOAD
            .iter()
            .map(|(name, n)| format!("`{} {name} {n}`", workload.display()))
            .collect::<Vec<_>>()
            .join(" and ");
        Load {
            stop,
            threads,
            text: format!("{text}, each in a loop"),
        }
    }

    /// Stops the storms; says what ran, and how many times each finished.
    fn stop(self) -> String {
        self.stop.store(true, SeqCst);
        let runs: Vec<String> = self
            .threads
            .into_iter()
            .zip(LOAD)
            .map(|(t, (name, _))| match t.join() {
                Ok(n) => format!("{name} {n}×"),
                Err(_) => format!("{name}: panicked"),
            })
            .collect();
        format!("{} (completed runs: {})", self.text, runs.join(", "))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_numbers_are_read_whole() {
        let line = r#"{"output":"bench probe (cmdline=busybox echo lanner-bench-probe-17 rawtime=5)","output_fields":{"evt.rawtime":5}}"#;
        assert_eq!(super::probe_number(line), Some(17));
        assert_eq!(super::event_time(line), Some(5));
        assert_eq!(super::probe_number(r#"{"rule":"x"}"#), None);
    }
}
