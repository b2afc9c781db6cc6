//! connect events (docs/events.md, "connect"). Every connect is made on the test's own
//! thread to a loopback port (or socket path) the test owns.

use lanner_tests::*;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{UnixListener, UnixStream};

/// The connect event made by this thread to server port `sport`.
#[track_caller]
fn wait_connect_port(sensor: &Sensor, sport: u16) -> Value {
    let tid = gettid();
    sensor.wait_for(
        |e| is_type(e, "connect") && e["thread.tid"] == tid && e["fd.sport"] == sport,
        EVENT_TIMEOUT,
    )
}

/// The socket fields of a connect from `ip`:`cport` to `ip`:`sport` on fd `fd`, as Falco
/// names them (IPv6 without brackets).
#[track_caller]
fn assert_ip_tuple(ev: &Value, fd: i32, ip: &str, l4: &str, cport: u16, sport: u16) {
    let v6 = ip.contains(':');
    assert_field(ev, "fd.num", fd);
    assert_field(ev, "fd.sockfamily", "ip");
    assert_field(ev, "fd.typechar", if v6 { "6" } else { "4" });
    assert_field(ev, "fd.type", if v6 { "ipv6" } else { "ipv4" });
    assert_field(ev, "fd.l4proto", l4);
    assert_field(ev, "fd.sip", ip);
    assert_field(ev, "fd.sport", sport);
    assert_field(ev, "fd.cip", ip);
    assert_field(ev, "fd.cport", cport);
    assert_field(ev, "fd.name", format!("{ip}:{cport}->{ip}:{sport}"));
}

fn local_port(fd: i32) -> u16 {
    // SAFETY: zeroed sockaddr_storage is valid; getsockname fills at most len bytes.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of_val(&ss) as libc::socklen_t;
        assert_eq!(libc::getsockname(fd, (&raw mut ss).cast(), &mut len), 0);
        let sin = &*(&raw const ss).cast::<libc::sockaddr_in>();
        u16::from_be(sin.sin_port)
    }
}

/// socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK) + connect to 127.0.0.1:port: (fd, ret, errno).
fn nonblocking_connect(port: u16) -> (i32, i32, i32) {
    // SAFETY: plain socket calls with a properly initialised sockaddr_in.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        assert!(fd >= 0, "socket: errno {}", last_errno());
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = port.to_be();
        sin.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = std::mem::size_of_val(&sin) as libc::socklen_t;
        let r = libc::connect(fd, (&raw const sin).cast(), len);
        (fd, r, if r < 0 { last_errno() } else { 0 })
    }
}

#[test]
fn tcp_blocking_connect_reports_both_endpoints() {
    require_root!();
    let mut sensor = Sensor::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let sport = listener.local_addr().unwrap().port();
    let stream = TcpStream::connect(("127.0.0.1", sport)).unwrap();
    let cport = stream.local_addr().unwrap().port();
    let ev = wait_connect_port(&sensor, sport);
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.rawres", 0);
    assert_field(&ev, "proc.pid", my_pid());
    assert_ip_tuple(&ev, stream.as_raw_fd(), "127.0.0.1", "tcp", cport, sport);
    drop(stream);
    sensor.stop();
}

#[test]
fn tcp_nonblocking_connect_reports_einprogress() {
    require_root!();
    let mut sensor = Sensor::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let sport = listener.local_addr().unwrap().port();
    let (fd, r, errno) = nonblocking_connect(sport);
    assert_eq!(
        (r, errno),
        (-1, libc::EINPROGRESS),
        "non-blocking loopback connect"
    );
    let cport = local_port(fd);
    let ev = wait_connect_port(&sensor, sport);
    assert_field(&ev, "evt.res", "EINPROGRESS");
    assert_field(&ev, "evt.rawres", -115);
    // The kernel binds the local port before connect returns EINPROGRESS, and the sensor
    // reads it at syscall exit: both ends are known.
    assert_ip_tuple(&ev, fd, "127.0.0.1", "tcp", cport, sport);
    // SAFETY: closing our fd.
    unsafe { libc::close(fd) };
    sensor.stop();
}

#[test]
fn failed_connect_reports_econnrefused() {
    require_root!();
    let mut sensor = Sensor::start();
    let sport = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = TcpStream::connect(("127.0.0.1", sport)).expect_err("nobody listens any more");
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
    let ev = wait_connect_port(&sensor, sport);
    assert_field(&ev, "evt.res", "ECONNREFUSED");
    assert_field(&ev, "evt.rawres", -libc::ECONNREFUSED);
    assert_field(&ev, "fd.sip", "127.0.0.1");
    assert_field(&ev, "fd.l4proto", "tcp");
    sensor.stop();
}

#[test]
fn tcp_ipv6_connect_uses_unbracketed_addresses() {
    require_root!();
    let mut sensor = Sensor::start();
    let listener = TcpListener::bind("[::1]:0").expect("IPv6 loopback ::1 must be configured");
    let sport = listener.local_addr().unwrap().port();
    let stream =
        TcpStream::connect(SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], sport))).unwrap();
    let cport = stream.local_addr().unwrap().port();
    let ev = wait_connect_port(&sensor, sport);
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_ip_tuple(&ev, stream.as_raw_fd(), "::1", "tcp", cport, sport);
    sensor.stop();
}

#[test]
fn udp_connect_reports_udp_and_local_port() {
    require_root!();
    let mut sensor = Sensor::start();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sport = server.local_addr().unwrap().port();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cport = client.local_addr().unwrap().port();
    client.connect(("127.0.0.1", sport)).unwrap();
    let ev = wait_connect_port(&sensor, sport);
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_ip_tuple(&ev, client.as_raw_fd(), "127.0.0.1", "udp", cport, sport);
    sensor.stop();
}

#[test]
fn unix_connect_reports_socket_path() {
    require_root!();
    let mut sensor = Sensor::start();
    let dir = TempDir::new("unix");
    let path = dir.path().join("sock");
    let path_s = path.to_string_lossy().into_owned();
    let _listener = UnixListener::bind(&path).unwrap();
    let stream = UnixStream::connect(&path).unwrap();
    let tid = gettid();
    let ev = sensor.wait_for(
        |e| is_type(e, "connect") && e["thread.tid"] == tid && e["fd.name"] == path_s.as_str(),
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.rawres", 0);
    assert_field(&ev, "proc.pid", my_pid());
    assert_field(&ev, "fd.num", stream.as_raw_fd());
    assert_field(&ev, "fd.sockfamily", "unix");
    assert_field(&ev, "fd.typechar", "u");
    assert_field(&ev, "fd.type", "unix");
    assert_field(&ev, "fd.l4proto", "<NA>");
    sensor.stop();
}

#[test]
fn unix_abstract_connect_name_starts_with_at() {
    require_root!();
    let mut sensor = Sensor::start();
    let name = unique("abstract");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = UnixListener::bind_addr(&addr).unwrap();
    let stream = UnixStream::connect_addr(&addr).unwrap();
    let want = format!("@{name}");
    let tid = gettid();
    let ev = sensor.wait_for(
        |e| is_type(e, "connect") && e["thread.tid"] == tid && e["fd.name"] == want.as_str(),
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "fd.num", stream.as_raw_fd());
    assert_field(&ev, "fd.sockfamily", "unix");
    assert_field(&ev, "fd.typechar", "u");
    sensor.stop();
}
