//! The sinks on small and full disks (issue 15, items 3, 4 and 8d), for real: a spool on a
//! 1 MB tmpfs that fills while the receiver is down, spools of 64 KiB, a file output on a
//! 64 KiB tmpfs. Each time the sensor keeps alerting on stdout and its other sinks, nothing is
//! sent twice, and every alert is delivered or counted as dropped with its reason.

use std::{collections::BTreeMap, time::Duration};

use lanner_tests::receivers::FakeFluentd;
use lanner_tests::sinks::*;
use lanner_tests::*;

const WAIT: Duration = Duration::from_secs(90);

/// Records Fluentd stored, per `<marker>-<i>` index.
fn received(f: &FakeFluentd, marker: &str) -> BTreeMap<usize, usize> {
    let records: Vec<_> = f.records().into_iter().map(|(_, r)| r).collect();
    index_counts(&records, marker)
}

#[track_caller]
fn assert_no_duplicates(got: &BTreeMap<usize, usize>) {
    let dups: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "sent twice: {dups:?}");
}

/// Item 3: the spool on a 1 MB volume, receiver down while 2,500 alerts of ~2.3 KB come (five
/// times the volume). It used to resend one batch forever once the cursor could not be saved.
#[test]
fn a_spool_on_a_full_1mb_volume_degrades_and_recovers() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    let disk = Tmpfs::mount("sink-spool-1m", 1 << 20);
    let dir = TempDir::new("sink-fullspool");
    let marker = unique("fullspool");
    let file = dir.path().join("alerts.json");
    let mut args = fluentd_opts(fluentd.addr());
    args.extend(opts(&[
        "spool.enabled=true".to_string(),
        format!("spool.directory={}", disk.path().display()),
        "file_output.enabled=true".into(),
        format!("file_output.filename={}", file.display()),
    ]));
    let mut sensor = start(&rules_file(&dir, &marker), &args);
    fluentd.stop();
    burst(&marker, 0..2500, 1000);
    settle_alerts(&sensor, &marker, 2500, WAIT);
    let spooled = metric(&sensor, "lanner_sink_spool_bytes", "sink=\"http\"");
    assert!(spooled > 0.0 && spooled <= (1 << 20) as f64, "{spooled}");

    fluentd.restart().unwrap();
    // Everything spooled arrives and frees the volume.
    let drained = receivers::wait_until(WAIT, || {
        metric(&sensor, "lanner_sink_spool_bytes", "sink=\"http\"") == 0.0
    });
    assert!(drained, "the spool never emptied");
    let first = fluentd.record_count();
    assert!(
        first >= 200,
        "{first} records: the volume holds more than that"
    );
    // It recovers: with the receiver up, a new burst goes through whole.
    let before = stdout_alerts(&sensor, &marker);
    burst(&marker, 2500..2700, 1000);
    let sent = settle_alerts(&sensor, &marker, before + 200, WAIT);
    fluentd.wait_records(first + sent - before, WAIT).unwrap();
    let stats = sensor.stop();

    let got = received(&fluentd, &marker);
    assert_no_duplicates(&got);
    let raised = index_counts(&sensor.events_where(is_alert), &marker);
    let second: Vec<_> = raised.keys().filter(|i| **i >= 2500).collect();
    assert!(
        second.iter().all(|i| got.contains_key(i)),
        "the second burst whole"
    );
    let requests = fluentd.request_count();
    assert_eq!(requests, got.len(), "one POST per record: no resend loop");
    let (delivered, dropped, rejected) = sink_counts(&stats, "http");
    eprintln!(
        "1 MB spool: {sent} sent, {delivered} delivered in {requests} POSTs, {dropped} dropped"
    );
    assert_eq!(delivered, got.len() as u64, "{}", stats.raw);
    assert_eq!(delivered + dropped + rejected, sent as u64, "{}", stats.raw);
    assert!(dropped > 0, "five times the volume fitted: {}", stats.raw);
    assert_eq!(
        sink_drops(&stats, "http", "write_error"),
        dropped,
        "{}",
        stats.raw
    );
    assert_eq!(spool_segment_bytes(disk.path().join("http").as_path()), 0);
    // The other outputs had everything, throughout.
    assert_eq!(
        sink_counts(&stats, "file"),
        (sent as u64, 0, 0),
        "{}",
        stats.raw
    );
    let lines = std::fs::read_to_string(&file).unwrap().lines().count();
    assert_eq!(lines, sent);
}

fn small_spool_args(f: &FakeFluentd, spool: &std::path::Path) -> Vec<String> {
    let mut args = fluentd_opts(f.addr());
    args.extend(opts(&[
        "http_output.batch=true".to_string(),
        "spool.enabled=true".into(),
        "spool.max_bytes=65536".into(),
        format!("spool.directory={}", spool.display()),
    ]));
    args
}

/// Item 4: a 64 KiB spool passes many times its size to a healthy receiver (it used to stop
/// taking alerts for good once 64 KiB had gone through).
#[test]
fn a_64k_spool_delivers_everything_to_a_healthy_receiver() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    let dir = TempDir::new("sink-smallspool");
    let marker = unique("smallspool");
    let spool = dir.path().join("spool");
    let args = small_spool_args(&fluentd, &spool);
    let mut sensor = start(&rules_file(&dir, &marker), &args);
    // 400 alerts of ~900 bytes (360 KB), 20 at a time (18 KB: within the spool).
    let mut sent = 0;
    for group in 0..20 {
        burst(&marker, group * 20..group * 20 + 20, 300);
        sent = settle_alerts(&sensor, &marker, group * 20 + 20, WAIT);
        fluentd.wait_records(sent, WAIT).unwrap();
    }
    assert!(
        sent >= 300,
        "{sent} alerts: too few to pass 4 times the spool"
    );
    // The gauge goes to 0 once the last batch's answer is in, and so does the disk.
    let empty = receivers::wait_until(Duration::from_secs(10), || {
        metric(&sensor, "lanner_sink_spool_bytes", "sink=\"http\"") == 0.0
    });
    assert!(empty, "all delivered, yet the spool is not empty");
    assert_eq!(spool_segment_bytes(&spool.join("http")), 0);
    let stats = sensor.stop();
    let got = received(&fluentd, &marker);
    assert_no_duplicates(&got);
    assert_eq!(got.len(), sent);
    let sent = sent as u64;
    assert_eq!(sink_counts(&stats, "http"), (sent, 0, 0), "{}", stats.raw);
}

/// Item 4: receiver down, a 64 KiB spool stays within its size, counts what it refuses, its
/// gauge is what the disk holds; after a restart of the sensor what it held is delivered.
#[test]
fn a_64k_spool_with_the_receiver_down_is_bounded_and_delivered_after_a_restart() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    fluentd.stop();
    let dir = TempDir::new("sink-smallspool-down");
    let marker = unique("smalldown");
    let spool = dir.path().join("spool");
    let rules = rules_file(&dir, &marker);
    let args = small_spool_args(&fluentd, &spool);
    let mut first = start(&rules, &args);
    burst(&marker, 0..300, 300);
    let sent = settle_alerts(&first, &marker, 300, WAIT);
    let gauge = metric(&first, "lanner_sink_spool_bytes", "sink=\"http\"");
    let on_disk = spool_segment_bytes(&spool.join("http"));
    assert_eq!(gauge, on_disk as f64, "the gauge is what the disk holds");
    assert!(on_disk > 32 << 10 && on_disk <= 64 << 10, "{on_disk}");
    let stats = first.stop();
    let (delivered, dropped, _) = sink_counts(&stats, "http");
    assert_eq!(delivered, 0);
    assert!(
        dropped > 0,
        "300 alerts of ~900 bytes in 64 KiB: {}",
        stats.raw
    );
    assert_eq!(
        sink_drops(&stats, "http", "spool_full"),
        dropped,
        "{}",
        stats.raw
    );

    fluentd.restart().unwrap();
    let mut second = start(&rules, &args);
    let kept = sent - dropped as usize;
    fluentd.wait_records(kept, WAIT).unwrap();
    std::thread::sleep(Duration::from_secs(2)); // nothing more comes
    let gauge = metric(&second, "lanner_sink_spool_bytes", "sink=\"http\"");
    let stats = second.stop();
    let got = received(&fluentd, &marker);
    assert_no_duplicates(&got);
    assert_eq!(got.len(), kept, "exactly what the spool held");
    assert_eq!(
        sink_counts(&stats, "http"),
        (kept as u64, 0, 0),
        "{}",
        stats.raw
    );
    assert_eq!(gauge, 0.0);
}

/// Item 8d: the file output on a 64 KiB tmpfs. Every line in the file is whole (it used to
/// leave a torn last line); what did not fit is counted as dropped.
#[test]
fn the_file_sink_on_a_full_disk_keeps_whole_lines_and_counts_the_rest() {
    require_root!();
    let disk = Tmpfs::mount("sink-file-64k", 64 << 10);
    let dir = TempDir::new("sink-filefull");
    let marker = unique("filefull");
    let file = disk.path().join("alerts.json");
    let args = opts(&[
        "file_output.enabled=true".to_string(),
        format!("file_output.filename={}", file.display()),
        "sinks.backoff_max_seconds=1".into(),
    ]);
    let mut sensor = start(&rules_file(&dir, &marker), &args);
    burst(&marker, 0..200, 300);
    let sent = settle_alerts(&sensor, &marker, 200, WAIT);
    let stats = sensor.stop();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.ends_with('\n'), "a torn last line");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line ({e}): {l}")))
        .collect();
    let (delivered, dropped, _) = sink_counts(&stats, "file");
    assert_eq!(delivered, lines.len() as u64, "{}", stats.raw);
    assert_eq!(delivered + dropped, sent as u64, "{}", stats.raw);
    assert!(dropped > 0, "180 KB in 64 KiB: {}", stats.raw);
    assert_eq!(sink_drops(&stats, "file", "write_error"), dropped);
}
