//! Checks case by case: operators, values and escapes, lists, fields and transformers.

use super::*;

// ---- operators -----------------------------------------------------------------------------

#[test]
fn every_operator_spelling() {
    for (spelling, op) in [
        ("=", Op::Eq),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
        ("contains", Op::Contains),
        ("icontains", Op::IContains),
        ("bcontains", Op::BContains),
        ("startswith", Op::StartsWith),
        ("bstartswith", Op::BStartsWith),
        ("endswith", Op::EndsWith),
        ("glob", Op::Glob),
        ("iglob", Op::IGlob),
        ("in", Op::In),
        ("intersects", Op::Intersects),
        ("pmatch", Op::PMatch),
        ("regex", Op::Regex),
    ] {
        let text = format!("fd.name {spelling} x1");
        let e = parse_condition(&text).unwrap();
        let Expr::Check(c) = &e else {
            panic!("{text}: {e:?}")
        };
        assert_eq!(c.op, op, "{text}");
        assert_eq!(c.op_span, Span::new(8, 8 + spelling.len()), "{text}");
        assert_eq!(
            c.rhs,
            Rhs::Value(Literal {
                text: "x1".into(),
                quoted: false,
                span: Span::new(9 + spelling.len(), 11 + spelling.len())
            })
        );
    }
    assert_eq!(
        cond("fd.name exists"),
        check(field("fd.name"), Op::Exists, Rhs::None)
    );
    assert_eq!(
        cond("(fd.name exists)"),
        check(field("fd.name"), Op::Exists, Rhs::None)
    );
}

#[test]
fn symbol_operators_need_no_spaces() {
    assert_eq!(cond("proc.name=bash"), eq("proc.name", "bash"));
    assert_eq!(cond("proc.name==bash"), eq("proc.name", "bash"));
    assert_eq!(
        cond("proc.name!=bash"),
        check(field("proc.name"), Op::Ne, bare("bash"))
    );
    assert_eq!(cond("evt.num=0"), eq("evt.num", "0"));
    assert_eq!(cond("fd.num>=0"), check(field("fd.num"), Op::Ge, bare("0")));
    assert_eq!(
        cond("fd.num<-1"),
        check(field("fd.num"), Op::Lt, bare("-1"))
    );
    // Longest operator first, then the rest is the value, like Falco's lexer.
    assert_eq!(cond("evt.dir=<"), eq("evt.dir", "<"));
    assert_eq!(cond("evt.dir = >"), eq("evt.dir", ">"));
    assert_eq!(
        cond("fd.typechar='f'"),
        check(field("fd.typechar"), Op::Eq, quoted("f"))
    );
}

#[test]
fn bare_values() {
    for v in [
        "<NA>",
        "-1",
        "/usr/bin/",
        "E",
        "O_RDONLY|O_WRONLY",
        "1.5e3",
        "a;b",
        "é✓",
        "*.py",
        "0x1f",
    ] {
        assert_eq!(cond(&format!("fd.name = {v}")), eq("fd.name", v), "{v}");
        assert_eq!(
            cond(&format!("fd.name startswith {v} and a")),
            Expr::And(vec![
                check(field("fd.name"), Op::StartsWith, bare(v)),
                mac("a"),
            ])
        );
    }
    // A value ends at `)`: the closing parenthesis of a group.
    assert_eq!(cond("(proc.name=bash)"), eq("proc.name", "bash"));
}

#[test]
fn quoted_values_and_escapes() {
    let q = |text: &str| match cond(&format!("fd.name = {text}")) {
        Expr::Check(Check {
            rhs: Rhs::Value(l), ..
        }) if l.quoted => l.text,
        e => panic!("{text}: {e:?}"),
    };
    assert_eq!(q(r#""a b""#), "a b");
    assert_eq!(q(r#""""#), "");
    assert_eq!(q("'it'"), "it");
    assert_eq!(q(r#""say \"hi\"""#), r#"say "hi""#);
    assert_eq!(q(r"'it\'s'"), "it's");
    assert_eq!(q(r#"'say "hi"'"#), r#"say "hi""#);
    assert_eq!(q(r#""\b\f\n\r\t\\\/""#), "\u{8}\u{c}\n\r\t\\/");
    assert_eq!(q(r#""\x41\x7a""#), "Az");
    assert_eq!(q(r#""\xc3\xa9""#), "é");
    assert_eq!(q(r#""a\ b""#), r"a\ b");
    assert_eq!(q("\"multi\nline é\""), "multi\nline é");
}

#[test]
fn bad_quoted_values() {
    for (text, offset, token, message) in [
        (r#"a.b = "\q""#, 7, r"\q", "invalid escape"),
        (r#"a.b = "\'""#, 7, r"\'", "invalid escape"),
        (r#"a.b = '\"'"#, 7, r#"\""#, "invalid escape"),
        (r#"a.b = "\é""#, 7, r"\é", "invalid escape"),
        (r#"a.b = "\x4""#, 7, r#"\x4""#, "invalid \\x escape"),
        (r#"a.b = "\xZZ""#, 7, r"\xZZ", "invalid \\x escape"),
        (r#"a.b = "\x+f""#, 7, r"\x+f", "invalid \\x escape"),
        (r#"a.b = "\x00""#, 7, r"\x00", "NUL"),
        ("a.b = \"x\0\"", 8, "\0", "NUL"),
        ("a.b = x\0y", 7, "\0", "NUL"),
        (r#"a.b = "\xff""#, 6, r#""\xff""#, "UTF-8"),
        (r#"a.b = "abc"#, 6, r#""abc"#, "unterminated string"),
        (r#"a.b = 'abc\'"#, 6, r"'abc\'", "unterminated string"),
        (r#"a.b = "abc\"#, 6, r#""abc\"#, "unterminated string"),
    ] {
        let e = err(text);
        assert_eq!((e.offset, e.token.as_str()), (offset, token), "{text}: {e}");
        assert!(e.message.contains(message), "{text}: {e}");
    }
}

// ---- lists ---------------------------------------------------------------------------------

#[test]
fn lists() {
    let c = |text: &str| cond(&format!("proc.name in {text}"));
    let is = |rhs| check(field("proc.name"), Op::In, rhs);
    assert_eq!(c("()"), is(list(&[])));
    assert_eq!(c("( )"), is(list(&[])));
    assert_eq!(c("(bash)"), is(list(&[("bash", false)])));
    assert_eq!(
        c("(a,b ,  c\n)"),
        is(list(&[("a", false), ("b", false), ("c", false)]))
    );
    assert_eq!(
        c(r#"( "a b" , 'c,d', e )"#),
        is(list(&[("a b", true), ("c,d", true), ("e", false)]))
    );
    assert_eq!(
        c("(<NA>, -1, /usr/bin/)"),
        is(list(&[
            ("<NA>", false),
            ("-1", false),
            ("/usr/bin/", false)
        ]))
    );
    // A list name outside parentheses: a one-element set.
    assert_eq!(c("shell_binaries"), is(bare("shell_binaries")));
    assert_eq!(c("'a b'"), is(quoted("a b")));
    assert_eq!(cond("proc.name in(a)"), is(list(&[("a", false)])));
    assert_eq!(
        cond("fd.name pmatch (/tmp) or evt.type intersects (open)"),
        Expr::Or(vec![
            check(field("fd.name"), Op::PMatch, list(&[("/tmp", false)])),
            check(field("evt.type"), Op::Intersects, list(&[("open", false)])),
        ])
    );
    let e = parse_condition("x.y in (a, 'b')").unwrap();
    let Expr::Check(Check {
        rhs: Rhs::List { items, span },
        ..
    }) = e
    else {
        panic!()
    };
    assert_eq!(span, Span::new(7, 15));
    assert_eq!(
        (items[0].span, items[1].span),
        (Span::new(8, 9), Span::new(11, 14))
    );
}

#[test]
fn bad_lists() {
    for (text, offset, token, message) in [
        ("x.y in (a,)", 10, ")", "expected a list item"),
        ("x.y in (,a)", 8, ",", "expected a list item"),
        ("x.y in (a b)", 10, "b", "expected ',' or ')'"),
        ("x.y in (a", 9, "", "missing ')'"),
        ("x.y in (a,", 10, "", "missing ')'"),
        ("x.y in (a=b)", 9, "=", "expected ',' or ')'"),
        ("x.y = (a)", 6, "(", "expected a value"),
        ("x.y contains (a)", 13, "(", "expected a value"),
        ("x.y contains(a)", 12, "(", "expected whitespace"),
    ] {
        let e = err(text);
        assert_eq!((e.offset, e.token.as_str()), (offset, token), "{text}: {e}");
        assert!(e.message.contains(message), "{text}: {e}");
    }
}

// ---- fields and transformers ---------------------------------------------------------------

#[test]
fn field_names_and_arguments() {
    for name in [
        "proc.exe_ino.ctime_duration_proc_start",
        "evt.arg.flags",
        "container.image.repository",
        "a.1b",
        "x1.y_",
    ] {
        assert_eq!(
            cond(&format!("{name} exists")),
            check(field(name), Op::Exists, Rhs::None)
        );
    }
    let arg = |text: &str, name: &str, a: &str| {
        assert_eq!(
            cond(text),
            check(field_arg(name, a), Op::Exists, Rhs::None),
            "{text}"
        );
    };
    arg("proc.aname[2] exists", "proc.aname", "2");
    arg(
        "container.mount.dest[/etc/kubernetes] exists",
        "container.mount.dest",
        "/etc/kubernetes",
    );
    arg(
        "container.mount.dest[/proc*] exists",
        "container.mount.dest",
        "/proc*",
    );
    arg(
        "k8s.pod.label[app.kubernetes.io/name] exists",
        "k8s.pod.label",
        "app.kubernetes.io/name",
    );
    arg(
        "k8s.pod.label[a(b)c=d,e] exists",
        "k8s.pod.label",
        "a(b)c=d,e",
    );
    arg(r#"k8s.pod.label["a b]"] exists"#, "k8s.pod.label", "a b]");
    arg("k8s.pod.label['x'] exists", "k8s.pod.label", "x");
    assert_eq!(
        cond("proc.aname[2]=bash"),
        check(field_arg("proc.aname", "2"), Op::Eq, bare("bash"))
    );
    let e = parse_condition(" proc.aname[3] = x").unwrap();
    let Expr::Check(c) = e else { panic!() };
    assert_eq!(c.lhs.span(), Span::new(1, 14));
    assert_eq!(c.op_span, Span::new(15, 16));
}

#[test]
fn transformers() {
    use Transformer::*;
    assert_eq!(
        cond("tolower(proc.name) = bash"),
        check(tr(ToLower, field("proc.name")), Op::Eq, bare("bash"))
    );
    assert_eq!(
        cond("toupper(basename(proc.exepath))=BASH"),
        check(
            tr(ToUpper, tr(Basename, field("proc.exepath"))),
            Op::Eq,
            bare("BASH")
        )
    );
    assert_eq!(
        cond("len( proc.aname[2] ) > 3"),
        check(tr(Len, field_arg("proc.aname", "2")), Op::Gt, bare("3"))
    );
    assert_eq!(
        cond("b64(evt.buffer) exists"),
        check(tr(B64, field("evt.buffer")), Op::Exists, Rhs::None)
    );
    assert_eq!(
        cond("proc.name = val(proc.pname)"),
        check(
            field("proc.name"),
            Op::Eq,
            Rhs::Operand(tr(Val, field("proc.pname")))
        )
    );
    assert_eq!(
        cond("proc.name contains tolower(proc.pname)"),
        check(
            field("proc.name"),
            Op::Contains,
            Rhs::Operand(tr(ToLower, field("proc.pname")))
        )
    );
    assert_eq!(
        cond("proc.name in val(proc.pname)"),
        check(
            field("proc.name"),
            Op::In,
            Rhs::Operand(tr(Val, field("proc.pname")))
        )
    );
    // Without `(` a transformer's name is just a word.
    assert_eq!(cond("tolower"), mac("tolower"));
    assert_eq!(cond("proc.name = tolower"), eq("proc.name", "tolower"));
    let e = parse_condition("x.y = val(toupper(a.b))").unwrap();
    let Expr::Check(Check {
        rhs: Rhs::Operand(Operand::Transform { span, inner, .. }),
        ..
    }) = e
    else {
        panic!()
    };
    assert_eq!(span, Span::new(6, 23));
    assert_eq!(inner.span(), Span::new(10, 22));
}
