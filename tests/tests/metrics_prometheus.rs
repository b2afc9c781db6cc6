//! The metrics endpoint against a real Prometheus (Debian's, started on loopback with a 1 s
//! scrape and the seed's `alerts.yml`): a real exec in a container of a known pod raises a
//! Critical alert; Prometheus then has `falco_events{priority="Critical"}` with the rule and
//! pod labels, every query of the seed's "Falco Metrics" section returns data, and the seed's
//! `FalcoCriticalAlert` fires for that pod. `promtool check metrics` passes on the scraped
//! text, the health metrics are there, and `/healthz` and `/readyz` answer.

use std::time::Duration;

use lanner_tests::kube_fixture::KubeFixture;
use lanner_tests::prometheus::{
    Prometheus, PrometheusOpts, http_get, promtool_check_metrics, wait_for,
};
use lanner_tests::*;

const RULE: &str = "Lanner test critical exec";

fn rules_file(dir: &TempDir, marker: &str) -> String {
    let path = dir.path().join("critical.yaml");
    let text = format!(
        "- rule: {RULE}\n  desc: an exec carrying the test's marker\n  condition: evt.type in (execve, execveat) and proc.cmdline contains {marker}\n  output: critical exec %proc.cmdline in %k8s.ns.name/%k8s.pod.name\n  priority: CRITICAL\n  tags: [test, mitre_execution]\n"
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn metric_value(text: &str, series_prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn prometheus_sees_falco_events_and_the_seed_alert_fires() {
    require_root!();
    let api = KubeFixture::start();
    let id = random_id();
    let jail = CgroupJail::new(
        &format!("cri-containerd-{id}.scope"),
        CgroupKind::KubeletSystemd,
    );
    let c = FakeContainer::new("web", "nginx:1.25", &format!("containerd://{id}"));
    let pod = pod_json(
        "shop",
        "web-0",
        &random_pod_uid(),
        &api.node,
        &[c],
        &[("app", "web")],
        "10.244.1.7",
    );
    api.fake().add_pod(pod);
    let dir = TempDir::new("metrics");
    let marker = unique("critical");
    let rules = rules_file(&dir, &marker);
    let mut sensor = api.sensor_with(5000, &["-r", &rules]);
    let addr = sensor.metrics_addr();

    let health = http_get(&addr, "/healthz").unwrap();
    assert_eq!(health.status, 200, "/healthz: {}", health.body);
    // Ready once the pod cache has synced (the fake API server answers at once).
    wait_for("/readyz 200", Duration::from_secs(20), || {
        let r = http_get(&addr, "/readyz")?;
        Ok((r.status == 200).then_some(()).or_else(|| {
            eprintln!("/readyz {}: {}", r.status, r.body.trim());
            None
        }))
    })
    .unwrap();
    assert_eq!(http_get(&addr, "/nope").unwrap().status, 404);

    let alerts_yml = dir.path().join("alerts.yml");
    std::fs::write(&alerts_yml, lanner_tests::seed::alerts_yml()).unwrap();
    let prom =
        Prometheus::start(&PrometheusOpts::scraping([addr.clone()]).with_rule_files([alerts_yml]))
            .unwrap();
    prom.wait_targets_up(Duration::from_secs(30)).unwrap();

    // The real action: an exec in the pod's container cgroup.
    let (_, status) = jail.run(&["/bin/busybox", "echo", &marker]);
    assert_eq!(status, 0);
    let alert = sensor
        .try_wait_for(
            |v| is_alert(v) && v["rule"] == RULE && out_contains(v, "proc.cmdline", &marker),
            EVENT_TIMEOUT,
        )
        .unwrap_or_else(|| sensor.fail("no alert for the test's exec"));
    assert_eq!(alert["priority"], "Critical");

    let found = prom
        .wait_query(
            &format!("falco_events{{priority=\"Critical\",rule=\"{RULE}\"}}"),
            Duration::from_secs(30),
            |s| s.iter().any(|s| s.value >= 1.0),
        )
        .unwrap();
    let s = &found[0];
    for (k, v) in [
        ("__name__", "falco_events"),
        ("rule", RULE),
        ("priority", "Critical"),
        ("source", "syscall"),
        ("tags", ",mitre_execution,test,"),
        ("k8s_ns_name", "shop"),
        ("k8s_pod_name", "web-0"),
        ("namespace", "shop"),
        ("pod", "web-0"),
    ] {
        assert_eq!(s.label(k), Some(v), "label {k} of {:?}", s.labels);
    }
    assert!(
        s.label("hostname").is_some_and(|h| !h.is_empty()),
        "{:?}",
        s.labels
    );

    // Every query of the seed's "Falco Metrics" section returns data, with the increase seen.
    for q in lanner_tests::seed::falco_metrics_queries() {
        let r = prom
            .wait_query(&q, Duration::from_secs(30), |s| {
                s.iter().any(|s| s.value > 0.0)
            })
            .unwrap_or_else(|e| panic!("seed query {q}: {e:#}"));
        assert!(!r.is_empty(), "{q}");
    }
    // The seed's alert, for this pod and rule (its group is evaluated every 30 s).
    let fired = wait_for(
        "FalcoCriticalAlert for web-0",
        Duration::from_secs(80),
        || {
            let alerts = prom.alerts()?;
            Ok(alerts.into_iter().find(|a| {
                a.name == "FalcoCriticalAlert"
                    && a.labels.get("pod").map(String::as_str) == Some("web-0")
                    && a.labels.get("rule").map(String::as_str) == Some(RULE)
            }))
        },
    )
    .unwrap();
    assert!(
        fired.state == "firing" || fired.state == "pending",
        "{fired:?}"
    );

    // The scraped text passes promtool, and Lanner's health is in it.
    let scraped = http_get(&addr, "/metrics").unwrap();
    assert_eq!(scraped.status, 200);
    assert!(
        scraped
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        scraped.headers
    );
    promtool_check_metrics(&scraped.body).unwrap();
    let text = &scraped.body;
    assert!(
        metric_value(text, "lanner_events_total{kind=\"exec\"}").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert_eq!(
        metric_value(text, "lanner_pod_cache_synced "),
        Some(1.0),
        "{text}"
    );
    assert!(
        metric_value(text, "lanner_rules_loaded ").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        metric_value(text, "lanner_alerts_total ").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        metric_value(text, "lanner_last_event_timestamp_seconds ").is_some_and(|v| v > 1.7e9),
        "{text}"
    );
    assert!(
        metric_value(text, "lanner_event_latency_seconds_count ").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        metric_value(text, "lanner_rule_evaluation_seconds_count ").is_some(),
        "{text}"
    );
    for family in [
        "lanner_events_lost_total{kind=\"exec\",hop=\"kernel\",reason=\"ringbuf_full\"}",
        "lanner_pod_metadata_pending ",
        "lanner_process_table_size ",
        "lanner_rules_reload_failures_total ",
        "lanner_build_info{",
    ] {
        assert!(text.contains(family), "missing {family} in:\n{text}");
    }
    // And Prometheus has them too: a silent sensor would be noticed by this.
    let last = prom
        .query("time() - lanner_last_event_timestamp_seconds")
        .unwrap();
    assert!(last.first().is_some_and(|s| s.value < 120.0), "{last:?}");
    drop(prom);
    sensor.stop();
}

#[test]
fn a_taken_metrics_port_fails_the_start_with_its_address() {
    require_root!();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = std::process::Command::new(lanner_bin())
        .args(["-o", &format!("exporter.listen_address={addr}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&addr) && stderr.contains("exporter.listen_address"),
        "{stderr}"
    );
}

/// Kernel losses forced with the smallest ring buffer and a connect storm raise Falco's
/// internal drop alert (threshold 0: any loss), on stdout and in `falco_events`.
#[test]
fn ring_buffer_losses_raise_the_syscall_event_drop_alert() {
    require_root!();
    let sensor = Sensor::start_with(&[
        "--ringbuf-bytes",
        "4096",
        "-o",
        "syscall_event_drops.threshold=0",
    ]);
    let workload = std::path::Path::new(env!("CARGO_BIN_EXE_lanner-workload"));
    let is_drop =
        |v: &serde_json::Value| is_alert(v) && v["rule"] == "Falco internal: syscall event drop";
    // Storm until the sensor logs a loss; then stop: with --dump-events the alert is queued
    // behind every event the storms produced, and more storms only lengthen that queue on a
    // loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut alert = None;
    while alert.is_none() && std::time::Instant::now() < deadline {
        let st = std::process::Command::new(workload)
            .args(["connect", "20000"])
            .status()
            .unwrap();
        assert!(st.success());
        if sensor.stderr().contains("syscall event drop") {
            break;
        }
        alert = sensor.try_wait_for(is_drop, Duration::from_secs(2));
    }
    let alert = alert
        .or_else(|| sensor.try_wait_for(is_drop, Duration::from_secs(90)))
        .unwrap_or_else(|| sensor.fail("no drop alert after connect storms"));
    assert_eq!(alert["priority"], "Critical");
    let f = &alert["output_fields"];
    let n_drops: u64 = f["n_drops"].as_str().unwrap().parse().unwrap();
    assert!(n_drops > 0, "{alert}");
    assert!(
        alert["output"].as_str().unwrap().contains(&format!(
            "Falco internal: syscall event drop. {n_drops} system calls dropped in last second."
        )),
        "{alert}"
    );
    // Counted in the metrics as any alert (after the series' first scrape shows 0).
    let addr = sensor.metrics_addr();
    let _ = http_get(&addr, "/metrics").unwrap();
    let text = http_get(&addr, "/metrics").unwrap().body;
    assert!(
        text.lines().any(|l| l.starts_with(
            "falco_events{rule=\"Falco internal: syscall event drop\",priority=\"Critical\""
        ) && !l.ends_with(" 0")),
        "{text}"
    );
    assert!(
        metric_value(&text, "lanner_drop_alerts_total ").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    let lost: f64 = text
        .lines()
        .filter(|l| l.starts_with("lanner_events_lost_total{") && l.contains("hop=\"kernel\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(lost >= n_drops as f64, "{text}");
}
