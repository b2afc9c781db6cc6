//! The network family (`net_fd`): socket, dup*, accept*, listen, send*/recv*. Arguments are
//! stashed at syscall entry (a destination address is copied then, when the kernel copies it);
//! the record is built at exit, with what the kernel says about the fd the event is about (its
//! file's kind, and for a socket its family, type, protocol, state and both ends) read then.
//!
//! The I/O calls (sendto, sendmsg, recvfrom, recvmsg) are among the hottest syscalls: their
//! records carry no data and no cgroup name (the process table has it), and the kind, L4
//! protocol and state they carry are what an in-kernel prefilter would test (see
//! `docs/events.md`).

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, generated::bpf_probe_read_user},
    programs::TracePointContext,
};
use lanner_common::{
    EventKind, FdFacts, LossReason, NET_DATA_LEN, NetFdRecord, NetOp, SOCKADDR_LEN, StrField,
    evttype::EvtType,
    fd_flags, fd_kind, field_flags,
    net_fd::family_kind,
    prefilter::{ALL_KINDS, FLAG_CONNECTED, io_connected, kind_mask},
};

use crate::{
    kernel::{current_task, field, fill_cgroup, fill_header, off, ptr_field, sys_arg, sys_ret},
    maps::{NET_FD_SCRATCH, NET_STASH, NetStash, count_loss, send},
    prefilter::{self, Facts, NetFacts},
};

/// The event type of a call.
#[inline(always)]
fn evt_type(op: NetOp) -> EvtType {
    match op {
        NetOp::Socket => EvtType::Socket,
        NetOp::Dup => EvtType::Dup,
        NetOp::Dup2 => EvtType::Dup2,
        NetOp::Dup3 => EvtType::Dup3,
        NetOp::Accept => EvtType::Accept,
        NetOp::Accept4 => EvtType::Accept4,
        NetOp::Listen => EvtType::Listen,
        NetOp::Sendto => EvtType::Sendto,
        NetOp::Sendmsg => EvtType::Sendmsg,
        NetOp::Recvfrom => EvtType::Recvfrom,
        NetOp::Recvmsg => EvtType::Recvmsg,
    }
}

/// The prefilter's facts of a record: its header's comm and uid, the result, the kind of the
/// fd the event is about (`kind`: a mask, every bit until the fd is read), and a send's or
/// receive's `fd.connected` (`io`: the call is one and its fd was read).
#[inline(always)]
fn facts(rec: &NetFdRecord, kind: u32, io: bool) -> Facts<'_> {
    let connected = || {
        let socket_state = (rec.fd.flags & fd_flags::SOCKET != 0).then_some(rec.fd.state);
        u32::from(io_connected(rec.ret, rec.fd.kind, socket_state)) * FLAG_CONNECTED
    };
    Facts {
        comm: &rec.header.comm,
        uid: rec.header.uid,
        path: None,
        flags: io.then(connected),
        ret: Some(rec.ret),
        kind,
        net: NetFacts::UNKNOWN,
    }
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
const S_IFIFO: u16 = 0o010000;
const S_IFDIR: u16 = 0o040000;
const S_IFREG: u16 = 0o100000;
const S_IFCHR: u16 = 0o020000;
const S_IFBLK: u16 = 0o060000;
/// The superblock of anonymous inodes (eventfd, epoll, signalfd, …), whose `i_mode` says
/// nothing of what they are.
const ANON_INODE_FS_MAGIC: u64 = 0x0904_1934;
/// `sk_userlocks` bit set by `bind()` with a port (and inherited by accepted sockets).
const SOCK_BINDPORT_LOCK: u8 = 8;

/// Syscall entry: the arguments, and a destination address as passed.
pub fn enter(ctx: &TracePointContext, op: NetOp) -> Result<(), ()> {
    let tid = bpf_get_current_pid_tgid() as u32;
    // dup2(oldfd, newfd) and dup3 return newfd (an unsigned int) or fail: when no rule
    // wants a failure, decided now on newfd, with nothing stashed to read back at exit.
    if matches!(op, NetOp::Dup2 | NetOp::Dup3)
        && prefilter::drop_at_entry(evt_type(op), i64::from(sys_arg(ctx, 1) as u32))
    {
        // An entry left by an earlier call whose exit hook was detached before it returned
        // must not meet this call's exit.
        let _ = NET_STASH.remove(tid);
        return Ok(());
    }
    let mut st = NetStash {
        op: op as u32,
        addr_f: StrField {
            len: 0,
            flags: field_flags::ABSENT,
        },
        args: [0; 3],
        uaddr: 0,
        ulen: 0,
        ubuf: 0,
        addr: [0; SOCKADDR_LEN],
    };
    match op {
        // socket(domain, type, protocol); dup3(oldfd, newfd, flags)
        NetOp::Socket | NetOp::Dup3 => {
            st.args = [sys_arg(ctx, 0), sys_arg(ctx, 1), sys_arg(ctx, 2)];
        }
        // dup(oldfd)
        NetOp::Dup => st.args = [sys_arg(ctx, 0), 0, 0],
        // dup2(oldfd, newfd); listen(fd, backlog)
        NetOp::Dup2 | NetOp::Listen => st.args = [sys_arg(ctx, 0), sys_arg(ctx, 1), 0],
        // sendto(fd, buf, len, flags, addr, addrlen)
        NetOp::Sendto => {
            st.args = [sys_arg(ctx, 0), sys_arg(ctx, 2), sys_arg(ctx, 3)];
            copy_addr(&mut st, sys_arg(ctx, 4), sys_arg(ctx, 5));
        }
        // sendmsg(fd, msg, flags): the name and its length are the msghdr's first fields.
        NetOp::Sendmsg => {
            st.args = [sys_arg(ctx, 0), 0, sys_arg(ctx, 2)];
            match read_user::<[u64; 2]>(sys_arg(ctx, 1)) {
                Ok([name, len]) => copy_addr(&mut st, name, len & 0xffff_ffff),
                Err(()) => st.addr_f.flags = field_flags::READ_FAILED,
            }
        }
        // recvfrom(fd, buf, len, flags, addr, addrlen *): the source is written at exit, at
        // most as long as the caller's buffer says now.
        NetOp::Recvfrom => {
            st.args = [sys_arg(ctx, 0), sys_arg(ctx, 2), sys_arg(ctx, 3)];
            st.ubuf = sys_arg(ctx, 1);
            let (addr, lenp) = (sys_arg(ctx, 4), sys_arg(ctx, 5));
            if addr != 0 && lenp != 0 {
                st.uaddr = addr;
                st.ulen = read_user::<u32>(lenp).map_or(0, u64::from);
            }
        }
        // recvmsg(fd, msg, flags): the msghdr is read again at exit.
        NetOp::Recvmsg => {
            st.args = [sys_arg(ctx, 0), 0, sys_arg(ctx, 2)];
            st.uaddr = sys_arg(ctx, 1);
        }
        NetOp::Accept | NetOp::Accept4 => {}
    }
    NET_STASH.insert(tid, st, 0).map_err(drop)
}

/// Syscall exit of a call with an entry hook: the stash completed into the record.
pub fn exit(ctx: &TracePointContext, op: NetOp) -> Result<(), ()> {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(st) = NET_STASH.get_ptr(tid) else {
        // The entry ran before the hook was attached: no record to complete.
        return Ok(());
    };
    // SAFETY: map value of this tid's syscall, read before it is removed below.
    let st = unsafe { &*st };
    // An entry of another call, left when a hook was detached between its entry and exit.
    let res = if st.op == op as u32 {
        complete(ctx, op, Some(st))
    } else {
        Ok(())
    };
    let _ = NET_STASH.remove(tid);
    res
}

/// Syscall exit of accept/accept4: everything the record holds is read now.
pub fn exit_only(ctx: &TracePointContext, op: NetOp) -> Result<(), ()> {
    complete(ctx, op, None)
}

fn complete(ctx: &TracePointContext, op: NetOp, st: Option<&NetStash>) -> Result<(), ()> {
    let p = NET_FD_SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let rec = unsafe { &mut *p };
    fill_header(&mut rec.header, EventKind::NetFd as u32, op as u32);
    rec.ret = sys_ret(ctx);
    // Before the fd is read: the task and the result may settle it already, and a socket's
    // kind, which is its domain's (none if the call failed).
    let ty = evt_type(op);
    let first = match (op, st) {
        (NetOp::Socket, Some(st)) if rec.ret >= 0 => kind_mask(family_kind(st.args[0] as u16)),
        (NetOp::Socket, Some(_)) => kind_mask(fd_kind::NONE),
        _ => ALL_KINDS,
    };
    if !prefilter::keep(ty, &facts(rec, first, false)) {
        return Ok(());
    }
    let hot = matches!(
        op,
        NetOp::Sendto | NetOp::Sendmsg | NetOp::Recvfrom | NetOp::Recvmsg
    );
    if !hot {
        fill_cgroup(&mut rec.header, current_task());
    }
    rec.fd = FdFacts::default();
    rec.fd.kind = fd_kind::NONE;
    rec.addr_f = StrField {
        len: 0,
        flags: field_flags::ABSENT,
    };
    rec.data_f = rec.addr_f;
    match st {
        Some(st) => {
            rec.args = st.args;
            rec.addr_f = st.addr_f;
            if st.addr_f.len > 0 {
                rec.addr = st.addr;
            }
        }
        None => rec.args = [0; 3],
    }
    // The fd the event is about.
    let fd = match op {
        NetOp::Socket => None,
        NetOp::Dup | NetOp::Dup2 | NetOp::Dup3 => Some(if rec.ret >= 0 {
            rec.ret as u64
        } else {
            rec.args[0]
        }),
        NetOp::Accept | NetOp::Accept4 => (rec.ret >= 0).then_some(rec.ret as u64),
        _ => Some(rec.args[0]),
    };
    if op == NetOp::Socket && rec.ret >= 0 {
        // As Falco: the new socket's kind is its domain's.
        rec.fd.kind = family_kind(rec.args[0] as u16);
    }
    if let Some(fd) = fd
        && read_fd(fd, &mut rec.fd).is_err()
    {
        rec.fd.flags |= fd_flags::READ_FAILED;
        rec.fd.kind = fd_kind::NONE;
    }
    // With the fd's kind, before a receive's source and data are read. An IPv6 socket may
    // still turn out `ipv4` (`mapped_pair`, which needs that source): both until then.
    let wide = if rec.fd.kind == fd_kind::IPV6 {
        kind_mask(fd_kind::IPV6) | kind_mask(fd_kind::IPV4)
    } else {
        kind_mask(rec.fd.kind)
    };
    if !prefilter::keep(ty, &facts(rec, wide, hot)) {
        return Ok(());
    }
    if let (Some(st), NetOp::Recvfrom | NetOp::Recvmsg) = (st, op)
        && rec.ret >= 0
    {
        source_addr(rec, op, st);
        if op == NetOp::Recvfrom {
            received(rec, st.ubuf);
        }
    }
    mapped_pair(rec);
    let kind = kind_mask(rec.fd.kind);
    if kind != wide && !prefilter::keep(ty, &facts(rec, kind, hot)) {
        return Ok(());
    }
    for (flag, reason) in [
        (field_flags::TRUNCATED, LossReason::Truncated),
        (field_flags::READ_FAILED, LossReason::ReadFailed),
    ] {
        if rec.addr_f.flags & flag != 0 {
            count_loss(EventKind::NetFd, reason);
        }
    }
    if rec.fd.flags & fd_flags::READ_FAILED != 0 || rec.data_f.flags & field_flags::READ_FAILED != 0
    {
        count_loss(EventKind::NetFd, LossReason::ReadFailed);
    }
    // Only recvfrom's record carries data: the others are sent without the block.
    if rec.data_f.flags & field_flags::ABSENT == 0 {
        send(EventKind::NetFd, rec);
    } else {
        send(EventKind::NetFd, &rec.head);
    }
    Ok(())
}

/// recvfrom: the start of what was received (Falco's `evt.buffer`, its snaplen of 80
/// bytes); more is flagged `TRUNCATED`, which is what the field is, not a loss.
#[inline(always)]
fn received(rec: &mut NetFdRecord, buf: u64) {
    let mut n = rec.ret as usize;
    let mut flags = 0;
    if n > NET_DATA_LEN {
        n = NET_DATA_LEN;
        flags |= field_flags::TRUNCATED;
    }
    let n = n & 0x7f;
    if n > NET_DATA_LEN {
        return;
    }
    rec.data_f.len = 0;
    if n > 0 && buf != 0 {
        // SAFETY: n <= NET_DATA_LEN bytes into the record's block; the helper checks the source.
        let r =
            unsafe { bpf_probe_read_user(rec.data.as_mut_ptr().cast(), n as u32, buf as *const _) };
        if r < 0 {
            flags |= field_flags::READ_FAILED;
        } else {
            rec.data_f.len = n as u16;
        }
    }
    rec.data_f.flags = flags;
}

/// Copy a `struct sockaddr` from user memory into the stash (at most `SOCKADDR_LEN` bytes).
#[inline(always)]
fn copy_addr(st: &mut NetStash, addr: u64, len: u64) {
    if addr == 0 || len == 0 {
        return;
    }
    st.addr_f.flags = 0;
    let mut n = len as usize;
    if n > SOCKADDR_LEN {
        n = SOCKADDR_LEN;
        st.addr_f.flags |= field_flags::TRUNCATED;
    }
    let n = n & (2 * SOCKADDR_LEN - 1);
    if n == 0 || n > SOCKADDR_LEN {
        return;
    }
    // SAFETY: n <= SOCKADDR_LEN bytes into the stash's array; the helper checks the source.
    let r = unsafe { bpf_probe_read_user(st.addr.as_mut_ptr().cast(), n as u32, addr as *const _) };
    if r < 0 {
        st.addr_f.flags |= field_flags::READ_FAILED;
    } else {
        st.addr_f.len = n as u16;
    }
}

/// recvfrom/recvmsg: the source address the kernel wrote for the caller.
#[inline(always)]
fn source_addr(rec: &mut NetFdRecord, op: NetOp, st: &NetStash) {
    let (addr, cap) = if op == NetOp::Recvfrom {
        (st.uaddr, st.ulen)
    } else {
        match read_user::<[u64; 2]>(st.uaddr) {
            Ok([name, len]) => (name, len & 0xffff_ffff),
            Err(()) => {
                rec.addr_f.flags = field_flags::READ_FAILED;
                return;
            }
        }
    };
    if addr == 0 {
        return;
    }
    // The kernel wrote at most the caller's length; a datagram socket without a peer
    // address (a connected one) writes nothing and the length says 0.
    let mut n = cap as usize;
    let mut flags = 0;
    if n > SOCKADDR_LEN {
        n = SOCKADDR_LEN;
        flags |= field_flags::TRUNCATED;
    }
    let n = n & (2 * SOCKADDR_LEN - 1);
    if n == 0 || n > SOCKADDR_LEN {
        return;
    }
    // SAFETY: n <= SOCKADDR_LEN bytes into the record's array; the helper checks the source.
    let r =
        unsafe { bpf_probe_read_user(rec.addr.as_mut_ptr().cast(), n as u32, addr as *const _) };
    if r < 0 {
        flags |= field_flags::READ_FAILED;
        rec.addr_f.len = 0;
    } else {
        rec.addr_f.len = n as u16;
    }
    rec.addr_f.flags = flags;
}

#[inline(always)]
fn read_user<T>(addr: u64) -> Result<T, ()> {
    if addr == 0 {
        return Err(());
    }
    // SAFETY: the helper validates the user address; a fault is Err.
    unsafe { aya_ebpf::helpers::bpf_probe_read_user(addr as *const T).map_err(drop) }
}

/// The file at `fd` in the current task's table, and what it is. An fd that is not open
/// (a failed dup of a bad fd) is no failure: `kind` stays NONE without `READ`.
#[inline(always)]
fn read_fd(fd: u64, out: &mut FdFacts) -> Result<(), ()> {
    let task = current_task();
    let files = ptr_field(task, off!(task_files))?;
    let fdt = ptr_field(files, off!(files_fdt))?;
    let max_fds: u32 = field(fdt, off!(fdtable_max_fds))?;
    if fd >= u64::from(max_fds) {
        return Ok(());
    }
    let fds = ptr_field(fdt, off!(fdtable_fd))?;
    let file: *const u8 = field(fds, (fd as u32).wrapping_mul(8))?;
    if file.is_null() {
        return Ok(());
    }
    let inode = ptr_field(file, off!(file_inode))?;
    let mode: u16 = field(inode, off!(inode_mode))?;
    out.flags |= fd_flags::READ;
    out.kind = match mode & S_IFMT {
        S_IFSOCK => return read_socket(file, out),
        S_IFIFO => fd_kind::PIPE,
        S_IFDIR => fd_kind::DIRECTORY,
        S_IFCHR | S_IFBLK => fd_kind::FILE,
        S_IFREG => {
            let sb = ptr_field(inode, off!(inode_sb))?;
            let magic: u64 = field(sb, off!(sb_magic))?;
            if magic == ANON_INODE_FS_MAGIC {
                fd_kind::NONE
            } else {
                fd_kind::FILE
            }
        }
        _ => fd_kind::NONE,
    };
    Ok(())
}

/// A socket's family, type, protocol, state and both ends.
#[inline(always)]
fn read_socket(file: *const u8, out: &mut FdFacts) -> Result<(), ()> {
    let socket = ptr_field(file, off!(file_private))?;
    let sk = ptr_field(socket, off!(socket_sk))?;
    out.flags |= fd_flags::SOCKET;
    out.family = field(sk, off!(sk_family))?;
    out.sock_type = field(sk, off!(sk_type))?;
    out.protocol = field(sk, off!(sk_protocol))?;
    out.state = field(sk, off!(sk_state))?;
    if let Ok(locks) = field::<u8>(sk, off!(sk_userlocks))
        && locks & SOCK_BINDPORT_LOCK != 0
    {
        out.flags |= fd_flags::BOUND_PORT;
    }
    out.kind = family_kind(out.family);
    // Only IP sockets have addresses Falco shows; a unix socket's name is not read.
    if out.kind != fd_kind::IPV4 && out.kind != fd_kind::IPV6 {
        return Ok(());
    }
    out.local_port = field(sk, off!(sk_num))?;
    out.remote_port = u16::from_be(field(sk, off!(sk_dport))?);
    if out.family == AF_INET {
        let a: [u8; 4] = field(sk, off!(sk_rcv_saddr))?;
        out.local_addr[..4].copy_from_slice(&a);
        let a: [u8; 4] = field(sk, off!(sk_daddr))?;
        out.remote_addr[..4].copy_from_slice(&a);
    } else {
        out.local_addr = field(sk, off!(sk_v6_rcv_saddr))?;
        out.remote_addr = field(sk, off!(sk_v6_daddr))?;
        out.flags |= fd_flags::V6;
    }
    Ok(())
}

/// `::ffff:a.b.c.d`.
#[inline(always)]
fn is_mapped(a: &[u8; 16]) -> bool {
    a[..10] == [0; 10] && a[10] == 0xff && a[11] == 0xff
}

/// An IPv6 socket whose two ends are IPv4-mapped is an `ipv4` fd, as in Falco: the remote end
/// is the address argument when the call has one, else the socket's peer.
#[inline(always)]
fn mapped_pair(rec: &mut NetFdRecord) {
    if rec.fd.kind != fd_kind::IPV6 || !is_mapped(&rec.fd.local_addr) {
        return;
    }
    let remote =
        if rec.addr_f.len >= 24 && u16::from_ne_bytes([rec.addr[0], rec.addr[1]]) == AF_INET6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(&rec.addr[8..24]);
            a
        } else {
            rec.fd.remote_addr
        };
    if is_mapped(&remote) {
        rec.fd.kind = fd_kind::IPV4;
    }
}
