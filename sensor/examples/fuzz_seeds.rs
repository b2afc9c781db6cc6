//! `fuzz_seeds OUT_DIR`: the fuzz targets' seed corpora and dictionaries, made from real inputs
//! at run time (`cargo xtask test` runs it before the fuzzers; `tests/fuzz/README.md`):
//! - rules files: the built-in rules and the official Falco rules files (test data the
//!   repository does not carry, hence made here and not committed);
//! - conditions and outputs: every one in those files;
//! - the config: the DaemonSet's config file, every `-o` the docs show, every key;
//! - kernel records: one of every kind and variant, made with the wire types;
//! - pods: the fake API server's pods (`lanner_tests::pod_json`) and the sample pod.
//!
//! Writes `OUT_DIR/<target>/<n>` and `OUT_DIR/<target>.dict` (libFuzzer's `-dict` format).

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use lanner::fuzz::samples;
use lanner_rules::{
    EvtType, Priority,
    ast::{Op, Transformer},
    fields::{ArgKind, FIELDS},
};
use lanner_tests::{FakeContainer, FakeContainerKind, hex_id, official_rules_paths, pod_json};
use yaml_rust2::{Yaml, YamlLoader};

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("usage: fuzz_seeds OUT_DIR"))?,
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut rules_files = vec![lanner_rules::DEFAULT_RULES.to_string()];
    for p in official_rules_paths() {
        rules_files.push(fs::read_to_string(&p)?);
    }
    let (conditions, outputs) = conditions_and_outputs(&rules_files);
    let records: Vec<Vec<u8>> = samples::records().into_iter().map(|(_, r)| r).collect();

    let corpora: [(&str, Vec<Vec<u8>>); 6] = [
        (
            "rules_file",
            rules_files.into_iter().map(String::into_bytes).collect(),
        ),
        ("condition", bytes(conditions)),
        ("output", bytes(outputs)),
        ("config", config_seeds(&repo)?),
        ("decode", records),
        ("pod_json", pods()),
    ];
    for (target, seeds) in corpora {
        let dir = out.join(target);
        // Made anew: a seed that is no longer made must not linger.
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        for (i, s) in seeds.iter().enumerate() {
            fs::write(dir.join(format!("{i:04}")), s)?;
        }
        // libFuzzer refuses an empty dictionary: the record target has none.
        let dict = dictionary(target);
        let dict_file = out.join(format!("{target}.dict"));
        if dict.is_empty() {
            let _ = fs::remove_file(&dict_file);
        } else {
            fs::write(dict_file, dict_text(&dict))?;
        }
        println!(
            "{target}: {} seeds, {} dictionary tokens",
            seeds.len(),
            dict.len()
        );
    }
    Ok(())
}

fn bytes(set: BTreeSet<String>) -> Vec<Vec<u8>> {
    set.into_iter().map(String::into_bytes).collect()
}

/// Every `condition` and `output` of the rules files' items (rules, macros; appends too).
fn conditions_and_outputs(files: &[String]) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut conditions, mut outputs) = (BTreeSet::new(), BTreeSet::new());
    for text in files {
        // yaml-rust2 refuses a flow sequence closed at its key's indentation, which one
        // official file has; indenting the lone closers changes nothing read here.
        let text: Vec<String> = text
            .lines()
            .map(|l| match l.trim() {
                "]" | "}" => format!("  {l}"),
                _ => l.to_owned(),
            })
            .collect();
        let Ok(docs) = YamlLoader::load_from_str(&text.join("\n")) else {
            continue;
        };
        for item in docs.iter().filter_map(Yaml::as_vec).flatten() {
            if let Some(c) = item["condition"].as_str() {
                conditions.insert(c.to_owned());
            }
            if let Some(o) = item["output"].as_str() {
                outputs.insert(o.to_owned());
            }
        }
    }
    (conditions, outputs)
}

/// The DaemonSet's config file; `-o` as the docs and manifests write them; every key with a
/// value of each kind. A seed is the file, then NUL-separated overrides (`lanner::fuzz::config`).
fn config_seeds(repo: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut seeds = vec![fs::read(repo.join("deploy/base/lanner.yaml"))?];
    let mut overrides = BTreeSet::new();
    for doc in [
        "README.md",
        "docs/outputs.md",
        "docs/rules.md",
        "deploy/README.md",
    ] {
        let text = fs::read_to_string(repo.join(doc))?;
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "-o"
                && let Some(kv) = words.next()
            {
                let kv = kv.trim_matches(|c| matches!(c, '`' | '\'' | '"' | '\\'));
                if kv.contains('=') {
                    overrides.insert(kv.to_owned());
                }
            }
        }
    }
    for o in &overrides {
        seeds.push(format!("\0{o}").into_bytes());
    }
    for (key, _) in lanner::config::KEYS
        .iter()
        .chain(lanner::sinks::config::KEYS)
    {
        // Every kind of value, and the edges of numbers (negative, past any duration).
        let values = [
            "true",
            "10",
            "0.5",
            "-1",
            "1e30",
            "[rule, priority]",
            "{a: b}",
            "~",
            "http://127.0.0.1:9880/x",
        ];
        for value in values {
            seeds.push(format!("\0{key}={value}").into_bytes());
        }
    }
    Ok(seeds)
}

/// The fake API server's pods in their variety, and the sample pod.
fn pods() -> Vec<Vec<u8>> {
    let id = |n| format!("containerd://{}", hex_id(n));
    let mut init = FakeContainer::new("init", "busybox", &id(3));
    init.kind = FakeContainerKind::Init;
    let mut debug = FakeContainer::new("debugger", "busybox:1.36", &id(4));
    debug.kind = FakeContainerKind::Ephemeral;
    let shapes: Vec<Vec<FakeContainer>> = vec![
        vec![FakeContainer::new("app", "nginx:1.25", &id(1))],
        vec![
            FakeContainer::new("app", "registry.local:5000/team/app:2.1@sha256:ab", &id(1))
                .privileged(true)
                .host_mount("/var/run/docker.sock", "/var/run/docker.sock", false)
                .host_mount("/etc", "/host/etc", true),
            FakeContainer::new("sidecar", "envoy", &id(2)).privileged(false),
            init,
            debug,
        ],
        vec![FakeContainer::new("waiting", "nginx", "")],
        vec![FakeContainer::new("odd", "nginx", "cri-o://not-a-full-id")],
    ];
    let mut out = vec![samples::POD_JSON.as_bytes().to_vec()];
    for (i, containers) in shapes.iter().enumerate() {
        let pod = pod_json(
            "default",
            &format!("pod-{i}"),
            &format!("uid-{i}"),
            "node-1",
            containers,
            &[("app", "web"), ("app.kubernetes.io/name", "x")],
            "10.244.0.9",
        );
        out.push(pod.to_string().into_bytes());
    }
    out
}

/// The tokens of each target's language.
fn dictionary(target: &str) -> BTreeSet<String> {
    let mut d = BTreeSet::new();
    let mut add = |words: &[&str]| d.extend(words.iter().map(|w| w.to_string()));
    let yaml = [
        "- ", ": ", "\n  ", "\n- ", "&a ", "*a", "<<: ", "|\n", ">-\n", "---\n", "...\n", "[", "]",
        "{", "}", ", ", "!!str ", "'", "\"", "# ", "~", "null",
    ];
    let rules_keys = [
        "rule",
        "macro",
        "list",
        "items",
        "condition",
        "output",
        "desc",
        "priority",
        "tags",
        "enabled",
        "append",
        "override",
        "replace",
        "exceptions",
        "name",
        "fields",
        "comps",
        "values",
        "source",
        "syscall",
        "required_engine_version",
        "required_plugin_versions",
        "skip-if-unknown-filter",
        "warn_evttypes",
        "version",
    ];
    let condition = condition_tokens();
    match target {
        "rules_file" => {
            add(&yaml);
            add(&rules_keys);
            add(&condition.iter().map(String::as_str).collect::<Vec<_>>());
            for p in Priority::ALL {
                add(&[p.name()]);
            }
        }
        "condition" => add(&condition.iter().map(String::as_str).collect::<Vec<_>>()),
        "output" => {
            add(&["%", "*", "%20", "%-10", " ", "(", ")", "[", "]"]);
            for f in FIELDS {
                add(&[&format!("%{}", f.name), &format!("%{}", field_with_arg(f))]);
            }
            for t in transformers() {
                add(&[&format!("%{t}(")]);
            }
        }
        "config" => {
            add(&yaml);
            add(&[
                "=", "\0", "true", "false", "1e30", "-1", "0x10", ".inf", "[]", "{}",
            ]);
            for (k, _) in lanner::config::KEYS
                .iter()
                .chain(lanner::sinks::config::KEYS)
            {
                add(&[k]);
                add(&k.split('.').collect::<Vec<_>>());
            }
        }
        "pod_json" => add(&[
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\"",
            "null",
            "true",
            "false",
            "\"apiVersion\"",
            "\"kind\"",
            "\"metadata\"",
            "\"name\"",
            "\"namespace\"",
            "\"uid\"",
            "\"labels\"",
            "\"spec\"",
            "\"containers\"",
            "\"initContainers\"",
            "\"ephemeralContainers\"",
            "\"image\"",
            "\"securityContext\"",
            "\"privileged\"",
            "\"volumeMounts\"",
            "\"mountPath\"",
            "\"subPath\"",
            "\"readOnly\"",
            "\"volumes\"",
            "\"hostPath\"",
            "\"path\"",
            "\"status\"",
            "\"podIP\"",
            "\"containerStatuses\"",
            "\"initContainerStatuses\"",
            "\"ephemeralContainerStatuses\"",
            "\"containerID\"",
            "\"containerd://",
            "\"cri-o://",
            "\"docker://",
            "\"state\"",
            "\"running\"",
            "\"terminated\"",
            "\"startedAt\"",
            "\"2024-05-01T10:00:02Z\"",
            "@sha256:",
        ]),
        _ => {}
    }
    d
}

fn transformers() -> Vec<&'static str> {
    let all = ["tolower", "toupper", "b64", "basename", "len", "val"];
    all.into_iter()
        .filter(|t| Transformer::from_name(t).is_some())
        .collect()
}

/// Operators, keywords, transformers, every field (with an argument where it takes one),
/// every event type.
fn condition_tokens() -> Vec<String> {
    let mut v: Vec<String> = ["and", "or", "not", "(", ")", ",", "\"", "'", "=="]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(Op::ALL.iter().map(|o| o.as_str().to_string()));
    v.extend(transformers().into_iter().map(|t| format!("{t}(")));
    v.extend(FIELDS.iter().map(|f| f.name.to_string()));
    v.extend(FIELDS.iter().map(field_with_arg));
    v.extend(EvtType::ALL.iter().map(|t| t.name().to_string()));
    v
}

fn field_with_arg(f: &lanner_rules::fields::FieldDef) -> String {
    match f.arg {
        ArgKind::None => f.name.to_string(),
        ArgKind::Index | ArgKind::IndexRequired | ArgKind::EvtArg => format!("{}[1]", f.name),
        ArgKind::Key => format!("{}[app]", f.name),
        ArgKind::IndexOrKey => format!("{}[/etc]", f.name),
    }
}

/// libFuzzer's dictionary format: one quoted token a line, `\\`, `\"` and `\xNN` escaped.
fn dict_text(tokens: &BTreeSet<String>) -> String {
    let mut out = String::new();
    for t in tokens {
        out.push('"');
        for b in t.bytes() {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b' '..=b'~' => out.push(char::from(b)),
                _ => out.push_str(&format!("\\x{b:02X}")),
            }
        }
        out.push_str("\"\n");
    }
    out
}
