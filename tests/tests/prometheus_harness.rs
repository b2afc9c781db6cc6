//! The Prometheus harness against a real Prometheus 2.42, and the seed document's rules and
//! queries against it: a tiny exposition server in the test stands in for the sensor's
//! `/metrics`, serving `falco_events` as the sensor will (untyped, labels rule/priority/pod).

use anyhow::{Result, bail};
use lanner_tests::prometheus::*;
use lanner_tests::{TempDir, seed};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

const HELP: &str = "# HELP falco_events Falco alerts raised, by rule, priority and pod.\n";
const SHELL: &str = "Terminal shell in container";

/// The page in each phase: web-1 (Critical) goes 0 -> 3; web-2 (Warning) is 5 throughout; web-3
/// (Critical) first appears in phase 1, already at 2, as a series created by its first alert.
fn exposition(phase: u8) -> String {
    let web1 = if phase == 0 { 0 } else { 3 };
    let mut s = format!(
        "{HELP}# TYPE falco_events untyped\n\
         falco_events{{rule=\"{SHELL}\",priority=\"Critical\",pod=\"web-1\"}} {web1}\n\
         falco_events{{rule=\"Write below etc\",priority=\"Warning\",pod=\"web-2\"}} 5\n"
    );
    if phase > 0 {
        s += &format!("falco_events{{rule=\"{SHELL}\",priority=\"Critical\",pod=\"web-3\"}} 2\n");
    }
    s
}

/// Serves [`exposition`] of the current phase to any GET, until dropped.
struct Exposition {
    addr: String,
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
}

impl Exposition {
    fn start() -> Exposition {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind exposition listener");
        let addr = listener.local_addr().unwrap().to_string();
        let phase = Arc::new(AtomicU8::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (phase.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let _ = serve_one(conn, &exposition(p.load(Ordering::SeqCst)));
                }
            }
        });
        Exposition { addr, phase, stop }
    }
}

impl Drop for Exposition {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr); // wakes the accept loop
    }
}

fn serve_one(mut conn: TcpStream, body: &str) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        req.extend_from_slice(&buf[..n]);
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())
}

fn write_temp(dir: &TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn seed_alerts_yml_is_a_valid_rules_file() {
    let yml = seed::alerts_yml();
    assert!(
        yml.starts_with("groups:\n- name: security\n  interval: 30s\n"),
        "{yml}"
    );
    for alert in [
        "HighAuthFailureRate",
        "ExcessiveAPIRequests",
        "PrivilegedPodCreated",
        "FalcoCriticalAlert",
        "HighPodRestartRate",
    ] {
        assert!(
            yml.contains(&format!("- alert: {alert}\n")),
            "{alert} missing:\n{yml}"
        );
    }
    let dir = TempDir::new("seed-rules");
    promtool_check_rules(write_temp(&dir, "alerts.yml", &yml)).unwrap();
}

#[test]
fn seed_queries_and_recording_rules_are_as_written() {
    let by = |l: &str| format!("sum(increase(falco_events[5m])) by ({l})");
    let expected = [
        "sum(increase(falco_events[5m]))".to_string(),
        by("priority"),
        by("rule"),
        "rate(falco_events{priority=\"Critical\"}[5m])".to_string(),
    ];
    assert_eq!(seed::falco_metrics_queries(), expected);

    // Kept verbatim, so the known defect is still there: `rate(...) by (pod)` does not parse.
    let rec = seed::recording_rules_yaml();
    assert!(rec.contains("- record: security:pod:risk_score\n"), "{rec}");
    assert!(rec.contains("- alert: HighRiskPod\n"), "{rec}");
    let dir = TempDir::new("seed-recording");
    let err = promtool_check_rules(write_temp(&dir, "rec.yml", &rec)).unwrap_err();
    assert!(format!("{err:#}").contains("unexpected <by>"), "{err:#}");
    // Prometheus itself refuses to start with it, and says why.
    let opts = PrometheusOpts::default().with_rule_files([dir.path().join("rec.yml")]);
    let err = Prometheus::start(&opts)
        .err()
        .expect("Prometheus started with a broken rule");
    assert!(format!("{err:#}").contains("unexpected <by>"), "{err:#}");
}

#[test]
fn seed_markdown_parsing() {
    let doc = "# A\n```yaml\n# not a heading\nx: 1\n```\n## B\n### C\n```promql\nup\n```\n";
    assert_eq!(
        seed::fence_under(doc, "A", "yaml").unwrap().body,
        "# not a heading\nx: 1\n"
    );
    let err = seed::fence_under(doc, "not a heading", "yaml").unwrap_err();
    assert_eq!(err.to_string(), "no heading \"not a heading\"");
    let err = seed::fence_under(doc, "B", "yaml").unwrap_err();
    assert_eq!(err.to_string(), "no ```yaml block under heading \"B\"");
    assert_eq!(seed::fence_under(doc, "B", "promql").unwrap().body, "up\n");
    let err = seed::alerts_yml_from(doc).unwrap_err();
    assert!(
        err.to_string()
            .contains("ConfigMap named prometheus-config"),
        "{err}"
    );
}

/// promtool lints a `counter` without the `_total` suffix, so the sensor declares
/// `falco_events` (the name the seed's queries use) `untyped`.
#[test]
fn promtool_check_metrics_wants_total_on_counters() {
    for phase in [0, 1] {
        promtool_check_metrics(&exposition(phase)).unwrap();
    }
    let counter = exposition(0).replace("untyped", "counter");
    let err = promtool_check_metrics(&counter).unwrap_err();
    assert!(
        format!("{err:#}").contains("should have \"_total\" suffix"),
        "{err:#}"
    );
}

#[test]
fn api_basics_and_http_client() {
    let prom = Prometheus::start(&PrometheusOpts::default()).unwrap();
    let two = prom.query("1 + 1").unwrap();
    assert_eq!(two.len(), 1);
    assert!(two[0].labels.is_empty() && two[0].value == 2.0, "{two:?}");

    // Characters that need URL encoding survive the round trip.
    let odd = "a b&c=d+e%f/\"g\"#?";
    let expr = format!(
        r#"label_replace(vector(1), "x", "{}", "", "")"#,
        odd.replace('"', "\\\"")
    );
    let v = prom.query(&expr).unwrap();
    assert_eq!(v[0].label("x"), Some(odd), "{v:?}");
    assert!(prom.query("vector(+Inf)").unwrap()[0].value.is_infinite());

    prom.parse_ok("sum(rate(falco_events[5m])) by (pod)")
        .unwrap();
    let err = prom
        .parse_ok("rate(falco_events[5m]) by (pod)")
        .unwrap_err();
    let api = err.downcast_ref::<ApiError>().expect("an ApiError");
    assert_eq!(api.error_type, "bad_data");
    assert!(api.message.contains("parse error"), "{api}");
    assert!(prom.query("sum(").is_err());

    // Prometheus's own /metrics (over HTTP/1.1 it would come chunked).
    let page = http_get(prom.addr(), "/metrics").unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/plain"),
        "{page:?}"
    );
    assert!(
        page.body.contains("\nprometheus_build_info{"),
        "{:.500}",
        page.body
    );
    assert_eq!(http_get(prom.addr(), "/no-such-page").unwrap().status, 404);

    let started = Instant::now();
    let err = wait_for::<()>("nothing", Duration::from_secs(1), || bail!("saw 42")).unwrap_err();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        err.to_string()
            .contains("waiting for nothing; last observation: saw 42"),
        "{err}"
    );
}

fn value_of(samples: &[lanner_tests::prometheus::Sample], label: &str, val: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.label(label) == Some(val))
        .map(|s| s.value)
}

#[test]
fn seed_falco_queries_and_alert_on_real_prometheus() -> Result<()> {
    let target = Exposition::start();
    let rules_dir = TempDir::new("seed-alerts");
    let rules = write_temp(&rules_dir, "alerts.yml", &seed::alerts_yml());
    let opts = PrometheusOpts::scraping([target.addr.clone()]).with_rule_files([rules]);
    let prom = Prometheus::start(&opts)?;
    let up = prom.wait_targets_up(Duration::from_secs(20))?;
    assert_eq!(up[0].labels.get("job").map(String::as_str), Some("lanner"));

    let critical = r#"falco_events{priority="Critical"}"#;
    let first = prom.wait_query(critical, Duration::from_secs(10), |s| !s.is_empty())?;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].label("pod"), Some("web-1"));
    assert_eq!(first[0].label("rule"), Some(SHELL));
    assert_eq!(first[0].label("job"), Some("lanner"));
    assert_eq!(first[0].value, 0.0);
    let rules = prom.rules()?;
    assert_eq!(rules.len(), 5, "{rules:?}");
    assert!(
        rules
            .iter()
            .all(|r| r.group == "security" && r.kind == "alerting")
    );

    target.phase.store(1, Ordering::SeqCst);
    let increased = Duration::from_secs(20);
    for q in seed::falco_metrics_queries() {
        prom.parse_ok(&q)?;
        let s = prom.wait_query(&q, increased, |s| s.iter().any(|s| s.value > 0.0))?;
        eprintln!("{q} => {s:?}");
    }
    let inc = prom.query(r#"increase(falco_events{pod="web-1"}[5m])"#)?;
    eprintln!("increase of web-1 (0 -> 3): {inc:?}");
    assert!(
        inc[0].value >= 3.0,
        "extrapolated, never below the raw increase: {inc:?}"
    );

    // A series whose first sample is already non-zero adds nothing to `increase`: web-3's
    // first alert is invisible to the seed's queries and alert (web-2 likewise, throughout).
    let new_series = prom.wait_query(
        r#"increase(falco_events{pod=~"web-2|web-3"}[5m])"#,
        increased,
        |s| s.len() == 2,
    )?;
    assert!(new_series.iter().all(|s| s.value == 0.0), "{new_series:?}");
    let by_priority = prom.query(&seed::falco_metrics_queries()[1])?;
    assert_eq!(
        value_of(&by_priority, "priority", "Warning"),
        Some(0.0),
        "{by_priority:?}"
    );

    // The group is evaluated every 30 s (its `interval`), at an offset of its own.
    let alert = wait_for("FalcoCriticalAlert", Duration::from_secs(70), || {
        let alerts = prom.alerts()?;
        match alerts.iter().find(|a| a.name == "FalcoCriticalAlert") {
            Some(a) if a.state == "pending" || a.state == "firing" => Ok(Some(alerts)),
            _ => bail!("alerts: {alerts:?}"),
        }
    })?;
    let falco: Vec<_> = alert
        .iter()
        .filter(|a| a.name == "FalcoCriticalAlert")
        .collect();
    assert_eq!(falco.len(), 1, "only web-1 increased: {falco:?}");
    assert_eq!(
        falco[0].labels.get("pod").map(String::as_str),
        Some("web-1")
    );
    assert_eq!(
        falco[0].labels.get("severity").map(String::as_str),
        Some("critical")
    );
    let description = falco[0]
        .annotations
        .get("description")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        description,
        format!("Critical security event detected: {SHELL}")
    );
    eprintln!("alert: {:?}", falco[0]);
    Ok(())
}
