//! Condition parsing case by case: boolean structure, errors and nesting here; checks in
//! `parse_check_tests.rs`, outputs in `parse_output_tests.rs`; property tests, the round-trip
//! printer and the official rules files in `parse_props.rs`.

use super::*;
use crate::ast::{Check, Expr, FieldRef, Literal, Op, Operand, Rhs, Span, Transformer};

#[path = "parse_check_tests.rs"]
mod checks;
#[path = "parse_output_tests.rs"]
mod outputs;
#[path = "parse_props.rs"]
mod props;

// ---- helpers: build expected trees with zero spans, compare with spans zeroed -------------

pub(super) fn cond(text: &str) -> Expr {
    match parse_condition(text) {
        Ok(e) => zero_spans(e),
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn err(text: &str) -> ParseError {
    match parse_condition(text) {
        Ok(e) => panic!("{text:?} parsed as {e:?}"),
        Err(e) => e,
    }
}

pub(super) fn zero_spans(e: Expr) -> Expr {
    match e {
        Expr::And(v) => Expr::And(v.into_iter().map(zero_spans).collect()),
        Expr::Or(v) => Expr::Or(v.into_iter().map(zero_spans).collect()),
        Expr::Not(e) => Expr::Not(Box::new(zero_spans(*e))),
        Expr::Macro { name, .. } => mac(&name),
        Expr::Check(c) => Expr::Check(Check {
            lhs: zero_operand(c.lhs),
            op: c.op,
            op_span: Span::default(),
            rhs: match c.rhs {
                Rhs::None => Rhs::None,
                Rhs::Value(l) => Rhs::Value(zero_lit(l)),
                Rhs::List { items, .. } => Rhs::List {
                    items: items.into_iter().map(zero_lit).collect(),
                    span: Span::default(),
                },
                Rhs::Operand(o) => Rhs::Operand(zero_operand(o)),
            },
        }),
    }
}

fn zero_operand(o: Operand) -> Operand {
    match o {
        Operand::Field(f) => Operand::Field(FieldRef {
            span: Span::default(),
            ..f
        }),
        Operand::Transform { kind, inner, .. } => tr(kind, zero_operand(*inner)),
    }
}

fn zero_lit(l: Literal) -> Literal {
    Literal {
        span: Span::default(),
        ..l
    }
}

fn mac(name: &str) -> Expr {
    Expr::Macro {
        name: name.into(),
        span: Span::default(),
    }
}

fn field(name: &str) -> Operand {
    Operand::Field(FieldRef {
        name: name.into(),
        arg: None,
        span: Span::default(),
    })
}

fn field_arg(name: &str, arg: &str) -> Operand {
    Operand::Field(FieldRef {
        name: name.into(),
        arg: Some(arg.into()),
        span: Span::default(),
    })
}

fn tr(kind: Transformer, inner: Operand) -> Operand {
    Operand::Transform {
        kind,
        inner: Box::new(inner),
        span: Span::default(),
    }
}

fn lit(text: &str, quoted: bool) -> Literal {
    Literal {
        text: text.into(),
        quoted,
        span: Span::default(),
    }
}

fn bare(text: &str) -> Rhs {
    Rhs::Value(lit(text, false))
}

fn quoted(text: &str) -> Rhs {
    Rhs::Value(lit(text, true))
}

fn list(items: &[(&str, bool)]) -> Rhs {
    let items = items.iter().map(|&(t, q)| lit(t, q)).collect();
    Rhs::List {
        items,
        span: Span::default(),
    }
}

fn check(lhs: Operand, op: Op, rhs: Rhs) -> Expr {
    Expr::Check(Check {
        lhs,
        op,
        op_span: Span::default(),
        rhs,
    })
}

fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

/// `name = v` with a bare `v`, the most common check.
fn eq(name: &str, v: &str) -> Expr {
    check(field(name), Op::Eq, bare(v))
}

// ---- boolean structure ---------------------------------------------------------------------

#[test]
fn and_binds_tighter_than_or_and_chains_flatten() {
    let (a, b, c, d) = (mac("a"), mac("b"), mac("c"), mac("d"));
    assert_eq!(
        cond("a and b or c and d"),
        Expr::Or(vec![
            Expr::And(vec![a.clone(), b.clone()]),
            Expr::And(vec![c.clone(), d.clone()])
        ])
    );
    assert_eq!(
        cond("a or b or c"),
        Expr::Or(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(
        cond("a and b and c"),
        Expr::And(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(
        cond("a or b and c"),
        Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])])
    );
    assert_eq!(cond("a"), a);
}

#[test]
fn not_binds_tighter_than_and() {
    assert_eq!(
        cond("not a and b"),
        Expr::And(vec![not(mac("a")), mac("b")])
    );
    assert_eq!(
        cond("a and not b"),
        Expr::And(vec![mac("a"), not(mac("b"))])
    );
    assert_eq!(cond("not not a"), not(not(mac("a"))));
    assert_eq!(cond("not(a)"), not(mac("a")));
    assert_eq!(
        cond("not\t( a or b )"),
        not(Expr::Or(vec![mac("a"), mac("b")]))
    );
    assert_eq!(cond("not proc.name=x"), not(eq("proc.name", "x")));
}

#[test]
fn words_starting_with_keywords_are_names() {
    assert_eq!(cond("nothing"), mac("nothing"));
    assert_eq!(
        cond("not_x and andy or order"),
        Expr::Or(vec![
            Expr::And(vec![mac("not_x"), mac("andy")]),
            mac("order"),
        ])
    );
    assert_eq!(cond("not.a=1"), eq("not.a", "1"));
}

#[test]
fn parentheses_group_and_are_not_flattened_away() {
    let (a, b, c) = (mac("a"), mac("b"), mac("c"));
    assert_eq!(
        cond("a and (b or c)"),
        Expr::And(vec![a.clone(), Expr::Or(vec![b.clone(), c.clone()])])
    );
    assert_eq!(
        cond("(a and b) and c"),
        Expr::And(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()])
    );
    assert_eq!(cond("((a))"), a.clone());
    assert_eq!(
        cond("(a)and(b)or(c)"),
        Expr::Or(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()])
    );
    assert_eq!(cond(" \n(proc.name=bash)\n "), eq("proc.name", "bash"));
    assert_eq!(
        cond("(proc.name=bash) and a"),
        Expr::And(vec![eq("proc.name", "bash"), a])
    );
}

#[test]
fn macro_spans_cover_the_name() {
    let e = parse_condition("  spawned_process and _x").unwrap();
    let Expr::And(items) = e else { panic!() };
    assert_eq!(
        items[0],
        Expr::Macro {
            name: "spawned_process".into(),
            span: Span::new(2, 17)
        }
    );
    assert_eq!(
        items[1],
        Expr::Macro {
            name: "_x".into(),
            span: Span::new(22, 24)
        }
    );
}

// ---- errors --------------------------------------------------------------------------------

#[test]
fn errors_point_at_the_offending_token() {
    for (text, offset, token, message) in [
        ("", 0, "", "empty condition"),
        ("  \n", 3, "", "empty condition"),
        ("proc.name ~= x", 10, "~=", "unknown operator"),
        ("proc.name likes x", 10, "likes", "expected an operator"),
        ("proc.name", 9, "", "expected an operator"),
        ("proc.name \"x\"", 10, "\"x\"", "expected an operator"),
        ("proc.name =", 11, "", "missing value"),
        ("proc.name = ", 12, "", "missing value"),
        ("proc.name contains", 18, "", "missing value"),
        (
            "proc.name contains\"x\"",
            18,
            "\"x\"",
            "expected whitespace after 'contains'",
        ),
        ("proc.name=bash)", 14, ")", "unmatched ')'"),
        ("proc.name=bash foo", 15, "foo", "expected 'and', 'or'"),
        ("a b", 2, "b", "expected 'and', 'or'"),
        ("(a", 2, "", "missing ')'"),
        ("(a b)", 3, "b", "expected 'and', 'or' or ')'"),
        ("a and", 5, "", "missing condition after 'and'"),
        ("a or ", 5, "", "missing condition"),
        ("a and)", 2, "and", "expected whitespace or '('"),
        ("not", 3, "", "missing condition after 'not'"),
        ("not-a", 0, "not", "expected whitespace or '('"),
        ("and", 0, "and", "unexpected 'and'"),
        ("a and or b", 6, "or", "unexpected 'or'"),
        ("()", 1, ")", "expected a field"),
        ("1a", 0, "1a", "expected a field"),
        ("é", 0, "é", "expected a field"),
        ("proc.name exists x", 17, "x", "expected 'and', 'or'"),
        ("proc.name existsx", 10, "existsx", "expected an operator"),
        ("foo = bar", 0, "foo", "not a field name"),
        ("proc.aname[] exists", 11, "]", "expected an argument"),
        ("proc.aname[2 exists", 12, " ", "expected ']'"),
        ("proc.aname[2", 12, "", "missing ']'"),
        (
            "tolower(proc.name = x",
            18,
            "=",
            "expected ')' to close the 'tolower('",
        ),
        ("tolower(proc.name", 17, "", "missing ')'"),
        (
            "tolower(foo) = x",
            8,
            "foo",
            "expected a field name or a transformer",
        ),
        ("val(proc.name) = x", 0, "val", "right-hand side"),
        ("x.y = val(val(a.b))", 10, "val", "right-hand side"),
        ("x.y = tolower(", 14, "", "expected a field name"),
    ] {
        let e = err(text);
        assert_eq!(
            (e.offset, e.token.as_str()),
            (offset, token),
            "{text:?}: {e}"
        );
        assert!(e.message.contains(message), "{text:?}: {e}");
    }
}

#[test]
fn errors_display_message_offset_and_token() {
    assert_eq!(
        err("proc.name ~= x").to_string(),
        "unknown operator (at offset 10, near '~=')"
    );
    assert_eq!(
        err("proc.name =").to_string(),
        "missing value after '=' (at offset 11, end of input)"
    );
}

#[test]
fn nesting_up_to_the_limit_parses_and_deeper_is_an_error() {
    let parens = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(cond(&parens(MAX_DEPTH)), mac("a"));
    let e = err(&parens(MAX_DEPTH + 1));
    assert_eq!((e.offset, e.token.as_str()), (MAX_DEPTH, "("));
    assert_eq!(e.message, "nesting deeper than 256");

    let nots = |n: usize| format!("{}a", "not ".repeat(n));
    assert!(parse_condition(&nots(MAX_DEPTH)).is_ok());
    let e = err(&nots(MAX_DEPTH + 1));
    assert_eq!((e.offset, e.token.as_str()), (4 * MAX_DEPTH, "not"));

    let calls = |n: usize| format!("{}a.b{} exists", "len(".repeat(n), ")".repeat(n));
    assert!(parse_condition(&calls(MAX_DEPTH)).is_ok());
    assert_eq!(err(&calls(MAX_DEPTH + 1)).offset, 4 * MAX_DEPTH);

    // Mixed: every kind counts toward the same limit.
    let mixed = format!("{}a", "not (".repeat(MAX_DEPTH / 2 + 1));
    assert!(err(&mixed).message.contains("nesting"));
}
