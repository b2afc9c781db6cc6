//! The prefilter of the three official rules files: what each type gets, and that it is
//! useful where it matters — an ordinary read by `cat` never leaves the kernel, a read of
//! `/etc/shadow` does and fires the rule. The open family is on its stand-in type until
//! those event types exist (`world::captured`); the expected results are the real ones.

use super::{
    Options, TypeFilter, admits, derive_all,
    maps::Maps,
    probe::{Probe, flag},
    world::{OPEN, World, captured, load, load_with, matching},
};
use crate::{EvtType, Ruleset, loader::Source, testing::official_sources};

pub fn official() -> Ruleset {
    load(&official_captured())
}

/// …with the fields the sensor fills: the rule that needs `fd.sip.name` cannot fire, and no
/// longer makes every connect pass.
pub fn official_as_sensor() -> Ruleset {
    load_with(&official_captured(), crate::availability::lanner)
}

fn official_captured() -> Vec<Source> {
    official_sources()
        .into_iter()
        .map(|s| Source {
            text: captured(&s.text),
            ..s
        })
        .collect()
}

/// Probes as the sensor will have them: the open family decides on everything, exec and
/// mount on the task and the result; the rest as the sensor's programs do
/// (`plan::kernel_probe`), or on the task.
pub fn probe_of(t: EvtType) -> Probe {
    match t {
        OPEN => Probe::FILE_OPEN,
        EvtType::Execve | EvtType::Execveat | EvtType::Mount => Probe::RET,
        t => super::plan::kernel_probe(t).unwrap_or(Probe::TASK),
    }
}

#[test]
fn the_official_open_rules_keep_ordinary_reads_in_the_kernel() {
    let rs = official();
    let open_rules = rs
        .rules()
        .iter()
        .filter(|r| r.enabled && r.evt_types.contains(OPEN))
        .count();
    assert!(
        open_rules >= 15,
        "the open family's rules are on the stand-in ({open_rules})"
    );
    let all = derive_all(&rs, [OPEN], probe_of, &Options::default());
    let f = &all[0].1;
    let TypeFilter::Filter(filter) = f else {
        panic!("the open family is filtered, not {f:?}");
    };
    println!("open: {} rules, {} terms", filter.rules, filter.terms.len());
    for t in &filter.terms {
        println!("  {t}");
    }
    let probe = Probe::FILE_OPEN;
    let decide = |w: &World| {
        let admitted = admits(f, &w.facts(&probe));
        let hit = matching(&rs, &w.event(OPEN, &[]));
        assert!(
            admitted || hit.is_empty(),
            "dropped, yet {hit:?} match {w:?}"
        );
        (admitted, hit)
    };
    // `cat` reading an ordinary file: dropped, whatever the flags of a read.
    for flags in [
        flag::READ,
        flag::READ | flag::CLOEXEC,
        flag::READ | flag::NONBLOCK,
    ] {
        let (admitted, _) = decide(&World::open("cat", "/home/u/x.txt", flags, 3));
        assert!(!admitted, "an ordinary read leaves the kernel");
    }
    for path in [
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/proc/self/status",
        "/tmp/a",
    ] {
        assert!(
            !decide(&World::open("cat", path, flag::READ, 3)).0,
            "{path}"
        );
    }
    // `cat /etc/shadow`: admitted, and Read sensitive file untrusted fires.
    let (admitted, hit) = decide(&World::open("cat", "/etc/shadow", flag::READ, 3));
    assert!(admitted);
    assert!(
        hit.iter().any(|r| r == "Read sensitive file untrusted"),
        "{hit:?}"
    );
    // Relative: the kernel cannot tell, so it passes.
    let mut w = World::open("cat", "shadow", flag::READ, 3);
    w.cwd = "/etc".into();
    let (admitted, hit) = decide(&w);
    assert!(admitted && hit.iter().any(|r| r == "Read sensitive file untrusted"));
    // Through `../`: the raw path has the needle, and the traversal rule fires.
    let w = World::open("cat", "../../etc/shadow", flag::READ, 3);
    let (admitted, hit) = decide(&w);
    assert!(admitted, "{hit:?}");
    assert!(
        hit.iter()
            .any(|r| r == "Directory traversal monitored file read"),
        "{hit:?}"
    );
    // An ordinary write, a failed open: dropped.
    let write = flag::WRITE | flag::CREAT | flag::TRUNC;
    assert!(!decide(&World::open("bash", "/home/u/out.txt", write, 3)).0);
    assert!(!decide(&World::open("cat", "/home/u/missing", flag::READ, -2)).0);
    // A write directly below `/`: admitted (the sandbox's Write below root).
    let (admitted, hit) = decide(&World::open("bash", "/x", write, 3));
    assert!(
        admitted && hit.iter().any(|r| r == "Write below root"),
        "{hit:?}"
    );
    assert!(!decide(&World::open("bash", "/opt/x/y", write, 3)).0);
}

/// The reverse-shell rule keeps only dups of IP sockets onto stdin, stdout or stderr: a
/// shell's pipes and redirections to files never leave the kernel.
#[test]
fn the_official_dup_rule_keeps_only_ip_sockets_onto_stdio() {
    use super::facts::kind_index;
    let rs = official();
    let dup2 = |kind: &str, typechar: &str, ret: i64| World {
        raw: None,
        flags: 0,
        kind: kind_index(typechar, kind),
        ..World::open("sh", "/", 0, ret)
    };
    let all = derive_all(&rs, [EvtType::Dup2], probe_of, &Options::default());
    let f = &all[0].1;
    println!("dup2: {f:?}");
    let probe = Probe::NEW_FD;
    let admitted = |w: &World| admits(f, &w.facts(&probe));
    for ret in [0, 1, 2] {
        assert!(
            admitted(&dup2("ipv4", "4", ret)),
            "an IPv4 socket onto {ret}"
        );
        assert!(
            admitted(&dup2("ipv6", "6", ret)),
            "an IPv6 socket onto {ret}"
        );
        assert!(!admitted(&dup2("pipe", "p", ret)), "a pipe onto {ret}");
        assert!(
            !admitted(&dup2("unix", "u", ret)),
            "a unix socket onto {ret}"
        );
        assert!(!admitted(&dup2("file", "f", ret)), "a file onto {ret}");
    }
    assert!(!admitted(&dup2("ipv4", "4", 5)), "an IPv4 socket onto fd 5");
    assert!(!admitted(&dup2("ipv4", "4", -9)), "a failed dup2");
}

/// Every type's verdict with the official rules, and how long deriving them takes (printed,
/// not asserted: `cargo test --release -p lanner-rules official_verdicts -- --nocapture`).
#[test]
fn official_verdicts() {
    let rs = official();
    let start = std::time::Instant::now();
    let mut all = derive_all(&rs, EvtType::ALL, probe_of, &Options::default());
    let derived = start.elapsed();
    let maps = Maps::build(&mut all);
    println!(
        "derived {} types in {derived:?}; maps: {} terms, {} needles, {} comm keys, {} prefix keys, {} suffix keys, {} directory keys",
        all.len(),
        maps.terms.len(),
        maps.needles.len(),
        maps.comm.len(),
        maps.prefix.len(),
        maps.suffix.len(),
        maps.dirs.len()
    );
    for (t, f) in &all {
        match f {
            TypeFilter::Drop => println!("{:<10} drop", t.name()),
            TypeFilter::Filter(f) => println!(
                "{:<10} filter: {} rules, {} terms",
                t.name(),
                f.rules,
                f.terms.len()
            ),
            TypeFilter::Pass(reasons) => {
                println!("{:<10} pass: {} rules", t.name(), reasons.len());
                for r in reasons {
                    println!("    {r}");
                }
            }
        }
    }
    assert!(matches!(all[OPEN as usize].1, TypeFilter::Filter(_)));
    assert!(matches!(all[EvtType::Clone as usize].1, TypeFilter::Drop));
}
