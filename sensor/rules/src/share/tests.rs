use std::{cell::RefCell, collections::HashMap, sync::Arc};

use super::share_checks;
use crate::{
    EvtType, Matching, Options,
    ast::Op,
    event::{EventSource, FieldArg},
    fields::Field,
    filter::{CheckNode, Extractor, Lhs, Node, Rhs},
    loader::Source,
    ops::Lit,
    testing::{MapEvent, official_sources},
    value::{FieldType, Value},
};

/// An event that counts the reads of each field.
struct Counting {
    ev: MapEvent,
    reads: RefCell<HashMap<Field, usize>>,
}

impl Counting {
    fn new(ev: MapEvent) -> Self {
        Self {
            ev,
            reads: RefCell::default(),
        }
    }

    fn reads(&self, f: Field) -> usize {
        self.reads.borrow().get(&f).copied().unwrap_or(0)
    }
}

impl EventSource for Counting {
    fn evt_type(&self) -> EvtType {
        self.ev.evt_type()
    }

    fn extract(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>> {
        *self.reads.borrow_mut().entry(field).or_default() += 1;
        self.ev.extract(field, arg)
    }
}

fn load(text: &str) -> crate::Ruleset {
    let src = [Source {
        name: Arc::from("share.yaml"),
        text: text.to_string(),
    }];
    let options = Options {
        matching: Matching::All,
        ..Options::default()
    };
    match crate::load(&src, &options) {
        Ok(l) => l.ruleset,
        Err(e) => panic!("{e:?}"),
    }
}

fn matched(rs: &crate::Ruleset, ev: &Counting) -> Vec<String> {
    let mut names = Vec::new();
    rs.evaluate(ev, |r| names.push(r.name.to_string()));
    names
}

const TWO_RULES: &str = r#"
- rule: a
  desc: d
  condition: evt.type = execve and container.id != host and proc.name = nc
  output: o
  priority: WARNING
- rule: b
  desc: d
  condition: evt.type = execve and container.id != host and proc.cmdline contains "-e"
  output: o
  priority: WARNING
- rule: c
  desc: d
  condition: evt.type = execve and not container.id != host
  output: o
  priority: WARNING
"#;

#[test]
fn a_check_written_in_several_rules_runs_once_per_event() {
    let rs = load(TWO_RULES);
    let ev = Counting::new(
        MapEvent::new(EvtType::Execve)
            .str("container.id", "0123456789ab")
            .str("proc.name", "nc")
            .str("proc.cmdline", "nc -e /bin/sh"),
    );
    assert_eq!(matched(&rs, &ev), ["a", "b"]);
    // Three rules test it (one negated: the same check, the other exit); one read.
    assert_eq!(ev.reads(Field::ContainerId), 1);

    // The next event gets its own answer.
    let host = Counting::new(
        MapEvent::new(EvtType::Execve)
            .str("container.id", "host")
            .str("proc.name", "nc"),
    );
    assert_eq!(matched(&rs, &host), ["c"]);
    assert_eq!(host.reads(Field::ContainerId), 1);
}

fn check(name: &str) -> Node {
    Node::Check(Box::new(CheckNode {
        lhs: Lhs::One(Extractor {
            field: Field::ProcName,
            arg: FieldArg::None,
            transforms: Vec::new(),
            ty: FieldType::Str,
        }),
        op: Op::Eq,
        rhs: Rhs::One(Lit::Str(name.to_string())),
        negate: false,
    }))
}

fn and(xs: Vec<Node>) -> Node {
    Node::And(xs.into())
}

/// The memo slots of `n`'s shared checks, in order.
fn shared_slots(n: &Node, out: &mut Vec<u32>) {
    match n {
        Node::And(xs) | Node::Or(xs) => xs.iter().for_each(|x| shared_slots(x, out)),
        Node::Not(x) => shared_slots(x, out),
        Node::Memo(slot, x) => match &**x {
            Node::Check(_) => out.push(*slot),
            body => shared_slots(body, out),
        },
        Node::Check(_) | Node::EvtType(_) | Node::Const(_) => {}
    }
}

#[test]
fn only_checks_that_recur_get_a_slot_after_the_macros() {
    let mut filters = vec![
        and(vec![check("a"), check("b")]),
        and(vec![check("c"), check("a")]),
    ];
    assert_eq!(share_checks(&mut filters, 5), 6);
    let slots: Vec<Vec<u32>> = filters
        .iter()
        .map(|f| {
            let mut s = Vec::new();
            shared_slots(f, &mut s);
            s
        })
        .collect();
    assert_eq!(slots, [vec![5], vec![5]]);

    let mut alone = vec![and(vec![check("a"), check("b")]), check("c")];
    assert_eq!(share_checks(&mut alone, 5), 5);
}

#[test]
fn a_macro_body_counts_once_however_many_rules_use_it() {
    // Both rules use macro 0 (`a and b`): its body runs once per event, so its checks are
    // not repeats; `b` written out again in the second rule is.
    let body = Arc::new(and(vec![check("a"), check("b")]));
    let mut filters = vec![
        Node::Memo(0, body.clone()),
        and(vec![Node::Memo(0, body), check("b")]),
    ];
    assert_eq!(share_checks(&mut filters, 1), 2);
    let mut second = Vec::new();
    shared_slots(&filters[1], &mut second);
    assert_eq!(second, [1, 1]);
    // The rewritten body is still one body shared by both rules.
    let (Node::Memo(_, x), Node::And(ys)) = (&filters[0], &filters[1]) else {
        panic!("shape changed: {filters:?}");
    };
    let Node::Memo(_, y) = &ys[0] else {
        panic!("shape changed: {ys:?}");
    };
    assert!(Arc::ptr_eq(x, y));
}

/// A loopback connect under the official rules: the `inbound_outbound` and `outbound`
/// macros start with the same three checks, each rule of the type tests the connection, and
/// every one of those runs once.
#[test]
fn official_connect_rules_read_each_shared_field_once() {
    let loaded = crate::load(&official_sources(), &Options::default()).expect("official rules");
    let ev = Counting::new(
        MapEvent::new(EvtType::Connect)
            .str("evt.type", "connect")
            .str("fd.typechar", "4")
            .str("fd.sockfamily", "ip")
            .str("fd.l4proto", "tcp")
            .ip("fd.cip", "127.0.0.1")
            .ip("fd.sip", "127.0.0.1")
            .uint("fd.sport", 8080)
            .int("evt.rawres", 0)
            .str("container.id", "host")
            .str("proc.name", "curl"),
    );
    assert!(matched(&loaded.ruleset, &ev).is_empty());
    assert_eq!(ev.reads(Field::FdTypechar), 1);
    assert_eq!(ev.reads(Field::ContainerId), 1);
    // `fd.ip != 0.0.0.0` and `fd.net != 127.0.0.0/8` read both ends once each.
    assert_eq!(ev.reads(Field::FdCip), 2);
    assert_eq!(ev.reads(Field::FdSip), 2);
}

#[test]
fn leading_memoised_tests_become_the_programs_guards() {
    // `m0 and not a and b`, `a` shared: the program needs m0 true and `a` false first.
    let shared_a = Node::Not(Box::new(Node::Memo(1, Arc::new(check("a")))));
    let f = and(vec![
        Node::Memo(0, Arc::new(and(vec![check("x"), check("y")]))),
        shared_a,
        check("b"),
    ]);
    let p = crate::program::Program::compile(&f);
    assert_eq!(&*p.guards(), [(0, true), (1, false)]);
    // A plain check first: nothing to go by.
    let p = crate::program::Program::compile(&and(vec![
        check("b"),
        Node::Memo(0, Arc::new(check("a"))),
    ]));
    assert!(p.guards().is_empty());
}
