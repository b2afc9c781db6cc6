//! What a run of `cargo xtask bench` costs, in time and in CPU: the workload's wall and CPU
//! time, the monitor's CPU time (every thread of its processes), and the whole machine's.
//!
//! Why CPU and not only wall time: on an idle 2-core machine the single-threaded workload has
//! one core and the monitor's user-space half runs on the other for free, so wall time shows
//! only the cost in the workload's own path (the kernel hooks). A node is rarely idle: there
//! the monitor's CPU time is taken from the workloads. BENCHMARKS.md's Method says more.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One run of the workload.
#[derive(Clone, Copy, Debug, Default)]
pub struct Run {
    /// Seconds from spawn to exit.
    pub wall: f64,
    /// User + system seconds of the workload and the children it waited for (`wait4`'s
    /// rusage). Kernel hooks (BPF programs, audit) run in the workload's context: they are
    /// in here.
    pub cpu: f64,
    /// Busy seconds of the whole machine (all CPUs) over the same span.
    pub machine: f64,
}

/// Runs `lanner-workload name iterations`.
pub fn run_workload(bin: &Path, name: &str, iterations: u64) -> Result<Run> {
    run_timed(bin, &[name, &iterations.to_string()]).with_context(|| format!("workload {name}"))
}

/// Runs `bin args…` to its end, with stdout to /dev/null; an error unless it exits 0.
fn run_timed(bin: &Path, args: &[&str]) -> Result<Run> {
    let busy = machine_busy();
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let pid = libc::pid_t::try_from(child.id()).context("pid")?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: our own child, not waited for yet; valid pointers to locals.
    let waited = loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break r;
        }
    };
    let wall = start.elapsed().as_secs_f64();
    let machine = machine_busy() - busy;
    if waited < 0 {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        // The child is reaped; its stderr pipe still holds what it wrote.
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        bail!("failed (wait status {status:#x}): {}", err.trim());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Run {
        wall,
        cpu: secs(usage.ru_utime) + secs(usage.ru_stime),
        machine,
    })
}

/// On-CPU seconds of every live thread of process `pid` (the first field of each thread's
/// `schedstat`: nanoseconds, unlike the clock ticks of `stat`). 0 if it is gone.
pub fn process_cpu(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .filter_map(|t| {
            let path = t.ok()?.path().join("schedstat");
            schedstat_ns(&std::fs::read_to_string(path).ok()?)
        })
        .sum::<u64>() as f64
        / 1e9
}

/// On-CPU seconds of one thread of this process (a copier thread of the harness).
pub fn own_thread_cpu(tid: libc::pid_t) -> f64 {
    let path = format!("/proc/self/task/{tid}/schedstat");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| schedstat_ns(&s))
        .unwrap_or(0) as f64
        / 1e9
}

fn schedstat_ns(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Busy seconds of all CPUs since boot: user, nice, system, irq and softirq of `/proc/stat`
/// (guest time is inside user; idle, iowait and steal are not busy).
pub fn machine_busy() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .map_or(0, |rest| {
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal …
            [0, 1, 2, 5, 6].iter().filter_map(|&i| f.get(i)).sum()
        });
    ticks as f64 / clock_ticks_per_sec()
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// How idle a monitor must be to count as drained: less than this CPU time per `POLL`.
const IDLE_CPU_PER_POLL: f64 = 0.002;
const POLL: Duration = Duration::from_millis(100);
/// Longest wait for a monitor to drain what the workload made.
pub const DRAIN_MAX: Duration = Duration::from_secs(20);

/// After the workload ended: waits until the monitor has worked off its backlog (its CPU
/// time grows by less than 2 ms in 100 ms, or `DRAIN_MAX` passed). Returns its CPU time then
/// and how long that took, or `None` for the time if it never went idle.
pub fn wait_drained(cpu: impl Fn() -> f64) -> (f64, Option<Duration>) {
    let start = Instant::now();
    let mut last = cpu();
    loop {
        std::thread::sleep(POLL);
        let now = cpu();
        if now - last < IDLE_CPU_PER_POLL {
            // The idle poll itself is not part of the drain.
            return (now, Some(start.elapsed().saturating_sub(POLL)));
        }
        if start.elapsed() >= DRAIN_MAX {
            return (now, None);
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_schedstat_and_machine_time() {
        assert_eq!(schedstat_ns("123456 789 10\n"), Some(123456));
        assert_eq!(schedstat_ns(""), None);
        // Real files of this machine: our own process has run, and so has the machine.
        assert!(process_cpu(std::process::id()) > 0.0);
        assert!(machine_busy() > 0.0);
    }

    #[test]
    fn a_run_reports_its_cpu_time_and_its_failure() {
        let sh = Path::new("/bin/sh");
        let busy = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done";
        let run = run_timed(sh, &["-c", busy]).expect("sh runs");
        assert!(run.cpu > 0.0 && run.wall > 0.0, "{run:?}");
        let failed = run_timed(sh, &["-c", "echo broken >&2; exit 3"]).unwrap_err();
        let text = format!("{failed:#}");
        assert!(text.contains("0x300") && text.contains("broken"), "{text}");
    }
}
