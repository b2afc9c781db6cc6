//! Event type names in conditions. A name Falco does not know is a load error with Falco's
//! message, whatever the operator; a name Falco knows that Lanner does not capture loads, and
//! its rule never fires. The invalid name and the two rules files of the `skip-if-unknown-filter`
//! tests are Falco's own (falcosecurity/testing `tests/data/rules/falco.go`:
//! `skip_unknown_error.yaml`, `skip_unknown_evt.yaml`; `tests/falco/legacy_test.go` expects
//! "unknown event type some_invalid_event").

use std::sync::Arc;

use crate::{EvtSet, Options, loader::Source};

fn load(text: &str) -> Result<crate::Loaded, Vec<String>> {
    let src = [Source {
        name: Arc::from("t.yaml"),
        text: text.to_string(),
    }];
    crate::load(&src, &Options::default()).map_err(|e| e.iter().map(|d| d.to_string()).collect())
}

fn rule(condition: &str) -> String {
    format!(
        "- rule: r\n  desc: d\n  condition: '{}'\n  output: o\n  priority: INFO\n",
        condition.replace('\'', "''")
    )
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("loaded without errors:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_event_type_is_a_load_error_with_falcos_message() {
    let e = errors(
        "- rule: r\n  desc: d\n  condition: evt.type=some_invalid_event\n  output: o\n  priority: INFO\n",
    );
    assert_eq!(
        e,
        ["t.yaml:3:23: error: unknown event type some_invalid_event"]
    );
}

/// Falco checks each value given to `evt.type`, for every operator and through transformers:
/// a name that is only part of a known one (`ope`) or a pattern (`open*`) is refused too.
#[test]
fn every_operator_checks_its_values() {
    for (cond, bad) in [
        (
            "evt.type in (open, some_invalid_event)",
            "some_invalid_event",
        ),
        ("evt.type != some_invalid_event", "some_invalid_event"),
        ("not evt.type = some_invalid_event", "some_invalid_event"),
        ("evt.type intersects (execve, bogus)", "bogus"),
        ("evt.type = execve and evt.type != bogus", "bogus"),
        (
            "evt.type startswith some_invalid_event",
            "some_invalid_event",
        ),
        ("evt.type contains ope", "ope"),
        ("evt.type glob 'open*'", "open*"),
        ("evt.type pmatch (bogus)", "bogus"),
        ("tolower(evt.type) = OPEN", "OPEN"),
        ("evt.type = EXECVE", "EXECVE"),
    ] {
        let e = errors(&rule(cond));
        assert_eq!(e.len(), 1, "{cond}: {e:?}");
        assert!(
            e[0].contains(&format!("error: unknown event type {bad}")),
            "{cond}: {e:?}"
        );
    }
}

#[test]
fn a_name_from_a_list_is_reported_at_the_list() {
    let e = errors(
        "- list: types\n  items: [open, bogus_evt]\n\
         - rule: r\n  desc: d\n  condition: evt.type in (types)\n  output: o\n  priority: INFO\n",
    );
    assert_eq!(
        e,
        ["t.yaml:5:27: error: unknown event type bogus_evt (near 'types')"]
    );
}

/// Known to Falco, not captured by Lanner: loads, and the rule can match no event (`-L`
/// reports it as never firing); negated, it matches every type.
#[test]
fn a_known_name_lanner_does_not_capture_loads_and_never_fires() {
    let text = "- rule: opens\n  desc: d\n  condition: evt.type in (chdir, fchdir, read)\n  output: o\n  priority: INFO\n\
                - rule: not-open\n  desc: d\n  condition: evt.type != chdir\n  output: o\n  priority: INFO\n\
                - rule: aliases\n  desc: d\n  condition: evt.type in (umount, fork, vfork, clone3)\n  output: o\n  priority: INFO\n";
    let loaded = load(text).expect("loads");
    let types = |name: &str| {
        let rules = loaded.ruleset.rules();
        rules.iter().find(|r| &*r.name == name).unwrap().evt_types
    };
    assert_eq!(types("opens"), EvtSet::NONE);
    assert_eq!(types("not-open"), EvtSet::ALL);
    let aliases: Vec<_> = types("aliases").iter().map(|t| t.name()).collect();
    assert_eq!(aliases, ["umount2", "clone"]);
}

/// As in Falco, a macro is checked where a rule uses it: an unused one loads.
#[test]
fn a_macro_is_checked_where_it_is_used() {
    let m = "- macro: bad\n  condition: evt.type = some_invalid_event\n";
    let unused = format!("{m}{}", rule("proc.name = x"));
    load(&unused).expect("an unused macro is not compiled");
    let used = format!("{m}{}", rule("bad and proc.name = x"));
    assert_eq!(
        errors(&used),
        ["t.yaml:2:25: error: unknown event type some_invalid_event"]
    );
}

const SKIP_UNKNOWN_ERROR: &str = "
- rule: Contains Unknown Event And Not Skipping (field)
  desc: Contains an unknown event
  condition: evt.type=open and proc.nobody=cat
  output: Never
  skip-if-unknown-filter: false
  priority: INFO

- rule: Contains Unknown Event And Not Skipping (evt type)
  desc: Contains an unknown event
  condition: evt.type=some_invalid_event
  output: Never
  skip-if-unknown-filter: false
  priority: INFO

- rule: Contains Unknown Event And Not Skipping (output)
  desc: Contains an unknown event
  condition: evt.type=open
  output: proc.nobody=%proc.nobody
  skip-if-unknown-filter: false
  priority: INFO
";

const SKIP_UNKNOWN_EVT: &str = "
- rule: Contains Unknown Event And Skipping (field)
  desc: Contains an unknown event
  condition: evt.type=open and proc.nobody=cat
  output: Never
  skip-if-unknown-filter: true
  priority: INFO

- rule: Contains Unknown Event And Skipping (evt type)
  desc: Contains an unknown event
  condition: evt.type=some_invalid_event
  output: Never
  skip-if-unknown-filter: true
  priority: INFO

- rule: Contains Unknown Event And Skipping (output)
  desc: Contains an unknown event
  condition: evt.type=open
  output: proc.nobody=%proc.nobody
  skip-if-unknown-filter: true
  priority: INFO

- rule: Legit Rule (output)
  desc: A legit rule
  condition: evt.type=open
  output: Never
  priority: INFO
";

/// Falco stops at the first error; Lanner reports each, the event type's among them.
#[test]
fn falcos_skip_unknown_error_file_is_refused() {
    let e = errors(SKIP_UNKNOWN_ERROR);
    assert!(
        e.iter()
            .any(|e| e.ends_with("error: unknown event type some_invalid_event")),
        "{e:?}"
    );
    assert_eq!(e.len(), 3, "{e:?}");
}

/// `skip-if-unknown-filter: true` skips the rule with a warning, for an unknown event type as
/// for an unknown field; the other rules load.
#[test]
fn falcos_skip_unknown_evt_file_loads_with_warnings() {
    let loaded = load(SKIP_UNKNOWN_EVT).expect("loads");
    let names: Vec<_> = loaded
        .ruleset
        .rules()
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names, ["Legit Rule (output)"]);
    let skipped = |rule: &str, why: &str| {
        loaded
            .warnings
            .iter()
            .any(|w| w.message == format!("rule '{rule}' skipped (skip-if-unknown-filter): {why}"))
    };
    assert!(
        skipped(
            "Contains Unknown Event And Skipping (evt type)",
            "unknown event type some_invalid_event"
        ),
        "{:?}",
        loaded.warnings
    );
    assert!(skipped(
        "Contains Unknown Event And Skipping (field)",
        "unknown field"
    ));
    assert!(skipped(
        "Contains Unknown Event And Skipping (output)",
        "unknown field"
    ));
}
