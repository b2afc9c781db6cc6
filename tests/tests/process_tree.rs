//! Process context from the process table (docs/events.md, "Context on every event"): parent
//! and ancestry fields, session and process group, user and group names.

use lanner_tests::*;
use serde_json::{Value, json};
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `/bin/busybox echo <marker>`, built before fork (the child must not allocate).
struct Echo {
    path: CString,
    argv: CArgs,
    envp: CArgs,
}

impl Echo {
    fn new(marker: &str) -> Self {
        Echo {
            path: CString::new("/bin/busybox").unwrap(),
            argv: CArgs::new(&["/bin/busybox", "echo", marker]),
            envp: CArgs::new::<&str>(&[]),
        }
    }
    /// execve; returns (127) only if it failed. Async-signal-safe.
    fn exec(&self) -> i32 {
        // SAFETY: execve with NULL-terminated vectors that outlive the call.
        unsafe { libc::execve(self.path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
        127
    }
}

fn is_echo(e: &Value, marker: &str) -> bool {
    is_type(e, "execve") && e["lanner.argv"] == json!(["/bin/busybox", "echo", marker])
}

/// (comm, ppid) from `/proc/<pid>/stat`.
fn stat_of(pid: u32) -> Option<(String, u32)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (s.find('(')?, s.rfind(')')?);
    let ppid = s[close + 2..].split(' ').nth(1)?.parse().ok()?;
    Some((s[open + 1..close].to_string(), ppid))
}

/// Comms of this process and its ancestors as /proc shows them (itself first), as the
/// sensor's /proc scan sees them: every one is older than any sensor a test starts.
fn own_lineage_comms() -> Vec<Value> {
    let (mut out, mut pid) = (Vec::new(), std::process::id());
    while let Some((comm, ppid)) = stat_of(pid) {
        out.push(json!(comm));
        if ppid == 0 || out.len() == 32 {
            break;
        }
        pid = ppid;
    }
    out
}

fn own_comm() -> String {
    fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

fn own_argv0() -> String {
    std::env::args().next().unwrap()
}

fn own_exe() -> String {
    canonical(std::env::current_exe().unwrap())
}

/// Polls /proc for a child of `parent` whose comm is `comm` (i.e. that has exec'd).
fn child_named(parent: u32, comm: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|&pid| stat_of(pid).is_some_and(|(c, pp)| pp == parent && c == comm));
        if let Some(pid) = found {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no child `{comm}` of {parent} in /proc"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that the array `ev[key]` starts with `expected`.
#[track_caller]
fn assert_prefix(ev: &Value, key: &str, expected: &[&str]) {
    let ok = ev[key]
        .as_array()
        .is_some_and(|a| a.len() >= expected.len() && a.iter().zip(expected).all(|(x, y)| x == *y));
    assert!(
        ok,
        "`{key}` does not start with {expected:?}\nevent: {ev:#}"
    );
}

/// `expected` followed by this process's lineage, cut at 32 levels (docs: "up to 32").
fn with_own_lineage(expected: &[&str]) -> Value {
    let mut v: Vec<Value> = expected.iter().map(|s| json!(s)).collect();
    v.extend(own_lineage_comms());
    v.truncate(32);
    Value::Array(v)
}

#[test]
fn ancestry_of_processes_older_than_the_sensor_comes_from_the_proc_scan() {
    require_root!();
    // Three levels started before the sensor, each a copy of dash (which runs under any name),
    // so their comms are the copies' names.
    let dir = TempDir::new("ptree");
    let d = dir.path_str();
    // Copied by a `cp` child, not in this process: a write fd opened here could be inherited
    // by another test thread's fork for an instant, and exec'ing the copy would then fail
    // with ETXTBSY ("Text file busy").
    for lvl in 1..=3 {
        let copy = dir.path().join(format!("ptree-l{lvl}"));
        lanner_tests::copy_executable("/usr/bin/dash", &copy);
    }
    let marker = unique("ptree-old");
    // `; true` keeps each shell alive (waiting) instead of exec'ing its last command.
    let l3_cmd = format!("{d}/ptree-l3 -c 'read x; exec /bin/busybox echo {marker}'");
    let l2_script = format!("{l3_cmd}; true");
    let l2_cmd = format!("{d}/ptree-l2 -c \"{l2_script}\"");
    let spawned = Instant::now();
    let mut l1 = Command::new(format!("{d}/ptree-l1"))
        .args(["-c", &format!("{l2_cmd}; true")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let l1_pid = l1.id();
    let l2_pid = child_named(l1_pid, "ptree-l2");
    let l3_pid = child_named(l2_pid, "ptree-l3");
    let armed = Instant::now();

    let mut sensor = Sensor::start();
    let released = Instant::now();
    // Level 3 (blocked in `read` on the inherited stdin pipe) now execs the echo.
    l1.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let ev = sensor.wait_for(|e| is_echo(e, &marker), EVENT_TIMEOUT);
    let upper = spawned.elapsed();
    assert!(l1.wait().unwrap().success());

    assert_field(&ev, "proc.pid", l3_pid);
    assert_field(&ev, "proc.ppid", l2_pid);
    assert_field(&ev, "proc.pname", "ptree-l2");
    assert_field(&ev, "proc.pexe", format!("{d}/ptree-l2"));
    assert_field(&ev, "proc.pexepath", format!("{d}/ptree-l2"));
    assert_field(&ev, "proc.pcmdline", format!("ptree-l2 -c {l2_script}"));
    let lineage = ["busybox", "ptree-l2", "ptree-l1"];
    assert_field(&ev, "proc.aname", with_own_lineage(&lineage));
    let (l2, l1) = (format!("{d}/ptree-l2"), format!("{d}/ptree-l1"));
    let (argv0, exe) = (own_argv0(), own_exe());
    assert_prefix(&ev, "proc.aexe", &["/bin/busybox", &l2, &l1, &argv0]);
    assert_prefix(
        &ev,
        "proc.aexepath",
        &[&canonical("/bin/busybox"), &l2, &l1, &exe],
    );
    // Level 3 was forked before `armed` and exec'd after `released`; its start comes from
    // /proc (clock ticks: at most one tick early).
    let duration = field_i64(&ev, "proc.duration");
    let lower = released.duration_since(armed).as_nanos() as i64;
    let upper = (upper + Duration::from_millis(50)).as_nanos() as i64;
    assert!(
        (lower..=upper).contains(&duration),
        "proc.duration {duration} not in [{lower}, {upper}]\nevent: {ev:#}"
    );
    sensor.stop();
}

#[test]
fn ancestry_of_processes_started_after_the_sensor_comes_from_fork_and_exec_events() {
    require_root!();
    let mut sensor = Sensor::start();
    let marker = unique("ptree-new");
    // bash forks dash, which forks busybox (`; true`: neither execs its last command).
    let l2_script = format!("/bin/busybox echo {marker}; true");
    let spawned = Instant::now();
    let mut l1 = Command::new("/bin/bash")
        .args(["-c", &format!("/bin/sh -c '{l2_script}'; true")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let l1_pid = l1.id();
    assert!(l1.wait().unwrap().success());
    let ev = sensor.wait_for(|e| is_echo(e, &marker), EVENT_TIMEOUT);
    let upper = spawned.elapsed().as_nanos() as i64;
    let l2 = sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == ev["proc.ppid"] && e["proc.exe"] == "/bin/sh",
        EVENT_TIMEOUT,
    );
    assert_field(&l2, "proc.ppid", l1_pid);

    let (bb, sh, bash) = (
        canonical("/bin/busybox"),
        canonical("/bin/sh"),
        canonical("/bin/bash"),
    );
    assert_field(&ev, "proc.pname", "sh");
    assert_field(&ev, "proc.pexe", "/bin/sh");
    assert_field(&ev, "proc.pexepath", sh.as_str());
    assert_field(&ev, "proc.pcmdline", format!("sh -c {l2_script}"));
    assert_field(
        &ev,
        "proc.aname",
        with_own_lineage(&["busybox", "sh", "bash"]),
    );
    let argv0 = own_argv0();
    assert_prefix(
        &ev,
        "proc.aexe",
        &["/bin/busybox", "/bin/sh", "/bin/bash", &argv0],
    );
    assert_prefix(&ev, "proc.aexepath", &[&bb, &sh, &bash, &own_exe()]);
    let duration = field_i64(&ev, "proc.duration");
    assert!(
        (0..=upper).contains(&duration),
        "proc.duration {duration} not in [0, {upper}]\nevent: {ev:#}"
    );
    sensor.stop();
}

fn set_subreaper(on: bool) {
    // SAFETY: plain prctl on this process.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, libc::c_ulong::from(on)) };
    assert_eq!(r, 0, "PR_SET_CHILD_SUBREAPER: errno {}", last_errno());
}

#[test]
fn orphan_is_reparented_and_still_resolves() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("orphan");
    let fifo = dir.path().join("go");
    let c_fifo = CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
    let marker = unique("orphan");
    // The test process becomes the orphan's new parent: an exact expectation.
    set_subreaper(true);
    // P (busybox sh) starts C in the background and exits at once; C execs the echo once
    // the test, having reaped P, writes to the fifo.
    let c_cmd = format!(
        "read x < {}; exec /bin/busybox echo {marker}",
        fifo.display()
    );
    let mut p = Command::new("/bin/busybox")
        .args(["sh", "-c", &format!("/bin/busybox sh -c '{c_cmd}' &")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let p_pid = p.id();
    assert!(p.wait().unwrap().success());
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let mut w = loop {
        match fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
        {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("open fifo for writing (orphan never opened it?): {e}"),
        }
    };
    w.write_all(b"go\n").unwrap();
    drop(w);
    let ev = sensor.wait_for(|e| is_echo(e, &marker), EVENT_TIMEOUT);
    let c_pid = field_i64(&ev, "proc.pid") as libc::pid_t;
    assert_eq!(wait_status(c_pid), 0, "the orphan is the test's child now");
    set_subreaper(false);

    let clone_of_c = sensor.wait_for(
        |e| is_type(e, "clone") && e["lanner.child_pid"] == c_pid,
        EVENT_TIMEOUT,
    );
    assert_field(&clone_of_c, "proc.pid", p_pid); // C really was P's child
    assert_field(&ev, "proc.ppid", my_pid());
    assert_field(&ev, "proc.pname", own_comm());
    assert_field(&ev, "proc.pexe", own_argv0());
    assert_field(
        &ev,
        "proc.aname",
        with_own_lineage(&["busybox"]), // P ("busybox" too) is no longer an ancestor
    );
    sensor.stop();
}

#[test]
fn session_and_process_group_fields() {
    require_root!();
    let mut sensor = Sensor::start();
    let (m_sid, m_pgrp, m_plain) = (unique("setsid"), unique("setpgid"), unique("samegroup"));
    let (e_sid, e_pgrp, e_plain) = (Echo::new(&m_sid), Echo::new(&m_pgrp), Echo::new(&m_plain));
    let leader = fork_child(|| {
        // SAFETY: setsid is async-signal-safe.
        if unsafe { libc::setsid() } < 0 {
            return 2;
        }
        e_sid.exec()
    });
    let group_leader = fork_child(|| {
        // SAFETY: setpgid is async-signal-safe.
        if unsafe { libc::setpgid(0, 0) } < 0 {
            return 2;
        }
        e_pgrp.exec()
    });
    let member = fork_child(|| e_plain.exec());
    for pid in [leader, group_leader, member] {
        assert_eq!(wait_status(pid), 0);
    }
    // SAFETY: no preconditions.
    let (my_sid, my_pgrp) = unsafe { (libc::getsid(0), libc::getpgrp()) };
    // The sensor reports the comm its /proc scan saw for the test's session leader.
    let my_sname = fs::read_to_string(format!("/proc/{my_sid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string());

    let ev = sensor.wait_for(|e| is_echo(e, &m_sid), EVENT_TIMEOUT);
    assert_field(&ev, "proc.pid", leader);
    assert_field(&ev, "proc.sname", "busybox"); // its own session: itself, after the exec
    assert_field(&ev, "proc.vpgid", leader);
    assert_field(&ev, "proc.is_vpgid_leader", true);

    let ev = sensor.wait_for(|e| is_echo(e, &m_pgrp), EVENT_TIMEOUT);
    assert_field(&ev, "proc.pid", group_leader);
    assert_field(&ev, "proc.sname", json!(my_sname));
    assert_field(&ev, "proc.vpgid", group_leader);
    assert_field(&ev, "proc.is_vpgid_leader", true);

    let ev = sensor.wait_for(|e| is_echo(e, &m_plain), EVENT_TIMEOUT);
    assert_field(&ev, "proc.pid", member);
    assert_field(&ev, "proc.sname", json!(my_sname));
    assert_field(&ev, "proc.vpgid", my_pgrp);
    assert_field(&ev, "proc.is_vpgid_leader", false);
    sensor.stop();
}

#[test]
fn user_and_group_names_resolve_on_the_host() {
    require_root!();
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    let group = fs::read_to_string("/etc/group").unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("nobody:x:65534:65534:"))
    );
    assert!(group.lines().any(|l| l.starts_with("nogroup:x:65534:")));
    let unnamed = 54321;
    assert!(!passwd.contains(&format!(":{unnamed}:")) && !group.contains(&format!(":{unnamed}:")));

    let mut sensor = Sensor::start();
    let cases = [
        (65534, "nobody", "nogroup"),
        (0, "root", "root"),
        (unnamed, "<NA>", "<NA>"),
    ];
    for (id, user, grp) in cases {
        // A named id must resolve within a few execs; an unnamed one never does.
        let (ev, pid) = until_named(
            || exec_as(&sensor, id),
            |(ev, _)| ev["user.name"] != "<NA>" || user == "<NA>",
        );
        assert_field(&ev, "proc.pid", pid);
        assert_field(&ev, "user.uid", id);
        assert_field(&ev, "user.euid", id);
        assert_field(&ev, "group.gid", id);
        assert_field(&ev, "user.name", user);
        assert_field(&ev, "group.name", grp);
    }
    sensor.stop();
}

/// Exec a marked echo as `id` (uid, gid, no supplementary groups); its exec event and pid.
fn exec_as(sensor: &Sensor, id: u32) -> (Value, i32) {
    let marker = unique("user");
    let echo = Echo::new(&marker);
    let pid = fork_child(|| {
        // SAFETY: async-signal-safe id changes; the test runs as root.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(id, id, id) != 0
                || libc::setresuid(id, id, id) != 0
            {
                return 2;
            }
        }
        echo.exec()
    });
    assert_eq!(wait_status(pid), 0, "child as {id}");
    (sensor.wait_for(|e| is_echo(e, &marker), EVENT_TIMEOUT), pid)
}
