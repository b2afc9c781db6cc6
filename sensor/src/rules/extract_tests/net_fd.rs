//! `fd.*` and `evt.arg.*` of the network family's calls (socket, dup*, accept*, listen,
//! send*/recv*), over hand-made events as the decoder makes them.

use std::net::IpAddr;

use lanner_common::fd_kind;
use lanner_rules::{Value, prefilter::facts::KINDS};

use super::{enriched, get, in_container, st};
use crate::{
    container::ContainerRef,
    enrich::{Enriched, PodContext},
    event::{Body, Ends, FdInfo, NetCall, NetFd, Peer, SockInfo, TCP_ESTABLISHED, TCP_LISTEN},
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sock(kind: u8, state: u8, proto: u16, bound: bool, local: &str, remote: &str) -> FdInfo {
    let end = |s: &str| {
        let (a, p) = s.rsplit_once(':').unwrap();
        (ip(a.trim_matches(['[', ']'])), p.parse().unwrap())
    };
    FdInfo {
        kind: Some(kind),
        sock: Some(SockInfo {
            family: if local.starts_with('[') { 10 } else { 2 },
            sock_type: if proto == 6 { 1 } else { 2 },
            protocol: proto,
            state,
            bound_port: bound,
            ends: Some(Ends {
                local: end(local),
                remote: end(remote),
            }),
        }),
        read_failed: false,
    }
}

fn tcp(local: &str, remote: &str, bound: bool) -> FdInfo {
    sock(fd_kind::IPV4, TCP_ESTABLISHED, 6, bound, local, remote)
}

fn kind_only(kind: Option<u8>) -> FdInfo {
    FdInfo {
        kind,
        sock: None,
        read_failed: kind.is_none(),
    }
}

fn call(call: NetCall, ret: i64, args: [u64; 3], fd: FdInfo, addr: Option<Peer>) -> Enriched {
    enriched(
        Body::NetFd(NetFd {
            call,
            ret,
            args,
            fd,
            addr,
            addr_truncated: false,
            data: (call == NetCall::Recvfrom).then(|| b"\xca\xfe\xba\xbe\0\0\0\x34".to_vec()),
        }),
        in_container(),
        PodContext::Off,
    )
}

/// A sample of each call, for the availability check.
pub(super) fn samples() -> Vec<Enriched> {
    let shell = tcp("10.0.0.5:40000", "203.0.113.9:4444", false);
    vec![
        call(NetCall::Dup2, 1, [3, 1, 0], shell, None),
        call(
            NetCall::Socket,
            3,
            [17, 3, 768],
            kind_only(Some(fd_kind::UNKNOWN)),
            None,
        ),
        call(
            NetCall::Accept4,
            7,
            [0; 3],
            tcp("10.0.0.5:8080", "198.51.100.7:51000", true),
            None,
        ),
        call(
            NetCall::Sendto,
            5,
            [4, 5, 0],
            sock(fd_kind::IPV4, 7, 17, false, "10.0.0.5:53000", "0.0.0.0:0"),
            Some(Peer::Inet(ip("8.8.8.8"), 53)),
        ),
        call(
            NetCall::Recvfrom,
            8,
            [4, 512, 0],
            sock(fd_kind::IPV4, 1, 6, false, "10.0.0.5:53000", "8.8.8.8:80"),
            None,
        ),
    ]
}

fn is_ip(e: &Enriched, f: &str, v: &str) {
    assert_eq!(get(e, f), Some(Value::Ip(ip(v))), "{f}");
}

fn is_port(e: &Enriched, f: &str, v: u64) {
    assert_eq!(get(e, f), Some(Value::Uint(v)), "{f}");
}

/// The probes report kinds by their index in the prefilter's table, which renders
/// `fd.typechar`/`fd.type`: the two numberings are one.
#[test]
fn the_probes_kinds_are_the_prefilters() {
    for (k, typechar, ty) in [
        (fd_kind::FILE, "f", "file"),
        (fd_kind::DIRECTORY, "d", "directory"),
        (fd_kind::IPV4, "4", "ipv4"),
        (fd_kind::IPV6, "6", "ipv6"),
        (fd_kind::UNIX, "u", "unix"),
        (fd_kind::PIPE, "p", "pipe"),
        (fd_kind::NETLINK, "n", "netlink"),
        (fd_kind::UNKNOWN, "o", "<NA>"),
    ] {
        assert_eq!(KINDS[usize::from(k)], (typechar, ty));
    }
    assert_eq!(usize::from(fd_kind::NONE), KINDS.len());
}

/// The reverse shell: `sh` dup2's its TCP connection to a listener onto stdin. The new fd is
/// the socket, seen from this side: the client.
#[test]
fn dup2_of_a_connected_tcp_socket_is_its_connection() {
    let e = call(
        NetCall::Dup2,
        0,
        [3, 0, 0],
        tcp("10.0.0.5:40000", "203.0.113.9:4444", false),
        None,
    );
    assert_eq!(get(&e, "evt.type"), st("dup2"));
    assert_eq!(get(&e, "evt.rawres"), Some(Value::Int(0)));
    assert_eq!(get(&e, "fd.num"), Some(Value::Int(0)));
    assert_eq!(get(&e, "fd.type"), st("ipv4"));
    assert_eq!(get(&e, "fd.typechar"), st("4"));
    assert_eq!(get(&e, "fd.sockfamily"), st("ip"));
    assert_eq!(get(&e, "fd.l4proto"), st("tcp"));
    assert_eq!(get(&e, "fd.name"), st("10.0.0.5:40000->203.0.113.9:4444"));
    assert_eq!(get(&e, "fd.connected"), Some(Value::Bool(true)));
    assert_eq!(get(&e, "fd.name_changed"), Some(Value::Bool(false)));
    is_ip(&e, "fd.cip", "10.0.0.5");
    is_ip(&e, "fd.lip", "10.0.0.5");
    is_ip(&e, "fd.sip", "203.0.113.9");
    is_ip(&e, "fd.rip", "203.0.113.9");
    is_port(&e, "fd.lport", 40000);
    is_port(&e, "fd.cport", 40000);
    is_port(&e, "fd.rport", 4444);
    is_port(&e, "fd.sport", 4444);
    assert_eq!(get(&e, "evt.arg.oldfd"), st("3"));
    assert_eq!(get(&e, "evt.arg.newfd"), st("0"));
    assert_eq!(get(&e, "evt.args"), st("res=0 oldfd=3 newfd=0"));
}

/// A bind shell: the accepted socket dup'd onto stdout is the server side.
#[test]
fn dup_of_an_accepted_socket_is_the_server_side() {
    let e = call(
        NetCall::Dup3,
        1,
        [5, 1, 0o2000000],
        tcp("10.0.0.5:4444", "198.51.100.7:51000", true),
        None,
    );
    assert_eq!(get(&e, "fd.name"), st("198.51.100.7:51000->10.0.0.5:4444"));
    is_ip(&e, "fd.cip", "198.51.100.7");
    is_ip(&e, "fd.sip", "10.0.0.5");
    is_ip(&e, "fd.lip", "10.0.0.5");
    is_port(&e, "fd.lport", 4444);
    is_port(&e, "fd.rport", 51000);
    assert_eq!(get(&e, "evt.arg.flags"), st("O_CLOEXEC"));
}

#[test]
fn dup_of_a_pipe_a_unix_socket_or_an_unreadable_fd() {
    let pipe = call(
        NetCall::Dup2,
        1,
        [4, 1, 0],
        kind_only(Some(fd_kind::PIPE)),
        None,
    );
    assert_eq!(get(&pipe, "fd.type"), st("pipe"));
    assert_eq!(get(&pipe, "fd.typechar"), st("p"));
    assert_eq!(get(&pipe, "fd.name"), None, "a pipe's name is not read");
    assert_eq!(get(&pipe, "fd.l4proto"), st("<NA>"));
    assert_eq!(get(&pipe, "fd.sockfamily"), None);
    assert_eq!(get(&pipe, "fd.connected"), Some(Value::Bool(false)));
    assert_eq!(get(&pipe, "fd.sip"), None);

    let mut unix = kind_only(Some(fd_kind::UNIX));
    unix.sock = Some(SockInfo {
        family: 1,
        sock_type: 1,
        protocol: 0,
        state: TCP_ESTABLISHED,
        bound_port: false,
        ends: None,
    });
    let unix = call(NetCall::Dup2, 1, [4, 1, 0], unix, None);
    assert_eq!(get(&unix, "fd.type"), st("unix"));
    assert_eq!(get(&unix, "fd.sockfamily"), st("unix"));
    assert_eq!(get(&unix, "fd.connected"), Some(Value::Bool(true)));
    assert_eq!(get(&unix, "fd.sip"), None);

    // A failed dup: Falco's fd is still the old one; there is no new fd.
    let bad = call(NetCall::Dup, -9, [99, 0, 0], kind_only(None), None);
    assert_eq!(get(&bad, "evt.res"), st("EBADF"));
    assert_eq!(get(&bad, "fd.num"), Some(Value::Int(-1)));
    assert_eq!(get(&bad, "fd.type"), None);
    assert_eq!(get(&bad, "fd.connected"), None);
}

/// A packet socket: its kind comes from the domain argument, as in Falco, and it has no role.
#[test]
fn socket_of_af_packet() {
    let e = call(
        NetCall::Socket,
        3,
        [17, 3, 768],
        kind_only(Some(fd_kind::UNKNOWN)),
        None,
    );
    assert_eq!(get(&e, "evt.type"), st("socket"));
    assert_eq!(get(&e, "evt.arg.domain"), st("AF_PACKET"));
    assert_eq!(get(&e, "evt.rawarg.domain"), Some(Value::Int(17)));
    assert_eq!(get(&e, "evt.arg.type"), st("3"));
    assert_eq!(get(&e, "evt.arg.proto"), st("768"));
    assert_eq!(
        get(&e, "evt.args"),
        st("fd=<o> domain=AF_PACKET type=3 proto=768")
    );
    assert_eq!(get(&e, "fd.num"), Some(Value::Int(3)));
    assert_eq!(get(&e, "fd.name"), st(""));
    assert_eq!(get(&e, "fd.type"), st("<NA>"));
    assert_eq!(get(&e, "fd.typechar"), st("o"));
    assert_eq!(get(&e, "fd.l4proto"), st("<NA>"));
    assert_eq!(get(&e, "fd.connected"), Some(Value::Bool(false)));
    assert_eq!(get(&e, "fd.lport"), None);

    let inet = call(
        NetCall::Socket,
        4,
        [2, 1, 0],
        kind_only(Some(fd_kind::IPV4)),
        None,
    );
    assert_eq!(get(&inet, "fd.type"), st("ipv4"));
    assert_eq!(get(&inet, "fd.l4proto"), st("<NA>"), "no role yet");
    assert_eq!(get(&inet, "fd.sip"), None);
    let failed = call(NetCall::Socket, -97, [2, 1, 0], kind_only(None), None);
    assert_eq!(get(&failed, "fd.num"), Some(Value::Int(-1)));
    assert_eq!(get(&failed, "fd.name"), st(""));
    assert_eq!(get(&failed, "evt.arg.fd"), st("EAFNOSUPPORT"));
}

#[test]
fn accept_and_listen_are_the_server_side() {
    let e = call(
        NetCall::Accept4,
        7,
        [0; 3],
        tcp("192.0.2.2:8080", "198.51.100.7:51000", true),
        None,
    );
    assert_eq!(get(&e, "fd.num"), Some(Value::Int(7)));
    assert_eq!(get(&e, "fd.name"), st("198.51.100.7:51000->192.0.2.2:8080"));
    assert_eq!(
        get(&e, "evt.arg.fd"),
        st("<4t>198.51.100.7:51000->192.0.2.2:8080")
    );
    assert_eq!(
        get(&e, "evt.arg.tuple"),
        st("198.51.100.7:51000->192.0.2.2:8080")
    );
    is_ip(&e, "fd.cip", "198.51.100.7");
    is_ip(&e, "fd.sip", "192.0.2.2");
    is_port(&e, "fd.sport", 8080);
    is_port(&e, "fd.lport", 8080);
    is_port(&e, "fd.rport", 51000);
    assert_eq!(get(&e, "fd.connected"), Some(Value::Bool(true)));
    assert_eq!(get(&e, "fd.name_changed"), Some(Value::Bool(true)));

    let failed = call(NetCall::Accept, -11, [0; 3], kind_only(None), None);
    assert_eq!(get(&failed, "fd.num"), Some(Value::Int(-1)));
    assert_eq!(get(&failed, "evt.res"), st("EAGAIN"));
    assert_eq!(get(&failed, "fd.type"), None);
    assert_eq!(get(&failed, "fd.cip"), None);

    let listen = call(
        NetCall::Listen,
        0,
        [6, 511, 0],
        sock(
            fd_kind::IPV4,
            TCP_LISTEN,
            6,
            true,
            "0.0.0.0:8080",
            "0.0.0.0:0",
        ),
        None,
    );
    assert_eq!(get(&listen, "fd.num"), Some(Value::Int(6)));
    assert_eq!(get(&listen, "fd.name"), st("0.0.0.0:8080"));
    is_ip(&listen, "fd.sip", "0.0.0.0");
    is_port(&listen, "fd.sport", 8080);
    assert_eq!(get(&listen, "fd.cip"), None);
    assert_eq!(
        get(&listen, "fd.lip"),
        None,
        "a listening socket has no l/r ends"
    );
    assert_eq!(get(&listen, "fd.connected"), Some(Value::Bool(false)));
    assert_eq!(get(&listen, "fd.l4proto"), st("tcp"));
    assert_eq!(get(&listen, "evt.arg.backlog"), st("511"));
}

/// Datagrams on an unconnected UDP socket: the peer is the address argument; a successful
/// call marks the fd connected, as Falco's parser does before the rules see it.
#[test]
fn udp_sends_and_receives_name_their_peer() {
    let udp = || sock(fd_kind::IPV4, 7, 17, false, "10.0.0.5:53000", "0.0.0.0:0");
    let sent = call(
        NetCall::Sendto,
        32,
        [5, 32, 0],
        udp(),
        Some(Peer::Inet(ip("8.8.8.8"), 53)),
    );
    assert_eq!(get(&sent, "fd.name"), st("10.0.0.5:53000->8.8.8.8:53"));
    assert_eq!(get(&sent, "fd.l4proto"), st("udp"));
    is_ip(&sent, "fd.sip", "8.8.8.8");
    is_port(&sent, "fd.sport", 53);
    assert_eq!(get(&sent, "fd.connected"), Some(Value::Bool(true)));
    assert_eq!(get(&sent, "fd.name_changed"), Some(Value::Bool(true)));
    assert_eq!(get(&sent, "evt.arg.size"), st("32"));
    assert_eq!(
        get(&sent, "evt.arg.tuple"),
        st("10.0.0.5:53000->8.8.8.8:53")
    );

    let failed = call(
        NetCall::Sendto,
        -101,
        [5, 32, 0],
        udp(),
        Some(Peer::Inet(ip("8.8.8.8"), 53)),
    );
    assert_eq!(get(&failed, "fd.connected"), Some(Value::Bool(false)));
    assert_eq!(get(&failed, "fd.name_changed"), Some(Value::Bool(false)));

    // A UDP server (its port bound) receiving: the sender is the client.
    let server = sock(fd_kind::IPV4, 7, 17, true, "10.0.0.5:53", "0.0.0.0:0");
    let got = call(
        NetCall::Recvfrom,
        40,
        [5, 512, 0],
        server,
        Some(Peer::Inet(ip("198.51.100.7"), 40001)),
    );
    assert_eq!(get(&got, "fd.name"), st("198.51.100.7:40001->10.0.0.5:53"));
    assert_eq!(
        get(&got, "evt.buffer"),
        Some(Value::Bytes(b"\xca\xfe\xba\xbe\0\0\0\x34".to_vec().into()))
    );
    assert_eq!(
        get(&sent, "evt.buffer"),
        None,
        "only recvfrom's data is kept"
    );
    is_ip(&got, "fd.cip", "198.51.100.7");
    is_port(&got, "fd.lport", 53);

    // A send on a connected TCP socket keeps its connection's name.
    let tcp_send = call(
        NetCall::Sendmsg,
        5,
        [3, 0, 0],
        tcp("10.0.0.5:40000", "203.0.113.9:443", false),
        None,
    );
    assert_eq!(
        get(&tcp_send, "fd.name"),
        st("10.0.0.5:40000->203.0.113.9:443")
    );
    assert_eq!(get(&tcp_send, "fd.name_changed"), Some(Value::Bool(false)));
}

/// An IPv6 socket between two IPv4-mapped ends is `ipv4` (the probe says so) and shows IPv4.
#[test]
fn a_mapped_ipv6_pair_shows_as_ipv4() {
    let e = call(
        NetCall::Accept,
        7,
        [0; 3],
        sock(
            fd_kind::IPV4,
            TCP_ESTABLISHED,
            6,
            true,
            "[::ffff:192.0.2.2]:80",
            "[::ffff:198.51.100.7]:5000",
        ),
        None,
    );
    assert_eq!(get(&e, "fd.type"), st("ipv4"));
    assert_eq!(get(&e, "fd.name"), st("198.51.100.7:5000->192.0.2.2:80"));
    is_ip(&e, "fd.cip", "198.51.100.7");
    let v6 = call(
        NetCall::Accept,
        7,
        [0; 3],
        sock(
            fd_kind::IPV6,
            TCP_ESTABLISHED,
            6,
            true,
            "[2001:db8::1]:80",
            "[2001:db8::7]:5000",
        ),
        None,
    );
    assert_eq!(get(&v6, "fd.type"), st("ipv6"));
    assert_eq!(get(&v6, "fd.name"), st("2001:db8::7:5000->2001:db8::1:80"));
    assert_eq!(
        get(&v6, "evt.arg.fd"),
        st("<6t>2001:db8::7:5000->2001:db8::1:80")
    );
}

/// On the host too: the call decides, not the container.
#[test]
fn the_family_has_no_container_specific_fields() {
    let mut e = samples().remove(0);
    e.ctx.container = ContainerRef::Host;
    assert_eq!(get(&e, "container.id"), st("host"));
    assert_eq!(get(&e, "fd.type"), st("ipv4"));
}
