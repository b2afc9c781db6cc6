//! Typed domain events: what the rest of the agent works with. Made only by `reader::decode`.

use std::{net::IpAddr, sync::Arc};

use lanner_rules::EvtType;

mod privilege;

pub use privilege::{Caps, PrivCall, Privilege};

mod net_fd;

mod file_change;

pub use file_change::{ChangeOp, FileChange};

pub use self::net_fd::{Ends, FdInfo, NetCall, NetFd, SockInfo, TCP_ESTABLISHED, TCP_LISTEN};
pub use crate::fspath::FilePath;

/// Identity of the task that produced an event, common to every kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Kernel `comm` (at most 15 bytes). Shared: every event of the task names it.
    pub comm: std::sync::Arc<str>,
    pub cgroup_id: u64,
    /// Leaf name of the task's cgroup; `None` when the kernel could not read it. Shared:
    /// every event of the cgroup names it.
    pub cgroup: Option<std::sync::Arc<str>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `bpf_ktime_get_boot_ns` at the event; see `clock` for wall time.
    pub boot_ns: u64,
    pub task: Task,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Exec(Exec),
    Mount(Mount),
    Connect(Connect),
    /// socket, dup*, accept*, listen, send*/recv*.
    NetFd(NetFd),
    Fork(Fork),
    Exit(Exit),
    Privilege(Privilege),
    Open(Open),
    /// unlink*, rmdir, rename*, mkdir*, symlink*, link*, chmod, fchmod, fchmodat.
    FileChange(FileChange),
}

impl Body {
    /// The event type, as Falco's `evt.type` names it (what the rule index and the enricher's
    /// interest are keyed by).
    pub fn evt_type(&self) -> EvtType {
        match self {
            Body::Exec(e) => match e.syscall {
                ExecSyscall::Execve => EvtType::Execve,
                ExecSyscall::Execveat => EvtType::Execveat,
            },
            Body::Mount(m) => match m.op {
                MountOp::Mount => EvtType::Mount,
                MountOp::Umount2 => EvtType::Umount2,
                MountOp::Fsopen => EvtType::Fsopen,
                MountOp::Fsmount => EvtType::Fsmount,
                MountOp::MoveMount => EvtType::MoveMount,
                MountOp::OpenTree => EvtType::OpenTree,
            },
            Body::Connect(_) => EvtType::Connect,
            Body::NetFd(n) => n.call.evt_type(),
            Body::Fork(_) => EvtType::Clone,
            Body::Exit(_) => EvtType::Procexit,
            Body::Privilege(p) => match p.call {
                PrivCall::Ptrace { .. } => EvtType::Ptrace,
                PrivCall::Setuid { .. } => EvtType::Setuid,
                PrivCall::Setns { .. } => EvtType::Setns,
                PrivCall::Unshare { .. } => EvtType::Unshare,
                PrivCall::InitModule { .. } => EvtType::InitModule,
                PrivCall::FinitModule { .. } => EvtType::FinitModule,
                PrivCall::Bpf { .. } => EvtType::Bpf,
                PrivCall::Userfaultfd { .. } => EvtType::Userfaultfd,
            },
            Body::Open(o) => match o.syscall {
                OpenSyscall::Open => EvtType::Open,
                OpenSyscall::Openat => EvtType::Openat,
                OpenSyscall::Openat2 => EvtType::Openat2,
                OpenSyscall::Creat => EvtType::Creat,
            },
            Body::FileChange(c) => c.evt_type(),
        }
    }

    /// A user id one of the event's parameters names (setuid's `uid`), which its context
    /// names too (Falco renders such a parameter as the user's name).
    pub fn arg_uid(&self) -> Option<u32> {
        match self {
            Body::Privilege(p) => match p.call {
                PrivCall::Setuid { uid } => Some(uid),
                _ => None,
            },
            _ => None,
        }
    }

    /// The paths the record itself carries that the kernel cut.
    pub fn cut_paths(&self) -> CutPaths {
        match self {
            Body::Exec(e) => e
                .image
                .cut_paths()
                .with(EventPath::ExecFilename, e.filename.truncated),
            Body::Mount(m) => CutPaths::default()
                .with(EventPath::MountSource, m.source.truncated)
                .with(EventPath::MountTarget, m.target.truncated),
            Body::Connect(_)
            | Body::NetFd(_)
            | Body::Fork(_)
            | Body::Exit(_)
            | Body::Privilege(_) => CutPaths::default(),
            Body::Open(o) => CutPaths::default().with(EventPath::FilePath, o.path.cut),
            Body::FileChange(c) => CutPaths::default().with(EventPath::FilePath, c.cut()),
        }
    }

    /// The image a successful exec gives its process (the one its `proc.*` fields show).
    pub fn new_image(&self) -> Option<&Image> {
        match self {
            Body::Exec(e) if e.ret >= 0 => Some(&e.image),
            _ => None,
        }
    }

    /// `lanner.path_truncated`: a path the event shows was cut, one of its own or the
    /// process's executable or working directory. `process` is the process's image in the
    /// table, for events that do not carry a new one.
    pub fn path_truncated(&self, process: Option<&Image>) -> bool {
        self.cut_paths().any()
            || self
                .new_image()
                .or(process)
                .is_some_and(|i| i.cut_paths().any())
    }
}

/// A string captured by the kernel: its value when it could be read, and whether it was cut.
/// A cut path's value shows where with [`CUT`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text {
    pub value: Option<String>,
    pub truncated: bool,
}

/// Stands for what was left out of a path cut short, between `//` on each side that has text:
/// `/dev/shm/x//…//e/payload` (the middle of a path too long to keep whole: its root side and
/// its leaf side are kept), `…//e/payload` (the root side is unknown: the walk could not reach
/// it), `/very/long/na//…` (a path from user memory that did not fit: its start is kept). A
/// resolved path has no empty component, so `//` never occurs in one and the marker cannot be
/// taken for a directory named `…`; prefix tests (`startswith /dev/shm/`, `pmatch`) still see
/// the directory a cut path is under. `Text::truncated` (`lanner.path_truncated`) says it.
pub const CUT: &str = "…";

/// The paths an event carries, each of which the kernel may have cut: the per-path counters
/// and `lanner.path_truncated` are about these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventPath {
    /// `proc.exepath`.
    Exepath,
    /// `proc.cwd`.
    Cwd,
    /// The file an exec names, as passed (`evt.arg.filename`).
    ExecFilename,
    /// Mount source (`evt.arg.dev`, `from_pathname`, open_tree's `filename`).
    MountSource,
    /// Mount target (`evt.arg.dir`, umount's `name`, `to_pathname`).
    MountTarget,
    /// The path a file syscall names (`fd.name`, `evt.arg.name`; a file change's either path):
    /// the path as passed or the directory it is relative to.
    FilePath,
}

impl EventPath {
    pub const ALL: [EventPath; 6] = [
        EventPath::Exepath,
        EventPath::Cwd,
        EventPath::ExecFilename,
        EventPath::MountSource,
        EventPath::MountTarget,
        EventPath::FilePath,
    ];

    /// Its name in the counters.
    pub const fn name(self) -> &'static str {
        match self {
            EventPath::Exepath => "exepath",
            EventPath::Cwd => "cwd",
            EventPath::ExecFilename => "exec_filename",
            EventPath::MountSource => "mount_source",
            EventPath::MountTarget => "mount_target",
            EventPath::FilePath => "file_path",
        }
    }
}

/// Which of an event's paths were cut: one bit per [`EventPath`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutPaths(u8);

impl CutPaths {
    fn with(self, path: EventPath, cut: bool) -> Self {
        Self(self.0 | (u8::from(cut) << path as u8))
    }

    pub fn any(self) -> bool {
        self.0 != 0
    }

    pub fn iter(self) -> impl Iterator<Item = EventPath> {
        EventPath::ALL
            .into_iter()
            .filter(move |p| self.0 & (1 << *p as u8) != 0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecSyscall {
    Execve,
    Execveat,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Exec {
    pub syscall: ExecSyscall,
    pub ret: i64,
    pub ppid: u32,
    pub vpid: Option<u32>,
    /// Process group and session, when the kernel could read them.
    pub groups: Option<ProcessGroups>,
    pub euid: u32,
    /// `None` when the kernel has no audit login uid; `Some(u32::MAX)` when unset.
    pub loginuid: Option<u32>,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    /// Controlling tty device number, 0 = none; `None` when unreadable.
    pub tty: Option<u32>,
    pub upper_layer: Option<bool>,
    pub from_memfd: bool,
    /// The path as passed to the syscall.
    pub filename: Text,
    /// What it runs: the new comm, argv, the kernel-resolved path of the executable
    /// (successful execs only) and the working directory. The process table takes this very
    /// image when the exec succeeded.
    pub image: Arc<Image>,
    /// argv had no element at all (`image.exe` is then empty).
    pub argv_empty: bool,
    pub args_truncated: bool,
    pub env: Option<Vec<String>>,
    pub dirfd: i32,
    pub at_flags: u32,
}

/// What a process is running, as its last exec made it: made once when the exec is decoded,
/// then shared, never changed in place. The process table takes it as the process's image, a
/// fork shares its parent's, and every event's lineage snapshot holds a reference, so
/// snapshotting a process tree costs a reference count per ancestor, not copies of strings.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// Kernel `comm` (Falco's `proc.name`), shared with the decoder's interned task names.
    pub name: Arc<str>,
    /// argv[0] as passed.
    pub exe: String,
    pub exepath: Option<String>,
    /// argv[1..].
    pub args: Vec<String>,
    /// With a trailing `/`.
    pub cwd: Option<String>,
    /// Falco's `proc.cmdline`, made once here rather than per event and ancestor.
    pub cmdline: String,
    /// `exepath` and `cwd` were cut by the kernel (their values show [`CUT`]). Kept with the
    /// image, so the later events of the process, which show these paths from the table, are
    /// flagged as well.
    pub exepath_truncated: bool,
    pub cwd_truncated: bool,
}

impl Image {
    pub fn new(
        name: Arc<str>,
        exe: String,
        exepath: Option<String>,
        args: Vec<String>,
        cwd: Option<String>,
    ) -> Self {
        // Built in one buffer: `format!` over a `join` cost two allocations and the
        // formatting machinery on every exec.
        let len = name.len() + args.iter().map(|a| a.len() + 1).sum::<usize>();
        let mut cmdline = String::with_capacity(len);
        cmdline.push_str(&name);
        for a in &args {
            cmdline.push(' ');
            cmdline.push_str(a);
        }
        Self {
            name,
            exe,
            exepath,
            args,
            cwd,
            cmdline,
            exepath_truncated: false,
            cwd_truncated: false,
        }
    }

    /// Which of its paths were cut.
    pub fn cut_paths(&self) -> CutPaths {
        CutPaths::default()
            .with(EventPath::Exepath, self.exepath_truncated)
            .with(EventPath::Cwd, self.cwd_truncated)
    }

    /// An exec's image from argv as passed: argv[0] is `exe`, the rest the arguments.
    pub fn from_argv(
        name: Arc<str>,
        argv: Vec<String>,
        exepath: Option<String>,
        cwd: Option<String>,
    ) -> Self {
        let mut argv = argv.into_iter();
        let exe = argv.next().unwrap_or_default();
        Self::new(name, exe, exepath, argv.collect(), cwd)
    }

    /// argv[1..] joined by spaces (the tail of `cmdline`).
    pub fn args_line(&self) -> &str {
        if self.args.is_empty() {
            ""
        } else {
            // `cmdline` is `name`, a space, then this.
            self.cmdline.get(self.name.len() + 1..).unwrap_or_default()
        }
    }

    /// A process known only by its `comm` (a fork or event before any exec we saw).
    pub fn named(comm: impl Into<Arc<str>>) -> Arc<Self> {
        Arc::new(Self::new(
            comm.into(),
            String::new(),
            None,
            Vec::new(),
            None,
        ))
    }
}

#[cfg(test)]
impl Image {
    /// [`Image::from_argv`] from borrowed strings, shared.
    pub fn of(comm: &str, argv: &[&str], exepath: Option<&str>, cwd: Option<&str>) -> Arc<Self> {
        Arc::new(Self::from_argv(
            comm.into(),
            argv.iter().map(|a| a.to_string()).collect(),
            exepath.map(String::from),
            cwd.map(String::from),
        ))
    }
}

impl Exec {
    /// argv as passed: argv[0] then the arguments.
    pub fn argv(&self) -> Vec<&str> {
        if self.argv_empty {
            return Vec::new();
        }
        std::iter::once(self.image.exe.as_str())
            .chain(self.image.args.iter().map(String::as_str))
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessGroups {
    pub pgid: u32,
    pub sid: u32,
    /// The process group in the process's own pid namespace (0 when not visible there).
    pub vpgid: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountOp {
    Mount,
    Umount2,
    Fsopen,
    Fsmount,
    MoveMount,
    OpenTree,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub op: MountOp,
    pub ret: i64,
    pub flags: u64,
    pub flags2: u64,
    pub fd1: i32,
    pub fd2: i32,
    pub source: Text,
    pub target: Text,
    pub fstype: Text,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    Inet(IpAddr, u16),
    /// A unix socket path; abstract names start with `@`.
    Unix(String),
    /// Another family (its number), or an address too short for its family.
    Other(u16),
    /// The address could not be read.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    Tcp,
    Udp,
    Raw,
    Other,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Connect {
    pub ret: i64,
    pub fd: i32,
    pub peer: Peer,
    /// Local address and port once the kernel bound the socket.
    pub local: Option<(IpAddr, u16)>,
    /// `None` when the socket could not be read (bad fd, not a socket).
    pub l4: Option<L4>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenSyscall {
    Open,
    Openat,
    Openat2,
    Creat,
}

/// open, openat, openat2, creat.
#[derive(Clone, Debug, PartialEq)]
pub struct Open {
    pub syscall: OpenSyscall,
    /// The new fd, or `-errno`.
    pub ret: i64,
    pub path: FilePath,
    /// As passed; `AT_FDCWD` (-100) for open and creat.
    pub dirfd: i32,
    /// The kernel's `O_*` as passed; `None` for creat (it takes none) and for an openat2 whose
    /// `open_how` could not be read.
    pub flags: Option<u32>,
    /// As passed; `None` when unread (openat2).
    pub mode: Option<u32>,
    /// openat2's `RESOLVE_*`.
    pub resolve: Option<u32>,
    /// The flag classes the probe computed (`lanner_common::file::open::classes`): what
    /// `evt.is_open_*` say.
    pub classes: u32,
    /// `thread.cap_effective` at the call; `None` when unreadable.
    pub cap_effective: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fork {
    pub child_pid: u32,
    pub child_tid: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    pub exit_code: i32,
}

impl Event {
    pub fn kind(&self) -> lanner_common::EventKind {
        use lanner_common::EventKind as K;
        match self.body {
            Body::Exec(_) => K::Exec,
            Body::Mount(_) => K::Mount,
            Body::Connect(_) => K::Connect,
            Body::NetFd(_) => K::NetFd,
            Body::Fork(_) => K::Fork,
            Body::Exit(_) => K::Exit,
            Body::Privilege(_) => K::Privilege,
            Body::Open(_) => K::Open,
            Body::FileChange(_) => K::FileChange,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Image;

    #[test]
    fn cmdline_is_the_name_then_each_argument_after_a_space() {
        let i = Image::of("bash", &["/bin/bash", "-c", "", "id"], None, None);
        assert_eq!(i.cmdline, "bash -c  id");
        assert_eq!(i.args_line(), "-c  id");
        let bare = Image::of("sh", &["sh"], None, None);
        assert_eq!(bare.cmdline, "sh");
        assert_eq!(bare.args_line(), "");
        assert_eq!(Image::named("kworker").cmdline, "kworker");
    }
}
