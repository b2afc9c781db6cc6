//! Wire types shared by the kernel programs (`sensor-ebpf`) and the agent (`lanner`).
//!
//! Every record the kernel writes to the ring buffer starts with a [`Header`]. Records have a
//! fixed layout per [`EventKind`]: strings live in fixed-size arrays with an explicit length,
//! so the decoder never trusts a NUL and the verifier only sees constant offsets (path buffers
//! are the one exception: components are appended at masked offsets, see [`PathField`]).
//! All structs are `#[repr(C)]`, `Copy`, padding is explicit and sizes are asserted at compile
//! time, so the two sides cannot disagree silently.
#![no_std]

pub mod evttype;
pub mod file;
pub mod file_change;
pub mod hooks;
pub mod net_fd;
pub mod prefilter;
pub mod privilege;

pub use privilege::{
    PRIV_HEAD_SIZE, PRIV_RECORD_SIZE, PRIV_TEXT_LEN, PrivHead, PrivOp, PrivRecord, priv_flags,
};

pub use net_fd::{
    FdFacts, NET_DATA_LEN, NET_FD_HEAD_SIZE, NET_FD_RECORD_SIZE, NetFdHead, NetFdRecord, NetOp,
    fd_flags, fd_kind,
};

/// The kind of a record, first field of every [`Header`]. Stable numbers: never reuse one.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Exec = 1,
    Mount = 2,
    Connect = 3,
    Fork = 4,
    Exit = 5,
    /// ptrace, setuid, setns, unshare, init_module, finit_module, bpf, userfaultfd.
    Privilege = 6,
    /// The network family other than connect (`net_fd`): socket, dup*, accept*, listen,
    /// send*/recv*.
    NetFd = 7,
    /// open, openat, openat2, creat ([`file::OpenRecord`]).
    Open = 8,
    /// unlink*, rmdir, rename*, mkdir*, symlink*, link*, chmod, fchmod, fchmodat
    /// ([`file_change::ChangeRecord`]).
    FileChange = 9,
}

/// Number of event kinds, for per-kind counter arrays (index = kind as usize - 1).
pub const KIND_COUNT: usize = 9;

impl EventKind {
    pub const ALL: [EventKind; KIND_COUNT] = [
        EventKind::Exec,
        EventKind::Mount,
        EventKind::Connect,
        EventKind::Fork,
        EventKind::Exit,
        EventKind::Privilege,
        EventKind::NetFd,
        EventKind::Open,
        EventKind::FileChange,
    ];

    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u32 == v)
    }

    pub const fn index(self) -> usize {
        self as usize - 1
    }

    pub const fn name(self) -> &'static str {
        match self {
            EventKind::Exec => "exec",
            EventKind::Mount => "mount",
            EventKind::Connect => "connect",
            EventKind::Fork => "fork",
            EventKind::Exit => "exit",
            EventKind::Privilege => "privilege",
            EventKind::NetFd => "net_fd",
            EventKind::Open => "open",
            EventKind::FileChange => "file_change",
        }
    }
}

/// Why a record (or a part of one) was lost. Index into the per-CPU `LOSSES` map:
/// `kind.index() * LOSS_REASONS + reason`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// `bpf_ringbuf_output` failed: the whole record is gone.
    RingbufFull = 0,
    /// A string did not fit its buffer; the record was sent with the field flagged truncated.
    Truncated = 1,
    /// A kernel/user read failed; the record was sent with the field flagged unreadable.
    ReadFailed = 2,
    /// The program failed before it could send (unreadable tracepoint arguments, a stash
    /// insert that failed): the record is gone.
    Dropped = 3,
}

pub const LOSS_REASONS: usize = 4;
pub const LOSS_SLOTS: u32 = (KIND_COUNT * LOSS_REASONS) as u32;

impl LossReason {
    pub const ALL: [LossReason; LOSS_REASONS] = [
        LossReason::RingbufFull,
        LossReason::Truncated,
        LossReason::ReadFailed,
        LossReason::Dropped,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            LossReason::RingbufFull => "ringbuf_full",
            LossReason::Truncated => "truncated",
            LossReason::ReadFailed => "read_failed",
            LossReason::Dropped => "dropped",
        }
    }

    pub const fn slot(self, kind: EventKind) -> u32 {
        (kind.index() * LOSS_REASONS) as u32 + self as u32
    }
}

/// Names of the maps, shared so the loader cannot misspell them.
pub const MAP_EVENTS: &str = "EVENTS";
pub const MAP_LOSSES: &str = "LOSSES";

/// Bits of [`StrField::flags`] and [`PathField::flags`].
pub mod field_flags {
    /// The source was longer than the buffer. A string keeps its start; a walked path keeps its
    /// leaf side and, in its head ring, its root side (see [`PathField`](super::PathField)).
    pub const TRUNCATED: u16 = 1;
    /// Reading the source failed (or the pointer was null where a value was expected). For a
    /// walked path: the walk stopped there, what was read of the leaf side is kept.
    pub const READ_FAILED: u16 = 2;
    /// Path walk ended on a dentry that is its own parent but not a mount root: a pseudo file
    /// (memfd, anonymous inode) or an unlinked, disconnected one.
    pub const DISCONNECTED: u16 = 4;
    /// Path walk stopped at the step limit ([`PATH_DEPTH`](super::PATH_DEPTH)) before reaching
    /// the root: the root side is unknown, what was read of the leaf side is kept.
    pub const DEPTH_LIMIT: u16 = 8;
    /// The field was not captured at all (feature off, or not applicable).
    pub const ABSENT: u16 = 16;
}

/// Length and flags of one string field; the bytes live in a sibling array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct StrField {
    /// Bytes used in the buffer.
    pub len: u16,
    pub flags: u16,
}

/// One path resolved by the kernel's walk (`struct path` to its components), whose bytes live
/// in a sibling `[u8; PATH_ARRAY]`.
///
/// The walk goes leaf to root and writes each component, NUL terminated, at the start of the
/// buffer. A path that fits ([`PATH_BUF`] bytes: any path `d_path` could return) is all there,
/// `len` bytes. One that does not (built one relative `mkdir`/`chdir` at a time, it can be any
/// length) is `TRUNCATED`: its leaf side is the whole components in the first `len` (at most
/// [`PATH_TAIL`]) bytes, and the walk goes on to the root writing the rest into the head ring
/// at [`PATH_HEAD_AT`], starting over at its beginning each time it is full, so the ring ends up
/// holding the top-most components: the directory the path is under, which is what rules on
/// paths test. What lies between the two was left out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PathField {
    /// Bytes at the start of the buffer: the whole path, or the leaf side of a cut one.
    pub len: u16,
    pub flags: u16,
    /// `TRUNCATED` only: end of the newest run in the head ring (its last component is the
    /// top-most one).
    pub head_len: u16,
    /// `TRUNCATED` only: end of the run before it when the ring started over, else 0. That
    /// run's first component may be partly overwritten by the newest run's last.
    pub head_wrap: u16,
}

/// Common start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub kind: u32,
    /// Syscall-level variant within the kind (see [`ExecVariant`], [`MountOp`]).
    pub variant: u32,
    /// `bpf_ktime_get_boot_ns` at the event.
    pub ktime_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub cgroup_id: u64,
    pub comm: [u8; 16],
    /// Leaf name of the task's cgroup (NUL padded), see `CGROUP_NAME_LEN`.
    pub cgroup: [u8; CGROUP_NAME_LEN],
    pub cgroup_flags: u16,
    pub _pad: [u8; 6],
}

/// Long enough for containerd's `<pod slice>:cri-containerd:<id>` leaf (up to ~150 bytes).
pub const CGROUP_NAME_LEN: usize = 256;
const _: () = assert!(core::mem::size_of::<Header>() == 320);

/// The kernel's `PATH_MAX`: the longest path a syscall takes, NUL included.
pub const PATH_MAX: usize = 4096;
/// Path buffers: components are appended leaf first, each NUL terminated, at offsets masked
/// with `PATH_BUF - 1`; the array has `NAME_MAX` bytes of slack so a masked offset plus one
/// component always fits (this is what lets the verifier accept variable offsets). A path of
/// `PATH_MAX` bytes (its `/`s become the NULs) fits whole. See [`PathField`].
pub const PATH_BUF: usize = PATH_MAX;
pub const NAME_MAX: usize = 256;
pub const PATH_ARRAY: usize = PATH_BUF + NAME_MAX;
/// What a cut path keeps of its leaf side: the components that end within this many bytes.
pub const PATH_TAIL: usize = 2048;
/// Where a cut path's head ring starts, and how far into it a component may start (each one
/// is written where the last ended, up to `NAME_MAX` bytes: the ring ends at `PATH_ARRAY`).
pub const PATH_HEAD_AT: usize = PATH_TAIL;
pub const PATH_HEAD_CAP: usize = PATH_BUF - PATH_TAIL;
const _: () = assert!(PATH_HEAD_AT + PATH_HEAD_CAP + NAME_MAX == PATH_ARRAY);
const _: () = assert!(PATH_BUF.is_power_of_two() && PATH_HEAD_CAP.is_power_of_two());
/// Steps a path walk takes at most: one per component or mount crossing. A `PATH_MAX` path has
/// at most `PATH_MAX / 2` components (`/a/b/...`); the rest is for mount crossings. A path
/// nested deeper is flagged `DEPTH_LIMIT` with only its leaf side known.
pub const PATH_DEPTH: u32 = 4096;

/// Strings from user memory that are paths (the file an exec names, mount's source and target):
/// a longest path the kernel accepts (`PATH_MAX - 1` bytes and the NUL) does not fill it, so a
/// full buffer means the string was really cut; the 8 extra bytes keep records 8-byte sized.
pub const USER_PATH_LEN: usize = PATH_MAX + 8;
pub const FILENAME_LEN: usize = USER_PATH_LEN;
pub const ARGV_LEN: usize = 4096;
pub const ENV_LEN: usize = 4096;

#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecVariant {
    Execve = 0,
    Execveat = 1,
}

/// One exec, successful (sent from `sched_process_exec`) or failed (sent from `sys_exit_exec*`):
/// everything but the environment, which is sent only when env capture is on. A type of its
/// own so the reader can read a record sent without env in place, as it does whole records.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecHead {
    pub header: Header,
    pub ret: i64,
    pub ppid: u32,
    pub vpid: u32,
    pub euid: u32,
    pub loginuid: u32,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub tty: u32,
    /// `EXEC_*` bits below.
    pub exec_flags: u32,
    /// execveat only.
    pub dirfd: i32,
    pub at_flags: u32,
    pub filename_f: StrField,
    pub exepath_f: PathField,
    pub cwd_f: PathField,
    pub argv_f: StrField,
    pub env_f: StrField,
    pub _pad: [u8; 4],
    /// Process group and session (host pid namespace), and the process group as seen in the
    /// task's own pid namespace (0 when the group leader is not visible there).
    pub pgid: u32,
    pub sid: u32,
    pub vpgid: u32,
    pub _pad2: [u8; 4],
    pub filename: [u8; FILENAME_LEN],
    pub exepath: [u8; PATH_ARRAY],
    pub cwd: [u8; PATH_ARRAY],
    /// NUL separated, exactly as on the new stack.
    pub argv: [u8; ARGV_LEN],
}

/// An exec record with its environment block, last so the record can be sent without it.
/// Derefs to its head, so `rec.ret` reads as if the fields were its own.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecRecord {
    pub head: ExecHead,
    pub env: [u8; ENV_LEN],
}

impl core::ops::Deref for ExecRecord {
    type Target = ExecHead;
    #[inline(always)]
    fn deref(&self) -> &ExecHead {
        &self.head
    }
}

impl core::ops::DerefMut for ExecRecord {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut ExecHead {
        &mut self.head
    }
}

pub const EXEC_UPPER_LAYER: u32 = 1;
pub const EXEC_UPPER_KNOWN: u32 = 2;
pub const EXEC_LOGINUID_KNOWN: u32 = 4;
pub const EXEC_TTY_KNOWN: u32 = 8;
pub const EXEC_VPID_KNOWN: u32 = 16;
pub const EXEC_PGRP_KNOWN: u32 = 32;

pub const EXEC_RECORD_SIZE: usize = core::mem::size_of::<ExecRecord>();
pub const EXEC_RECORD_NO_ENV: usize = core::mem::size_of::<ExecHead>();
const _: () = assert!(EXEC_RECORD_NO_ENV == EXEC_RECORD_SIZE - ENV_LEN);
const _: () =
    assert!(EXEC_RECORD_SIZE == 320 + 104 + FILENAME_LEN + 2 * PATH_ARRAY + ARGV_LEN + ENV_LEN);

#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountOp {
    Mount = 0,
    Umount2 = 1,
    Fsopen = 2,
    Fsmount = 3,
    MoveMount = 4,
    OpenTree = 5,
}

pub const MOUNT_STR_LEN: usize = USER_PATH_LEN;
pub const FSTYPE_LEN: usize = 64;

/// mount(2), umount2(2) and the new mount API. Field use per [`MountOp`]:
/// - Mount: `source`, `target`, `fstype`, `flags`
/// - Umount2: `target`, `flags`
/// - Fsopen: `fstype` (fs name), `flags`
/// - Fsmount: `fd1` (fs fd), `flags`, `flags2` (attr flags)
/// - MoveMount: `fd1`+`source` (from), `fd2`+`target` (to), `flags`
/// - OpenTree: `fd1` (dfd), `source` (filename), `flags`
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MountRecord {
    pub header: Header,
    pub ret: i64,
    pub flags: u64,
    pub flags2: u64,
    pub fd1: i32,
    pub fd2: i32,
    pub source_f: StrField,
    pub target_f: StrField,
    pub fstype_f: StrField,
    pub _pad: [u8; 4],
    pub source: [u8; MOUNT_STR_LEN],
    pub target: [u8; MOUNT_STR_LEN],
    pub fstype: [u8; FSTYPE_LEN],
}

pub const MOUNT_RECORD_SIZE: usize = core::mem::size_of::<MountRecord>();
const _: () = assert!(MOUNT_RECORD_SIZE == 320 + 48 + 2 * MOUNT_STR_LEN + FSTYPE_LEN);

/// Big enough for `sockaddr_un` (110 bytes) and `sockaddr_in6` (28).
pub const SOCKADDR_LEN: usize = 128;

/// connect(2). `addr` is the sockaddr as passed by the caller (copied at syscall entry);
/// the local side is read from the socket at syscall exit, once the kernel bound it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ConnectRecord {
    pub header: Header,
    pub ret: i64,
    pub fd: i32,
    pub addrlen: u32,
    /// `SOCK_STREAM`, `SOCK_DGRAM`, ... from `struct socket`; 0 when unknown.
    pub sock_type: u16,
    /// Family of the socket itself (`AF_INET`, ...); 0 when unknown.
    pub sock_family: u16,
    pub local_port: u16,
    /// 1 when `local_addr`/`local_port` were read from the socket.
    pub local_known: u8,
    pub _pad: [u8; 1],
    /// IPv4 in the first 4 bytes, or IPv6 (network order).
    pub local_addr: [u8; 16],
    pub addr_f: StrField,
    pub _pad2: [u8; 4],
    pub addr: [u8; SOCKADDR_LEN],
}

pub const CONNECT_RECORD_SIZE: usize = core::mem::size_of::<ConnectRecord>();
const _: () = assert!(CONNECT_RECORD_SIZE == 320 + 48 + SOCKADDR_LEN);

/// A new task (process or thread), from `sched_process_fork`. The header is the parent's.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ForkRecord {
    pub header: Header,
    pub child_pid: u32,
    pub child_tid: u32,
}
const _: () = assert!(core::mem::size_of::<ForkRecord>() == 328);

/// A thread group leader exiting, from `sched_process_exit`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExitRecord {
    pub header: Header,
    pub exit_code: i32,
    pub _pad: [u8; 4],
}
const _: () = assert!(core::mem::size_of::<ExitRecord>() == 328);

/// Kernel layout facts resolved from BTF at load time and written into the programs' read-only
/// data before load. `u32::MAX` (see [`Offsets::MISSING`]) marks a member this kernel lacks.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Offsets {
    pub task_real_parent: u32,
    pub task_tgid: u32,
    pub task_pid: u32,
    pub task_cred: u32,
    pub task_mm: u32,
    pub task_fs: u32,
    pub task_files: u32,
    pub task_signal: u32,
    pub task_loginuid: u32,
    pub task_thread_pid: u32,
    pub task_cgroups: u32,
    pub task_exit_code: u32,
    pub cred_euid: u32,
    pub cred_cap_effective: u32,
    pub cred_cap_permitted: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub mm_env_start: u32,
    pub mm_env_end: u32,
    pub fs_pwd: u32,
    pub fs_root: u32,
    pub path_dentry: u32,
    pub path_mnt: u32,
    pub dentry_parent: u32,
    pub dentry_name: u32,
    pub qstr_name: u32,
    pub mount_mnt: u32,
    pub mount_parent: u32,
    pub mount_mountpoint: u32,
    pub vfsmount_root: u32,
    pub file_path: u32,
    pub file_inode: u32,
    pub file_private: u32,
    pub files_fdt: u32,
    pub fdtable_fd: u32,
    pub fdtable_max_fds: u32,
    pub socket_sk: u32,
    pub socket_type: u32,
    pub sk_rcv_saddr: u32,
    pub sk_num: u32,
    pub sk_v6_rcv_saddr: u32,
    pub sk_family: u32,
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub upid_nr: u32,
    pub upid_size: u32,
    pub signal_tty: u32,
    /// `signal_struct.pids[]` (struct pid * per `enum pid_type`) and the indexes of the
    /// process group and session in it.
    pub signal_pids: u32,
    pub pidtype_pgid: u32,
    pub pidtype_sid: u32,
    pub tty_index: u32,
    pub tty_driver: u32,
    pub driver_major: u32,
    pub driver_minor_start: u32,
    pub css_set_dfl_cgrp: u32,
    pub css_set_subsys: u32,
    pub css_cgroup: u32,
    pub cgroup_kn: u32,
    pub kn_name: u32,
    pub kn_parent: u32,
    /// `cgroup_subsys_id` of a v1 controller to read the leaf from when the task sits in the
    /// v2 root (hybrid hosts), or `MISSING` on pure v2 hosts.
    pub v1_subsys_id: u32,
    pub bprm_file: u32,
    pub bprm_filename: u32,
    pub inode_sb: u32,
    pub sb_magic: u32,
    pub ovl_vfs_inode: u32,
    pub ovl_upperdentry: u32,
    /// The network family's reads (`net_fd`): an fd's file kind and a socket's peer, protocol
    /// and state.
    pub inode_mode: u32,
    pub sk_daddr: u32,
    pub sk_dport: u32,
    pub sk_v6_daddr: u32,
    pub sk_state: u32,
    pub sk_protocol: u32,
    pub sk_type: u32,
    /// `sock.sk_userlocks` (a byte since 5.x; `MISSING` where it is a bitfield).
    pub sk_userlocks: u32,
}

impl Offsets {
    pub const MISSING: u32 = u32::MAX;
    const WORDS: usize = core::mem::size_of::<Offsets>() / 4;
    /// Every member missing: the value compiled into the object, replaced by the loader.
    // SAFETY: Offsets is repr(C) and made only of u32 fields, so it has the layout of [u32; N].
    pub const ALL_MISSING: Offsets = unsafe {
        core::mem::transmute::<[u32; Self::WORDS], Offsets>([Self::MISSING; Self::WORDS])
    };
}

/// Run-time settings written into read-only data before load.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The agent's own tgid: its syscalls are not reported.
    pub self_tgid: u32,
    /// 1 to capture the environment of exec'd processes.
    pub capture_env: u32,
    /// Wake the reader once this many bytes are waiting. One wake-up per record costs more than
    /// the record (a context switch each).
    pub wakeup_bytes: u32,
    /// 1: also wake it for the first record into an empty ring (lowest latency, a wake-up for
    /// nearly every record when events are sparse); 0: the reader drains on its own tick.
    pub wake_on_first: u32,
}

pub const GLOBAL_OFFSETS: &str = "OFFSETS";
pub const GLOBAL_SETTINGS: &str = "SETTINGS";

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are repr(C), Copy, with explicit padding and no pointers.
    unsafe impl aya::Pod for super::Offsets {}
    unsafe impl aya::Pod for super::Settings {}
}
