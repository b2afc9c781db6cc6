//! The monitors `cargo xtask bench` compares: how to start each one, know that it is
//! attached, and stop it again, leaving the machine as it was.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::audit;
use crate::util::{self, failure_line, output, wait_ready};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Monitor {
    Lanner,
    Auditd,
    Bpftrace,
    Execsnoop,
}

const BPFTRACE_READY: &str = "lanner-bench-ready";
const BPFTRACE_SCRIPT: &str = r#"BEGIN { printf("lanner-bench-ready\n"); }
tracepoint:syscalls:sys_enter_execve, tracepoint:syscalls:sys_enter_execveat,
tracepoint:syscalls:sys_enter_connect, tracepoint:syscalls:sys_enter_mount,
tracepoint:syscalls:sys_enter_umount
{ printf("%s %d %s\n", probe, pid, comm); }"#;

impl Monitor {
    pub const ALL: [Monitor; 4] = [
        Monitor::Lanner,
        Monitor::Auditd,
        Monitor::Bpftrace,
        Monitor::Execsnoop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Monitor::Lanner => "lanner",
            Monitor::Auditd => "auditd",
            Monitor::Bpftrace => "bpftrace",
            Monitor::Execsnoop => "execsnoop",
        }
    }

    /// The Debian package that brings this monitor (none for Lanner, which we build).
    pub fn package(self) -> Option<&'static str> {
        match self {
            Monitor::Lanner => None,
            Monitor::Auditd => Some("auditd"),
            Monitor::Bpftrace => Some("bpftrace"),
            Monitor::Execsnoop => Some("libbpf-tools"),
        }
    }

    /// Starts the monitor and returns once it is attached. `lanner` is the sensor binary;
    /// `scratch` an empty directory for this run's files.
    pub fn start(self, lanner: &Path, scratch: &Path) -> Result<Running> {
        std::fs::create_dir_all(scratch)?;
        let stderr = scratch.join(format!("{}.stderr", self.name()));
        let mut running = match self {
            Monitor::Lanner => start_lanner(lanner, scratch, &stderr)?,
            Monitor::Auditd => {
                let (mut c, before) = audit::prepare(scratch)?;
                let child = spawn(c.stdout(Stdio::null()), &stderr)?;
                let mut running = Running::new(self, child, &stderr);
                running.audit_before = Some(before);
                running
            }
            Monitor::Bpftrace => start_bpftrace(&stderr)?,
            Monitor::Execsnoop => start_execsnoop(&stderr)?,
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
    /// bpftrace: set by the stdout reader once the BEGIN probe printed.
    ready: Arc<AtomicBool>,
    /// bpftrace: the stdout reader; returns the events bpftrace said it lost.
    reader: Option<JoinHandle<u64>>,
    /// auditd: the kernel's audit state before we started.
    audit_before: Option<audit::Status>,
    stopped: bool,
}

/// What a monitor reported when it stopped.
#[derive(Default)]
pub struct Stopped {
    /// Lanner's `--stats-file` contents.
    pub lanner_stats: Option<Value>,
    /// Events the monitor said it lost (peers), if it reports that.
    pub lost: Option<u64>,
}

impl Running {
    fn new(monitor: Monitor, child: Child, stderr: &Path) -> Self {
        Running {
            monitor,
            child,
            stderr: stderr.to_owned(),
            files: None,
            ready: Arc::new(AtomicBool::new(false)),
            reader: None,
            audit_before: None,
            stopped: false,
        }
    }

    fn wait_attached(&mut self) -> Result<()> {
        let pid = self.child.id();
        match self.monitor {
            Monitor::Lanner => {
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
            Monitor::Bpftrace => {
                let ready = self.ready.clone();
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

    /// Stops the monitor and collects what it reported.
    pub fn stop(mut self) -> Result<Stopped> {
        self.stopped = true;
        let grace = Duration::from_secs(30);
        let mut stopped = Stopped::default();
        match self.monitor {
            Monitor::Lanner => {
                let status = util::stop(&mut self.child, libc::SIGINT, grace)?;
                if !status.success() {
                    let why = failure_line(&self.stderr).unwrap_or_default();
                    bail!("lanner exited with {status}: {why}");
                }
                let stats = &self.files.as_ref().expect("lanner files").1;
                let text = std::fs::read_to_string(stats)
                    .with_context(|| format!("no stats file {}", stats.display()))?;
                stopped.lanner_stats = Some(serde_json::from_str(&text).context("stats file")?);
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
            Monitor::Bpftrace => {
                util::stop(&mut self.child, libc::SIGINT, grace)?;
                if let Some(reader) = self.reader.take() {
                    stopped.lost = reader.join().ok();
                }
            }
            Monitor::Execsnoop => {
                util::stop(&mut self.child, libc::SIGINT, grace)?;
                stopped.lost = Some(lost_from_stderr(&self.stderr));
            }
        }
        Ok(stopped)
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

fn start_lanner(lanner: &Path, scratch: &Path, stderr: &Path) -> Result<Running> {
    if !lanner.is_file() {
        bail!("{} not found (did its build fail?)", lanner.display());
    }
    let ready = scratch.join("lanner.ready");
    let stats = scratch.join("lanner.stats.json");
    let child = spawn(
        util::cmd(lanner)
            .arg("--dump-events")
            .arg("--ready-file")
            .arg(&ready)
            .arg("--stats-file")
            .arg(&stats)
            .stdout(Stdio::null()),
        stderr,
    )?;
    let mut running = Running::new(Monitor::Lanner, child, stderr);
    running.files = Some((ready, stats));
    Ok(running)
}

fn start_bpftrace(stderr: &Path) -> Result<Running> {
    let mut child = spawn(
        util::cmd("bpftrace")
            .args(["-e", BPFTRACE_SCRIPT])
            .stdout(Stdio::piped()),
        stderr,
    )?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut running = Running::new(Monitor::Bpftrace, child, stderr);
    let ready = running.ready.clone();
    // Reads everything bpftrace prints (so it never blocks on a full pipe) and throws it
    // away; notes the BEGIN line (printed once every probe is attached) and "Lost N events".
    running.reader = Some(std::thread::spawn(move || {
        let mut lost = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == BPFTRACE_READY {
                ready.store(true, Ordering::SeqCst);
            } else if let Some(rest) = line.strip_prefix("Lost ") {
                lost += rest
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
            }
        }
        lost
    }));
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

fn start_execsnoop(stderr: &Path) -> Result<Running> {
    let path = execsnoop_path().context("no execsnoop in libbpf-tools")?;
    let child = spawn(util::cmd(path).stdout(Stdio::null()), stderr)?;
    Ok(Running::new(Monitor::Execsnoop, child, stderr))
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

/// Sums "lost N events ..." lines (libbpf-tools' perf buffer loss callback).
fn lost_from_stderr(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let l = l.to_ascii_lowercase();
            let rest = &l[l.find("lost ")? + 5..];
            rest.split(' ').next()?.parse::<u64>().ok()
        })
        .sum()
}
