//! When the reader takes records from the ring buffer (`--max-delay-ms`, README "Design
//! choices"): with a delay, a sparse stream of records is taken a tick's worth at a time, not
//! one wake-up per record; with none, each record into an empty ring wakes the reader. Either
//! way every record arrives. The sensor sees the whole host: the test counts only its own
//! opens, and bounds the drains by the window's ticks, which host traffic cannot exceed.

use std::time::{Duration, Instant};

use lanner_tests::*;
use serde_json::Value;

/// Opens of a file only this run uses, `gap` apart; returns how long the stream took.
fn sparse_opens(path: &std::path::Path, n: usize, gap: Duration) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        drop(std::fs::File::open(path).unwrap());
        std::thread::sleep(gap);
    }
    start.elapsed()
}

fn drains(sensor: &Sensor) -> f64 {
    sinks::metric(sensor, "lanner_reader_drains_total", "")
}

/// Runs `n` sparse opens under a sensor started with `--max-delay-ms delay_ms`; returns the
/// drains the window took and its length, after checking every open arrived.
fn run(delay_ms: u64, n: usize) -> (f64, Duration) {
    let dir = TempDir::new("delivery");
    let path = dir.path().join(format!("delivery-{delay_ms}"));
    std::fs::write(&path, "x").unwrap();
    let name = path.to_str().unwrap().to_string();
    let mut sensor = Sensor::start_with(&["--max-delay-ms", &delay_ms.to_string()]);
    // A first open, waited for: the reader is running and the ring is drained.
    drop(std::fs::File::open(&path).unwrap());
    sensor.wait_for(|e| e["fd.name"] == name.as_str(), EVENT_TIMEOUT);
    let before = drains(&sensor);
    let window = sparse_opens(&path, n, Duration::from_millis(20));
    let mine = |e: &Value| e["fd.name"] == name.as_str() && e["evt.type"] != "procexit";
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while sensor.count_where(mine) < n + 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = drains(&sensor);
    assert_eq!(sensor.count_where(mine), n + 1, "every open arrives");
    let stats = sensor.stop();
    assert_eq!(stats.gone("open"), 0);
    (after - before, window)
}

#[test]
fn a_delay_batches_a_sparse_stream_and_none_wakes_per_record() {
    const N: usize = 50;
    // 200 ms ticks over a ~1 s stream of records 20 ms apart: about 6 drains, whatever else
    // the host does (its records join ours in the same drains). The window is measured up to
    // the last open; the wait for the last record adds at most one more tick, and the scrape
    // itself, which is not atomic with the last drain, one more.
    let (batched, window) = run(200, N);
    let ticks = window.as_secs_f64() / 0.2;
    assert!(
        batched <= ticks.ceil() + 3.0,
        "{batched} drains in {window:?} with 200 ms ticks"
    );
    assert!(batched < (N / 2) as f64, "{batched} drains for {N} records");
    // No delay: each of our records lands in a ring the reader has emptied (20 ms after the
    // last), and wakes it.
    let (eager, _) = run(0, N);
    println!(
        "drains for {N} records: {batched} in {window:?} with 200 ms ticks, {eager} with none"
    );
    assert!(
        eager >= (N / 2) as f64,
        "{eager} drains for {N} records with --max-delay-ms 0"
    );
}
