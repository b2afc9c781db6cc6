//! Configuration: falco.yaml's keys that Lanner honours, from an optional YAML file (`-c`),
//! then `-o key=value` overrides (the value is YAML: `-o rule_matching=all`,
//! `-o 'rules_files=[/etc/lanner/rules.d]'`). Unknown keys and wrong types are errors that
//! name the key and where it came from.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use lanner_rules::{Matching, Priority, ruleset::AppendOutput};
use yaml_rust2::{Yaml, YamlLoader};

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
];

impl Config {
    /// Defaults, then `file` if given, then each `key=value` override.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> anyhow::Result<Config> {
        let mut c = Config::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            let docs = YamlLoader::load_from_str(&text).map_err(|e| {
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
            let v = YamlLoader::load_from_str(value)
                .map_err(|e| anyhow::anyhow!("-o {o}: {}", e.info()))?
                .into_iter()
                .next()
                .unwrap_or(Yaml::Null);
            c.set(key.trim(), &v).with_context(|| format!("-o {o}"))?;
        }
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
            _ => {
                let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
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

fn string(v: &Yaml) -> anyhow::Result<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Ok(s.clone()),
        Yaml::Integer(n) => Ok(n.to_string()),
        Yaml::Boolean(b) => Ok(b.to_string()),
        _ => bail!("expected a string"),
    }
}

fn boolean(v: &Yaml) -> anyhow::Result<bool> {
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
