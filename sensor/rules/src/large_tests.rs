//! Large but legal rules files load, in time linear in their size (each test prints how long
//! it took; nothing asserts a time), and evaluate as written: long conditions, many rules,
//! many appends, long shared prefixes (which `factor` must not turn into deep nesting).

use std::{fmt::Write as _, sync::Arc, time::Instant};

use crate::{EvtType, Matching, Options, Ruleset, loader::Source, testing::MapEvent};

fn load(what: &str, text: String) -> Ruleset {
    let src = [Source {
        name: Arc::from("large.yaml"),
        text,
    }];
    let options = Options {
        matching: Matching::All,
        ..Options::default()
    };
    let started = Instant::now();
    let loaded = crate::load(&src, &options).unwrap_or_else(|e| panic!("{}", e[0]));
    println!("{what}: loaded in {:?}", started.elapsed());
    loaded.ruleset
}

fn rule(name: &str, condition: &str) -> String {
    format!(
        "- rule: {name}\n  desc: d\n  condition: {condition}\n  output: o\n  priority: WARNING\n"
    )
}

/// The rules `ev` fires, in order.
fn fired(rs: &Ruleset, ev: &MapEvent) -> Vec<String> {
    let mut out = Vec::new();
    rs.evaluate(ev, |r| out.push(r.name.to_string()));
    out
}

fn exec(name: &str, pid: i64, cmdline: &str) -> MapEvent {
    MapEvent::new(EvtType::Execve)
        .str("proc.name", name)
        .int("proc.pid", pid)
        .str("proc.cmdline", cmdline)
}

#[test]
fn a_condition_of_20000_terms_loads() {
    let terms: Vec<String> = (0..20_000)
        .map(|i| format!("proc.pid != {i} and proc.name != n{i}"))
        .collect();
    let rs = load(
        "20,000-term condition",
        rule(
            "long",
            &format!("evt.type = execve and {}", terms.join(" and ")),
        ),
    );
    assert_eq!(fired(&rs, &exec("sh", 20_000, "")), ["long"]);
    assert!(fired(&rs, &exec("sh", 19_999, "")).is_empty());
    assert!(fired(&rs, &exec("n12345", 30_000, "")).is_empty());
}

#[test]
fn a_file_of_5000_rules_and_macros_loads() {
    let mut text = String::new();
    for i in 0..5_000 {
        let _ = write!(
            text,
            "- macro: m{i}\n  condition: proc.cmdline contains x{i}\n{}",
            rule(
                &format!("r{i}"),
                &format!("evt.type = execve and m{i} and proc.name = p{i}")
            )
        );
        // Half of them need no process name: each name's candidates are all of those.
        text += &rule(
            &format!("any{i}"),
            &format!("evt.type = execve and proc.pid = {i}"),
        );
    }
    let rs = load("5,000 rules + 5,000 macros + 5,000 rules", text);
    assert_eq!(rs.rules().len(), 10_000);
    assert_eq!(
        fired(&rs, &exec("p4321", 17, "run x4321")),
        ["any17", "r4321"]
    );
    assert!(fired(&rs, &exec("p4321", 5_000, "run x4322")).is_empty());
}

#[test]
fn twenty_thousand_appends_to_one_rule_load() {
    let mut text = rule("r", "evt.type = execve");
    for i in 0..10_000 {
        let _ = write!(
            text,
            "- rule: r\n  exceptions:\n    - name: e{i}\n      fields: proc.name\n      values: [v{i}]\n  override:\n    exceptions: append\n"
        );
    }
    for i in 0..10_000 {
        let _ = write!(
            text,
            "- rule: r\n  condition: and proc.pid != {i}\n  override:\n    condition: append\n"
        );
    }
    let rs = load("10,000 exception appends + 10,000 condition appends", text);
    assert_eq!(fired(&rs, &exec("sh", 10_000, "")), ["r"]);
    assert!(fired(&rs, &exec("v9999", 10_000, "")).is_empty());
    assert!(fired(&rs, &exec("sh", 123, "")).is_empty());
}

#[test]
fn branches_sharing_a_prefix_of_5000_checks_load_and_evaluate() {
    let prefix: Vec<String> = (0..5_000).map(|i| format!("proc.pid != {i}")).collect();
    let prefix = prefix.join(" and ");
    let rs = load(
        "two branches sharing 5,000 leading checks",
        rule(
            "prefix",
            &format!(
                "evt.type = execve and (({prefix} and proc.name = x) or ({prefix} and proc.name = y))"
            ),
        ),
    );
    assert_eq!(fired(&rs, &exec("y", 5_000, "")), ["prefix"]);
    assert!(fired(&rs, &exec("z", 5_000, "")).is_empty());
    assert!(fired(&rs, &exec("x", 4_999, "")).is_empty());
}

#[test]
fn a_quoted_condition_of_20000_lines_loads() {
    // Each line starts with an escape, so no line is found in the value where expected.
    let mut text = "- rule: q\n  desc: d\n  condition: \"evt.type = execve and\n".to_string();
    for i in 0..20_000 {
        let _ = writeln!(text, "    \\x70roc.name != a{i} and");
    }
    text += "    proc.pid != 1\"\n  output: o\n  priority: WARNING\n";
    let rs = load("a double-quoted condition of 20,000 lines", text);
    assert_eq!(fired(&rs, &exec("sh", 2, "")), ["q"]);
    assert!(fired(&rs, &exec("a19999", 2, "")).is_empty());
}
