//! Containers for tests: real cgroups named the way kubelet and the container runtimes name
//! them ([`CgroupJail`]), and a real OCI container run by runc ([`RuncContainer`]).
//!
//! Hierarchies: on a cgroup v2 host there is one (`cgroup2`). On a hybrid host (this project's
//! machines: v1 controllers under `/sys/fs/cgroup/<controller>`, an empty v2 hierarchy at
//! `/sys/fs/cgroup/unified`) a jail is made both in the v1 `memory` hierarchy, whose leaf the
//! sensor reports for tasks in the v2 root, and in the v2 one, as runc does. runc itself uses
//! every mounted hierarchy.
//!
//! Cleanup: tests run concurrently and share parents (`kubepods/...`). Every directory this
//! process creates, by hand or through runc, is recorded; on drop a guard removes its leaf and
//! then the recorded parents that have become empty, leaf to root, under one lock, so no
//! parent disappears under a concurrent test.

use crate::{CArgs, TempDir, fork_child, run_with_timeout, wait_status};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The user the runc container runs as: in its /etc/passwd, not on the host.
pub const CTR_UID: u32 = 4321;
pub const CTR_USER: &str = "lanner-ctr";
pub const CTR_GID: u32 = 4321;
pub const CTR_GROUP: &str = "lanner-grp";

/// 64 random lowercase hex digits: a container id.
pub fn random_id() -> String {
    hex(&random_bytes::<32>())
}

/// A random pod UID (RFC 4122 form, as kubelet uses).
pub fn random_pod_uid() -> String {
    let h = hex(&random_bytes::<16>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("read /dev/urandom");
    b
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One mounted cgroup hierarchy.
struct Hierarchy {
    mount: PathBuf,
    v2: bool,
    /// v1 controllers (mount options such as `memory`, `name=systemd`).
    controllers: Vec<String>,
}

/// Every cgroup hierarchy mounted here.
fn cgroup_mounts() -> Vec<Hierarchy> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mount = PathBuf::from(pre.split(' ').nth(4)?);
            let mut post = post.split(' ');
            let (fstype, opts) = (post.next()?, post.nth(1)?);
            let controllers = opts.split(',').map(str::to_string).collect();
            match fstype {
                "cgroup2" => Some(Hierarchy {
                    mount,
                    v2: true,
                    controllers: Vec::new(),
                }),
                "cgroup" => Some(Hierarchy {
                    mount,
                    v2: false,
                    controllers,
                }),
                _ => None,
            }
        })
        .collect()
}

/// Where a [`CgroupJail`] goes: the v1 `memory` hierarchy (v1 or hybrid host), then the v2 one.
pub fn jail_hierarchies() -> Vec<PathBuf> {
    let mounts = cgroup_mounts();
    let v1_memory = mounts
        .iter()
        .find(|h| !h.v2 && h.controllers.iter().any(|c| c == "memory"));
    let v2 = mounts.iter().find(|h| h.v2);
    v1_memory
        .into_iter()
        .chain(v2)
        .map(|h| h.mount.clone())
        .collect()
}

/// Mount point of the cgroup2 hierarchy, if any.
pub fn v2_hierarchy() -> Option<PathBuf> {
    cgroup_mounts().into_iter().find(|h| h.v2).map(|h| h.mount)
}

/// Directories under cgroup mounts created by this process and not yet removed.
static CREATED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn created() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    CREATED.lock().unwrap_or_else(|e| e.into_inner())
}

/// `rel` (`/a/b/leaf`) and its ancestors under `mount`, root first.
fn chain(mount: &Path, rel: &str) -> Vec<PathBuf> {
    let mut p = mount.to_path_buf();
    rel.split('/')
        .filter(|c| !c.is_empty())
        .map(|c| {
            p.push(c);
            p.clone()
        })
        .collect()
}

/// Removes the leaf of `rel` under each mount, then its parents this process created, stopping
/// at the first one still in use. Processes must have left the leaf; EBUSY is retried a while.
fn remove_recorded(mounts: &[PathBuf], rel: &str) {
    let mut set = created();
    for m in mounts {
        for dir in chain(m, rel).iter().rev() {
            if !set.contains(dir) {
                if dir.exists() {
                    break; // not ours: neither is anything above it
                }
                continue; // never made (a failed creation): look further up
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            let res = loop {
                match fs::remove_dir(dir) {
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    r => break r,
                }
            };
            match res {
                Ok(()) => {
                    set.remove(dir);
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    set.remove(dir);
                }
                Err(_) => break, // not empty: another guard's, it removes it later
            }
        }
    }
}

/// Kubelet-style parents of a [`CgroupJail`] (and of where runtimes put containers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupKind {
    /// kubelet's systemd driver (containerd `SystemdCgroup = true`, CRI-O's default):
    /// `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/<leaf>`.
    KubeletSystemd,
    /// kubelet's cgroupfs driver: `/kubepods/besteffort/pod<uid>/<leaf>`.
    KubeletCgroupfs,
    /// Docker's cgroupfs driver: `/docker/<leaf>`.
    Docker,
    /// Directly in the root: `/<leaf>`.
    Root,
}

impl CgroupKind {
    /// The parent path for a pod with `pod_uid` (no trailing slash; empty for the root).
    pub fn parent(self, pod_uid: &str) -> String {
        match self {
            CgroupKind::KubeletSystemd => {
                let uid = pod_uid.replace('-', "_");
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice"
                )
            }
            CgroupKind::KubeletCgroupfs => format!("/kubepods/besteffort/pod{pod_uid}"),
            CgroupKind::Docker => "/docker".to_string(),
            CgroupKind::Root => String::new(),
        }
    }
}

/// A fresh container id and a jail named like containerd's systemd scope for it.
pub fn containerd_jail() -> (String, CgroupJail) {
    let id = random_id();
    let jail = CgroupJail::new(
        &format!("cri-containerd-{id}.scope"),
        CgroupKind::KubeletSystemd,
    );
    (id, jail)
}

/// A cgroup named like a container's, in [`jail_hierarchies`], removed on drop.
pub struct CgroupJail {
    leaf: String,
    path: String,
    mounts: Vec<PathBuf>,
    procs: Vec<CString>,
}

impl CgroupJail {
    /// Creates `<kind's parents for a fresh pod>/<leaf>` in each hierarchy (the leaf must not
    /// exist yet).
    #[track_caller]
    pub fn new(leaf: &str, kind: CgroupKind) -> CgroupJail {
        assert!(
            !leaf.is_empty() && !leaf.contains('/'),
            "bad cgroup leaf {leaf:?}"
        );
        let path = format!("{}/{leaf}", kind.parent(&random_pod_uid()));
        let mounts = jail_hierarchies();
        assert!(!mounts.is_empty(), "no cgroup hierarchy mounted");
        let mut jail = CgroupJail {
            leaf: leaf.to_string(),
            path,
            mounts: Vec::new(),
            procs: Vec::new(),
        };
        let mut set = created();
        for m in &mounts {
            // Recorded before the next mount is tried, so Drop cleans up after a failure.
            jail.mounts.push(m.clone());
            let dirs = chain(m, &jail.path);
            for (i, dir) in dirs.iter().enumerate() {
                match fs::create_dir(dir) {
                    Ok(()) => {
                        set.insert(dir.clone());
                    }
                    Err(e) if e.kind() == ErrorKind::AlreadyExists && i + 1 < dirs.len() => {}
                    Err(e) => {
                        drop(set);
                        panic!("mkdir {}: {e}", dir.display())
                    }
                }
            }
            let procs = m
                .join(jail.path.trim_start_matches('/'))
                .join("cgroup.procs");
            jail.procs
                .push(CString::new(procs.to_string_lossy().into_owned()).unwrap());
        }
        drop(set);
        jail
    }

    pub fn leaf(&self) -> &str {
        &self.leaf
    }

    /// The path as `/proc/<pid>/cgroup` shows it in each hierarchy.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The directory in each hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.mounts
            .iter()
            .map(|m| m.join(self.path.trim_start_matches('/')))
            .collect()
    }

    /// The cgroup v2 id (inode of the v2 directory) that the sensor reports as
    /// `lanner.cgroup_id`, if there is a v2 hierarchy.
    pub fn v2_id(&self) -> Option<u64> {
        let v2 = v2_hierarchy()?;
        let dir = v2.join(self.path.trim_start_matches('/'));
        fs::metadata(dir).ok().map(|m| m.ino())
    }

    /// Forks a child that joins the jail in every hierarchy (writes `0`, itself, to each
    /// `cgroup.procs`) and execs `argv` (a path, no PATH search), stdout to /dev/null. Returns
    /// its pid once it is in the jail (or has exited); the caller must [`wait_status`] it.
    /// The child exits 125 if it could not join, 127 if exec failed.
    pub fn spawn(&self, argv: &[&str]) -> libc::pid_t {
        let pid = self.fork_join_exec(argv);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.pids().contains(&pid) && !exited(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        pid
    }

    fn fork_join_exec(&self, argv: &[&str]) -> libc::pid_t {
        let args = CArgs::new(argv);
        let exe = CString::new(argv[0]).unwrap();
        self.fork_in(|| {
            // SAFETY: valid NULL-terminated argv built before fork.
            unsafe { libc::execv(exe.as_ptr(), args.as_ptr()) };
            127
        })
    }

    /// Forks a child that joins the jail in every hierarchy and then runs `child`, exiting
    /// with its return value (125 if it could not join). For syscalls no busybox applet
    /// makes (the new mount API, exec from a memfd) made "in a container". `child` runs in a
    /// fork of a multi-threaded process: async-signal-safe code only, as in [`fork_child`].
    /// The caller must [`wait_status`] the returned pid.
    pub fn fork_in(&self, child: impl FnOnce() -> i32) -> libc::pid_t {
        let procs = &self.procs;
        fork_child(|| {
            for p in procs {
                // SAFETY: raw syscalls with valid C strings and buffers, in the forked child.
                unsafe {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return 125;
                    }
                    libc::close(fd);
                }
            }
            child()
        })
    }

    /// [`CgroupJail::spawn`] and wait: `(pid, raw wait status)`.
    pub fn run(&self, argv: &[&str]) -> (libc::pid_t, i32) {
        let pid = self.fork_join_exec(argv);
        (pid, wait_status(pid))
    }

    /// Pids currently in the jail (every hierarchy).
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs()
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|s| {
                s.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<_>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

/// True when `pid` is gone or a zombie.
fn exited(pid: libc::pid_t) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

impl Drop for CgroupJail {
    fn drop(&mut self) {
        // Whatever still runs inside is the test's: stop it so the directories can go.
        for pid in self.pids() {
            // SAFETY: plain syscall; the pid is in our jail.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        remove_recorded(&self.mounts, &self.path);
    }
}

/// Path of `runc`; panics with how to get it when it is not installed.
#[track_caller]
pub fn runc_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join("runc"))
        .find(|p| p.is_file());
    found.expect("runc not found: `apt-get install runc` (cargo xtask test installs it)")
}

/// What [`RuncContainer::exec`] saw.
#[derive(Debug)]
pub struct RuncExec {
    /// Host pid of the exec'd process (`runc exec --pid-file`).
    pub pid: i64,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Time a runc command gets.
pub const RUNC_TIMEOUT: Duration = Duration::from_secs(30);

/// An OCI container run by runc, with a busybox rootfs whose /etc/passwd and /etc/group hold a
/// user the host does not have ([`CTR_USER`] = [`CTR_UID`], [`CTR_GROUP`] = [`CTR_GID`]). Its
/// init (`busybox sleep 600`) runs as that user in the cgroupfs-driver kubelet path
/// `/kubepods/besteffort/pod<uid>/<id>`; [`RuncContainer::exec`] runs more in it. Private runc
/// state directory; `runc delete -f` and cgroup cleanup on drop.
pub struct RuncContainer {
    id: String,
    cgroup_path: String,
    state: PathBuf,
    mounts: Vec<PathBuf>,
    init_pid: i64,
    bundle: TempDir,
}

impl RuncContainer {
    #[track_caller]
    pub fn start() -> RuncContainer {
        let runc = runc_bin();
        let id = random_id();
        let bundle = TempDir::new("runc");
        let b = bundle.path().to_path_buf();
        let rootfs = b.join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        crate::copy_executable(crate::canonical("/bin/busybox"), rootfs.join("bin/busybox"));
        std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
        fs::write(
            rootfs.join("etc/passwd"),
            format!("root:x:0:0:root:/:/bin/sh\n{CTR_USER}:x:{CTR_UID}:{CTR_GID}::/tmp:/bin/sh\n"),
        )
        .unwrap();
        fs::write(
            rootfs.join("etc/group"),
            format!("root:x:0:\n{CTR_GROUP}:x:{CTR_GID}:\n"),
        )
        .unwrap();
        let out = run_with_timeout(
            Command::new(&runc).args(["spec", "--bundle"]).arg(&b),
            RUNC_TIMEOUT,
        );
        assert!(
            out.status.is_some_and(|s| s.success()),
            "runc spec: {out:?}"
        );
        let cgroup_path = format!(
            "{}/{id}",
            CgroupKind::KubeletCgroupfs.parent(&random_pod_uid())
        );
        let cfg_path = b.join("config.json");
        let mut cfg: Value = serde_json::from_slice(&fs::read(&cfg_path).unwrap()).unwrap();
        cfg["process"]["terminal"] = json!(false);
        cfg["process"]["args"] = json!(["/bin/busybox", "sleep", "600"]);
        cfg["process"]["user"] = json!({"uid": CTR_UID, "gid": CTR_GID});
        cfg["process"]["cwd"] = json!("/");
        cfg["root"]["readonly"] = json!(false);
        cfg["hostname"] = json!("lanner-ctr");
        cfg["linux"]["cgroupsPath"] = json!(cgroup_path);
        fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();

        let mounts: Vec<PathBuf> = cgroup_mounts().into_iter().map(|h| h.mount).collect();
        let mut ctr = RuncContainer {
            id,
            cgroup_path,
            state: b.join("state"),
            mounts,
            init_pid: 0,
            bundle,
        };
        // runc makes the cgroup and its parents: record which of them are new, under the
        // lock, so no concurrent cleanup removes a parent in between.
        let mut set = created();
        let before: Vec<PathBuf> = ctr
            .mounts
            .iter()
            .flat_map(|m| chain(m, &ctr.cgroup_path))
            .filter(|d| !d.exists())
            .collect();
        let log = |name: &str| fs::File::create(b.join(name)).unwrap();
        let status = Command::new(&runc)
            .arg("--root")
            .arg(&ctr.state)
            .args(["run", "--detach", "--bundle"])
            .arg(&b)
            .arg("--pid-file")
            .arg(b.join("init.pid"))
            .arg(&ctr.id)
            .stdin(Stdio::null())
            // The detached init keeps these: files, not pipes a reader would wait on.
            .stdout(log("init.out"))
            .stderr(log("init.err"))
            .status()
            .expect("spawn runc run");
        set.extend(before.into_iter().filter(|d| d.exists()));
        drop(set);
        let err = fs::read_to_string(b.join("init.err")).unwrap_or_default();
        assert!(status.success(), "runc run: {status}\n{err}");
        ctr.init_pid = read_pid(&b.join("init.pid"));
        ctr
    }

    /// The container id (64 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The 12-digit id events and alerts carry as `container.id`.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The cgroup path, the same in every hierarchy.
    pub fn cgroup_path(&self) -> &str {
        &self.cgroup_path
    }

    /// Host pid of the container's init.
    pub fn init_pid(&self) -> i64 {
        self.init_pid
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.path().join("rootfs")
    }

    /// `runc exec` of `argv` in the container as [`CTR_UID`]:[`CTR_GID`], waiting for it.
    #[track_caller]
    pub fn exec(&self, argv: &[&str]) -> RuncExec {
        self.exec_with(&["--user", &format!("{CTR_UID}:{CTR_GID}")], argv)
    }

    /// The `runc exec` command line for `argv` with the exec options `runc_args` (`--user`,
    /// `--cap`, `--tty`, ...), and the pid file it will write. For callers that need other
    /// stdio than [`RuncContainer::exec_with`]'s (a terminal).
    pub fn exec_command(&self, runc_args: &[&str], argv: &[&str]) -> (Command, PathBuf) {
        let pid_file = self.bundle.path().join(crate::unique("exec.pid"));
        let mut cmd = Command::new(runc_bin());
        cmd.arg("--root")
            .arg(&self.state)
            .arg("exec")
            .args(runc_args)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&self.id)
            .args(argv);
        (cmd, pid_file)
    }

    /// `runc exec` of `argv` with the exec options `runc_args` (e.g. `--user 0:0 --cap
    /// CAP_SYS_ADMIN`), waiting for it.
    #[track_caller]
    pub fn exec_with(&self, runc_args: &[&str], argv: &[&str]) -> RuncExec {
        let (mut cmd, pid_file) = self.exec_command(runc_args, argv);
        let out = run_with_timeout(&mut cmd, RUNC_TIMEOUT);
        assert!(
            out.status.is_some(),
            "runc exec {argv:?} timed out: {out:?}"
        );
        RuncExec {
            pid: read_pid(&pid_file),
            success: out.status.is_some_and(|s| s.success()),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }
}

/// The pid runc wrote to `path` (`--pid-file`).
#[track_caller]
pub fn read_pid(path: &Path) -> i64 {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("runc pid file {}: {e}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("runc pid file {}: {text:?}: {e}", path.display()))
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let out = run_with_timeout(
            Command::new(runc_bin())
                .arg("--root")
                .arg(&self.state)
                .args(["delete", "--force", &self.id]),
            RUNC_TIMEOUT,
        );
        if !out.status.is_some_and(|s| s.success()) {
            eprintln!("runc delete {}: {out:?}", self.id);
        }
        remove_recorded(&self.mounts, &self.cgroup_path);
    }
}
