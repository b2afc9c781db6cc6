//! File opens (docs/events.md, "open, openat, openat2, creat"): every call is made by the
//! test's own thread (or a child it forked, for what changes process-wide state: the working
//! directory, the user), on files under a directory only this test uses.

use lanner_tests::*;
use serde_json::Value;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;

const OPENS: [&str; 4] = ["open", "openat", "openat2", "creat"];

fn is_open(e: &Value) -> bool {
    OPENS.iter().any(|t| e["evt.type"] == *t)
}

/// The open made by thread `tid` of the path passed as `raw`.
#[track_caller]
fn wait_open(sensor: &Sensor, tid: i64, raw: &str) -> Value {
    let raw = raw.to_string();
    sensor.wait_for(
        move |e| {
            is_open(e)
                && e["thread.tid"] == tid
                && e["fd.nameraw"].as_str() == Some(&collapse(&raw))
        },
        EVENT_TIMEOUT,
    )
}

/// What `fd.nameraw` makes of a path: repeated `/` collapsed.
fn collapse(raw: &str) -> String {
    let mut s = String::new();
    for c in raw.chars() {
        if !(c == '/' && s.ends_with('/')) {
            s.push(c);
        }
    }
    s
}

/// Writes `path` from another thread: the test's own thread then makes only the opens it
/// waits for.
fn make_file(path: impl AsRef<std::path::Path>) {
    let path = path.as_ref().to_path_buf();
    std::thread::spawn(move || std::fs::write(&path, "x").unwrap())
        .join()
        .unwrap();
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// The raw `open(2)` (glibc's `open` is openat): its return value or -errno.
fn sys_open(path: &CString, flags: i32, mode: u32) -> i64 {
    // SAFETY: a NUL-terminated path; the kernel validates the rest.
    let r = unsafe { libc::syscall(libc::SYS_open, path.as_ptr(), flags, mode) };
    if r < 0 { -i64::from(last_errno()) } else { r }
}

fn sys_openat(dirfd: i32, path: &CString, flags: i32, mode: u32) -> i64 {
    // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_openat, dirfd, path.as_ptr(), flags, mode) };
    if r < 0 { -i64::from(last_errno()) } else { r }
}

fn close(fd: i64) {
    if fd >= 0 {
        // SAFETY: closing an fd this test opened.
        unsafe { libc::close(fd as i32) };
    }
}

#[test]
fn an_absolute_open_reports_the_file_its_fd_and_flags() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("open-abs");
    let file = dir.path().join("notes.txt");
    make_file(&file);
    let path = file.to_string_lossy().into_owned();
    let fd = sys_openat(
        libc::AT_FDCWD,
        &c(&path),
        libc::O_RDONLY | libc::O_CLOEXEC,
        0,
    );
    assert!(fd >= 0, "openat: {fd}");
    let ev = wait_open(&sensor, gettid(), &path);
    assert_field(&ev, "evt.type", "openat");
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.rawres", fd);
    assert_field(&ev, "fd.num", fd);
    assert_field(&ev, "fd.name", path.as_str());
    assert_field(&ev, "fd.directory", dir.path_str());
    assert_field(&ev, "fd.filename", "notes.txt");
    assert_field(&ev, "fd.typechar", "f");
    assert_field(&ev, "fd.type", "file");
    assert_field(&ev, "evt.arg.name", path.as_str());
    assert_field(&ev, "evt.arg.fd", format!("<f>{path}"));
    assert_field(&ev, "evt.arg.dirfd", "AT_FDCWD");
    assert_field(&ev, "evt.arg.flags", "O_RDONLY|O_CLOEXEC");
    assert_field(&ev, "evt.is_open_read", true);
    assert_field(&ev, "evt.is_open_write", false);
    assert_field(&ev, "evt.is_open_exec", false);
    assert_field(&ev, "proc.pid", my_pid());
    assert_field(&ev, "lanner.path_truncated", false);
    assert_field(&ev, "thread.cap_effective", cap_names(own_caps("CapEff")));
    close(fd);
    sensor.stop();
}

#[test]
fn a_relative_open_is_resolved_against_the_working_directory_at_the_call() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("open-cwd");
    let deep = dir.path().join("a/b");
    std::fs::create_dir_all(&deep).unwrap();
    make_file(dir.path().join("target"));
    let (deep_c, raw) = (c(&deep.to_string_lossy()), "..//./../target");
    let raw_c = c(raw);
    // chdir is process-wide: a child does it, the test's other threads keep their directory.
    let pid = fork_child(|| {
        // SAFETY: raw syscalls with NUL-terminated paths, async-signal-safe.
        unsafe {
            if libc::chdir(deep_c.as_ptr()) != 0 {
                return 1;
            }
            let fd = libc::syscall(libc::SYS_openat, libc::AT_FDCWD, raw_c.as_ptr(), 0, 0);
            if fd < 0 { 2 } else { 0 }
        }
    });
    assert_eq!(wait_status(pid), 0, "chdir + open in the child");
    let ev = wait_open(&sensor, i64::from(pid), raw);
    let target = format!("{}/target", dir.path_str());
    assert_field(&ev, "fd.name", target.as_str());
    assert_field(&ev, "fd.nameraw", ".././../target");
    assert_field(&ev, "evt.arg.name", target.as_str());
    assert_field(&ev, "fd.directory", dir.path_str());
    assert_field(&ev, "fd.filename", "target");
    assert_field(&ev, "lanner.path_truncated", false);
    sensor.stop();
}

#[test]
fn an_open_through_a_dirfd_is_resolved_against_that_directory() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("open-dirfd");
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    make_file(dir.path().join("sub/inner"));
    let dir_path = dir.path_str();
    let dirfd = sys_openat(
        libc::AT_FDCWD,
        &c(&dir_path),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    );
    assert!(dirfd >= 0, "open the directory: {dirfd}");
    let tid = gettid();
    // The directory itself: a directory fd (O_DIRECTORY), its own fd.directory.
    let d = wait_open(&sensor, tid, &dir_path);
    assert_field(&d, "fd.typechar", "d");
    assert_field(&d, "fd.type", "directory");
    assert_field(&d, "fd.directory", dir_path.as_str());
    assert_field(&d, "fd.filename", Value::Null);
    let raw = "sub/./inner";
    let fd = sys_openat(dirfd as i32, &c(raw), libc::O_RDONLY, 0);
    assert!(fd >= 0, "openat(dirfd): {fd}");
    let ev = wait_open(&sensor, tid, raw);
    let inner = format!("{dir_path}/sub/inner");
    assert_field(&ev, "fd.name", inner.as_str());
    assert_field(&ev, "evt.arg.name", inner.as_str());
    assert_field(&ev, "evt.rawarg.dirfd", dirfd);
    assert_field(&ev, "fd.num", fd);
    assert_field(&ev, "evt.arg.flags", "O_RDONLY");
    close(fd);
    close(dirfd);
    sensor.stop();
}

#[test]
fn a_failed_open_has_its_errno_and_name_but_no_fd() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("open-fail");
    let missing = format!("{}/missing", dir.path_str());
    assert_eq!(
        sys_openat(libc::AT_FDCWD, &c(&missing), libc::O_RDONLY, 0),
        -2
    );
    let ev = wait_open(&sensor, gettid(), &missing);
    assert_field(&ev, "evt.res", "ENOENT");
    assert_field(&ev, "evt.rawres", -2);
    assert_field(&ev, "evt.failed", true);
    assert_field(&ev, "fd.num", -1);
    assert_field(&ev, "fd.name", missing.as_str());
    assert_field(&ev, "fd.directory", dir.path_str());
    assert_field(&ev, "fd.typechar", "f");
    assert_field(&ev, "fd.type", Value::Null);
    assert_field(&ev, "fd.filename", Value::Null);
    assert_field(&ev, "evt.arg.fd", "ENOENT");

    // EACCES: a user other than root, without root's capabilities, on a root-only file.
    let secret = format!("{}/secret", dir.path_str());
    make_file(&secret);
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret_c = c(&secret);
    let pid = fork_child(|| {
        // SAFETY: raw syscalls, async-signal-safe.
        unsafe {
            if libc::setresuid(65534, 65534, 65534) != 0 {
                return 1;
            }
            let fd = libc::syscall(libc::SYS_openat, libc::AT_FDCWD, secret_c.as_ptr(), 0, 0);
            if fd < 0 && *libc::__errno_location() == libc::EACCES {
                0
            } else {
                2
            }
        }
    });
    assert_eq!(
        wait_status(pid),
        0,
        "the child's open must fail with EACCES"
    );
    let ev = wait_open(&sensor, i64::from(pid), &secret);
    assert_field(&ev, "evt.res", "EACCES");
    assert_field(&ev, "evt.rawres", -13);
    assert_field(&ev, "fd.num", -1);
    assert_field(&ev, "user.uid", 65534);
    assert_field(&ev, "thread.cap_effective", "");
    sensor.stop();
}

#[test]
fn creating_opens_render_flags_and_mode_as_falco_does() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("open-creat");
    let tid = gettid();
    // open(2) itself, creating an executable: open_write and open_exec.
    let exe = format!("{}/tool", dir.path_str());
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
    let fd = sys_open(&c(&exe), flags, 0o755);
    assert!(fd >= 0, "open: {fd}");
    let ev = wait_open(&sensor, tid, &exe);
    assert_field(&ev, "evt.type", "open");
    assert_field(&ev, "evt.arg.flags", "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC");
    assert_field(&ev, "evt.arg.mode", "0755");
    assert_field(&ev, "evt.rawarg.mode", 0o755);
    assert_field(&ev, "evt.is_open_write", true);
    assert_field(&ev, "evt.is_open_read", false);
    assert_field(&ev, "evt.is_open_exec", true);
    assert_field(&ev, "evt.arg.fd", format!("<f>{exe}"));
    close(fd);
    // creat(2): no flags parameter; its mode decides open_exec.
    let data = format!("{}/data", dir.path_str());
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::syscall(libc::SYS_creat, c(&data).as_ptr(), 0o640) };
    assert!(fd >= 0, "creat: errno {}", last_errno());
    let ev = wait_open(&sensor, tid, &data);
    assert_field(&ev, "evt.type", "creat");
    assert_field(&ev, "evt.arg.mode", "0640");
    assert_field(&ev, "evt.is_open_exec", false);
    assert!(!has_arg(&ev, "flags"), "creat has no flags: {ev:#}");
    close(fd);
    // openat2(2) with a resolve flag, O_RDWR: both read and write.
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: libc::O_RDWR as u64,
        mode: 0,
        resolve: 0x02, // RESOLVE_NO_MAGICLINKS
    };
    let data_c = c(&data);
    // SAFETY: a NUL-terminated path and an open_how of its first version's size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            data_c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    assert!(fd >= 0, "openat2: errno {}", last_errno());
    let ev = sensor.wait_for(
        |e| e["evt.type"] == "openat2" && e["thread.tid"] == tid && e["fd.name"] == data.as_str(),
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.arg.flags", "O_RDWR");
    assert_field(&ev, "evt.arg.resolve", "RESOLVE_NO_MAGICLINKS");
    assert_field(&ev, "evt.is_open_read", true);
    assert_field(&ev, "evt.is_open_write", true);
    close(fd);
    sensor.stop();
}

/// A path whose page is not in memory when the call is made cannot be read by a probe (it
/// cannot fault); the kernel faults it in when it copies the path, and the sensor reads it when
/// the call returns, saying so.
#[test]
fn a_path_not_in_memory_at_the_call_is_read_when_it_returns() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("open-late");
    let target = format!("{}/late-target", dir.path_str());
    make_file(&target);
    // The path lives in a file mapped fresh: nothing has touched its page yet.
    let holder = dir.path().join("path-page");
    let mut bytes = target.clone().into_bytes();
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
    // SAFETY: the mapping holds the NUL-terminated path.
    let fd = unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, page, 0, 0) };
    assert!(fd >= 0, "openat: errno {}", last_errno());
    let ev = wait_open(&sensor, gettid(), &target);
    assert_field(&ev, "fd.name", target.as_str());
    assert_field(&ev, "lanner.path_read_at_exit", true);
    // SAFETY: unmapping what was mapped above.
    unsafe { libc::munmap(page, 4096) };
    close(fd);
    // An ordinary path (written by the test, so in memory) is read at the call.
    let ordinary = format!("{}/ordinary", dir.path_str());
    make_file(&ordinary);
    let fd = sys_openat(libc::AT_FDCWD, &c(&ordinary), libc::O_RDONLY, 0);
    let again = wait_open(&sensor, gettid(), &ordinary);
    assert_field(&again, "lanner.path_read_at_exit", false);
    close(fd);
    sensor.stop();
}

/// A thread blocked inside open (a FIFO with no writer) holds its stashed record; the opens of
/// others are reported meanwhile, and its own when it returns.
#[test]
fn a_blocked_open_does_not_hold_up_the_opens_of_others() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("open-fifo");
    let fifo = format!("{}/fifo", dir.path_str());
    let fifo_c = c(&fifo);
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o600) }, 0);
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let tid = gettid();
        // Blocks until a writer opens the FIFO.
        let fd = sys_openat(libc::AT_FDCWD, &c(&reader_path), libc::O_RDONLY, 0);
        (tid, fd)
    });
    // Meanwhile, another open is reported.
    let other = format!("{}/other", dir.path_str());
    make_file(&other);
    let fd = sys_openat(libc::AT_FDCWD, &c(&other), libc::O_RDONLY, 0);
    wait_open(&sensor, gettid(), &other);
    close(fd);
    // Release the reader: its open returns and is reported with its fd.
    let writer = sys_openat(libc::AT_FDCWD, &fifo_c, libc::O_WRONLY, 0);
    assert!(writer >= 0, "open the FIFO for writing: {writer}");
    let (tid, fd) = reader.join().unwrap();
    assert!(fd >= 0, "the reader's open: {fd}");
    let ev = wait_open(&sensor, tid, &fifo);
    assert_field(&ev, "fd.num", fd);
    assert_field(&ev, "evt.is_open_read", true);
    close(fd);
    close(writer);
    sensor.stop();
}

/// A directory chain longer than any path a syscall takes, built one `mkdirat`/`openat` at a
/// time: a file opened through a dirfd at its bottom is named by the chain's root side and its
/// leaf around the marker, flagged and counted, never passed off as a whole path.
#[test]
fn a_directory_deeper_than_a_path_is_cut_and_flagged_never_guessed() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("open-deep");
    let name = c(&"d".repeat(200));
    let mut fd = sys_openat(
        libc::AT_FDCWD,
        &c(&dir.path_str()),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    );
    assert!(fd >= 0, "open the base: {fd}");
    // 25 levels of 201 bytes: past PATH_MAX (4096).
    for _ in 0..25 {
        // SAFETY: a valid fd and NUL-terminated name.
        assert_eq!(unsafe { libc::mkdirat(fd as i32, name.as_ptr(), 0o755) }, 0);
        let next = sys_openat(fd as i32, &name, libc::O_RDONLY | libc::O_DIRECTORY, 0);
        assert!(next >= 0, "openat a level: {next}");
        close(fd);
        fd = next;
    }
    let file = sys_openat(
        fd as i32,
        &c("payload"),
        libc::O_CREAT | libc::O_WRONLY,
        0o600,
    );
    assert!(file >= 0, "create the payload: {file}");
    let ev = wait_open(&sensor, gettid(), "payload");
    let name = field_str(&ev, "fd.name");
    assert!(
        name.starts_with(&format!("{}/", dir.path_str()))
            && name.contains("//…//")
            && name.ends_with("/payload"),
        "root side, marker, leaf: {name}"
    );
    assert_field(&ev, "lanner.path_truncated", true);
    assert_field(&ev, "fd.filename", "payload");
    close(file);
    close(fd);
    let stats = sensor.stop();
    assert!(stats.paths_truncated("file_path") >= 1, "{:?}", stats.raw);
}
