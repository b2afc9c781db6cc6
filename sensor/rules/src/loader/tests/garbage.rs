//! Any input loads without panicking: random bytes, and random YAML-ish shapes built from the
//! pieces rules files are made of.

use proptest::prelude::*;

use super::{error, load_one, ok};
use crate::yaml::YamlFile;

const PIECES: &[&str] = &[
    "- ",
    "rule: ",
    "macro: ",
    "list: ",
    "items: ",
    "condition: ",
    "output: ",
    "desc: ",
    "priority: ",
    "exceptions:",
    "fields: ",
    "values: ",
    "comps: ",
    "override:",
    "append: ",
    "enabled: ",
    "tags: ",
    "source: ",
    "required_engine_version: ",
    "name: ",
    "\n",
    "  ",
    "    ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "'",
    "\"",
    "|",
    ">",
    "&a ",
    "*a",
    "~",
    "true",
    "INFO",
    "x y",
    "#",
    ": ",
    "---\n",
    "...\n",
    "\\",
    "\t",
    "é",
    "0.99.0",
    "3",
    "replace",
    "- name: e\n",
];

fn assemble(picks: &[usize]) -> String {
    picks.iter().map(|&i| PIECES[i % PIECES.len()]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_panics(s in "\\PC{0,200}") {
        let _ = load_one(&s);
    }

    #[test]
    fn random_rules_shapes_never_panic(picks in proptest::collection::vec(0usize..1000, 0..80)) {
        let text = assemble(&picks);
        let o = load_one(&text);
        // Every diagnostic points inside the file.
        let lines = text.lines().count().max(1) + 1;
        for d in o.errors.iter().chain(&o.collected.warnings) {
            prop_assert!(d.pos.line >= 1 && d.pos.line <= lines, "{} in {:?}", d, text);
        }
        if let Ok(y) = YamlFile::parse("g.yaml".into(), &text) {
            for doc in &y.docs {
                let _ = y.text_map(doc);
            }
        }
    }
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused() {
    let block = "- ".repeat(20_000) + "x\n";
    assert_eq!(load_one(&block).errors.len(), 1);
    let flow = "[".repeat(300);
    assert_eq!(load_one(&flow).errors.len(), 1);
    let mut bomb = String::from("- &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("- &a{i} [{refs}]\n"));
    }
    let o = load_one(&bomb);
    assert_eq!(o.errors.len(), 1);
    assert!(o.errors[0].message.contains("more than"), "{}", o.errors[0]);
}

#[test]
fn a_big_string_aliased_many_times_is_refused_by_its_bytes() {
    // 1 MiB aliased 20,000 times: 20 GiB once copied, though only 20,001 nodes.
    let mut bomb = format!("- list: big\n  items: &s [\"{}\"]\n", "x".repeat(1 << 20));
    for i in 0..20_000 {
        bomb.push_str(&format!("- list: l{i}\n  items: *s\n"));
    }
    assert_eq!(
        error(&bomb),
        // The anchored string and 31 copies, with the keys, cross 32 MiB at the 31st alias.
        format!(
            "a.yaml:{}:10: error: YAML expands to more than {} bytes of scalars once its aliases are copied",
            2 + 2 * 31,
            crate::yaml::MAX_BYTES
        )
    );
}

#[test]
fn a_leading_byte_order_mark_is_accepted() {
    let text = "\u{feff}- list: l\n  items: [a, b]\n- macro: m\n  condition: x\n";
    let o = ok(text);
    assert_eq!(o.collected.lists["l"].items, ["a", "b"]);
    // Positions are those of the text without it.
    assert_eq!(o.collected.macros["m"].pos.to_string(), "a.yaml:3:3");
}
