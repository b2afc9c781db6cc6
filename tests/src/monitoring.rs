//! `deploy/monitoring/` as the tests read it: its YAML files as JSON (through python3's PyYAML,
//! the parser the files are linted against), the tools that check them (promtool, amtool,
//! yamllint), the metric names a PromQL expression or an exposition page holds, and the scrape
//! configuration the Prometheus operator makes of the ServiceMonitor.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::output_with_input;
use crate::prometheus::HTTP_TIMEOUT;

/// Label names and values of one series.
pub type Labels = BTreeMap<String, String>;

/// `"a=x b=y"` as labels (values without spaces).
pub fn labels(pairs: &str) -> Labels {
    let pair = |p: &str| {
        p.split_once('=')
            .map(|(k, v)| (k.to_string(), v.to_string()))
    };
    pairs
        .split_whitespace()
        .map(|p| pair(p).expect(p))
        .collect()
}

/// Asserts that `want` is part of `got`: its keys with values that are part of `got`'s, its
/// arrays element by element.
#[track_caller]
pub fn assert_within(got: &Value, want: Value) {
    fn within(got: &Value, want: &Value) -> bool {
        match (got, want) {
            (Value::Object(g), Value::Object(w)) => w
                .iter()
                .all(|(k, w)| g.get(k).is_some_and(|g| within(g, w))),
            (Value::Array(g), Value::Array(w)) => {
                g.len() == w.len() && g.iter().zip(w).all(|(g, w)| within(g, w))
            }
            _ => got == want,
        }
    }
    assert!(within(got, &want), "{want:#}\nis not within\n{got:#}");
}

/// Whether labels `l` have these values (`"a=x b="`: `a` is `x`, `b` absent).
pub fn has(l: &Labels, want: &str) -> bool {
    let want = labels(want);
    want.iter()
        .all(|(k, v)| l.get(k).map_or("", String::as_str) == v)
}

/// `<workspace>/deploy/monitoring`.
pub fn monitoring_dir() -> PathBuf {
    deploy_dir().join("monitoring")
}

/// `<workspace>/deploy`.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Runs `bin` (or `$env_var` when set) with `args` and `stdin`; its stdout, or an error with
/// everything it printed. `install` says where the tool comes from.
pub fn run_tool(
    env_var: &str,
    bin: &str,
    args: &[&str],
    stdin: &str,
    install: &str,
) -> Result<String> {
    let bin = std::env::var_os(env_var).unwrap_or(bin.into());
    let out = output_with_input(Command::new(&bin).args(args), Some(stdin))
        .with_context(|| format!("running {bin:?}: {install}, or set {env_var}"))?;
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if !out.status.success() {
        bail!(
            "{bin:?} {} failed ({}):\n{o}{e}",
            args.join(" "),
            out.status
        );
    }
    Ok(o.into_owned())
}

/// `promtool test rules FILE...`: the rule unit tests pass.
pub fn promtool_test_rules(file: &Path) -> Result<String> {
    let args = ["test", "rules", &file.to_string_lossy()];
    let install = "install Debian's `prometheus` package";
    run_tool("LANNER_PROMTOOL_BIN", "promtool", &args, "", install)
}

/// `amtool ARGS...` (Debian's `prometheus-alertmanager` package).
pub fn amtool(args: &[&str]) -> Result<String> {
    let install = "install Debian's `prometheus-alertmanager` package";
    run_tool("LANNER_AMTOOL_BIN", "amtool", args, "", install)
}

const YAML_TO_JSON: &str =
    "import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)";

/// The YAML documents of `text` as JSON values (PyYAML's `safe_load_all`).
pub fn yaml_docs(text: &str) -> Result<Vec<Value>> {
    let install = "install python3 with PyYAML (pip install pyyaml; yamllint brings it)";
    let args = ["-c", YAML_TO_JSON];
    let out = run_tool("LANNER_PYTHON_BIN", "python3", &args, text, install)?;
    serde_json::from_str(&out).context("PyYAML's JSON")
}

/// The one YAML document in `path`, as JSON.
pub fn yaml_file(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut docs = yaml_docs(&text).with_context(|| format!("parsing {}", path.display()))?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        n => bail!("{}: {n} YAML documents, expected one", path.display()),
    }
}

/// The `*.yaml` and `*.yml` files directly in `dir`, sorted (none if `dir` does not exist).
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let yaml = |p: &PathBuf| p.extension().is_some_and(|x| x == "yaml" || x == "yml");
    let mut files: Vec<PathBuf> = entries.map(|e| e.path()).filter(yaml).collect();
    files.sort();
    files
}

/// Metric names an exposition page declares (`# TYPE name kind`), with the `_bucket`, `_sum`
/// and `_count` series of histograms (and `_sum`, `_count` of summaries).
pub fn exposition_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "histogram" => &["", "_bucket", "_sum", "_count"],
            "summary" => &["", "_sum", "_count"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    names
}

/// The samples of metric `name` in an exposition page: labels (empty values kept) and value.
pub fn exposition_samples(text: &str, name: &str) -> Vec<(Labels, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(body) => parse_labels(body)?,
                None => (Labels::new(), rest),
            };
            let value = value.split_whitespace().next()?.parse().ok()?;
            Some((labels, value))
        })
        .collect()
}

/// `a="x",b="y\"z"} rest` → the labels and `rest`.
fn parse_labels(body: &str) -> Option<(Labels, &str)> {
    let mut labels = Labels::new();
    let mut s = body;
    loop {
        s = s.trim_start_matches(',');
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let (name, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.to_string(), value);
        s = &rest[end + 1..];
    }
}

/// `name{a="x", ...}` with PromQL string escaping, for promtool's `series:`.
pub fn series(name: &str, labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", Value::from(v.as_str())))
        .collect();
    format!("{name}{{{}}}", pairs.join(", "))
}

/// Words that are not metric names: aggregations, keywords and (followed by a parenthesis)
/// label lists.
const AGGREGATIONS: &str =
    "sum min max avg group stddev stdvar count count_values bottomk topk quantile";
const KEYWORDS: &str = "bool and or unless offset inf nan atan2";
const LABEL_LISTS: &str = "by without on ignoring group_left group_right";

fn is_one_of(words: &str, word: &str) -> bool {
    words.split(' ').any(|w| w.eq_ignore_ascii_case(word))
}

/// The metric names a PromQL expression selects: identifiers outside strings, label matchers
/// (`{...}`), ranges (`[...]`) and label lists (`by (...)`), that are not a function call,
/// an aggregation, a keyword or a number. `$variables` (Grafana) are skipped.
pub fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => i = skip_string(b, i, q),
            b'{' => i = skip_to(b, i, b'}'),
            b'[' => i = skip_to(b, i, b']'),
            b'#' => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n)
            }
            c if ident(c) || c == b'$' => {
                let start = i;
                i += 1;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = expr[i..].trim_start().as_bytes().first().copied();
                if is_one_of(LABEL_LISTS, word) && next == Some(b'(') {
                    i = skip_to(b, i + b[i..].iter().position(|&c| c == b'(').unwrap(), b')');
                } else if !(c.is_ascii_digit()
                    || c == b'$'
                    || next == Some(b'(')
                    || [AGGREGATIONS, KEYWORDS, LABEL_LISTS]
                        .iter()
                        .any(|w| is_one_of(w, word)))
                {
                    names.insert(word.to_string());
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// Index just past the closing quote of the string starting at `b[i]`.
fn skip_string(b: &[u8], mut i: usize, quote: u8) -> usize {
    i += 1;
    while i < b.len() && b[i] != quote {
        i += if b[i] == b'\\' && quote != b'`' { 2 } else { 1 };
    }
    i + 1
}

/// Index just past the `close` that ends the group opened at `b[i]`, strings skipped.
fn skip_to(b: &[u8], mut i: usize, close: u8) -> usize {
    i += 1;
    while i < b.len() && b[i] != close {
        i = match b[i] {
            q @ (b'"' | b'\'' | b'`') => skip_string(b, i, q),
            _ => i + 1,
        };
    }
    i + 1
}

/// `POST path` on `addr` (Prometheus's `/-/reload`); the status code.
pub fn http_post(addr: &str, path: &str) -> Result<u16> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("POST http://{addr}{path}"))?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))?;
    let req = format!("POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let status = answer.split(' ').nth(1).and_then(|c| c.parse().ok());
    status.with_context(|| format!("POST {path}: bad answer {answer:.200}"))
}

/// One endpoint the operator would discover for a ServiceMonitor: its address and the
/// `__meta_kubernetes_*` labels Kubernetes service discovery gives it (names without prefix:
/// `namespace`, `service_name`, `endpoint_port_name`, `pod_name`, `pod_container_name`).
pub struct DiscoveredEndpoint {
    pub address: String,
    pub meta: Labels,
}

/// The scrape config the Prometheus operator generates from the first endpoint of
/// ServiceMonitor `sm` (endpoints role), with static targets standing for what discovery
/// finds. The operator's own relabelings (pkg/prometheus/promcfg.go: keep the port by name;
/// namespace, service, pod, container from the discovery; job = the Service's name;
/// endpoint = the port's name) come first, then the endpoint's `relabelings`; its
/// `honorLabels`, `interval`, `path` and `metricRelabelings` are carried over.
pub fn operator_scrape_config(
    sm: &Value,
    job_name: &str,
    found: &[DiscoveredEndpoint],
) -> Result<Value> {
    let ep = &sm["spec"]["endpoints"][0];
    let port = ep["port"].as_str().context("endpoints[0].port")?;
    let meta = |n: &str| format!("__meta_kubernetes_{n}");
    let copy = |from: &str, to: &str| json!({"source_labels": [meta(from)], "target_label": to});
    let mut relabel = vec![
        json!({"action": "keep", "source_labels": [meta("endpoint_port_name")], "regex": port}),
        copy("namespace", "namespace"),
        copy("service_name", "service"),
        copy("pod_name", "pod"),
        copy("pod_container_name", "container"),
        copy("service_name", "job"),
        json!({"target_label": "endpoint", "replacement": port}),
    ];
    relabel.extend(relabel_configs(&ep["relabelings"])?);
    let targets: Vec<Value> = found
        .iter()
        .map(|e| {
            let labels: BTreeMap<String, &String> =
                e.meta.iter().map(|(k, v)| (meta(k), v)).collect();
            json!({"targets": [e.address], "labels": labels})
        })
        .collect();
    Ok(json!({
        "job_name": job_name,
        "honor_labels": ep["honorLabels"].as_bool().unwrap_or(false),
        "scrape_interval": ep["interval"].as_str().unwrap_or("30s"),
        "metrics_path": ep["path"].as_str().unwrap_or("/metrics"),
        "static_configs": targets,
        "relabel_configs": relabel,
        "metric_relabel_configs": relabel_configs(&ep["metricRelabelings"])?,
    }))
}

/// The operator's RelabelConfig (camelCase) in Prometheus's names.
fn relabel_configs(list: &Value) -> Result<Vec<Value>> {
    let Some(list) = list.as_array() else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|r| {
            let obj = r.as_object().context("a relabeling is not a map")?;
            let mut out = serde_json::Map::new();
            for (k, v) in obj {
                let v = match k.as_str() {
                    "action" => Value::from(v.as_str().unwrap_or("").to_ascii_lowercase()),
                    _ => v.clone(),
                };
                out.insert(relabel_key(k)?.to_string(), v);
            }
            Ok(Value::Object(out))
        })
        .collect()
}

fn relabel_key(k: &str) -> Result<&str> {
    match k {
        "sourceLabels" => Ok("source_labels"),
        "targetLabel" => Ok("target_label"),
        "regex" | "replacement" | "separator" | "modulus" | "action" => Ok(k),
        other => bail!("relabeling field {other:?} not translated"),
    }
}
