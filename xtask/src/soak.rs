//! `cargo xtask soak [--minutes N] [--rate EVENTS_PER_S]`: the release sensor with the official
//! rules under a steady load (default 20,000 events/s for 10 minutes), watched from outside:
//! RSS and CPU time every second, `/healthz` every second (2 s timeout), a probe exec every
//! second that must raise its alert. At the end: the workload's events against what the
//! sensor read and counted as lost. Writes SOAK.md and the RSS curve (SOAK-rss.svg). Not part
//! of `cargo xtask test`.
//!
//! The load: execs of `/bin/true` (each is a fork, an exec and an exit: three events) and
//! connects to a closed loopback port (one event each), split so that about a fifth of the
//! events come from execs.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench_pipeline::{bpf_map_kib, official_rules, status_kib};
use crate::bench_sensor::{Sensor, closed_port, rules_args};
use crate::soak_report::{self as report, Sample, Soak};
use crate::util::{self, cargo};

#[derive(clap::Args)]
pub struct Opts {
    /// How long the load runs.
    #[arg(long, default_value_t = 10)]
    pub minutes: u64,
    /// Events per second the load aims at (execs count three: fork, exec, exit).
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
}

/// The probe's rule: one alert per probe exec.
pub const PROBE_RULE: &str = r#"- rule: Lanner soak probe
  desc: An exec of the probe of cargo xtask soak.
  condition: spawned_process and proc.name = busybox and proc.args startswith "echo lanner-soak-probe-"
  output: "soak probe (cmdline=%proc.cmdline)"
  priority: NOTICE
  tags: [lanner_soak]
"#;
const PROBE_PREFIX: &str = "lanner-soak-probe-";
/// Share of the events made by execs (three each), the rest by connects.
const EXEC_SHARE: f64 = 0.2;
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

pub fn run(opts: &Opts) -> Result<()> {
    let started = Instant::now();
    if opts.minutes == 0 || opts.rate == 0 {
        bail!("--minutes and --rate must be positive");
    }
    crate::setup::run()?;
    util::run(cargo().args(["build", "--release", "--package", "lanner"]))?;
    let lanner = crate::build::release_bin("lanner");
    let scratch = std::env::temp_dir().join(format!("lanner-soak.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let result = soak(&lanner, opts, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let soak = result?;
    let command = std::iter::once("cargo xtask".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    util::write_report("soak", "SOAK-rss.svg", &report::svg(&soak), started)?;
    let md = report::render(&command, &soak);
    util::write_report("soak", "SOAK.md", &md, started)?;
    if !soak.passed() {
        bail!("soak: a verdict failed (see SOAK.md)");
    }
    Ok(())
}

fn soak(lanner: &Path, opts: &Opts, dir: &Path) -> Result<Soak> {
    let mut rules: Vec<PathBuf> = official_rules()?;
    let probe_rules = dir.join("soak-probe.yaml");
    std::fs::write(&probe_rules, PROBE_RULE)?;
    rules.push(probe_rules);
    let mut sensor = Sensor::start(lanner, &rules_args(&rules), dir, "soak", Stdio::piped())?;
    let pid = sensor.child.id();
    let metrics = sensor.metrics_addr()?;
    let alerts = Arc::new(AtomicU64::new(0));
    let stdout = sensor.child.stdout.take().context("sensor stdout")?;
    let reader = {
        let alerts = alerts.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains(PROBE_PREFIX) {
                    alerts.fetch_add(1, SeqCst);
                }
            }
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let exec_rate = (opts.rate as f64 * EXEC_SHARE / 3.0).max(1.0);
    let connect_rate = (opts.rate as f64 * (1.0 - EXEC_SHARE)).max(1.0);
    let target = closed_port()?;
    let execs = pace(&stop, exec_rate, || {
        Command::new("/bin/true")
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let connects = pace(&stop, connect_rate, move || {
        let _ = TcpStream::connect(target);
        true
    });
    let cpu_start = cpu_ticks(pid);
    let run_for = Duration::from_secs(opts.minutes * 60);
    let t0 = Instant::now();
    let (mut samples, mut probes, mut health_failures, mut worst_health) = (Vec::new(), 0, 0, 0.0);
    while t0.elapsed() < run_for {
        let tick = Instant::now();
        let probe = format!("{PROBE_PREFIX}{probes}");
        if Command::new("/bin/busybox")
            .args(["echo", &probe])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            probes += 1;
        }
        let asked = Instant::now();
        let healthy = get(&metrics, "/healthz").is_ok_and(|(code, _)| code == 200);
        let took = asked.elapsed().as_secs_f64();
        worst_health = f64::max(worst_health, took);
        if !healthy {
            health_failures += 1;
        }
        samples.push(Sample {
            at_s: t0.elapsed().as_secs_f64(),
            rss_kib: status_kib(pid, "VmRSS").unwrap_or(0),
            anon_kib: status_kib(pid, "RssAnon").unwrap_or(0),
            // Read every 10 s: smaps is long, and the ring buffer's pages settle early.
            ring_kib: if samples.len() % 10 == 0 {
                bpf_map_kib(pid)
            } else {
                samples.last().map_or(0, |s: &Sample| s.ring_kib)
            },
            cpu_ticks: cpu_ticks(pid).saturating_sub(cpu_start),
            healthy,
        });
        std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
    }
    stop.store(true, SeqCst);
    let elapsed = t0.elapsed().as_secs_f64();
    let (execs, connects) = (join(execs)?, join(connects)?);
    // The last events and alerts reach the output before the stop drains the rest.
    std::thread::sleep(Duration::from_secs(2));
    let final_metrics = get(&metrics, "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default();
    let command_line = sensor.command.clone();
    let stats = sensor.stop()?;
    let _ = reader.join();
    Ok(Soak {
        minutes: opts.minutes,
        rate: opts.rate,
        elapsed_s: elapsed,
        execs,
        connects,
        probes,
        probe_alerts: alerts.load(SeqCst),
        health_failures,
        worst_health_s: worst_health,
        samples,
        stats,
        metrics_tail: final_metrics
            .lines()
            .filter(|l| l.starts_with("lanner_events_lost_total") && !l.ends_with(" 0"))
            .map(str::to_string)
            .collect(),
        command_line,
        clock_ticks: clock_ticks(),
    })
}

/// Runs `op` at `rate` per second (in 1 ms steps) on its own thread until `stop`; returns how
/// many succeeded.
fn pace(
    stop: &Arc<AtomicBool>,
    rate: f64,
    op: impl Fn() -> bool + Send + 'static,
) -> JoinHandle<u64> {
    let stop = stop.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let (mut due_done, mut ok) = (0u64, 0u64);
        while !stop.load(SeqCst) {
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            while due_done < due && !stop.load(SeqCst) {
                ok += u64::from(op());
                due_done += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        ok
    })
}

fn join(h: JoinHandle<u64>) -> Result<u64> {
    h.join()
        .map_err(|_| anyhow::anyhow!("a load thread panicked"))
}

/// `GET path` over HTTP/1.0 with [`HEALTH_TIMEOUT`] for each step: (status, body).
fn get(addr: &SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(addr, HEALTH_TIMEOUT)?;
    s.set_read_timeout(Some(HEALTH_TIMEOUT))?;
    s.set_write_timeout(Some(HEALTH_TIMEOUT))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status")?;
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat; `rest` starts at field 3.
    num(11) + num(12)
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).unwrap_or(100)
}
