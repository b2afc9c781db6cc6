//! Configuration: falco.yaml's keys that Lanner honours, from an optional YAML file (`-c`),
//! then `-o key=value` overrides (the value is YAML: `-o rule_matching=all`,
//! `-o 'rules_files=[/etc/lanner/rules.d]'`). Unknown keys and wrong types are errors that
//! name the key and where it came from.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use lanner_rules::{Matching, Priority, ruleset::AppendOutput};
use yaml_rust2::{Yaml, YamlLoader};

use crate::{
    metrics::{falco_events::Label, health::DropPolicy},
    sinks::config::{KEYS as SINK_KEYS, SECTIONS, SinksConfig},
};

#[derive(Clone, Debug)]
pub struct Config {
    /// Rules files or directories (`*.yaml`/`*.yml` in name order); empty: the built-in ruleset.
    pub rules_files: Vec<PathBuf>,
    pub rule_matching: Matching,
    /// Minimum priority: less severe rules are loaded but not enabled.
    pub priority: Priority,
    pub json_output: bool,
    pub json_include_output_property: bool,
    pub json_include_tags_property: bool,
    pub json_include_output_fields_property: bool,
    pub json_include_message_property: bool,
    pub time_format_iso_8601: bool,
    pub append_output: Vec<AppendOutput>,
    /// Reload the rules when a rules file changes (SIGHUP always reloads).
    pub watch_config_files: bool,
    /// `hostname` of alerts; default: $FALCO_HOSTNAME, $NODE_NAME, the host name.
    pub hostname: Option<String>,
    /// The metrics endpoint (`exporter.*`, named after falco-exporter, whose port it takes).
    pub exporter: Exporter,
    /// falco.yaml's `syscall_event_drops`.
    pub syscall_event_drops: DropPolicy,
    /// Alert outputs besides stdout.
    pub sinks: SinksConfig,
}

#[derive(Clone, Debug)]
pub struct Exporter {
    pub enabled: bool,
    pub listen_address: String,
    /// Labels of `falco_events`, in this order.
    pub labels: Vec<Label>,
    /// Series of a pod gone from the node are dropped after this long without an alert.
    pub series_ttl: Duration,
    /// A new `falco_events` series shows 0 this long (and at least one scrape) before its count.
    pub new_series_hold: Duration,
    /// `/healthz` fails once the pipeline has stood still this long with events waiting, or
    /// a write to stdout has blocked this long (`metrics/stall.rs`).
    pub stall: Duration,
}

impl Default for Exporter {
    fn default() -> Self {
        Self {
            enabled: true,
            listen_address: "0.0.0.0:9376".into(),
            labels: Label::ALL.to_vec(),
            series_ttl: Duration::from_secs(3600),
            new_series_hold: Duration::from_secs(30),
            stall: Duration::from_secs(10),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let engine = lanner_rules::Options::default();
        Self {
            rules_files: Vec::new(),
            rule_matching: engine.matching,
            priority: engine.min_priority,
            // Lanner's alerts feed Fluent Bit / Fluentd: JSON by default (Falco: false).
            json_output: true,
            json_include_output_property: true,
            json_include_tags_property: true,
            json_include_output_fields_property: true,
            json_include_message_property: false,
            time_format_iso_8601: false,
            append_output: engine.append_output,
            watch_config_files: true,
            hostname: None,
            exporter: Exporter::default(),
            syscall_event_drops: DropPolicy::default(),
            sinks: SinksConfig::default(),
        }
    }
}

/// Keys and what they take, for error messages and `--help`.
pub const KEYS: &[(&str, &str)] = &[
    ("rules_files", "list of rules files or directories"),
    ("rule_matching", "first | all"),
    ("priority", "minimum rule priority (emergency … debug)"),
    ("json_output", "bool"),
    ("json_include_output_property", "bool"),
    ("json_include_tags_property", "bool"),
    ("json_include_output_fields_property", "bool"),
    ("json_include_message_property", "bool"),
    ("time_format_iso_8601", "bool"),
    (
        "append_output",
        "list of {match: {source, rule, tags}, extra_output, extra_fields, suggested_output}",
    ),
    ("watch_config_files", "bool"),
    ("hostname", "string"),
    (
        "exporter.enabled",
        "bool: serve /metrics, /healthz, /readyz",
    ),
    (
        "exporter.listen_address",
        "host:port (default 0.0.0.0:9376)",
    ),
    (
        "exporter.labels",
        "labels of falco_events (default: rule, priority, hostname, source, tags, k8s_ns_name, k8s_pod_name, namespace, pod)",
    ),
    (
        "exporter.series_ttl_seconds",
        "drop series of pods gone this long (default 3600)",
    ),
    (
        "exporter.stall_seconds",
        "/healthz fails when the pipeline stands still this long with events waiting (default 10)",
    ),
    (
        "syscall_event_drops.threshold",
        "share of lost events that triggers the actions (0.1)",
    ),
    ("syscall_event_drops.actions", "list of log, alert, ignore"),
    ("syscall_event_drops.rate", "actions per second (0.03333)"),
    ("syscall_event_drops.max_burst", "number (1)"),
];

/// Largest config file read (Falco's falco.yaml, comments and all, is under 100 KB).
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

impl Config {
    /// Defaults, then `file` if given, then each `key=value` override.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> anyhow::Result<Config> {
        let text = file
            .map(|path| crate::textfile::read(path, "config file", MAX_CONFIG_BYTES))
            .transpose()?;
        Config::parse(file.zip(text.as_deref()), overrides)
    }

    /// [`Config::load`] with the file already read: (its path, for messages; its text).
    pub fn parse(file: Option<(&Path, &str)>, overrides: &[String]) -> anyhow::Result<Config> {
        let mut c = Config::default();
        if let Some((path, text)) = file {
            // yaml-rust2's loader copies aliases without a limit and recurses per level.
            lanner_rules::yaml::check(text).map_err(|e| {
                anyhow::anyhow!("{}:{}:{}: {}", path.display(), e.line, e.col, e.message)
            })?;
            let docs = YamlLoader::load_from_str(text).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}:{}: {}",
                    path.display(),
                    e.marker().line(),
                    e.marker().col() + 1,
                    e.info()
                )
            })?;
            match docs.into_iter().next() {
                None | Some(Yaml::Null) => {}
                Some(Yaml::Hash(h)) => {
                    for (k, v) in h {
                        let key = k.as_str().unwrap_or("");
                        c.set(key, &v)
                            .with_context(|| format!("{}: key '{key}'", path.display()))?;
                    }
                }
                Some(_) => bail!("{}: the config must be a map of keys", path.display()),
            }
        }
        for o in overrides {
            let (key, value) = o
                .split_once('=')
                .with_context(|| format!("-o {o}: expected key=value"))?;
            lanner_rules::yaml::check(value).map_err(|e| {
                anyhow::anyhow!("-o {key}=…: {} (at {}:{})", e.message, e.line, e.col)
            })?;
            let v = YamlLoader::load_from_str(value)
                .map_err(|e| anyhow::anyhow!("-o {o}: {}", e.info()))?
                .into_iter()
                .next()
                .unwrap_or(Yaml::Null);
            c.set(key.trim(), &v).with_context(|| format!("-o {o}"))?;
        }
        c.sinks.validate()?;
        Ok(c)
    }

    fn set(&mut self, key: &str, v: &Yaml) -> anyhow::Result<()> {
        match key {
            "rules_files" | "rules_file" => {
                self.rules_files = strings(v)?.into_iter().map(PathBuf::from).collect();
            }
            "rule_matching" => {
                self.rule_matching = match string(v)?.as_str() {
                    "first" => Matching::First,
                    "all" => Matching::All,
                    s => bail!("'{s}' is not first or all"),
                }
            }
            "priority" => {
                let s = string(v)?;
                self.priority = Priority::parse(&s)
                    .with_context(|| format!("'{s}' is not a priority (emergency … debug)"))?;
            }
            "json_output" => self.json_output = boolean(v)?,
            "json_include_output_property" => self.json_include_output_property = boolean(v)?,
            "json_include_tags_property" => self.json_include_tags_property = boolean(v)?,
            "json_include_output_fields_property" => {
                self.json_include_output_fields_property = boolean(v)?
            }
            "json_include_message_property" => self.json_include_message_property = boolean(v)?,
            "time_format_iso_8601" => self.time_format_iso_8601 = boolean(v)?,
            "watch_config_files" => self.watch_config_files = boolean(v)?,
            "hostname" => self.hostname = Some(string(v)?),
            // Sections given as maps set each of their keys.
            "exporter" | "syscall_event_drops" | "sinks" if matches!(v, Yaml::Hash(_)) => {
                let Yaml::Hash(h) = v else { return Ok(()) };
                for (k, sub) in h {
                    let k = k.as_str().unwrap_or("");
                    self.set(&format!("{key}.{k}"), sub)?;
                }
            }
            "exporter.enabled" => self.exporter.enabled = boolean(v)?,
            "exporter.listen_address" => self.exporter.listen_address = string(v)?,
            "exporter.labels" => {
                self.exporter.labels = strings(v)?
                    .iter()
                    .map(|l| {
                        Label::parse(l).with_context(|| {
                            let known: Vec<&str> = Label::ALL.iter().map(|l| l.name()).collect();
                            format!(
                                "exporter.labels: unknown label '{l}'; known: {}",
                                known.join(", ")
                            )
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            "exporter.new_series_hold_seconds" => self.exporter.new_series_hold = seconds(key, v)?,
            "exporter.series_ttl_seconds" => self.exporter.series_ttl = seconds(key, v)?,
            "exporter.stall_seconds" => {
                let s = non_negative(v)?;
                self.exporter.stall = Duration::try_from_secs_f64(s)
                    .ok()
                    .filter(|d| *d >= Duration::from_secs(1) && s <= MAX_SECONDS)
                    .with_context(|| {
                        format!(
                            "{key}: expected a number of seconds from 1 to {MAX_SECONDS} (a year)"
                        )
                    })?;
            }
            "syscall_event_drops.threshold" => {
                self.syscall_event_drops.threshold = non_negative(v)?
            }
            "syscall_event_drops.rate" => self.syscall_event_drops.rate = non_negative(v)?,
            "syscall_event_drops.max_burst" => {
                self.syscall_event_drops.max_burst = non_negative(v)?
            }
            "syscall_event_drops.actions" => {
                let d = &mut self.syscall_event_drops;
                (d.log, d.alert) = (false, false);
                for a in strings(v)? {
                    match a.as_str() {
                        "log" => d.log = true,
                        "alert" => d.alert = true,
                        "ignore" => {}
                        // Falco's `exit` would stop the sensor on a loss burst: refused.
                        other => bail!("'{other}' is not log, alert or ignore"),
                    }
                }
            }
            "append_output" => {
                let Yaml::Array(items) = v else {
                    bail!("expected a list")
                };
                self.append_output = items
                    .iter()
                    .enumerate()
                    .map(|(i, a)| append_output(a).with_context(|| format!("item {i}")))
                    .collect::<anyhow::Result<_>>()?;
            }
            s if SECTIONS.contains(&s) && matches!(v, Yaml::Hash(_)) => {
                let Yaml::Hash(h) = v else { return Ok(()) };
                for (k, sub) in h {
                    let k = k.as_str().unwrap_or("");
                    self.set(&format!("{key}.{k}"), sub)?;
                }
            }
            _ if self.sinks.set(key, v)? => {}
            _ => {
                let known: Vec<&str> = KEYS.iter().chain(SINK_KEYS).map(|(k, _)| *k).collect();
                bail!("unknown key; known keys: {}", known.join(", "))
            }
        }
        Ok(())
    }

    /// Engine options from the config.
    pub fn engine_options(&self) -> lanner_rules::Options {
        lanner_rules::Options {
            matching: self.rule_matching,
            min_priority: self.priority,
            append_output: self.append_output.clone(),
            time_format_iso_8601: self.time_format_iso_8601,
            // What the sensor's extraction can fill: checks on anything else are settled at
            // load time (tested against the extraction in rules::extract_tests).
            available: lanner_rules::availability::lanner,
        }
    }
}

pub(crate) fn string(v: &Yaml) -> anyhow::Result<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Ok(s.clone()),
        Yaml::Integer(n) => Ok(n.to_string()),
        Yaml::Boolean(b) => Ok(b.to_string()),
        _ => bail!("expected a string"),
    }
}

pub(crate) fn non_negative(v: &Yaml) -> anyhow::Result<f64> {
    let n = match v {
        Yaml::Real(s) => s.parse::<f64>().ok(),
        Yaml::Integer(n) => Some(*n as f64),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => bail!("expected a non-negative number"),
    }
}

/// The largest value of a `*_seconds` key: a year (a longer timeout, drain or TTL is a
/// mistake, and bounding it keeps every deadline computed from it in range).
pub(crate) const MAX_SECONDS: f64 = 365.0 * 86_400.0;

/// A `*_seconds` value: a number from 0 to [`MAX_SECONDS`]; the error names `key`.
pub(crate) fn seconds(key: &str, v: &Yaml) -> anyhow::Result<Duration> {
    match non_negative(v) {
        Ok(n) if n <= MAX_SECONDS => Ok(Duration::from_secs_f64(n)),
        _ => bail!("{key}: expected a number of seconds from 0 to {MAX_SECONDS} (a year)"),
    }
}

pub(crate) fn boolean(v: &Yaml) -> anyhow::Result<bool> {
    match v {
        Yaml::Boolean(b) => Ok(*b),
        _ => bail!("expected true or false"),
    }
}

fn strings(v: &Yaml) -> anyhow::Result<Vec<String>> {
    match v {
        Yaml::Array(items) => items.iter().map(string).collect(),
        Yaml::Null => Ok(Vec::new()),
        other => Ok(vec![string(other)?]),
    }
}

fn append_output(v: &Yaml) -> anyhow::Result<AppendOutput> {
    let Yaml::Hash(h) = v else {
        bail!("expected a map")
    };
    let mut a = AppendOutput::default();
    for (k, v) in h {
        match k.as_str().unwrap_or("") {
            "match" => {
                let Yaml::Hash(m) = v else {
                    bail!("match: expected a map")
                };
                for (mk, mv) in m {
                    match mk.as_str().unwrap_or("") {
                        "source" => a.match_source = Some(string(mv)?),
                        "rule" => a.match_rule = Some(string(mv)?),
                        "tags" => a.match_tags = strings(mv)?,
                        other => bail!("match: unknown key '{other}'"),
                    }
                }
            }
            "extra_output" => a.extra_output = Some(string(v)?),
            "suggested_output" => a.suggested_output = boolean(v)?,
            "extra_fields" => {
                let Yaml::Array(items) = v else {
                    bail!("extra_fields: expected a list")
                };
                for item in items {
                    match item {
                        Yaml::Hash(m) => {
                            for (fk, fv) in m {
                                a.extra_fields.push((string(fk)?, Some(string(fv)?)));
                            }
                        }
                        other => a.extra_fields.push((string(other)?, None)),
                    }
                }
            }
            other => bail!("unknown key '{other}'"),
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_as_yaml_and_name_bad_keys() {
        let c = Config::load(
            None,
            &[
                "rule_matching=all".into(),
                "priority=WARNING".into(),
                "json_output=false".into(),
                "rules_files=[/a, /b]".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.rule_matching, Matching::All);
        assert_eq!(c.priority, Priority::Warning);
        assert!(!c.json_output);
        assert_eq!(c.rules_files, [PathBuf::from("/a"), PathBuf::from("/b")]);
        let e = Config::load(None, &["rule_matchin=all".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("unknown key"), "{e:#}");
        let e = Config::load(None, &["json_output=maybe".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("true or false"), "{e:#}");
    }

    #[test]
    fn exporter_and_drop_sections_as_maps_or_dotted_keys() {
        let c = Config::load(
            None,
            &[
                "exporter={listen_address: '127.0.0.1:0', labels: [rule, pod]}".into(),
                "syscall_event_drops.actions=[log]".into(),
                "syscall_event_drops.threshold=0.5".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.exporter.listen_address, "127.0.0.1:0");
        assert_eq!(c.exporter.labels, [Label::Rule, Label::Pod]);
        assert!(c.exporter.enabled);
        assert!(c.syscall_event_drops.log && !c.syscall_event_drops.alert);
        assert_eq!(c.syscall_event_drops.threshold, 0.5);
        let e = Config::load(None, &["exporter.labels=[rule, podd]".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("unknown label 'podd'"), "{e:#}");
        let e = Config::load(None, &["syscall_event_drops.actions=[exit]".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("'exit'"), "{e:#}");
        let e = Config::load(None, &["exporter.bogus=1".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("unknown key"), "{e:#}");
    }

    #[test]
    fn append_output_entries() {
        let dir = std::env::temp_dir().join(format!("lanner-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("lanner.yaml");
        std::fs::write(
            &f,
            "append_output:\n  - match: {tags: [container]}\n    extra_output: \"on=%evt.hostname\"\n    extra_fields: [proc.pid, {who: \"%user.name\"}]\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), &[]).unwrap();
        assert_eq!(c.append_output.len(), 1);
        let a = &c.append_output[0];
        assert_eq!(a.match_tags, ["container"]);
        assert_eq!(a.extra_fields[0], ("proc.pid".into(), None));
        assert_eq!(a.extra_fields[1], ("who".into(), Some("%user.name".into())));
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[cfg(test)]
#[path = "config_input_tests.rs"]
mod input_tests;
