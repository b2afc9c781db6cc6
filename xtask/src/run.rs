//! `cargo xtask run [-- ARGS]`: build, then `lanner ARGS` in the foreground (default config:
//! the built-in ruleset, alerts as JSON lines on stdout).
//!
//! A Ctrl-C at the terminal reaches lanner directly (same process group); a SIGINT, SIGTERM
//! or SIGHUP sent to xtask alone (kill) is forwarded to lanner. Either way xtask waits for
//! lanner to exit and exits with its status.

use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result};

use crate::util;

static CHILD: AtomicI32 = AtomicI32::new(0);

pub fn run(args: &[String]) -> Result<()> {
    crate::build::run()?;
    let lanner = crate::build::release_bin("lanner");
    let mut c = util::cmd(&lanner);
    c.args(args);
    println!("xtask: {}", util::display(&c));
    let mut child = c
        .spawn()
        .with_context(|| format!("cannot start {}", lanner.display()))?;
    CHILD.store(i32::try_from(child.id())?, Ordering::SeqCst);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        install_forwarder(sig)?;
    }
    let status = child.wait()?;
    CHILD.store(0, Ordering::SeqCst);
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    std::process::exit(code);
}

extern "C" fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // A terminal's Ctrl-C comes from the kernel (si_code > 0) and hits lanner too: don't
    // double it. Signals sent with kill(2) (si_code <= 0) went to us only: pass them on.
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    let from_user = unsafe { (*info).si_code } <= 0;
    let pid = CHILD.load(Ordering::SeqCst);
    if from_user && pid > 0 {
        // SAFETY: kill is async-signal-safe; pid is our unreaped child.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

fn install_forwarder(sig: libc::c_int) -> Result<()> {
    // SAFETY: a zeroed sigaction is valid; the handler only does async-signal-safe work.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = forward;
        action.sa_sigaction = handler as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error()).context("sigaction");
        }
    }
    Ok(())
}
