//! Paths deeper than the kernel takes in one syscall (docs/events.md, "Paths cut short"): built
//! one relative `mkdirat`/`openat` at a time under /dev/shm, a program run from the bottom of
//! the chain (or in it) is reported with its path's root side and leaf kept around the `//…//`
//! marker, flagged `lanner.path_truncated` and counted, and the built-in path rules still fire.
//! A chain deeper than the sensor walks never comes out as a path from the root.

use lanner_tests::*;
use serde_json::Value;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// A chain of `levels` directories named `name` under a fresh directory in /dev/shm, with a
/// hard link to a copy of busybox at the bottom. Built and removed through directory fds, one
/// level at a time: the whole path can be longer than `PATH_MAX`, which no syscall takes.
struct Chain {
    base: PathBuf,
    name: CString,
    levels: usize,
    bottom: OwnedFd,
}

impl Chain {
    fn new(tag: &str, name: &str, levels: usize) -> Chain {
        let base = PathBuf::from("/dev/shm").join(unique(tag));
        std::fs::create_dir(&base).unwrap();
        // Copied next to the chain (same tmpfs) by a `cp` child, then linked at the bottom: no
        // write fd of this process can keep it busy for an exec.
        copy_executable(canonical("/bin/busybox"), base.join("busybox"));
        let name = CString::new(name).unwrap();
        let mut fd = open_dir(
            libc::AT_FDCWD,
            &CString::new(base.to_str().unwrap()).unwrap(),
        );
        for _ in 0..levels {
            // SAFETY: plain syscall on a valid fd and C string.
            let r = unsafe { libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o755) };
            assert_eq!(r, 0, "mkdirat: errno {}", last_errno());
            fd = open_dir(fd.as_raw_fd(), &name);
        }
        let from = CString::new(base.join("busybox").to_str().unwrap()).unwrap();
        let to = CString::new("busybox").unwrap();
        // SAFETY: plain syscall with valid C strings and fds.
        let r = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                fd.as_raw_fd(),
                to.as_ptr(),
                0,
            )
        };
        assert_eq!(r, 0, "linkat: errno {}", last_errno());
        Chain {
            base,
            name,
            levels,
            bottom: fd,
        }
    }

    fn base(&self) -> String {
        self.base.to_str().unwrap().to_string()
    }

    /// The whole path of the bottom directory, as no syscall would take it.
    fn bottom_path(&self) -> String {
        let name = self.name.to_str().unwrap();
        format!("{}{}", self.base(), format!("/{name}").repeat(self.levels))
    }

    /// Runs `exe echo <marker>` (argv[0] `busybox`) with the bottom of the chain as working
    /// directory; returns its pid once it exited 0.
    fn run_in_bottom(&self, exe: &str, marker: &str) -> i64 {
        let args = CArgs::new(&["busybox", "echo", marker]);
        let exe = CString::new(exe).unwrap();
        let dir = self.bottom.as_raw_fd();
        let pid = fork_child(|| {
            // SAFETY: async-signal-safe syscalls with values built before fork.
            unsafe {
                if libc::fchdir(dir) != 0 {
                    return 126;
                }
                libc::execv(exe.as_ptr(), args.as_ptr());
            }
            127
        });
        assert_eq!(wait_status(pid), 0, "{exe:?} in the chain");
        i64::from(pid)
    }
}

impl Drop for Chain {
    /// Bottom up: unlink the binary, then each directory from its parent, reached by `..`.
    fn drop(&mut self) {
        let busybox = CString::new("busybox").unwrap();
        let dotdot = CString::new("..").unwrap();
        // SAFETY: plain syscalls on valid fds and C strings.
        unsafe { libc::unlinkat(self.bottom.as_raw_fd(), busybox.as_ptr(), 0) };
        // SAFETY: dup of a valid fd, owned right away.
        let mut fd = unsafe { OwnedFd::from_raw_fd(libc::dup(self.bottom.as_raw_fd())) };
        for _ in 0..self.levels {
            let parent = open_dir(fd.as_raw_fd(), &dotdot);
            // SAFETY: as above.
            unsafe { libc::unlinkat(parent.as_raw_fd(), self.name.as_ptr(), libc::AT_REMOVEDIR) };
            fd = parent;
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn open_dir(at: RawFd, name: &CString) -> OwnedFd {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: plain syscall; the fd returned is owned right away.
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags) };
    assert!(fd >= 0, "openat {name:?}: errno {}", last_errno());
    // SAFETY: a fresh fd nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn exec_of(sensor: &Sensor, pid: i64) -> Value {
    let ev = sensor.wait_exec(pid);
    assert_schema(&ev);
    ev
}

/// `value` is a cut path: the marker between a root side starting with `root` and a leaf side
/// ending with `leaf`.
#[track_caller]
fn assert_cut(ev: &Value, key: &str, root: &str, leaf: &str) {
    let v = field_str(ev, key);
    let (head, tail) = v
        .split_once("//…//")
        .unwrap_or_else(|| panic!("{key} has no //…// marker: {v}"));
    assert!(head.starts_with(root), "{key} root side: {head}");
    assert!(tail.ends_with(leaf), "{key} leaf side: {tail}");
}

#[test]
fn a_chain_of_60_directories_is_resolved_whole_and_dev_shm_rule_fires() {
    require_root!();
    let mut sensor = Sensor::start();
    let chain = Chain::new("deep60", "d", 60);
    let pid = chain.run_in_bottom("./busybox", &unique("deep60"));
    let ev = exec_of(&sensor, pid);
    let bottom = chain.bottom_path();
    assert_field(&ev, "proc.exepath", format!("{bottom}/busybox"));
    assert_field(&ev, "proc.cwd", format!("{bottom}/"));
    assert_field(&ev, "lanner.path_truncated", false);
    let alert = sensor.wait_alert(&DEV_SHM_EXEC, |a| out_is(a, "proc.pid", pid));
    assert_out(&alert, "proc.exepath", format!("{bottom}/busybox"));
    sensor.assert_no_alert("a path that fits", |a| {
        a["rule"] == DEEP_PATH_EXEC.name && out_is(a, "proc.pid", pid)
    });
    sensor.stop();
}

#[test]
fn a_path_longer_than_path_max_keeps_its_directory_is_flagged_and_dev_shm_rule_fires() {
    require_root!();
    let mut sensor = Sensor::start();
    // 60 levels of 80 bytes: about 4,900 bytes, more than PATH_MAX.
    let chain = Chain::new("deeplong", &"e".repeat(80), 60);
    assert!(chain.bottom_path().len() > 4096);
    let root = format!("{}/{}/", chain.base(), "e".repeat(80));
    let pid = chain.run_in_bottom("./busybox", &unique("deeplong"));
    let ev = exec_of(&sensor, pid);
    assert_field(&ev, "lanner.path_truncated", true);
    assert_cut(
        &ev,
        "proc.exepath",
        &root,
        &format!("/{}/busybox", "e".repeat(80)),
    );
    assert_cut(&ev, "proc.cwd", &root, &format!("/{}/", "e".repeat(80)));
    let alert = sensor.wait_alert(&DEV_SHM_EXEC, |a| out_is(a, "proc.pid", pid));
    assert!(
        out(&alert, "proc.exepath")
            .as_str()
            .unwrap()
            .starts_with(&root)
    );
    // The process's later events show the same cut paths from the table, flagged too.
    let exit = sensor.wait_for(
        |e| is_type(e, "procexit") && e["proc.pid"] == pid,
        EVENT_TIMEOUT,
    );
    assert_field(&exit, "lanner.path_truncated", true);
    assert_field(&exit, "proc.exepath", ev["proc.exepath"].clone());

    // A shallow path next to it stays exact and unflagged.
    let (shallow, _) = echo_on_host("shallow");
    let ev = exec_of(&sensor, shallow);
    assert_field(&ev, "lanner.path_truncated", false);
    assert!(!field_str(&ev, "proc.exepath").contains('…'));
    let stats = sensor.stop();
    for path in ["exepath", "cwd"] {
        assert!(stats.paths_truncated(path) >= 1, "{path}: {}", stats.raw);
    }
    assert!(stats.lost("exec", "truncated") >= 2, "{}", stats.raw);
}

#[test]
fn a_deep_working_directory_is_marked_and_the_deep_path_rule_fires() {
    require_root!();
    let mut sensor = Sensor::start();
    let chain = Chain::new("deepcwd", &"c".repeat(100), 50);
    let busybox = canonical("/bin/busybox");
    let pid = chain.run_in_bottom(&busybox, &unique("deepcwd"));
    let ev = exec_of(&sensor, pid);
    assert_field(&ev, "proc.exepath", busybox.as_str());
    assert_field(&ev, "lanner.path_truncated", true);
    let root = format!("{}/{}/", chain.base(), "c".repeat(100));
    assert_cut(&ev, "proc.cwd", &root, &format!("/{}/", "c".repeat(100)));
    let alert = sensor.wait_alert(&DEEP_PATH_EXEC, |a| out_is(a, "proc.pid", pid));
    assert_out(&alert, "proc.exepath", busybox.as_str());
    assert_out(&alert, "proc.cwd", ev["proc.cwd"].clone());
    let stats = sensor.stop();
    assert!(stats.paths_truncated("cwd") >= 1, "{}", stats.raw);
}

#[test]
fn a_chain_deeper_than_the_walk_never_looks_like_a_path_from_the_root() {
    require_root!();
    let mut sensor = Sensor::start();
    // More levels than the walk takes steps (4096): its root side is out of reach.
    let chain = Chain::new("deepest", "e", 4200);
    let pid = chain.run_in_bottom("./busybox", &unique("deepest"));
    let ev = exec_of(&sensor, pid);
    assert_field(&ev, "lanner.path_truncated", true);
    for (key, leaf) in [("proc.exepath", "/e/e/busybox"), ("proc.cwd", "/e/e/")] {
        let v = field_str(&ev, key);
        assert!(v.starts_with("…//e/"), "{key}: {}", &v[..v.len().min(80)]);
        assert!(v.ends_with(leaf), "{key}");
    }
    // Not /dev/shm's rule (the directory is unknown): the deep path's.
    let alert = sensor.wait_alert(&DEEP_PATH_EXEC, |a| out_is(a, "proc.pid", pid));
    assert!(
        out(&alert, "proc.exepath")
            .as_str()
            .unwrap()
            .starts_with("…//")
    );
    // The sensor keeps working for everyone else.
    let (other, marker) = echo_on_host("after-deepest");
    let ev = exec_of(&sensor, other);
    assert!(has_arg(&ev, &marker));
    sensor.stop();
}

#[test]
fn a_mount_target_longer_than_path_max_is_marked_and_a_long_one_that_fits_is_whole() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = format!("/tmp/{}/", unique("longmount"));
    let mount = |target: &str| {
        let (src, ty) = (
            CString::new("none").unwrap(),
            CString::new("tmpfs").unwrap(),
        );
        let target = CString::new(target).unwrap();
        // SAFETY: valid C strings; the call fails (ENOENT, ENAMETOOLONG) and changes nothing.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                ty.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        assert!(r < 0, "mount of a missing target succeeded");
    };
    let fits = format!("{dir}{}", "f".repeat(4000));
    let cut = format!("{dir}{}", "c".repeat(5000));
    mount(&fits);
    mount(&cut);
    let of = |prefix: &str| {
        let prefix = prefix.to_string();
        move |e: &Value| {
            is_type(e, "mount")
                && e["evt.arg.dir"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(&prefix))
        }
    };
    let ev = sensor.wait_for(of(&format!("{dir}f")), EVENT_TIMEOUT);
    assert_field(&ev, "evt.arg.dir", fits.as_str());
    assert_field(&ev, "lanner.path_truncated", false);
    let ev = sensor.wait_for(of(&format!("{dir}c")), EVENT_TIMEOUT);
    assert_field(&ev, "lanner.path_truncated", true);
    let v = field_str(&ev, "evt.arg.dir");
    assert!(
        v.ends_with("c//…") && cut.starts_with(&v[..v.len() - "//…".len()]),
        "{v}"
    );
    let stats = sensor.stop();
    assert!(stats.paths_truncated("mount_target") >= 1, "{}", stats.raw);
}
