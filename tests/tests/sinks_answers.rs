//! Receivers that answer without end (issue 15, item 6): a `200` with a body that never ends,
//! fast or one byte at a time, from Fluentd and Elasticsearch alike. The sinks read every
//! answer with a byte budget and a deadline: the sensor's memory stays flat, alerts keep coming
//! on stdout, Fluentd's status counts (its body is only read for the logs), and an
//! Elasticsearch answer past its budget or its deadline is a failure retried until the
//! receiver behaves, without storing anything twice.

use std::time::Duration;

use lanner_tests::receivers::{AnswerBody, FakeElasticsearch, FakeFluentd, wait_until};
use lanner_tests::sinks::*;
use lanner_tests::*;

const RSS_BOUND: u64 = 200 << 20;
const WAIT: Duration = Duration::from_secs(30);

/// A sensor sending to both fakes (Fluentd in batches), with `extra` options.
fn start_both(
    dir: &TempDir,
    marker: &str,
    f: &FakeFluentd,
    es: &FakeElasticsearch,
    extra: &[&str],
) -> Sensor {
    let mut args = fluentd_opts(f.addr());
    let mut more = vec![
        "elasticsearch_output.enabled=true".to_string(),
        format!("elasticsearch_output.url={}", es.url()),
    ];
    more.extend(extra.iter().map(|s| s.to_string()));
    args.extend(opts(&more));
    start(&rules_file(dir, marker), &args)
}

fn delivered(sensor: &Sensor, sink: &str) -> f64 {
    let labels = format!("sink=\"{sink}\",outcome=\"delivered\"");
    metric(sensor, "lanner_sink_alerts_total", &labels)
}

#[track_caller]
fn wait_delivered(sensor: &Sensor, sink: &str, n: usize) {
    if !wait_until(WAIT, || delivered(sensor, sink) >= n as f64) {
        let got = delivered(sensor, sink);
        sensor.fail(&format!("sink {sink}: {got} delivered, wanted {n}"));
    }
}

#[test]
fn endless_answers_cost_a_bounded_read() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    let es = FakeElasticsearch::start().unwrap();
    fluentd.set_answer_body(AnswerBody::Endless);
    es.set_answer_body(AnswerBody::Endless);
    let dir = TempDir::new("sink-endless");
    let marker = unique("endless");
    let mut sensor = start_both(&dir, &marker, &fluentd, &es, &[]);
    let before = rss_bytes(sensor.pid());
    // 30 alerts over about 10 s, each answered by both fakes with a body without end.
    let (peak, ()) = peak_rss_during(sensor.pid(), || {
        for i in 0..30 {
            fire(&sensor, &marker, i);
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    eprintln!("endless answers: RSS {before} B before, peak {peak} B");
    assert!(peak < RSS_BOUND, "RSS {peak} bytes");
    // Fluentd: the status counts; the body is cut after a snippet.
    wait_delivered(&sensor, "http", 30);
    assert_eq!(fluentd.record_count(), 30);
    // Elasticsearch: stored, but the answer is past its budget: a failure, retried.
    assert!(es.streamed_answers() >= 2, "{}", es.streamed_answers());
    assert_eq!(delivered(&sensor, "elasticsearch"), 0.0);
    assert!(
        sensor.stderr().contains("larger than"),
        "{}",
        sensor.stderr()
    );
    // Once it answers properly, the retry gets 409s for what is stored: delivered, once.
    es.set_answer_body(AnswerBody::Normal);
    wait_delivered(&sensor, "elasticsearch", 30);
    let stats = sensor.stop();
    assert_eq!(es.total_docs(), 30, "each document stored once");
    assert_eq!(
        sink_counts(&stats, "elasticsearch"),
        (30, 0, 0),
        "{}",
        stats.raw
    );
    assert_eq!(sink_counts(&stats, "http"), (30, 0, 0), "{}", stats.raw);
    assert!(sink_counter(&stats, "elasticsearch", "retries") >= 2);
    assert_eq!(stdout_alerts(&sensor, &marker), 30);
}

#[test]
fn dripping_answers_are_cut_at_their_deadline() {
    require_root!();
    let fluentd = FakeFluentd::start().unwrap();
    let es = FakeElasticsearch::start().unwrap();
    let drip = AnswerBody::Drip(Duration::from_millis(200));
    fluentd.set_answer_body(drip);
    es.set_answer_body(drip);
    let dir = TempDir::new("sink-drip");
    let marker = unique("drip");
    let extra = [
        "http_output.batch=true",
        "elasticsearch_output.timeout_seconds=2",
    ];
    let mut sensor = start_both(&dir, &marker, &fluentd, &es, &extra);
    let (peak, ()) = peak_rss_during(sensor.pid(), || {
        for i in 0..5 {
            fire(&sensor, &marker, i);
        }
        // Fluentd's status is in before its body drips: delivered, at most a second each.
        wait_delivered(&sensor, "http", 5);
        // Elasticsearch's answer never completes: cut at the 2 s deadline, retried.
        let retried = wait_until(WAIT, || {
            metric(
                &sensor,
                "lanner_sink_retries_total",
                "sink=\"elasticsearch\"",
            ) >= 2.0
        });
        assert!(retried, "no retry after a dripping answer");
    });
    assert!(peak < RSS_BOUND, "RSS {peak} bytes");
    assert_eq!(delivered(&sensor, "elasticsearch"), 0.0);
    assert!(
        sensor.stderr().contains("no response within 2s"),
        "{}",
        sensor.stderr()
    );
    es.set_answer_body(AnswerBody::Normal);
    wait_delivered(&sensor, "elasticsearch", 5);
    let stats = sensor.stop();
    assert_eq!(es.total_docs(), 5);
    assert_eq!(fluentd.record_count(), 5);
    assert_eq!(
        sink_counts(&stats, "elasticsearch"),
        (5, 0, 0),
        "{}",
        stats.raw
    );
    assert_eq!(sink_counts(&stats, "http"), (5, 0, 0), "{}", stats.raw);
}
