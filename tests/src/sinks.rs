//! What the alert-sink tests share (`tests/tests/sinks*.rs`): a rules file matching only a
//! test's marker, alerts fired one by one or in bursts, the sinks' counters from the exit
//! summary, a sensor's metrics and memory. Not re-exported: `use lanner_tests::sinks::*;`.

use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::{EVENT_TIMEOUT, Launch, Sensor, Stats, TempDir, is_alert, out_contains};

pub const RULE: &str = "Lanner test sink marker";

/// A rules file with one rule: an exec whose command line contains `marker`.
pub fn rules_file(dir: &TempDir, marker: &str) -> String {
    let path = dir.path().join("sink.yaml");
    let text = format!(
        "- rule: {RULE}\n  desc: an exec carrying the test's marker\n  condition: evt.type in (execve, execveat) and proc.cmdline contains {marker}\n  output: sink test %proc.cmdline\n  priority: WARNING\n  tags: [test]\n"
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// `-o` before each option.
pub fn opts<S: AsRef<str>>(options: &[S]) -> Vec<String> {
    options
        .iter()
        .flat_map(|o| ["-o".to_string(), o.as_ref().to_string()])
        .collect()
}

/// The sensor with `-r rules` and `args`, in the production configuration: alerts only, the
/// hooks the rules need (an exec rule: no file or network hooks, whose host-wide storms under
/// `--dump-events` can overflow the ring and lose the test's own exec). A ring-buffer
/// overflow on a busy host is only logged: its internal alert would reach the sinks and upset
/// their counts, which are about the test's own alerts.
#[track_caller]
pub fn start(rules: &str, args: &[String]) -> Sensor {
    let mut all: Vec<&str> = vec!["-r", rules, "-o", "syscall_event_drops.actions=[log]"];
    all.extend(args.iter().map(String::as_str));
    let mut sensor = Sensor::launch(Launch {
        args: &all,
        alerts_only: true,
        ..Launch::default()
    });
    sensor.wait_ready();
    sensor
}

/// `busybox echo <marker>-<i>` on the host, then its alert from the sensor's stdout.
#[track_caller]
pub fn fire(sensor: &Sensor, marker: &str, i: usize) -> Value {
    let tag = format!("{marker}-{i:03}");
    let st = Command::new("/bin/busybox")
        .args(["echo", &tag])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    sensor
        .try_wait_for(
            |v| is_alert(v) && out_contains(v, "proc.cmdline", &tag),
            EVENT_TIMEOUT,
        )
        .unwrap_or_else(|| sensor.fail(&format!("no alert for {tag}")))
}

/// `/bin/true <marker>-<i> <pad>` for each `i`, one after the other, without waiting for the
/// alerts: thousands of alerts in seconds. `pad` makes each alert about that much larger.
pub fn burst(marker: &str, range: std::ops::Range<usize>, pad: usize) {
    let pad = "p".repeat(pad.max(1));
    for i in range {
        let st = Command::new("/bin/true")
            .args([&format!("{marker}-{i}"), &pad])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

/// The `<marker>-<i>` index of an alert (or alert record), if it has one.
pub fn index(alert: &Value, marker: &str) -> Option<usize> {
    let cmdline = alert["output_fields"]["proc.cmdline"].as_str()?;
    let (_, rest) = cmdline.rsplit_once(&format!("{marker}-"))?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// How many times each index came.
pub fn index_counts<'a>(
    alerts: impl IntoIterator<Item = &'a Value>,
    marker: &str,
) -> BTreeMap<usize, usize> {
    let mut m = BTreeMap::new();
    for i in alerts.into_iter().filter_map(|a| index(a, marker)) {
        *m.entry(i).or_default() += 1;
    }
    m
}

/// The alerts of `marker` the sensor printed.
pub fn stdout_alerts(sensor: &Sensor, marker: &str) -> usize {
    sensor.count_where(|v| is_alert(v) && index(v, marker).is_some())
}

/// After a burst: waits until the sensor printed `want` alerts of `marker`, or until their
/// count has not moved for 3 s (on a busy host the kernel's ring buffer may lose a few execs;
/// they are counted there, and the sinks never see them). The count printed: what the sinks
/// were handed. Fails the test when nothing came.
#[track_caller]
pub fn settle_alerts(sensor: &Sensor, marker: &str, want: usize, timeout: Duration) -> usize {
    let end = std::time::Instant::now() + timeout;
    let (mut last, mut since) = (usize::MAX, std::time::Instant::now());
    loop {
        let n = stdout_alerts(sensor, marker);
        if n >= want {
            return n;
        }
        if n != last {
            (last, since) = (n, std::time::Instant::now());
        } else if since.elapsed() > Duration::from_secs(3) || std::time::Instant::now() > end {
            if n == 0 {
                sensor.fail(&format!("no alert of {marker} on stdout"));
            }
            eprintln!("{marker}: {n} of {want} alerts raised (kernel losses on a busy host)");
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Bytes in the `*.spool` segments under `dir`.
pub fn spool_segment_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// `delivered`, `dropped`, `rejected` of a sink in the exit summary.
#[track_caller]
pub fn sink_counts(stats: &Stats, sink: &str) -> (u64, u64, u64) {
    (
        sink_counter(stats, sink, "delivered"),
        sink_counter(stats, sink, "dropped"),
        sink_counter(stats, sink, "rejected"),
    )
}

#[track_caller]
pub fn sink_counter(stats: &Stats, sink: &str, key: &str) -> u64 {
    stats.raw["sinks"][sink][key]
        .as_u64()
        .unwrap_or_else(|| panic!("sinks.{sink}.{key} missing: {}", stats.raw))
}

/// A sink's drops for one reason (`queue_full`, `spool_full`, `write_error`, …).
#[track_caller]
pub fn sink_drops(stats: &Stats, sink: &str, reason: &str) -> u64 {
    stats.raw["sinks"][sink]["drops"][reason]
        .as_u64()
        .unwrap_or_else(|| panic!("sinks.{sink}.drops.{reason} missing: {}", stats.raw))
}

/// The options of an HTTP sink to the fake Fluentd at `addr`, with quick retries.
pub fn fluentd_opts(addr: std::net::SocketAddr) -> Vec<String> {
    opts(&[
        "http_output.enabled=true".to_string(),
        format!("http_output.url=http://{addr}/falco.alerts"),
        "sinks.backoff_max_seconds=1".into(),
        "sinks.drain_seconds=2".into(),
    ])
}

/// The value of the sample `name{labels}` (labels as written, e.g. `sink="http"`; `""` for a
/// sample without labels) on the sensor's `/metrics`.
#[track_caller]
pub fn metric(sensor: &Sensor, name: &str, labels: &str) -> f64 {
    let addr = sensor.metrics_addr().parse().unwrap();
    let text = crate::receivers::HttpClient::new(addr)
        .get("/metrics")
        .unwrap()
        .body;
    let want = match labels {
        "" => format!("{name} "),
        _ => format!("{name}{{{labels}}} "),
    };
    let line = text
        .lines()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("no {want} in\n{text}"));
    line[want.len()..].trim().parse().unwrap()
}

/// The resident memory of `pid` (VmRSS), in bytes.
pub fn rss_bytes(pid: i64) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    kb * 1024
}

/// The largest RSS of `pid` sampled every 100 ms while `f` runs, and what `f` returned.
pub fn peak_rss_during<T>(pid: i64, f: impl FnOnce() -> T) -> (u64, T) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let done = AtomicBool::new(false);
    let peak = AtomicU64::new(rss_bytes(pid));
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Relaxed) {
                peak.fetch_max(rss_bytes(pid), Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let out = f();
        done.store(true, Relaxed);
        (peak.load(Relaxed).max(rss_bytes(pid)), out)
    })
}
