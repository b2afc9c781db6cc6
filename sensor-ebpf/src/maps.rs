//! Every map of the kernel side, and the loss counter helper.

use aya_ebpf::{
    macros::map,
    maps::{HashMap, PerCpuArray, RingBuf},
};
use lanner_common::{
    ConnectRecord, EventKind, ExecRecord, LOSS_SLOTS, LossReason, MountRecord, NetFdRecord,
    PrivRecord, SOCKADDR_LEN, StrField, USER_PATH_LEN, file::OpenRecord, file_change::ChangeRecord,
};

/// The one ring buffer every record goes through. Size is set by the loader.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Per-CPU loss counters, `LossReason::slot(kind)`.
#[map]
pub static LOSSES: PerCpuArray<u64> = PerCpuArray::with_max_entries(LOSS_SLOTS, 0);

/// Per-CPU scratch for exec records: far larger than the 512-byte BPF stack.
#[map]
pub static EXEC_SCRATCH: PerCpuArray<ExecRecord> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU state of the path walk in progress (see `kernel::WalkState` for why it is a map).
#[map]
pub static WALK: PerCpuArray<crate::kernel::WalkState> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU scratch used to build mount/connect stash entries before inserting them.
#[map]
pub static MOUNT_SCRATCH: PerCpuArray<MountRecord> = PerCpuArray::with_max_entries(1, 0);
#[map]
pub static CONNECT_SCRATCH: PerCpuArray<ConnectRecord> = PerCpuArray::with_max_entries(1, 0);
#[map]
pub static PRIV_SCRATCH: PerCpuArray<PrivRecord> = PerCpuArray::with_max_entries(1, 0);

/// What `sys_enter_execve(at)` saw, keyed by tid: read again at exit when the exec failed
/// (then the old memory is intact), and by `sched_process_exec` to know which syscall it was.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct ExecStash {
    pub filename: u64,
    pub argv: u64,
    pub variant: u32,
    pub dirfd: i32,
    pub at_flags: u32,
    pub _pad: u32,
}

/// Plain (preallocated) hash maps, not LRU: an LRU insert costs about a microsecond more
/// (measured with bpf_stats). Entries are removed at syscall exit, and at thread exit for a
/// syscall that never returns (see `probes::process::exit`); a full map fails the insert,
/// which is counted as a dropped record.
#[map]
pub static EXEC_STASH: HashMap<u32, ExecStash> = HashMap::with_max_entries(8192, 0);

/// Mount and connect records are built at syscall entry (the arguments are copied when the
/// kernel copies them, not later when another thread may have changed them) and completed
/// with the return value at exit. A mount record holds two whole paths (8.6 KB): 256 mounts
/// in flight at once across the node is far more than container starts make, and keeps the
/// preallocated map at 2.2 MB.
#[map]
pub static MOUNT_STASH: HashMap<u32, MountRecord> = HashMap::with_max_entries(256, 0);
#[map]
pub static CONNECT_STASH: HashMap<u32, ConnectRecord> = HashMap::with_max_entries(4096, 0);
/// Privilege records (ptrace, setuid, ...; 896 bytes): none of these syscalls waits long, so
/// 1,024 in flight at once is far more than a node makes, and keeps the map at 0.9 MB.
#[map]
pub static PRIV_STASH: HashMap<u32, PrivRecord> = HashMap::with_max_entries(1024, 0);

/// The network family's records are built at syscall exit in this scratch (they are sent
/// from there; nothing of them is kept across the call).
#[map]
pub static NET_FD_SCRATCH: PerCpuArray<NetFdRecord> = PerCpuArray::with_max_entries(1, 0);

/// What a network-family syscall's entry saw, completed at its exit (`probes::net_fd`).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct NetStash {
    /// The `NetOp` whose entry this is: an exit of another call does not take it.
    pub op: u32,
    pub addr_f: StrField,
    pub args: [u64; 3],
    /// recvfrom: where the kernel writes the source, and the caller's buffer length;
    /// recvmsg: the msghdr.
    pub uaddr: u64,
    pub ulen: u64,
    /// recvfrom: the buffer the data is received into.
    pub ubuf: u64,
    /// sendto/sendmsg: the destination as passed.
    pub addr: [u8; SOCKADDR_LEN],
}

/// Keyed by tid, one entry per call in flight, for every call of the family with an entry
/// hook. A thread blocked in recvfrom holds its entry while it waits, so this is larger than
/// the connect stash: 16,384 waiting receivers across the node (2.8 MB preallocated). A full
/// map fails the insert, which is counted as a dropped record.
#[map]
pub static NET_STASH: HashMap<u32, NetStash> = HashMap::with_max_entries(16384, 0);

/// Per-CPU scratch where an open record is built before it is stashed.
#[map]
pub static OPEN_SCRATCH: PerCpuArray<OpenRecord> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU place for a relative path's name while its directory is walked where the name was
/// (`path_arg::read`).
#[map]
pub static PATH_NAME_SCRATCH: PerCpuArray<[u8; USER_PATH_LEN]> =
    PerCpuArray::with_max_entries(1, 0);

/// Open records between syscall entry and exit, by tid. An entry is 8.6 KB (a walked
/// directory and a name as passed): 1,024 of them (8.8 MB) hold every open in flight at once on
/// a large node, the ones blocked in the kernel (a FIFO, a slow network filesystem) included.
/// A thread that holds one is inside open(2): when the map is full, a new open is counted as
/// dropped (`open` / `dropped`), never silently lost.
#[map]
pub static OPEN_STASH: HashMap<u32, OpenRecord> = HashMap::with_max_entries(1024, 0);

/// Per-CPU scratch where a file-change record is built before it is stashed, and where it is
/// put together to be sent (its second path moved up against the first).
#[map]
pub static CHANGE_SCRATCH: PerCpuArray<ChangeRecord> = PerCpuArray::with_max_entries(1, 0);

/// File-change records between syscall entry and exit, by tid, whose paths did not fit a
/// [`ChangeSmall`]. An entry is 17 KB (two paths, each with its walked directory): 256 of them
/// (4.4 MB) hold the long-path calls in flight at once on a node, the ones waiting on a slow
/// filesystem included. When the map is full a new call is counted as dropped (`file_change`
/// / `dropped`).
#[map]
pub static CHANGE_STASH: HashMap<u32, ChangeRecord> = HashMap::with_max_entries(256, 0);

/// Bytes a [`ChangeSmall`] keeps of each path (its walked directory and name).
pub const CHANGE_SMALL_PATH: usize = 768;

/// A file-change record whose paths are short (the common case), kept between entry and exit
/// already as it is sent: the head, then the first path's used bytes and the second's. A map
/// insert copies its whole value, so a 17 KB entry for a 40-byte path cost the call more than
/// everything else the probe does.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ChangeSmall {
    pub head: lanner_common::file_change::ChangeHead,
    pub data: [u8; 2 * CHANGE_SMALL_PATH],
}

/// Per-CPU place where a [`ChangeSmall`] is put together before it is stashed.
#[map]
pub static CHANGE_SMALL_SCRATCH: PerCpuArray<ChangeSmall> = PerCpuArray::with_max_entries(1, 0);

/// [`ChangeSmall`] records between entry and exit, by tid: 1,024 entries of 1.9 KB (2 MB), as
/// many calls in flight at once as the opens' stash holds. Full: counted as dropped.
#[map]
pub static CHANGE_SMALL_STASH: HashMap<u32, ChangeSmall> = HashMap::with_max_entries(1024, 0);

#[inline(always)]
pub fn count_loss(kind: EventKind, reason: LossReason) {
    if let Some(slot) = LOSSES.get_ptr_mut(reason.slot(kind)) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU while we run.
        unsafe { *slot += 1 };
    }
}

const BPF_RB_AVAIL_DATA: u64 = 0;
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;

/// Send a record; a full ring buffer is counted, never silent. The reader is woken when a good
/// amount of data waits, so a burst costs a few wake-ups, not one per record. Otherwise it
/// drains on its own tick (`--max-delay-ms`): waking it for the first record into an empty
/// ring (`wake_on_first`, `--max-delay-ms 0`) costs a context switch for nearly every record
/// when events are sparse (measured: most of the sensor's CPU per event).
#[inline(always)]
pub fn send<T: ?Sized>(kind: EventKind, rec: &T) {
    let waiting = EVENTS.query(BPF_RB_AVAIL_DATA);
    let wake = waiting >= crate::kernel::settings_wakeup_bytes()
        || (waiting == 0 && crate::kernel::settings_wake_on_first());
    let flags = if wake {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    if EVENTS.output::<T>(rec, flags).is_err() {
        count_loss(kind, LossReason::RingbufFull);
    }
}
