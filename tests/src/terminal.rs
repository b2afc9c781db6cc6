//! A process with a controlling terminal in a container, the way `kubectl exec -it` and
//! `docker exec -it` make one: `runc exec --tty`.
//!
//! Without `--detach`, runc allocates the container's pseudo-terminal itself (its slave side
//! becomes the exec'd process's controlling terminal, so `proc.tty` != 0 and the process's
//! parent is `runc`) and relays between it and runc's own stdio, which must be a terminal:
//! the test opens one with openpty(3) and gives runc its slave side. (`--console-socket`
//! would need `--detach`, after which the process may outlive runc and lose its parent.)

use crate::{RUNC_TIMEOUT, RuncContainer, RuncExec, last_errno, read_pid, wait_or_kill};
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Instant;

/// A new pseudo-terminal: (master, slave).
#[track_caller]
pub fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: out pointers are valid; name, termios and winsize may be NULL.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: errno {}", last_errno());
    // SAFETY: openpty returned two fresh descriptors that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// `runc exec --tty <runc_args> <argv>` with a terminal, waiting for it. `stdout` is what the
/// process wrote to its terminal (with the terminal's `\r\n` line ends); `stderr` is empty
/// (a terminal has one output stream).
#[track_caller]
pub fn exec_with_terminal(ctr: &RuncContainer, runc_args: &[&str], argv: &[&str]) -> RuncExec {
    let (master, slave) = open_pty();
    let args: Vec<&str> = ["--tty"].iter().chain(runc_args).copied().collect();
    let (mut cmd, pid_file) = ctr.exec_command(&args, argv);
    let stdio = |fd: &OwnedFd| File::from(fd.try_clone().expect("dup pty slave"));
    cmd.stdin(stdio(&slave))
        .stdout(stdio(&slave))
        .stderr(stdio(&slave));
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    // Only runc may hold the slave now: the master reads EIO once runc has exited.
    drop(cmd);
    drop(slave);
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut m = File::from(master);
        let mut buf = [0u8; 4096];
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let Some(status) = wait_or_kill(&mut child, Instant::now() + RUNC_TIMEOUT) else {
        panic!("runc exec --tty {argv:?} still running after {RUNC_TIMEOUT:?}");
    };
    let stdout = reader.join().unwrap();
    RuncExec {
        pid: read_pid(&pid_file),
        success: status.success(),
        stdout,
        stderr: String::new(),
    }
}
