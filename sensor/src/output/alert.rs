//! Alerts as Falco writes them: one JSON object per line (`json_output: true`, keys and
//! options as falco.yaml's `json_include_*`), or the text line.

use std::io::{self, Write};

use lanner_rules::Alert;
use serde_json::{Map, Value};

use crate::config::Config;

#[derive(Clone, Debug)]
pub struct AlertFormat {
    pub json: bool,
    pub include_output: bool,
    pub include_tags: bool,
    pub include_output_fields: bool,
    pub include_message: bool,
    pub hostname: String,
}

impl AlertFormat {
    pub fn from_config(c: &Config, hostname: String) -> Self {
        Self {
            json: c.json_output,
            include_output: c.json_include_output_property,
            include_tags: c.json_include_tags_property,
            include_output_fields: c.json_include_output_fields_property,
            include_message: c.json_include_message_property,
            hostname,
        }
    }
}

/// The alert's JSON object. Keys come out sorted, as Falco's JSON library writes them.
pub fn to_json(a: &Alert, f: &AlertFormat) -> Value {
    let mut m = Map::new();
    m.insert("hostname".into(), f.hostname.clone().into());
    m.insert("priority".into(), a.priority.name().into());
    m.insert("rule".into(), (*a.rule).into());
    m.insert("source".into(), (*a.source).into());
    m.insert(
        "time".into(),
        lanner_rules::timefmt::rfc3339(a.time_ns).into(),
    );
    if f.include_output {
        m.insert("output".into(), a.output.clone().into());
    }
    if f.include_message {
        m.insert("message".into(), a.message.clone().into());
    }
    if f.include_tags {
        m.insert("tags".into(), a.tags.iter().cloned().collect());
    }
    if f.include_output_fields {
        m.insert(
            "output_fields".into(),
            Value::Object(a.output_fields.clone()),
        );
    }
    Value::Object(m)
}

/// Write one alert line.
pub fn write(out: &mut impl Write, a: &Alert, f: &AlertFormat) -> io::Result<()> {
    if f.json {
        serde_json::to_writer(&mut *out, &to_json(a, f))?;
    } else {
        // Falco passes the text line through a JSON string encoder and drops the quotes, so
        // control characters in an attacker-chosen command line cannot forge log lines.
        let quoted = Value::String(a.output.clone()).to_string();
        out.write_all(&quoted.as_bytes()[1..quoted.len() - 1])?;
    }
    out.write_all(b"\n")
}

/// Alerts' `hostname`: $FALCO_HOSTNAME (as Falco), else $NODE_NAME (the DaemonSet sets it),
/// else the kernel's host name.
pub fn default_hostname() -> String {
    for var in ["FALCO_HOSTNAME", "NODE_NAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
#[path = "alert_tests.rs"]
mod tests;
