//! The alerts "lanner, official rules" wrote in a run of `cargo xtask bench`: counted after
//! the run from its output file (never during it, so the count costs the run nothing), and
//! what each workload is expected to raise.
//!
//! The sensor sees the whole host, so an alert is the workload's only when one of its output
//! fields names `lanner-workload` (the process, its parent, a command line): the official
//! rules' outputs name the process and usually its parent.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// The workload's command name, as `proc.name`/`proc.pname` show it.
const WORKLOAD_COMM: &str = "lanner-workload";
/// The file `open-sensitive` reads.
pub const SENSITIVE_FILE: &str = "/etc/shadow";
/// The official rule each of its opens must raise (rule_matching `first`: one alert per event).
pub const SENSITIVE_RULE: &str = "Read sensitive file untrusted";

/// Alerts of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alerts {
    /// Every alert line (the whole host's).
    pub total: u64,
    /// The workload's alerts, per rule.
    pub workload: BTreeMap<String, u64>,
    /// The workload's alerts about `SENSITIVE_FILE` (`fd.name`).
    pub sensitive: u64,
    /// Lines that were not an alert's JSON (none expected).
    pub unreadable: u64,
}

impl Alerts {
    pub fn add(&mut self, other: &Alerts) {
        self.total += other.total;
        for (rule, n) in &other.workload {
            *self.workload.entry(rule.clone()).or_default() += n;
        }
        self.sensitive += other.sensitive;
        self.unreadable += other.unreadable;
    }
}

/// Alerts a workload of `iterations` must raise with the official rules, and of which rule.
pub fn expected(workload: &str, iterations: u64) -> Option<(u64, &'static str)> {
    (workload == "open-sensitive").then_some((iterations, SENSITIVE_RULE))
}

/// Counts the alerts of a JSON-lines output file.
pub fn count(path: &Path) -> Result<Alerts> {
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut alerts = Alerts::default();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.with_context(|| format!("read {}", path.display()))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(alert) = serde_json::from_slice::<Value>(&line) else {
            alerts.unreadable += 1;
            continue;
        };
        let (Some(rule), Some(fields)) =
            (alert["rule"].as_str(), alert["output_fields"].as_object())
        else {
            alerts.unreadable += 1;
            continue;
        };
        alerts.total += 1;
        let names_workload = fields
            .values()
            .any(|v| v.as_str().is_some_and(|s| s.contains(WORKLOAD_COMM)));
        if names_workload {
            *alerts.workload.entry(rule.to_owned()).or_default() += 1;
            if fields.get("fd.name").and_then(Value::as_str) == Some(SENSITIVE_FILE) {
                alerts.sensitive += 1;
            }
        }
    }
    Ok(alerts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_workloads_alerts_by_rule() {
        let dir = std::env::temp_dir().join(format!("xtask-alerts.{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("alerts.json");
        let lines = [
            r#"{"rule":"Read sensitive file untrusted","output_fields":{"fd.name":"/etc/shadow","proc.name":"lanner-workload"}}"#,
            r#"{"rule":"Read sensitive file untrusted","output_fields":{"fd.name":"/etc/shadow","proc.name":"cat"}}"#,
            r#"{"rule":"Some exec rule","output_fields":{"proc.name":"true","proc.pname":"lanner-workload","proc.pid":7}}"#,
            "not json",
            "",
        ];
        std::fs::write(&file, lines.join("\n")).unwrap();
        let alerts = count(&file).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(alerts.total, 3);
        assert_eq!(alerts.sensitive, 1);
        assert_eq!(alerts.unreadable, 1);
        assert_eq!(alerts.workload["Read sensitive file untrusted"], 1);
        assert_eq!(alerts.workload["Some exec rule"], 1);
        let mut sum = alerts.clone();
        sum.add(&alerts);
        assert_eq!((sum.total, sum.sensitive), (6, 2));
        assert_eq!(expected("open-sensitive", 5), Some((5, SENSITIVE_RULE)));
        assert_eq!(expected("open", 5), None);
    }
}
