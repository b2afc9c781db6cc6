//! SIGHUP before the sensor can handle it.
//!
//! SIGHUP asks for a rules reload. Its default disposition ends the process, and the handler
//! exists only once the runtime runs (after the rules, the BTF and the probes: most of a second,
//! or many on a busy node): a SIGHUP sent in that window used to kill the sensor. So `main`
//! blocks it on its first line, every thread it starts inherits the mask, and once the handler
//! is installed the main thread (where the runtime's `block_on` runs the start-up) unblocks it.
//! A SIGHUP sent during start-up thus stays pending and causes one reload as soon as the
//! sensor runs (several coalesce into one); it never ends the process. The commands that exit
//! on their own (`-V`, `-L`, `--list`, `--replay`) keep it blocked and ignore it.

/// Block SIGHUP for this thread and every thread it starts afterwards.
pub fn block_hangup() {
    set_hangup_mask(libc::SIG_BLOCK);
}

/// Let this thread take SIGHUP again (a pending one is delivered now). Call it on the main
/// thread once the SIGHUP handler is installed.
pub fn unblock_hangup() {
    set_hangup_mask(libc::SIG_UNBLOCK);
}

fn set_hangup_mask(how: libc::c_int) {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; pthread_sigmask
    // only reads the set and changes this thread's mask.
    let rc = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(how, &set, std::ptr::null_mut())
    };
    if rc != 0 {
        log::warn!(
            "changing the SIGHUP mask failed: {}",
            std::io::Error::from_raw_os_error(rc)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hangup_blocked() -> bool {
        // SAFETY: as above; a null `set` only reads the current mask into `old`.
        unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut old);
            libc::sigismember(&old, libc::SIGHUP) == 1
        }
    }

    #[test]
    fn threads_started_while_blocked_inherit_the_mask() {
        // On a thread of its own: the test harness's threads must keep their mask.
        std::thread::spawn(|| {
            block_hangup();
            assert!(hangup_blocked());
            let child = std::thread::spawn(hangup_blocked).join().unwrap();
            assert!(child, "a thread started after the block inherits it");
            unblock_hangup();
            assert!(!hangup_blocked());
        })
        .join()
        .unwrap();
    }
}
