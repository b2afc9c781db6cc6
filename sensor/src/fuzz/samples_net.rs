//! Sample records of the network family (`NetFdRecord`), one per call, as the kernel programs
//! fill them: the reverse shell's dup2 of a TCP socket onto stdin, an accepted connection, a
//! packet socket, a UDP send and receive with their address arguments, a failed accept.

use lanner_common::{
    EventKind, FdFacts, NET_FD_HEAD_SIZE, NET_FD_RECORD_SIZE, NetFdRecord, NetOp, StrField,
    fd_flags, fd_kind, field_flags,
};

use super::samples::{CONTAINER_CGROUP, header, put, sockaddr};
use crate::reader::decode::{bytes_of, zeroed};

const IPPROTO_TCP: u16 = 6;
const IPPROTO_UDP: u16 = 17;

/// A connected (or accepted) IPv4 socket: `local` → `remote`.
fn tcp4(local: ([u8; 4], u16), remote: ([u8; 4], u16), server: bool) -> FdFacts {
    let mut f = FdFacts {
        flags: fd_flags::READ | fd_flags::SOCKET,
        kind: fd_kind::IPV4,
        state: 1,
        family: 2,
        sock_type: 1,
        protocol: IPPROTO_TCP,
        local_port: local.1,
        remote_port: remote.1,
        ..FdFacts::default()
    };
    if server {
        f.flags |= fd_flags::BOUND_PORT;
    }
    f.local_addr[..4].copy_from_slice(&local.0);
    f.remote_addr[..4].copy_from_slice(&remote.0);
    f
}

/// A record as the kernel sends it: with the data block for recvfrom, without otherwise.
fn rec(
    name: &'static str,
    op: NetOp,
    comm: &str,
    ret: i64,
    args: [u64; 3],
    fd: FdFacts,
    addr: Option<&[u8]>,
) -> (&'static str, Vec<u8>) {
    let mut r = zeroed::<NetFdRecord>();
    let absent = StrField {
        len: 0,
        flags: field_flags::ABSENT,
    };
    r.data_f = absent;
    if op == NetOp::Recvfrom {
        // A class file arriving (the log4shell rule's `evt.buffer bcontains cafebabe`).
        r.data_f = put(&mut r.data, b"\xca\xfe\xba\xbe\0\0\0\x34");
    }
    r.header = header(
        EventKind::NetFd,
        op as u32,
        4500,
        comm,
        CONTAINER_CGROUP.as_str(),
    );
    r.ret = ret;
    r.args = args;
    r.fd = fd;
    r.addr_f = match addr {
        Some(a) => put(&mut r.addr, a),
        None => absent,
    };
    let bytes = bytes_of(&*r);
    let len = if op == NetOp::Recvfrom {
        NET_FD_RECORD_SIZE
    } else {
        NET_FD_HEAD_SIZE
    };
    (name, bytes[..len].to_vec())
}

pub(super) fn records() -> Vec<(&'static str, Vec<u8>)> {
    let shell = tcp4(([10, 244, 1, 17], 40_000), ([203, 0, 113, 9], 4444), false);
    let accepted = tcp4(([10, 244, 1, 17], 8080), ([198, 51, 100, 7], 51_000), true);
    let pipe = FdFacts {
        flags: fd_flags::READ,
        kind: fd_kind::PIPE,
        ..FdFacts::default()
    };
    let unreadable = FdFacts {
        flags: fd_flags::READ_FAILED,
        kind: fd_kind::NONE,
        ..FdFacts::default()
    };
    let mut udp = FdFacts {
        flags: fd_flags::READ | fd_flags::SOCKET,
        kind: fd_kind::IPV4,
        state: 7,
        family: 2,
        sock_type: 2,
        protocol: IPPROTO_UDP,
        local_port: 53_000,
        ..FdFacts::default()
    };
    udp.local_addr[..4].copy_from_slice(&[10, 244, 1, 17]);
    let none = FdFacts {
        kind: fd_kind::NONE,
        ..FdFacts::default()
    };
    let packet = FdFacts {
        kind: fd_kind::UNKNOWN,
        ..FdFacts::default()
    };
    let dns = sockaddr(2, 53, &[8, 8, 8, 8]);
    vec![
        rec(
            "socket_packet",
            NetOp::Socket,
            "tcpdump",
            3,
            [17, 3, 768],
            packet,
            None,
        ),
        rec("dup_pipe", NetOp::Dup, "bash", 4, [1, 0, 0], pipe, None),
        rec(
            "dup2_reverse_shell",
            NetOp::Dup2,
            "bash",
            0,
            [3, 0, 0],
            shell,
            None,
        ),
        rec(
            "dup3_bad_fd",
            NetOp::Dup3,
            "sh",
            -9,
            [99, 1, 0o2000000],
            unreadable,
            None,
        ),
        rec(
            "accept_inbound",
            NetOp::Accept,
            "nginx",
            7,
            [0; 3],
            accepted,
            None,
        ),
        rec(
            "accept4_failed",
            NetOp::Accept4,
            "nginx",
            -11,
            [0; 3],
            none,
            None,
        ),
        rec(
            "listen",
            NetOp::Listen,
            "nginx",
            0,
            [6, 511, 0],
            accepted,
            None,
        ),
        rec(
            "sendto_dns",
            NetOp::Sendto,
            "python3",
            32,
            [5, 32, 0],
            udp,
            Some(&dns),
        ),
        rec(
            "sendmsg_connected",
            NetOp::Sendmsg,
            "bash",
            5,
            [3, 0, 0],
            shell,
            None,
        ),
        rec(
            "recvfrom_dns",
            NetOp::Recvfrom,
            "python3",
            90,
            [5, 512, 0],
            udp,
            Some(&dns),
        ),
        rec(
            "recvmsg_connected",
            NetOp::Recvmsg,
            "bash",
            5,
            [3, 0, 0],
            shell,
            None,
        ),
    ]
}
