//! clone / procexit events, pid namespaces, exec bursts and the sensor's own-pid filter.

use lanner_tests::*;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BURST: usize = 10_000;
const IN_FLIGHT: usize = 4;

#[test]
fn fork_and_exit_report_child_pid_and_exit_status() {
    require_root!();
    let mut sensor = Sensor::start();
    let tid = gettid();
    let exiter = fork_child(|| {
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        // SAFETY: nanosleep is async-signal-safe; valid timespec.
        unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        3
    });
    let killed = fork_child(|| {
        // SAFETY: raise is async-signal-safe.
        unsafe { libc::raise(libc::SIGKILL) };
        0
    });
    let status = wait_status(exiter);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 3);
    assert_eq!(wait_status(killed) & 0x7f, libc::SIGKILL);

    for child in [exiter, killed] {
        let ev = sensor.wait_for(
            |e| is_type(e, "clone") && e["lanner.child_pid"] == child && e["proc.pid"] == my_pid(),
            EVENT_TIMEOUT,
        );
        assert_field(&ev, "thread.tid", tid);
        assert_field(&ev, "lanner.child_tid", child);
        assert_field(&ev, "lanner.is_thread", false);
        // Falco's clone in the parent: it succeeded and returned the child's tid.
        assert_field(&ev, "evt.res", "SUCCESS");
        assert_field(&ev, "evt.rawres", child);
    }
    let exit_of = |pid: i32| move |e: &Value| is_type(e, "procexit") && e["proc.pid"] == pid;
    let ev = sensor.wait_for(exit_of(exiter), EVENT_TIMEOUT);
    assert_field(&ev, "thread.tid", exiter);
    assert_field(&ev, "evt.rawarg.status", 3 << 8); // task->exit_code of exit(3)
    assert_field(&ev, "evt.arg.status", (3 << 8).to_string()); // as rules compare it
    assert_field(&ev, "evt.res", Value::Null);
    let ev = sensor.wait_for(exit_of(killed), EVENT_TIMEOUT);
    assert_field(&ev, "evt.rawarg.status", libc::SIGKILL); // killed by a signal, no core
    sensor.stop();
    assert_eq!(
        sensor.count_where(exit_of(exiter)),
        1,
        "procexit must be emitted once"
    );
}

#[test]
fn thread_creation_is_flagged_as_thread() {
    require_root!();
    let mut sensor = Sensor::start();
    let tid = gettid();
    let child_tid = std::thread::spawn(gettid).join().unwrap();
    let ev = sensor.wait_for(
        |e| is_type(e, "clone") && e["lanner.child_tid"] == child_tid && e["thread.tid"] == tid,
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "proc.pid", my_pid());
    assert_field(&ev, "lanner.child_pid", my_pid());
    assert_field(&ev, "lanner.is_thread", true);
    sensor.stop();
    // Threads ending are not process exits.
    let thread_exits =
        sensor.count_where(|e| is_type(e, "procexit") && e["thread.tid"] == child_tid);
    assert_eq!(thread_exits, 0, "procexit emitted for a non-leader thread");
}

#[test]
fn exec_in_new_pid_namespace_reports_namespace_pid() {
    require_root!();
    let mut sensor = Sensor::start();
    let marker = unique("pidns");
    let script = format!("exec /bin/busybox echo {marker}");
    let mut unshare = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "/bin/busybox",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("util-linux unshare");
    let unshare_pid = i64::from(unshare.id());
    assert!(unshare.wait().unwrap().success());
    let ev = sensor.wait_for(
        |e| is_type(e, "execve") && e["lanner.argv"] == json!(["/bin/busybox", "echo", marker]),
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.res", "SUCCESS");
    let (pid, vpid) = (field_i64(&ev, "proc.pid"), field_i64(&ev, "proc.vpid"));
    // unshare forks the namespace's init, which execs sh, which execs echo in place.
    assert_eq!(vpid, 1, "proc.vpid in the new pid namespace\n{ev:#}");
    assert_ne!(pid, vpid, "proc.pid must be the host pid\n{ev:#}");
    assert_field(&ev, "thread.tid", pid);
    assert_field(&ev, "proc.ppid", unshare_pid); // host-namespace parent
    sensor.stop();
}

#[test]
fn burst_of_10000_execs_has_no_unaccounted_loss() {
    require_root!();
    let mut sensor = Sensor::start();
    let marker = unique("burst");
    let path = std::ffi::CString::new("/bin/true").unwrap();
    let argv = CArgs::new(&["/bin/true", &marker]);
    let envp = CArgs::new::<&str>(&[]);
    // A dedicated spawner keeping IN_FLIGHT children alive at once: its children are told
    // apart from every other process by ppid (and the marker).
    let spawner = fork_child(|| {
        let (mut started, mut running) = (0, 0);
        while started < BURST || running > 0 {
            // SAFETY: fork/execve/_exit/waitpid are async-signal-safe; argv was built before.
            unsafe {
                if started < BURST && running < IN_FLIGHT {
                    let pid = libc::fork();
                    if pid == 0 {
                        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                        libc::_exit(127);
                    }
                    if pid < 0 {
                        return 1;
                    }
                    (started, running) = (started + 1, running + 1);
                } else {
                    let mut status = 0;
                    if libc::waitpid(-1, &mut status, 0) < 0 || status != 0 {
                        return 2;
                    }
                    running -= 1;
                }
            }
        }
        0
    });
    let started = Instant::now();
    assert_eq!(wait_status(spawner), 0, "spawner failed");
    let spawn_time = started.elapsed();

    let is_exec =
        |e: &Value| is_type(e, "execve") && e["proc.ppid"] == spawner && has_arg(e, &marker);
    let is_fork = |e: &Value| is_type(e, "clone") && e["proc.pid"] == spawner;
    // Wait until everything arrived, or nothing more arrives for 10 s.
    let (mut last, mut last_change) = (0, Instant::now());
    while last < BURST && last_change.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(250));
        let n = sensor.count_where(is_exec);
        if n != last {
            (last, last_change) = (n, Instant::now());
        }
    }
    let stats = sensor.stop();

    let execs = sensor.events_where(is_exec);
    let pids: HashSet<i64> = execs.iter().map(|e| field_i64(e, "proc.pid")).collect();
    assert_eq!(pids.len(), execs.len(), "duplicate exec events");
    assert!(execs.iter().all(|e| e["evt.res"] == "SUCCESS"));
    let forks = sensor.events_where(is_fork);
    let children: HashSet<i64> = forks
        .iter()
        .map(|e| field_i64(e, "lanner.child_pid"))
        .collect();
    assert_eq!(children.len(), forks.len(), "duplicate clone events");
    eprintln!(
        "burst: {BURST} execs in {spawn_time:?}; seen {} execs, {} forks; stats {}",
        execs.len(),
        forks.len(),
        stats.raw
    );

    for (what, seen, gone) in [
        ("exec", execs.len(), stats.gone("exec")),
        ("fork", forks.len(), stats.gone("fork")),
    ] {
        assert!(seen <= BURST, "{seen} {what} events for {BURST} children");
        let missing = (BURST - seen) as u64;
        assert!(
            missing <= gone,
            "{missing} {what} events missing but only {gone} counted as lost: unaccounted loss\nstats: {}",
            stats.raw
        );
    }
    if forks.len() == BURST {
        assert!(
            pids.is_subset(&children),
            "an exec'd child has no clone event"
        );
    }
    // Each child that ran /bin/true (comm "true") exits once, with status 0.
    let exits = sensor.events_where(|e| {
        is_type(e, "procexit")
            && e["proc.name"] == "true"
            && e["proc.pid"]
                .as_i64()
                .is_some_and(|p| children.contains(&p))
    });
    assert!(
        exits.iter().all(|e| e["evt.rawarg.status"] == 0),
        "a child exited non-zero"
    );
    let exit_pids: HashSet<i64> = exits.iter().map(|e| field_i64(e, "proc.pid")).collect();
    assert_eq!(exit_pids.len(), exits.len(), "duplicate procexit events");
    let missing_exits = (children.len() - exits.len()) as u64;
    assert!(
        missing_exits <= stats.gone("exit"),
        "{missing_exits} procexit events missing, {} counted as lost",
        stats.gone("exit")
    );
    assert!(
        stats.events("exec") >= execs.len() as u64,
        "events.exec below what was printed"
    );
    assert!(
        stats.events("fork") >= forks.len() as u64,
        "events.fork below what was printed"
    );
}

#[test]
fn sensor_does_not_report_its_own_activity() {
    require_root!();
    let mut a = Sensor::start();
    let barrier = |s: &Sensor| {
        let marker = unique("barrier");
        let mut c = Command::new("/bin/busybox")
            .args(["true", &marker])
            .spawn()
            .unwrap();
        assert!(c.wait().unwrap().success());
        s.wait_for(
            |e| is_type(e, "execve") && has_arg(e, &marker),
            EVENT_TIMEOUT,
        );
    };
    barrier(&a);
    // A second sensor is an ordinary process for the first: its exec and exit are reported.
    let mut b = Sensor::start();
    let b_pid = b.pid();
    let ev = a.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == b_pid,
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "proc.exepath", canonical(lanner_bin()));
    barrier(&b);
    b.stop();
    a.wait_for(
        |e| is_type(e, "procexit") && e["proc.pid"] == b_pid,
        EVENT_TIMEOUT,
    );
    barrier(&a);
    let a_pid = a.pid();
    a.stop();
    let own_a = a.events_where(|e| e["proc.pid"] == a_pid);
    assert!(
        own_a.is_empty(),
        "sensor A reported its own activity: {}",
        Value::from(own_a)
    );
    let own_b = b.events_where(|e| e["proc.pid"] == b_pid);
    assert!(
        own_b.is_empty(),
        "sensor B reported its own activity: {}",
        Value::from(own_b)
    );
}
