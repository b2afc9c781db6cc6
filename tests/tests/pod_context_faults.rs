//! Pod context from an API server that misbehaves, or from a configuration that cannot be used
//! (docs/events.md, "Pod context (Kubernetes)"; docs/outputs.md, "Health"): an endless pod list
//! and an endless watch event are cut at their byte budgets (counted, retried with backoff,
//! memory bounded) while the sensor keeps capturing and alerting with `<pending>` pod context;
//! a broken `--kubeconfig` keeps `/readyz` failing with the reason until it is fixed.

use std::time::{Duration, Instant};

use lanner_tests::kube_fixture::KubeFixture as Api;
use lanner_tests::prometheus::{HttpResponse, http_get};
use lanner_tests::*;
use serde_json::Value;

const RULE: &str = "Lanner test pod fault marker";
/// The sensor's default list budget (`--pod-list-max-bytes`).
const LIST_BUDGET: u64 = 16 << 20;

/// A pod `name` of namespace `faults` on the fake API server, whose one container is a jail.
fn pod_in_jail(api: &Api, name: &str) -> CgroupJail {
    let (id, jail) = containerd_jail();
    let container = FakeContainer::new("app", "nginx:1.25", &format!("containerd://{id}"));
    let pod = pod_json(
        "faults",
        name,
        &random_pod_uid(),
        &api.node,
        &[container],
        &[("app", name)],
        "10.1.2.3",
    );
    api.fake().add_pod(pod);
    jail
}

fn rules_file(dir: &TempDir, marker: &str) -> String {
    let path = dir.path().join("pod-faults.yaml");
    let text = format!(
        "- rule: {RULE}\n  desc: an exec carrying the test's marker\n  condition: evt.type in (execve, execveat) and proc.cmdline contains {marker}\n  output: pod fault test %proc.cmdline\n  priority: WARNING\n"
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// `busybox echo <marker>-<tag>` in `jail` (or on the host): its alert, which must come.
#[track_caller]
fn alert_for(sensor: &Sensor, jail: Option<&CgroupJail>, marker: &str, tag: &str) -> Value {
    let arg = format!("{marker}-{tag}");
    let argv = ["/bin/busybox", "echo", arg.as_str()];
    match jail {
        Some(j) => assert_eq!(j.run(&argv).1, 0),
        None => {
            let ok = std::process::Command::new(argv[0])
                .args(&argv[1..])
                .stdout(std::process::Stdio::null())
                .status();
            assert!(ok.is_ok_and(|s| s.success()));
        }
    }
    sensor
        .try_wait_for(
            |v| is_alert(v) && out_contains(v, "proc.cmdline", &arg),
            EVENT_TIMEOUT,
        )
        .unwrap_or_else(|| sensor.fail(&format!("no alert for {arg}")))
}

#[track_caller]
fn get(sensor: &Sensor, path: &str) -> HttpResponse {
    http_get(&sensor.metrics_addr(), path)
        .unwrap_or_else(|e| sensor.fail(&format!("GET {path}: {e:#}")))
}

/// The value of the sample `series` (name with its labels, as exposed) on `/metrics`.
#[track_caller]
fn sample(sensor: &Sensor, series: &str) -> f64 {
    let text = get(sensor, "/metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// Polls `f` every 250 ms until it is true; panics with `what` after `limit`.
#[track_caller]
fn wait_until(sensor: &Sensor, what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        if t.elapsed() > limit {
            sensor.fail(&format!("not within {limit:?}: {what}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn an_endless_pod_list_is_cut_at_its_budget_while_alerts_keep_flowing() {
    require_root!();
    let api = Api::start();
    let jail = pod_in_jail(&api, "flood-0");
    api.fake().flood(Flood::EndlessList);
    let dir = TempDir::new("pod-flood");
    let marker = unique("pod-flood");
    let rules = rules_file(&dir, &marker);
    let mut sensor = api.sensor_with(300, &["-r", &rules]);
    let rss_start = sensor.rss_kib();
    let mut rss_max = rss_start;
    let series = "lanner_pod_cache_oversized_answers_total{answer=\"list\"}";
    // Four lists cut at the budget: the backoff (0.8 s doubling) puts them about 12 s apart
    // from the first; meanwhile the sensor alerts, on the host and in the container.
    let mut i = 0;
    wait_until(
        &sensor,
        "4 pod lists over budget",
        Duration::from_secs(60),
        || {
            rss_max = rss_max.max(sensor.rss_kib());
            i += 1;
            let host = alert_for(&sensor, None, &marker, &format!("host-{i}"));
            assert_eq!(host["output_fields"]["container.id"], "host");
            let ctr = alert_for(&sensor, Some(&jail), &marker, &format!("ctr-{i}"));
            assert_eq!(ctr["output_fields"]["k8s.pod.name"], "<pending>", "{ctr}");
            sample(&sensor, series) >= 4.0
        },
    );
    let sent = api.fake().flooded_bytes();
    eprintln!(
        "endless list: {sent} bytes sent; sensor RSS {rss_start} KiB at start, {rss_max} KiB at most"
    );
    assert!(
        sent >= 4 * LIST_BUDGET,
        "the fake sent {sent} bytes: at least the budget per list"
    );
    // Each list is dropped with its request: memory does not follow what was sent.
    assert!(
        rss_max < rss_start + 3 * LIST_BUDGET / 1024,
        "RSS from {rss_start} KiB to {rss_max} KiB; {sent} bytes of list sent"
    );
    let ready = get(&sensor, "/readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(
        ready.body.contains("pod cache not synced") && ready.body.contains("over its budget"),
        "{}",
        ready.body
    );
    assert_eq!(get(&sensor, "/healthz").status, 200, "capturing is healthy");

    // The flood ends: the next list succeeds and the container's pod is found.
    api.fake().flood(Flood::Off);
    wait_until(&sensor, "/readyz 200", Duration::from_secs(40), || {
        get(&sensor, "/readyz").status == 200
    });
    let ev = alert_for(&sensor, Some(&jail), &marker, "after");
    assert_eq!(ev["output_fields"]["k8s.pod.name"], "flood-0", "{ev}");
    let stats = sensor.stop();
    let oversized = stats.raw["pod_cache"]["oversized_answers"]
        .as_u64()
        .unwrap();
    assert!(oversized >= 4, "{}", stats.raw);
}

#[test]
fn an_endless_watch_event_is_cut_at_its_budget_and_the_cache_says_stale() {
    require_root!();
    let api = Api::start();
    let jail = pod_in_jail(&api, "watch-0");
    api.fake().flood(Flood::EndlessWatchEvent);
    let dir = TempDir::new("pod-event-flood");
    let marker = unique("pod-event");
    let rules = rules_file(&dir, &marker);
    let mut sensor = api.sensor_with(5000, &["-r", &rules]);
    let rss_start = sensor.rss_kib();
    let series = "lanner_pod_cache_oversized_answers_total{answer=\"watch_event\"}";
    let mut rss_max = rss_start;
    let mut stale_said = false;
    wait_until(
        &sensor,
        "2 watch events over budget",
        Duration::from_secs(60),
        || {
            rss_max = rss_max.max(sensor.rss_kib());
            let ready = get(&sensor, "/readyz");
            stale_said |= ready.status == 200 && ready.body.contains("pod cache stale");
            sample(&sensor, series) >= 2.0
        },
    );
    let sent = api.fake().flooded_bytes();
    eprintln!(
        "endless watch event: {sent} bytes sent; sensor RSS {rss_start} KiB at start, {rss_max} KiB at most"
    );
    assert!(
        rss_max < rss_start + 64 * 1024,
        "RSS from {rss_start} KiB to {rss_max} KiB"
    );
    // The lists work: the container's pod is known, from the last list.
    let ev = alert_for(&sensor, Some(&jail), &marker, "ctr");
    assert_eq!(ev["output_fields"]["k8s.pod.name"], "watch-0", "{ev}");
    wait_until(
        &sensor,
        "/readyz says the cache is stale",
        Duration::from_secs(40),
        || {
            let r = get(&sensor, "/readyz");
            stale_said |= r.status == 200 && r.body.contains("watch event is over its budget");
            stale_said
        },
    );
    sensor.stop();
}

#[test]
fn a_broken_kubeconfig_keeps_readyz_failing_with_the_reason_until_it_is_fixed() {
    require_root!();
    let api = Api::start();
    let jail = pod_in_jail(&api, "cfg-0");
    let dir = TempDir::new("kubeconfig-broken");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\nclusters: [\n").unwrap();
    let kc = kubeconfig.to_string_lossy().into_owned();
    let marker = unique("kubeconfig");
    let rules = rules_file(&dir, &marker);
    let mut sensor = Sensor::start_with(&[
        "--kubeconfig",
        &kc,
        "--node-name",
        &api.node,
        "--pod-wait-ms",
        "300",
        "-r",
        &rules,
    ]);
    let ready = get(&sensor, "/readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(
        ready.body.contains("configured but unusable") && ready.body.contains(&kc),
        "{}",
        ready.body
    );
    // Capturing goes on, with the pod marked pending.
    let ev = alert_for(&sensor, Some(&jail), &marker, "broken");
    assert_eq!(ev["output_fields"]["k8s.pod.name"], "<pending>", "{ev}");
    assert_eq!(get(&sensor, "/healthz").status, 200);

    std::fs::write(&kubeconfig, api.fake().kubeconfig()).unwrap();
    wait_until(
        &sensor,
        "/readyz 200 after the fix",
        Duration::from_secs(45),
        || get(&sensor, "/readyz").status == 200,
    );
    let ev = alert_for(&sensor, Some(&jail), &marker, "fixed");
    assert_eq!(ev["output_fields"]["k8s.pod.name"], "cfg-0", "{ev}");
    sensor.stop();
}
