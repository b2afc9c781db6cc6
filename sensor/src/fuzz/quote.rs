//! Rules files around a fuzzed condition or output. The text goes in as a YAML double-quoted
//! scalar with everything but printable ASCII escaped, so the loader reads back exactly the
//! fuzzed text, whatever it holds (quotes, line breaks, `#`, NULs, any character).

use std::fmt::Write as _;

use lanner_rules::EvtType;

/// `s` as a YAML double-quoted scalar.
pub fn yaml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// A rules file of one rule with this condition and output.
pub fn rule_file(condition: &str, output: &str) -> String {
    format!(
        "- rule: fuzz\n  desc: a fuzzed rule\n  condition: {}\n  output: {}\n  priority: WARNING\n  tags: [fuzz]\n",
        yaml_string(condition),
        yaml_string(output)
    )
}

/// A condition every event Lanner captures meets.
pub fn every_event_condition() -> String {
    let names: Vec<&str> = EvtType::ALL.iter().map(|t| t.name()).collect();
    format!("evt.type in ({})", names.join(", "))
}
