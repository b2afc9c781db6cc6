//! The deploy/ manifests as data: kustomize renders, read back through PyYAML (serde_yaml is
//! not a dependency), the schema and lint tools, and readers for the two log shippers'
//! config languages. No cluster, no network: `kubectl kustomize` renders locally and
//! `kubernetes-validate` carries its schemas.
//!
//! Tools: `kubectl` (with its built-in kustomize), `python3` with PyYAML, and from PyPI
//! `kubernetes-validate` and `yamllint` (`cargo xtask test` installs the last two).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::output_with_input;

/// The Kubernetes versions every render is validated against: the oldest we target and the
/// newest kubernetes-validate carries schemas for.
pub const K8S_VERSIONS: [&str; 2] = ["1.32.0", "1.37.0"];

/// `<workspace>/deploy`.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// True when `tool --version` runs.
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` with `stdin` as its input and returns its stdout; panics with its stderr
/// (or with how to install it) when it fails.
#[track_caller]
pub fn run(cmd: &mut Command, stdin: Option<&str>) -> String {
    let what = format!("{cmd:?}");
    let out = output_with_input(cmd, stdin).unwrap_or_else(|e| {
        panic!("{what}: {e} (kubectl, python3 with PyYAML, kubernetes-validate, yamllint)")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every document of a YAML stream, as JSON (empty documents skipped).
#[track_caller]
pub fn yaml_docs(yaml: &str) -> Vec<Value> {
    let script = "import json, sys, yaml\n\
                  docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]\n\
                  json.dump(docs, sys.stdout)";
    let json = run(Command::new("python3").args(["-c", script]), Some(yaml));
    match serde_json::from_str(&json).unwrap() {
        Value::Array(docs) => docs,
        other => panic!("not a list of documents: {other}"),
    }
}

/// A YAML text holding one document, as JSON.
#[track_caller]
pub fn yaml_value(yaml: &str) -> Value {
    let mut docs = yaml_docs(yaml);
    assert_eq!(docs.len(), 1, "expected one YAML document");
    docs.remove(0)
}

/// `kubectl kustomize deploy/<dir>`: the YAML and its objects.
pub struct Rendered {
    pub dir: &'static str,
    pub yaml: String,
    pub objects: Vec<Value>,
}

impl Rendered {
    /// Renders `deploy/<dir>` once per test process.
    #[track_caller]
    pub fn of(dir: &'static str) -> &'static Rendered {
        static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static Rendered>>> = OnceLock::new();
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
        cache.entry(dir).or_insert_with(|| {
            let path = deploy_dir().join(dir);
            let yaml = run(Command::new("kubectl").arg("kustomize").arg(&path), None);
            let objects = yaml_docs(&yaml);
            Box::leak(Box::new(Rendered { dir, yaml, objects }))
        })
    }

    /// The objects of `kind`.
    pub fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    /// The one object of `kind` named `name`.
    #[track_caller]
    pub fn get(&self, kind: &str, name: &str) -> &Value {
        let found: Vec<&Value> = self
            .all(kind)
            .into_iter()
            .filter(|o| o["metadata"]["name"] == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{}: {kind}/{name} rendered {} times",
            self.dir,
            found.len()
        );
        found[0]
    }

    /// The one object of `kind` whose name starts with `prefix` (generated names carry a
    /// content hash).
    #[track_caller]
    pub fn get_prefixed(&self, kind: &str, prefix: &str) -> &Value {
        let found: Vec<&Value> = self
            .all(kind)
            .into_iter()
            .filter(|o| {
                o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{}: {kind}/{prefix}* rendered {} times",
            self.dir,
            found.len()
        );
        found[0]
    }

    /// The sensor's DaemonSet (`lanner`).
    #[track_caller]
    pub fn daemonset(&self) -> &Value {
        self.get("DaemonSet", "lanner")
    }

    #[track_caller]
    pub fn pod_spec(&self) -> &Value {
        at(self.daemonset(), "/spec/template/spec")
    }

    /// The DaemonSet's one container.
    #[track_caller]
    pub fn container(&self) -> &Value {
        let containers = at(self.pod_spec(), "/containers").as_array().unwrap();
        assert_eq!(containers.len(), 1, "{}: one container", self.dir);
        &containers[0]
    }

    /// lanner.yaml from the generated ConfigMap `lanner-config-<hash>`, parsed.
    #[track_caller]
    pub fn lanner_config(&self) -> Value {
        let cm = self.get_prefixed("ConfigMap", "lanner-config-");
        yaml_value(at(cm, "/data/lanner.yaml").as_str().unwrap())
    }

    /// The container's mounts, each with its volume.
    #[track_caller]
    pub fn mounts(&self) -> Vec<Mount<'_>> {
        let volumes = at(self.pod_spec(), "/volumes").as_array().unwrap();
        let mounts = at(self.container(), "/volumeMounts").as_array().unwrap();
        mounts
            .iter()
            .map(|m| Mount {
                path: m["mountPath"].as_str().unwrap(),
                volume: volumes
                    .iter()
                    .find(|v| v["name"] == m["name"])
                    .unwrap_or_else(|| panic!("no volume for {m}")),
                read_only: m["readOnly"] == true,
            })
            .collect()
    }

    /// `kubernetes-validate --strict` on the render, for every version of [`K8S_VERSIONS`].
    #[track_caller]
    pub fn validate(&self) {
        let dir = crate::TempDir::new("deploy-render");
        let file = dir
            .path()
            .join(format!("{}.yaml", self.dir.replace('/', "-")));
        std::fs::write(&file, &self.yaml).unwrap();
        for version in K8S_VERSIONS {
            run(
                Command::new("kubernetes-validate")
                    .args(["--strict", "--quiet", "-k", version])
                    .arg(&file),
                None,
            );
        }
    }
}

/// A volume mount of the sensor's container, with its volume.
#[derive(Debug)]
pub struct Mount<'a> {
    pub path: &'a str,
    pub volume: &'a Value,
    pub read_only: bool,
}

impl<'a> Mount<'a> {
    /// (path, type) of a hostPath volume.
    pub fn host_path(&self) -> Option<(&'a str, &'a str)> {
        let hp = self.volume.get("hostPath")?;
        Some((hp["path"].as_str()?, hp["type"].as_str()?))
    }
}

/// `yamllint -s -c deploy/.yamllint deploy/`: warnings fail too.
#[track_caller]
pub fn yamllint_deploy() {
    let dir = deploy_dir();
    run(
        Command::new("yamllint")
            .args(["-s", "-f", "parsable", "-c"])
            .arg(dir.join(".yamllint"))
            .arg(&dir),
        None,
    );
}

/// The value at a JSON pointer, or a panic naming the pointer.
#[track_caller]
pub fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer)
        .unwrap_or_else(|| panic!("{pointer} missing in {v:#}"))
}

/// The strings of a JSON array.
#[track_caller]
pub fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("not a string: {s}")))
        .collect()
}

/// One `[SECTION]` of a Fluent Bit classic-mode config: `Key Value` lines.
#[derive(Debug)]
pub struct FbSection {
    pub name: String,
    pub entries: Vec<(String, String)>,
}

impl FbSection {
    /// The value of `key` (Fluent Bit's keys are case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// The sections of a Fluent Bit classic-mode config (comments, blank lines and `@INCLUDE`
/// skipped). Panics on a key line outside any section.
#[track_caller]
pub fn fluent_bit_sections(text: &str) -> Vec<FbSection> {
    let mut sections: Vec<FbSection> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push(FbSection {
                name: name.to_ascii_uppercase(),
                entries: Vec::new(),
            });
            continue;
        }
        let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let section = sections
            .last_mut()
            .unwrap_or_else(|| panic!("`{line}` outside any section"));
        section
            .entries
            .push((key.to_string(), value.trim().to_string()));
    }
    sections
}

/// One `<name arg>` … `</name>` directive of a Fluentd config.
#[derive(Debug)]
pub struct FdDirective {
    pub name: String,
    pub arg: String,
    pub params: Vec<(String, String)>,
    pub children: Vec<FdDirective>,
}

impl FdDirective {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The nested directive `name` (e.g. `parse`, `buffer`).
    #[track_caller]
    pub fn child(&self, name: &str) -> &FdDirective {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{name}> missing in <{} {}>", self.name, self.arg))
    }
}

/// The top-level directives of a Fluentd config. Panics on unbalanced directives.
#[track_caller]
pub fn fluentd_directives(text: &str) -> Vec<FdDirective> {
    let mut stack: Vec<FdDirective> = vec![FdDirective {
        name: String::new(),
        arg: String::new(),
        params: Vec::new(),
        children: Vec::new(),
    }];
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("</").and_then(|l| l.strip_suffix('>')) {
            let done = stack.pop().filter(|d| d.name == name);
            let done = done.unwrap_or_else(|| panic!("unbalanced </{name}>"));
            stack
                .last_mut()
                .expect("closed the root")
                .children
                .push(done);
        } else if let Some(open) = line.strip_prefix('<').and_then(|l| l.strip_suffix('>')) {
            let (name, arg) = open.split_once(' ').unwrap_or((open, ""));
            stack.push(FdDirective {
                name: name.to_string(),
                arg: arg.trim().to_string(),
                params: Vec::new(),
                children: Vec::new(),
            });
        } else {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let current = stack.last_mut().unwrap();
            current
                .params
                .push((key.to_string(), value.trim().to_string()));
        }
    }
    assert_eq!(stack.len(), 1, "unclosed <{}>", stack.last().unwrap().name);
    stack.pop().unwrap().children
}
