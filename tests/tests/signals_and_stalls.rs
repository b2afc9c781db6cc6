//! Signals at awkward moments and a pipeline that cannot move (docs/outputs.md, "Health"):
//! SIGHUP during start-up never kills the sensor (it reloads once running), SIGTERM during
//! start-up ends it at once, and when nobody reads its stdout `/healthz` fails with the reason
//! and SIGTERM still ends the process within the drain time plus its margin.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use lanner_tests::prometheus::http_get;
use lanner_tests::*;

/// `/proc/<pid>/status` mask line `field` (`SigBlk`, `SigCgt` …) of the process's main thread.
fn signal_mask(pid: i64, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

fn bit(sig: libc::c_int) -> u64 {
    1 << (sig - 1)
}

/// Waits until the sensor's `main` has run its first line (SIGHUP blocked).
#[track_caller]
fn wait_main_started(sensor: &Sensor) {
    let t = Instant::now();
    while signal_mask(sensor.pid(), "SigBlk").is_none_or(|m| m & bit(libc::SIGHUP) == 0) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the sensor's main did not block SIGHUP"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn sighup_during_start_up_never_kills_the_sensor_and_reloads_once_it_runs() {
    require_root!();
    let mut sensor = Sensor::launch(Launch::default());
    wait_main_started(&sensor);
    // SIGHUP every 5 ms through the whole start-up (rules, BTF, probes), and a little after.
    let pid = sensor.pid() as i32;
    let ready = Arc::new(AtomicBool::new(false));
    let sender = std::thread::spawn({
        let ready = ready.clone();
        move || {
            let mut sent = 0;
            let mut after = 0;
            while after < 20 {
                // SAFETY: signalling the sensor this test started (a zombie ignores it).
                unsafe { libc::kill(pid, libc::SIGHUP) };
                sent += 1;
                if ready.load(Relaxed) {
                    after += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            sent
        }
    });
    sensor.wait_ready();
    ready.store(true, Relaxed);
    let sent = sender.join().unwrap();
    assert!(sent > 20, "{sent} SIGHUPs");
    // Alive and capturing.
    let (pid, marker) = echo_on_host("hup-start");
    sensor.wait_for(
        |e| e["proc.pid"] == pid && has_arg(e, &marker),
        EVENT_TIMEOUT,
    );
    let stats = sensor.stop();
    let reloads = stats.raw["rules"]["reloads"].as_u64().unwrap();
    assert!(
        reloads >= 1,
        "the start-up's SIGHUPs reload once it runs: {reloads}"
    );
}

#[test]
fn sigterm_during_start_up_ends_the_process_at_once() {
    require_root!();
    let mut sensor = Sensor::launch(Launch::default());
    wait_main_started(&sensor);
    let sent = Instant::now();
    sensor.signal(libc::SIGTERM);
    let status = sensor
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running 10 s after a SIGTERM during start-up"));
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status}");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
}

#[test]
fn unread_stdout_fails_healthz_and_sigterm_still_ends_the_process() {
    require_root!();
    const STALL_S: u64 = 3;
    const DRAIN_S: u64 = 2;
    const MARGIN_S: u64 = 3; // shutdown.rs MARGIN
    let stall = format!("exporter.stall_seconds={STALL_S}");
    let drain = format!("sinks.drain_seconds={DRAIN_S}");
    let mut sensor = Sensor::launch(Launch {
        args: &["-o", &stall, "-o", &drain],
        leave_stdout_unread: true,
        ..Launch::default()
    });
    sensor.wait_ready();
    let addr = sensor.metrics_addr();

    // Real execs, every event of which the sensor must print (--dump-events) to a full pipe.
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let flooding = flooding.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while flooding.load(Relaxed) {
                let ok = std::process::Command::new("/bin/true").status();
                assert!(ok.is_ok_and(|s| s.success()));
                n += 1;
            }
            n
        })
    };
    let t = Instant::now();
    let limit = Duration::from_secs(STALL_S + 10);
    let body = loop {
        let r = http_get(&addr, "/healthz").unwrap_or_else(|e| {
            sensor.fail(&format!("/healthz does not answer: {e:#}"));
        });
        if r.status == 503 {
            break r.body;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        if t.elapsed() > limit {
            sensor.fail(&format!(
                "/healthz still 200 after {limit:?} of unread stdout"
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let execs = {
        flooding.store(false, Relaxed);
        flood.join().unwrap()
    };
    assert!(
        body.contains("stdout has been blocked") || body.contains("not processed"),
        "{body:?}"
    );
    let metrics = http_get(&addr, "/metrics").unwrap();
    assert_eq!(metrics.status, 200, "the endpoint itself still serves");

    let sent = Instant::now();
    sensor.signal(libc::SIGTERM);
    // Past the deadline the kernel still detaches every hook, and each detach waits out an RCU
    // grace period (about 40 ms here even when made at once; --dump-events attaches them all).
    let hooks = attached_hooks(&sensor.stderr());
    let allowed = Duration::from_secs(DRAIN_S + MARGIN_S + 3) + Duration::from_millis(60) * hooks;
    let status = sensor
        .wait_exit(allowed)
        .unwrap_or_else(|| panic!("not ended {allowed:?} after SIGTERM with stdout unread"));
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_secs(DRAIN_S),
        "ended after {took:?}: the deadline is the drain time plus a margin"
    );
    assert_eq!(status.code(), Some(1), "{status}");
    let err = sensor.stderr();
    assert!(
        err.contains("shutdown did not finish within") && err.contains("lanner: counters {"),
        "{execs} execs; stderr:\n{err}"
    );
}

/// N of the start log's "hooks attached: N of M".
fn attached_hooks(stderr: &str) -> u32 {
    let at = stderr
        .find("hooks attached: ")
        .unwrap_or_else(|| panic!("no hooks line in\n{stderr}"));
    let rest = &stderr[at + "hooks attached: ".len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}
