//! Alerts as Falco writes them: one JSON object per line (`json_output: true`, keys and
//! options as falco.yaml's `json_include_*`), or the text line.

use std::{
    cell::RefCell,
    io::{self, Write},
};

use lanner_rules::Alert;
#[cfg(test)]
use serde::{Serialize, Serializer, ser::SerializeMap as _};

use super::jsonw;
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

/// The alert's JSON object through serde_json: the reference the tests hold the written line
/// (`jsonw`) to. Keys in sorted order, as Falco's JSON library writes them.
#[cfg(test)]
pub struct AlertJson<'a> {
    pub alert: &'a Alert,
    pub format: &'a AlertFormat,
}

#[cfg(test)]
impl Serialize for AlertJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (a, f) = (self.alert, self.format);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("hostname", &f.hostname)?;
        if f.include_message {
            m.serialize_entry("message", &a.message)?;
        }
        if f.include_output {
            m.serialize_entry("output", &a.output)?;
        }
        if f.include_output_fields {
            m.serialize_entry("output_fields", &a.output_fields)?;
        }
        m.serialize_entry("priority", a.priority.name())?;
        m.serialize_entry("rule", &*a.rule)?;
        m.serialize_entry("source", &*a.source)?;
        if f.include_tags {
            m.serialize_entry("tags", &*a.tags)?;
        }
        m.serialize_entry("time", &lanner_rules::timefmt::rfc3339(a.time_ns))?;
        m.end()
    }
}

/// The alert's JSON object as a value (the tests compare it with the line written).
#[cfg(test)]
pub fn to_json(a: &Alert, f: &AlertFormat) -> serde_json::Value {
    serde_json::to_value(AlertJson {
        alert: a,
        format: f,
    })
    .unwrap_or_default()
}

/// The alert as one JSON line's text (without the newline), for the sinks.
pub fn json_text(a: &Alert, f: &AlertFormat) -> String {
    let mut text = String::with_capacity(jsonw::capacity(a));
    jsonw::alert_json(&mut text, a, f);
    text
}

thread_local! {
    /// The line being written, kept between alerts: a fresh buffer of this size cost as much
    /// as writing the alert's strings.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Write one alert line; `json` is the alert's JSON text when the caller made it already.
pub fn write(
    out: &mut impl Write,
    a: &Alert,
    f: &AlertFormat,
    json: Option<&str>,
) -> io::Result<()> {
    if f.json {
        match json {
            Some(text) => out.write_all(text.as_bytes())?,
            None => LINE.with_borrow_mut(|line| {
                line.clear();
                jsonw::alert_json(line, a, f);
                out.write_all(line.as_bytes())
            })?,
        }
    } else {
        // Falco passes the text line through a JSON string encoder and drops the quotes, so
        // control characters in an attacker-chosen command line cannot forge log lines.
        let mut quoted = String::with_capacity(a.output.len() + 2);
        jsonw::string(&mut quoted, &a.output);
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
