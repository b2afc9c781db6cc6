//! Integration-test harness for `lanner --dump-events` (contract: docs/events.md).
//!
//! [`Sensor::start`] runs the sensor binary (`$LANNER_BIN`, default
//! `<workspace>/target/release/lanner`), collects every JSON line it prints and waits for its
//! ready file. The sensor sees the whole host, including other tests running concurrently, so
//! every predicate a test passes must select its own events by pid/tid and/or a unique marker
//! ([`unique`]). The suite assumes it runs as root in the initial pid namespace.

use serde_json::Value;
use std::ffi::{CString, c_char};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default time a test waits for one event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time the sensor gets to create its ready file (override: `LANNER_READY_TIMEOUT_SECS`;
/// several sensors loading their programs at once on 2 cores can take a while).
pub fn ready_timeout() -> Duration {
    let secs = std::env::var("LANNER_READY_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(60))
}
/// Time the sensor gets to exit after SIGINT.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Event kinds of the counters object.
pub const KINDS: [&str; 5] = ["exec", "mount", "connect", "fork", "exit"];

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

// ---------------------------------------------------------------------------------------------
// Raw child processes
// ---------------------------------------------------------------------------------------------

/// A NULL-terminated `char *[]` built before fork (the child must not allocate).
pub struct CArgs {
    _owned: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CArgs {
    pub fn new<S: AsRef<str>>(args: &[S]) -> Self {
        let owned: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_ref()).unwrap())
            .collect();
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CArgs {
            _owned: owned,
            ptrs,
        }
    }
    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// Forks. The child points its stdout to /dev/null, runs `child` and `_exit`s with its
/// return value. The test process is multi-threaded: `child` must only make
/// async-signal-safe calls (raw syscalls; no allocation, no locks, no printing).
pub fn fork_child(child: impl FnOnce() -> i32) -> libc::pid_t {
    let devnull = fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    // SAFETY: fork has no preconditions; the child only runs async-signal-safe code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: errno {}", last_errno());
    if pid == 0 {
        // SAFETY: dup2/_exit are async-signal-safe.
        unsafe {
            libc::dup2(devnull.as_raw_fd(), 1);
            libc::_exit(child());
        }
    }
    pid
}

/// waitpid(pid) and return the raw wait status.
pub fn wait_status(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: plain syscall with a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return status;
        }
        assert!(
            r < 0 && last_errno() == libc::EINTR,
            "waitpid({pid}): errno {}",
            last_errno()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Event helpers
// ---------------------------------------------------------------------------------------------

/// True when `lanner.argv` contains `arg` as a whole element.
pub fn has_arg(ev: &Value, arg: &str) -> bool {
    ev["lanner.argv"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == arg))
}

pub fn is_type(ev: &Value, t: &str) -> bool {
    ev["evt.type"] == t
}

/// Asserts `ev[key] == expected`, printing the whole event on failure.
#[track_caller]
pub fn assert_field(ev: &Value, key: &str, expected: impl Into<Value>) {
    let expected = expected.into();
    assert!(
        ev[key] == expected,
        "field `{key}`: expected {expected}, got {}\nevent: {ev:#}",
        ev[key]
    );
}

#[track_caller]
pub fn field_i64(ev: &Value, key: &str) -> i64 {
    ev[key]
        .as_i64()
        .unwrap_or_else(|| panic!("`{key}` is not an integer\nevent: {ev:#}"))
}

#[track_caller]
pub fn field_str<'a>(ev: &'a Value, key: &str) -> &'a str {
    ev[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string\nevent: {ev:#}"))
}

#[rustfmt::skip]
const EXEC_KEYS: &[&str] = &[
    "proc.vpid", "proc.ppid", "proc.exe", "proc.exepath",
    "proc.cmdline", "proc.args", "proc.cwd", "proc.tty",
    "user.euid", "user.loginuid", "thread.cap_effective", "thread.cap_permitted",
    "proc.is_exe_upper_layer", "proc.is_exe_from_memfd", "evt.arg.filename", "lanner.argv",
    "lanner.args_truncated", "proc.env",
];
const CONNECT_KEYS: &[&str] = &[
    "fd.num",
    "fd.sockfamily",
    "fd.typechar",
    "fd.type",
    "fd.l4proto",
    "fd.name",
];
const CONNECT_IP_KEYS: &[&str] = &["fd.cip", "fd.cport", "fd.sip", "fd.sport"];

fn keys_of(evt_type: &str) -> Option<Vec<&'static str>> {
    let k: Vec<&str> = match evt_type {
        "execve" => EXEC_KEYS.to_vec(),
        "execveat" => [EXEC_KEYS, &["evt.arg.dirfd", "evt.arg.flags"]].concat(),
        "mount" => {
            vec![
                "evt.arg.dev",
                "evt.arg.dir",
                "evt.arg.type",
                "evt.arg.flags",
                "lanner.mount_flags",
            ]
        }
        "umount2" => vec!["evt.arg.name", "evt.arg.flags"],
        "fsopen" => vec!["evt.arg.fsname", "evt.arg.flags"],
        "fsmount" => vec!["evt.arg.fd", "evt.arg.flags", "evt.arg.attr_flags"],
        "move_mount" => vec![
            "evt.arg.from_dfd",
            "evt.arg.from_pathname",
            "evt.arg.to_dfd",
            "evt.arg.to_pathname",
            "evt.arg.flags",
        ],
        "open_tree" => vec!["evt.arg.dfd", "evt.arg.filename", "evt.arg.flags"],
        "connect" => CONNECT_KEYS.to_vec(),
        "clone" => vec!["lanner.child_pid", "lanner.child_tid", "lanner.is_thread"],
        "procexit" => vec!["evt.arg.status"],
        _ => return None,
    };
    Some(k)
}

/// Checks the parts of docs/events.md that hold for every event: common keys and their
/// types, and presence (possibly null, never omitted) of every key documented for its type.
#[track_caller]
pub fn assert_schema(ev: &Value) {
    let obj = ev
        .as_object()
        .unwrap_or_else(|| panic!("event is not an object: {ev}"));
    let is_int = |k: &str| ev[k].is_i64() || ev[k].is_u64();
    let missing = |k: &str| !obj.contains_key(k);
    for k in [
        "evt.time",
        "proc.pid",
        "thread.tid",
        "user.uid",
        "group.gid",
        "lanner.cgroup_id",
    ] {
        assert!(is_int(k), "`{k}` must be an integer\nevent: {ev:#}");
    }
    for k in ["evt.type", "proc.name"] {
        assert!(
            ev[k].as_str().is_some_and(|s| !s.is_empty()),
            "`{k}` must be a non-empty string\nevent: {ev:#}"
        );
    }
    for k in ["evt.res", "evt.rawres", "lanner.cgroup"] {
        assert!(!missing(k), "key `{k}` missing\nevent: {ev:#}");
    }
    assert!(
        ev["evt.res"].is_null() || ev["evt.res"].is_string(),
        "evt.res type\nevent: {ev:#}"
    );
    assert!(
        ev["evt.rawres"].is_null() || is_int("evt.rawres"),
        "evt.rawres type\nevent: {ev:#}"
    );
    assert!(
        ev["lanner.cgroup"] != "",
        "lanner.cgroup must be null, not \"\"\nevent: {ev:#}"
    );
    assert!(
        field_i64(ev, "evt.time") > 1_500_000_000_000_000_000,
        "evt.time is not ns since epoch\nevent: {ev:#}"
    );
    if let Some(raw) = ev["evt.rawres"].as_i64() {
        let res = field_str(ev, "evt.res");
        assert_eq!(
            res == "SUCCESS",
            raw >= 0,
            "evt.res/evt.rawres disagree\nevent: {ev:#}"
        );
    } else {
        assert!(
            ev["evt.res"].is_null(),
            "evt.res set without evt.rawres\nevent: {ev:#}"
        );
    }
    let t = field_str(ev, "evt.type");
    let keys = keys_of(t).unwrap_or_else(|| panic!("unknown evt.type `{t}`\nevent: {ev:#}"));
    for k in keys {
        assert!(
            !missing(k),
            "key `{k}` missing from a `{t}` event\nevent: {ev:#}"
        );
    }
    match t {
        "execve" | "execveat" => {
            for k in ["lanner.args_truncated", "proc.is_exe_from_memfd"] {
                assert!(ev[k].is_boolean(), "`{k}` must be a bool\nevent: {ev:#}");
            }
            let argv = &ev["lanner.argv"];
            assert!(
                argv.is_null()
                    || argv
                        .as_array()
                        .is_some_and(|a| a.iter().all(Value::is_string)),
                "lanner.argv must be an array of strings\nevent: {ev:#}"
            );
        }
        "connect" if ev["fd.sockfamily"] == "ip" => {
            for k in CONNECT_IP_KEYS {
                assert!(
                    !missing(k),
                    "key `{k}` missing from an IP connect event\nevent: {ev:#}"
                );
            }
        }
        "clone" | "procexit" => {
            assert!(
                ev["evt.rawres"].is_null(),
                "`{t}` has no return value\nevent: {ev:#}"
            );
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

/// The counters object of `--stats-file`.
#[derive(Debug, Clone)]
pub struct Stats {
    pub raw: Value,
}

impl Stats {
    /// Parses and checks the shape documented in docs/events.md.
    pub fn parse(text: &str) -> Result<Stats, String> {
        let raw: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let s = Stats { raw };
        let int = |v: &Value, what: String| {
            v.as_u64()
                .map(|_| ())
                .ok_or(format!("{what} is not an unsigned integer"))
        };
        for k in KINDS {
            int(&s.raw["events"][k], format!("events.{k}"))?;
            for r in ["ringbuf_full", "truncated", "read_failed"] {
                int(&s.raw["lost"][k][r], format!("lost.{k}.{r}"))?;
            }
        }
        int(
            &s.raw["user_lost"]["decode_error"],
            "user_lost.decode_error".into(),
        )?;
        Ok(s)
    }
    pub fn events(&self, kind: &str) -> u64 {
        self.raw["events"][kind].as_u64().unwrap()
    }
    pub fn lost(&self, kind: &str, reason: &str) -> u64 {
        self.raw["lost"][kind][reason].as_u64().unwrap()
    }
    pub fn user_lost(&self, reason: &str) -> u64 {
        self.raw["user_lost"][reason].as_u64().unwrap()
    }
    /// Events of `kind` that are gone: kernel-side reservation failures plus every user-side
    /// drop (user-side counters are not per kind, so they all count).
    pub fn gone(&self, kind: &str) -> u64 {
        self.lost(kind, "ringbuf_full") + self.user_lost("decode_error")
    }
}

// ---------------------------------------------------------------------------------------------
// The sensor process
// ---------------------------------------------------------------------------------------------

/// Path of the sensor binary under test.
pub fn lanner_bin() -> PathBuf {
    match std::env::var_os("LANNER_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/lanner"),
    }
}

type Shared<T> = Arc<Mutex<T>>;

pub struct Sensor {
    child: Option<Child>,
    pid: u32,
    dir: PathBuf,
    events: Shared<Vec<Value>>,
    bad_lines: Shared<Vec<String>>,
    stderr: Shared<String>,
    readers: Vec<JoinHandle<()>>,
}

impl Sensor {
    /// `lanner --dump-events --ready-file .. --stats-file ..`, waiting until it is ready.
    #[track_caller]
    pub fn start() -> Sensor {
        Sensor::start_with(&[])
    }

    /// Like [`Sensor::start`] with extra command-line arguments.
    #[track_caller]
    pub fn start_with(extra: &[&str]) -> Sensor {
        let bin = lanner_bin();
        assert!(
            bin.exists(),
            "sensor binary {} not found: build it (release) or set LANNER_BIN",
            bin.display()
        );
        let dir = std::env::temp_dir().join(unique("sensor"));
        fs::create_dir_all(&dir).unwrap();
        let ready = dir.join("ready");
        let mut child = Command::new(&bin)
            .arg("--dump-events")
            .arg("--ready-file")
            .arg(&ready)
            .arg("--stats-file")
            .arg(dir.join("stats.json"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let events: Shared<Vec<Value>> = Arc::default();
        let bad_lines: Shared<Vec<String>> = Arc::default();
        let stderr: Shared<String> = Arc::default();
        let out = child.stdout.take().unwrap();
        let (ev, bad) = (events.clone(), bad_lines.clone());
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::with_capacity(1 << 20, out).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.is_object() => ev.lock().unwrap().push(v),
                    _ => bad.lock().unwrap().push(line),
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let se = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = se.lock().unwrap();
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > 1 << 20 {
                    let cut = s.len() - (1 << 19);
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap();
                    s.drain(..cut);
                }
            }
        });
        let pid = child.id();
        let mut sensor = Sensor {
            child: Some(child),
            pid,
            dir,
            events,
            bad_lines,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
        };
        let ready_timeout = ready_timeout();
        let deadline = Instant::now() + ready_timeout;
        while !ready.exists() {
            if let Some(status) = sensor.child.as_mut().unwrap().try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200));
                sensor.fail(&format!(
                    "sensor exited ({status}) before creating its ready file"
                ));
            }
            if Instant::now() > deadline {
                sensor.fail(&format!("sensor not ready after {ready_timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        sensor
    }

    pub fn pid(&self) -> i64 {
        i64::from(self.pid)
    }

    /// Waits until an event matches `pred`, checks it with [`assert_schema`] and returns it;
    /// panics (with the sensor's stderr and a dump of all events) on timeout.
    #[track_caller]
    pub fn wait_for(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        match self.try_wait_for(pred, timeout) {
            Some(ev) => {
                assert_schema(&ev);
                ev
            }
            None => self.fail(&format!("no matching event within {timeout:?}")),
        }
    }

    /// Like [`Sensor::wait_for`] but returns None on timeout (and checks nothing).
    pub fn try_wait_for(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        loop {
            {
                let evs = self.events.lock().unwrap();
                if let Some(ev) = evs[seen..].iter().find(|e| pred(e)) {
                    return Some(ev.clone());
                }
                seen = evs.len();
            }
            if Instant::now() > deadline || !self.alive() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Copies of the events received so far that match `pred`.
    pub fn events_where(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| pred(e))
            .cloned()
            .collect()
    }

    /// Number of events received so far that match `pred`.
    pub fn count_where(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| pred(e))
            .count()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn alive(&self) -> bool {
        match fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(s) => !s
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    /// Panics with `why`, the tail of the sensor's stderr, and the path of a dump of every
    /// event received (the sensor's temp dir is kept).
    #[track_caller]
    pub fn fail(&self, why: &str) -> ! {
        let dump = self.dir.join("events.jsonl");
        let n = {
            let evs = self.events.lock().unwrap();
            let mut text = String::new();
            for e in evs.iter() {
                text.push_str(&e.to_string());
                text.push('\n');
            }
            let _ = fs::write(&dump, text);
            evs.len()
        };
        let err = self.stderr();
        let tail = &err[err.len().saturating_sub(4000)..];
        let tail = tail.trim_start_matches(|c: char| !c.is_ascii());
        panic!(
            "{why}\nsensor pid {}; {n} events received (all in {}); {} non-JSON stdout lines\n--- sensor stderr (tail) ---\n{tail}\n---",
            self.pid,
            dump.display(),
            self.bad_lines.lock().unwrap().len()
        );
    }

    /// SIGINT, wait for exit (which must be a success), drain stdout, parse the stats file.
    /// The events stay available afterwards. Every stdout line must have been a JSON object.
    #[track_caller]
    pub fn stop(&mut self) -> Stats {
        let Some(mut child) = self.child.take() else {
            panic!("sensor already stopped")
        };
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(self.pid as i32, libc::SIGINT) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.fail(&format!(
                    "sensor did not exit within {STOP_TIMEOUT:?} of SIGINT"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        if !status.success() {
            self.fail(&format!("sensor exited with {status} after SIGINT"));
        }
        let bad = self.bad_lines.lock().unwrap().clone();
        if !bad.is_empty() {
            let first = bad.iter().take(3).cloned().collect::<Vec<_>>().join("\n");
            self.fail(&format!(
                "{} stdout lines are not JSON objects, e.g.:\n{first}",
                bad.len()
            ));
        }
        let path = self.dir.join("stats.json");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| self.fail(&format!("stats file {}: {e}", path.display())));
        Stats::parse(&text).unwrap_or_else(|e| self.fail(&format!("stats file: {e}\n{text}")))
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats_json() -> Value {
        let lost = json!({"ringbuf_full": 1, "truncated": 2, "read_failed": 0});
        json!({
            "events": {"exec": 5, "mount": 0, "connect": 0, "fork": 0, "exit": 0},
            "lost": {"exec": lost, "mount": lost, "connect": lost, "fork": lost, "exit": lost},
            "user_lost": {"decode_error": 3},
        })
    }

    #[test]
    fn stats_parse_checks_the_documented_shape() {
        let s = Stats::parse(&stats_json().to_string()).unwrap();
        assert_eq!(s.events("exec"), 5);
        assert_eq!(s.lost("exec", "truncated"), 2);
        assert_eq!(s.gone("exec"), 1 + 3);
        let mut bad = stats_json();
        bad["lost"]["fork"]
            .as_object_mut()
            .unwrap()
            .remove("read_failed");
        assert!(
            Stats::parse(&bad.to_string())
                .unwrap_err()
                .contains("lost.fork.read_failed")
        );
    }

    #[test]
    fn cap_names_are_in_bit_order() {
        assert_eq!(cap_names(0), "");
        assert_eq!(
            cap_names((1 << 21) | 1 | (1 << 40)),
            "CAP_CHOWN CAP_SYS_ADMIN CAP_CHECKPOINT_RESTORE"
        );
    }

    fn clone_event() -> Value {
        json!({"evt.type": "clone", "evt.time": 1_700_000_000_000_000_000i64, "evt.res": null,
               "evt.rawres": null, "proc.pid": 10, "thread.tid": 10, "proc.name": "x",
               "user.uid": 0, "group.gid": 0, "lanner.cgroup_id": 1, "lanner.cgroup": null,
               "lanner.child_pid": 11, "lanner.child_tid": 11, "lanner.is_thread": false})
    }

    #[test]
    fn schema_accepts_a_documented_event() {
        assert_schema(&clone_event());
    }

    #[test]
    #[should_panic(expected = "key `lanner.child_tid` missing")]
    fn schema_rejects_an_omitted_key() {
        let mut ev = clone_event();
        ev.as_object_mut().unwrap().remove("lanner.child_tid");
        assert_schema(&ev);
    }
}
