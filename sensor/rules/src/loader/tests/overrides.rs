//! `override: {key: append|replace}` for every key that allows it, and its errors.

use super::{load_all, rule};
use crate::priority::Priority;

const BASE: &str = r#"
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve
- rule: R
  desc: base desc
  condition: spawned
  output: base output
  priority: WARNING
  tags: [a]
  exceptions:
    - name: known
      fields: proc.name
      values: [cron]
"#;

fn with(over: &str) -> super::LoadOutcome {
    let o = load_all(&[BASE, over]);
    assert!(o.errors.is_empty(), "{}", super::show(&o.errors));
    o
}

#[test]
fn lists_and_macros() {
    let o = with(
        "- list: shells\n  items: [zsh]\n  override:\n    items: append\n\
         - macro: spawned\n  condition: or evt.type = execveat\n  override:\n    condition: append\n",
    );
    assert_eq!(o.collected.lists["shells"].items, ["bash", "sh", "zsh"]);
    assert_eq!(
        o.collected.macros["spawned"].condition.text,
        "evt.type = execve or evt.type = execveat"
    );
    let o = with(
        "- list: shells\n  items: [zsh]\n  override:\n    items: replace\n\
         - macro: spawned\n  condition: evt.type = open\n  override:\n    condition: replace\n",
    );
    assert_eq!(o.collected.lists["shells"].items, ["zsh"]);
    assert_eq!(
        o.collected.macros["spawned"].condition.text,
        "evt.type = open"
    );
}

#[test]
fn rule_appends() {
    let o = with(
        r#"
- rule: R
  condition: and proc.tty != 0
  output: more output
  desc: more desc
  tags: [b]
  exceptions:
    - name: known
      values: [anacron]
    - name: new
      fields: [proc.pname]
      values: [[systemd]]
  override:
    condition: append
    output: append
    desc: append
    tags: append
    exceptions: append
"#,
    );
    let r = rule(&o, "R");
    assert_eq!(
        r.condition.text,
        "(spawned and proc.tty != 0) and not (proc.name in (cron, anacron)) and not (( proc.pname = systemd))"
    );
    assert_eq!(r.output.text, "base output more output");
    assert_eq!(r.desc, "base desc more desc");
    assert_eq!(r.tags.iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(r.priority, Priority::Warning);
}

#[test]
fn rule_replaces() {
    let o = with(
        r#"
- rule: R
  condition: evt.type = open
  output: new output
  desc: new desc
  priority: CRITICAL
  tags: [z]
  enabled: false
  skip-if-unknown-filter: true
  warn_evttypes: false
  capture: true
  capture_duration: 5000
  exceptions:
    - name: other
      fields: [proc.name, fd.name]
      comps: [=, startswith]
      values: [[a, /tmp]]
  override:
    condition: replace
    output: replace
    desc: replace
    priority: replace
    tags: replace
    enabled: replace
    skip-if-unknown-filter: replace
    warn_evttypes: replace
    capture: replace
    capture_duration: replace
    exceptions: replace
"#,
    );
    let r = rule(&o, "R");
    assert_eq!(
        r.condition.text,
        "(evt.type = open) and not (( proc.name = a and  fd.name startswith /tmp))"
    );
    assert_eq!(r.output.text, "new output");
    assert_eq!(r.desc, "new desc");
    assert_eq!(r.priority, Priority::Critical);
    assert_eq!(r.tags.iter().collect::<Vec<_>>(), ["z"]);
    assert!(!r.enabled && r.skip_if_unknown_filter);
    assert_eq!(
        r.exception_fields.iter().collect::<Vec<_>>(),
        ["fd.name", "proc.name"]
    );
}

#[test]
fn append_and_replace_in_one_item_appends_first() {
    let o = with(
        "- rule: R\n  condition: and x\n  enabled: false\n  override:\n    condition: append\n    enabled: replace\n",
    );
    let r = rule(&o, "R");
    assert!(r.condition.text.starts_with("(spawned and x)"));
    assert!(!r.enabled);
}

#[test]
fn the_toggle_override_form() {
    let o = with("- rule: R\n  enabled: false\n  override:\n    enabled: replace\n");
    assert!(!rule(&o, "R").enabled);
    assert!(
        o.collected.warnings.is_empty(),
        "{:?}",
        o.collected.warnings
    );
}

fn err(over: &str) -> String {
    let o = load_all(&[BASE, over]);
    assert_eq!(o.errors.len(), 1, "{}", super::show(&o.errors));
    o.errors[0].to_string()
}

#[test]
fn override_errors() {
    // A key written but not named under override.
    let e = err("- rule: R\n  condition: and x\n  output: o\n  override:\n    condition: append\n");
    assert_eq!(
        e,
        "b.yaml:3:3: error: Unexpected key 'output': no corresponding entry under 'override' is defined. (near 'output')"
    );
    // A key named under override but not written.
    let e = err(
        "- rule: R\n  condition: and x\n  override:\n    condition: append\n    output: append\n",
    );
    assert!(
        e.contains("An append override for 'output' was specified but 'output' is not defined"),
        "{e}"
    );
    // Both `append: true` and `override`.
    let e =
        err("- rule: R\n  condition: and x\n  append: true\n  override:\n    condition: append\n");
    assert!(
        e.contains("Keys 'override' and 'append: true' cannot be used together"),
        "{e}"
    );
    // Unknown rule.
    let e = err("- rule: Nope\n  condition: and x\n  override:\n    condition: append\n");
    assert!(e.contains("no rule by that name already exists"), "{e}");
    let e = err("- rule: Nope\n  priority: INFO\n  override:\n    priority: replace\n");
    assert!(
        e.contains("An 'override.<key>: replace' to a rule was requested but no rule by that name"),
        "{e}"
    );
    // Keys that cannot be appended or replaced, and bad operations.
    let e = err("- rule: R\n  priority: INFO\n  override:\n    priority: append\n");
    assert!(
        e.starts_with(
            "b.yaml:4:5: error: Key 'priority' cannot be appended to, use 'replace' instead"
        ),
        "{e}"
    );
    let e = err("- rule: R\n  source: x\n  override:\n    source: replace\n");
    assert!(e.contains("Key 'source' cannot be replaced"), "{e}");
    let e = err("- rule: R\n  output: x\n  override:\n    output: prepend\n");
    assert!(
        e.contains("Invalid override operation for key 'output': 'prepend'. Allowed values are: append replace"),
        "{e}"
    );
    let e = err("- list: shells\n  items: [a]\n  override:\n    items: merge\n");
    assert!(
        e.contains("Invalid override operation for key 'items'"),
        "{e}"
    );
    let e = err(
        "- macro: spawned\n  condition: a\n  append: true\n  override:\n    condition: append\n",
    );
    assert!(e.contains("cannot be used together"), "{e}");
}
