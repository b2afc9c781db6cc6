//! The evaluation form against the tree it comes from: for random conditions (checks on
//! present and missing fields, `and`/`or`/`not`, macros shared between rules) and random
//! events, the ruleset's path (specialised, factored, merged, flattened, indexed) gives the
//! same rules as each rule's compiled tree evaluated on its own.

use std::sync::Arc;

use proptest::prelude::*;

use crate::{EvtType, Matching, Options, loader::Source, testing::MapEvent};

/// Atoms over a few fields, several sharing a field (merged checks) and several sharing a
/// leading test inside `and` (factored heads); `proc.env` is never set (missing values).
const ATOMS: &[&str] = &[
    "proc.name = bash",
    "proc.name in (sh, nc, ls, a, b, c, d, e, f)",
    "proc.name in (bash, zsh)",
    "proc.name startswith ba",
    "proc.cmdline contains x",
    "proc.cmdline startswith \"nc -e\"",
    "proc.cmdline endswith id",
    "proc.pname = sh",
    "proc.pname exists",
    "proc.env contains X",
    "proc.env exists",
    "proc.aname = runc",
    "container.id = host",
    "container.id != host",
    "proc.tty != 0",
    "fd.sport > 10",
    "evt.type = execve",
    "evt.type in (connect, execveat)",
];

/// A condition of at most `depth` levels, as text.
fn condition(depth: u32) -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(ATOMS).prop_map(str::to_string);
    leaf.prop_recursive(depth, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..5)
                .prop_map(|xs| format!("({})", xs.join(" and "))),
            prop::collection::vec(inner.clone(), 2..5)
                .prop_map(|xs| format!("({})", xs.join(" or "))),
            inner.clone().prop_map(|x| format!("not {x}")),
            // The shapes the factoring targets: a shared head in branches and exclusions.
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(h, a, b)| { format!("(({h} and {a}) or ({h} and {b}))") }),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(h, a, b)| { format!("(not ({h} and {a}) and not ({h} and {b}))") }),
        ]
    })
}

/// A rule's condition: the random part with macros mixed in.
fn rule_condition() -> impl Strategy<Value = String> {
    (
        condition(3),
        prop::sample::select(vec!["m1", "m2", "not m1", "m2 or m1"]),
        any::<bool>(),
    )
        .prop_map(|(c, m, and)| format!("({c}) {} {m}", if and { "and" } else { "or" }))
}

fn event() -> impl Strategy<Value = MapEvent> {
    let names = prop::sample::select(vec!["bash", "sh", "nc", "ls", "zsh", "ba"]);
    (
        prop::sample::select(vec![EvtType::Execve, EvtType::Execveat, EvtType::Connect]),
        names.clone(),
        prop::option::of(names),
        prop::sample::select(vec!["nc -e /bin/sh", "x id", "bash", ""]),
        prop::sample::select(vec!["host", "0123456789ab"]),
        0..3u64,
        prop::option::of(0..100u64),
        any::<bool>(),
    )
        .prop_map(|(ty, name, pname, cmdline, container, tty, sport, runc)| {
            let mut ev = MapEvent::new(ty)
                .str("evt.type", ty.name())
                .str("proc.name", name)
                .str("proc.cmdline", cmdline)
                .str("container.id", container)
                .uint("proc.tty", tty);
            if let Some(p) = pname {
                ev = ev.str("proc.pname", p);
            }
            if let Some(p) = sport {
                ev = ev.uint("fd.sport", p);
            }
            if runc {
                ev = ev.ancestors(&["sh", "runc"]);
            }
            ev
        })
}

fn rules_text(m1: &str, m2: &str, rules: &[String]) -> String {
    let mut text = format!(
        "- macro: m1\n  condition: '{}'\n- macro: m2\n  condition: '{}'\n",
        m1.replace('\'', "''"),
        m2.replace('\'', "''")
    );
    for (i, c) in rules.iter().enumerate() {
        text += &format!(
            "- rule: r{i}\n  desc: d\n  condition: '{}'\n  output: o\n  priority: WARNING\n",
            c.replace('\'', "''")
        );
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_evaluation_form_agrees_with_the_tree(
        m1 in condition(2),
        m2 in condition(2),
        rules in prop::collection::vec(rule_condition(), 1..5),
        events in prop::collection::vec(event(), 8),
    ) {
        let text = rules_text(&m1, &m2, &rules);
        let source = vec![Source { name: Arc::from("p.yaml"), text: text.clone() }];
        let options = Options { matching: Matching::All, ..Options::default() };
        let rs = match crate::load(&source, &options) {
            Ok(l) => l.ruleset,
            Err(e) => panic!("{text}\n{}", e.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")),
        };
        for ev in &events {
            let mut fast = Vec::new();
            rs.evaluate(ev, |r| fast.push(r.name.to_string()));
            let slow: Vec<String> = rs
                .rules()
                .iter()
                .filter(|r| r.enabled && r.matches(ev))
                .map(|r| r.name.to_string())
                .collect();
            prop_assert_eq!(fast, slow, "rules:\n{}\nevent: {:?}", text, ev);
        }
    }
}
