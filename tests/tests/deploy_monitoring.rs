//! deploy/monitoring/ against the real tools and a real sensor. promtool checks and unit-tests
//! alerts.yml, and the PrometheusRule holds the same groups. A real sensor's `falco_events`
//! labels, from a real exec in a pod and on the host, make a promtool test in which
//! FalcoCriticalAlert and HighRiskPod fire. A real Prometheus scrapes the sensor as the
//! operator configures it from the ServiceMonitor: the alert's pod labels survive, the rules
//! evaluate. amtool routes critical alerts to their receiver. Every dashboard query parses in
//! Prometheus and uses only Lanner's metrics or those of the seed's exporters.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lanner_tests::kube_fixture::KubeFixture;
use lanner_tests::monitoring::*;
use lanner_tests::prometheus::{
    Prometheus, PrometheusOpts, Sample, http_get, promtool_check_rules, wait_for,
};
use lanner_tests::*;
use serde_json::{Value, json};

const RULE: &str = "Lanner monitoring test exec";
const WAIT: Duration = Duration::from_secs(40);

/// Metric names the dashboard may use that Lanner does not produce: those of the seed's
/// other exporters, kube-state-metrics (`kube_*`) and the API server (`apiserver_*`), and
/// `up`, which Prometheus writes for every scrape (Lanner's too). The recording rules of
/// alerts.yml are allowed besides.
const EXTERNAL_METRICS: &[&str] = &[
    "apiserver_request_total",
    "kube_pod_container_status_running",
    "up",
];

fn file(name: &str) -> PathBuf {
    monitoring_dir().join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn rules_pass_promtool_and_the_prometheusrule_holds_the_same_groups() {
    promtool_check_rules(file("alerts.yml")).unwrap();
    promtool_test_rules(&file("alerts_test.yml")).unwrap();
    // prometheusrule.yaml is its own header up to `spec:`, then alerts.yml from `groups:` on,
    // indented by two (the command in its header makes it).
    let (alerts, rule) = (read("alerts.yml"), read("prometheusrule.yaml"));
    let head = &rule[..rule.find("\nspec:\n").expect("spec:") + "\nspec:\n".len()];
    let groups = &alerts[alerts.find("\ngroups:\n").expect("groups:") + 1..];
    let indented: String = groups
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".into()
            } else {
                format!("  {l}\n")
            }
        })
        .collect();
    let stale = "prometheusrule.yaml is not alerts.yml's groups: regenerate it";
    assert!(rule == format!("{head}{indented}"), "{stale}");
    // And PyYAML reads the same groups from both.
    let a = yaml_file(&file("alerts.yml")).unwrap();
    let r = yaml_file(&file("prometheusrule.yaml")).unwrap();
    assert_eq!(r["spec"]["groups"], a["groups"]);
    let want = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"namespace": "lanner"}});
    assert_within(&r, want);
    let mut names = Vec::new();
    for g in a["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let name = r["alert"].as_str().or(r["record"].as_str()).unwrap();
            names.push(format!("{}/{name}", g["name"].as_str().unwrap()));
        }
    }
    let seed = "security/HighAuthFailureRate security/ExcessiveAPIRequests
        security/PrivilegedPodCreated security/FalcoCriticalAlert security/HighPodRestartRate
        security_correlation/security:pod:risk_score security_correlation/HighRiskPod";
    for want in seed.split_whitespace() {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
}

#[test]
fn manifests_are_yamllint_clean_and_the_servicemonitor_selects_lanner_metrics() {
    let lint = |args: &[&str]| {
        let install = "pip install yamllint";
        run_tool("LANNER_YAMLLINT_BIN", "yamllint", args, "", install).unwrap()
    };
    let project = deploy_dir().join(".yamllint");
    let files = yaml_files(&monitoring_dir());
    assert!(files.len() >= 6, "{files:?}");
    for path in files.iter().map(|p| p.to_string_lossy()) {
        lint(&["-d", "relaxed", &path]);
        if project.is_file() {
            lint(&["-c", &project.to_string_lossy(), &path]);
        }
    }
    // The Service is chosen by name (the scrape test below shows another one dropped).
    let sm = yaml_file(&file("servicemonitor.yaml")).unwrap();
    let keep = json!({"sourceLabels": ["__meta_kubernetes_service_name"],
        "regex": "lanner-metrics", "action": "keep"});
    assert_eq!(sm["spec"]["endpoints"][0]["relabelings"][0], keep);
    let want = json!({"kind": "ServiceMonitor", "metadata": {"namespace": "lanner"},
        "spec": {"namespaceSelector": {"matchNames": ["lanner"]}, "endpoints": [
            {"port": "metrics", "interval": "15s", "honorLabels": true}]}});
    assert_within(&sm, want);
    let want = json!({"namespace": "lanner",
        "resources": ["prometheusrule.yaml", "servicemonitor.yaml"],
        "configMapGenerator": [{"files": ["grafana-dashboard.json"]}]});
    assert_within(&yaml_file(&file("kustomization.yaml")).unwrap(), want);
    // deploy/base's Service, once it is there: lanner-metrics in lanner, port `metrics` 9376.
    let base = yaml_files(&deploy_dir().join("base"));
    let services: Vec<Value> = base
        .iter()
        .flat_map(|p| yaml_docs(&std::fs::read_to_string(p).unwrap()).unwrap())
        .filter(|d| d["kind"] == "Service" && d["metadata"]["name"] == "lanner-metrics")
        .collect();
    match services.as_slice() {
        [] => skip("deploy/base", "no Service lanner-metrics there yet"),
        [svc] => {
            let ports = svc["spec"]["ports"].as_array().unwrap();
            let metrics = |p: &Value| p["name"] == "metrics" && p["port"] == 9376;
            assert!(ports.iter().any(metrics), "{svc}");
            let ns = &svc["metadata"]["namespace"];
            assert!(ns.is_null() || *ns == "lanner", "{svc}");
        }
        more => panic!("{} Services lanner-metrics in deploy/base", more.len()),
    }
}

#[test]
fn alertmanager_config_passes_amtool_and_routes_critical_alerts_to_their_receiver() {
    let path = file("alertmanager.yml").to_string_lossy().into_owned();
    amtool(&["check-config", &path]).unwrap();
    let config = format!("--config.file={path}");
    let route = |severity: &str| {
        let severity = format!("severity={severity}");
        let labels = [severity.as_str(), "namespace=x", "pod=y"];
        let args = [["config", "routes", "test", &config].as_slice(), &labels].concat();
        amtool(&args).unwrap().trim().to_string()
    };
    assert_eq!(route("critical"), "security-critical");
    assert_eq!(route("warning"), "security");
    // The seed's grouping and timing.
    let want = json!({"route": {"group_by": ["namespace", "pod"], "group_wait": "10s",
        "group_interval": "5m", "repeat_interval": "4h"}});
    assert_within(&yaml_file(&file("alertmanager.yml")).unwrap(), want);
}

#[test]
fn promql_names_are_found_outside_strings_matchers_and_label_lists() {
    let names = |e: &str| promql_metric_names(e).into_iter().collect::<Vec<_>>();
    let e = r#"sum by (le) (rate(a_bucket{x="b{c}"}[5m] offset 1h)) / on(job) group_left b"#;
    assert_eq!(names(e), ["a_bucket", "b"]);
    let e = r#"label_replace(x:y:z > 0, "term", "t", "", "") or vector(0)"#;
    assert_eq!(names(e), ["x:y:z"]);
    let e = "histogram_quantile(0.99, sum without (i) (rate(h[1m]))) > bool 1e3";
    assert_eq!(names(e), ["h"]);
    let e = "time() - last_seen and count(up == 0) unless topk(10, m)";
    assert_eq!(names(e), ["last_seen", "m", "up"]);
}

/// A sensor with pod context whose Critical rule matched an exec in the pod shop/web-0 and
/// one on the host.
struct Alerted {
    sensor: Sensor,
    _alive: (KubeFixture, CgroupJail, TempDir),
}

fn sensor_with_pod_and_host_alerts() -> Alerted {
    let api = KubeFixture::start();
    let id = random_id();
    let leaf = format!("cri-containerd-{id}.scope");
    let jail = CgroupJail::new(&leaf, CgroupKind::KubeletSystemd);
    let c = FakeContainer::new("web", "nginx:1.25", &format!("containerd://{id}"));
    let (uid, node, app) = (random_pod_uid(), &api.node, [("app", "web")]);
    let pod = pod_json("shop", "web-0", &uid, node, &[c], &app, "10.0.0.7");
    api.fake().add_pod(pod);
    let dir = TempDir::new("monitoring");
    let marker = unique("monitoring");
    let rules = dir.path().join("critical.yaml");
    let condition = format!("evt.type in (execve, execveat) and proc.cmdline contains {marker}");
    let text = format!(
        "- rule: {RULE}\n  desc: an exec with the test's marker\n  condition: {condition}\n  \
         output: exec %proc.cmdline in %k8s.ns.name/%k8s.pod.name\n  priority: CRITICAL\n  \
         tags: [test, mitre_execution]\n"
    );
    std::fs::write(&rules, text).unwrap();
    let sensor = api.sensor_with(5000, &["-r", &rules.to_string_lossy()]);
    let addr = sensor.metrics_addr();
    wait_for("/readyz 200 (pod cache synced)", WAIT, || {
        Ok((http_get(&addr, "/readyz")?.status == 200).then_some(()))
    })
    .unwrap();
    assert_eq!(jail.run(&["/bin/busybox", "echo", &marker]).1, 0);
    let mut host = std::process::Command::new("/bin/busybox");
    let host = host
        .args(["echo", &marker])
        .stdout(std::process::Stdio::null());
    assert!(host.status().unwrap().success());
    for pod in [Some("web-0"), None] {
        let mine = |v: &Value| {
            is_alert(v)
                && out_contains(v, "proc.cmdline", &marker)
                && out(v, "k8s.pod.name").as_str() == pod
        };
        if sensor.try_wait_for(mine, EVENT_TIMEOUT).is_none() {
            sensor.fail(&format!("no alert for the exec (pod {pod:?})"));
        }
    }
    let _alive = (api, jail, dir);
    Alerted { sensor, _alive }
}

/// alerts.yml with every group evaluated each second, as JSON (which Prometheus reads as YAML).
fn fast_rules(dir: &Path) -> PathBuf {
    let mut rules = yaml_file(&file("alerts.yml")).unwrap();
    for g in rules["groups"].as_array_mut().unwrap() {
        g["interval"] = json!("1s");
    }
    let path = dir.join("alerts-1s.json");
    std::fs::write(&path, rules.to_string()).unwrap();
    path
}

#[test]
fn promtool_fires_falco_critical_and_high_risk_pod_on_a_real_sensors_labels() {
    require_root!();
    let f = sensor_with_pod_and_host_alerts();
    let addr = f.sensor.metrics_addr();
    // The pod's and the host's falco_events series as scraped, and their successive values.
    let mut seen: [(Labels, Vec<f64>); 2] = Default::default();
    wait_for("both falco_events series at 1", WAIT, || {
        let page = http_get(&addr, "/metrics")?.body;
        for (l, v) in exposition_samples(&page, "falco_events") {
            if l["rule"] == RULE {
                let (labels, values) = &mut seen[usize::from(l["pod"].is_empty())];
                if values.last() != Some(&v) {
                    values.push(v);
                }
                *labels = l;
            }
        }
        Ok(seen
            .iter()
            .all(|(_, v)| v.last() >= Some(&1.0))
            .then_some(()))
    })
    .unwrap();
    let [(pod, pod_vals), (host, host_vals)] = seen;
    // As documented: the pod under Falco's and kube-state-metrics' label names, empty for the
    // host; a new series shows 0 first.
    let context = "k8s_ns_name=shop k8s_pod_name=web-0 namespace=shop pod=web-0";
    assert!(has(&pod, context), "{pod:?}");
    assert!(
        has(&host, "k8s_ns_name= k8s_pod_name= namespace= pod="),
        "{host:?}"
    );
    let firsts = (pod_vals[0], host_vals[0]);
    assert_eq!(firsts, (0.0, 0.0), "{pod_vals:?} {host_vals:?}");

    // As Prometheus stores them: empty labels are absent; the scrape adds job and instance.
    let scraped = |l: &Labels| {
        let mut l = l.clone();
        l.retain(|_, v| !v.is_empty());
        l.extend(labels(&format!("job=lanner instance={addr}")));
        l
    };
    let values = |v: &[f64]| {
        let mut v: Vec<String> = v.iter().map(f64::to_string).collect();
        v.resize(11, v.last().unwrap().clone());
        v.join(" ")
    };
    let (ns, name) = (pod["namespace"].as_str(), pod["pod"].as_str());
    let ksm = |extra: &str| {
        labels(&format!(
            "namespace={ns} pod={name} container=web uid=u-1 job=ksm {extra}"
        ))
    };
    let critical = |l: &Labels| {
        let mut exp = scraped(l);
        exp.insert("severity".into(), "critical".into());
        let description = format!("Critical security event detected: {RULE}");
        json!({"exp_labels": exp,
            "exp_annotations": {"summary": "Falco critical alert", "description": description}})
    };
    // 10 per alert, 5 for a restart, 20 for a privileged container: above HighRiskPod's 30.
    let score = 10.0 * (pod_vals.last().unwrap() - pod_vals[0]) + 5.0 + 20.0;
    let privileged = ksm("container_security_context_privileged=true");
    let risk = labels(&format!("namespace={ns} pod={name}"));
    let risk = series("security:pod:risk_score", &risk);
    let high_risk = json!({
        "exp_labels": {"severity": "critical", "namespace": ns, "pod": name},
        "exp_annotations": {"summary": "High-risk pod detected",
            "description": format!("Pod {name} has risk score {score}")}});
    let test = json!({
        "rule_files": [file("alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": series("falco_events", &scraped(&pod)), "values": values(&pod_vals)},
                {"series": series("falco_events", &scraped(&host)), "values": values(&host_vals)},
                {"series": series("kube_pod_container_status_restarts_total", &ksm("")),
                    "values": "0 0 1x9"},
                {"series": series("kube_pod_container_status_running", &privileged),
                    "values": "1x10"},
            ],
            "promql_expr_test": [{"expr": "security:pod:risk_score", "eval_time": "5m",
                "exp_samples": [{"labels": risk, "value": score}]}],
            "alert_rule_test": [
                {"alertname": "FalcoCriticalAlert", "eval_time": "5m",
                    "exp_alerts": [critical(&pod), critical(&host)]},
                {"alertname": "HighRiskPod", "eval_time": "5m", "exp_alerts": [high_risk]},
            ],
        }],
    });
    let dir = TempDir::new("promtool-test");
    let path = dir.path().join("real_labels_test.json");
    let text = serde_json::to_string_pretty(&test).unwrap();
    std::fs::write(&path, &text).unwrap();
    promtool_test_rules(&path).unwrap_or_else(|e| panic!("{e:#}\ntest file:\n{text}"));
}

#[test]
fn servicemonitor_scrape_keeps_the_alerts_pod_labels_and_the_rules_fire() {
    require_root!();
    let f = sensor_with_pod_and_host_alerts();
    let addr = f.sensor.metrics_addr();
    let dir = TempDir::new("servicemonitor");
    let rules = fast_rules(dir.path());
    let prom = Prometheus::start(&PrometheusOpts::default().with_rule_files([&rules])).unwrap();
    // What the operator makes of servicemonitor.yaml, for two endpoints of namespace lanner:
    // the Lanner pod behind lanner-metrics, and one of another Service (dropped). Scraped
    // every second here instead of 15 s.
    let sm = yaml_file(&file("servicemonitor.yaml")).unwrap();
    let endpoint = |service: &str| DiscoveredEndpoint {
        address: addr.clone(),
        meta: labels(&format!(
            "namespace=lanner service_name={service} endpoint_port_name=metrics \
             pod_name=lanner-x7k2p pod_container_name=lanner"
        )),
    };
    let found = [endpoint("lanner-metrics"), endpoint("lanner-other")];
    let job = "serviceMonitor/lanner/lanner/0";
    let mut operator = operator_scrape_config(&sm, job, &found).unwrap();
    operator["scrape_interval"] = json!("1s");
    operator["scrape_timeout"] = json!("1s");
    // The control: the same without honorLabels, as job "control".
    let mut control = operator.clone();
    control["job_name"] = json!("control");
    control["honor_labels"] = json!(false);
    let relabel = control["relabel_configs"].as_array_mut().unwrap();
    relabel.push(json!({"target_label": "job", "replacement": "control"}));
    // Scraped by `operator` first: the sensor shows a new series at 0 only on its first
    // render, so a second scraper's first sample is already 1 and it sees no increase.
    let load = |jobs: &[&Value]| {
        let global = json!({"scrape_interval": "1s", "evaluation_interval": "1s"});
        let config = json!({"global": global, "rule_files": [rules], "scrape_configs": jobs});
        std::fs::write(prom.dir().join("prometheus.yml"), config.to_string()).unwrap();
        assert_eq!(http_post(prom.addr(), "/-/reload").unwrap(), 200);
        wait_for("targets up", WAIT, || {
            let t = prom.targets()?;
            Ok((t.len() == jobs.len() && t.iter().all(|t| t.health == "up")).then_some(t))
        })
        .unwrap()
    };
    load(&[&operator]);
    let q = format!("falco_events{{job=\"lanner\",rule=\"{RULE}\"}}");
    prom.wait_query(&q, WAIT, |s| s.len() == 2).unwrap();
    let targets = load(&[&operator, &control]);
    let lanner = targets.iter().find(|t| t.labels["job"] == "lanner");
    let want = format!(
        "job=lanner instance={addr} namespace=lanner service=lanner-metrics pod=lanner-x7k2p \
         container=lanner endpoint=metrics"
    );
    assert_eq!(
        lanner.map(|t| &t.labels),
        Some(&labels(&want)),
        "{targets:?}"
    );

    let events = |job: &str| {
        let q = format!("falco_events{{job=\"{job}\",rule=\"{RULE}\"}}");
        prom.wait_query(&q, WAIT, |s| s.len() == 2).unwrap()
    };
    // With honorLabels the alert's own labels win, the host's alert has no pod, and the
    // Lanner container's name is not put on alerts.
    let honored = events("lanner");
    let any = |s: &[Sample], want: &str| s.iter().any(|s| has(&s.labels, want));
    assert!(
        any(&honored, "namespace=shop pod=web-0 container="),
        "{honored:?}"
    );
    assert!(any(&honored, "namespace= pod= container="), "{honored:?}");
    // Without it, the alert's pod is renamed and the host's alert is put on the Lanner pod.
    let renamed = events("control");
    for exported in ["web-0", ""] {
        let wrong = format!("exported_pod={exported} pod=lanner-x7k2p");
        assert!(any(&renamed, &wrong), "{renamed:?}");
    }
    // Lanner's own series keep the target's labels.
    let q = "lanner_uptime_seconds{job=\"lanner\"}";
    let own = "pod=lanner-x7k2p container=lanner";
    prom.wait_query(q, WAIT, |s| any(s, own)).unwrap();

    // Every rule evaluates without error on these series, and the seed's alert fires for the
    // pod, with the labels Alertmanager groups by.
    wait_for("every rule evaluated, none in error", WAIT, || {
        let rules = prom.rules()?;
        let bad: Vec<_> = rules.iter().filter(|r| r.health != "ok").collect();
        match bad.is_empty() && !rules.is_empty() {
            true => Ok(Some(())),
            false => anyhow::bail!("{bad:?}"),
        }
    })
    .unwrap();
    wait_for("FalcoCriticalAlert for shop/web-0", WAIT, || {
        let want = "alertname=FalcoCriticalAlert namespace=shop pod=web-0 job=lanner";
        Ok(prom.alerts()?.into_iter().find(|a| has(&a.labels, want)))
    })
    .unwrap();
    let q = "security:pod:risk_score{namespace=\"shop\",pod=\"web-0\"}";
    prom.wait_query(q, WAIT, |s| s.iter().any(|s| s.value >= 10.0))
        .unwrap();
    let q = "instance:lanner_up:avg_over_time_1d{job=\"lanner\"}";
    prom.wait_query(q, WAIT, |s| s.iter().any(|s| s.value == 1.0))
        .unwrap();
}

#[test]
fn dashboard_queries_parse_and_use_only_lanner_or_the_seeds_exporters_metrics() {
    require_root!();
    // A file sink, so that the sink panels have series.
    let dir = TempDir::new("dashboard");
    let sink = format!("file_output.filename={}/alerts.json", dir.path_str());
    let sensor = Sensor::start_with(&["-o", "file_output.enabled=true", "-o", &sink]);
    let addr = sensor.metrics_addr();
    let lanner = exposition_names(&http_get(&addr, "/metrics").unwrap().body);
    let expected = ["falco_events", "lanner_event_latency_seconds_bucket"];
    assert!(expected.iter().all(|n| lanner.contains(*n)), "{lanner:?}");
    let rules = yaml_file(&file("alerts.yml")).unwrap();
    let groups = rules["groups"].as_array().unwrap().iter();
    let recorded: BTreeSet<&str> = groups
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| r["record"].as_str())
        .collect();
    let exporters = |n: &&str| n.starts_with("kube_") || n.starts_with("apiserver_");
    assert!(EXTERNAL_METRICS.iter().all(|n| exporters(n) || *n == "up"));

    let dash: Value = serde_json::from_str(&read("grafana-dashboard.json")).unwrap();
    let schema = dash["schemaVersion"].as_u64();
    assert!(schema >= Some(36), "{schema:?}");
    let var = json!({"name": "datasource", "type": "datasource", "query": "prometheus"});
    assert_within(&dash["templating"]["list"][0], var);
    let var = json!({"type": "prometheus", "uid": "${datasource}"});
    let panels = dash["panels"].as_array().unwrap();
    let title = |p: &Value| p["title"].as_str().unwrap_or_default().to_lowercase();
    let titles: Vec<String> = panels.iter().map(title).collect();
    let seed = "api authentication failures|falco alerts by priority|privileged pods running\
                |secret access rate";
    for seed in seed.split('|') {
        assert!(
            titles.iter().any(|t| t == seed),
            "{seed} missing: {titles:?}"
        );
    }
    let mut exprs = Vec::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let t = &p["title"];
        let kind = &p["type"];
        assert!(kind == "timeseries" || kind == "stat", "{t}: {kind}");
        assert_eq!(p["datasource"], var, "{t}");
        let targets = p["targets"].as_array().filter(|t| !t.is_empty());
        let targets = targets.unwrap_or_else(|| panic!("{t}: no targets"));
        for target in targets {
            assert_eq!(target["datasource"], var, "{t}: {target}");
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }

    let rules_dir = TempDir::new("dashboard-rules");
    let rules_file = fast_rules(rules_dir.path());
    let opts = PrometheusOpts::scraping([addr.clone()]).with_rule_files([rules_file]);
    let prom = Prometheus::start(&opts).unwrap();
    prom.wait_targets_up(WAIT).unwrap();
    for expr in &exprs {
        prom.parse_ok(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e:#}"));
        let names = promql_metric_names(expr);
        let external = |n: &str| recorded.contains(n) || EXTERNAL_METRICS.contains(&n);
        let known = |n: &&String| lanner.contains(*n) || external(n);
        let unknown: Vec<_> = names.iter().filter(|n| !known(n)).collect();
        assert!(
            unknown.is_empty(),
            "{expr}: {unknown:?} not Lanner's nor allowed"
        );
        // Lanner's health panels show data from one bare sensor (falco_events needs an alert).
        let health = |n: &String| (lanner.contains(n) && n != "falco_events") || n == "up";
        if names.iter().all(health) {
            let data = prom.wait_query(expr, WAIT, |s| !s.is_empty());
            data.unwrap_or_else(|e| panic!("{expr}: {e:#}"));
        }
    }
}
