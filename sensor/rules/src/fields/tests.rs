use crate::ast::Op;
use std::{collections::BTreeSet, path::PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use super::*;

#[test]
fn table_order_matches_the_enum() {
    for (i, d) in FIELDS.iter().enumerate() {
        assert_eq!(d.field as usize, i, "{}", d.name);
    }
}

#[test]
fn no_duplicate_names() {
    let mut seen = BTreeSet::new();
    for d in FIELDS {
        assert!(seen.insert(d.name), "{} twice", d.name);
    }
}

#[test]
fn names_match_the_field_token_grammar_and_a_class() {
    let grammar = regex::Regex::new(r"^[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z][a-zA-Z0-9_]*)+$").unwrap();
    for d in FIELDS {
        assert!(grammar.is_match(d.name), "{}", d.name);
        let class = d.name.split('.').next().unwrap();
        assert!(
            CLASSES.iter().any(|(c, _)| *c == class),
            "{}: no class",
            d.name
        );
        assert!(!d.desc.is_empty() && !d.desc.contains('\n'), "{}", d.name);
    }
}

#[test]
fn flags_fit_the_types_and_arguments() {
    for d in FIELDS {
        if d.has(FILTER_ONLY) {
            assert!(
                matches!(d.ty, FieldType::IpAddr | FieldType::Port | FieldType::IpNet),
                "{}",
                d.name
            );
            assert!(d.has(NO_TRANSFORMER), "{}", d.name);
        }
        if d.ty == FieldType::IpNet {
            assert!(d.has(FILTER_ONLY), "{}", d.name);
        }
        if d.has(ANY_ANCESTOR) {
            assert_eq!(d.arg, ArgKind::Index, "{}", d.name);
            assert!(d.has(NO_TRANSFORMER), "{}", d.name);
        }
        if d.has(OPTIONAL_ARG) {
            assert_ne!(d.arg, ArgKind::None, "{}", d.name);
        }
    }
}

#[test]
fn dotted_and_bracketed_event_arguments() {
    assert_eq!(
        lookup("evt.arg.flags", None),
        Ok((Field::EvtArg, FieldArg::Key("flags".into())))
    );
    assert_eq!(
        lookup("evt.arg", Some("1")),
        Ok((Field::EvtArg, FieldArg::Index(1)))
    );
    assert_eq!(
        lookup("evt.rawarg.res", None),
        Ok((Field::EvtRawarg, FieldArg::Key("res".into())))
    );
    assert_eq!(
        lookup("evt.arg.nonsense", None),
        Err(LookupError::UnknownEvtArg("nonsense".into()))
    );
    assert_eq!(
        lookup("evt.args", None),
        Ok((Field::EvtArgs, FieldArg::None))
    );
    assert_eq!(lookup("proc.nmae", None), Err(LookupError::Unknown));
}

#[test]
fn ancestor_index_is_optional() {
    assert_eq!(
        lookup("proc.aname", None),
        Ok((Field::ProcAname, FieldArg::None))
    );
    assert_eq!(
        lookup("proc.aname", Some("2")),
        Ok((Field::ProcAname, FieldArg::Index(2)))
    );
    assert!(lookup("proc.aname", Some("x")).is_err());
    assert!(lookup("proc.name", Some("1")).is_err());
}

#[test]
fn argument_forms_of_the_reference() {
    let ok = |name, arg: Option<&str>| lookup(name, arg).map(|(_, a)| a);
    assert_eq!(ok("proc.aexepath", Some("2")), Ok(FieldArg::Index(2)));
    assert_eq!(ok("proc.apid", Some("7")), Ok(FieldArg::Index(7)));
    assert_eq!(ok("proc.args", None), Ok(FieldArg::None));
    assert_eq!(ok("proc.args", Some("0")), Ok(FieldArg::Index(0)));
    assert!(ok("proc.args", Some("HOME")).is_err());
    assert_eq!(ok("proc.env", None), Ok(FieldArg::None));
    assert_eq!(
        ok("proc.env", Some("HOME")),
        Ok(FieldArg::Key("HOME".into()))
    );
    assert_eq!(
        ok("container.mount.dest", Some("/proc*")),
        Ok(FieldArg::Key("/proc*".into()))
    );
    assert_eq!(
        ok("container.mount.dest", Some("0")),
        Ok(FieldArg::Index(0))
    );
    assert_eq!(
        ok("container.mount.dest", Some("01")),
        Ok(FieldArg::Key("01".into()))
    );
    assert_eq!(
        ok("container.mount.dest", None),
        Err(LookupError::ArgRequired("container.mount.dest"))
    );
    assert_eq!(
        ok("k8s.pod.label", Some("app.kubernetes.io/name")),
        Ok(FieldArg::Key("app.kubernetes.io/name".into()))
    );
    assert!(ok("k8s.pod.label", None).is_err());
    assert_eq!(
        ok("fd.net", Some("x")),
        Err(LookupError::NoArgAllowed("fd.net"))
    );
    for f in [
        "fd.net", "fd.cnet", "fd.snet", "fd.lnet", "fd.rnet", "fd.ip", "fd.port",
    ] {
        let (field, _) = lookup(f, None).unwrap();
        assert!(field.def().has(FILTER_ONLY | NO_TRANSFORMER), "{f}");
    }
}

#[test]
fn list_text_groups_by_class_and_marks_filter_only_fields() {
    let text = list_text();
    for (class, _) in CLASSES {
        assert!(text.contains(&format!("Field class: {class} (")), "{class}");
    }
    let line = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed"))
            .to_string()
    };
    assert!(line("proc.aname[N]").contains("CHARBUF"));
    assert!(line("fd.net").contains("IPNET    (filter only) "));
    assert!(line("evt.arg.NAME").contains("CHARBUF"));
    assert!(line("evt.dir").contains("(deprecated)"));
    assert_eq!(
        text.lines().filter(|l| l.contains("  ")).count(),
        FIELDS.len()
    );
}

/// Where the official rules files are (see `official_tests`); the test fails when they are absent.
fn rules_dir() -> PathBuf {
    crate::official_tests::official_dir()
}

/// The field tokens (name, bracket argument) in `text`. In a condition a field stands where a
/// check starts (after the start, whitespace, `(` or `,`) and an operator follows it, which
/// tells it from a value (`/usr/bin/x.sh`, `"a.conf"`, `docker.io`); in an output (prose around
/// the fields, `percent_only`) it is a `%field`.
fn field_tokens(text: &str, percent_only: bool) -> Vec<(String, Option<String>)> {
    let token =
        regex::Regex::new(r"[a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+(?:\[([^\]]*)\])?").unwrap();
    let mut out = Vec::new();
    for m in token.captures_iter(text) {
        let all = m.get(0).unwrap();
        let before = text[..all.start()].chars().next_back();
        let field = if percent_only {
            before == Some('%')
        } else {
            let starts = before.is_none_or(|c| c.is_whitespace() || "(,".contains(c));
            let rest = text[all.end()..].trim_start();
            starts
                && Op::ALL.iter().map(|o| o.as_str()).any(|op| {
                    rest.strip_prefix(op).is_some_and(|after| {
                        op.starts_with(|c: char| !c.is_ascii_alphabetic())
                            || after.starts_with(|c: char| c.is_whitespace() || c == '(')
                            || after.is_empty()
                    })
                })
        };
        if !field {
            continue;
        }
        let arg = m.get(1).map(|a| a.as_str().to_string());
        let name = match arg {
            Some(_) => &all.as_str()[..all.as_str().find('[').unwrap()],
            None => all.as_str(),
        };
        out.push((name.to_string(), arg));
    }
    out
}

#[test]
fn tokens_skip_paths_and_quoted_values() {
    let t = field_tokens(
        r#"proc.name=x.sh and fd.name startswith /usr/bin/x.sh and (proc.aname[2] in ("a.b", c.d))
           and not container.image.repository in (docker.io) and fd.num exists"#,
        false,
    );
    let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "proc.name",
            "fd.name",
            "proc.aname",
            "container.image.repository",
            "fd.num"
        ]
    );
    assert_eq!(t[2].1.as_deref(), Some("2"));
    let t = field_tokens("shell (user=%user.name e.g. %proc.aname[3])", true);
    assert_eq!(t.len(), 2);
}

/// yaml-rust2 rejects a flow sequence's closing `]` on a line of its own indented no deeper than
/// the key that opened it (`items: [` … `  ]`, as falco-sandbox_rules.yaml writes its lists);
/// libyaml and yaml-cpp accept it. Indent such lines like the line before them.
fn indent_flow_ends(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut prev_indent = 0;
    for line in text.lines() {
        if line.trim() == "]" {
            out.push_str(&" ".repeat(prev_indent));
            out.push_str("]\n");
            continue;
        }
        if !line.trim().is_empty() {
            prev_indent = line.len() - line.trim_start().len();
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn every_field_of_the_official_rules_is_known() {
    let dir = rules_dir();
    let mut seen = BTreeSet::new();
    let mut unknown = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        files += 1;
        let text = indent_flow_ends(&std::fs::read_to_string(&path).unwrap());
        let docs = YamlLoader::load_from_str(&text).unwrap();
        let items = docs.iter().filter_map(Yaml::as_vec).flatten();
        let mut tokens = Vec::new();
        for item in items {
            if let Some(c) = item["condition"].as_str() {
                tokens.extend(field_tokens(c, false));
            }
            if let Some(o) = item["output"].as_str() {
                tokens.extend(field_tokens(o, true));
            }
            for exc in item["exceptions"].as_vec().into_iter().flatten() {
                match &exc["fields"] {
                    Yaml::String(f) => tokens.push((f.clone(), None)),
                    Yaml::Array(fs) => tokens.extend(
                        fs.iter()
                            .filter_map(Yaml::as_str)
                            .flat_map(|f| field_tokens(f, false)),
                    ),
                    _ => {}
                }
            }
        }
        for (name, arg) in tokens {
            match lookup(&name, arg.as_deref()) {
                Ok((f, _)) => {
                    seen.insert(f);
                }
                Err(e) => unknown.push(format!("{}: {name} {arg:?}: {e}", path.display())),
            }
        }
    }
    assert_eq!(
        files, 3,
        "expected the three official rules files in {dir:?}"
    );
    assert!(
        unknown.is_empty(),
        "unknown fields:\n{}",
        unknown.join("\n")
    );
    // The reference counts 90 base names, 14 of which are evt.arg.NAME (one field here).
    assert_eq!(seen.len(), 90 - 14 + 1, "{seen:?}");
}

#[test]
fn each_field_has_the_class_its_name_starts_with() {
    for def in FIELDS {
        let class = def.name.split('.').next().unwrap();
        let expected = match class {
            "evt" => Class::Evt,
            "proc" => Class::Proc,
            "thread" => Class::Thread,
            "user" => Class::User,
            "group" => Class::Group,
            "fd" => Class::Fd,
            "fs" => Class::FsPath,
            "container" => Class::Container,
            "k8s" => Class::K8s,
            "lanner" => Class::Lanner,
            other => panic!("{}: class {other}", def.name),
        };
        assert_eq!(def.field.class(), expected, "{}", def.name);
    }
}
