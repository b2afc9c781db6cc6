//! Child processes: fork without allocation in the child, exec argument vectors, waitpid,
//! running a command under a deadline or with input.

use crate::last_errno;
use std::ffi::{CString, c_char};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::io::AsRawFd;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A NULL-terminated `char *[]` built before fork (the child must not allocate).
pub struct CArgs {
    _owned: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CArgs {
    pub fn new<S: AsRef<str>>(args: &[S]) -> Self {
        let owned: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_ref()).unwrap())
            .collect();
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CArgs {
            _owned: owned,
            ptrs,
        }
    }
    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// Forks. The child points its stdout to /dev/null, runs `child` and `_exit`s with its
/// return value. The test process is multi-threaded: `child` must only make
/// async-signal-safe calls (raw syscalls; no allocation, no locks, no printing).
pub fn fork_child(child: impl FnOnce() -> i32) -> libc::pid_t {
    let devnull = fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    // SAFETY: fork has no preconditions; the child only runs async-signal-safe code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: errno {}", last_errno());
    if pid == 0 {
        // SAFETY: dup2/_exit are async-signal-safe.
        unsafe {
            libc::dup2(devnull.as_raw_fd(), 1);
            libc::_exit(child());
        }
    }
    pid
}

/// waitpid(pid) and return the raw wait status.
pub fn wait_status(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: plain syscall with a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return status;
        }
        assert!(
            r < 0 && last_errno() == libc::EINTR,
            "waitpid({pid}): errno {}",
            last_errno()
        );
    }
}

/// What [`run_with_timeout`] saw of a command.
#[derive(Debug)]
pub struct TimedOutput {
    /// None when the command was still running at the deadline (it was then killed).
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// Time from spawn to exit (or to the deadline).
    pub elapsed: Duration,
}

/// Runs `cmd` with stdin from /dev/null, capturing stdout and stderr; kills it (SIGKILL) if it
/// has not exited after `timeout`.
#[track_caller]
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> TimedOutput {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = wait_or_kill(&mut child, start + timeout);
    let elapsed = start.elapsed();
    TimedOutput {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed,
    }
}

/// Waits for `child` (polling every 20 ms) until `deadline`; past it, kills (SIGKILL) and reaps
/// it and returns `None`.
#[track_caller]
pub fn wait_or_kill(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` with `stdin` as its input (`None`: /dev/null), capturing stdout and stderr; the
/// error is the spawn's (or the wait's).
pub fn output_with_input(cmd: &mut Command, stdin: Option<&str>) -> io::Result<Output> {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Written from another thread: the command may answer before it has read everything.
    let (pipe, text) = (child.stdin.take(), stdin.unwrap_or_default().to_owned());
    let writer = std::thread::spawn(move || pipe.map(|mut p| p.write_all(text.as_bytes())));
    let out = child.wait_with_output();
    let _ = writer.join();
    out
}

/// Runs `/bin/busybox echo <unique marker>` on the host, waits for it, and returns its pid and
/// the marker (to find its exec event among the host's).
pub fn echo_on_host(tag: &str) -> (i64, String) {
    let marker = crate::unique(tag);
    let mut child = std::process::Command::new("/bin/busybox")
        .args(["echo", &marker])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = i64::from(child.id());
    assert!(child.wait().unwrap().success());
    (pid, marker)
}

/// A read-only descriptor of a memfd named `name` holding a copy of busybox: exec'ing it is a
/// fileless exec. Read-only, because exec through a writable descriptor can fail with ETXTBSY.
pub fn busybox_memfd(name: &str) -> fs::File {
    let cname = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid C string.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: errno {}", last_errno());
    // SAFETY: fd is a fresh memfd that nothing else owns.
    let mut mem = unsafe { <fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    std::io::copy(&mut fs::File::open("/bin/busybox").unwrap(), &mut mem).unwrap();
    fs::File::open(format!("/proc/self/fd/{fd}")).unwrap()
}

/// For a forked child: `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`. Returns 127 (the exit
/// status to use) only if the exec failed. Async-signal-safe: one raw syscall.
pub fn execveat_fd(fd: std::os::fd::RawFd, argv: &CArgs, envp: &CArgs) -> i32 {
    const EMPTY: &std::ffi::CStr = c"";
    // SAFETY: raw syscall with valid, NUL-terminated pointers.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            EMPTY.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    127
}
