//! connect(2): the peer address as the caller passed it (copied at entry), the local side as
//! the kernel bound it (read from the socket at exit), and the return code.

use aya_ebpf::{helpers::generated::bpf_probe_read_user, programs::TracePointContext};
use lanner_common::{
    ConnectRecord, EventKind, LossReason, SOCKADDR_LEN,
    evttype::EvtType,
    field_flags,
    prefilter::{ALL_KINDS, l4},
};

use crate::{
    kernel::{current_task, field, fill_cgroup, fill_header, off, ptr_field, sys_arg, sys_ret},
    maps::{CONNECT_SCRATCH, CONNECT_STASH, count_loss, send},
    prefilter::{self, Facts, NetFacts},
};

/// The prefilter's facts of a connect record: its header's comm and uid (read at entry, as the
/// record carries them), the server end from the address argument, and at exit the result, the
/// protocol and the client end (`lanner_rules::prefilter::probe::NetProbe::Connect`; the sensor
/// computes the fields from the same record, `sensor/src/rules/extract/net.rs`).
#[inline(always)]
fn facts(rec: &ConnectRecord, ret: Option<i64>) -> Facts<'_> {
    let family = u16::from_ne_bytes([rec.addr[0], rec.addr[1]]);
    let len = rec.addr_f.len;
    // The address the sensor shows as `fd.sip`: an IPv4 one read whole.
    let v4 = family == AF_INET && len >= 8;
    let server = v4.then(|| {
        let ip = u32::from_be_bytes([rec.addr[4], rec.addr[5], rec.addr[6], rec.addr[7]]);
        (ip, u16::from_be_bytes([rec.addr[2], rec.addr[3]]))
    });
    let net = match ret {
        None => NetFacts {
            server,
            ..NetFacts::UNKNOWN
        },
        Some(_) => {
            let inet = v4 || (family == AF_INET6 && len >= 24);
            // The local end the kernel bound, or none (`0.0.0.0:0`); an IPv6 socket's is not
            // an IPv4 number.
            let client = if rec.local_known == 0 || rec.local_port == 0 {
                Some((0, 0))
            } else if rec.sock_family == AF_INET6 {
                None
            } else {
                let a = rec.local_addr;
                Some((u32::from_be_bytes([a[0], a[1], a[2], a[3]]), rec.local_port))
            };
            NetFacts {
                l4: 1
                    << if inet {
                        l4::of_connect(rec.sock_family, rec.sock_type)
                    } else {
                        l4::NA
                    },
                server,
                client: server.and(client),
            }
        }
    };
    Facts {
        comm: &rec.header.comm,
        uid: rec.header.uid,
        path: None,
        flags: None,
        ret,
        kind: ALL_KINDS,
        net,
    }
}

const EBADF: i64 = 9;
const ENOTSOCK: i64 = 88;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

pub fn enter(ctx: &TracePointContext) -> Result<(), ()> {
    let p = CONNECT_SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let rec = unsafe { &mut *p };
    fill_header(&mut rec.header, EventKind::Connect as u32, 0);
    // connect(fd, uservaddr, addrlen)
    let (fd, addr, addrlen) = (sys_arg(ctx, 0), sys_arg(ctx, 1), sys_arg(ctx, 2));
    rec.ret = 0;
    rec.fd = fd as i32;
    rec.addrlen = addrlen as u32;
    rec.sock_type = 0;
    rec.sock_family = 0;
    rec.local_port = 0;
    rec.local_known = 0;
    rec.local_addr = [0; 16];
    rec.addr_f.flags = 0;
    rec.addr[..2].copy_from_slice(&[0, 0]);
    let mut n = addrlen as usize;
    if n > SOCKADDR_LEN {
        n = SOCKADDR_LEN;
        rec.addr_f.flags |= field_flags::TRUNCATED;
    }
    let n = n & (2 * SOCKADDR_LEN - 1);
    rec.addr_f.len = 0;
    if n > 0 && n <= SOCKADDR_LEN && addr != 0 {
        // SAFETY: n <= SOCKADDR_LEN bytes into the addr array; user address checked by helper.
        let r = unsafe {
            bpf_probe_read_user(rec.addr.as_mut_ptr().cast(), n as u32, addr as *const _)
        };
        if r < 0 {
            rec.addr_f.flags |= field_flags::READ_FAILED;
        } else {
            rec.addr_f.len = n as u16;
        }
    } else {
        rec.addr_f.flags |= field_flags::READ_FAILED;
    }
    // With the server end read: a connect no loaded rule can match whatever it returns goes
    // no further (a loopback one, for the official rules; the rest is tested again at exit).
    if !prefilter::keep(EvtType::Connect, &facts(rec, None)) {
        // An entry left by an earlier call whose exit hook was detached before it returned
        // must not meet this call's exit.
        let _ = CONNECT_STASH.remove(rec.header.tid);
        return Ok(());
    }
    fill_cgroup(&mut rec.header, current_task());
    CONNECT_STASH.insert(rec.header.tid, rec, 0).map_err(drop)
}

pub fn exit(ctx: &TracePointContext) -> Result<(), ()> {
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    let Some(p) = CONNECT_STASH.get_ptr_mut(tid) else {
        return Ok(());
    };
    // SAFETY: map value owned by this tid's syscall; `ret` slot of the exit record.
    let rec = unsafe { &mut *p };
    rec.ret = sys_ret(ctx);
    // Only a real socket fd has a `struct socket` behind private_data.
    let local = if rec.ret != -EBADF && rec.ret != -ENOTSOCK {
        local_side(rec)
    } else {
        Ok(())
    };
    // With the result, the protocol and the local end.
    if !prefilter::keep(EvtType::Connect, &facts(rec, Some(rec.ret))) {
        let _ = CONNECT_STASH.remove(tid);
        return Ok(());
    }
    if local.is_err() {
        count_loss(EventKind::Connect, LossReason::ReadFailed);
    }
    if rec.addr_f.flags & field_flags::TRUNCATED != 0 {
        count_loss(EventKind::Connect, LossReason::Truncated);
    }
    if rec.addr_f.flags & field_flags::READ_FAILED != 0 {
        count_loss(EventKind::Connect, LossReason::ReadFailed);
    }
    send(EventKind::Connect, rec);
    let _ = CONNECT_STASH.remove(tid);
    Ok(())
}

/// fd -> file -> socket -> sock: socket type, family, and the local address and port.
fn local_side(rec: &mut ConnectRecord) -> Result<(), ()> {
    let task = current_task();
    let files = ptr_field(task, off!(task_files))?;
    let fdt = ptr_field(files, off!(files_fdt))?;
    let max_fds: u32 = field(fdt, off!(fdtable_max_fds))?;
    let fd = rec.fd as u32;
    if fd >= max_fds {
        return Err(());
    }
    let fds = ptr_field(fdt, off!(fdtable_fd))?;
    let file = ptr_field(fds, fd.wrapping_mul(8))?;
    let socket = ptr_field(file, off!(file_private))?;
    rec.sock_type = field(socket, off!(socket_type))?;
    let sk = ptr_field(socket, off!(socket_sk))?;
    let family: u16 = field(sk, off!(sk_family))?;
    rec.sock_family = family;
    let port: u16 = field(sk, off!(sk_num))?;
    rec.local_port = port;
    match family {
        AF_INET => {
            let a: [u8; 4] = field(sk, off!(sk_rcv_saddr))?;
            rec.local_addr[..4].copy_from_slice(&a);
            rec.local_known = 1;
        }
        AF_INET6 => {
            rec.local_addr = field(sk, off!(sk_v6_rcv_saddr))?;
            rec.local_known = 1;
        }
        _ => {}
    }
    Ok(())
}
