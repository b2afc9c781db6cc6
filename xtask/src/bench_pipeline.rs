//! `cargo xtask bench-pipeline` (also the last step of `cargo xtask bench`): the sensor's
//! userspace pipeline and the cost of an alert end to end, written to BENCHMARKS-pipeline.md
//! (`bench_pipeline_report`).
//!
//! 1. Record: the release sensor runs with `--record-raw` while a mixed workload runs
//!    (`lanner-workload` exec, connect and mount storms, busybox and `find … id_rsa` execs from
//!    a shell, connects to a closed loopback port).
//! 2. Replay: `lanner --replay` with the three official Falco rules files, pinned to one CPU;
//!    events/s of the decode → enrich → rules → alert JSON loop, median of [`REPLAY_RUNS`].
//! 3. Latency from before an exec to its alert line on the sensor's stdout, at idle and under
//!    load (`bench_latency`).
//! 4. RSS of the sensor while connects to a closed port are paced at [`RSS_RATE`] per second.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench_latency::{self, Latency};
use crate::bench_pipeline_report as report;
use crate::bench_sensor::{Sensor, closed_port, rules_args, stats_events};
use crate::util::{self, cargo};

/// Replay runs; the report gives their median (and range). Seven: this shared VM swings a
/// single run by ±30%.
pub const REPLAY_RUNS: usize = 7;
/// Events each replay run plays at least (the recording, repeated).
pub const REPLAY_EVENTS: u64 = 1_000_000;
/// The paced event rate of the RSS measurement, and how long it lasts.
pub const RSS_RATE: u64 = 10_000;
pub const RSS_SECS: u64 = 10;
/// The official Falco rules files, in Falco's load order.
const OFFICIAL_FILES: [&str; 3] = [
    "falco_rules.yaml",
    "falco-incubating_rules.yaml",
    "falco-sandbox_rules.yaml",
];

/// Everything the report needs.
pub struct Results {
    pub recording: Recording,
    pub replay_command: String,
    /// The replay runs' summaries (`lanner --replay` prints one JSON object).
    pub replays: Vec<Value>,
    pub instructions: Instructions,
    pub idle: Latency,
    pub loaded: Latency,
    pub rss: Rss,
}

/// CPU instructions inside the pipeline, counted by callgrind: the same on every run, unlike
/// time on this VM, so two builds compare by it.
pub struct Instructions {
    pub command: String,
    pub total: u64,
    /// Records that went through the pipeline in that run.
    pub events: u64,
    pub alert_bytes: u64,
}

pub struct Recording {
    pub command: String,
    pub workload: Vec<String>,
    pub bytes: u64,
    pub seconds: f64,
    /// The recording sensor's stats file.
    pub stats: Value,
}

pub struct Rss {
    pub command: String,
    pub connects_per_second: f64,
    /// Events the sensor read per second during the paced phase.
    pub events_per_second: f64,
    pub idle_kib: u64,
    /// The largest VmRSS sampled, with RssAnon/RssFile/RssShmem of that sample.
    pub max: [u64; 4],
    pub hwm_kib: u64,
    /// Resident pages of the sensor's BPF map mappings (the ring buffer) at the end.
    pub bpf_map_kib: u64,
    pub samples: usize,
}

pub fn run() -> Result<()> {
    let started = Instant::now();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    crate::setup::run()?;
    println!("bench-pipeline: building lanner and lanner-workload");
    util::run(cargo().args(["build", "--release", "--package", "lanner"]))?;
    let workload = crate::build::workload_bin()?;
    let lanner = crate::build::release_bin("lanner");
    let rules = official_rules()?;
    let scratch =
        std::env::temp_dir().join(format!("lanner-bench-pipeline.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let result = measure(&lanner, &workload, &rules, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let results = result?;
    let command = std::iter::once("cargo xtask".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let md = report::render(&command, &load, &results);
    util::write_report("bench-pipeline", "BENCHMARKS-pipeline.md", &md, started)
}

fn measure(lanner: &Path, workload: &Path, rules: &[PathBuf], dir: &Path) -> Result<Results> {
    let raw = dir.join("recording.raw");
    let recording = record(lanner, workload, &raw, dir).context("recording")?;
    let (replay_command, replays) = replay(lanner, &raw, rules).context("replay")?;
    let instructions = instructions(lanner, &raw, rules, dir).context("instruction count")?;
    let _ = std::fs::remove_file(&raw);
    let marker_rules = dir.join("probe-rule.yaml");
    std::fs::write(&marker_rules, bench_latency::PROBE_RULE)?;
    let mut with_probe: Vec<PathBuf> = rules.to_vec();
    with_probe.push(marker_rules);
    let args = rules_args(&with_probe);
    let idle = bench_latency::measure(lanner, &args, dir, None).context("latency at idle")?;
    let loaded =
        bench_latency::measure(lanner, &args, dir, Some(workload)).context("latency under load")?;
    let rss = rss(lanner, &rules_args(rules), dir).context("RSS")?;
    Ok(Results {
        recording,
        replay_command,
        replays,
        instructions,
        idle,
        loaded,
        rss,
    })
}

/// The official rules files: `$LANNER_FALCO_RULES_DIR`, else `/work/shared/falco-rules`, else
/// `../shared/falco-rules` next to the workspace (as `lanner_rules::testing::official_dir`).
pub fn official_rules() -> Result<Vec<PathBuf>> {
    let candidates = [
        std::env::var_os("LANNER_FALCO_RULES_DIR").map(PathBuf::from),
        Some(PathBuf::from("/work/shared/falco-rules")),
        Some(util::root().join("../shared/falco-rules")),
    ];
    let dir = candidates
        .into_iter()
        .flatten()
        .find(|d| d.join(OFFICIAL_FILES[0]).is_file())
        .context("the official Falco rules files: set LANNER_FALCO_RULES_DIR to their directory")?;
    Ok(OFFICIAL_FILES.iter().map(|f| dir.join(f)).collect())
}

fn record(lanner: &Path, workload: &Path, raw: &Path, dir: &Path) -> Result<Recording> {
    let mut args = vec![OsString::from("--record-raw"), raw.into()];
    args.extend(rules_args(&official_rules()?));
    let sensor = Sensor::start(lanner, &args, dir, "record", Stdio::null())?;
    let command = sensor.command.clone();
    let started = Instant::now();
    let shell = "for i in $(seq 300); do /bin/busybox true; /bin/busybox echo $i >/dev/null; \
                 /usr/bin/find /nonexistent -name id_rsa 2>/dev/null || true; done";
    let steps: Vec<(PathBuf, Vec<String>)> = vec![
        (workload.into(), vec!["exec".into(), "1500".into()]),
        (workload.into(), vec!["connect".into(), "10000".into()]),
        (workload.into(), vec!["mount".into(), "1000".into()]),
        (
            "/bin/busybox".into(),
            vec!["sh".into(), "-c".into(), shell.into()],
        ),
    ];
    let mut described = Vec::new();
    let mut outcome = Ok(());
    for (program, args) in &steps {
        described.push(format!("{} {}", program.display(), args.join(" ")));
        let out = util::cmd(program).args(args).stdin(Stdio::null()).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                outcome = Err(anyhow::anyhow!(
                    "{} failed ({}): {}",
                    program.display(),
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                break;
            }
            Err(e) => {
                outcome = Err(anyhow::anyhow!("cannot run {}: {e}", program.display()));
                break;
            }
        }
    }
    let refused = closed_port()?;
    if outcome.is_ok() {
        for _ in 0..5_000 {
            // Refused, as intended: the connect is the event.
            let _ = TcpStream::connect(refused);
        }
        described.push(format!(
            "5000 × connect() to {refused} (closed), from xtask"
        ));
    }
    // Let the reader's 10 ms tick drain the tail before stopping.
    std::thread::sleep(Duration::from_millis(200));
    let seconds = started.elapsed().as_secs_f64();
    let stats = sensor.stop()?;
    outcome?;
    let bytes = std::fs::metadata(raw).map(|m| m.len()).unwrap_or(0);
    if bytes == 0 {
        bail!("the recording {} is empty", raw.display());
    }
    println!("bench-pipeline: recorded {bytes} bytes in {seconds:.1} s");
    Ok(Recording {
        command,
        workload: described,
        bytes,
        seconds,
        stats,
    })
}

/// A warm-up run of one round (to size the rounds), then [`REPLAY_RUNS`] measured runs.
fn replay(lanner: &Path, raw: &Path, rules: &[PathBuf]) -> Result<(String, Vec<Value>)> {
    let run_once = |rounds: u64| -> Result<(String, Value)> {
        let mut c = util::cmd("taskset");
        c.args(["--cpu-list", "1"])
            .arg(lanner)
            .arg("--replay")
            .arg(raw)
            .args(["--replay-rounds", &rounds.to_string()])
            .args(rules_args(rules))
            .stdin(Stdio::null());
        let (command, v, _) = run_replay(c)?;
        Ok((command, v))
    };
    let (_, warm) = run_once(1)?;
    let per_round = warm["events"]
        .as_u64()
        .filter(|n| *n > 0)
        .context("no events replayed")?;
    let rounds = REPLAY_EVENTS.div_ceil(per_round).clamp(1, 100_000);
    let mut runs = Vec::new();
    let mut command = String::new();
    for i in 1..=REPLAY_RUNS {
        let (c, v) = run_once(rounds)?;
        println!(
            "bench-pipeline: replay {i}/{REPLAY_RUNS}: {:.0} events/s",
            v["events_per_second"].as_f64().unwrap_or(0.0)
        );
        command = c;
        runs.push(v);
    }
    Ok((command, runs))
}

/// One round of the replay under callgrind, collecting only inside `Pipeline::one` (the
/// decode → alert JSON work on one record).
fn instructions(lanner: &Path, raw: &Path, rules: &[PathBuf], dir: &Path) -> Result<Instructions> {
    crate::setup::ensure_apt(&["valgrind"])?;
    println!("bench-pipeline: counting instructions with callgrind (about a minute)");
    let mut c = util::cmd("valgrind");
    c.args([
        "--tool=callgrind",
        "--toggle-collect=lanner::replay::Pipeline::one*",
    ])
    .arg(format!(
        "--callgrind-out-file={}",
        dir.join("callgrind.out").display()
    ))
    .arg(lanner)
    .arg("--replay")
    .arg(raw)
    .args(["--replay-rounds", "1"])
    .args(rules_args(rules))
    .stdin(Stdio::null());
    let (command, v, stderr) = run_replay(c)?;
    let events = v["pipeline_events"]
        .as_u64()
        .filter(|n| *n > 0)
        .context("the replay summary has no pipeline_events")?;
    let total = collected(&stderr).with_context(|| {
        format!(
            "no `Collected :` line in callgrind's output: {}",
            stderr.trim()
        )
    })?;
    if total == 0 {
        bail!("callgrind counted nothing inside lanner::replay::Pipeline::one");
    }
    Ok(Instructions {
        command,
        total,
        events,
        alert_bytes: v["alert_bytes"].as_u64().unwrap_or(0),
    })
}

/// Run a replay command: its text, the summary it prints and its stderr.
fn run_replay(mut c: std::process::Command) -> Result<(String, Value, String)> {
    let command = util::display(&c);
    let out = c
        .output()
        .with_context(|| format!("cannot run `{command}`"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("`{command}` failed ({}): {}", out.status, stderr.trim());
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("the replay summary")?;
    Ok((command, v, stderr))
}

/// The instruction count of callgrind's summary line `==pid== Collected : N …`.
fn collected(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        let (_, rest) = l.split_once("Collected :")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// VmRSS/VmHWM of the sensor, sampled every 100 ms, while connects are paced at [`RSS_RATE`].
fn rss(lanner: &Path, rules: &[OsString], dir: &Path) -> Result<Rss> {
    let sensor = Sensor::start(lanner, rules, dir, "rss", Stdio::null())?;
    let pid = sensor.child.id();
    std::thread::sleep(Duration::from_secs(1));
    let idle_kib = status_kib(pid, "VmRSS").unwrap_or(0);
    let target = closed_port()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pacer = {
        let stop = stop.clone();
        std::thread::spawn(move || pace_connects(target, &stop))
    };
    let started = Instant::now();
    let (mut max, mut samples) = ([0u64; 4], 0);
    while started.elapsed() < Duration::from_secs(RSS_SECS) {
        std::thread::sleep(Duration::from_millis(100));
        let fields =
            ["VmRSS", "RssAnon", "RssFile", "RssShmem"].map(|f| status_kib(pid, f).unwrap_or(0));
        samples += 1;
        if fields[0] > max[0] {
            max = fields;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let connects = pacer
        .join()
        .map_err(|_| anyhow::anyhow!("pacer panicked"))?;
    let elapsed = started.elapsed().as_secs_f64();
    let hwm_kib = status_kib(pid, "VmHWM").unwrap_or(0);
    let bpf_map_kib = bpf_map_kib(pid);
    let command = sensor.command.clone();
    let stats = sensor.stop()?;
    let (events, _) = stats_events(&stats);
    Ok(Rss {
        command,
        connects_per_second: connects as f64 / elapsed,
        // Nearly all the events come from the paced phase; the idle second adds a few.
        events_per_second: events as f64 / elapsed,
        idle_kib,
        max,
        hwm_kib,
        bpf_map_kib,
        samples,
    })
}

/// connect() to `target` at [`RSS_RATE`] per second (in 1 ms steps) until `stop`; returns
/// the attempts made.
fn pace_connects(target: SocketAddr, stop: &std::sync::atomic::AtomicBool) -> u64 {
    let started = Instant::now();
    let mut done = 0u64;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let due = (started.elapsed().as_secs_f64() * RSS_RATE as f64) as u64;
        while done < due {
            let _ = TcpStream::connect(target);
            done += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done
}

/// The resident KiB of the process's `anon_inode:bpf-map` mappings, from /proc/PID/smaps.
pub fn bpf_map_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut in_map = false;
    let mut kib = 0;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header line: range perms offset dev inode [path].
            in_map = words.nth(4) == Some("anon_inode:bpf-map");
        } else if in_map && first == "Rss:" {
            kib += words
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    kib
}

/// A `kB` line of /proc/PID/status.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::collected;

    #[test]
    fn callgrinds_collected_line_is_read() {
        let err = "==14222== Events    : Ir\n==14222== Collected : 264223337\n==14222== I   refs: 264,223,337\n";
        assert_eq!(collected(err), Some(264_223_337));
        // With the cache simulation the line has a column per event.
        assert_eq!(collected("==1== Collected : 5 6 7\n"), Some(5));
        assert_eq!(collected("==1== no summary\n"), None);
    }
}
