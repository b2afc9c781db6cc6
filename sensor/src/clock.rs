//! Kernel timestamps (`CLOCK_BOOTTIME` ns) to wall-clock ns since the epoch.

/// Offset between the boot clock and the wall clock, sampled once at start-up (the boot clock
/// keeps counting across suspend, so the offset only moves when the wall clock is stepped).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    offset_ns: i128,
}

fn now_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl Clock {
    #[expect(
        clippy::new_without_default,
        reason = "a Clock reads the system clocks when made: not a default value"
    )]
    pub fn new() -> Self {
        let boot = now_ns(libc::CLOCK_BOOTTIME);
        let real = now_ns(libc::CLOCK_REALTIME);
        Self {
            offset_ns: real - boot,
        }
    }

    pub fn epoch_ns(&self, boot_ns: u64) -> u64 {
        u64::try_from(i128::from(boot_ns) + self.offset_ns).unwrap_or(0)
    }
}

impl Clock {
    /// The wall clock now, in ns since the epoch.
    pub fn now_epoch_ns(&self) -> u64 {
        u64::try_from(now_ns(libc::CLOCK_REALTIME)).unwrap_or(0)
    }
}

/// The boot clock now (the clock of the kernel's event timestamps).
pub fn boot_now_ns() -> u64 {
    u64::try_from(now_ns(libc::CLOCK_BOOTTIME)).unwrap_or(0)
}
