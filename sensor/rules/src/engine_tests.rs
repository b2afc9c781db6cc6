//! The engine end to end on small rules files: operator semantics with Falco's edge cases
//! (missing values, any-ancestor fields, either-end network fields), list and macro
//! expansion, event-type indexing, first/all matching, outputs.

use std::sync::Arc;

use crate::{EvtType, Matching, Options, Priority, Ruleset, loader::Source, testing::MapEvent};

fn src(text: &str) -> Vec<Source> {
    vec![Source {
        name: Arc::from("t.yaml"),
        text: text.to_string(),
    }]
}

fn ruleset_with(text: &str, options: Options) -> Ruleset {
    match crate::load(&src(text), &options) {
        Ok(l) => l.ruleset,
        Err(e) => panic!(
            "{}",
            e.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn errors(text: &str) -> Vec<String> {
    match crate::load(&src(text), &Options::default()) {
        Ok(_) => panic!("loaded without errors:\n{text}"),
        Err(e) => e.iter().map(|d| d.to_string()).collect(),
    }
}

/// Does a single rule with `condition` match `ev`?
fn matches(condition: &str, ev: &MapEvent) -> bool {
    let text = format!(
        "- rule: r\n  desc: d\n  condition: '{}'\n  output: o\n  priority: WARNING\n",
        condition.replace('\'', "''")
    );
    let rs = ruleset_with(&text, Options::default());
    let mut hit = false;
    rs.evaluate(ev, |_| hit = true);
    hit
}

fn exec() -> MapEvent {
    MapEvent::new(EvtType::Execve)
        .str("evt.type", "execve")
        .str("proc.name", "bash")
        .str("proc.cmdline", "bash -c id")
        .str("proc.exepath", "/usr/bin/bash")
        .uint("proc.tty", 34816)
        .int("proc.vpid", 1)
        .str("container.id", "0123456789ab")
        .ancestors(&["runc", "containerd-shim", "systemd"])
}

#[test]
fn equality_and_missing_values() {
    let e = exec();
    assert!(matches("proc.name = bash", &e));
    assert!(matches("proc.name=bash", &e));
    assert!(matches("proc.name == bash", &e));
    assert!(!matches("proc.name = Bash", &e));
    assert!(matches("proc.name != sh", &e));
    // A missing field: every comparison is false, `!=` too; `not` of it is therefore true.
    assert!(!matches("fd.name = x", &e));
    assert!(!matches("fd.name != x", &e));
    assert!(matches("not fd.name = x", &e));
    assert!(!matches("fd.name exists", &e));
    assert!(matches("proc.name exists", &e));
}

#[test]
fn string_operators() {
    let e = exec();
    assert!(matches("proc.cmdline contains \"-c i\"", &e));
    assert!(matches("proc.cmdline icontains BASH", &e));
    assert!(!matches("proc.cmdline contains BASH", &e));
    assert!(matches("proc.exepath startswith /usr/", &e));
    assert!(matches("proc.exepath endswith /bash", &e));
    assert!(matches("proc.exepath glob \"/usr/*\"", &e));
    assert!(matches("proc.exepath glob \"/usr/b?n/ba[sz]h\"", &e));
    assert!(matches("proc.exepath pmatch (/usr/bin)", &e));
    assert!(!matches("proc.exepath pmatch (/usr/bi)", &e));
    assert!(matches("proc.exepath regex \"/usr/(s)?bin/[a-z]+\"", &e));
    assert!(
        !matches("proc.exepath regex \"bin/bash\"", &e),
        "regex matches the whole value"
    );
    assert!(matches("proc.name < bbb", &e), "strings order like strcmp");
    assert!(matches("proc.name in (sh, bash)", &e));
    assert!(matches("proc.name intersects (sh, bash)", &e));
    assert!(!matches("proc.name in ()", &e));
    assert!(
        matches("proc.name in bash", &e),
        "one bare word is a one-element set"
    );
}

#[test]
fn numeric_and_bool_operators() {
    let e = exec().bool("proc.is_exe_upper_layer", true);
    assert!(matches("proc.tty != 0", &e));
    assert!(matches("proc.tty > 100 and proc.tty <= 34816", &e));
    assert!(matches("proc.vpid in (1, 2)", &e));
    assert!(matches("proc.vpid >= -1", &e));
    assert!(matches("proc.is_exe_upper_layer = true", &e));
    assert!(!matches("proc.is_exe_upper_layer = false", &e));
    // Operator/type mismatches are load errors, as in Falco.
    let bad = errors(
        "- rule: r\n  desc: d\n  condition: proc.tty contains 3\n  output: o\n  priority: INFO\n",
    );
    assert!(
        bad[0].contains("t.yaml:3:23") && bad[0].contains("not allowed"),
        "{bad:?}"
    );
    let bad = errors(
        "- rule: r\n  desc: d\n  condition: proc.is_exe_upper_layer = True\n  output: o\n  priority: INFO\n",
    );
    assert!(bad[0].contains("t.yaml:3:40"), "{bad:?}");
}

#[test]
fn any_ancestor_fields() {
    let e = exec();
    assert!(matches("proc.aname = containerd-shim", &e));
    assert!(
        !matches("proc.aname = bash", &e),
        "the process itself is not an ancestor"
    );
    assert!(matches("proc.aname[2] = containerd-shim", &e));
    assert!(!matches("proc.aname[4] = systemd", &e));
    assert!(!matches("proc.aname[4] exists", &e));
    // `!=` is per ancestor: some ancestor differs.
    assert!(matches("proc.aname != runc", &e));
    assert!(matches("proc.aname in (systemd)", &e));
}

#[test]
fn network_fields_either_end_and_cidr() {
    let c = MapEvent::new(EvtType::Connect)
        .ip("fd.cip", "10.1.2.3")
        .ip("fd.sip", "169.254.169.254")
        .uint("fd.cport", 40000)
        .uint("fd.sport", 80)
        .ip("fd.lip", "10.1.2.3")
        .ip("fd.rip", "169.254.169.254");
    assert!(matches("fd.ip = 169.254.169.254", &c));
    assert!(matches("fd.ip = 10.1.2.3", &c));
    assert!(
        !matches("fd.ip != 10.1.2.3", &c),
        "!= needs both ends to differ"
    );
    assert!(matches("fd.port = 80", &c));
    assert!(matches("fd.port < 100", &c));
    assert!(matches("fd.net = \"169.254.0.0/16\"", &c));
    assert!(matches("fd.snet in (\"169.254.0.0/16\", \"fd00::/8\")", &c));
    assert!(!matches("fd.cnet = \"169.254.0.0/16\"", &c));
    assert!(matches("fd.rnet = \"169.254.169.254/32\"", &c));
    assert!(matches("fd.sip = 169.254.169.254", &c));
    assert!(!matches("fd.sip = \"::1\"", &c));
    let bad = errors(
        "- rule: r\n  desc: d\n  condition: fd.net = 10.0.0.1\n  output: o\n  priority: INFO\n",
    );
    assert!(bad[0].contains("t.yaml:3:23"), "{bad:?}");
}

#[test]
fn transformers_and_field_comparisons() {
    let e = exec().str("proc.pname", "bash");
    assert!(matches("toupper(proc.name) = BASH", &e));
    assert!(matches("basename(proc.exepath) = bash", &e));
    assert!(matches("len(proc.name) = 4", &e));
    assert!(matches("proc.name = val(proc.pname)", &e));
    assert!(matches("tolower(proc.name) = val(proc.pname)", &e));
    let bad = errors(
        "- rule: r\n  desc: d\n  condition: tolower(proc.tty) = 1\n  output: o\n  priority: INFO\n",
    );
    assert!(bad[0].contains("t.yaml:3:14"), "{bad:?}");
}

#[test]
fn evt_type_indexing() {
    let rs = ruleset_with(
        "- rule: exec\n  desc: d\n  condition: evt.type in (execve, execveat) and proc.name = bash\n  output: o\n  priority: INFO\n\
         - rule: open\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n\
         - rule: not-connect\n  desc: d\n  condition: not evt.type = connect and not evt.type in (execve, execveat, clone, procexit, mount, umount2)\n  output: o\n  priority: INFO\n\
         - rule: any\n  desc: d\n  condition: proc.name = bash\n  output: o\n  priority: INFO\n",
        Options::default(),
    );
    let by_name = |n: &str| rs.rules().iter().find(|r| &*r.name == n).unwrap();
    let names = |n: &str| {
        by_name(n)
            .evt_types
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("exec"), ["execve", "execveat"]);
    // The complement: every captured type but the seven named.
    let excluded = [
        "connect", "execve", "execveat", "clone", "procexit", "mount", "umount2",
    ];
    let rest: Vec<&str> = EvtType::ALL
        .iter()
        .map(|t| t.name())
        .filter(|n| !excluded.contains(n))
        .collect();
    assert!(rest.starts_with(&["fsopen", "fsmount", "move_mount", "open_tree"]));
    assert_eq!(names("not-connect"), rest);
    assert_eq!(names("open"), ["openat"]);
    assert_eq!(names("any").len(), EvtType::ALL.len());
    assert_eq!(rs.active_count(), 4);
}

#[test]
fn first_or_all_matching_in_definition_order() {
    let text = "- rule: a\n  desc: d\n  condition: proc.name = bash\n  output: o\n  priority: INFO\n\
                - rule: b\n  desc: d\n  condition: proc.name exists\n  output: o\n  priority: INFO\n";
    let fired = |m: Matching| {
        let rs = ruleset_with(
            text,
            Options {
                matching: m,
                ..Options::default()
            },
        );
        let mut v = Vec::new();
        rs.evaluate(&exec(), |r| v.push(r.name.to_string()));
        v
    };
    assert_eq!(fired(Matching::First), ["a"]);
    assert_eq!(fired(Matching::All), ["a", "b"]);
}

#[test]
fn lists_and_macros() {
    let text = "- list: shells\n  items: [sh, bash]\n\
                - list: more_shells\n  items: [shells, zsh]\n\
                - macro: is_shell\n  condition: proc.name in (more_shells)\n\
                - macro: in_container\n  condition: container.id != host\n\
                - rule: r\n  desc: d\n  condition: is_shell and in_container and later_macro\n  output: o\n  priority: INFO\n\
                - macro: later_macro\n  condition: proc.tty != 0\n";
    let rs = ruleset_with(text, Options::default());
    let mut hit = false;
    rs.evaluate(&exec(), |_| hit = true);
    assert!(hit);
}

#[test]
fn macro_errors_name_their_position() {
    let undefined = errors(
        "- rule: r\n  desc: d\n  condition: proc.name = x and nope\n  output: o\n  priority: INFO\n",
    );
    assert!(
        undefined[0].starts_with("t.yaml:3:32: error: Undefined macro 'nope'"),
        "{undefined:?}"
    );
    let cycle = errors(
        "- macro: a\n  condition: b\n- macro: b\n  condition: proc.name = x or a\n\
         - rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n",
    );
    assert!(cycle[0].contains("macro cycle: a -> b -> a"), "{cycle:?}");
    assert!(cycle[0].starts_with("t.yaml:4:"), "{cycle:?}");
}

#[test]
fn unknown_fields_and_bad_operators() {
    let unknown =
        errors("- rule: r\n  desc: d\n  condition: proc.nmae = x\n  output: o\n  priority: INFO\n");
    assert!(
        unknown[0].starts_with("t.yaml:3:14: error: unknown field (near 'proc.nmae')"),
        "{unknown:?}"
    );
    let in_output = errors(
        "- rule: r\n  desc: d\n  condition: proc.name = x\n  output: \"x=%fd.net\"\n  priority: INFO\n",
    );
    assert!(in_output[0].contains("filter only"), "{in_output:?}");
}

#[test]
fn outputs_render_text_and_typed_fields() {
    let rs = ruleset_with(
        "- rule: r\n  desc: d\n  condition: proc.name = bash\n  output: \"Shell (user=%user.name tty=%proc.tty parent=%proc.aname[1] ancestors=%proc.aname up=%toupper(proc.name))\"\n  priority: CRITICAL\n  tags: [b, a]\n",
        Options::default(),
    );
    let ev = exec();
    let mut alert = None;
    rs.evaluate(&ev, |r| {
        alert = Some(rs.alert(r, &ev, 1_685_022_245_478_445_995))
    });
    let a = alert.expect("fires");
    assert_eq!(a.priority, Priority::Critical);
    assert_eq!(&*a.tags, ["a", "b"]);
    assert!(
        a.output.starts_with("13:44:05.478445995: Critical Shell (user=<NA> tty=34816 parent=runc ancestors=runc containerd-shim systemd up=BASH) container_id=0123456789ab container_name=<NA>"),
        "{}",
        a.output
    );
    let f = &a.output_fields;
    assert_eq!(f["user.name"], serde_json::Value::Null);
    assert_eq!(f["proc.tty"], 34816);
    assert_eq!(f["proc.aname[1]"], "runc");
    assert_eq!(f["container.id"], "0123456789ab");
    assert_eq!(f["evt.time"], 1_685_022_245_478_445_995u64);
    assert!(
        !f.contains_key("toupper(proc.name)"),
        "transformed tokens stay out of JSON"
    );
    // The alert's `time` key (the JSON object itself is the sensor's output/alert.rs).
    assert_eq!(
        crate::timefmt::rfc3339(a.time_ns),
        "2023-05-25T13:44:05.478445995Z"
    );
    assert_eq!(&*a.rule, "r");
}

#[test]
fn min_priority_disables_less_severe_rules() {
    let rs = ruleset_with(
        "- rule: r\n  desc: d\n  condition: proc.name = bash\n  output: o\n  priority: NOTICE\n",
        Options {
            min_priority: Priority::Warning,
            ..Options::default()
        },
    );
    assert!(!rs.rules()[0].enabled);
    let mut hit = false;
    rs.evaluate(&exec(), |_| hit = true);
    assert!(!hit);
}

/// The alert of a CRITICAL rule `r` (fires on `exec()`) with `output`, and `extra_fields`
/// appended to every rule's `output_fields`.
fn alert_with_extra_fields(
    output: &str,
    extra_fields: Vec<(String, Option<String>)>,
) -> crate::ruleset::Alert {
    let options = Options {
        append_output: vec![crate::ruleset::AppendOutput {
            extra_fields,
            ..Default::default()
        }],
        ..Options::default()
    };
    let rs = ruleset_with(
        &format!(
            "- rule: r\n  desc: d\n  condition: proc.name = bash\n  output: {output}\n  priority: CRITICAL\n"
        ),
        options,
    );
    let ev = exec();
    let mut alert = None;
    rs.evaluate(&ev, |r| alert = Some(rs.alert(r, &ev, 1)));
    alert.expect("fires")
}

#[test]
fn extra_fields_keep_their_type_when_they_are_a_bare_field() {
    let f = alert_with_extra_fields(
        "o",
        vec![
            ("proc.tty".into(), None),
            ("fd.sport".into(), None),
            ("who".into(), Some("%proc.name on %proc.tty".into())),
        ],
    )
    .output_fields;
    assert_eq!(f["proc.tty"], serde_json::json!(34816));
    assert_eq!(f["fd.sport"], serde_json::Value::Null);
    assert_eq!(f["who"], "bash on 34816");
}

#[test]
fn a_later_field_of_the_same_key_wins_and_keys_come_out_sorted() {
    // Same key as a token of the output: the extra field, rendered later, wins.
    let f = alert_with_extra_fields(
        "'%proc.tty %proc.name %proc.name %evt.type'",
        vec![("proc.name".into(), Some("extra %proc.tty".into()))],
    )
    .output_fields;
    assert_eq!(f["proc.name"], "extra 34816");
    let keys: Vec<&str> = f.keys().collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    assert!(keys.contains(&"evt.type") && keys.contains(&"evt.time"));
}
