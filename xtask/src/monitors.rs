//! The monitors `cargo xtask bench` compares: how to start each one, know that it is
//! attached, and stop it again, leaving the machine as it was.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench_alerts::{self, Alerts};
use crate::bench_cpu;
use crate::bench_log::LogCopier;
use crate::bench_sensor::rules_args;
use crate::util::{self, failure_line, output, wait_ready};
use crate::{audit, bench_pipeline};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Monitor {
    /// `lanner --dump-events`: every captured event as JSON, the default rules.
    LannerDump,
    /// The production configuration: the three official rules files, alerts only.
    LannerRules,
    Auditd,
    Bpftrace,
    Execsnoop,
    /// Empty programs on the entry and exit tracepoints of the syscalls the workloads make:
    /// what hooking them costs before a monitor does anything (bpftrace attaches them).
    Floor,
}

const BPFTRACE_READY: &str = "lanner-bench-ready";
/// What a bpftrace user watching the syscalls Lanner captures would run: one line per call,
/// with the path for the file syscalls (as opensnoop.bt does); dups only onto stdio (the
/// reverse shell: Falco's rule tests the result).
const BPFTRACE_SCRIPT: &str = r#"BEGIN { printf("lanner-bench-ready\n"); }
tracepoint:syscalls:sys_enter_execve, tracepoint:syscalls:sys_enter_execveat,
tracepoint:syscalls:sys_enter_connect, tracepoint:syscalls:sys_enter_mount,
tracepoint:syscalls:sys_enter_umount,
tracepoint:syscalls:sys_enter_accept, tracepoint:syscalls:sys_enter_accept4
{ printf("%s %d %s\n", probe, pid, comm); }
tracepoint:syscalls:sys_exit_dup, tracepoint:syscalls:sys_exit_dup2,
tracepoint:syscalls:sys_exit_dup3
/args->ret >= 0 && args->ret <= 2/
{ printf("%s %d %s %d\n", probe, pid, comm, args->ret); }
tracepoint:syscalls:sys_enter_open, tracepoint:syscalls:sys_enter_openat,
tracepoint:syscalls:sys_enter_openat2
{ printf("%s %d %s %s\n", probe, pid, comm, str(args->filename)); }
tracepoint:syscalls:sys_enter_creat, tracepoint:syscalls:sys_enter_unlink,
tracepoint:syscalls:sys_enter_unlinkat
{ printf("%s %d %s %s\n", probe, pid, comm, str(args->pathname)); }
tracepoint:syscalls:sys_enter_rename, tracepoint:syscalls:sys_enter_renameat,
tracepoint:syscalls:sys_enter_renameat2
{ printf("%s %d %s %s %s\n", probe, pid, comm, str(args->oldname), str(args->newname)); }"#;

/// The syscalls the floor hooks, at entry and at exit: those the workloads make that Lanner
/// captures (getpid's row shows what hooking any of them costs every other syscall).
pub const FLOOR_SYSCALLS: [&str; 16] = [
    "execve",
    "connect",
    "accept4",
    "mount",
    "umount",
    "open",
    "openat",
    "creat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat2",
    "dup2",
    "accept",
    "sendto",
    "recvfrom",
];

/// The floor's script: every probe of [`FLOOR_SYSCALLS`] with an empty body.
fn floor_script() -> String {
    let probes: Vec<String> = FLOOR_SYSCALLS
        .iter()
        .flat_map(|s| {
            [
                format!("tracepoint:syscalls:sys_enter_{s}"),
                format!("tracepoint:syscalls:sys_exit_{s}"),
            ]
        })
        .collect();
    format!(
        "BEGIN {{ printf(\"{BPFTRACE_READY}\\n\"); }}\n{} {{ }}",
        probes.join(",\n")
    )
}

impl Monitor {
    pub const ALL: [Monitor; 6] = [
        Monitor::LannerDump,
        Monitor::LannerRules,
        Monitor::Auditd,
        Monitor::Bpftrace,
        Monitor::Execsnoop,
        Monitor::Floor,
    ];

    /// The name `--monitors` takes.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::LannerDump => "lanner-dump",
            Monitor::LannerRules => "lanner-rules",
            Monitor::Auditd => "auditd",
            Monitor::Bpftrace => "bpftrace",
            Monitor::Execsnoop => "execsnoop",
            Monitor::Floor => "floor",
        }
    }

    /// The column title in BENCHMARKS.md.
    pub fn title(self) -> &'static str {
        match self {
            Monitor::LannerDump => "lanner --dump-events",
            Monitor::LannerRules => "lanner, official rules",
            Monitor::Floor => "floor (empty hooks)",
            m => m.name(),
        }
    }

    pub fn is_lanner(self) -> bool {
        matches!(self, Monitor::LannerDump | Monitor::LannerRules)
    }

    /// The Debian package that brings this monitor (none for Lanner, which we build).
    pub fn package(self) -> Option<&'static str> {
        match self {
            Monitor::LannerDump | Monitor::LannerRules => None,
            Monitor::Auditd => Some("auditd"),
            Monitor::Bpftrace | Monitor::Floor => Some("bpftrace"),
            Monitor::Execsnoop => Some("libbpf-tools"),
        }
    }

    /// Starts the monitor and returns once it is attached. `lanner` is the sensor binary;
    /// `scratch` an empty directory for this run's files.
    pub fn start(self, lanner: &Path, scratch: &Path) -> Result<Running> {
        std::fs::create_dir_all(scratch)?;
        let stderr = scratch.join(format!("{}.stderr", self.name()));
        let out = scratch.join(format!("{}.out", self.name()));
        let mut running = match self {
            Monitor::LannerDump | Monitor::LannerRules => {
                start_lanner(self, lanner, scratch, &stderr, &out)?
            }
            Monitor::Auditd => {
                let (mut c, before) = audit::prepare(scratch)?;
                let child = spawn(c.stdout(Stdio::null()), &stderr)?;
                let mut running = Running::new(self, child, &stderr);
                running.audit_before = Some(before);
                running.kauditd = kernel_thread("kauditd");
                running
            }
            Monitor::Bpftrace => {
                let mut c = util::cmd("bpftrace");
                c.args(["-e", BPFTRACE_SCRIPT]);
                Running::logged(self, &mut c, &stderr, &out, Some(BPFTRACE_READY))?
            }
            Monitor::Floor => {
                let mut c = util::cmd("bpftrace");
                c.args(["-e", &floor_script()]);
                Running::logged(self, &mut c, &stderr, &out, Some(BPFTRACE_READY))?
            }
            Monitor::Execsnoop => {
                let path = execsnoop_path().context("no execsnoop in libbpf-tools")?;
                Running::logged(self, &mut util::cmd(path), &stderr, &out, None)?
            }
        };
        let ready = running.wait_attached();
        if let Err(e) = ready {
            let why = failure_line(&stderr)
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            drop(running); // kills it and cleans up
            bail!("{e:#}{why}");
        }
        Ok(running)
    }
}

/// A started monitor. Dropping it without `stop` kills it (and removes audit rules).
pub struct Running {
    monitor: Monitor,
    child: Child,
    stderr: PathBuf,
    /// Lanner: the ready file, then the stats file.
    files: Option<(PathBuf, PathBuf)>,
    /// What reads the monitor's stdout into a file, when it writes to stdout.
    log: Option<LogCopier>,
    /// auditd: the kernel's audit state before we started.
    audit_before: Option<audit::Status>,
    /// auditd: the kernel thread that hands audit records to auditd (its CPU is auditd's).
    kauditd: Option<u32>,
    stopped: bool,
}

/// What a monitor reported when it stopped.
#[derive(Default)]
pub struct Stopped {
    /// Lanner's `--stats-file` contents.
    pub lanner_stats: Option<Value>,
    /// Events the monitor said it lost (peers), if it reports that.
    pub lost: Option<u64>,
    /// Lanner with the official rules: the alerts it wrote.
    pub alerts: Option<Alerts>,
}

impl Running {
    fn new(monitor: Monitor, child: Child, stderr: &Path) -> Self {
        Running {
            monitor,
            child,
            stderr: stderr.to_owned(),
            files: None,
            log: None,
            audit_before: None,
            kauditd: None,
            stopped: false,
        }
    }

    /// Spawns `c` with its stdout copied to `out` by a thread of ours (see `LogCopier`).
    fn logged(
        monitor: Monitor,
        c: &mut Command,
        stderr: &Path,
        out: &Path,
        marker: Option<&'static str>,
    ) -> Result<Running> {
        let mut child = spawn(c.stdout(Stdio::piped()), stderr)?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut running = Running::new(monitor, child, stderr);
        running.log = Some(LogCopier::spawn(stdout, out, marker)?);
        Ok(running)
    }

    fn wait_attached(&mut self) -> Result<()> {
        let pid = self.child.id();
        match self.monitor {
            Monitor::LannerDump | Monitor::LannerRules => {
                let ready = self.files.as_ref().expect("lanner files").0.clone();
                wait_ready(
                    &mut self.child,
                    Duration::from_secs(120),
                    "ready file",
                    || ready.exists(),
                )
            }
            Monitor::Auditd => {
                wait_ready(
                    &mut self.child,
                    Duration::from_secs(20),
                    "audit pid",
                    || audit::status().is_some_and(|s| s.pid == pid),
                )?;
                audit::add_rules()
            }
            Monitor::Bpftrace | Monitor::Floor => {
                let ready = self.log.as_ref().expect("bpftrace log").ready.clone();
                wait_ready(
                    &mut self.child,
                    Duration::from_secs(60),
                    "probes attached",
                    || ready.load(Ordering::SeqCst),
                )
            }
            // libbpf-tools execsnoop attaches two tracepoints (enter and exit of execve).
            Monitor::Execsnoop => wait_ready(
                &mut self.child,
                Duration::from_secs(30),
                "bpf links",
                || bpf_links(pid) >= 2,
            ),
        }
    }

    /// CPU seconds the monitor has used so far: its process, the thread that copies its
    /// output (in a deployment the container runtime's log shim does that), and for auditd
    /// the kernel's kauditd thread.
    pub fn cpu(&self) -> f64 {
        let own = bench_cpu::process_cpu(self.child.id());
        let log = self.log.as_ref().map_or(0.0, LogCopier::cpu);
        let kauditd = self.kauditd.map_or(0.0, bench_cpu::process_cpu);
        own + log + kauditd
    }

    /// Stops the monitor and collects what it reported.
    pub fn stop(mut self) -> Result<Stopped> {
        self.stopped = true;
        let grace = Duration::from_secs(30);
        let mut stopped = Stopped::default();
        match self.monitor {
            Monitor::LannerDump | Monitor::LannerRules => {
                let status = util::stop(&mut self.child, libc::SIGINT, grace)?;
                if !status.success() {
                    let why = failure_line(&self.stderr).unwrap_or_default();
                    bail!("lanner exited with {status}: {why}");
                }
                let stats = &self.files.as_ref().expect("lanner files").1;
                let text = std::fs::read_to_string(stats)
                    .with_context(|| format!("no stats file {}", stats.display()))?;
                stopped.lanner_stats = Some(serde_json::from_str(&text).context("stats file")?);
                let out = self.finish_log()?;
                if self.monitor == Monitor::LannerRules {
                    stopped.alerts = Some(bench_alerts::count(&out)?);
                }
            }
            Monitor::Auditd => {
                let removed = audit::remove_rules();
                let after = audit::status();
                let status = util::stop(&mut self.child, libc::SIGTERM, grace);
                if let Some(before) = &self.audit_before {
                    audit::restore(before);
                }
                removed?;
                status?;
                if let (Some(before), Some(after)) = (&self.audit_before, after) {
                    stopped.lost = Some(after.lost.saturating_sub(before.lost));
                }
            }
            Monitor::Bpftrace | Monitor::Floor => {
                util::stop(&mut self.child, libc::SIGINT, grace)?;
                let out = self.finish_log()?;
                stopped.lost = Some(lost_lines(&out, "Lost ")?);
            }
            Monitor::Execsnoop => {
                util::stop(&mut self.child, libc::SIGINT, grace)?;
                self.finish_log()?;
                stopped.lost = Some(lost_lines(&self.stderr, "lost ")?);
            }
        }
        Ok(stopped)
    }

    /// Waits for the copier to reach the end of the output; the file it wrote.
    fn finish_log(&mut self) -> Result<PathBuf> {
        let log = self.log.take().context("no output copier")?;
        let path = log.path.clone();
        log.finish()?;
        Ok(path)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        if self.monitor == Monitor::Auditd {
            let _ = audit::remove_rules();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(before) = &self.audit_before {
            audit::restore(before);
        }
    }
}

fn spawn(c: &mut Command, stderr: &Path) -> Result<Child> {
    c.stdin(Stdio::null())
        .stderr(File::create(stderr)?)
        .spawn()
        .with_context(|| format!("cannot start `{}`", util::display(c)))
}

/// The arguments of a Lanner column beside `--ready-file`/`--stats-file`: the production
/// configuration is the official rules files; the dump column runs the built-in rules.
pub fn lanner_args(monitor: Monitor) -> Result<Vec<std::ffi::OsString>> {
    Ok(match monitor {
        Monitor::LannerRules => rules_args(&bench_pipeline::official_rules()?),
        _ => vec!["--dump-events".into()],
    })
}

fn start_lanner(
    monitor: Monitor,
    lanner: &Path,
    scratch: &Path,
    stderr: &Path,
    out: &Path,
) -> Result<Running> {
    if !lanner.is_file() {
        bail!("{} not found (did its build fail?)", lanner.display());
    }
    let ready = scratch.join("lanner.ready");
    let stats = scratch.join("lanner.stats.json");
    let mut c = util::cmd(lanner);
    c.args(lanner_args(monitor)?)
        // The metrics endpoint stays on, as in production, on a port nothing else holds.
        .args(["-o", "exporter.listen_address=127.0.0.1:0", "--ready-file"])
        .arg(&ready)
        .arg("--stats-file")
        .arg(&stats);
    let mut running = Running::logged(monitor, &mut c, stderr, out, None)?;
    running.files = Some((ready, stats));
    Ok(running)
}

/// The execsnoop of libbpf-tools (`/usr/sbin/execsnoop` on Debian 12).
fn execsnoop_path() -> Option<PathBuf> {
    let listed = output(util::cmd("dpkg").args(["-L", "libbpf-tools"])).unwrap_or_default();
    let from_dpkg = listed
        .lines()
        .filter(|l| l.contains("/bin/") || l.contains("/sbin/"))
        .find(|l| l.ends_with("/execsnoop") || l.ends_with("/execsnoop-bpfcc"))
        .map(PathBuf::from);
    let fallback = ["/usr/sbin/execsnoop", "/usr/sbin/execsnoop-bpfcc"]
        .into_iter()
        .map(PathBuf::from);
    from_dpkg.into_iter().chain(fallback).find(|p| p.is_file())
}

/// The pid of the kernel thread named `comm` (kernel threads are children of kthreadd, 2).
fn kernel_thread(comm: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(") ")?;
        let ppid = rest.split(' ').nth(1)?;
        (name.ends_with(&format!("({comm}")) && ppid == "2").then_some(pid)
    })
}

/// The number of BPF links a process holds (an attached libbpf program holds one each).
fn bpf_links(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.as_os_str() == "anon_inode:bpf_link")
        .count()
}

/// Sums the N of "<prefix>N events" in a file (bpftrace's `Lost N events` lines on its
/// stdout, libbpf-tools' `lost N events` callback on stderr), case-insensitively.
fn lost_lines(path: &Path, prefix: &str) -> Result<u64> {
    use std::io::BufRead;
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let prefix = prefix.to_ascii_lowercase();
    let mut total = 0;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = String::from_utf8_lossy(&line?).to_ascii_lowercase();
        let Some(at) = line.find(&prefix) else {
            continue;
        };
        let n = line[at + prefix.len()..].split(' ').next();
        total += n.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lost_lines() {
        let dir = std::env::temp_dir().join(format!("xtask-lost.{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("out");
        let text = "tracepoint:x 1 a\nLost 12 events\nsomething else\nLost 3 events\n";
        std::fs::write(&file, text).unwrap();
        assert_eq!(lost_lines(&file, "Lost ").unwrap(), 15);
        std::fs::write(&file, "libbpf: lost 7 events on CPU #1\n").unwrap();
        assert_eq!(lost_lines(&file, "lost ").unwrap(), 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finds_kernel_threads() {
        // kthreadd's first children exist on every kernel: ksoftirqd/0 at least.
        assert!(kernel_thread("ksoftirqd/0").is_some());
        assert!(kernel_thread("no-such-thread").is_none());
    }
}
