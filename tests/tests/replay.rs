//! The throughput benchmark's tooling (`lanner --record-raw`, `lanner --replay`, hidden
//! options used by `cargo xtask bench-pipeline`): a recording holds every record the reader
//! got, and a replay plays each of them through the pipeline in every round of every pass.

use lanner_tests::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Instant;

#[test]
fn a_recording_holds_what_the_reader_read_and_replays_it_every_round() {
    require_root!();
    let dir = TempDir::new("replay");
    let raw = dir.path().join("recording.raw");
    let raw_arg = raw.to_str().unwrap();
    let mut sensor = Sensor::start_with(&["--record-raw", raw_arg]);
    let marker = unique("replay");
    const EXECS: usize = 5;
    for _ in 0..EXECS {
        let status = Command::new("/bin/busybox")
            .args(["echo", &marker])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let ours = |e: &Value| is_type(e, "execve") && has_arg(e, &marker);
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while sensor.count_where(ours) < EXECS {
        if Instant::now() > deadline {
            sensor.fail("the marked execs were not all reported");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The recording is complete once the sensor has stopped (the reader flushes it).
    let stats = sensor.stop();

    const ROUNDS: u64 = 3;
    let out = Command::new(lanner_bin())
        .args(["--replay", raw_arg, "--replay-rounds", &ROUNDS.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON summary");
    let count = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"));

    // Every event the sensor read is in the recording, kind by kind, and decodes again.
    for k in KINDS {
        assert_eq!(count(&v["kinds"][k]), stats.events(k), "{k} events in {v}");
    }
    assert_eq!(count(&v["decode_errors"]), 0);
    assert!(count(&v["kinds"]["exec"]) >= EXECS as u64);
    let per_round: u64 = KINDS.iter().map(|k| stats.events(k)).sum();

    // Each pass plays all of them in every round: ring-fed, flat, and the two single rounds.
    assert_eq!(count(&v["events"]), ROUNDS * per_round);
    assert_eq!(count(&v["flat"]["events"]), ROUNDS * per_round);
    assert_eq!(count(&v["undisturbed"]["events_per_round"]), per_round);
    assert_eq!(count(&v["split"]["events"]), per_round);
    let by_kind: u64 = KINDS
        .iter()
        .map(|k| count(&v["by_kind"][k]["events"]))
        .sum();
    assert_eq!(by_kind, per_round);
    for rate in [
        &v["events_per_cpu_second"],
        &v["undisturbed"]["events_per_cpu_second"],
        &v["flat"]["events_per_cpu_second"],
    ] {
        assert!(rate.as_f64().is_some_and(|r| r > 0.0), "rate {rate} in {v}");
    }
}
