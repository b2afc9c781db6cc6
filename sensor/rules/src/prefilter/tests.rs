//! The analysis on rules written for one behaviour each, checked against the engine: every
//! event the filter drops is also evaluated, and must match no rule.

use super::{
    Budgets, Options, PassReason, TypeFilter, admits, derive,
    maps::{LPM_TYPE_BYTES, MODE_DROP, MODE_FILTER, MODE_PASS, Maps},
    probe::{Probe, flag},
    world::{OPEN, World, load_text, matching},
};
use crate::{EvtType, Ruleset};

const RD: u32 = flag::READ;
const WR: u32 = flag::WRITE;

/// Rules shaped like the official open rules: `open_read`/`open_write`, a sensitive-file
/// macro (names and directories), exclusions by process name and by what the kernel cannot
/// see.
const SENSITIVE: &str = r#"
- list: sensitive_file_names
  items: [/etc/shadow, /etc/sudoers, /etc/pam.conf, /etc/security/pwquality.conf]
- list: trusted
  items: [sshd, sudo, passwd, "a-name-longer-than-a-comm"]
- macro: open_read
  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0)
- macro: sensitive_files
  condition: (fd.name in (sensitive_file_names) or fd.directory in (/etc/sudoers.d, /etc/pam.d))
- macro: cmp_cp_by_passwd
  condition: (proc.name in (cmp, cp) and proc.pname in (passwd, run-parts))
- rule: Read sensitive file untrusted
  desc: d
  condition: >
    open_read and sensitive_files and not proc.name in (trusted)
    and not cmp_cp_by_passwd and not container.image.repository startswith registry/
  output: o
  priority: WARNING
"#;

fn derive_open(rs: &Ruleset) -> TypeFilter {
    derive(rs, OPEN, &Probe::FILE_OPEN, &Options::default())
}

/// `admits`, checked against the engine (a drop must match no rule) and against the map
/// layout (the kernel's decision agrees with the reference).
fn decide(rs: &Ruleset, f: &TypeFilter, w: &World) -> bool {
    let facts = w.facts(&Probe::FILE_OPEN);
    let admitted = admits(f, &facts);
    if !admitted {
        let hit = matching(rs, &w.event(OPEN, &[]));
        assert!(hit.is_empty(), "dropped, yet {hit:?} match {w:?}");
    }
    let mut all = vec![(OPEN, f.clone())];
    let maps = Maps::build(&mut all);
    assert_eq!(
        maps.admits(OPEN, &facts),
        admitted,
        "maps disagree on {w:?}"
    );
    admitted
}

fn filter(f: &TypeFilter) -> &super::Filter {
    match f {
        TypeFilter::Filter(f) => f,
        other => panic!("expected a filter, got {other:?}"),
    }
}

#[test]
fn an_ordinary_read_is_dropped_and_a_sensitive_one_admitted() {
    let rs = load_text(SENSITIVE);
    let f = derive_open(&rs);
    assert_eq!(filter(&f).terms.len(), 1, "{f:?}");
    let read = |comm: &str, path: &str| decide(&rs, &f, &World::open(comm, path, RD, 3));
    assert!(!read("cat", "/home/u/x.txt"));
    assert!(read("cat", "/etc/shadow"));
    assert!(read("cat", "/etc/pam.d/sshd"));
    // The directory itself, opened as a directory fd, is `fd.directory` too.
    assert!(read("cat", "/etc/pam.d"));
    assert!(!read("cat", "/etc/pam.dx"));
    assert!(!read("cat", "/etc/pam.d/a/b"));
    assert!(!read("cat", "/etc/shadow.bak"));
    // Excluded by name: the kernel knows the comm.
    assert!(!read("sshd", "/etc/shadow"));
    // A name longer than a comm never equals one: not excluded by a cut prefix of it.
    assert!(read("a-name-longer-t", "/etc/shadow"));
    // Failed, write-only, or a directory: not an `open_read` of a file.
    assert!(!decide(
        &rs,
        &f,
        &World::open("cat", "/etc/shadow", RD, -13)
    ));
    assert!(!decide(&rs, &f, &World::open("cat", "/etc/shadow", WR, 3)));
    let dir = World {
        kind: Some(1),
        ..World::open("cat", "/etc/shadow", RD, 3)
    };
    assert!(!decide(&rs, &f, &dir));
}

#[test]
fn paths_the_kernel_cannot_decide_pass() {
    let rs = load_text(SENSITIVE);
    let f = derive_open(&rs);
    let long = format!("/home/u/{}/../../../etc/shadow", "d".repeat(300));
    for path in [
        "shadow",
        "../../etc/shadow",
        "/etc//shadow",
        "/etc/./shadow",
        "/tmp/../etc/shadow",
        "/etc/pam.d/",
        long.as_str(),
    ] {
        let mut w = World::open("cat", path, RD, 3);
        w.cwd = "/etc".into();
        assert!(decide(&rs, &f, &w), "{path}");
        // Not because of the path: an excluded name is still dropped.
        w.comm = super::KernelFacts::comm_of(b"sshd");
        assert!(!decide(&rs, &f, &w), "{path}");
    }
    let fault = World {
        raw: None,
        ..World::open("cat", "", RD, 3)
    };
    assert!(decide(&rs, &f, &fault));
}

#[test]
fn no_rule_for_the_type_drops_it_and_a_filter_per_type() {
    let rs = load_text(
        r#"
- rule: shell
  desc: d
  condition: evt.type = execve and proc.name = bash
  output: o
  priority: WARNING
"#,
    );
    assert!(matches!(derive_open(&rs), TypeFilter::Drop));
    let exec = derive(&rs, EvtType::Execve, &Probe::TASK, &Options::default());
    let w = World::open("bash", "/bin/bash", 0, 0);
    assert!(admits(&exec, &w.facts(&Probe::TASK)));
    let w = World::open("sh", "/bin/sh", 0, 0);
    assert!(!admits(&exec, &w.facts(&Probe::TASK)));
}

fn pass_reasons(f: TypeFilter) -> Vec<PassReason> {
    match f {
        TypeFilter::Pass(r) => r,
        other => panic!("expected pass, got {other:?}"),
    }
}

#[test]
fn a_rule_on_what_the_kernel_cannot_see_passes_its_type_and_says_why() {
    let rs = load_text(
        r#"
- rule: by parent
  desc: d
  condition: evt.type in (open,openat,openat2) and (proc.pname = bash or container.id != host)
  output: o
  priority: WARNING
- rule: any open
  desc: d
  condition: evt.type in (open,openat,openat2)
  output: o
  priority: WARNING
- rule: disabled
  desc: d
  condition: evt.type in (open,openat,openat2) and proc.cmdline contains x
  output: o
  priority: WARNING
  enabled: false
"#,
    );
    let reasons = pass_reasons(derive_open(&rs));
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(
        reasons[0].to_string(),
        "rule 'by parent' needs what the kernel cannot test: proc.pname ="
    );
    assert_eq!(
        reasons[1].to_string(),
        "rule 'any open' matches every event of this type"
    );
}

#[test]
fn a_list_test_over_an_empty_list_is_false_on_any_field() {
    // k8s.ns.name is nothing the kernel can test; `in ()` over it still holds for no event.
    let rule = |cond: &str| {
        format!(
            "- rule: r\n  desc: d\n  condition: evt.type in (open,openat,openat2) and {cond}\n  output: o\n  priority: WARNING\n"
        )
    };
    let rs = load_text(&rule("k8s.ns.name in ()"));
    assert!(matches!(derive_open(&rs), TypeFilter::Drop));
    let rs = load_text(&rule("k8s.ns.name intersects ()"));
    assert!(matches!(derive_open(&rs), TypeFilter::Drop));
    // Under `not`, it holds for every event.
    let rs = load_text(&rule("not k8s.ns.name in ()"));
    assert_eq!(
        pass_reasons(derive_open(&rs))
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["rule 'r' matches every event of this type".to_string()]
    );
}

#[test]
fn dump_events_passes_everything() {
    let rs = load_text(SENSITIVE);
    let opts = Options {
        dump_events: true,
        ..Options::default()
    };
    let f = derive(&rs, EvtType::Clone, &Probe::TASK, &opts);
    assert_eq!(pass_reasons(f), vec![PassReason::DumpEvents]);
}

/// One rule per line: (condition after `open_read and`, paths admitted, paths dropped).
const SHAPES: &[(&str, &[&str], &[&str])] = &[
    (
        "fd.name startswith /etc/",
        &["/etc/x", "/etc/a/b"],
        &["/etc", "/etcx", "/var/x"],
    ),
    (
        "fd.name endswith .pem",
        &["/a/k.pem"],
        &["/a/k.pem.bak", "/a/pem"],
    ),
    (
        "fd.name pmatch (/etc/ssh, /home/*/.ssh)",
        &["/etc/ssh", "/etc/ssh/k", "/home/u/.ssh/x", "/home/u/other"],
        &["/etc/sshd", "/homer/u/.ssh", "/home"],
    ),
    (
        "fd.name glob '/proc/*/environ'",
        &["/proc/1/environ", "/proc/self/x/environ"],
        &["/proc/1/status", "/sys/x/environ"],
    ),
    ("fd.name glob '*.key'", &["/a.key"], &["/a.keys"]),
    (
        "fd.name glob '/etc/shadow'",
        &["/etc/shadow"],
        &["/etc/shadow-"],
    ),
    (
        "fd.directory = /root/.ssh",
        &["/root/.ssh/id", "/root/.ssh"],
        &["/root/.sshx", "/root", "/root/.ssh/a/b"],
    ),
    (
        "fd.nameraw contains '../' and fd.nameraw glob '*../*../*'",
        &["../../etc/shadow", "/a/../b"],
        &["/etc/shadow", "a/./b"],
    ),
    (
        "fd.name contains id_rsa",
        &["/home/u/.ssh/id_rsa.pub"],
        &["/home/u/x.txt"],
    ),
    (
        "fd.name glob '*.ssh/*'",
        &["/root/.ssh/x"],
        &["/root/ssh/x"],
    ),
    (
        "fd.directory in (/, /x)",
        &["/anything", "/x/y"],
        &["/a/b", "/x/y/z"],
    ),
    (
        "fd.filename in (authorized_keys, id_rsa)",
        &["/a/authorized_keys", "/id_rsa"],
        &["/a/xid_rsa", "/a/id_rsa.pub"],
    ),
    ("fd.filename glob 'id_*'", &["/a/id_x"], &[]),
    (
        "evt.arg.name startswith /var/lib/docker",
        &["/var/lib/docker/x", "/var/lib/dockerd"],
        &["/var/lib/dock"],
    ),
    ("fd.name in ()", &[], &["/etc/shadow"]),
    (
        "fd.name contains /.ssh/",
        &["/root/.ssh/x"],
        &["/x", "/root/.sshx"],
    ),
    // Untestable path checks admit every path (other dimensions still count).
    ("not fd.name startswith /tmp", &["/tmp/x", "/etc/x"], &[]),
    ("fd.name icontains SHADOW", &["/x"], &[]),
    ("(fd.name startswith /etc or proc.pname = x)", &["/x"], &[]),
    (
        "(fd.name startswith /etc or fd.name startswith /var) and (fd.name endswith .conf or fd.filename = passwd)",
        &["/etc/a.conf", "/var/passwd"],
        &["/etc/x", "/usr/a.conf"],
    ),
];

#[test]
fn path_operators_become_the_patterns_they_imply() {
    for (cond, admitted, dropped) in SHAPES {
        let text = format!(
            "- macro: open_read\n  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true)\n- rule: r\n  desc: d\n  condition: open_read and {cond}\n  output: o\n  priority: WARNING\n"
        );
        let rs = load_text(&text);
        let f = derive_open(&rs);
        if !matches!(f, TypeFilter::Drop) {
            filter(&f);
        }
        for p in *admitted {
            assert!(
                decide(&rs, &f, &World::open("cat", p, RD, 3)),
                "{cond}: {p}"
            );
        }
        for p in *dropped {
            assert!(
                !decide(&rs, &f, &World::open("cat", p, RD, 3)),
                "{cond}: {p}"
            );
        }
        // Whatever the path, a write-only open never matches `open_read`.
        assert!(
            !decide(&rs, &f, &World::open("cat", "/etc/x", WR, 3)),
            "{cond}"
        );
    }
}

/// A comm opening `/etc/x` with these flag classes, result and uid.
type Task = (&'static str, u32, i64, u32);

/// (condition, worlds admitted, worlds dropped) over comm, flags, return value, uid.
#[test]
fn names_flags_results_and_uids() {
    let cases: &[(&str, &[Task], &[Task])] = &[
        (
            "evt.arg.flags contains O_TRUNC",
            &[("x", WR | flag::TRUNC, 3, 0)],
            &[("x", WR, 3, 0)],
        ),
        (
            "not evt.arg.flags contains O_CREAT",
            &[("x", WR, 3, 0)],
            &[("x", WR | flag::CREAT, 3, 0)],
        ),
        (
            "evt.arg.flags contains O_DIRECT",
            &[("x", flag::DIRECTORY, 3, 0)],
            &[],
        ),
        (
            "evt.is_open_write=true and evt.is_open_exec=false",
            &[("x", WR, 3, 0)],
            &[("x", RD, 3, 0), ("x", WR | flag::EXEC, 3, 0)],
        ),
        (
            "evt.rawres in (0, 1, 2)",
            &[("x", 0, 1, 0)],
            &[("x", 0, 3, 0), ("x", 0, -1, 0)],
        ),
        (
            "fd.num=-1 and evt.res startswith E",
            &[("x", 0, -2, 0), ("x", 0, -9999, 0)],
            &[("x", 0, 0, 0)],
        ),
        ("evt.res = SUCCESS", &[("x", 0, 0, 0)], &[("x", 0, -1, 0)]),
        ("evt.res != SUCCESS", &[("x", 0, -13, 0)], &[("x", 0, 5, 0)]),
        (
            "evt.failed = false and fd.num > 2",
            &[("x", 0, 3, 0)],
            &[("x", 0, 2, 0), ("x", 0, -1, 0)],
        ),
        ("user.uid = 0", &[("x", 0, 0, 0)], &[("x", 0, 0, 1000)]),
        (
            "user.uid != 0 and user.uid < 1000",
            &[("x", 0, 0, 33)],
            &[("x", 0, 0, 0), ("x", 0, 0, 1000)],
        ),
        (
            "not proc.name in (a, b) and proc.name != c",
            &[("d", 0, 0, 0)],
            &[("a", 0, 0, 0), ("c", 0, 0, 0)],
        ),
        ("not proc.name != a", &[("a", 0, 0, 0)], &[("b", 0, 0, 0)]),
        (
            "proc.name in (a, b) and not proc.name = a",
            &[("b", 0, 0, 0)],
            &[("a", 0, 0, 0)],
        ),
        ("proc.name startswith a", &[("bash", 0, 0, 0)], &[]),
        (
            "fd.type in (file, directory) and fd.typechar != d",
            &[("x", 0, 0, 0)],
            &[],
        ),
    ];
    for (cond, admitted, dropped) in cases {
        let text = format!(
            "- rule: r\n  desc: d\n  condition: evt.type in (open,openat,openat2) and {cond}\n  output: o\n  priority: WARNING\n"
        );
        let rs = load_text(&text);
        let f = derive_open(&rs);
        let world = |&(comm, flags, ret, uid): &Task| World {
            uid,
            ..World::open(comm, "/etc/x", flags, ret)
        };
        for w in admitted.iter().map(world) {
            assert!(decide(&rs, &f, &w), "{cond}: {w:?}");
        }
        for w in dropped.iter().map(world) {
            assert!(!decide(&rs, &f, &w), "{cond}: {w:?}");
        }
    }
}

#[test]
fn a_kind_test_drops_other_kinds() {
    let rs = load_text(
        "- rule: r\n  desc: d\n  condition: evt.type in (open,openat,openat2) and fd.typechar = d\n  output: o\n  priority: WARNING\n",
    );
    let f = derive_open(&rs);
    let mut w = World::open("x", "/etc", RD, 3);
    assert!(!decide(&rs, &f, &w));
    w.kind = Some(1);
    assert!(decide(&rs, &f, &w));
    // No kind: `fd.typechar = d` is false, `not fd.typechar exists` true.
    w.kind = None;
    assert!(!decide(&rs, &f, &w));
    let rs = load_text(
        "- rule: r\n  desc: d\n  condition: evt.type in (open,openat,openat2) and not fd.typechar exists\n  output: o\n  priority: WARNING\n",
    );
    let f = derive_open(&rs);
    assert!(decide(&rs, &f, &w));
    w.kind = Some(0);
    assert!(!decide(&rs, &f, &w));
}

#[test]
fn budgets_widen_then_pass_naming_the_budget() {
    // 4^6 terms once multiplied out: widened, still a filter, still sound.
    let ors: Vec<String> = (0..6)
        .map(|i| format!("(fd.name startswith /a{i} or fd.name startswith /all/ or proc.name = p{i} or user.uid = {i})"))
        .collect();
    let text = format!(
        "- rule: r\n  desc: d\n  condition: evt.type in (open,openat,openat2) and evt.is_open_read=true and {}\n  output: o\n  priority: WARNING\n",
        ors.join(" and ")
    );
    let rs = load_text(&text);
    let f = derive_open(&rs);
    assert!(filter(&f).terms.len() <= super::maps::MAX_TERMS_PER_TYPE);
    assert!(decide(&rs, &f, &World::open("p0", "/all/x", RD, 3)));
    assert!(!decide(&rs, &f, &World::open("p0", "/all/x", WR, 3)));
    // Each conjunct by another dimension.
    let mut w = World::open("p1", "/a0/x", RD, 3);
    w.uid = 2;
    decide(&rs, &f, &w);
    // Three rules, three name sets, a budget of two: the type passes and says why.
    let rules: String = (0..3)
        .map(|i| format!("- rule: r{i}\n  desc: d\n  condition: evt.type in (open,openat,openat2) and proc.name in (a{i}, b{i}) and fd.name startswith /d{i}/\n  output: o\n  priority: WARNING\n"))
        .collect();
    let rs = load_text(&rules);
    let opts = Options {
        budgets: Budgets {
            comm_sets: 2,
            ..Budgets::default()
        },
        ..Options::default()
    };
    let reasons = pass_reasons(derive(&rs, OPEN, &Probe::FILE_OPEN, &opts));
    assert_eq!(
        reasons[0].to_string(),
        "over budget: 3 proc.name sets (at most 2)"
    );
}

#[test]
fn the_map_layout() {
    let rs = load_text(SENSITIVE);
    let mut all = vec![
        (OPEN, derive_open(&rs)),
        (EvtType::Clone, TypeFilter::Drop),
        (EvtType::Connect, TypeFilter::Pass(Vec::new())),
    ];
    let maps = Maps::build(&mut all);
    let header = |t: EvtType| {
        maps.headers
            .iter()
            .find(|(h, _)| *h == t as u16)
            .map(|(_, h)| *h)
    };
    assert_eq!(header(OPEN).map(|h| h.mode), Some(MODE_FILTER));
    assert_eq!(header(EvtType::Clone).map(|h| h.mode), Some(MODE_DROP));
    assert_eq!(header(EvtType::Connect).map(|h| h.mode), Some(MODE_PASS));
    // An exact name is its bytes and a NUL; a directory prefix ends in `/`.
    let keys: Vec<&[u8]> = maps
        .prefix
        .iter()
        .map(|(k, _)| &k.data[LPM_TYPE_BYTES..k.prefixlen as usize / 8])
        .collect();
    assert!(keys.contains(&&b"/etc/shadow\0"[..]), "{keys:?}");
    // A directory's key is its bytes and a NUL.
    let dir = |d: &str| {
        maps.dirs
            .iter()
            .any(|(k, _)| k.bytes() == [d.as_bytes(), &[0]].concat())
    };
    assert!(dir("/etc/pam.d") && dir("/etc/sudoers.d"));
    assert!(keys.contains(&&b"/etc/pam.d\0"[..]), "{keys:?}");
    assert_eq!(
        maps.comm.len(),
        3,
        "sshd, sudo, passwd: the long name is not a comm"
    );
    assert!(maps.terms.len() == 1 && maps.terms[0].comm_neg == maps.terms[0].comm_need);
}
