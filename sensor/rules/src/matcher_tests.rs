//! The resolved test against the tree's: every operator with every kind of right-hand side,
//! on values of every kind.

use std::net::IpAddr;

use super::*;
use crate::{
    EvtType, ast::Op, event::FieldArg, fields::Field, filter::CheckNode, ops::Cidr,
    testing::MapEvent, value::FieldType,
};

fn strings(items: &[&str]) -> StrSet {
    StrSet::new(items.iter().map(|s| s.to_string()).collect())
}

fn right_hand_sides() -> Vec<Rhs> {
    let ip = |s: &str| Lit::Ip(s.parse::<IpAddr>().unwrap());
    let str = |s: &str| Rhs::One(Lit::Str(s.into()));
    vec![
        Rhs::None,
        str(""),
        str("ab"),
        str("/bin"),
        str("*sh"),
        str("AB"),
        str("héllo"),
        Rhs::One(Lit::Bytes(b"ab".to_vec())),
        Rhs::One(Lit::Int(5)),
        Rhs::One(Lit::Int(-1)),
        Rhs::One(Lit::Uint(5)),
        Rhs::One(Lit::Bool(true)),
        Rhs::One(ip("127.0.0.1")),
        Rhs::One(ip("::1")),
        Rhs::One(Lit::Net(Cidr::parse("10.0.0.0/8").unwrap())),
        Rhs::Strings(strings(&["abc", "sh"])),
        Rhs::Strings(strings(&["a", "b", "c", "d", "e", "f", "g", "abc", "sh"])),
        Rhs::Lits(vec![Lit::Int(5), Lit::Uint(0), ip("127.0.0.1")]),
        Rhs::Paths(PathSet::new(&["/bin".into(), "/etc/*".into()])),
        Rhs::Regex(regex::Regex::new("^a.c$").unwrap()),
        Rhs::Field(Extractor {
            field: Field::ProcName,
            arg: FieldArg::None,
            transforms: Vec::new(),
            ty: FieldType::Str,
        }),
        Rhs::AnyOf(
            vec![
                (Op::StartsWith, str("/b")),
                (Op::Contains, str("ab")),
                (Op::In, Rhs::Strings(strings(&["x"]))),
            ]
            .into(),
        ),
    ]
}

fn values() -> Vec<Value<'static>> {
    let ip = |s: &str| Value::Ip(s.parse().unwrap());
    vec![
        Value::Str("".into()),
        Value::Str("abc".into()),
        Value::Str("ab".into()),
        Value::Str("AB".into()),
        Value::Str("xABy".into()),
        Value::Str("/bin".into()),
        Value::Str("/bin/sh".into()),
        Value::Str("/etc/passwd".into()),
        Value::Str("bash".into()),
        Value::Str("héllo".into()),
        Value::Str("zz".into()),
        Value::Bytes(b"ab".to_vec().into()),
        Value::Bytes(b"xaby".to_vec().into()),
        Value::Int(-1),
        Value::Int(5),
        Value::Int(7),
        Value::Uint(0),
        Value::Uint(5),
        Value::Uint(u64::MAX),
        Value::Bool(true),
        Value::Bool(false),
        ip("127.0.0.1"),
        ip("10.1.2.3"),
        ip("::1"),
    ]
}

#[test]
fn every_operator_and_right_hand_side_agrees_with_the_tree() {
    let ev = MapEvent::new(EvtType::Execve).str("proc.name", "abc");
    let mut compared = 0;
    for rhs in right_hand_sides() {
        for op in Op::ALL {
            let m = Matcher::new(op, &rhs);
            for v in values() {
                assert_eq!(
                    m.test(&v, &ev),
                    CheckNode::test_with(&rhs, op, &v, &ev),
                    "{v:?} {op:?} {rhs:?}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 22 * 19 * 24);
}
