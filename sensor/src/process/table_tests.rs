//! Process table: fork/exec/exit bookkeeping, lineage, grace period and the cap.

use super::*;
use crate::testutil::{exec, exit, fork};

#[test]
fn fork_then_exec_builds_a_lineage() {
    let mut t = ProcessTable::new(100, 1_000);
    t.insert(ProcInfo {
        pid: 1,
        image: Image::named("init"),
        ..ProcInfo::default()
    });
    t.apply(&exec(1, 10, 1, "bash", &["bash"]));
    t.apply(&fork(2, 10, 11));
    assert_eq!(
        t.get(11).unwrap().image.name.as_ref(),
        "bash",
        "a fork inherits the image"
    );
    assert_eq!(t.get(11).unwrap().start_boot_ns, Some(2));
    assert_eq!(
        t.get(11).unwrap().tty,
        Some(34816),
        "and the controlling tty"
    );
    t.apply(&exec(3, 11, 10, "curl", &["curl", "-s", "x"]));
    let lineage = t.lineage(11);
    let names: Vec<&str> = lineage.iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["curl", "bash", "init"]);
    assert_eq!(t.get(11).unwrap().image.cmdline, "curl -s x");
    assert_eq!(
        t.get(11).unwrap().start_boot_ns,
        Some(2),
        "exec keeps the fork time"
    );
}

#[test]
fn exited_processes_stay_for_the_grace_period_then_go() {
    let mut t = ProcessTable::new(100, 1_000);
    t.apply(&exec(1, 10, 1, "a", &["a"]));
    t.apply(&exit(5, 10));
    t.apply(&fork(500, 99, 98));
    assert!(t.get(10).is_some(), "still there within the grace period");
    t.apply(&fork(2_000, 99, 97));
    assert!(t.get(10).is_none());
    assert_eq!(t.stats().expired, 1);
}

#[test]
fn a_reused_pid_is_not_expired_with_its_predecessor() {
    let mut t = ProcessTable::new(100, 1_000);
    t.apply(&exec(1, 10, 1, "old", &["old"]));
    t.apply(&exit(5, 10));
    t.apply(&fork(6, 1, 10));
    t.apply(&exec(7, 10, 1, "new", &["new"]));
    t.apply(&fork(5_000, 1, 20));
    assert_eq!(t.get(10).unwrap().image.name.as_ref(), "new");
}

#[test]
fn lineage_stops_at_loops_and_unknown_parents() {
    let mut t = ProcessTable::new(100, 1_000);
    t.insert(ProcInfo {
        pid: 2,
        ppid: 3,
        ..ProcInfo::default()
    });
    t.insert(ProcInfo {
        pid: 3,
        ppid: 2,
        ..ProcInfo::default()
    });
    assert_eq!(t.lineage(2).len(), 2);
    t.insert(ProcInfo {
        pid: 5,
        ppid: 404,
        ..ProcInfo::default()
    });
    assert_eq!(t.lineage(5).len(), 1);
}

#[test]
fn the_cap_evicts_exited_processes_first_and_counts() {
    let mut t = ProcessTable::new(3, u64::MAX);
    for pid in 1..=3 {
        t.apply(&exec(pid.into(), pid, 0, "p", &["p"]));
    }
    t.apply(&exit(10, 2));
    t.apply(&exec(11, 4, 0, "q", &["q"]));
    assert!(t.get(2).is_none(), "the exited one went first");
    assert!(t.get(1).is_some() && t.get(3).is_some() && t.get(4).is_some());
    t.apply(&exec(12, 5, 0, "r", &["r"]));
    assert_eq!(t.stats().size, 3);
    assert_eq!(t.stats().evicted, 2);
}

#[test]
fn a_shared_lineage_is_made_afresh_after_any_change() {
    let mut t = ProcessTable::new(100, 1_000);
    t.apply(&exec(1, 10, 1, "bash", &["bash"]));
    t.apply(&fork(2, 10, 11));
    t.apply(&exec(3, 11, 10, "curl", &["curl"]));
    let names = |l: &[Ancestor]| l.iter().map(|a| a.name.to_string()).collect::<Vec<_>>();
    let first = t.lineage(11);
    assert!(Arc::ptr_eq(&first, &t.lineage(11)), "unchanged: shared");
    assert_eq!(names(&first), ["curl", "bash"]);

    // The parent execs: the child's lineage shows the new image, the old snapshot does not.
    t.apply(&exec(4, 10, 1, "zsh", &["zsh"]));
    assert_eq!(names(&t.lineage(11)), ["curl", "zsh"]);
    assert_eq!(names(&first), ["curl", "bash"]);

    // Another process's lineage in between, then back: right both times.
    assert_eq!(names(&t.lineage(10)), ["zsh"]);
    assert_eq!(names(&t.lineage(11)), ["curl", "zsh"]);

    // The parent exits and expires: the walk stops at the child.
    t.apply(&exit(5, 10));
    t.apply(&exit(2_000, 99));
    assert_eq!(names(&t.lineage(11)), ["curl"]);
}
