//! The one place that turns ring-buffer bytes into typed events.
//!
//! Every record is length-checked before it is read, every string length is checked against
//! its buffer, and nothing here panics on garbage: a bad record is a [`DecodeError`] that the
//! reader counts and reports.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use lanner_common::{
    CONNECT_RECORD_SIZE, ConnectRecord, EXEC_LOGINUID_KNOWN, EXEC_PGRP_KNOWN, EXEC_RECORD_NO_ENV,
    EXEC_RECORD_SIZE, EXEC_TTY_KNOWN, EXEC_UPPER_KNOWN, EXEC_UPPER_LAYER, EXEC_VPID_KNOWN,
    EventKind, ExecHead, ExitRecord, ForkRecord, Header, MOUNT_RECORD_SIZE, MountRecord,
    NET_FD_HEAD_SIZE, NetFdRecord, PrivHead, PrivRecord, StrField, field_flags,
    file::{OPEN_HEAD_SIZE, OpenHead},
    file_change::{CHANGE_HEAD_SIZE, ChangeHead},
};

use super::path::{user_path, walked};
use crate::event::{
    Body, Connect, Event, Exec, ExecSyscall, Exit, Fork, Image, L4, Mount, MountOp, Peer,
    ProcessGroups, Task, Text,
};
use crate::idhash::IdHash;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than the {need}-byte {what}")]
    Short {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("unknown record kind {kind}")]
    UnknownKind { kind: u32 },
    #[error("unknown {what} variant {variant}")]
    UnknownVariant { what: &'static str, variant: u32 },
    #[error("field {field}: length {len} exceeds its {cap}-byte buffer")]
    FieldLength {
        field: &'static str,
        len: usize,
        cap: usize,
    },
}

/// Marker for the wire structs: plain integers and byte arrays, so every bit pattern is valid.
///
/// # Safety
/// Implement only for `#[repr(C)]` types without pointers, references, enums, bools or
/// implicit padding (the wire structs have explicit `_pad` fields, their sizes asserted).
pub(crate) unsafe trait Plain: Copy {}
// SAFETY: see the trait; these are the fixed-layout records of `lanner_common`.
unsafe impl Plain for Header {}
unsafe impl Plain for ExecHead {}
unsafe impl Plain for lanner_common::ExecRecord {}
unsafe impl Plain for MountRecord {}
unsafe impl Plain for ConnectRecord {}
unsafe impl Plain for NetFdRecord {}
unsafe impl Plain for ForkRecord {}
unsafe impl Plain for ExitRecord {}
unsafe impl Plain for PrivHead {}
unsafe impl Plain for PrivRecord {}
unsafe impl Plain for OpenHead {}
unsafe impl Plain for lanner_common::file::OpenRecord {}
unsafe impl Plain for ChangeHead {}
unsafe impl Plain for lanner_common::file_change::ChangeRecord {}

/// An all-zero `T` (a valid one: `T` is Plain), on the heap: an exec record is 15 KiB.
/// The other direction of this module, for code that makes records (the fuzz samples).
pub(crate) fn zeroed<T: Plain>() -> Box<T> {
    // SAFETY: T is Plain, so all-zero bytes are a valid T.
    unsafe { Box::<T>::new_zeroed().assume_init() }
}

/// The bytes of a record, as the kernel side writes them into the ring buffer.
pub(crate) fn bytes_of<T: Plain>(v: &T) -> &[u8] {
    // SAFETY: T is Plain: no padding, so every byte of it is initialised; the slice borrows v.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

/// A record as a `T`: in place when the bytes hold a whole, aligned `T` (ring-buffer records
/// are 8-byte aligned, so the common case copies nothing), else a zero-extended copy.
pub(super) enum Rec<'a, T> {
    InPlace(&'a T),
    Copied(Box<T>),
}

impl<T> std::ops::Deref for Rec<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Rec::InPlace(r) => r,
            Rec::Copied(b) => b,
        }
    }
}

/// Read a `T` from the start of `bytes`; shorter input (down to `min`) is zero-extended, which
/// is how an exec record sent without its trailing env block is read.
pub(super) fn read<'a, T: Plain>(
    bytes: &'a [u8],
    min: usize,
    what: &'static str,
) -> Result<Rec<'a, T>, DecodeError> {
    let need = size_of::<T>();
    if bytes.len() < min.min(need) {
        return Err(DecodeError::Short {
            what,
            len: bytes.len(),
            need: min,
        });
    }
    if bytes.len() >= need && bytes.as_ptr().cast::<T>().is_aligned() {
        // SAFETY: the bytes hold a whole T at an address aligned for T, and T is Plain: every
        // bit pattern is a valid T. The reference borrows `bytes`.
        return Ok(Rec::InPlace(unsafe { &*bytes.as_ptr().cast::<T>() }));
    }
    let mut out: Box<std::mem::MaybeUninit<T>> = Box::new_uninit();
    let n = bytes.len().min(need);
    // SAFETY: n <= size_of::<T>() and n <= bytes.len(); the first n bytes are copied and the
    // rest zeroed, so every byte of the T is written, and T is Plain.
    unsafe {
        let dst = out.as_mut_ptr().cast::<u8>();
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, n);
        std::ptr::write_bytes(dst.add(n), 0, need - n);
        Ok(Rec::Copied(out.assume_init()))
    }
}

/// Decodes records, remembering cgroup names by cgroup id and task names by pid: every record
/// names its task and cgroup, they rarely change, and a name shared by reference costs no
/// allocation per event.
pub struct Decoder {
    capture_env: bool,
    names: Names,
}

impl Decoder {
    pub fn new(capture_env: bool) -> Self {
        Self {
            capture_env,
            names: Names::default(),
        }
    }

    pub fn decode(&mut self, bytes: &[u8]) -> Result<Event, DecodeError> {
        decode_with(bytes, self.capture_env, &mut self.names)
    }
}

/// Cgroup names by cgroup id, task names by pid.
#[derive(Default)]
struct Names {
    cgroups: Interned,
    comms: Interned,
}

#[derive(Default)]
struct Interned {
    by_id: HashMap<u64, Arc<str>, IdHash>,
}

impl Interned {
    /// Bounded: when full it starts over.
    const CAP: usize = 16384;

    /// The name in `raw` (NUL-terminated unless it fills the buffer), shared with earlier
    /// records of `id` when they named it the same.
    fn name(&mut self, id: u64, raw: &[u8]) -> Arc<str> {
        if let Some(n) = self.by_id.get(&id)
            && raw.starts_with(n.as_bytes())
            && raw.get(n.len()).is_none_or(|&b| b == 0)
        {
            return n.clone();
        }
        if self.by_id.len() >= Self::CAP {
            self.by_id.clear();
        }
        let n: Arc<str> = nul_terminated(raw).into();
        self.by_id.insert(id, n.clone());
        n
    }
}

/// One record on its own (tests, the replay's scan): nothing is remembered across calls.
pub fn decode(bytes: &[u8], capture_env: bool) -> Result<Event, DecodeError> {
    decode_with(bytes, capture_env, &mut Names::default())
}

/// Ask the CPU to start loading `bytes` into cache now. A record's fields sit up to kilobytes
/// apart and the reader meets the record cold: read one after another, each new cache line
/// would wait for memory in turn; requested together, the waits overlap.
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch is only a hint: it never faults and changes nothing observable;
        // the address is inside `bytes` anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// The fixed part of the largest record head: the header, then (for an exec) the fields before
/// its strings.
const HEAD_BYTES: usize = std::mem::offset_of!(ExecHead, filename);

fn decode_with(bytes: &[u8], capture_env: bool, names: &mut Names) -> Result<Event, DecodeError> {
    prefetch(&bytes[..bytes.len().min(HEAD_BYTES)]);
    let header = read::<Header>(bytes, size_of::<Header>(), "record header")?;
    let kind =
        EventKind::from_u32(header.kind).ok_or(DecodeError::UnknownKind { kind: header.kind })?;
    let task = task(&header, names);
    let body = match kind {
        EventKind::Exec => {
            let min = if capture_env {
                EXEC_RECORD_SIZE
            } else {
                EXEC_RECORD_NO_ENV
            };
            if bytes.len() < min {
                return Err(DecodeError::Short {
                    what: "exec record",
                    len: bytes.len(),
                    need: min,
                });
            }
            let head = read::<ExecHead>(bytes, EXEC_RECORD_NO_ENV, "exec record")?;
            // The env block follows the head when it was sent.
            let env = bytes.get(EXEC_RECORD_NO_ENV..).unwrap_or_default();
            Body::Exec(exec(&head, env, &task.comm)?)
        }
        EventKind::Mount => {
            let r = read::<MountRecord>(bytes, MOUNT_RECORD_SIZE, "mount record")?;
            Body::Mount(mount(&r)?)
        }
        EventKind::Connect => {
            let r = read::<ConnectRecord>(bytes, CONNECT_RECORD_SIZE, "connect record")?;
            Body::Connect(connect(&r)?)
        }
        EventKind::NetFd => {
            // Sent without its data block but for recvfrom: read zero-extended.
            let r = read::<NetFdRecord>(bytes, NET_FD_HEAD_SIZE, "net_fd record")?;
            Body::NetFd(super::net_fd::net_fd(&r)?)
        }
        EventKind::Fork => {
            let r = read::<ForkRecord>(bytes, size_of::<ForkRecord>(), "fork record")?;
            Body::Fork(Fork {
                child_pid: r.child_pid,
                child_tid: r.child_tid,
            })
        }
        EventKind::Exit => {
            let r = read::<ExitRecord>(bytes, size_of::<ExitRecord>(), "exit record")?;
            Body::Exit(Exit {
                exit_code: r.exit_code,
            })
        }
        EventKind::Privilege => Body::Privilege(super::privilege::decode(header.variant, bytes)?),
        EventKind::Open => {
            let head = read::<OpenHead>(bytes, OPEN_HEAD_SIZE, "open record")?;
            // The path's bytes follow the head, as many as were sent.
            let data = bytes.get(OPEN_HEAD_SIZE..).unwrap_or_default();
            Body::Open(super::file::open(&head, data)?)
        }
        EventKind::FileChange => {
            let head = read::<ChangeHead>(bytes, CHANGE_HEAD_SIZE, "file change record")?;
            // The paths' bytes follow the head, as many as were sent.
            let data = bytes.get(CHANGE_HEAD_SIZE..).unwrap_or_default();
            Body::FileChange(super::file_change::file_change(&head, data)?)
        }
    };
    Ok(Event {
        boot_ns: header.ktime_ns,
        task,
        body,
    })
}

fn task(h: &Header, names: &mut Names) -> Task {
    let cgroup = if h.cgroup_flags & (field_flags::READ_FAILED | field_flags::ABSENT) != 0 {
        None
    } else {
        Some(names.cgroups.name(h.cgroup_id, &h.cgroup))
    };
    Task {
        pid: h.pid,
        tid: h.tid,
        uid: h.uid,
        gid: h.gid,
        comm: names.comms.name(u64::from(h.pid), &h.comm),
        cgroup_id: h.cgroup_id,
        cgroup,
    }
}

fn nul_terminated(b: &[u8]) -> String {
    let end = memchr::memchr(0, b).unwrap_or(b.len());
    lossy(&b[..end])
}

/// Bytes as text, invalid UTF-8 replaced. Valid text, the norm, takes the quick check only.
fn lossy(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// The first `len` bytes of a field's buffer, checked against it.
pub(super) fn used<'a>(
    len: u16,
    buf: &'a [u8],
    field: &'static str,
) -> Result<&'a [u8], DecodeError> {
    let len = usize::from(len);
    buf.get(..len).ok_or(DecodeError::FieldLength {
        field,
        len,
        cap: buf.len(),
    })
}

pub(super) fn text(f: StrField, buf: &[u8], field: &'static str) -> Result<Text, DecodeError> {
    let bytes = used(f.len, buf, field)?;
    let value = (f.flags & (field_flags::READ_FAILED | field_flags::ABSENT) == 0
        || !bytes.is_empty())
    .then(|| nul_terminated(bytes));
    Ok(Text {
        value,
        truncated: f.flags & field_flags::TRUNCATED != 0,
    })
}

/// NUL-separated strings (argv, env), exactly as the kernel laid them out.
fn strings(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|&c| c == 0).map(lossy).collect()
}

fn exec(r: &ExecHead, env_block: &[u8], comm: &Arc<str>) -> Result<Exec, DecodeError> {
    let syscall = match r.header.variant {
        0 => ExecSyscall::Execve,
        1 => ExecSyscall::Execveat,
        variant => {
            return Err(DecodeError::UnknownVariant {
                what: "exec",
                variant,
            });
        }
    };
    // The strings' used parts, kilobytes apart, all at once.
    for (len, buf) in [
        (r.filename_f.len, &r.filename[..]),
        (r.exepath_f.len, &r.exepath[..]),
        (r.cwd_f.len, &r.cwd[..]),
        (r.argv_f.len, &r.argv[..]),
    ] {
        prefetch(buf.get(..usize::from(len)).unwrap_or(buf));
    }
    let exepath = walked(r.exepath_f, &r.exepath, "exepath", false)?;
    let leaf_is_memfd = used(r.exepath_f.len, &r.exepath, "exepath")?.starts_with(b"memfd:");
    let argv = strings(used(r.argv_f.len, &r.argv, "argv")?);
    let argv_empty = argv.is_empty();
    let cwd = walked(r.cwd_f, &r.cwd, "cwd", true)?;
    let mut image = Image::from_argv(comm.clone(), argv, exepath.value, cwd.value);
    image.exepath_truncated = exepath.truncated;
    image.cwd_truncated = cwd.truncated;
    let env = (r.env_f.flags & field_flags::ABSENT == 0)
        .then(|| used(r.env_f.len, env_block, "env").map(strings))
        .transpose()?;
    let known = |bit: u32| r.exec_flags & bit != 0;
    Ok(Exec {
        syscall,
        ret: r.ret,
        ppid: r.ppid,
        vpid: known(EXEC_VPID_KNOWN).then_some(r.vpid),
        groups: known(EXEC_PGRP_KNOWN).then_some(ProcessGroups {
            pgid: r.pgid,
            sid: r.sid,
            vpgid: r.vpgid,
        }),
        euid: r.euid,
        loginuid: known(EXEC_LOGINUID_KNOWN).then_some(r.loginuid),
        cap_effective: r.cap_effective,
        cap_permitted: r.cap_permitted,
        tty: known(EXEC_TTY_KNOWN).then_some(r.tty),
        upper_layer: known(EXEC_UPPER_KNOWN).then_some(known(EXEC_UPPER_LAYER)),
        from_memfd: r.exepath_f.flags & field_flags::DISCONNECTED != 0 && leaf_is_memfd,
        filename: as_passed(
            syscall,
            r.dirfd,
            user_path(r.filename_f, &r.filename, "filename")?,
        ),
        image: Arc::new(image),
        argv_empty,
        args_truncated: r.argv_f.flags & field_flags::TRUNCATED != 0,
        env,
        dirfd: r.dirfd,
        at_flags: r.at_flags,
    })
}

/// `linux_binprm.filename` as the caller passed it. For execveat with a real dirfd the kernel
/// names the file `/dev/fd/<dirfd>/<path>` (or `/dev/fd/<dirfd>` with `AT_EMPTY_PATH`); undo
/// that, since the caller's own pointer is gone once the new image is in place.
fn as_passed(syscall: ExecSyscall, dirfd: i32, mut t: Text) -> Text {
    const AT_FDCWD: i32 = -100;
    if syscall != ExecSyscall::Execveat || dirfd == AT_FDCWD {
        return t;
    }
    if let Some(v) = &t.value {
        let prefix = format!("/dev/fd/{dirfd}");
        if v == &prefix {
            t.value = Some(String::new());
        } else if let Some(rest) = v.strip_prefix(&prefix).and_then(|r| r.strip_prefix('/')) {
            t.value = Some(rest.to_string());
        }
    }
    t
}

fn mount(r: &MountRecord) -> Result<Mount, DecodeError> {
    let op = match r.header.variant {
        0 => MountOp::Mount,
        1 => MountOp::Umount2,
        2 => MountOp::Fsopen,
        3 => MountOp::Fsmount,
        4 => MountOp::MoveMount,
        5 => MountOp::OpenTree,
        variant => {
            return Err(DecodeError::UnknownVariant {
                what: "mount",
                variant,
            });
        }
    };
    Ok(Mount {
        op,
        ret: r.ret,
        flags: r.flags,
        flags2: r.flags2,
        fd1: r.fd1,
        fd2: r.fd2,
        source: user_path(r.source_f, &r.source, "source")?,
        target: user_path(r.target_f, &r.target, "target")?,
        fstype: text(r.fstype_f, &r.fstype, "fstype")?,
    })
}

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

fn connect(r: &ConnectRecord) -> Result<Connect, DecodeError> {
    let addr = used(r.addr_f.len, &r.addr, "sockaddr")?;
    // The mapping the kernel's prefilter decides `fd.l4proto` on (one definition).
    let l4 = (r.sock_family != 0).then(|| {
        match lanner_common::prefilter::l4::of_connect(r.sock_family, r.sock_type) {
            lanner_common::prefilter::l4::TCP => L4::Tcp,
            lanner_common::prefilter::l4::UDP => L4::Udp,
            lanner_common::prefilter::l4::RAW => L4::Raw,
            _ => L4::Other,
        }
    });
    let local = (r.local_known != 0 && r.local_port != 0).then(|| {
        let ip = if r.sock_family == AF_INET6 {
            IpAddr::V6(Ipv6Addr::from(r.local_addr))
        } else {
            let [a, b, c, d, ..] = r.local_addr;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        };
        (ip, r.local_port)
    });
    Ok(Connect {
        ret: r.ret,
        fd: r.fd,
        peer: sockaddr(addr),
        local,
        l4,
    })
}

/// Parse a `struct sockaddr` as the caller passed it.
pub(super) fn sockaddr(b: &[u8]) -> Peer {
    let Some(family) = b.get(..2).map(|f| u16::from_ne_bytes([f[0], f[1]])) else {
        return Peer::Unknown;
    };
    let port = || b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    match family {
        AF_INET => match (port(), b.get(4..8)) {
            (Some(port), Some(a)) => {
                Peer::Inet(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), port)
            }
            _ => Peer::Other(family),
        },
        AF_INET6 => match (
            port(),
            b.get(8..24).and_then(|a| <[u8; 16]>::try_from(a).ok()),
        ) {
            (Some(port), Some(a)) => Peer::Inet(IpAddr::V6(Ipv6Addr::from(a)), port),
            _ => Peer::Other(family),
        },
        AF_UNIX => {
            let path = &b[2..];
            match path.first() {
                // Abstract namespace: a leading NUL, the name is the rest (not NUL terminated).
                Some(0) => {
                    let name = &path[1..];
                    let end = name.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
                    Peer::Unix(format!("@{}", String::from_utf8_lossy(&name[..end])))
                }
                _ => Peer::Unix(nul_terminated(path)),
            }
        }
        other => Peer::Other(other),
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
