//! Alert sinks against receivers that speak the real protocols (tests/src/receivers): Fluentd's
//! `in_http` and Elasticsearch's `_bulk`, plus the rotating file. Each test runs its own sensor
//! with a rules file matching only its marker, so its receiver sees only its alerts.
//!
//! The outage tests take the receiver down (listener closed: connections refused) while alerts
//! keep firing: with the spool on, every alert arrives once it is back, also across a restart
//! of the sensor; with the spool off, what did not fit the memory queue is dropped and counted.

use std::{
    collections::BTreeSet,
    process::Command,
    time::{Duration, Instant},
};

use lanner_tests::receivers::{EsAuth, FakeElasticsearch, FakeFluentd};
use lanner_tests::sinks::{fire, rules_file, sink_counts, start};
use lanner_tests::*;
use serde_json::Value;

/// The `<marker>-<i>` indices of alert records.
fn indices(records: &[Value], marker: &str) -> BTreeSet<usize> {
    records
        .iter()
        .filter_map(|r| lanner_tests::sinks::index(r, marker))
        .collect()
}

fn fluentd_args(f: &FakeFluentd, extra: &[&str]) -> Vec<String> {
    let mut v = lanner_tests::sinks::fluentd_opts(f.addr());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn fluentd_gets_each_alert_as_written_to_stdout() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    let dir = TempDir::new("sink-fluentd");
    let marker = unique("fluentd");
    let mut sensor = start(&rules_file(&dir, &marker), &fluentd_args(&fluentd, &[]));
    let sent: Vec<Value> = (0..3).map(|i| fire(&sensor, &marker, i)).collect();
    let got = fluentd.wait_records(3, Duration::from_secs(20)).unwrap();
    for (tag, _) in &got {
        assert_eq!(tag, "falco.alerts");
    }
    let records: Vec<Value> = got.into_iter().map(|(_, r)| r).collect();
    assert_eq!(records, sent, "the records are the stdout alerts, in order");
    let req = &fluentd.requests()[0];
    assert_eq!(req.path, "/falco.alerts");
    assert_eq!(req.media_type(), "application/json");
    assert!(
        req.header("user-agent")
            .is_some_and(|u| u.starts_with("lanner/"))
    );
    // One connection for all: keep-alive.
    let conns: BTreeSet<u64> = fluentd.requests().iter().map(|r| r.conn).collect();
    assert_eq!(conns.len(), 1, "{conns:?}");
    let stats = sensor.stop();
    assert_eq!(sink_counts(&stats, "http"), (3, 0, 0));
}

#[test]
fn fluentd_down_for_30s_with_the_spool_loses_nothing() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    let dir = TempDir::new("sink-spool");
    let spool = dir.path().join("spool");
    let marker = unique("spool");
    let args = fluentd_args(
        &fluentd,
        &[
            "-o",
            "http_output.batch=true",
            "-o",
            "spool.enabled=true",
            "-o",
            &format!("spool.directory={}", spool.display()),
        ],
    );
    let mut sensor = start(&rules_file(&dir, &marker), &args);
    fire(&sensor, &marker, 0);
    fluentd.wait_records(1, Duration::from_secs(20)).unwrap();
    fluentd.stop();
    let down = Instant::now();
    let mut i = 1;
    while down.elapsed() < Duration::from_secs(30) {
        fire(&sensor, &marker, i);
        i += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    fluentd.restart().unwrap();
    let got = fluentd.wait_records(i, Duration::from_secs(30)).unwrap();
    let records: Vec<Value> = got.into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        indices(&records, &marker),
        (0..i).collect(),
        "every alert arrived"
    );
    // Batches: fewer requests than records once it is back.
    assert!(
        fluentd
            .requests()
            .iter()
            .any(|r| r.body_text().starts_with('['))
    );
    let stats = sensor.stop();
    let (delivered, dropped, rejected) = sink_counts(&stats, "http");
    assert_eq!((dropped, rejected), (0, 0), "{}", stats.raw);
    assert!(delivered >= i as u64, "{}", stats.raw);
}

#[test]
fn without_the_spool_drops_are_counted_and_match() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    let dir = TempDir::new("sink-nospool");
    let marker = unique("nospool");
    let args = fluentd_args(
        &fluentd,
        &["-o", "spool.memory_queue=5", "-o", "sinks.max_batch=2"],
    );
    let mut sensor = start(&rules_file(&dir, &marker), &args);
    fluentd.stop();
    let n = 20;
    for i in 0..n {
        fire(&sensor, &marker, i);
    }
    fluentd.restart().unwrap();
    // What was queued (the batch in hand and the queue) arrives; give it time, then stop.
    let _ = fluentd.wait_records(7, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let stats = sensor.stop();
    let (delivered, dropped, _) = sink_counts(&stats, "http");
    let received = fluentd.record_count() as u64;
    assert_eq!(delivered, received, "{}", stats.raw);
    assert_eq!(delivered + dropped, n as u64, "{}", stats.raw);
    assert!(
        dropped >= 10,
        "a 5-record queue cannot hold 20: {}",
        stats.raw
    );
}

#[test]
fn a_restarted_sensor_delivers_its_spool() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    fluentd.stop();
    let dir = TempDir::new("sink-restart");
    let spool = dir.path().join("spool");
    let marker = unique("restart");
    let rules = rules_file(&dir, &marker);
    let args = fluentd_args(
        &fluentd,
        &[
            "-o",
            "spool.enabled=true",
            "-o",
            &format!("spool.directory={}", spool.display()),
        ],
    );
    let mut first = start(&rules, &args);
    for i in 0..10 {
        fire(&first, &marker, i);
    }
    let stats = first.stop();
    assert_eq!(sink_counts(&stats, "http"), (0, 0, 0), "{}", stats.raw);
    fluentd.restart().unwrap();
    let mut second = start(&rules, &args);
    let got = fluentd.wait_records(10, Duration::from_secs(30)).unwrap();
    let records: Vec<Value> = got.into_iter().map(|(_, r)| r).collect();
    assert_eq!(indices(&records, &marker), (0..10).collect());
    second.stop();
}

#[test]
fn elasticsearch_gets_documents_with_ids_and_rejects_only_the_bad_one() {
    require_root!();
    let es = FakeElasticsearch::start().unwrap();
    es.require_auth(EsAuth::basic("lanner", "s3cret"));
    es.reject_requests(2); // two 429s first: retried
    let dir = TempDir::new("sink-es");
    let marker = unique("es");
    es.reject_marker(Some(&format!("{marker}-003")));
    let args: Vec<String> = [
        "elasticsearch_output.enabled=true",
        &format!("elasticsearch_output.url=http://{}", es.addr()),
        "elasticsearch_output.username=lanner",
        "elasticsearch_output.password=s3cret",
        "elasticsearch_output.flatten_fields=true",
        "sinks.backoff_max_seconds=1",
        "sinks.drain_seconds=2",
    ]
    .iter()
    .flat_map(|o| ["-o".to_string(), o.to_string()])
    .collect();
    let mut sensor = start(&rules_file(&dir, &marker), &args);
    let sent: Vec<Value> = (0..5).map(|i| fire(&sensor, &marker, i)).collect();
    let date = sent[0]["time"].as_str().unwrap()[..10].replace('-', ".");
    let index = format!("falco-{date}");
    let docs = es.wait_docs(&index, 4, Duration::from_secs(30)).unwrap();
    let stored: Vec<Value> = docs.iter().map(|(_, d)| d.clone()).collect();
    let flat: Vec<Value> = stored
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d["output_fields"] = Value::Object(
                d["output_fields"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.replace('_', "."), v.clone()))
                    .collect(),
            );
            d
        })
        .collect();
    let got: BTreeSet<usize> = flat
        .iter()
        .filter_map(|d| d["output_fields"]["proc.cmdline"].as_str())
        .filter_map(|c| c.rsplit_once(&format!("{marker}-"))?.1.parse().ok())
        .collect();
    assert_eq!(
        got,
        [0, 1, 2, 4].into_iter().collect(),
        "all but the rejected one"
    );
    for (id, doc) in &docs {
        assert_eq!(id.len(), 32, "deterministic id: {id}");
        assert_eq!(doc["@timestamp"], doc["time"], "{doc}");
        assert!(
            doc["output_fields"].get("proc_cmdline").is_some(),
            "flattened: {doc}"
        );
    }
    let stats = sensor.stop();
    let (delivered, dropped, rejected) = sink_counts(&stats, "elasticsearch");
    assert_eq!((delivered, dropped, rejected), (4, 0, 1), "{}", stats.raw);
    assert!(
        stats.raw["sinks"]["elasticsearch"]["retries"]
            .as_u64()
            .unwrap()
            >= 2
    );
}

#[test]
fn the_file_sink_rotates_and_keeps_n() {
    require_root!();
    let dir = TempDir::new("sink-file");
    let marker = unique("file");
    let file = dir.path().join("alerts.json");
    let args: Vec<String> = [
        "file_output.enabled=true".to_string(),
        format!("file_output.filename={}", file.display()),
        "file_output.max_size_bytes=3000".into(),
        "file_output.keep=2".into(),
    ]
    .into_iter()
    .flat_map(|o| ["-o".to_string(), o])
    .collect();
    let mut sensor = start(&rules_file(&dir, &marker), &args);
    let sent: Vec<Value> = (0..12).map(|i| fire(&sensor, &marker, i)).collect();
    let stats = sensor.stop();
    assert_eq!(sink_counts(&stats, "file"), (12, 0, 0), "{}", stats.raw);
    let read = |p: &std::path::Path| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let name = |n: usize| dir.path().join(format!("alerts.json.{n}"));
    assert!(
        name(1).exists() && name(2).exists(),
        "rotated twice at least"
    );
    assert!(!name(3).exists(), "keeps 2");
    let mut lines = read(&name(2));
    lines.extend(read(&name(1)));
    lines.extend(read(&file));
    assert!(std::fs::metadata(&file).unwrap().len() <= 3000);
    // The newest alerts, in order, ending with the last one sent.
    assert_eq!(lines.as_slice(), &sent[sent.len() - lines.len()..]);
}

#[test]
fn fluentd_over_mutual_tls() {
    require_root!();
    use lanner_tests::tls_proxy::{Pki, TlsProxy};
    let pki = Pki::generate().unwrap();
    let fluentd = FakeFluentd::start().unwrap();
    let proxy = TlsProxy::start(&pki, fluentd.addr(), true).unwrap();
    let dir = TempDir::new("sink-tls");
    let marker = unique("tls");
    let rules = rules_file(&dir, &marker);
    let url = format!("http_output.url=https://{}/falco.alerts", proxy.addr);
    let ca = format!("http_output.ca_cert={}", pki.ca_cert().display());
    let cert = format!("http_output.client_cert={}", pki.client_cert().display());
    let key = format!("http_output.client_key={}", pki.client_key().display());
    let with_cert: Vec<String> = [
        "http_output.enabled=true",
        &url,
        &ca,
        &cert,
        &key,
        "sinks.backoff_max_seconds=1",
        "sinks.drain_seconds=1",
    ]
    .iter()
    .flat_map(|o| ["-o".to_string(), o.to_string()])
    .collect();
    let mut sensor = start(&rules, &with_cert);
    let sent = fire(&sensor, &marker, 0);
    let got = fluentd.wait_records(1, Duration::from_secs(20)).unwrap();
    assert_eq!(got[0].1, sent);
    let stats = sensor.stop();
    assert_eq!(sink_counts(&stats, "http"), (1, 0, 0));

    // Without the client certificate the proxy refuses the handshake: nothing gets through,
    // and the sink says why and retries.
    let before = fluentd.record_count();
    let without: Vec<String> = with_cert
        .chunks(2)
        .filter(|o| !o[1].contains("client_"))
        .flatten()
        .cloned()
        .collect();
    let mut sensor = start(&rules, &without);
    fire(&sensor, &marker, 1);
    std::thread::sleep(Duration::from_secs(3));
    let stats = sensor.stop();
    assert_eq!(fluentd.record_count(), before);
    let s = &stats.raw["sinks"]["http"];
    assert_eq!(s["delivered"], 0, "{}", stats.raw);
    assert!(s["retries"].as_u64().unwrap() >= 1, "{}", stats.raw);
    assert!(
        sensor.stderr().contains("not delivered"),
        "{}",
        sensor.stderr()
    );
}

#[test]
fn a_missing_certificate_file_fails_the_start_naming_it() {
    require_root!();
    let out = Command::new(lanner_bin())
        .args([
            "-o",
            "http_output.enabled=true",
            "-o",
            "http_output.ca_cert=/nonexistent/ca.pem",
            "-o",
            "exporter.enabled=false",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
}
