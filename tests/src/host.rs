//! The test process and its host: identity, capabilities, tty, cgroups, temp dirs, unique
//! markers and the `require_root!` guard.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Prints a skip notice on the real stderr (not captured by the test runner).
pub fn skip(test: &str, why: &str) {
    let line = format!("SKIPPED {test}: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Returns from the calling test, with a visible notice, when not running as root.
#[macro_export]
macro_rules! require_root {
    () => {{
        fn __here() {}
        let name = ::std::any::type_name_of_val(&__here).trim_end_matches("::__here");
        if !$crate::is_root() {
            $crate::skip(name, "needs root (loads eBPF programs)");
            return;
        }
    }};
}

/// A string unique to this call: `lanner-<tag>-<pid>-<n>-<nanos>`.
pub fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "lanner-{tag}-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

pub fn my_pid() -> i64 {
    i64::from(std::process::id())
}

pub fn gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    i64::from(unsafe { libc::gettid() })
}

/// `std::fs::canonicalize` as a String (panics if the path does not exist).
pub fn canonical(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    fs::canonicalize(p)
        .unwrap_or_else(|e| panic!("canonicalize {}: {e}", p.display()))
        .to_string_lossy()
        .into_owned()
}

pub fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `comm` of the calling thread (what the kernel reports as `proc.name` for it).
pub fn thread_comm() -> String {
    fs::read_to_string("/proc/thread-self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

/// A directory under the temp dir, removed on drop; its path is canonical.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(unique(tag));
        fs::create_dir_all(&p).unwrap();
        TempDir {
            path: fs::canonicalize(&p).unwrap(),
        }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Expectations about the test process itself (children inherit them)
// ---------------------------------------------------------------------------------------------

/// Capability names in bit order (`CAP_CHOWN` = bit 0 ... `CAP_CHECKPOINT_RESTORE` = bit 40).
#[rustfmt::skip]
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
    "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Space-separated capability names of `mask`, in bit order.
pub fn cap_names(mask: u64) -> String {
    (0..CAP_NAMES.len())
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| CAP_NAMES[b])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A capability set of the calling thread: `field` is `CapEff`, `CapPrm`, `CapBnd`, ...
pub fn own_caps(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} not in /proc/thread-self/status"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

/// The effective (= permitted) set a root process gets after exec of a plain binary:
/// `pI | bounding set` (capabilities(7), "Capabilities and execution of programs by root").
pub fn root_exec_caps() -> u64 {
    own_caps("CapInh") | own_caps("CapBnd")
}

/// loginuid of this process as the contract reports it (-1 when unset).
pub fn own_loginuid() -> i64 {
    let v: u64 = fs::read_to_string("/proc/self/loginuid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if v == u64::from(u32::MAX) {
        -1
    } else {
        v as i64
    }
}

/// `tty_nr` of this process (/proc/self/stat field 7; 0 = no controlling terminal).
pub fn own_tty_nr() -> i64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    // fields after comm: state(3) ppid(4) pgrp(5) session(6) tty_nr(7)
    after_comm.split(' ').nth(4).unwrap().parse().unwrap()
}

/// (cgroup v2 id, cgroup v2 path) of this process, if a cgroup2 hierarchy is mounted.
/// The id of a cgroup v2 is the inode number of its directory.
pub fn own_cgroup_v2() -> Option<(u64, String)> {
    let cg = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cg.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mnt = mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split(' ').next()? == "cgroup2").then(|| pre.split(' ').nth(4).map(str::to_string))?
    })?;
    let ino = fs::metadata(format!("{mnt}{path}")).ok()?.ino();
    Some((ino, path))
}

/// Leaf of this process's cgroup in a v1 controller's hierarchy (hybrid hosts), if not root.
pub fn own_cgroup_v1_leaf(controller: &str) -> Option<String> {
    let cg = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cg.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        names
            .split(',')
            .any(|n| n == controller)
            .then(|| path.to_string())
    })?;
    path.rsplit('/')
        .next()
        .filter(|leaf| !leaf.is_empty())
        .map(str::to_string)
}

/// Copy an executable to `to` (mode 0755) for a test to exec. The copy is made by a `cp` child:
/// a write fd opened in this process could be inherited for an instant by another test
/// thread's fork, and an exec of the file in that instant fails with ETXTBSY.
pub fn copy_executable(from: impl AsRef<Path>, to: impl AsRef<Path>) {
    let (from, to) = (from.as_ref(), to.as_ref());
    let status = std::process::Command::new("cp")
        .arg(from)
        .arg(to)
        .status()
        .unwrap_or_else(|e| panic!("cp {} {}: {e}", from.display(), to.display()));
    assert!(status.success(), "cp {} {}", from.display(), to.display());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The directory of the shared test data `name` (`../shared/<name>`, data the repository does not
/// carry): `$<env_var>`, else `/work/shared/<name>`, else `<workspace>/../shared/<name>`, the first
/// that holds every one of `files`. Panics saying where it looked: a test must not pass
/// without its data.
pub fn shared_data_dir(env_var: &str, name: &str, files: &[&str]) -> std::path::PathBuf {
    use std::path::PathBuf;
    let candidates = std::env::var_os(env_var)
        .map(PathBuf::from)
        .into_iter()
        .chain([
            PathBuf::from("/work/shared").join(name),
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared")
                .join(name),
        ]);
    let mut tried = Vec::new();
    for dir in candidates {
        if files.iter().all(|f| dir.join(f).is_file()) {
            return dir;
        }
        tried.push(dir.display().to_string());
    }
    panic!(
        "{files:?} not found; looked in: {}. Set {env_var} to the directory holding them.",
        tried.join(", ")
    );
}

/// Repeats `attempt` until `named` holds of its result, at most 5 times, 300 ms apart; the
/// last result either way (the caller's assertions then say what was wrong). The sensor reads
/// user tables off the pipeline with a 100 ms deadline: on a loaded machine the first event
/// needing a root's tables may carry `<NA>` (counted as a timeout), and the late answer names
/// the next ones.
pub fn until_named<T>(mut attempt: impl FnMut() -> T, named: impl Fn(&T) -> bool) -> T {
    let mut tries = 0;
    loop {
        tries += 1;
        let got = attempt();
        if named(&got) || tries == 5 {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_names_are_in_bit_order() {
        assert_eq!(cap_names(0), "");
        assert_eq!(
            cap_names((1 << 21) | 1 | (1 << 40)),
            "CAP_CHOWN CAP_SYS_ADMIN CAP_CHECKPOINT_RESTORE"
        );
    }
}
