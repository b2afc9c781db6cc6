//! Sink settings that used to crash the sensor or have it retry forever (issue 15, item 8):
//! out-of-range `*_seconds` values (a panic, exit 101), a drain so long that the shutdown's
//! deadline overflowed, `ftp://` URLs and a file output that cannot be a file. Each now fails
//! the start with an error that names the key, or works.

use std::process::{Command, Output};

use lanner_tests::receivers::FakeFluentd;
use lanner_tests::sinks::*;
use lanner_tests::*;

/// `lanner` with these `-o` options (and no metrics endpoint), run to its end.
fn run(options: &[String]) -> Output {
    let mut args = opts(options);
    args.extend(opts(&["exporter.enabled=false"]));
    Command::new(lanner_bin()).args(&args).output().unwrap()
}

/// The start fails (exit 1, not a panic's 101) and stderr has each of `wants`.
#[track_caller]
fn refused(options: &[String], wants: &[&str]) {
    let out = run(options);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{options:?}: {stderr}");
    for w in wants {
        assert!(stderr.contains(w), "{options:?}: no {w:?} in {stderr}");
    }
}

/// The whole binary refuses to start (exit 1, the key named): every `*_seconds` key and every
/// bad value are the unit tests' (`sinks::config`); here one of each kind of key, end to end.
#[test]
fn out_of_range_seconds_fail_the_start_naming_the_key() {
    for key in ["http_output.timeout_seconds", "exporter.series_ttl_seconds"] {
        for bad in ["1e30", "-1", ".nan"] {
            refused(&[format!("{key}={bad}")], &[key, "seconds"]);
        }
    }
}

#[test]
fn a_url_that_is_not_http_fails_the_start() {
    for (on, key) in [
        ("http_output.enabled=true", "http_output.url"),
        (
            "elasticsearch_output.enabled=true",
            "elasticsearch_output.url",
        ),
    ] {
        let url = format!("{key}=ftp://127.0.0.1/falco");
        refused(&[on.into(), url], &[key, "scheme ftp"]);
    }
}

#[test]
fn a_file_output_that_cannot_be_a_file_fails_the_start() {
    require_root!();
    let dir = TempDir::new("sink-notafile");
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let missing = dir.path().join("no/such/dir/alerts.json");
    for (path, why) in [
        (dir.path().to_path_buf(), "a directory"),
        (fifo, "a FIFO"),
        (missing, "No such file"),
    ] {
        let options = [
            "file_output.enabled=true".to_string(),
            format!("file_output.filename={}", path.display()),
        ];
        refused(
            &options,
            &["file_output.filename", &path.display().to_string(), why],
        );
    }
}

/// The longest drain (a year) is accepted and the shutdown computes its deadline without
/// overflowing (`1e19` used to panic there).
#[test]
fn a_year_of_drain_shuts_down_cleanly() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    let dir = TempDir::new("sink-longdrain");
    let marker = unique("longdrain");
    let mut args = fluentd_opts(fluentd.addr());
    args.extend(opts(&["sinks.drain_seconds=31536000"]));
    let mut sensor = start(&rules_file(&dir, &marker), &args);
    fire(&sensor, &marker, 0);
    fluentd
        .wait_records(1, std::time::Duration::from_secs(20))
        .unwrap();
    let stats = sensor.stop();
    assert_eq!(sink_counts(&stats, "http"), (1, 0, 0), "{}", stats.raw);
}

/// A stop that comes while a spooled batch waits for its retry, the receiver back just after:
/// the batch goes, and then the sink ends (it used to wait for more alerts forever, and the
/// sensor never exited).
#[test]
fn a_stop_during_a_retry_still_ends_the_sink() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    fluentd.stop();
    let dir = TempDir::new("sink-stopretry");
    let marker = unique("stopretry");
    let mut args = fluentd_opts(fluentd.addr());
    args.extend(opts(&[
        "spool.enabled=true".to_string(),
        format!("spool.directory={}", dir.path().join("spool").display()),
        "sinks.drain_seconds=5".into(),
    ]));
    let mut sensor = start(&rules_file(&dir, &marker), &args);
    fire(&sensor, &marker, 0);
    std::thread::sleep(std::time::Duration::from_secs(2)); // retrying, every second at most
    sensor.signal(libc::SIGINT);
    fluentd.restart().unwrap();
    // One signal only: a second one ends the sensor at once, without its drain.
    let stats = sensor.stopped(libc::SIGINT); // fails unless it exits within 30 s
    assert_eq!(sink_counts(&stats, "http"), (1, 0, 0), "{}", stats.raw);
    assert_eq!(fluentd.record_count(), 1);
}
