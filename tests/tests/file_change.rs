//! File-tree changes (docs/events.md, "unlink, rename, mkdir, symlink, link, chmod"): every
//! call is a real syscall made by the test's own thread (through dirfds) or by a child it
//! forked (relative to a working directory it changed to, which is process-wide), on files
//! under a directory only this test uses; the events are picked by that thread's id.

use lanner_tests::*;
use serde_json::Value;
use std::ffi::CString;

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Makes `path` from another thread: the test's own thread then makes only the calls it
/// waits for.
fn make_file(path: impl AsRef<std::path::Path>) {
    let path = path.as_ref().to_path_buf();
    std::thread::spawn(move || std::fs::write(&path, "x").unwrap())
        .join()
        .unwrap();
}

/// A raw syscall's return value, or -errno.
fn ret(r: libc::c_long) -> i64 {
    if r < 0 { -i64::from(last_errno()) } else { r }
}

/// The `evt_type` event of thread `tid` whose `key` is `value`.
#[track_caller]
fn wait_change(sensor: &Sensor, tid: i64, evt_type: &str, key: &str, value: &str) -> Value {
    let (t, k, v) = (evt_type.to_string(), key.to_string(), value.to_string());
    sensor.wait_for(
        move |e| e["thread.tid"] == tid && e["evt.type"] == *t && e[&k].as_str() == Some(&v),
        EVENT_TIMEOUT,
    )
}

fn open_dir(path: &str) -> i32 {
    let p = c(path);
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(fd >= 0, "open {path}: {}", last_errno());
    fd
}

/// Relative paths from a known working directory, one call of each kind, made by a child that
/// changed to it: every path argument and `fs.path.*` is the absolute, normalized path.
#[test]
fn relative_paths_are_resolved_against_the_working_directory_at_the_call() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("change-cwd");
    let base = dir.path_str();
    let deep = format!("{base}/a/b");
    std::fs::create_dir_all(&deep).unwrap();
    make_file(format!("{deep}/file"));
    let deep_c = c(&deep);
    let [newdir, renamed, file, lnk, hard, secret] = [
        "..//./newdir",
        "renamed",
        "file",
        "lnk",
        "hard",
        "../../secret",
    ]
    .map(c);
    let moved = c("../newdir");
    let pid = fork_child(|| {
        // SAFETY: raw syscalls with NUL-terminated paths, async-signal-safe.
        unsafe {
            let calls = [
                libc::chdir(deep_c.as_ptr()),
                libc::syscall(libc::SYS_mkdir, newdir.as_ptr(), 0o750) as i32,
                libc::syscall(libc::SYS_rename, moved.as_ptr(), renamed.as_ptr()) as i32,
                libc::syscall(libc::SYS_symlink, secret.as_ptr(), lnk.as_ptr()) as i32,
                libc::syscall(libc::SYS_link, file.as_ptr(), hard.as_ptr()) as i32,
                libc::syscall(libc::SYS_chmod, file.as_ptr(), 0o4755) as i32,
                libc::syscall(libc::SYS_unlink, hard.as_ptr()) as i32,
                libc::syscall(libc::SYS_rmdir, renamed.as_ptr()) as i32,
            ];
            calls
                .iter()
                .position(|r| *r != 0)
                .map_or(0, |i| i as i32 + 1)
        }
    });
    assert_eq!(
        wait_status(pid),
        0,
        "the child's calls (1-based index of a failure)"
    );
    let pid = i64::from(pid);
    let abs = |p: &str| format!("{base}/{p}");

    let ev = wait_change(&sensor, pid, "mkdir", "evt.arg.path", &abs("a/newdir"));
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.arg.mode", "1E8");
    assert_field(&ev, "fs.path.name", abs("a/newdir"));
    assert_field(&ev, "fs.path.nameraw", "..//./newdir");
    assert_field(&ev, "lanner.path_truncated", false);

    let ev = wait_change(&sensor, pid, "rename", "evt.arg.oldpath", &abs("a/newdir"));
    assert_field(&ev, "evt.arg.newpath", abs("a/b/renamed"));
    assert_field(&ev, "fs.path.source", abs("a/newdir"));
    assert_field(&ev, "fs.path.sourceraw", "../newdir");
    assert_field(&ev, "fs.path.target", abs("a/b/renamed"));

    // A symlink's content is shown as passed; fs.path.target joins it to the working
    // directory, as Falco does.
    let ev = wait_change(&sensor, pid, "symlink", "evt.arg.linkpath", &abs("a/b/lnk"));
    assert_field(&ev, "evt.arg.target", "../../secret");
    assert_field(&ev, "fs.path.source", abs("a/b/lnk"));
    assert_field(&ev, "fs.path.target", abs("secret"));

    let ev = wait_change(&sensor, pid, "link", "evt.arg.oldpath", &abs("a/b/file"));
    assert_field(&ev, "evt.arg.newpath", abs("a/b/hard"));
    assert_field(&ev, "fs.path.source", abs("a/b/hard"));
    assert_field(&ev, "fs.path.target", abs("a/b/file"));

    let ev = wait_change(&sensor, pid, "chmod", "evt.arg.filename", &abs("a/b/file"));
    assert_field(
        &ev,
        "evt.arg.mode",
        "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID",
    );
    assert_field(&ev, "evt.rawarg.mode", 0o4755);
    assert_field(&ev, "fs.path.name", abs("a/b/file"));

    let ev = wait_change(&sensor, pid, "unlink", "evt.arg.path", &abs("a/b/hard"));
    assert_field(&ev, "fs.path.name", abs("a/b/hard"));
    let ev = wait_change(&sensor, pid, "rmdir", "evt.arg.path", &abs("a/b/renamed"));
    assert_field(&ev, "proc.pid", pid);
    sensor.stop();
}

/// The *at calls through a dirfd (and fchmod through its fd): each path is resolved against
/// the directory the fd names, flags and modes are shown by Falco's names.
#[test]
fn paths_through_a_dirfd_are_resolved_against_that_directory() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("change-dirfd");
    let base = dir.path_str();
    std::fs::create_dir_all(format!("{base}/x")).unwrap();
    make_file(format!("{base}/x/g"));
    make_file(format!("{base}/x/f"));
    let dfd = open_dir(&format!("{base}/x"));
    let tid = gettid();
    let [f, d, g, g2, t, s, moved] = ["f", "d", "g", "g2", "t", "s"]
        .map(c)
        .into_iter()
        .chain([c(&format!("{base}/moved"))])
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    // SAFETY: raw syscalls with a directory fd this test opened and NUL-terminated paths.
    let results = unsafe {
        [
            libc::syscall(libc::SYS_unlinkat, dfd, f.as_ptr(), 0),
            libc::syscall(libc::SYS_mkdirat, dfd, d.as_ptr(), 0o700),
            libc::syscall(
                libc::SYS_renameat2,
                dfd,
                d.as_ptr(),
                libc::AT_FDCWD,
                moved.as_ptr(),
                libc::RENAME_NOREPLACE,
            ),
            libc::syscall(libc::SYS_linkat, dfd, g.as_ptr(), dfd, g2.as_ptr(), 0),
            libc::syscall(libc::SYS_symlinkat, t.as_ptr(), dfd, s.as_ptr()),
            libc::syscall(libc::SYS_fchmodat, dfd, g.as_ptr(), 0o2755),
            libc::syscall(
                libc::SYS_unlinkat,
                libc::AT_FDCWD,
                moved.as_ptr(),
                libc::AT_REMOVEDIR,
            ),
        ]
    }
    .map(ret);
    assert!(results.iter().all(|r| *r == 0), "{results:?}");
    let gfd = {
        let p = c(&format!("{base}/x/g"));
        // SAFETY: a NUL-terminated path.
        unsafe { libc::open(p.as_ptr(), libc::O_RDONLY) }
    };
    assert!(gfd >= 0);
    // SAFETY: an fd this test opened.
    assert_eq!(unsafe { libc::fchmod(gfd, 0o755) }, 0);
    let x = |p: &str| format!("{base}/x/{p}");

    let ev = wait_change(&sensor, tid, "unlinkat", "evt.arg.name", &x("f"));
    assert_field(&ev, "evt.arg.dirfd", dfd.to_string());
    assert_field(&ev, "fs.path.name", x("f"));
    assert_field(&ev, "fs.path.nameraw", "f");
    let ev = wait_change(&sensor, tid, "mkdirat", "evt.arg.path", &x("d"));
    assert_field(&ev, "evt.arg.mode", "1C0");
    let ev = wait_change(&sensor, tid, "renameat2", "evt.arg.oldpath", &x("d"));
    assert_field(&ev, "evt.arg.newpath", format!("{base}/moved"));
    assert_field(&ev, "evt.arg.newdirfd", "AT_FDCWD");
    assert_field(&ev, "evt.arg.flags", "RENAME_NOREPLACE");
    assert_field(&ev, "fs.path.source", x("d"));
    let ev = wait_change(&sensor, tid, "linkat", "evt.arg.newpath", &x("g2"));
    assert_field(&ev, "evt.arg.oldpath", x("g"));
    assert_field(&ev, "evt.arg.olddir", dfd.to_string());
    assert_field(&ev, "fs.path.target", x("g"));
    let ev = wait_change(&sensor, tid, "symlinkat", "evt.arg.linkpath", &x("s"));
    assert_field(&ev, "evt.arg.target", "t");
    assert_field(&ev, "evt.arg.linkdirfd", dfd.to_string());
    let ev = wait_change(&sensor, tid, "fchmodat", "evt.arg.filename", &x("g"));
    assert_field(
        &ev,
        "evt.arg.mode",
        "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISGID",
    );
    let ev = wait_change(&sensor, tid, "unlinkat", "evt.arg.flags", "AT_REMOVEDIR");
    assert_field(&ev, "evt.arg.name", format!("{base}/moved"));
    // fchmod names its file by fd: the path is the fd's, walked by the kernel at the call.
    let ev = wait_change(&sensor, tid, "fchmod", "fs.path.name", &x("g"));
    assert_field(&ev, "evt.arg.fd", gfd.to_string());
    assert_field(
        &ev,
        "evt.arg.mode",
        "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR",
    );
    // SAFETY: fds this test opened.
    unsafe {
        libc::close(gfd);
        libc::close(dfd);
    }
    sensor.stop();
}

/// A failed call shows what it named and its errno, but no `fs.path.*` (as in Falco).
#[test]
fn a_failed_call_has_its_errno_and_arguments_but_no_fs_path() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("change-fail");
    let missing = format!("{}/not-there", dir.path_str());
    let p = c(&missing);
    // SAFETY: a NUL-terminated path.
    let r = ret(unsafe { libc::syscall(libc::SYS_rmdir, p.as_ptr()) });
    assert_eq!(r, -i64::from(libc::ENOENT));
    let ev = wait_change(&sensor, gettid(), "rmdir", "evt.arg.path", &missing);
    assert_field(&ev, "evt.res", "ENOENT");
    assert_field(&ev, "evt.rawres", -2);
    assert_field(&ev, "fs.path.name", Value::Null);
    assert_field(&ev, "fs.path.nameraw", Value::Null);
    sensor.stop();
}

/// A file unlinked through a dirfd at the bottom of a chain longer than any path: its name is
/// the chain's root side and the leaf around the marker, flagged and counted, never guessed.
#[test]
fn a_path_under_a_directory_deeper_than_a_path_is_cut_and_flagged() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("change-deep");
    let name = c(&"d".repeat(200));
    let mut fd = open_dir(&dir.path_str());
    // 25 levels of 201 bytes: past PATH_MAX (4096).
    for _ in 0..25 {
        // SAFETY: a valid fd and NUL-terminated name.
        unsafe {
            assert_eq!(libc::mkdirat(fd, name.as_ptr(), 0o755), 0);
            let next = libc::openat(fd, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            assert!(next >= 0, "openat a level");
            libc::close(fd);
            fd = next;
        }
    }
    let payload = c("payload");
    // SAFETY: as above.
    unsafe {
        let f = libc::openat(fd, payload.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
        assert!(f >= 0);
        libc::close(f);
        assert_eq!(libc::unlinkat(fd, payload.as_ptr(), 0), 0);
    }
    let tid = gettid();
    let ev = sensor.wait_for(
        move |e| {
            e["thread.tid"] == tid
                && e["evt.type"] == "unlinkat"
                && e["fs.path.nameraw"] == "payload"
        },
        EVENT_TIMEOUT,
    );
    for key in ["fs.path.name", "evt.arg.name"] {
        let name = field_str(&ev, key);
        assert!(
            name.starts_with(&format!("{}/", dir.path_str()))
                && name.contains("//…//")
                && name.ends_with("/payload"),
            "{key}: root side, marker, leaf: {name}"
        );
    }
    assert_field(&ev, "lanner.path_truncated", true);
    // SAFETY: an fd this test opened.
    unsafe { libc::close(fd) };
    let stats = sensor.stop();
    assert!(stats.paths_truncated("file_path") >= 1, "{:?}", stats.raw);
    assert!(
        stats.lost("file_change", "truncated") >= 1,
        "{:?}",
        stats.raw
    );
}

/// A second path whose page is not in memory when the call is made cannot be read by a probe
/// (it cannot fault); the kernel faults it in when it copies the path, and the sensor reads it
/// when the call returns, saying so, while the first path read at the call stays as it was.
#[test]
fn a_path_not_in_memory_at_the_call_is_read_when_it_returns() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("change-late");
    let (from, to) = (
        format!("{}/from", dir.path_str()),
        format!("{}/late-target", dir.path_str()),
    );
    make_file(&from);
    // The new path lives in a file mapped fresh: nothing has touched its page yet.
    let holder = dir.path().join("path-page");
    let mut bytes = to.clone().into_bytes();
    bytes.push(0);
    std::fs::write(&holder, &bytes).unwrap();
    let file = std::fs::File::open(&holder).unwrap();
    // SAFETY: a private read-only mapping of a file this test owns, unmapped below.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    let from_c = c(&from);
    // SAFETY: two NUL-terminated paths (the second in the mapping).
    let r = ret(unsafe { libc::syscall(libc::SYS_rename, from_c.as_ptr(), page) });
    assert_eq!(r, 0, "rename");
    let ev = wait_change(&sensor, gettid(), "rename", "evt.arg.oldpath", &from);
    assert_field(&ev, "evt.arg.newpath", to.as_str());
    assert_field(&ev, "fs.path.target", to.as_str());
    assert_field(&ev, "lanner.path_read_at_exit", true);
    // SAFETY: unmapping what was mapped above.
    unsafe { libc::munmap(page, 4096) };
    // Ordinary paths (written by the test, so in memory) are read at the call.
    let to_c = c(&to);
    // SAFETY: a NUL-terminated path.
    assert_eq!(
        ret(unsafe { libc::syscall(libc::SYS_unlink, to_c.as_ptr()) }),
        0
    );
    let again = wait_change(&sensor, gettid(), "unlink", "evt.arg.path", &to);
    assert_field(&again, "lanner.path_read_at_exit", false);
    sensor.stop();
}
