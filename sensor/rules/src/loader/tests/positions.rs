//! Positions: YAML errors, and the maps from condition/output offsets to the file.

use super::{error, ok, rule};
use crate::yaml::{NodeKind, ScalarStyle, YamlFile};

#[test]
fn bad_indentation_is_an_error_at_its_place() {
    let e = error("- rule: R\n  desc: d\n   condition: c\n");
    assert_eq!(
        e,
        "a.yaml:3:13: error: mapping values are not allowed in this context"
    );
    let e = error("- list: a\n  items: [x\n- list: b\n");
    assert!(e.starts_with("a.yaml:"), "{e}");
    // Under-indented: at the key, as libyaml reports it (yaml-rust2 stops at the colon).
    let e = error("- list: a\n items: [x]\n");
    assert!(e.starts_with("a.yaml:2:2: error:"), "{e}");
    assert!(e.ends_with("(near 'items')"), "{e}");
    // A tab: at the tab (yaml-rust2 reports the start of the scalar before it).
    let e = error("- rule: T\n  desc: x\n\tcondition: c\n");
    assert!(e.starts_with("a.yaml:3:1: error:"), "{e}");
}

#[test]
fn a_folded_condition_maps_each_line() {
    let src = "- rule: R\n  desc: d\n  condition: >\n    evt.type = execve\n      and proc.name = bash\n    and not user.name = root\n  output: o\n  priority: INFO\n";
    let o = ok(src);
    let c = &rule(&o, "R").condition;
    // `>` keeps the more-indented line's break and indentation.
    assert_eq!(
        c.text,
        "evt.type = execve\n  and proc.name = bash\nand not user.name = root\n"
    );
    let at = |needle: &str, delta: usize| {
        c.map
            .locate(c.text.find(needle).unwrap() + delta)
            .unwrap()
            .to_string()
    };
    assert_eq!(at("evt.type", 0), "a.yaml:4:5");
    assert_eq!(at("execve", 0), "a.yaml:4:16");
    // An offset inside the block's second line.
    assert_eq!(at("proc.name", 0), "a.yaml:5:11");
    assert_eq!(at("bash", 0), "a.yaml:5:23");
    assert_eq!(at("user.name", 2), "a.yaml:6:15");
}

#[test]
fn quoted_and_plain_single_line_values_map_after_the_quote() {
    let o = ok(concat!(
        "- rule: R\n  desc: d\n",
        "  condition: \"proc.name = 'a b' and x\"\n",
        "  output: 'out %proc.name'\n  priority: INFO\n",
        "- macro: m\n  condition: evt.type = open # comment\n",
    ));
    let r = rule(&o, "R");
    let at = |l: &crate::loader::Located, needle: &str| {
        l.map
            .locate(l.text.find(needle).unwrap())
            .unwrap()
            .to_string()
    };
    assert_eq!(at(&r.condition, "proc.name"), "a.yaml:3:15");
    assert_eq!(at(&r.condition, "and x"), "a.yaml:3:33");
    assert_eq!(at(&r.output, "%proc"), "a.yaml:4:16");
    let m = &o.collected.macros["m"].condition;
    assert_eq!(m.text, "evt.type = open");
    assert_eq!(at(m, "open"), "a.yaml:7:25");
}

#[test]
fn multi_line_plain_and_quoted_values_map_each_line() {
    let src = "- macro: m\n  condition: a and\n    b or\n      c\n- macro: q\n  condition: \"x \\\" y\n    z\"\n";
    let o = ok(src);
    let m = &o.collected.macros["m"].condition;
    assert_eq!(m.text, "a and b or c");
    let at = |l: &crate::loader::Located, off: usize| l.map.locate(off).unwrap().to_string();
    assert_eq!(at(m, 0), "a.yaml:2:14");
    assert_eq!(at(m, 6), "a.yaml:3:5");
    assert_eq!(at(m, 11), "a.yaml:4:7");
    let q = &o.collected.macros["q"].condition;
    assert_eq!(q.text, "x \" y z");
    assert_eq!(at(q, 0), "a.yaml:6:15");
    assert_eq!(at(q, 6), "a.yaml:7:5");
}

#[test]
fn literal_blocks_and_crlf() {
    let src =
        "- macro: m\r\n  condition: |\r\n\r\n    a\r\n      b\r\n- macro: n\r\n  condition: x\r\n";
    let o = ok(src);
    let m = &o.collected.macros["m"].condition;
    assert_eq!(m.text, "\na\n  b\n");
    assert_eq!(m.map.locate(1).unwrap().to_string(), "a.yaml:4:5");
    assert_eq!(m.map.locate(3).unwrap().to_string(), "a.yaml:5:5");
}

#[test]
fn tree_shape_positions_and_aliases() {
    let y = YamlFile::parse(
        "t.yaml".into(),
        "- a: &x [1, 'two']\n  b: *x\n  c: ~\n  d: |\n    lit\n- {k: v}\n",
    )
    .unwrap();
    assert_eq!(y.docs.len(), 1);
    let NodeKind::Seq(items) = &y.docs[0].kind else {
        panic!("not a sequence")
    };
    let first = &items[0];
    assert_eq!((first.line, first.col), (1, 3));
    // The alias is a copy of the anchored node, positions included.
    assert_eq!(first.get("a"), first.get("b"));
    assert!(first.get("c").unwrap().is_null());
    let NodeKind::Scalar { style, value } = &first.get("d").unwrap().kind else {
        panic!()
    };
    assert_eq!((*style, value.as_str()), (ScalarStyle::Literal, "lit\n"));
    let NodeKind::Seq(a) = &first.get("a").unwrap().kind else {
        panic!()
    };
    assert_eq!((a[1].line, a[1].col), (1, 13));
    assert_eq!(y.value_pos(&a[1]).col, 14);
    assert_eq!(items[1].get("k").unwrap().as_str(), Some("v"));

    let e = YamlFile::parse("t.yaml".into(), "- *nope\n").unwrap_err();
    assert_eq!(e.pos.line, 1);
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let e = YamlFile::parse("t.yaml".into(), &deep).unwrap_err();
    assert!(e.message.contains("deeper"), "{e}");
}

#[test]
fn a_flow_list_closed_at_the_key_indentation_loads() {
    // yaml-rust2 refuses these lines; libyaml and yaml-cpp (so Falco) accept them.
    let o = ok(concat!(
        "- list: a\n  items: [\n    \"x.com\",\n    \"y.com\"\n  ]\n",
        "- list: b\n  items: [\n  'p',\n  q\n  ]\n",
        "- macro: m\n  condition: x\n",
    ));
    let l = &o.collected.lists;
    assert_eq!(l["a"].items, ["x.com", "y.com"]);
    assert_eq!(l["b"].items, ["p", "q"]);
    assert_eq!(l["b"].pos.to_string(), "a.yaml:6:3");
    let m = &o.collected.macros["m"].condition;
    assert_eq!(m.map.locate(0).unwrap().to_string(), "a.yaml:12:14");
}
