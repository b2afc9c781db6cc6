//! Helpers shared by the subcommands: paths, child processes, signals, timing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of this crate).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
}

/// `$HOME/.cargo/bin`, where rustup, cargo and bpf-linker live.
pub fn cargo_bin_dir() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cargo/bin")
}

/// `$PATH` with `extra` in front (each only if not there already).
pub fn path_with(extra: &[PathBuf]) -> OsString {
    let current =
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&current).collect();
    for dir in extra.iter().rev() {
        if !dirs.contains(dir) {
            dirs.insert(0, dir.clone());
        }
    }
    // auditctl, mount, dpkg-query live in sbin: make sure a bare CI PATH finds them.
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from) {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    std::env::join_paths(dirs).expect("PATH entries contain no ':'")
}

/// A command run at the workspace root with `~/.cargo/bin` on its PATH (build.rs of the
/// sensor calls bpf-linker and rustup from there).
pub fn cmd(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.current_dir(root())
        .env("PATH", path_with(&[cargo_bin_dir()]));
    c
}

/// A `cargo` command (through the rustup proxy, so `+nightly` works).
pub fn cargo() -> Command {
    cmd("cargo")
}

/// Shows a command the way a shell would (for logs and error messages).
pub fn display(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for arg in c.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs `c` with inherited stdio; an error unless it exits 0.
pub fn run(c: &mut Command) -> Result<()> {
    let status = c
        .status()
        .with_context(|| format!("cannot start `{}`", display(c)))?;
    check_status(c, status)
}

fn check_status(c: &Command, status: ExitStatus) -> Result<()> {
    if !status.success() {
        bail!("`{}` failed ({status})", display(c));
    }
    Ok(())
}

/// Runs `c` and returns its stdout; `None` if it cannot start or exits non-zero.
pub fn output(c: &mut Command) -> Option<String> {
    let out = c.stderr(std::process::Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes a generated report to `name` (relative to the repository root) and says so, with the
/// time the command took (`tag` names the command).
pub fn write_report(tag: &str, name: impl AsRef<Path>, text: &str, started: Instant) -> Result<()> {
    let output = root().join(name);
    std::fs::write(&output, text).with_context(|| format!("write {}", output.display()))?;
    println!(
        "{tag}: wrote {} in {}",
        output.display(),
        secs(started.elapsed())
    );
    Ok(())
}

/// Seconds with one decimal, for step timings.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Sends `sig` to the child's pid (never to a group).
pub fn signal(child: &Child, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Signals the child with `sig`, waits up to `grace`, then SIGKILLs it.
pub fn stop(child: &mut Child, sig: libc::c_int, grace: Duration) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    signal(child, sig);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    let status = child.wait()?;
    bail!("did not exit within {grace:?} of signal {sig}; killed ({status})")
}

/// Polls `ready` every 20 ms until it returns true, the child exits, or `timeout` passes.
pub fn wait_ready(
    child: &mut Child,
    timeout: Duration,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("exited before {what} ({status})");
        }
        if Instant::now() >= deadline {
            bail!("no {what} after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A one-line reason from a failed program's stderr: its first line that mentions an
/// error (clap and anyhow put the headline first), else its last non-empty line.
pub fn failure_line(path: &Path) -> Option<String> {
    // bpftrace always complains that it cannot raise RLIMIT_MEMLOCK here (not needed since
    // kernel 5.11): never the reason.
    const HARMLESS: &[&str] = &["RLIMIT_MEMLOCK"];
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !HARMLESS.iter().any(|h| l.contains(h)));
    let line = lines
        .clone()
        .find(|l| l.to_ascii_lowercase().contains("error"))
        .or_else(|| lines.next_back())?;
    Some(line.chars().take(300).collect())
}
