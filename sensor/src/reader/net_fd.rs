//! Decoding the network family's records (`NetFdRecord`): the call, its arguments and result,
//! the kernel's description of the fd, and the address argument.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lanner_common::{FdFacts, NetFdRecord, NetOp, fd_flags, fd_kind, field_flags};

use super::decode::{DecodeError, sockaddr, used};
use crate::event::{Ends, FdInfo, NetCall, NetFd, Peer, SockInfo};

pub(super) fn net_fd(r: &NetFdRecord) -> Result<NetFd, DecodeError> {
    let op = NetOp::from_u32(r.header.variant).ok_or(DecodeError::UnknownVariant {
        what: "net_fd",
        variant: r.header.variant,
    })?;
    let call = match op {
        NetOp::Socket => NetCall::Socket,
        NetOp::Dup => NetCall::Dup,
        NetOp::Dup2 => NetCall::Dup2,
        NetOp::Dup3 => NetCall::Dup3,
        NetOp::Accept => NetCall::Accept,
        NetOp::Accept4 => NetCall::Accept4,
        NetOp::Listen => NetCall::Listen,
        NetOp::Sendto => NetCall::Sendto,
        NetOp::Sendmsg => NetCall::Sendmsg,
        NetOp::Recvfrom => NetCall::Recvfrom,
        NetOp::Recvmsg => NetCall::Recvmsg,
    };
    let bytes = used(r.addr_f.len, &r.addr, "sockaddr")?;
    let addr = if r.addr_f.flags & field_flags::ABSENT != 0 {
        None
    } else if r.addr_f.flags & field_flags::READ_FAILED != 0 {
        Some(Peer::Unknown)
    } else if bytes.is_empty() {
        // A receive on a socket that reported no source (a connected or unnamed peer).
        None
    } else {
        Some(sockaddr(bytes))
    };
    let data = (r.data_f.flags & field_flags::ABSENT == 0)
        .then(|| used(r.data_f.len, &r.data, "data").map(<[u8]>::to_vec))
        .transpose()?;
    Ok(NetFd {
        call,
        ret: r.ret,
        args: r.args,
        fd: fd_info(&r.fd),
        addr,
        addr_truncated: r.addr_f.flags & field_flags::TRUNCATED != 0,
        data,
    })
}

fn fd_info(f: &FdFacts) -> FdInfo {
    // A kind index past the table is garbage, not a kind.
    let kind = (f.kind < fd_kind::NONE).then_some(f.kind);
    let sock = (f.flags & fd_flags::SOCKET != 0).then(|| SockInfo {
        family: f.family,
        sock_type: f.sock_type,
        protocol: f.protocol,
        state: f.state,
        bound_port: f.flags & fd_flags::BOUND_PORT != 0,
        ends: matches!(kind, Some(fd_kind::IPV4 | fd_kind::IPV6)).then(|| {
            let ip = |a: [u8; 16]| {
                if f.flags & fd_flags::V6 != 0 {
                    IpAddr::V6(Ipv6Addr::from(a))
                } else {
                    IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                }
            };
            Ends {
                local: (ip(f.local_addr), f.local_port),
                remote: (ip(f.remote_addr), f.remote_port),
            }
        }),
    });
    FdInfo {
        kind,
        sock,
        read_failed: f.flags & fd_flags::READ_FAILED != 0,
    }
}
