//! The network family's calls (socket, dup*, accept*, listen, send*/recv*) as the decoder
//! makes them: the call, its arguments and result, and what the kernel said about its fd.

use std::net::IpAddr;

use lanner_rules::EvtType;

use super::Peer;

/// A call of the network family other than connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetCall {
    Socket,
    Dup,
    Dup2,
    Dup3,
    Accept,
    Accept4,
    Listen,
    Sendto,
    Sendmsg,
    Recvfrom,
    Recvmsg,
}

impl NetCall {
    pub fn evt_type(self) -> EvtType {
        match self {
            NetCall::Socket => EvtType::Socket,
            NetCall::Dup => EvtType::Dup,
            NetCall::Dup2 => EvtType::Dup2,
            NetCall::Dup3 => EvtType::Dup3,
            NetCall::Accept => EvtType::Accept,
            NetCall::Accept4 => EvtType::Accept4,
            NetCall::Listen => EvtType::Listen,
            NetCall::Sendto => EvtType::Sendto,
            NetCall::Sendmsg => EvtType::Sendmsg,
            NetCall::Recvfrom => EvtType::Recvfrom,
            NetCall::Recvmsg => EvtType::Recvmsg,
        }
    }

    /// The calls whose address argument is the peer they send to.
    pub fn sends(self) -> bool {
        matches!(self, NetCall::Sendto | NetCall::Sendmsg)
    }

    /// The calls whose address argument is the peer they received from.
    pub fn receives(self) -> bool {
        matches!(self, NetCall::Recvfrom | NetCall::Recvmsg)
    }
}

/// A socket as the kernel described it at syscall exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockInfo {
    /// `AF_INET`, …
    pub family: u16,
    /// `SOCK_STREAM`, …
    pub sock_type: u16,
    /// `IPPROTO_TCP`, …
    pub protocol: u16,
    /// `sk_state`: `TCP_ESTABLISHED` (1) for a connected socket of any type, `TCP_LISTEN`
    /// (10) for a listening one.
    pub state: u8,
    /// The local port was bound by the user (or inherited from a listener by an accepted
    /// socket): this side is the server.
    pub bound_port: bool,
    /// An IP socket's local and remote ends (the remote unspecified, port 0, without a peer).
    pub ends: Option<Ends>,
}

pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_LISTEN: u8 = 10;

/// Both ends of an IP socket, as the kernel holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ends {
    pub local: (IpAddr, u16),
    pub remote: (IpAddr, u16),
}

/// What the file behind the event's fd is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdInfo {
    /// An index into Falco's fd kinds (`fd.typechar`/`fd.type`, see
    /// `lanner_common::fd_kind`); `None` when it could not be read or is a file the probe
    /// does not tell apart (an anonymous inode).
    pub kind: Option<u8>,
    /// Set for sockets.
    pub sock: Option<SockInfo>,
    /// Reading the fd or its file failed (counted by the kernel as `read_failed`).
    pub read_failed: bool,
}

/// A call of the network family (see `lanner_common::NetFdRecord` for what `args` holds per
/// call).
#[derive(Clone, Debug, PartialEq)]
pub struct NetFd {
    pub call: NetCall,
    pub ret: i64,
    pub args: [u64; 3],
    /// The fd the event is about: dup's and accept's new fd, the socket of the others; for
    /// `socket`, only the kind (made from the domain argument).
    pub fd: FdInfo,
    /// The address argument: the destination of a send, the source of a receive; `None`
    /// when the call has none.
    pub addr: Option<Peer>,
    /// The address argument did not fit its buffer.
    pub addr_truncated: bool,
    /// recvfrom: the first bytes received (Falco's `evt.buffer`: at most its snaplen, 80
    /// bytes); `None` for the other calls.
    pub data: Option<Vec<u8>>,
}
