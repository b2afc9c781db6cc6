//! mount family events (docs/events.md, "mount family"). Every call is made on the test's
//! own thread, so events are selected by `thread.tid` plus the test's unique directory.

use lanner_tests::*;
use serde_json::Value;
use std::ffi::CString;
use std::ptr;

// Values from linux/mount.h (the same on every architecture), defined here for clarity.
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const OPEN_TREE_CLONE: libc::c_uint = 0x1;

fn mount(src: Option<&str>, dir: &str, fstype: Option<&str>, flags: libc::c_ulong) -> (i32, i32) {
    let (src, dir, fstype) = (src.map(c), c(dir), fstype.map(c));
    let p = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
    // SAFETY: valid C strings or NULL; no data argument.
    let r = unsafe { libc::mount(p(&src), dir.as_ptr(), p(&fstype), flags, ptr::null()) };
    (r, if r < 0 { last_errno() } else { 0 })
}

fn umount2(dir: &str, flags: i32) -> (i32, i32) {
    let dir = c(dir);
    // SAFETY: valid C string.
    let r = unsafe { libc::umount2(dir.as_ptr(), flags) };
    (r, if r < 0 { last_errno() } else { 0 })
}

/// Waits for the `evt_type` event made by this thread whose `key` equals `value`.
#[track_caller]
fn wait_own(sensor: &Sensor, evt_type: &str, key: &str, value: &str) -> Value {
    let tid = gettid();
    sensor.wait_for(
        |e| is_type(e, evt_type) && e["thread.tid"] == tid && e[key] == value,
        EVENT_TIMEOUT,
    )
}

#[test]
fn mount_and_umount2_of_tmpfs_are_reported() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("mnt");
    let d = dir.path_str();
    let _guard = Unmount(d.clone());
    let src = unique("src");
    assert_eq!(
        mount(Some(&src), &d, Some("tmpfs"), 0),
        (0, 0),
        "mount tmpfs on {d}"
    );
    assert_eq!(umount2(&d, 0), (0, 0), "umount2 {d}");

    let ev = wait_own(&sensor, "mount", "evt.arg.dir", &d);
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.rawres", 0);
    assert_field(&ev, "proc.pid", my_pid());
    assert_field(&ev, "proc.name", thread_comm());
    assert_field(&ev, "evt.arg.dev", src.as_str());
    assert_field(&ev, "evt.arg.type", "tmpfs");
    assert_field(&ev, "evt.arg.flags", "NONE");
    assert_field(&ev, "lanner.mount_flags", 0);

    let ev = wait_own(&sensor, "umount2", "evt.arg.name", &d);
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.rawres", 0);
    assert_field(&ev, "evt.arg.flags", "0");
    assert_field(&ev, "evt.rawarg.flags", 0);
    assert_field(&ev, "proc.pid", my_pid());
    sensor.stop();
}

#[test]
fn mount_flags_are_named_in_falco_style() {
    require_root!();
    let mut sensor = Sensor::start();
    let (a, b) = (TempDir::new("mnt-a"), TempDir::new("mnt-b"));
    let (da, db) = (a.path_str(), b.path_str());
    let _ga = Unmount(da.clone());
    let _gb = Unmount(db.clone());
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    assert_eq!(
        mount(Some("lanner-test"), &da, Some("tmpfs"), flags),
        (0, 0)
    );
    // A bind mount passes no fs type at all (NULL pointer).
    assert_eq!(
        mount(Some(&da), &db, None, libc::MS_BIND | libc::MS_REC),
        (0, 0)
    );
    assert_eq!(umount2(&db, libc::MNT_DETACH), (0, 0));
    assert_eq!(umount2(&da, 0), (0, 0));

    let ev = wait_own(&sensor, "mount", "evt.arg.dir", &da);
    assert_field(&ev, "evt.arg.flags", "NOSUID|NODEV|NOEXEC");
    assert_field(&ev, "lanner.mount_flags", flags);
    assert_field(&ev, "evt.rawarg.flags", flags);
    let ev = wait_own(&sensor, "mount", "evt.arg.dir", &db);
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.arg.dev", da.as_str());
    assert_field(&ev, "evt.arg.flags", "BIND|REC");
    assert_field(&ev, "lanner.mount_flags", libc::MS_BIND | libc::MS_REC);
    assert_field(&ev, "evt.arg.type", Value::Null);
    let ev = wait_own(&sensor, "umount2", "evt.arg.name", &db);
    assert_field(&ev, "evt.arg.flags", "DETACH");
    assert_field(&ev, "evt.rawarg.flags", libc::MNT_DETACH);
    sensor.stop();
}

#[test]
fn failed_mount_and_umount2_report_errno() {
    require_root!();
    let mut sensor = Sensor::start();
    let marker = unique("nomnt");
    let target = format!("/nonexistent-{marker}/dir");
    assert_eq!(
        mount(Some(&marker), &target, Some("tmpfs"), 0),
        (-1, libc::ENOENT)
    );
    let dir = TempDir::new("notmounted");
    let d = dir.path_str();
    assert_eq!(
        umount2(&d, 0),
        (-1, libc::EINVAL),
        "umount2 of a plain directory"
    );

    let ev = wait_own(&sensor, "mount", "evt.arg.dir", &target);
    assert_field(&ev, "evt.res", "ENOENT");
    assert_field(&ev, "evt.rawres", -2);
    assert_field(&ev, "evt.arg.dev", marker.as_str());
    assert_field(&ev, "evt.arg.type", "tmpfs");
    let ev = wait_own(&sensor, "umount2", "evt.arg.name", &d);
    assert_field(&ev, "evt.res", "EINVAL");
    assert_field(&ev, "evt.rawres", -22);
    sensor.stop();
}

#[test]
fn new_mount_api_calls_are_reported() {
    require_root!();
    let mut sensor = Sensor::start();
    let tid = gettid();
    let t0 = now_ns() - 1_000_000_000;
    let dir = TempDir::new("newmnt");
    let d = dir.path_str();
    let _guard = Unmount(d.clone());
    let (tmpfs, empty, cd) = (c("tmpfs"), c(""), c(&d));
    // SAFETY: raw syscalls with valid C strings / NULL, on fds we own.
    let (fsfd, mfd) = unsafe {
        let fsfd = libc::syscall(libc::SYS_fsopen, tmpfs.as_ptr(), FSOPEN_CLOEXEC) as i32;
        assert!(fsfd >= 0, "fsopen: errno {}", last_errno());
        let r = libc::syscall(
            libc::SYS_fsconfig,
            fsfd,
            FSCONFIG_CMD_CREATE,
            ptr::null::<u8>(),
            ptr::null::<u8>(),
            0,
        );
        assert_eq!(r, 0, "fsconfig CMD_CREATE: errno {}", last_errno());
        let mfd = libc::syscall(libc::SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, 0) as i32;
        assert!(mfd >= 0, "fsmount: errno {}", last_errno());
        let r = libc::syscall(
            libc::SYS_move_mount,
            mfd,
            empty.as_ptr(),
            libc::AT_FDCWD,
            cd.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        );
        assert_eq!(r, 0, "move_mount: errno {}", last_errno());
        (fsfd, mfd)
    };
    let own = |e: &Value, t: &str| {
        is_type(e, t) && e["thread.tid"] == tid && e["evt.time"].as_i64() > Some(t0)
    };

    let ev = sensor.wait_for(
        |e| own(e, "fsopen") && e["evt.rawres"] == fsfd,
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.arg.fsname", "tmpfs");
    assert_field(&ev, "evt.rawarg.flags", FSOPEN_CLOEXEC);
    assert_field(&ev, "proc.pid", my_pid());
    let ev = sensor.wait_for(
        |e| own(e, "fsmount") && e["evt.rawres"] == mfd,
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.arg.fd", fsfd.to_string());
    assert_field(&ev, "evt.rawarg.fd", fsfd);
    assert_field(&ev, "evt.rawarg.flags", FSMOUNT_CLOEXEC);
    assert_field(&ev, "evt.rawarg.attr_flags", 0);
    let ev = sensor.wait_for(
        |e| own(e, "move_mount") && e["evt.arg.to_pathname"] == d.as_str(),
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.rawres", 0);
    assert_field(&ev, "evt.rawarg.from_dfd", mfd);
    assert_field(&ev, "evt.rawarg.to_dfd", libc::AT_FDCWD);
    // As rules compare it: the name Falco gives the current directory.
    assert_field(&ev, "evt.arg.to_dfd", "AT_FDCWD");
    assert_field(&ev, "evt.rawarg.flags", MOVE_MOUNT_F_EMPTY_PATH);
    // "" was passed, and an empty string the caller really passed is reported as "".
    assert_field(&ev, "evt.arg.from_pathname", "");

    // The mount fd pins the mount: close it first, or umount2 sees EBUSY.
    // SAFETY: closing fds we own.
    unsafe {
        libc::close(mfd);
        libc::close(fsfd);
    }
    assert_eq!(umount2(&d, 0), (0, 0), "umount2 after move_mount");
    sensor.stop();
}

#[test]
fn open_tree_clone_is_reported() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("opentree");
    let d = dir.path_str();
    let cd = c(&d);
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: raw syscall with a valid C string.
    let fd =
        unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, cd.as_ptr(), flags) } as i32;
    assert!(fd >= 0, "open_tree: errno {}", last_errno());
    // SAFETY: closing our fd drops the detached clone.
    unsafe { libc::close(fd) };
    let ev = wait_own(&sensor, "open_tree", "evt.arg.filename", &d);
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.rawres", fd);
    assert_field(&ev, "evt.arg.dfd", "AT_FDCWD");
    assert_field(&ev, "evt.rawarg.dfd", libc::AT_FDCWD);
    assert_field(&ev, "evt.rawarg.flags", flags);
    assert_field(&ev, "proc.pid", my_pid());
    sensor.stop();
}
