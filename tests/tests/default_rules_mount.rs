//! Default rules about mounts: "Container Escape" (a host filesystem or sensitive path
//! mounted from a container) and "New Mount API Used in Container", and the false positive
//! they must not have: runc's own mounts while it sets a container up, which happen in the
//! container's cgroup.

use lanner_tests::*;
use serde_json::Value;
use std::ffi::CString;

/// `runc exec` options for root with CAP_SYS_ADMIN (a privileged container's shell).
const ROOT_SYS_ADMIN: [&str; 4] = ["--user", "0:0", "--cap", "CAP_SYS_ADMIN"];

/// A mount event of container `short_id` on `dir`.
fn mount_on(e: &Value, short_id: &str, dir: &str) -> bool {
    is_type(e, "mount") && e["container.id"] == short_id && e["evt.arg.dir"] == dir
}

#[test]
fn container_escape_fires_for_proc_mount_and_bind_of_etc_in_a_container() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["mount"]);
    let dir = format!("/tmp/{}", unique("escape"));
    for d in ["proc", "etc"] {
        std::fs::create_dir_all(in_rootfs(&ctr, &format!("{dir}/{d}"))).unwrap();
    }
    std::fs::write(in_rootfs(&ctr, &format!("{dir}/self")), b"").unwrap();
    let run = ctr.exec_with(
        &ROOT_SYS_ADMIN,
        &[
            "/bin/sh",
            "-c",
            // Paths, not bare names: busybox's shell would run its `mount` applet as
            // /proc/self/exe (comm `exe`), and the test asserts the command line.
            // The first is runc's binary protection done by another parent than runc: not
            // excluded as the runtime's (runtime_binary_clone checks the parent; the shell
            // would exec the last command itself, whose parent is then runc).
            &format!(
                "/bin/mount --bind /proc/self/exe {dir}/self \
                 && /bin/mount -t proc proc {dir}/proc && /bin/mount --bind /etc {dir}/etc"
            ),
        ],
    );
    assert!(run.success, "{run:?}");

    let proc_dir = format!("{dir}/proc");
    let alert = sensor.wait_alert(&CONTAINER_ESCAPE, |a| out_is(a, "evt.arg.dir", &*proc_dir));
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "evt.arg.type", "proc");
    assert_out(&alert, "evt.arg.dev", "proc");
    assert_out(
        &alert,
        "proc.cmdline",
        format!("mount -t proc proc {proc_dir}"),
    );
    assert_out(&alert, "proc.pname", "sh");
    assert_out(&alert, "user.name", "root");

    let etc_dir = format!("{dir}/etc");
    let alert = sensor.wait_alert(&CONTAINER_ESCAPE, |a| out_is(a, "evt.arg.dir", &*etc_dir));
    assert_out(&alert, "evt.arg.dev", "/etc");
    assert_out_contains(&alert, "evt.arg.flags", "BIND");
    assert_out(&alert, "container.id", ctr.short_id());

    let self_file = format!("{dir}/self");
    let alert = sensor.wait_alert(&CONTAINER_ESCAPE, |a| out_is(a, "evt.arg.dir", &*self_file));
    assert_out(&alert, "evt.arg.dev", "/proc/self/exe");
    assert_out(&alert, "proc.pname", "sh");
    drop(ctr);
    sensor.stop();
}

#[test]
fn container_escape_ignores_tmpfs_and_denied_mounts_in_a_container() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["mount"]);
    let dir = format!("/tmp/{}", unique("no-escape"));
    for d in ["tmpfs", "denied"] {
        std::fs::create_dir_all(in_rootfs(&ctr, &format!("{dir}/{d}"))).unwrap();
    }
    // A scratch tmpfs, with the same privileges as the escape.
    let tmpfs = format!("{dir}/tmpfs");
    let run = ctr.exec_with(
        &ROOT_SYS_ADMIN,
        &["/bin/mount", "-t", "tmpfs", "scratch", &tmpfs],
    );
    assert!(run.success, "{run:?}");
    let ev = sensor.wait_for(|e| mount_on(e, ctr.short_id(), &tmpfs), EVENT_TIMEOUT);
    assert_field(&ev, "evt.res", "SUCCESS");
    // proc by the unprivileged user: refused, nothing of the host was mounted.
    let denied = format!("{dir}/denied");
    let run = ctr.exec(&["/bin/mount", "-t", "proc", "proc", &denied]);
    assert!(!run.success, "{run:?}");
    let ev = sensor.wait_for(|e| mount_on(e, ctr.short_id(), &denied), EVENT_TIMEOUT);
    assert_field(&ev, "evt.res", "EPERM");
    sensor.assert_no_alert("tmpfs mount; denied proc mount", |a| {
        a["rule"] == CONTAINER_ESCAPE.name
            && (out_is(a, "evt.arg.dir", &*tmpfs) || out_is(a, "evt.arg.dir", &*denied))
    });
    drop(ctr);
    sensor.stop();
}

#[test]
fn container_start_by_runc_raises_no_alert() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    // runc's init execs the entrypoint after all of its setup mounts: once that exec is seen,
    // every setup mount has gone through the rules.
    let ev = sensor.wait_exec(ctr.init_pid());
    assert_field(&ev, "proc.vpid", 1);
    let setup_mounts = sensor.count_where(|e| {
        is_type(e, "mount") && e["container.id"] == ctr.short_id() && e["evt.res"] == "SUCCESS"
    });
    assert!(
        setup_mounts >= 5,
        "precondition: runc's setup mounts (/proc, /dev, /sys, ...) are seen in the container, got {setup_mounts}"
    );
    let run = ctr.exec(&["/bin/busybox", "true"]);
    assert!(run.success, "{run:?}");
    sensor.wait_exec(run.pid);
    sensor.assert_no_alert("runc run and a plain exec", |a| {
        out_is(a, "container.id", ctr.short_id())
    });
    drop(ctr);
    sensor.stop();
}

// Values from linux/mount.h (the same on every architecture).
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const OPEN_TREE_CLONE: libc::c_uint = 0x1;

/// Mounts a tmpfs on `target` with fsopen/fsconfig/fsmount/move_mount, then clones it with
/// open_tree; returns 0 when every call succeeded, else the step that failed (1 to 5).
/// Raw syscalls only: it runs in a forked child.
fn new_api_mount(target: &CString, tmpfs: &CString, empty: &CString) -> i32 {
    // SAFETY: raw syscalls with valid C strings; descriptors are the calls' own results.
    unsafe {
        let fs = libc::syscall(libc::SYS_fsopen, tmpfs.as_ptr(), FSOPEN_CLOEXEC) as i32;
        if fs < 0 {
            return 1;
        }
        let null = std::ptr::null::<libc::c_char>();
        if libc::syscall(libc::SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, null, null, 0) < 0 {
            return 2;
        }
        let mnt = libc::syscall(libc::SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0) as i32;
        if mnt < 0 {
            return 3;
        }
        let at = libc::AT_FDCWD;
        let flags = MOVE_MOUNT_F_EMPTY_PATH;
        let (from, to) = (empty.as_ptr(), target.as_ptr());
        if libc::syscall(libc::SYS_move_mount, mnt, from, at, to, flags) < 0 {
            return 4;
        }
        if libc::syscall(libc::SYS_open_tree, at, to, OPEN_TREE_CLONE) < 0 {
            return 5;
        }
    }
    0
}

/// The C strings [`new_api_mount`] needs, built before fork.
fn new_api_args(target: &str) -> (CString, CString, CString) {
    (c(target), c("tmpfs"), c(""))
}

#[test]
fn new_mount_api_in_container_fires_for_each_call() {
    require_root!();
    let mut sensor = Sensor::start();
    let id = random_id();
    let jail = CgroupJail::new(&id, CgroupKind::KubeletCgroupfs);
    let dir = TempDir::new("new-api");
    let target = dir.path_str();
    let _guard = Unmount(target.clone());
    let (t, fs, empty) = new_api_args(&target);
    let pid = jail.fork_in(|| new_api_mount(&t, &fs, &empty));
    assert_eq!(
        wait_status(pid),
        0,
        "new mount API sequence (step = exit code)"
    );
    let pid = i64::from(pid);
    for (syscall, key, value) in [
        ("fsopen", "evt.arg.fsname", "tmpfs"),
        ("fsmount", "evt.res", "SUCCESS"),
        ("move_mount", "evt.arg.to_pathname", target.as_str()),
        ("open_tree", "evt.arg.filename", target.as_str()),
    ] {
        let alert = sensor.wait_alert(&NEW_MOUNT_API, |a| {
            out_is(a, "proc.pid", pid) && out_is(a, "evt.type", syscall)
        });
        assert_out(&alert, "container.id", &id[..12]);
        assert_out(&alert, key, value);
    }
    sensor.stop();
}

#[test]
fn new_mount_api_on_the_host_does_not_fire() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("new-api-host");
    let target = dir.path_str();
    let _guard = Unmount(target.clone());
    let (t, fs, empty) = new_api_args(&target);
    let pid = fork_child(|| new_api_mount(&t, &fs, &empty));
    assert_eq!(
        wait_status(pid),
        0,
        "new mount API sequence (step = exit code)"
    );
    let pid = i64::from(pid);
    sensor.wait_for(
        |e| is_type(e, "open_tree") && e["proc.pid"] == pid,
        EVENT_TIMEOUT,
    );
    sensor.assert_no_alert("new mount API on the host", |a| out_is(a, "proc.pid", pid));
    sensor.stop();
}
