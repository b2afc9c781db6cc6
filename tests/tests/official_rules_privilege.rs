//! The official rules on processes and privilege fire on the real action and stay quiet on a
//! near miss: ptrace attach and PTRACE_TRACEME, setuid, setns, unshare (in a runc container,
//! as the rule requires), BPF program loads, unprivileged userfaultfd and module loads (in a
//! container with CAP_SYS_MODULE, where the kernel has modules at all).
//!
//! Host actions are made by children of the test named for it (`prctl(PR_SET_NAME)`), so the
//! alerts, which carry `proc.name` but no pid, are told apart from other tests' by that name.

use std::ffi::CString;
use std::sync::atomic::{AtomicU32, Ordering};

use lanner_tests::privilege::*;
use lanner_tests::*;
use serde_json::Value;

const PTRACE_ATTACHED: RuleSpec = RuleSpec {
    name: "PTRACE attached to process",
    priority: "Warning",
    tags: &[
        "maturity_stable",
        "host",
        "container",
        "process",
        "mitre_privilege_escalation",
        "T1055.008",
    ],
};

const PTRACE_ANTI_DEBUG: RuleSpec = RuleSpec {
    name: "PTRACE anti-debug attempt",
    priority: "Notice",
    tags: &[
        "maturity_stable",
        "host",
        "container",
        "process",
        "mitre_defense_evasion",
        "T1622",
    ],
};

const NON_SUDO_SETUID: RuleSpec = RuleSpec {
    name: "Non sudo setuid",
    priority: "Notice",
    tags: &[
        "maturity_incubating",
        "host",
        "container",
        "users",
        "mitre_privilege_escalation",
        "T1548.001",
    ],
};

const CHANGE_THREAD_NAMESPACE: RuleSpec = RuleSpec {
    name: "Change thread namespace",
    priority: "Notice",
    tags: &[
        "maturity_incubating",
        "host",
        "container",
        "process",
        "mitre_privilege_escalation",
        "T1611",
    ],
};

const UNSHARE: RuleSpec = RuleSpec {
    name: "Change namespace privileges via unshare",
    priority: "Notice",
    tags: &[
        "maturity_incubating",
        "container",
        "mitre_privilege_escalation",
        "T1611",
    ],
};

const BPF_NOT_PROFILED: RuleSpec = RuleSpec {
    name: "BPF Program Not Profiled",
    priority: "Notice",
    tags: &[
        "maturity_incubating",
        "host",
        "container",
        "mitre_persistence",
        "TA0003",
    ],
};

const USERFAULTFD: RuleSpec = RuleSpec {
    name: "Unprivileged Delegation of Page Faults Handling to a Userspace Process",
    priority: "Critical",
    tags: &[
        "maturity_sandbox",
        "host",
        "container",
        "process",
        "mitre_defense_evasion",
        "TA0005",
    ],
};

const MODULE_INJECTION: RuleSpec = RuleSpec {
    name: "Linux Kernel Module Injection Detected",
    priority: "Warning",
    tags: &[
        "maturity_stable",
        "host",
        "container",
        "process",
        "mitre_persistence",
        "TA0003",
    ],
};

/// `-r` each official file; `--dump-events` unless `alerts_only` (the production
/// configuration, where the loader attaches only the hooks the rules need).
fn official_args() -> Vec<String> {
    official_rules_paths()
        .into_iter()
        .flat_map(|p| ["-r".to_string(), p])
        .collect()
}

fn sensor_with_official_rules() -> Sensor {
    let args = official_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Sensor::start_with(&args)
}

/// A process name no other test uses: `<tag><hex>`, at most 15 bytes (a comm).
fn comm(tag: &str) -> (String, CString) {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = (std::process::id() << 6) ^ N.fetch_add(1, Ordering::Relaxed);
    let name = format!("{tag}{n:x}");
    assert!(name.len() <= 15, "{name}");
    (name.clone(), CString::new(name).unwrap())
}

#[track_caller]
fn assert_exit_ok(pid: libc::pid_t, what: &str) {
    let status = wait_status(pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{what}: the child saw other answers than expected (status {status:#x})"
    );
}

/// The event of type `ty` made by process `pid`.
#[track_caller]
fn wait_event(sensor: &Sensor, ty: &str, pid: libc::pid_t) -> Value {
    sensor.wait_for(|e| is_type(e, ty) && e["proc.pid"] == pid, EVENT_TIMEOUT)
}

fn named(rule: &RuleSpec, name: &str) -> impl Fn(&Value) -> bool {
    let (rule, name) = (rule.name, name.to_string());
    move |a: &Value| a["rule"] == rule && out_is(a, "proc.name", &*name)
}

#[test]
fn ptrace_attach_and_traceme_fire_their_rules_and_not_each_others() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let tracee = Tracee::spawn();
    let target = tracee.0;
    let (attacher, attacher_c) = comm("pa");
    let attach = fork_child(|| {
        set_comm(&attacher_c);
        if ptrace(libc::PTRACE_ATTACH, target) != Ok(0) {
            return 1;
        }
        let mut status = 0;
        // SAFETY: waitpid is async-signal-safe; the tracer may wait for its tracee.
        unsafe { libc::waitpid(target, &mut status, libc::__WALL) };
        i32::from(ptrace(libc::PTRACE_DETACH, target) != Ok(0))
    });
    assert_exit_ok(attach, "PTRACE_ATTACH and DETACH");
    let alert = sensor.wait_alert(&PTRACE_ATTACHED, named(&PTRACE_ATTACHED, &attacher));
    assert_out(&alert, "evt.type", "ptrace");
    assert_out(&alert, "user.uid", 0);
    assert_out(&alert, "container.id", "host");

    let (debuggee, debuggee_c) = comm("pt");
    let traceme = fork_child(|| {
        set_comm(&debuggee_c);
        i32::from(ptrace(libc::PTRACE_TRACEME, 0) != Ok(0))
    });
    assert_exit_ok(traceme, "PTRACE_TRACEME");
    let alert = sensor.wait_alert(&PTRACE_ANTI_DEBUG, named(&PTRACE_ANTI_DEBUG, &debuggee));
    assert_out(&alert, "evt.type", "ptrace");
    wait_event(&sensor, "ptrace", traceme);
    sensor.assert_no_alert(
        "PTRACE_TRACEME is no attach",
        named(&PTRACE_ATTACHED, &debuggee),
    );
    sensor.assert_no_alert(
        "PTRACE_ATTACH is no anti-debug",
        named(&PTRACE_ANTI_DEBUG, &attacher),
    );
    drop(tracee);
    sensor.stop();
}

/// A process that is not root asks for root: the call fails, the user is still not root,
/// and the rule fires. Root calling setuid on itself does not.
#[test]
fn non_sudo_setuid_fires_for_a_user_asking_for_root_not_for_root() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let (asker, asker_c) = comm("su");
    let child = fork_child(|| {
        set_comm(&asker_c);
        if raw(libc::SYS_setresuid, [1000, 1000, 1000, 0]) != Ok(0) {
            return 2;
        }
        i32::from(setuid(0) != Err(libc::EPERM))
    });
    assert_exit_ok(child, "setresuid(1000) then setuid(0)");
    let alert = sensor.wait_alert(&NON_SUDO_SETUID, named(&NON_SUDO_SETUID, &asker));
    assert_out(&alert, "evt.arg.uid", "root");
    assert_out(&alert, "user.uid", 1000);
    assert_out(&alert, "container.id", "host");

    let (root, root_c) = comm("sr");
    let child = fork_child(|| {
        set_comm(&root_c);
        i32::from(setuid(0) != Ok(0))
    });
    assert_exit_ok(child, "root's setuid(0)");
    wait_event(&sensor, "setuid", child);
    sensor.assert_no_alert("root setting its own uid", named(&NON_SUDO_SETUID, &root));
    sensor.stop();
}

/// In a container, a user its /etc/passwd knows: busybox, run as that user, drops to its
/// real uid first thing (`setuid(getuid())`), which the rule flags as Falco does (it lets a
/// few named users "become themselves" only). Run as root, busybox keeps root: quiet.
#[test]
fn non_sudo_setuid_fires_in_a_container_for_a_user_it_knows() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let ctr = RuncContainer::start();
    let marker = unique("setuid-ctr");
    let run = ctr.exec(&["/bin/busybox", "echo", &marker]);
    assert!(run.success, "{run:?}");
    let cmdline = format!("busybox echo {marker}");
    let alert = sensor.wait_alert(&NON_SUDO_SETUID, |a| {
        out_is(a, "container.id", ctr.short_id()) && out_is(a, "proc.cmdline", &*cmdline)
    });
    assert_out(&alert, "evt.arg.uid", CTR_USER);
    assert_out(&alert, "user.name", CTR_USER);
    assert_out(&alert, "user.uid", CTR_UID);

    let as_root = unique("setuid-ctr-root");
    let run = ctr.exec_with(&["--user", "0:0"], &["/bin/busybox", "echo", &as_root]);
    assert!(run.success, "{run:?}");
    sensor.wait_exec(run.pid);
    let cmdline = format!("busybox echo {as_root}");
    sensor.assert_no_alert("busybox run as root", |a| {
        a["rule"] == NON_SUDO_SETUID.name && out_is(a, "proc.cmdline", &*cmdline)
    });
    drop(ctr);
    sensor.stop();
}

/// Joining a namespace through setns fires; the same from a network plugin the rule knows
/// (`calico`) does not.
#[test]
fn change_thread_namespace_fires_for_setns_but_not_for_calico() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let join = |name: &CString| {
        let name = name.clone();
        fork_child(move || {
            set_comm(&name);
            let path = c"/proc/self/ns/uts";
            let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
            let at = libc::AT_FDCWD as u64;
            let Ok(fd) = raw(libc::SYS_openat, [at, path.as_ptr() as u64, flags, 0]) else {
                return 2;
            };
            if unshare(libc::CLONE_NEWUTS) != Ok(0) {
                return 3;
            }
            i32::from(setns(fd as i32, libc::CLONE_NEWUTS) != Ok(0))
        })
    };
    let (joiner, joiner_c) = comm("ns");
    assert_exit_ok(join(&joiner_c), "unshare then setns back");
    let alert = sensor.wait_alert(
        &CHANGE_THREAD_NAMESPACE,
        named(&CHANGE_THREAD_NAMESPACE, &joiner),
    );
    assert_out(&alert, "evt.type", "setns");

    let calico = join(&CString::new("calico").unwrap());
    assert_exit_ok(calico, "calico's setns");
    wait_event(&sensor, "setns", calico);
    sensor.assert_no_alert(
        "calico joining a namespace",
        named(&CHANGE_THREAD_NAMESPACE, "calico"),
    );
    sensor.stop();
}

/// `unshare -U` by the container's user, who lacks CAP_SYS_ADMIN, fires; root with
/// CAP_SYS_ADMIN in its permitted set does not.
#[test]
fn unshare_in_a_container_fires_without_cap_sys_admin() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["unshare"]);
    let marker = unique("unshare");
    let run = ctr.exec(&["/bin/unshare", "-U", "/bin/busybox", "echo", &marker]);
    let cmdline = format!("unshare -U /bin/busybox echo {marker}");
    let alert = sensor.wait_alert(&UNSHARE, |a| {
        out_is(a, "container.id", ctr.short_id()) && out_is(a, "proc.cmdline", &*cmdline)
    });
    assert_out(&alert, "proc.name", "unshare");
    assert_out(&alert, "user.uid", CTR_UID);
    assert!(run.pid > 0, "{run:?}");

    let admin = unique("unshare-admin");
    let run = ctr.exec_with(
        &["--user", "0:0", "--cap", "CAP_SYS_ADMIN"],
        &["/bin/unshare", "-u", "/bin/busybox", "echo", &admin],
    );
    assert!(run.success, "{run:?}");
    let ev = sensor.wait_for(
        |e| {
            is_type(e, "unshare")
                && e["container.id"] == ctr.short_id()
                && e["proc.cmdline"]
                    .as_str()
                    .is_some_and(|c| c.contains(&admin))
        },
        EVENT_TIMEOUT,
    );
    assert!(
        field_str(&ev, "thread.cap_permitted").contains("CAP_SYS_ADMIN"),
        "{ev:#}"
    );
    let cmdline = format!("unshare -u /bin/busybox echo {admin}");
    sensor.assert_no_alert("unshare with CAP_SYS_ADMIN", |a| {
        a["rule"] == UNSHARE.name && out_is(a, "proc.cmdline", &*cmdline)
    });
    drop(ctr);
    sensor.stop();
}

/// Loading a BPF program fires unless the program is a profiled one (`bpftool`); creating a
/// map is no program load.
#[test]
fn bpf_program_load_fires_unless_profiled() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let load = |name: &CString, map_only: bool| {
        let name = name.clone();
        fork_child(move || {
            set_comm(&name);
            let r = if map_only {
                bpf_map_create()
            } else {
                bpf_prog_load()
            };
            i32::from(r.is_err())
        })
    };
    let (loader, loader_c) = comm("bp");
    assert_exit_ok(load(&loader_c, false), "BPF_PROG_LOAD");
    let alert = sensor.wait_alert(&BPF_NOT_PROFILED, named(&BPF_NOT_PROFILED, &loader));
    assert_out(&alert, "evt.arg.cmd", "BPF_PROG_LOAD");

    let bpftool = load(&CString::new("bpftool").unwrap(), false);
    assert_exit_ok(bpftool, "bpftool's BPF_PROG_LOAD");
    wait_event(&sensor, "bpf", bpftool);
    sensor.assert_no_alert(
        "bpftool loading a program",
        named(&BPF_NOT_PROFILED, "bpftool"),
    );

    let (mapper, mapper_c) = comm("bm");
    let map = load(&mapper_c, true);
    assert_exit_ok(map, "BPF_MAP_CREATE");
    wait_event(&sensor, "bpf", map);
    sensor.assert_no_alert("a map, not a program", named(&BPF_NOT_PROFILED, &mapper));
    sensor.stop();
}

/// An unprivileged user opening a userfaultfd (the user-mode-only kind it may open) fires;
/// root does not.
#[test]
fn userfaultfd_by_an_unprivileged_user_fires() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let open = |name: &CString, uid: u64| {
        let name = name.clone();
        fork_child(move || {
            set_comm(&name);
            if raw(libc::SYS_setresuid, [uid, uid, uid, 0]) != Ok(0) {
                return 2;
            }
            i32::from(userfaultfd(UFFD_USER_MODE_ONLY | libc::O_CLOEXEC).is_err())
        })
    };
    let alert = until_named(
        || {
            let (user, user_c) = comm("uf");
            assert_exit_ok(open(&user_c, 65534), "userfaultfd as nobody");
            sensor.wait_alert(&USERFAULTFD, named(&USERFAULTFD, &user))
        },
        |alert| *out(alert, "user.name") != "<NA>",
    );
    assert_out(&alert, "user.uid", 65534);
    assert_out(&alert, "user.name", "nobody");

    let (root, root_c) = comm("ur");
    let child = open(&root_c, 0);
    assert_exit_ok(child, "userfaultfd as root");
    wait_event(&sensor, "userfaultfd", child);
    sensor.assert_no_alert("root's userfaultfd", named(&USERFAULTFD, &root));
    sensor.stop();
}

/// insmod of a bogus module in a container with CAP_SYS_MODULE fires (the load fails; the
/// rule does not ask for success), without the capability it does not. A kernel built
/// without module support has no such syscall: then only that is checked, and the rule is
/// proved over decoded records instead (sensor/src/rules/official_privilege_tests.rs).
#[test]
fn module_injection_in_a_container_with_cap_sys_module_fires() {
    require_root!();
    if !has_syscall_tracepoint("init_module") {
        assert_eq!(
            init_module(b"not a module", c""),
            Err(libc::ENOSYS),
            "no tracepoint: no module support"
        );
        skip(
            "module_injection_in_a_container_with_cap_sys_module_fires",
            "this kernel has no module support (init_module is ENOSYS)",
        );
        return;
    }
    let mut sensor = sensor_with_official_rules();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["insmod"]);
    write_file(&in_rootfs(&ctr, "/tmp/bogus.ko"), "not a module\n", 0o644);
    let marker = unique("insmod");
    let uargs = format!("lanner_marker={marker}");
    let with_cap = ["--user", "0:0", "--cap", "CAP_SYS_MODULE"];
    let run = ctr.exec_with(&with_cap, &["/bin/insmod", "/tmp/bogus.ko", &uargs]);
    assert!(!run.success, "a bogus module does not load: {run:?}");
    let alert = sensor.wait_alert(&MODULE_INJECTION, |a| {
        out_is(a, "container.id", ctr.short_id()) && out_contains(a, "proc.args", &marker)
    });
    assert_out(&alert, "proc.name", "insmod");

    let without = unique("insmod-nocap");
    let uargs = format!("lanner_marker={without}");
    let run = ctr.exec_with(
        &["--user", "0:0"],
        &["/bin/insmod", "/tmp/bogus.ko", &uargs],
    );
    assert!(!run.success, "{run:?}");
    sensor.wait_exec(run.pid);
    sensor.assert_no_alert("insmod without CAP_SYS_MODULE", |a| {
        a["rule"] == MODULE_INJECTION.name && out_contains(a, "proc.args", &without)
    });
    drop(ctr);
    sensor.stop();
}

/// The production configuration (no `--dump-events`): the loader attaches the ptrace hooks
/// because loaded rules need them, and the alert comes.
#[test]
fn official_rules_attach_the_hooks_they_need_in_production() {
    require_root!();
    let args = official_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut sensor = Sensor::launch(lanner_tests::sensor::Launch {
        args: &args,
        alerts_only: true,
        ..Default::default()
    });
    sensor.wait_ready();
    let (debuggee, debuggee_c) = comm("pp");
    let child = fork_child(|| {
        set_comm(&debuggee_c);
        i32::from(ptrace(libc::PTRACE_TRACEME, 0) != Ok(0))
    });
    assert_exit_ok(child, "PTRACE_TRACEME");
    sensor.wait_alert(&PTRACE_ANTI_DEBUG, named(&PTRACE_ANTI_DEBUG, &debuggee));
    sensor.stop();
}
