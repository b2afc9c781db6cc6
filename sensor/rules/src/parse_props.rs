//! Whole-input properties of the parser: every official rules file parses; no input panics;
//! over-deep input is an error; printing a tree and parsing it back gives the same tree.

use std::{fs, path::PathBuf};

use proptest::prelude::*;
use yaml_rust2::{Yaml, YamlLoader};

use super::{cond, zero_spans};
use crate::ast::{Check, Expr, FieldRef, Literal, Op, Operand, Rhs, Span, Transformer};
use crate::parse::{MAX_DEPTH, ParseError, parse_condition, parse_output};

// ---- the official rules files --------------------------------------------------------------

/// Where the official files are (see `official_tests`); the test fails when they are absent.
fn rules_dir() -> PathBuf {
    crate::official_tests::official_dir()
}

#[test]
fn every_condition_and_output_of_the_official_rules_parses() {
    let dir = rules_dir();
    let mut conditions = 0;
    let mut outputs = 0;
    for file in [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ] {
        let path = dir.join(file);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let docs = YamlLoader::load_from_str(&indent_flow_closers(&text))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let items = docs.iter().filter_map(Yaml::as_vec).flatten();
        for item in items {
            let name = item["rule"]
                .as_str()
                .or(item["macro"].as_str())
                .unwrap_or("?");
            if let Some(c) = item["condition"].as_str() {
                if let Err(e) = parse_condition(c) {
                    panic!("{file}: {name}: condition: {e}\n{c}");
                }
                conditions += 1;
            }
            if let Some(o) = item["output"].as_str() {
                if let Err(e) = parse_output(o) {
                    panic!("{file}: {name}: output: {e}\n{o}");
                }
                outputs += 1;
            }
        }
    }
    // Guards against silently reading nothing (a renamed key, an empty file).
    assert!(
        conditions > 300 && outputs > 80,
        "{conditions} conditions, {outputs} outputs"
    );
}

/// yaml-rust2 rejects a flow sequence whose `]` sits at its key's indentation (strictly the
/// spec is on its side: Ethiraric/yaml-rust2#30, #69), and falco-sandbox_rules.yaml has such
/// lists. They hold list items only, so indenting the lone closers changes nothing we read.
fn indent_flow_closers(text: &str) -> String {
    let lines = text.lines().map(|l| match l.trim() {
        "]" | "}" => format!("    {l}"),
        _ => l.to_owned(),
    });
    lines.collect::<Vec<_>>().join("\n")
}

// ---- the printer for round trips -----------------------------------------------------------

/// Condition text for `e`, parenthesised only where precedence needs it.
fn print(e: &Expr) -> String {
    let grouped = |e: &Expr| format!("({})", print(e));
    match e {
        Expr::Or(items) => join(items, " or ", |i| matches!(i, Expr::Or(_)), grouped),
        Expr::And(items) => join(
            items,
            " and ",
            |i| matches!(i, Expr::Or(_) | Expr::And(_)),
            grouped,
        ),
        Expr::Not(inner) if matches!(**inner, Expr::Or(_) | Expr::And(_)) => {
            format!("not {}", grouped(inner))
        }
        Expr::Not(inner) => format!("not {}", print(inner)),
        Expr::Macro { name, .. } => name.clone(),
        Expr::Check(c) => {
            let lhs = print_operand(&c.lhs);
            match &c.rhs {
                Rhs::None => format!("{lhs} {}", c.op.as_str()),
                Rhs::Value(l) => format!("{lhs} {} {}", c.op.as_str(), print_literal(l)),
                Rhs::Operand(o) => format!("{lhs} {} {}", c.op.as_str(), print_operand(o)),
                Rhs::List { items, .. } => {
                    let items: Vec<_> = items.iter().map(print_literal).collect();
                    format!("{lhs} {} ({})", c.op.as_str(), items.join(", "))
                }
            }
        }
    }
}

fn join(
    items: &[Expr],
    sep: &str,
    needs_group: fn(&Expr) -> bool,
    grouped: impl Fn(&Expr) -> String,
) -> String {
    let parts: Vec<_> = items
        .iter()
        .map(|i| if needs_group(i) { grouped(i) } else { print(i) })
        .collect();
    parts.join(sep)
}

fn print_operand(o: &Operand) -> String {
    match o {
        Operand::Field(FieldRef {
            name, arg: None, ..
        }) => name.clone(),
        Operand::Field(FieldRef {
            name,
            arg: Some(arg),
            ..
        }) => {
            let plain = !arg.is_empty()
                && arg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/*._-".contains(&b));
            if plain {
                format!("{name}[{arg}]")
            } else {
                format!("{name}[{}]", quote(arg, '"'))
            }
        }
        Operand::Transform { kind, inner, .. } => {
            format!("{}({})", kind.name(), print_operand(inner))
        }
    }
}

fn print_literal(l: &Literal) -> String {
    match l.quoted {
        // Alternate quote styles so both get exercised.
        true if l.text.len().is_multiple_of(2) => quote(&l.text, '"'),
        true => quote(&l.text, '\''),
        false => l.text.clone(),
    }
}

fn quote(text: &str, q: char) -> String {
    let mut out = String::from(q);
    for c in text.chars() {
        if c == '\\' || c == q {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(q);
    out
}

// ---- generated trees -----------------------------------------------------------------------

fn span0() -> Span {
    Span::default()
}

fn field_ref() -> impl Strategy<Value = FieldRef> {
    let name = prop_oneof![
        Just("proc.name".to_owned()),
        Just("evt.arg.flags".to_owned()),
        Just("proc.exe_ino.ctime_duration_proc_start".to_owned()),
        "[a-z][a-z0-9_]{0,4}(\\.[a-z0-9_]{1,4}){1,3}",
    ];
    let arg = prop_oneof![
        2 => Just(None),
        1 => "[a-zA-Z0-9/*._-]{1,8}".prop_map(Some),
        1 => "[^\0]{0,6}".prop_map(Some),
    ];
    (name, arg).prop_map(|(name, arg)| FieldRef {
        name,
        arg,
        span: span0(),
    })
}

fn transformer() -> impl Strategy<Value = Transformer> {
    use Transformer::*;
    prop_oneof![
        Just(ToLower),
        Just(ToUpper),
        Just(B64),
        Just(Basename),
        Just(Len)
    ]
}

/// A field under zero to three transformers (never `val`).
fn operand() -> impl Strategy<Value = Operand> {
    (field_ref(), prop::collection::vec(transformer(), 0..3)).prop_map(|(f, kinds)| {
        kinds
            .into_iter()
            .fold(Operand::Field(f), |inner, kind| Operand::Transform {
                kind,
                inner: Box::new(inner),
                span: span0(),
            })
    })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        "[a-zA-Z0-9/<>|*._:;!-]{1,8}".prop_map(|text| Literal {
            text,
            quoted: false,
            span: span0()
        }),
        "[^\0]{0,8}".prop_map(|text| Literal {
            text,
            quoted: true,
            span: span0()
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(Op::ALL.to_vec())
}

fn rhs_for(op: Op) -> BoxedStrategy<Rhs> {
    let value = literal().prop_map(Rhs::Value);
    // A bare field name on the right is a string (Falco), so a field there needs a wrapper.
    let field_rhs = prop_oneof![
        operand().prop_filter("a transformer", |o| matches!(o, Operand::Transform { .. })),
        field_ref().prop_map(|f| Operand::Transform {
            kind: Transformer::Val,
            inner: Box::new(Operand::Field(f)),
            span: span0(),
        }),
    ]
    .prop_map(Rhs::Operand);
    match op {
        Op::Exists => Just(Rhs::None).boxed(),
        _ if op.takes_list() => prop_oneof![
            2 => prop::collection::vec(literal(), 0..4).prop_map(|items| Rhs::List { items, span: span0() }),
            1 => value,
            1 => field_rhs,
        ]
        .boxed(),
        _ => prop_oneof![3 => value, 1 => field_rhs].boxed(),
    }
}

fn check() -> impl Strategy<Value = Expr> {
    (operand(), op())
        .prop_flat_map(|(lhs, op)| (Just(lhs), Just(op), rhs_for(op)))
        .prop_map(|(lhs, op, rhs)| {
            Expr::Check(Check {
                lhs,
                op,
                op_span: span0(),
                rhs,
            })
        })
}

fn expr() -> impl Strategy<Value = Expr> {
    let macro_name = "[a-z_][a-z0-9_]{0,8}"
        .prop_filter("keywords are not macro names", |n| {
            !matches!(n.as_str(), "and" | "or" | "not")
        })
        .prop_map(|name| Expr::Macro {
            name,
            span: span0(),
        });
    let leaf = prop_oneof![macro_name, check()];
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

// ---- token soups ---------------------------------------------------------------------------

const TOKENS: &[&str] = &[
    "proc.name",
    "proc.aname[2]",
    "k8s.pod.label[\"a b\"]",
    "fd.name[",
    "]",
    "evt.arg.flags",
    "a",
    "spawned_process",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "~=",
    "contains",
    "in",
    "pmatch",
    "intersects",
    "exists",
    "glob",
    "(",
    ")",
    "(",
    ")",
    ",",
    "and",
    "or",
    "not",
    "and(",
    "not(",
    "bash",
    "<NA>",
    "-1",
    "/usr/bin/",
    "\"a b\"",
    "'x'",
    "\"\\x4",
    "\"\\q\"",
    "\"",
    "'",
    "tolower(",
    "val(",
    "len(",
    "%",
    "%proc.name",
    "%20",
    "é",
    "✓",
    "\0",
    "\\",
    "[",
    ".",
    "_",
];

fn soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(TOKENS);
    let sep = prop::sample::select(&["", " ", " ", "\t", "\n"][..]);
    prop::collection::vec((token, sep), 0..40)
        .prop_map(|parts| parts.into_iter().flat_map(|(t, s)| [t, s]).collect())
}

/// Every error points into the text at a char boundary, where its token is written.
fn assert_points_into(text: &str, e: &ParseError) {
    assert!(text.is_char_boundary(e.offset), "{text:?}: {e:?}");
    assert!(text[e.offset..].starts_with(&e.token), "{text:?}: {e:?}");
    assert!(
        e.offset < text.len() || e.token.is_empty(),
        "{text:?}: {e:?}"
    );
}

fn parse_both(text: &str) {
    if let Err(e) = parse_condition(text) {
        assert_points_into(text, &e);
    }
    if let Err(e) = parse_output(text) {
        assert_points_into(text, &e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,64}|[ -~]{0,64}") {
        parse_both(&text);
    }

    #[test]
    fn token_soups_never_panic(text in soup()) {
        parse_both(&text);
    }

    #[test]
    fn printed_trees_parse_back_to_themselves(e in expr()) {
        let text = print(&e);
        let parsed = parse_condition(&text).map_err(|err| TestCaseError::fail(format!("{text:?}: {err}")))?;
        prop_assert_eq!(zero_spans(parsed), e, "{}", text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Up to ~100k bytes of `(`, `not ` and `not(` openers, then transformer calls: an error
    /// past MAX_DEPTH, never a stack overflow.
    #[test]
    fn deep_nesting_is_an_error(
        openers in prop::collection::vec(prop::sample::select(&["(", "not ", "not("][..]), MAX_DEPTH + 1..25_000),
        calls in 0..MAX_DEPTH,
    ) {
        let mut text: String = openers.concat();
        text.push_str(&"len(".repeat(calls));
        text.push_str("a.b exists");
        let depth: usize = openers.iter().map(|o| if *o == "not(" { 2 } else { 1 }).sum();
        prop_assert!(depth > MAX_DEPTH);
        let e = parse_condition(&text).expect_err("too deep");
        prop_assert!(e.message.contains("nesting deeper than 256"), "{}", e);
        let outputs = format!("%{}", "tolower(".repeat(openers.len()));
        let e = parse_output(&outputs).expect_err("too deep");
        // Past 64 KiB the output's size budget speaks first.
        prop_assert!(
            e.message.contains("nesting deeper than 256") || e.message.contains("more than the 65536"),
            "{}",
            e
        );
    }
}

#[test]
fn a_hundred_thousand_openers_are_an_error() {
    for opener in ["(", "not ", "tolower("] {
        let text = opener.repeat(100_000 / opener.len());
        let e = parse_condition(&text).expect_err("too deep");
        assert_eq!(e.message, "nesting deeper than 256");
    }
}

#[test]
fn printer_examples() {
    let e = cond("not (a or b) and (c and d) or x.y[\"a b\"] in (\"q\", r) or not not m");
    assert_eq!(
        print(&e),
        "not (a or b) and (c and d) or x.y[\"a b\"] in ('q', r) or not not m"
    );
}
