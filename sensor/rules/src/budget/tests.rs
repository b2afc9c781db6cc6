//! The expansion budget: the official rules are far inside it, and bombs are refused by
//! measuring, before anything is written out.

use std::{fmt::Write as _, sync::Arc};

use super::*;
use crate::{
    Options,
    compile::Compiler,
    loader::{self, Source},
    testing::official_sources,
};

fn source(text: String) -> Source {
    Source {
        name: Arc::from("bomb.yaml"),
        text,
    }
}

/// Load `text`; the errors, one per line.
fn errors_of(text: String) -> String {
    match crate::load(&[source(text)], &Options::default()) {
        Ok(_) => panic!("loaded"),
        Err(e) => e
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn rule(name: &str, condition: &str) -> String {
    format!(
        "- rule: {name}\n  desc: d\n  condition: {condition}\n  output: o\n  priority: WARNING\n"
    )
}

/// `m0` is two checks; each `mN` uses `m(N-1)` twice, so `mN` doubles at each level.
fn macro_bomb(levels: usize) -> String {
    let mut t = "- macro: m0\n  condition: proc.name = a or proc.name = b\n".to_string();
    for i in 1..=levels {
        let _ = write!(
            t,
            "- macro: m{i}\n  condition: m{p} or (m{p} and proc.pid > {i})\n",
            p = i - 1
        );
    }
    t + &rule("bomb", &format!("evt.type = execve and m{levels}"))
}

#[test]
fn official_rules_are_far_inside_the_budget() {
    let outcome = loader::load(&official_sources());
    assert!(outcome.errors.is_empty());
    let mut compiler = Compiler::new(&outcome.collected);
    let (mut max, mut total) = (Expanded::default(), Expanded::default());
    for r in &outcome.collected.rules {
        let (node, size) = compiler.condition(&r.name, &r.condition).unwrap();
        max.nodes = max.nodes.max(size.nodes);
        max.bytes = max.bytes.max(size.bytes);
        max.depth = max.depth.max(size.depth);
        let types = crate::compile::evt_types(&node).iter().count() as u64;
        total = total.plus(size.times(types));
    }
    println!("official rules: largest condition {max:?}; all, per event type: {total:?}");
    for d in [Dimension::Nodes, Dimension::Bytes] {
        assert!(d.of(&max) * 10 < d.rule_limit(), "{d:?} {max:?}");
        assert!(d.of(&total) * 10 < d.total_limit(), "{d:?} {total:?}");
    }
    assert!(max.depth * 10 < MAX_DEPTH, "{max:?}");
}

#[test]
fn a_macro_bomb_is_refused_at_the_macro_that_blew_it() {
    // 60 levels would be 2^61 nodes: refused by measuring, so this takes no time or memory.
    let errors = errors_of(macro_bomb(60));
    // m0 has 3 nodes and mN 2·|m(N-1)| + 5: m13 is the first over 50,000 (65,531).
    let first_over = (1..=60)
        .scan(3u64, |n, _| {
            *n = 2 * *n + 5;
            Some(*n)
        })
        .position(|n| n > MAX_RULE_NODES)
        .unwrap()
        + 1;
    // Used on the line of m(first_over + 1)'s condition, after `condition: `.
    let line = 2 + 2 * (first_over + 1);
    assert_eq!(
        errors,
        format!(
            "bomb.yaml:{line}:14: error: rule 'bomb': macro 'm{first_over}' has 65531 nodes once the macros it uses are written out, more than the {MAX_RULE_NODES} a rule may have (near 'm{first_over}')"
        )
    );
}

#[test]
fn a_rule_over_the_budget_through_several_macros_names_its_largest() {
    // Two macros of 30,001 nodes each: neither is over alone, the rule using both is.
    let half: Vec<String> = (0..30_000).map(|i| format!("proc.pid = {i}")).collect();
    let text = format!(
        "- macro: a\n  condition: {}\n- macro: b\n  condition: {}\n{}",
        half.join(" or "),
        half.join(" and "),
        rule("wide", "a or b")
    );
    let errors = errors_of(text);
    assert!(
        errors.starts_with(
            "bomb.yaml:7:14: error: rule 'wide': the condition has 60005 nodes once its macros are written out, more than the 50000 a rule may have (its largest macro, 'a' at bomb.yaml:7:14, has 30001)"
        ),
        "{errors}"
    );
}

#[test]
fn a_list_written_out_too_often_is_refused() {
    // One list of 1 MiB, named five times in one condition: 5 MiB of values.
    let items: Vec<String> = (0..16_384).map(|i| format!("{i:064}")).collect();
    let uses = ["proc.name in (big)"; 5].join(" or ");
    let text = format!(
        "- list: big\n  items: [{}]\n{}",
        items.join(", "),
        rule("lists", &uses)
    );
    let errors = errors_of(text);
    assert!(
        errors.starts_with("bomb.yaml:5:14: error: rule 'lists': the condition has 5242880 bytes of values, more than the"),
        "{errors}"
    );
}

#[test]
fn rules_over_the_total_budget_are_refused_at_the_rule_that_crosses_it() {
    // One macro, used by rules on every event type: sized so that one rule's copies (one per
    // type) take 70% of the total, so the total crosses its limit at the second rule.
    let n = MAX_TOTAL_NODES as usize * 7 / 10 / crate::EvtType::ALL.len();
    let terms: Vec<String> = (0..n).map(|i| format!("proc.pid = {i}")).collect();
    let mut text = format!("- macro: m\n  condition: {}\n", terms.join(" or "));
    for i in 0..3 {
        text += &rule(&format!("r{i}"), "m");
    }
    let errors = errors_of(text);
    assert!(
        errors.starts_with(&format!(
            "bomb.yaml:10:14: error: rule 'r1': the rules have more than {MAX_TOTAL_NODES} nodes in all"
        )),
        "{errors}"
    );
}

/// A chain of 99 macros, each nesting `levels` more and/or levels around the one below.
fn deep_chain(levels: usize) -> String {
    let mut t = "- macro: c0\n  condition: proc.name = x\n".to_string();
    for i in 1..100 {
        let _ = write!(
            t,
            "- macro: c{i}\n  condition: proc.pid != {i} and {}c{p}{}\n",
            "(proc.pid = 1 or ".repeat(levels),
            ")".repeat(levels),
            p = i - 1
        );
    }
    t
}

#[test]
fn macros_nesting_deeper_than_the_limit_together_are_refused_without_overflowing() {
    // 99 macros of 121 levels each: 11,980 levels once written out, compiled on a thread with
    // a spawned thread's default stack (2 MiB). It overflowed before the depth was checked.
    let text = deep_chain(120) + &rule("deep", "evt.type = execve and c99");
    let errors = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || errors_of(text))
        .unwrap()
        .join()
        .unwrap();
    assert!(
        errors.ends_with(&format!(
            "error: condition nests deeper than {MAX_DEPTH} levels once macros are expanded"
        )),
        "{errors}"
    );
}

#[test]
fn a_macro_too_deep_in_one_rule_still_compiles_in_another() {
    // c4 nests 45 levels. Under the 1,000 levels of `not` of w3…w0 it is too deep (its
    // compile is where the limit is crossed); alone it is not, though that compile failed.
    let mut text = deep_chain(10);
    let nots = "not ".repeat(250);
    text += &format!("- macro: w0\n  condition: {nots}c4\n");
    for i in 1..4 {
        text += &format!("- macro: w{i}\n  condition: {nots}w{}\n", i - 1);
    }
    let outcome = loader::load(&[source(text)]);
    let mut compiler = Compiler::new(&outcome.collected);
    let at = |text: &str| crate::loader::Located {
        text: text.into(),
        map: Default::default(),
    };
    let e = compiler.condition("deep", &at("w3")).unwrap_err();
    assert!(e.message.contains("nests deeper"), "{e}");
    let (_, size) = compiler.condition("shallow", &at("c4")).unwrap();
    assert_eq!(size.depth, 45);
}

#[test]
fn a_condition_just_inside_the_depth_limit_loads_and_evaluates_on_a_small_stack() {
    // c89 nests 980 levels (11 per macro): every pass after compiling recurses that deep.
    let text = deep_chain(10) + &rule("deep", "evt.type = execve and c89");
    let fired = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let rs = crate::load(&[source(text)], &Options::default())
                .unwrap_or_else(|e| panic!("{}", e[0]))
                .ruleset;
            let ev = |name: &str, pid: i64| {
                crate::testing::MapEvent::new(crate::EvtType::Execve)
                    .str("proc.name", name)
                    .int("proc.pid", pid)
            };
            let mut out = Vec::new();
            for e in [ev("x", 500), ev("x", 2), ev("y", 500), ev("y", 1)] {
                let mut hit = false;
                rs.evaluate(&e, |_| hit = true);
                out.push(hit);
            }
            out
        })
        .unwrap()
        .join()
        .unwrap();
    // c_i: pid != i, and pid = 1 or c_(i-1); c0: the name x.
    assert_eq!(fired, [true, false, false, true]);
}
