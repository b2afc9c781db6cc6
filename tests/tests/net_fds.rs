//! The network family's events (docs/events.md, "socket, dup, accept, listen, send and
//! receive"): real calls on the test's own thread, on sockets, pipes and files the test owns,
//! each event found by its thread and its fd numbers.

use lanner_tests::*;
use serde_json::Value;
use std::{
    fs::File,
    net::{TcpListener, TcpStream, UdpSocket},
    os::{
        fd::{AsRawFd, RawFd},
        unix::net::UnixStream,
    },
};

/// The event of type `t` made by this thread that returned `ret`.
#[track_caller]
fn wait_ret(sensor: &Sensor, t: &str, ret: i64) -> Value {
    let tid = gettid();
    let ev = sensor.wait_for(
        |e| is_type(e, t) && e["thread.tid"] == tid && e["evt.rawres"] == ret,
        EVENT_TIMEOUT,
    );
    assert_schema(&ev);
    ev
}

/// The event of type `t` made by this thread on fd `fd` (listen, send, receive).
#[track_caller]
fn wait_on_fd(sensor: &Sensor, t: &str, fd: RawFd) -> Value {
    let tid = gettid();
    let ev = sensor.wait_for(
        |e| is_type(e, t) && e["thread.tid"] == tid && e["fd.num"] == fd,
        EVENT_TIMEOUT,
    );
    assert_schema(&ev);
    ev
}

fn check(r: libc::c_int, what: &str) -> libc::c_int {
    assert!(r >= 0, "{what}: errno {}", last_errno());
    r
}

/// A loopback TCP connection: (listener, client, accepted).
fn tcp_pair() -> (TcpListener, TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (a, _) = l.accept().unwrap();
    (l, c, a)
}

/// The fields of a connected loopback TCP socket seen from the client side.
#[track_caller]
fn assert_client_socket(ev: &Value, c: &TcpStream) {
    let (cport, sport) = (
        c.local_addr().unwrap().port(),
        c.peer_addr().unwrap().port(),
    );
    assert_field(ev, "fd.type", "ipv4");
    assert_field(ev, "fd.typechar", "4");
    assert_field(ev, "fd.sockfamily", "ip");
    assert_field(ev, "fd.l4proto", "tcp");
    assert_field(ev, "fd.connected", true);
    assert_field(
        ev,
        "fd.name",
        format!("127.0.0.1:{cport}->127.0.0.1:{sport}"),
    );
    assert_field(ev, "fd.cip", "127.0.0.1");
    assert_field(ev, "fd.sip", "127.0.0.1");
    assert_field(ev, "fd.lport", cport);
    assert_field(ev, "fd.rport", sport);
    assert_field(ev, "fd.cport", cport);
    assert_field(ev, "fd.sport", sport);
}

#[test]
fn dup_dup2_and_dup3_report_the_new_fds_socket() {
    require_root!();
    let mut sensor = Sensor::start();
    let (_l, c, _a) = tcp_pair();
    let old = c.as_raw_fd();
    // SAFETY: plain fd calls on fds this test owns; every new fd is closed below.
    let (d1, d2, d3) = unsafe {
        let d1 = check(libc::dup(old), "dup");
        let d2 = check(libc::dup2(old, 200), "dup2");
        let d3 = check(libc::dup3(old, 201, libc::O_CLOEXEC), "dup3");
        (d1, d2, d3)
    };
    let ev = wait_ret(&sensor, "dup", i64::from(d1));
    assert_client_socket(&ev, &c);
    assert_field(&ev, "fd.num", d1);
    assert_field(&ev, "evt.arg.oldfd", old.to_string());
    let ev = wait_ret(&sensor, "dup2", 200);
    assert_client_socket(&ev, &c);
    assert_field(&ev, "evt.arg.newfd", "200");
    let ev = wait_ret(&sensor, "dup3", 201);
    assert_client_socket(&ev, &c);
    assert_field(&ev, "evt.arg.flags", "O_CLOEXEC");
    // SAFETY: closing our own fds.
    unsafe {
        for fd in [d1, d2, d3] {
            libc::close(fd);
        }
    }
    sensor.stop();
}

#[test]
fn dup2_tells_pipes_unix_sockets_and_files_apart_and_reports_failures() {
    require_root!();
    let mut sensor = Sensor::start();
    let mut p = [0; 2];
    // SAFETY: pipe writes two fds into the array.
    check(unsafe { libc::pipe(p.as_mut_ptr()) }, "pipe");
    let (u, _u2) = UnixStream::pair().unwrap();
    let f = File::open("/proc/self/status").unwrap();
    let dir = File::open("/").unwrap();
    // SAFETY: dup2 of fds this test owns onto numbers it closes below; dup of a closed fd.
    let bad = unsafe {
        check(libc::dup2(p[0], 210), "dup2 pipe");
        check(libc::dup2(u.as_raw_fd(), 211), "dup2 unix");
        check(libc::dup2(f.as_raw_fd(), 212), "dup2 file");
        check(libc::dup2(dir.as_raw_fd(), 213), "dup2 dir");
        libc::dup2(9_999, 214)
    };
    assert_eq!((bad, last_errno()), (-1, libc::EBADF));
    for (fd, typechar, ty) in [
        (210, "p", "pipe"),
        (211, "u", "unix"),
        (212, "f", "file"),
        (213, "d", "directory"),
    ] {
        let ev = wait_ret(&sensor, "dup2", fd);
        assert_field(&ev, "fd.typechar", typechar);
        assert_field(&ev, "fd.type", ty);
        assert_field(&ev, "fd.num", fd);
        // Names of other fds than IP sockets are not read.
        assert_field(&ev, "fd.name", Value::Null);
        assert_field(&ev, "fd.sip", Value::Null);
        assert_field(&ev, "fd.l4proto", "<NA>");
    }
    let ev = wait_ret(&sensor, "dup2", -9);
    assert_field(&ev, "evt.res", "EBADF");
    assert_field(&ev, "fd.num", -1);
    assert_field(&ev, "evt.arg.oldfd", "9999");
    assert_field(&ev, "fd.type", Value::Null);
    // SAFETY: closing our own fds.
    unsafe {
        for fd in [210, 211, 212, 213, p[0], p[1]] {
            libc::close(fd);
        }
    }
    sensor.stop();
}

#[test]
fn socket_reports_its_domain_type_and_kind() {
    require_root!();
    let mut sensor = Sensor::start();
    // SAFETY: socket calls; the fds are closed below.
    let fds = unsafe {
        [
            check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), "inet"),
            check(libc::socket(libc::AF_INET6, libc::SOCK_STREAM, 0), "inet6"),
            check(libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0), "unix"),
            check(
                libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0x0300),
                "packet",
            ),
        ]
    };
    let expect = [
        ("AF_INET", 2, 2, "4", "ipv4", Some("ip")),
        ("AF_INET6", 10, 1, "6", "ipv6", Some("ip")),
        ("AF_LOCAL|AF_UNIX", 1, 1, "u", "unix", Some("unix")),
        ("AF_PACKET", 17, 3, "o", "<NA>", None),
    ];
    for (fd, (domain, raw, ty, typechar, fdtype, family)) in fds.iter().zip(expect) {
        let ev = wait_ret(&sensor, "socket", i64::from(*fd));
        assert_field(&ev, "evt.arg.domain", domain);
        assert_field(&ev, "evt.rawarg.domain", raw);
        assert_field(&ev, "evt.arg.type", ty.to_string());
        assert_field(&ev, "fd.num", *fd);
        assert_field(&ev, "fd.typechar", typechar);
        assert_field(&ev, "fd.type", fdtype);
        assert_field(
            &ev,
            "fd.sockfamily",
            family.map_or(Value::Null, Value::from),
        );
        assert_field(&ev, "fd.name", "");
        assert_field(&ev, "fd.l4proto", "<NA>");
        assert_field(&ev, "fd.connected", false);
    }
    assert_field(
        &wait_ret(&sensor, "socket", i64::from(fds[3])),
        "evt.arg.proto",
        "768",
    );
    // SAFETY: closing our own fds.
    unsafe {
        for fd in fds {
            libc::close(fd);
        }
    }
    sensor.stop();
}

#[test]
fn listen_and_accept_report_the_server_side() {
    require_root!();
    let mut sensor = Sensor::start();
    let (l, c, a) = tcp_pair();
    let (sport, cport) = (
        l.local_addr().unwrap().port(),
        c.local_addr().unwrap().port(),
    );
    let ev = wait_on_fd(&sensor, "listen", l.as_raw_fd());
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "fd.name", format!("127.0.0.1:{sport}"));
    assert_field(&ev, "fd.sip", "127.0.0.1");
    assert_field(&ev, "fd.sport", sport);
    assert_field(&ev, "fd.cip", Value::Null);
    assert_field(&ev, "fd.l4proto", "tcp");
    assert!(
        field_str(&ev, "evt.arg.backlog").parse::<i32>().is_ok(),
        "backlog\n{ev:#}"
    );
    // Rust's accept is accept4.
    let ev = wait_ret(&sensor, "accept4", i64::from(a.as_raw_fd()));
    assert_field(&ev, "fd.num", a.as_raw_fd());
    assert_field(&ev, "fd.type", "ipv4");
    assert_field(&ev, "fd.l4proto", "tcp");
    assert_field(
        &ev,
        "fd.name",
        format!("127.0.0.1:{cport}->127.0.0.1:{sport}"),
    );
    assert_field(&ev, "fd.cport", cport);
    assert_field(&ev, "fd.sport", sport);
    assert_field(&ev, "fd.lport", sport);
    assert_field(&ev, "fd.rport", cport);
    assert_field(&ev, "fd.connected", true);
    assert_field(&ev, "fd.name_changed", true);
    assert_field(
        &ev,
        "evt.arg.fd",
        format!("<4t>127.0.0.1:{cport}->127.0.0.1:{sport}"),
    );
    sensor.stop();
}

/// sendmsg/recvmsg of one datagram with an address (`name`) in the msghdr.
fn msg(fd: RawFd, send: bool, addr: &mut libc::sockaddr_in, buf: &mut [u8]) -> isize {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: the msghdr points at live locals for the duration of the call.
    unsafe {
        let mut m: libc::msghdr = std::mem::zeroed();
        m.msg_name = (addr as *mut libc::sockaddr_in).cast();
        m.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        m.msg_iov = &mut iov;
        m.msg_iovlen = 1;
        if send {
            libc::sendmsg(fd, &m, 0)
        } else {
            libc::recvmsg(fd, &mut m, 0)
        }
    }
}

#[test]
fn udp_sends_and_receives_report_their_peer() {
    require_root!();
    let mut sensor = Sensor::start();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (sport, cport) = (
        server.local_addr().unwrap().port(),
        client.local_addr().unwrap().port(),
    );
    // sendto/recvfrom.
    client.send_to(b"ping", ("127.0.0.1", sport)).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!((n, from.port()), (4, cport));
    let ev = wait_on_fd(&sensor, "sendto", client.as_raw_fd());
    assert_field(&ev, "evt.rawres", 4);
    assert_field(&ev, "fd.l4proto", "udp");
    assert_field(
        &ev,
        "fd.name",
        format!("127.0.0.1:{cport}->127.0.0.1:{sport}"),
    );
    assert_field(&ev, "fd.sport", sport);
    assert_field(&ev, "evt.arg.size", "4");
    // As Falco: a successful datagram marks the fd connected before the rules see it.
    assert_field(&ev, "fd.connected", true);
    assert_field(&ev, "fd.name_changed", true);
    let ev = wait_on_fd(&sensor, "recvfrom", server.as_raw_fd());
    assert_field(&ev, "evt.rawres", 4);
    assert_field(&ev, "fd.rport", cport);
    assert_field(&ev, "fd.lport", sport);
    assert_field(&ev, "evt.arg.size", "16");
    // What was received: Falco's `evt.buffer` (recvfrom only).
    assert_field(&ev, "evt.buffer", "ping");

    // sendmsg/recvmsg, with the peer in the msghdr.
    let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    to.sin_family = libc::AF_INET as libc::sa_family_t;
    to.sin_port = sport.to_be();
    to.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
    let mut hello = *b"hello";
    assert_eq!(msg(client.as_raw_fd(), true, &mut to, &mut hello), 5);
    let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    assert_eq!(msg(server.as_raw_fd(), false, &mut from, &mut buf), 5);
    let ev = wait_on_fd(&sensor, "sendmsg", client.as_raw_fd());
    assert_field(&ev, "evt.rawres", 5);
    assert_field(&ev, "fd.rport", sport);
    assert_field(&ev, "fd.type", "ipv4");
    let ev = wait_on_fd(&sensor, "recvmsg", server.as_raw_fd());
    assert_field(&ev, "evt.rawres", 5);
    assert_field(&ev, "fd.rport", cport);
    assert_field(
        &ev,
        "evt.arg.tuple",
        format!("127.0.0.1:{sport}->127.0.0.1:{cport}"),
    );

    // A failed send (no address on an unconnected socket): not connected, no new name.
    let lonely = UdpSocket::bind("127.0.0.1:0").unwrap();
    // SAFETY: send of one byte from a live buffer (the sendto syscall on x86-64).
    let r = unsafe { libc::send(lonely.as_raw_fd(), b"x".as_ptr().cast(), 1, 0) };
    assert_eq!((r, last_errno()), (-1, libc::EDESTADDRREQ));
    let ev = wait_on_fd(&sensor, "sendto", lonely.as_raw_fd());
    assert_field(&ev, "evt.res", "EDESTADDRREQ");
    assert_field(&ev, "fd.connected", false);
    assert_field(&ev, "fd.name_changed", false);
    sensor.stop();
}
