//! The process's signals, handled so that none of them can kill or hang the sensor by accident.
//!
//! `main` blocks SIGHUP, SIGTERM and SIGINT on its first line; every thread started afterwards
//! inherits that mask.
//!
//! - **SIGHUP** asks for a rules reload. Its default action ends the process, and the reload
//!   handler exists only once the runtime runs (after the rules, the BTF and the probes: most of
//!   a second, many on a busy node): a SIGHUP in that window used to kill the sensor. Once the
//!   handler is installed, the main thread (where the runtime's `block_on` runs the start-up)
//!   unblocks it, so a SIGHUP sent during start-up stays pending and causes one reload as soon
//!   as the sensor runs (several coalesce into one). It never ends the process. The commands
//!   that exit on their own (`-V`, `-L`, `--list`, `--replay`) keep it blocked: ignored.
//! - **SIGTERM and SIGINT** are taken by a thread of their own with `sigwait`, not by the async
//!   runtime: a stop must be seen even when the runtime's workers are stuck (a stage blocked in
//!   a read). Before the sensor runs ([`StopSignals::arm`]), there is nothing to drain and the
//!   process ends at once, as the default action would. After, the first signal runs the
//!   armed action at once on that thread (the shutdown deadline, `shutdown.rs`) and then tells
//!   the runtime; a second one ends the process at once.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

type OnStop = Box<dyn FnOnce() + Send>;

/// The stop signals' thread, and what it does when one comes.
pub struct StopSignals {
    /// Shared with the thread (and kept here, so that `changed` never fails for want of a
    /// sender should the thread not start).
    requested: Arc<watch::Sender<bool>>,
    on_stop: Arc<Mutex<Option<OnStop>>>,
}

/// Block SIGHUP, SIGTERM and SIGINT for this thread and every thread it starts afterwards.
/// Call it first in `main`.
pub fn block_at_start() {
    set_mask(
        libc::SIG_BLOCK,
        &[libc::SIGHUP, libc::SIGTERM, libc::SIGINT],
    );
}

/// Let this thread take SIGHUP again (a pending one is delivered now). Call it on the main
/// thread once the SIGHUP handler is installed.
pub fn unblock_hangup() {
    set_mask(libc::SIG_UNBLOCK, &[libc::SIGHUP]);
}

impl StopSignals {
    /// Starts the thread that waits for SIGTERM and SIGINT (blocked by [`block_at_start`]).
    pub fn start() -> StopSignals {
        let requested = Arc::new(watch::Sender::new(false));
        let on_stop: Arc<Mutex<Option<OnStop>>> = Arc::default();
        let (tx, hook) = (requested.clone(), on_stop.clone());
        let spawned = std::thread::Builder::new()
            .name("stop-signals".into())
            .spawn(move || wait_for_stop(&tx, &hook));
        if let Err(e) = spawned {
            // Without the thread the signals stay blocked: unblock them so that they at least
            // end the process the default way.
            log::error!("cannot start the signal thread: {e}");
            set_mask(libc::SIG_UNBLOCK, &[libc::SIGTERM, libc::SIGINT]);
        }
        StopSignals { requested, on_stop }
    }

    /// From now on, a SIGTERM/SIGINT runs `on_stop` (at once, on the signal thread) and then
    /// resolves the returned receiver's `changed`.
    pub fn arm(&self, on_stop: impl FnOnce() + Send + 'static) -> watch::Receiver<bool> {
        // Subscribed first: a signal right after the hook is stored is then seen as a change.
        let requested = self.requested.subscribe();
        *lock(&self.on_stop) = Some(Box::new(on_stop));
        requested
    }
}

fn wait_for_stop(tx: &watch::Sender<bool>, on_stop: &Mutex<Option<OnStop>>) {
    let set = sigset(&[libc::SIGTERM, libc::SIGINT]);
    let mut received = 0;
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is an initialised signal set and `sig` a valid out pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            continue;
        }
        received += 1;
        let name = if sig == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        let armed = lock(on_stop).take();
        match (received, armed) {
            (1, Some(on_stop)) => {
                log::info!("{name}: stopping (draining what is captured, then the sinks)");
                on_stop();
                let _ = tx.send(true);
            }
            (1, None) => {
                eprintln!("lanner: {name} before the sensor runs: exiting");
                // SAFETY: _exit has no preconditions; nothing has been captured yet.
                unsafe { libc::_exit(128 + sig) }
            }
            _ => {
                eprintln!("lanner: second {name}: exiting now, without finishing the drain");
                // SAFETY: as above; the user asked twice.
                unsafe { libc::_exit(128 + sig) }
            }
        }
    }
}

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before any other use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

fn set_mask(how: libc::c_int, signals: &[libc::c_int]) {
    let set = sigset(signals);
    // SAFETY: pthread_sigmask only reads the set and changes this thread's mask.
    let rc = unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) };
    if rc != 0 {
        log::warn!(
            "changing the signal mask failed: {}",
            std::io::Error::from_raw_os_error(rc)
        );
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(sig: libc::c_int) -> bool {
        // SAFETY: a null `set` only reads the current mask into `old`.
        unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut old);
            libc::sigismember(&old, sig) == 1
        }
    }

    #[test]
    fn threads_started_after_the_block_inherit_it_and_hangup_comes_back() {
        // On a thread of its own: the test harness's threads must keep their mask.
        std::thread::spawn(|| {
            block_at_start();
            assert!(blocked(libc::SIGHUP) && blocked(libc::SIGTERM) && blocked(libc::SIGINT));
            let child = std::thread::spawn(|| blocked(libc::SIGHUP) && blocked(libc::SIGTERM));
            assert!(
                child.join().unwrap(),
                "a thread started after the block inherits it"
            );
            unblock_hangup();
            assert!(!blocked(libc::SIGHUP));
            assert!(blocked(libc::SIGTERM), "stops stay with the signal thread");
            set_mask(libc::SIG_UNBLOCK, &[libc::SIGTERM, libc::SIGINT]);
        })
        .join()
        .unwrap();
    }
}
