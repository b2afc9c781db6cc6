//! Process and privilege events (docs/events.md, "privilege"): ptrace, setuid, setns, unshare,
//! bpf, userfaultfd and the module loaders, made for real by the test's own thread or its
//! children, and found by that thread's tid or child's pid.

use lanner_tests::privilege::*;
use lanner_tests::*;
use serde_json::Value;

/// The event of type `ty` made by thread `tid` for which `pred` holds.
#[track_caller]
fn wait_call(sensor: &Sensor, ty: &str, tid: i64, pred: impl Fn(&Value) -> bool) -> Value {
    sensor.wait_for(
        |e| is_type(e, ty) && e["thread.tid"] == tid && pred(e),
        EVENT_TIMEOUT,
    )
}

#[track_caller]
fn assert_exit_ok(pid: libc::pid_t, what: &str) {
    let status = wait_status(pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{what}: the child saw other answers than expected (status {status:#x})"
    );
}

fn caps(ev: &Value, key: &str) -> String {
    field_str(ev, key).to_string()
}

#[test]
fn ptrace_attach_and_detach_show_falcos_request_names_and_the_target() {
    require_root!();
    let mut sensor = Sensor::start();
    let tracee = Tracee::spawn();
    let pid = tracee.0;
    assert_eq!(ptrace(libc::PTRACE_ATTACH, pid), Ok(0));
    wait_stopped(pid);
    assert_eq!(ptrace(libc::PTRACE_DETACH, pid), Ok(0));
    let tid = gettid();
    let call = |request: &'static str| {
        move |e: &Value| e["evt.rawarg.pid"] == pid && e["evt.arg.request"] == request
    };
    let attach = wait_call(&sensor, "ptrace", tid, call("PTRACE_ATTACH"));
    assert_field(&attach, "evt.rawarg.request", 11);
    assert_field(&attach, "evt.arg.pid", pid.to_string());
    assert_field(&attach, "evt.res", "SUCCESS");
    assert_field(&attach, "evt.rawres", 0);
    assert_field(&attach, "proc.pid", my_pid());
    assert!(
        caps(&attach, "thread.cap_effective").contains("CAP_SYS_PTRACE"),
        "{attach:#}"
    );
    let detach = wait_call(&sensor, "ptrace", tid, call("PTRACE_DETACH"));
    assert_field(&detach, "evt.rawarg.request", 12);
    drop(tracee);
    sensor.stop();
}

#[test]
fn ptrace_traceme_and_a_failed_attach() {
    require_root!();
    let mut sensor = Sensor::start();
    let child = fork_child(|| match ptrace(libc::PTRACE_TRACEME, 0) {
        Ok(0) => 0,
        _ => 1,
    });
    assert_exit_ok(child, "PTRACE_TRACEME");
    let traceme = sensor.wait_for(
        |e| is_type(e, "ptrace") && e["proc.pid"] == child,
        EVENT_TIMEOUT,
    );
    assert_field(&traceme, "evt.arg.request", "PTRACE_TRACEME");
    assert_field(&traceme, "evt.rawarg.request", 1);
    assert_field(&traceme, "evt.res", "SUCCESS");
    // The child is gone and reaped: nothing to attach to.
    assert_eq!(ptrace(libc::PTRACE_ATTACH, child), Err(libc::ESRCH));
    let failed = wait_call(&sensor, "ptrace", gettid(), |e| {
        e["evt.rawarg.pid"] == child
    });
    assert_field(&failed, "evt.arg.request", "PTRACE_ATTACH");
    assert_field(&failed, "evt.res", "ESRCH");
    assert_field(&failed, "evt.rawres", -libc::ESRCH);
    sensor.stop();
}

/// A successful setuid makes the event the new user's (as Falco's thread table does at the
/// exit); the uid parameter shows a name; the capabilities are those the call was made with.
#[test]
fn setuid_events_are_the_users_after_the_call_with_the_uid_named() {
    require_root!();
    let mut sensor = Sensor::start();
    let of_child = |child: i32, uid: u32| {
        move |e: &Value| {
            is_type(e, "setuid") && e["proc.pid"] == child && e["evt.rawarg.uid"] == uid
        }
    };
    let (child, dropped) = until_named(
        || {
            let child = fork_child(|| {
                let dropped = setuid(65534);
                let regain = setuid(0);
                i32::from(!(dropped == Ok(0) && regain == Err(libc::EPERM)))
            });
            assert_exit_ok(child, "setuid(65534) then setuid(0)");
            (
                child,
                sensor.wait_for(of_child(child, 65534), EVENT_TIMEOUT),
            )
        },
        |(_, dropped)| dropped["evt.arg.uid"] != "<NA>",
    );
    assert_field(&dropped, "evt.arg.uid", "nobody");
    assert_field(&dropped, "evt.res", "SUCCESS");
    assert_field(&dropped, "user.uid", 65534);
    assert_field(&dropped, "user.name", "nobody");
    assert!(
        caps(&dropped, "thread.cap_effective").contains("CAP_SETUID"),
        "made as root: {dropped:#}"
    );
    let regain = sensor.wait_for(of_child(child, 0), EVENT_TIMEOUT);
    assert_field(&regain, "evt.arg.uid", "root");
    assert_field(&regain, "evt.res", "EPERM");
    assert_field(&regain, "user.uid", 65534);
    // Dropping root cleared every capability.
    assert_field(&regain, "thread.cap_effective", "");
    assert_field(&regain, "thread.cap_permitted", "");
    sensor.stop();
}

#[test]
fn unshare_and_setns_show_clone_flag_names() {
    require_root!();
    let mut sensor = Sensor::start();
    let child = fork_child(|| {
        // The namespace the child starts in, to go back to.
        let path = c"/proc/self/ns/uts";
        let fd = raw(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as u64,
                path.as_ptr() as u64,
                (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
                0,
            ],
        );
        let Ok(fd) = fd else { return 2 };
        let unshared = unshare(libc::CLONE_NEWUTS);
        let back = setns(fd as i32, libc::CLONE_NEWUTS);
        let wrong = setns(fd as i32, libc::CLONE_NEWNET);
        i32::from(!(unshared == Ok(0) && back == Ok(0) && wrong == Err(libc::EINVAL)))
    });
    assert_exit_ok(
        child,
        "unshare(CLONE_NEWUTS), setns back and a wrong nstype",
    );
    let of_child = |ty: &'static str| move |e: &Value| is_type(e, ty) && e["proc.pid"] == child;
    let unshared = sensor.wait_for(of_child("unshare"), EVENT_TIMEOUT);
    assert_field(&unshared, "evt.arg.flags", "CLONE_NEWUTS");
    assert_field(&unshared, "evt.rawarg.flags", 1 << 7);
    assert_field(&unshared, "evt.res", "SUCCESS");
    let back = sensor.wait_for(
        |e| of_child("setns")(e) && e["evt.res"] == "SUCCESS",
        EVENT_TIMEOUT,
    );
    assert_field(&back, "evt.arg.nstype", "CLONE_NEWUTS");
    let fd = field_i64(&back, "evt.rawarg.fd");
    assert!(fd >= 0, "{back:#}");
    assert_field(&back, "evt.arg.fd", fd.to_string());
    let wrong = sensor.wait_for(
        |e| of_child("setns")(e) && e["evt.res"] == "EINVAL",
        EVENT_TIMEOUT,
    );
    assert_field(&wrong, "evt.arg.nstype", "CLONE_NEWNET");
    assert_field(&wrong, "evt.rawarg.nstype", 1 << 4);
    sensor.stop();
}

#[test]
fn bpf_shows_the_command_and_the_new_fd() {
    require_root!();
    let mut sensor = Sensor::start();
    let fd = bpf_map_create().expect("BPF_MAP_CREATE as root");
    let tid = gettid();
    let created = wait_call(&sensor, "bpf", tid, |e| e["evt.rawres"] == fd);
    assert_field(&created, "evt.arg.cmd", "BPF_MAP_CREATE");
    assert_field(&created, "evt.rawarg.cmd", 0);
    assert_field(&created, "evt.arg.fd", fd.to_string());
    assert_field(&created, "evt.res", "SUCCESS");
    // SAFETY: our own fd.
    unsafe { libc::close(fd as i32) };
    assert_eq!(bpf(1000, &[]), Err(libc::EINVAL));
    let bad = wait_call(&sensor, "bpf", tid, |e| e["evt.rawarg.cmd"] == 1000);
    assert_field(&bad, "evt.arg.cmd", "1000");
    assert_field(&bad, "evt.arg.fd", "EINVAL");
    assert_field(&bad, "evt.res", "EINVAL");
    sensor.stop();
}

/// userfaultfd's flags as Falco names them: its driver names the kernel's flags from its
/// open-flag table, so `UFFD_USER_MODE_ONLY|O_CLOEXEC` reads `O_RDONLY`.
#[test]
fn userfaultfd_shows_its_flags_as_falco_names_them() {
    require_root!();
    let mut sensor = Sensor::start();
    let flags = UFFD_USER_MODE_ONLY | libc::O_CLOEXEC;
    let fd = userfaultfd(flags).expect("userfaultfd(UFFD_USER_MODE_ONLY)");
    let ev = wait_call(&sensor, "userfaultfd", gettid(), |e| e["evt.rawres"] == fd);
    assert_field(&ev, "evt.rawarg.flags", flags);
    assert_field(&ev, "evt.arg.flags", "O_RDONLY");
    assert_field(&ev, "evt.res", "SUCCESS");
    // SAFETY: our own fd.
    unsafe { libc::close(fd as i32) };
    sensor.stop();
}

/// A module load is reported with its parameters; on a kernel built without module support
/// (no such syscall, no tracepoint) the sensor says why it cannot watch them.
#[test]
fn module_loads_are_reported_or_the_sensor_says_why_not() {
    require_root!();
    let mut sensor = Sensor::start();
    let marker = unique("module");
    let uargs = std::ffi::CString::new(format!("lanner_marker={marker}")).unwrap();
    let answer = init_module(b"not a module", &uargs);
    if has_syscall_tracepoint("init_module") {
        assert!(answer.is_err(), "a bogus image loads nothing: {answer:?}");
        let ev = wait_call(&sensor, "init_module", gettid(), |e| {
            e["evt.arg.uargs"] == uargs.to_str().unwrap()
        });
        assert_field(&ev, "evt.arg.length", "12");
        assert_field(&ev, "lanner.uargs_truncated", false);
        assert_ne!(ev["evt.res"], "SUCCESS");
    } else {
        assert_eq!(answer, Err(libc::ENOSYS), "no module support here");
        let why = "optional hook syscalls:sys_enter_init_module not attached \
                   (kernel module support, CONFIG_MODULES)";
        assert!(sensor.stderr().contains(why), "{}", sensor.stderr());
        skip(
            "module_loads_are_reported_or_the_sensor_says_why_not",
            "this kernel has no module support: only the sensor's notice was checked",
        );
    }
    sensor.stop();
}

/// A debugger makes many ptrace calls: every one is reported or counted lost, and the sensor
/// goes on reporting others' events.
#[test]
fn a_burst_of_ptrace_calls_is_reported_or_counted() {
    require_root!();
    let mut sensor = Sensor::start();
    let tracee = Tracee::spawn();
    let pid = tracee.0;
    assert_eq!(ptrace(libc::PTRACE_ATTACH, pid), Ok(0));
    wait_stopped(pid);
    // An address mapped in the tracee too (it is a fork of this process).
    static WORD: u64 = 0x1a22_e500;
    const CALLS: usize = 5000;
    let mut word = 0u64;
    for _ in 0..CALLS {
        // The raw call stores the word at `data` (the libc wrapper returns it instead).
        let r = raw(
            libc::SYS_ptrace,
            [
                u64::from(libc::PTRACE_PEEKDATA),
                pid as u64,
                &raw const WORD as u64,
                &raw mut word as u64,
            ],
        );
        assert!(r.is_ok(), "PTRACE_PEEKDATA: {r:?}");
    }
    assert_eq!(word, WORD, "the tracee's copy of the word");
    assert_eq!(ptrace(libc::PTRACE_DETACH, pid), Ok(0));
    let tid = gettid();
    // Records of one thread reach the ring in order: the detach comes after every peek.
    wait_call(&sensor, "ptrace", tid, |e| {
        e["evt.rawarg.pid"] == pid && e["evt.arg.request"] == "PTRACE_DETACH"
    });
    let (echo, _) = echo_on_host("after-ptrace-burst");
    sensor.wait_exec(echo);
    let seen = sensor.count_where(|e| {
        is_type(e, "ptrace") && e["thread.tid"] == tid && e["evt.arg.request"] == "PTRACE_PEEKDATA"
    });
    drop(tracee);
    let stats = sensor.stop();
    let lost = stats.lost("privilege", "ringbuf_full") + stats.lost("privilege", "dropped");
    assert!(
        seen as u64 + lost >= CALLS as u64,
        "{seen} of {CALLS} peeks seen and {lost} counted lost"
    );
}
