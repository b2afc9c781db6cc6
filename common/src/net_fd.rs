//! The network family's records: `socket`, `dup`/`dup2`/`dup3`, `accept`/`accept4`, `listen`,
//! `sendto`/`sendmsg`, `recvfrom`/`recvmsg`. One record type for all of them: the call's
//! arguments, its result, what the kernel says about the file behind the fd the event is about
//! ([`FdFacts`]), the address argument where the call has one, and what recvfrom received.

use crate::{Header, SOCKADDR_LEN, StrField};

/// Which call a [`NetFdRecord`] is (its header's `variant`). Stable numbers.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetOp {
    Socket = 0,
    Dup = 1,
    Dup2 = 2,
    Dup3 = 3,
    Accept = 4,
    Accept4 = 5,
    Listen = 6,
    Sendto = 7,
    Sendmsg = 8,
    Recvfrom = 9,
    Recvmsg = 10,
}

impl NetOp {
    pub const ALL: [NetOp; 11] = [
        NetOp::Socket,
        NetOp::Dup,
        NetOp::Dup2,
        NetOp::Dup3,
        NetOp::Accept,
        NetOp::Accept4,
        NetOp::Listen,
        NetOp::Sendto,
        NetOp::Sendmsg,
        NetOp::Recvfrom,
        NetOp::Recvmsg,
    ];

    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|o| *o as u32 == v)
    }
}

/// The kind of the file behind an fd, as an index into Falco's kinds (`fd.typechar`,
/// `fd.type`): the same numbering as the prefilter's `KINDS` table (`lanner-rules`,
/// `prefilter/facts.rs`), which the sensor renders the two fields from; a test in the sensor
/// holds the two together. Only the kinds the probes tell apart are here.
pub mod fd_kind {
    pub const FILE: u8 = 0;
    pub const DIRECTORY: u8 = 1;
    pub const IPV4: u8 = 2;
    pub const IPV6: u8 = 3;
    pub const UNIX: u8 = 4;
    pub const PIPE: u8 = 6;
    pub const NETLINK: u8 = 12;
    /// A socket of another family (`AF_PACKET`, …): Falco's `o`, `<NA>`.
    pub const UNKNOWN: u8 = 17;
    /// No kind: the fd could not be read, or its file is one the probe does not tell apart
    /// (an anonymous inode: eventfd, epoll, …). Both fields are then left out.
    pub const NONE: u8 = 19;
}

/// The kind of a socket of `family` (what `socket` reports for its new fd, as Falco does,
/// and what a socket fd read from its file is).
pub const fn family_kind(family: u16) -> u8 {
    match family {
        2 => fd_kind::IPV4,
        10 => fd_kind::IPV6,
        1 => fd_kind::UNIX,
        16 => fd_kind::NETLINK,
        _ => fd_kind::UNKNOWN,
    }
}

/// Socket families as Falco names them (`evt.arg.domain`), in its table's order: a value
/// with two names shows both (`AF_LOCAL|AF_UNIX`), as Falco's exact-match rendering does.
/// The sensor renders from it; the prefilter reads it to decide a check on the domain.
#[rustfmt::skip]
pub const SOCKET_FAMILIES: &[(u32, &str)] = &[
    (39, "AF_NFC"), (38, "AF_ALG"), (37, "AF_CAIF"), (36, "AF_IEEE802154"), (35, "AF_PHONET"),
    (34, "AF_ISDN"), (33, "AF_RXRPC"), (32, "AF_IUCV"), (31, "AF_BLUETOOTH"), (30, "AF_TIPC"),
    (29, "AF_CAN"), (26, "AF_LLC"), (25, "AF_WANPIPE"), (24, "AF_PPPOX"), (23, "AF_IRDA"),
    (22, "AF_SNA"), (21, "AF_RDS"), (20, "AF_ATMSVC"), (19, "AF_ECONET"), (18, "AF_ASH"),
    (17, "AF_PACKET"), (16, "AF_ROUTE"), (16, "AF_NETLINK"), (15, "AF_KEY"),
    (14, "AF_SECURITY"), (13, "AF_NETBEUI"), (12, "AF_DECnet"), (11, "AF_ROSE"),
    (10, "AF_INET6"), (9, "AF_X25"), (8, "AF_ATMPVC"), (7, "AF_BRIDGE"), (6, "AF_NETROM"),
    (5, "AF_APPLETALK"), (4, "AF_IPX"), (3, "AF_AX25"), (2, "AF_INET"), (1, "AF_LOCAL"),
    (1, "AF_UNIX"), (0, "AF_UNSPEC"),
];

/// Bits of [`FdFacts::flags`].
pub mod fd_flags {
    /// The fd was looked up and its file read (kind, and for a socket the socket).
    pub const READ: u16 = 1;
    /// Looking the fd up or reading its file failed (or the fd was not open): `kind` is NONE.
    pub const READ_FAILED: u16 = 2;
    /// The file is a socket: the socket fields are set.
    pub const SOCKET: u16 = 4;
    /// The socket's local port was bound by the user (`bind()` with a port, or inherited by
    /// an accepted socket from its listener: `SOCK_BINDPORT_LOCK`): the server side.
    pub const BOUND_PORT: u16 = 8;
    /// `local_addr`/`remote_addr` hold IPv6 addresses (else IPv4 in their first 4 bytes).
    pub const V6: u16 = 16;
}

/// What the kernel says about the file behind one fd, read at syscall exit (so an accepted
/// socket has its addresses, a connected one its peer).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FdFacts {
    /// [`fd_flags`] bits.
    pub flags: u16,
    /// An [`fd_kind`] index.
    pub kind: u8,
    /// `sk_state` (`TCP_ESTABLISHED` = 1, `TCP_LISTEN` = 10, …; a connected UDP socket is
    /// `TCP_ESTABLISHED` too).
    pub state: u8,
    /// `sk_family` (`AF_INET`, …).
    pub family: u16,
    /// `sk_type` (`SOCK_STREAM`, …).
    pub sock_type: u16,
    /// `sk_protocol` (`IPPROTO_TCP`, …).
    pub protocol: u16,
    /// Host order.
    pub local_port: u16,
    /// Host order; 0 when the socket has no peer.
    pub remote_port: u16,
    pub _pad: [u8; 2],
    /// Network order: IPv4 in the first 4 bytes, or IPv6 (see [`fd_flags::V6`]).
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<FdFacts>() == 48);

/// One call of the network family, sent at syscall exit: a [`NetFdHead`], then the data a
/// receive got when the call is recvfrom (sent without it otherwise).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NetFdRecord {
    pub head: NetFdHead,
    /// recvfrom only: the first [`NET_DATA_LEN`] bytes received (`data_f`).
    pub data: [u8; NET_DATA_LEN],
}

/// What Falco's `evt.buffer` holds of a call's data: its default snaplen.
pub const NET_DATA_LEN: usize = 80;

/// `args` per [`NetOp`]:
/// - Socket: domain, type, protocol
/// - Dup: oldfd; Dup2: oldfd, newfd; Dup3: oldfd, newfd, flags
/// - Accept, Accept4: none (the listening fd is not captured, as in Falco's event)
/// - Listen: fd, backlog
/// - Sendto, Recvfrom: fd, length, flags; Sendmsg, Recvmsg: fd, 0, flags
///
/// `fd` describes the fd the event is about: dup's new fd (the old one when the call failed),
/// accept's new connection, listen's and the I/O calls' socket; for `socket`, only the kind
/// (from its domain, as Falco has it).
///
/// `addr` is the address argument: for sendto/sendmsg the destination as passed (copied at
/// entry, when the kernel copies it), for recvfrom/recvmsg the source as the kernel wrote it;
/// `ABSENT` when the call has none (a send on a connected socket, a NULL pointer).
///
/// `data_f` says what of [`NetFdRecord::data`] holds the data received (recvfrom), `ABSENT`
/// otherwise; `TRUNCATED` when more was received than it keeps.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NetFdHead {
    pub header: Header,
    pub ret: i64,
    pub args: [u64; 3],
    pub fd: FdFacts,
    pub addr_f: StrField,
    pub data_f: StrField,
    pub addr: [u8; SOCKADDR_LEN],
}

impl core::ops::Deref for NetFdRecord {
    type Target = NetFdHead;
    #[inline(always)]
    fn deref(&self) -> &NetFdHead {
        &self.head
    }
}

impl core::ops::DerefMut for NetFdRecord {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut NetFdHead {
        &mut self.head
    }
}

pub const NET_FD_RECORD_SIZE: usize = core::mem::size_of::<NetFdRecord>();
pub const NET_FD_HEAD_SIZE: usize = core::mem::size_of::<NetFdHead>();
const _: () = assert!(NET_FD_HEAD_SIZE == 320 + 8 + 24 + 48 + 8 + SOCKADDR_LEN);
const _: () = assert!(NET_FD_RECORD_SIZE == NET_FD_HEAD_SIZE + NET_DATA_LEN);
