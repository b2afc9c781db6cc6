//! `fd.*` of the network family's calls (socket, dup*, accept*, listen, send*/recv*), from
//! what the kernel said about the fd at syscall exit (falco-fields.md 1.5).
//!
//! Falco keeps a table of every fd and updates it as calls go by; Lanner keeps none and reads
//! the socket itself, so each field is what Falco's table would hold after the call, worked
//! out from the kernel's state:
//! - roles: the server side is the one whose port the user bound (`bind()` with a port, which
//!   is what makes a Falco fd a server; an accepted socket inherits it from its listener);
//!   the other is the client. A bound socket without a peer (listening) is `ip:port` with only
//!   `fd.sip`/`fd.sport`; one neither bound nor connected (a new socket) has no role: an empty
//!   `fd.name`, no addresses and `fd.l4proto` `<NA>`.
//! - `fd.lip`/`fd.rip` are the kernel's local and remote ends (Falco guesses them from its
//!   interface list, and names the client side local for loopback traffic).
//! - `fd.connected`: the socket is connected in the kernel (`TCP_ESTABLISHED`, which a
//!   connected UDP socket is too); an accepted socket is; and, as in Falco, a successful send
//!   or receive on an IP socket marks it connected (libsinsp's `parse_read_exit` and
//!   `parse_write_exit` do so before the rules see the event) — so for a successful call
//!   `fd.connected=false` never holds on an IP socket, in Falco as here.
//! - `fd.name_changed`: an accepted socket gets its name; a datagram (not TCP) send or receive
//!   on an unconnected IP socket that names its peer is taken to change the name (Falco
//!   compares with the fd's previous peer, which Lanner does not keep: a repeat of the same
//!   peer is reported as a change too).
//! - unix sockets, pipes and files are told apart (`fd.type`), but their names (Falco's
//!   `<hex>-><hex> path`, a file's path) are not read: `fd.name` is missing.
//! - an IPv6 socket whose two ends are IPv4-mapped is `ipv4` (the probe decides, as for the
//!   kind's other values) and its addresses are shown as IPv4.

use std::net::IpAddr;

use lanner_common::fd_kind;
use lanner_rules::{Field, Value, prefilter::facts::KINDS};

use super::{EventView, int, s};
use crate::event::{Body, NetCall, NetFd, Peer, TCP_ESTABLISHED, TCP_LISTEN};

const SOCK_RAW: u16 = 3;
const IPPROTO_ICMP: u16 = 1;
const IPPROTO_TCP: u16 = 6;
const IPPROTO_UDP: u16 = 17;
const IPPROTO_ICMPV6: u16 = 58;

type End = (IpAddr, u16);

/// The roles of an IP fd's ends, as Falco's table would hold them after the call.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tuple {
    /// No role yet: a new socket, or one neither bound nor connected.
    NoRole,
    /// Bound, without a peer (listening): the server end.
    Server(End),
    /// A connection; `local_is_server` says which end is this side.
    Conn {
        client: End,
        server: End,
        local_is_server: bool,
    },
}

impl Tuple {
    fn local(self) -> Option<End> {
        match self {
            Tuple::Conn {
                client,
                server,
                local_is_server,
            } => Some(if local_is_server { server } else { client }),
            _ => None,
        }
    }

    fn remote(self) -> Option<End> {
        match self {
            Tuple::Conn {
                client,
                server,
                local_is_server,
            } => Some(if local_is_server { client } else { server }),
            _ => None,
        }
    }

    fn client(self) -> Option<End> {
        match self {
            Tuple::Conn { client, .. } => Some(client),
            _ => None,
        }
    }

    fn server(self) -> Option<End> {
        match self {
            Tuple::Conn { server, .. } | Tuple::Server(server) => Some(server),
            Tuple::NoRole => None,
        }
    }
}

/// `ip` shown as IPv4 when it is IPv4-mapped and the fd is `ipv4`.
fn shown(v4: bool, (ip, port): End) -> End {
    match ip {
        IpAddr::V6(v6) if v4 => (v6.to_ipv4_mapped().map_or(ip, IpAddr::V4), port),
        _ => (ip, port),
    }
}

fn is_ip(kind: Option<u8>) -> bool {
    matches!(kind, Some(fd_kind::IPV4 | fd_kind::IPV6))
}

/// The call creates the fd it returns (so a failed one has no fd).
fn creates_fd(call: NetCall) -> bool {
    matches!(call, NetCall::Socket | NetCall::Accept | NetCall::Accept4)
}

impl NetFd {
    /// The fd exists after the call: not a failed socket/accept.
    fn has_fd(&self) -> bool {
        !(creates_fd(self.call) && self.ret < 0)
    }

    fn tuple(&self) -> Option<Tuple> {
        if !self.has_fd() || !is_ip(self.fd.kind) {
            return None;
        }
        if self.call == NetCall::Socket {
            return Some(Tuple::NoRole);
        }
        let sock = self.fd.sock?;
        let ends = sock.ends?;
        let v4 = self.fd.kind == Some(fd_kind::IPV4);
        let local = shown(v4, ends.local);
        let remote = match &self.addr {
            Some(Peer::Inet(ip, port)) if self.call.sends() || self.call.receives() => {
                shown(v4, (*ip, *port))
            }
            _ => shown(v4, ends.remote),
        };
        let has_peer = remote.1 != 0 || !remote.0.is_unspecified();
        let server_side = sock.bound_port
            || matches!(self.call, NetCall::Accept | NetCall::Accept4)
            || sock.state == TCP_LISTEN;
        Some(match (has_peer, server_side) {
            (false, true) => Tuple::Server(local),
            (false, false) => Tuple::NoRole,
            (true, true) => Tuple::Conn {
                client: remote,
                server: local,
                local_is_server: true,
            },
            (true, false) => Tuple::Conn {
                client: local,
                server: remote,
                local_is_server: false,
            },
        })
    }

    /// `fd.num`: the new fd of a call that makes one (-1 when it failed), else the fd
    /// argument.
    fn fd_num(&self) -> i64 {
        match self.call {
            NetCall::Socket
            | NetCall::Accept
            | NetCall::Accept4
            | NetCall::Dup
            | NetCall::Dup2
            | NetCall::Dup3 => self.ret.max(-1),
            _ => i64::from(self.args[0] as i32),
        }
    }

    fn l4proto(&self, tuple: Option<Tuple>) -> Option<&'static str> {
        if !self.has_fd() {
            return None;
        }
        if !is_ip(self.fd.kind) {
            // Falco's literal for an fd that is no IP socket.
            return self.fd.kind.map(|_| "<NA>");
        }
        if matches!(tuple, Some(Tuple::NoRole)) {
            return Some("<NA>");
        }
        if matches!(self.call, NetCall::Accept | NetCall::Accept4) {
            return Some("tcp");
        }
        let sock = self.fd.sock?;
        Some(match (sock.sock_type, sock.protocol) {
            (SOCK_RAW, _) => "raw",
            (_, IPPROTO_TCP) => "tcp",
            (_, IPPROTO_UDP) => "udp",
            (_, IPPROTO_ICMP | IPPROTO_ICMPV6) => "icmp",
            _ => "<NA>",
        })
    }

    fn connected(&self) -> Option<bool> {
        if !self.has_fd() {
            return None;
        }
        let kernel = self.fd.sock.is_some_and(|s| s.state == TCP_ESTABLISHED);
        Some(match self.call {
            NetCall::Socket => false,
            NetCall::Accept | NetCall::Accept4 => true,
            NetCall::Dup | NetCall::Dup2 | NetCall::Dup3 | NetCall::Listen => {
                self.fd.kind?;
                kernel
            }
            // The definition the kernel's prefilter decides on.
            NetCall::Sendto | NetCall::Sendmsg | NetCall::Recvfrom | NetCall::Recvmsg => {
                lanner_common::prefilter::io_connected(
                    self.ret,
                    self.fd.kind.unwrap_or(fd_kind::NONE),
                    self.fd.sock.map(|s| s.state),
                )
            }
        })
    }

    fn name_changed(&self) -> Option<bool> {
        if !self.has_fd() {
            return None;
        }
        Some(match self.call {
            NetCall::Accept | NetCall::Accept4 => true,
            NetCall::Sendto | NetCall::Sendmsg | NetCall::Recvfrom | NetCall::Recvmsg => {
                self.ret >= 0
                    && is_ip(self.fd.kind)
                    && self.l4proto(self.tuple()) != Some("tcp")
                    && matches!(self.addr, Some(Peer::Inet(..)))
                    && self.fd.sock.is_some_and(|s| s.state != TCP_ESTABLISHED)
            }
            _ => false,
        })
    }

    /// `fd.name`: `cip:cport->sip:sport`, `ip:port` for a server without a peer, `""` for a
    /// socket without a role (and for a failed socket/accept, as Falco has it); missing for
    /// other kinds, whose names are not read.
    pub(super) fn name(&self) -> Option<String> {
        if !self.has_fd() || self.call == NetCall::Socket {
            return Some(String::new());
        }
        Some(match self.tuple()? {
            Tuple::NoRole => String::new(),
            Tuple::Server((ip, port)) => format!("{ip}:{port}"),
            Tuple::Conn { client, server, .. } => {
                format!("{}:{}->{}:{}", client.0, client.1, server.0, server.1)
            }
        })
    }
}

impl NetFd {
    /// The tag of an fd parameter: the kind's letter, then the L4 protocol's for IP sockets
    /// (`4t`, `u`).
    pub(super) fn tag(&self) -> Option<String> {
        let (typechar, _) = KINDS.get(usize::from(self.fd.kind?))?;
        let l4 = match self.l4proto(self.tuple()) {
            Some("tcp") => "t",
            Some("udp") => "u",
            Some("raw") => "r",
            _ => "",
        };
        Some(format!("{typechar}{l4}"))
    }
}

impl<'a> EventView<'a> {
    pub(super) fn net_fd(&self) -> Option<&'a NetFd> {
        match &self.ev.event.body {
            Body::NetFd(n) => Some(n),
            _ => None,
        }
    }

    /// recvfrom's data (`evt.buffer`).
    pub(super) fn net_fd_data(&self) -> Option<&'a [u8]> {
        self.net_fd()?.data.as_deref()
    }

    pub(super) fn net_fd_field(&self, n: &'a NetFd, field: Field) -> Option<Value<'_>> {
        let kind = || KINDS.get(usize::from(n.fd.kind?)).copied();
        let tuple = || n.tuple();
        let ip = |e: End| Value::Ip(e.0);
        let port = |e: End| Value::Uint(u64::from(e.1));
        Some(match field {
            Field::FdNum => int(n.fd_num()),
            Field::FdName => s(self.fd_name()?),
            Field::FdType => s(kind()?.1),
            Field::FdTypechar => s(kind()?.0),
            Field::FdSockfamily => s(match n.fd.kind? {
                fd_kind::IPV4 | fd_kind::IPV6 => "ip",
                fd_kind::UNIX => "unix",
                _ => return None,
            }),
            Field::FdL4proto => s(n.l4proto(tuple())?),
            Field::FdConnected => Value::Bool(n.connected()?),
            Field::FdNameChanged => Value::Bool(n.name_changed()?),
            Field::FdCip => ip(tuple()?.client()?),
            Field::FdSip => ip(tuple()?.server()?),
            Field::FdLip => ip(tuple()?.local()?),
            Field::FdRip => ip(tuple()?.remote()?),
            Field::FdCport => port(tuple()?.client()?),
            Field::FdSport => port(tuple()?.server()?),
            Field::FdLport => port(tuple()?.local()?),
            Field::FdRport => port(tuple()?.remote()?),
            _ => return None,
        })
    }
}
