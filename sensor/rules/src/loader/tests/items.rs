//! Items, keys and their types; redefinition, legacy `append`, the `enabled` toggle, sources,
//! engine versions, file shape.

use super::{error, load_all, load_one, ok, rule, warnings_with};
use crate::{loader::ENGINE_VERSION, priority::Priority};

const BASE: &str = r#"
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve
- rule: First
  desc: first rule
  condition: spawned and proc.name in (shells)
  output: "first %proc.name"
  priority: WARNING
- rule: Second
  desc: second rule
  condition: spawned
  output: second
  priority: info
  tags: [b, a, b]
"#;

#[test]
fn a_full_rule_reads_every_key() {
    let o = ok(BASE);
    let r = rule(&o, "Second");
    assert_eq!(r.priority, Priority::Informational);
    assert_eq!(r.tags.iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(r.source, "syscall");
    assert!(r.enabled && !r.skip_if_unknown_filter);
    assert_eq!(rule(&o, "First").output.text, "first %proc.name");
    assert_eq!(rule(&o, "First").priority, Priority::Warning);
}

#[test]
fn a_redefined_rule_is_replaced_and_keeps_its_place() {
    let o = load_all(&[
        BASE,
        "- rule: First\n  desc: again\n  condition: evt.type = open\n  output: x\n  priority: ERROR\n",
    ]);
    assert!(o.errors.is_empty());
    let names: Vec<_> = o.collected.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["First", "Second"]);
    let r = rule(&o, "First");
    assert_eq!(r.condition.text, "evt.type = open");
    assert_eq!(r.priority, Priority::Error);
    assert_eq!(r.desc, "again");
    // Position of the first definition, condition mapped to the second file.
    assert_eq!(r.pos.to_string(), "a.yaml:6:3");
    assert_eq!(
        r.condition.map.locate(0).unwrap().to_string(),
        "b.yaml:3:14"
    );
}

#[test]
fn redefining_with_another_source_is_an_error() {
    let e = error(&format!(
        "{BASE}- rule: First\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  source: k8s_audit\n"
    ));
    assert!(
        e.contains("Rule has been re-defined with a different source"),
        "{e}"
    );
}

#[test]
fn legacy_append_to_lists_macros_and_rules() {
    let o = load_all(&[
        BASE,
        r#"
- list: shells
  items: [zsh]
  append: true
- macro: spawned
  condition: or evt.type = execveat
  append: true
- rule: First
  condition: and proc.tty != 0
  append: true
"#,
    ]);
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    assert_eq!(o.collected.lists["shells"].items, ["bash", "sh", "zsh"]);
    assert_eq!(
        o.collected.macros["spawned"].condition.text,
        "evt.type = execve or evt.type = execveat"
    );
    let r = rule(&o, "First");
    assert_eq!(
        r.condition.text,
        "spawned and proc.name in (shells) and proc.tty != 0"
    );
    let at = r.condition.text.find("and proc.tty").unwrap();
    assert_eq!(
        r.condition.map.locate(at).unwrap().to_string(),
        "b.yaml:9:14"
    );
    let w = warnings_with(&o, "'append' key is deprecated");
    assert_eq!(w.len(), 3);
    assert_eq!(w[0].pos.to_string(), "b.yaml:4:3");
}

#[test]
fn appending_to_nothing_is_an_error() {
    assert!(error("- list: l\n  items: [a]\n  append: true\n").contains("no list by that name"));
    assert!(
        error("- macro: m\n  condition: a\n  append: true\n").contains("no macro by that name")
    );
    let e = error("- rule: R\n  condition: a\n  append: true\n");
    assert!(e.contains("Rule uses 'append'"), "{e}");
    assert!(e.starts_with("a.yaml:1:3: error:"), "{e}");
}

#[test]
fn the_enabled_only_form_toggles_a_rule() {
    let o = load_all(&[BASE, "- rule: Second\n  enabled: false\n"]);
    assert!(o.errors.is_empty());
    assert!(!rule(&o, "Second").enabled);
    assert_eq!(warnings_with(&o, "standalone 'enabled' key").len(), 1);
    let e = error("- rule: Nope\n  enabled: false\n");
    assert!(
        e.contains("Rule has 'enabled' key but no rule by that name already exists"),
        "{e}"
    );
    let e = error("- rule: Nope\n  tags: [a]\n");
    assert!(e.contains("Item has no mapping for key 'enabled'"), "{e}");
}

#[test]
fn a_disabled_rule_is_kept() {
    let o = ok(
        "- rule: Off\n  desc: d\n  condition: c\n  output: o\n  priority: DEBUG\n  enabled: false\n",
    );
    assert!(!rule(&o, "Off").enabled);
}

#[test]
fn rules_of_another_source_are_skipped_with_one_warning() {
    let o = ok(r#"
- rule: K8s thing
  desc: d
  condition: ka.verb = create and nonsense((
  output: o
  priority: INFO
  source: k8s_audit
- rule: K8s thing
  override:
    condition: append
  condition: and more
- rule: Mine
  desc: d
  condition: c
  output: o
  priority: INFO
"#);
    assert_eq!(o.collected.rules.len(), 1);
    assert_eq!(o.collected.rules[0].name, "Mine");
    let w = warnings_with(&o, "which Lanner does not have");
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].to_string(),
        "a.yaml:2:3: warning: rule 'K8s thing' is for source 'k8s_audit', which Lanner does not \
         have; skipped (near 'k8s_audit')"
    );
}

#[test]
fn required_keys_and_types_are_checked_at_the_value() {
    let r = |extra: &str| format!("- rule: R\n  desc: d\n  condition: c\n  output: o\n{extra}");
    let e = error(&r("  priority: LOUD\n"));
    assert!(e.starts_with("a.yaml:5:13: error: Invalid priority"), "{e}");
    assert!(e.ends_with("(near 'LOUD')"), "{e}");
    let e = error(&r("  priority: INFO\n  enabled: maybe\n"));
    assert!(
        e.starts_with("a.yaml:6:12: error:") && e.contains("'enabled'"),
        "{e}"
    );
    let e = error(&r("  priority: INFO\n  tags: notalist\n"));
    assert!(
        e.starts_with("a.yaml:6:9: error: Value for key 'tags' is not a sequence"),
        "{e}"
    );
    let e = error(&r("  priority: INFO\n  tags: [a, [b]]\n"));
    assert!(
        e.starts_with("a.yaml:6:13: error: Sequence value for key 'tags'"),
        "{e}"
    );
    let e = error(&r(""));
    assert!(e.contains("Item has no mapping for key 'priority'"), "{e}");
    let e = error("- rule: R\n  desc: d\n  condition:\n  output: o\n  priority: INFO\n");
    assert!(
        e.starts_with("a.yaml:3:3: error: Mapping for key 'condition' is empty"),
        "{e}"
    );
    let e = error("- rule: R\n  desc: d\n  condition: ''\n  output: o\n  priority: INFO\n");
    assert!(
        e.contains("Value for key 'condition' must be non-empty"),
        "{e}"
    );
    let e = error("- list: l\n  items: a\n");
    assert!(
        e.starts_with("a.yaml:2:10: error: Value for key 'items' is not a sequence"),
        "{e}"
    );
    let e = error("- macro: m\n  condition: [a]\n");
    assert!(
        e.contains("Value for key 'condition' is not a scalar value"),
        "{e}"
    );
}

#[test]
fn unknown_keys_and_items_are_warnings_at_their_place() {
    let o = ok(
        "- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  conditon: typo\n- what: x\n",
    );
    let w = warnings_with(&o, "Unknown key");
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].to_string(),
        "a.yaml:6:3: warning: Unknown key 'conditon' in rule 'R'; ignored (near 'conditon')"
    );
    let w = warnings_with(&o, "Unknown top level item");
    assert_eq!(w[0].pos.to_string(), "a.yaml:7:3");
    let o = ok("- macro: m\n  condition: a\n  condition: b\n");
    assert_eq!(o.collected.macros["m"].condition.text, "a");
    let w = warnings_with(&o, "written twice");
    assert_eq!(w[0].pos.to_string(), "a.yaml:3:3");
}

#[test]
fn required_engine_version() {
    let o = load_all(&[
        "- required_engine_version: 0.57.0\n",
        "- required_engine_version: 12\n",
        "- required_engine_version: 0.60.1\n",
    ]);
    assert!(o.errors.is_empty());
    assert_eq!(
        o.collected.required_engine_version.as_deref(),
        Some("0.60.1")
    );

    let (maj, min, _) = ENGINE_VERSION;
    let e = error(&format!("- required_engine_version: {maj}.{}.0\n", min + 1));
    assert!(
        e.starts_with(&format!(
            "a.yaml:1:28: error: Rules require engine version 0.{}.0, but engine version is 0.{min}.0",
            min + 1
        )),
        "{e}"
    );
    assert!(
        error("- required_engine_version: 1.0.0\n").contains("Rules require engine version 1.0.0")
    );
    assert!(error("- required_engine_version: 64\n").contains("engine version 0.64.0"));
    assert!(
        error("- required_engine_version: soon\n")
            .contains("Unable to parse engine version 'soon'")
    );
}

#[test]
fn required_plugin_versions_are_validated_then_ignored() {
    ok(
        "- required_plugin_versions:\n  - name: container\n    version: 0.4.0\n    alternatives:\n      - name: other\n        version: 1.0.0\n",
    );
    assert!(error("- required_plugin_versions: container\n").contains("must be a sequence"));
    assert!(
        error("- required_plugin_versions:\n  - name: c\n")
            .contains("no mapping for key 'version'")
    );
    assert!(
        error("- required_plugin_versions:\n  - name: c\n    version: x\n")
            .contains("Invalid required version 'x'")
    );
}

#[test]
fn file_shapes() {
    assert!(error("rule: x\n").contains("Rules content is not yaml array of objects"));
    assert!(error("just text\n").contains("Rules content is not yaml"));
    assert!(error("- just text\n").starts_with("a.yaml:1:3: error: Unexpected element type"));
    ok("");
    ok("---\n---\n- list: a\n  items: []\n...\n");
    ok("- ~\n-\n- list: a\n  items: []\n");
}

#[test]
fn a_file_stops_at_its_first_error_and_the_next_file_still_loads() {
    let o = load_all(&[
        "- list: a\n  items: [x]\n- list: b\n  items: 3\n- list: c\n  items: [y]\n",
        "- list: d\n  items: [z]\n",
    ]);
    assert_eq!(o.errors.len(), 1);
    let lists = &o.collected.lists;
    assert!(lists.contains_key("a") && lists.contains_key("d"));
    assert!(!lists.contains_key("b") && !lists.contains_key("c"));
}

#[test]
fn lists_expand_lists_defined_before_them() {
    let o = ok(r#"
- list: late_user
  items: [inner, x]
- list: inner
  items: [a, '"b c"']
- list: user
  items: [inner, y]
- list: late_user
  items: [w]
  append: true
"#);
    let l = &o.collected.lists;
    assert_eq!(l["user"].items, ["a", "\"b c\"", "y"]);
    // Appended after `inner` existed: `inner` is expanded now.
    assert_eq!(l["late_user"].items, ["a", "\"b c\"", "x", "w"]);
    assert!(l["late_user"].order < l["inner"].order);
}

#[test]
fn invalid_names_are_warnings() {
    let o = ok("- list: 'a b'\n  items: []\n- macro: 1m\n  condition: x\n");
    assert_eq!(warnings_with(&o, "List has an invalid name").len(), 1);
    assert_eq!(warnings_with(&o, "Macro has an invalid name").len(), 1);
    let _ = load_one("- macro: m\n  condition: x\n");
}
