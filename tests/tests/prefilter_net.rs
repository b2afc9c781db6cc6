//! The in-kernel prefilter on the network family and connect (see `prefilter.rs` for the
//! opens): the kernel decides exactly as the model of its maps (`Maps::admits`) says, on real
//! calls through the real programs.

use std::{ffi::CString, path::Path};

use lanner_rules::{
    EvtType,
    prefilter::{KernelFacts, PathArg},
};
use lanner_tests::{prefilter::*, *};

/// One call of the network family the test makes, and the fd kind the probe will report
/// (`lanner_common::fd_kind`; `None`: the type has no kind dimension, connect).
struct NetCase {
    what: &'static str,
    ty: EvtType,
    call: Box<dyn Fn() -> i64>,
    kind: Box<dyn Fn(i64) -> Option<u8>>,
}

/// A syscall's result as the kernel returns it: the value or -errno.
fn res(r: i64) -> i64 {
    if r < 0 { -i64::from(last_errno()) } else { r }
}

fn socket(domain: i32, ty: i32) -> i32 {
    // SAFETY: plain arguments.
    unsafe { libc::socket(domain, ty, 0) }
}

fn close(fd: i64) {
    if fd >= 0 {
        // SAFETY: an fd this test opened.
        unsafe { libc::close(fd as i32) };
    }
}

fn unix_addr(path: &Path) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as u16;
    for (d, s) in a.sun_path.iter_mut().zip(path.to_str().unwrap().bytes()) {
        *d = s as libc::c_char;
    }
    (
        a,
        std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
    )
}

/// Case `i` is made `2^i` times by a thread with a comm of its own, which the rules name: the
/// calls the kernel lets through, read from `lanner_events_total`, tell exactly which cases it
/// admitted, and that must be what `Maps::admits` says of each (the fd's kind, the result, the
/// task), on the maps built from the same rules.
#[test]
fn the_kernel_decides_the_network_calls_as_the_model_of_its_maps() {
    use lanner_common::{fd_kind, prefilter::FLAG_CONNECTED};
    let dir = TempDir::new("pfn");
    let comm = unique_comm("pn");
    let who = format!("proc.name = {comm}");
    let text = [
        rule(
            "PF socket",
            &format!("evt.type = socket and {who} and fd.typechar = 4"),
        ),
        rule(
            "PF dup",
            &format!("evt.type in (dup, dup2) and {who} and fd.type = ipv6 and fd.num >= 0"),
        ),
        // No failure admitted: dup3 is decided at entry on newfd (`USES_FAILURES`).
        rule(
            "PF dup3",
            &format!("evt.type = dup3 and {who} and fd.type = ipv6 and evt.rawres in (300, 301)"),
        ),
        rule(
            "PF listen",
            &format!("evt.type = listen and {who} and evt.res = SUCCESS and fd.typechar = u"),
        ),
        rule(
            "PF connect",
            &format!("evt.type = connect and {who} and evt.failed = true"),
        ),
        rule(
            "PF sendto",
            &format!("evt.type = sendto and {who} and fd.connected = false and fd.typechar = 4"),
        ),
    ]
    .concat();
    let rules = dir.path().join("rules.yaml");
    replace_file(&rules, &text);
    let maps = model_maps(&text);

    // The fds the calls use, made before the thread takes the rules' comm.
    let v4 = socket(libc::AF_INET, libc::SOCK_STREAM);
    let v6 = socket(libc::AF_INET6, libc::SOCK_STREAM);
    let file = {
        let c = CString::new(dir.path().join("f").to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        unsafe { libc::open(c.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600) }
    };
    let listener = socket(libc::AF_UNIX, libc::SOCK_STREAM);
    let (addr, len) = unix_addr(&dir.path().join("l.sock"));
    // SAFETY: a valid address of `len` bytes.
    let bound = unsafe { libc::bind(listener, (&raw const addr).cast(), len) };
    let udp = socket(libc::AF_INET, libc::SOCK_DGRAM);
    let lost = socket(libc::AF_UNIX, libc::SOCK_STREAM);
    let (unsent, sender) = (
        socket(libc::AF_INET, libc::SOCK_STREAM),
        socket(libc::AF_INET, libc::SOCK_DGRAM),
    );
    assert!(
        [v4, v6, file, listener, bound, udp, lost, unsent, sender]
            .iter()
            .all(|&r| r >= 0)
    );
    let (nowhere, nowhere_len) = unix_addr(&dir.path().join("nobody.sock"));
    // SAFETY: all-zero is a valid sockaddr_in; then 127.0.0.1:9.
    let mut local: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    local.sin_family = libc::AF_INET as u16;
    local.sin_port = 9u16.to_be();
    local.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
    let local_len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

    // A new fd of kind `k`, or none when the call failed.
    let kind_unless_failed = |k| {
        Box::new(move |ret: i64| Some(if ret < 0 { fd_kind::NONE } else { k }))
            as Box<dyn Fn(i64) -> Option<u8>>
    };
    let fixed = |k| Box::new(move |_| Some(k)) as Box<dyn Fn(i64) -> Option<u8>>;
    let new_socket = |domain, ty| {
        Box::new(move || {
            let fd = res(i64::from(socket(domain, ty)));
            close(fd);
            fd
        }) as Box<dyn Fn() -> i64>
    };
    let dup_of = |fd: i32| {
        Box::new(move || {
            // SAFETY: an fd of this test.
            let r = res(i64::from(unsafe { libc::dup(fd) }));
            close(r);
            r
        }) as Box<dyn Fn() -> i64>
    };
    let dup3_of = |fd: i32, newfd: i32, flags: i32| {
        Box::new(move || {
            // SAFETY: fds of this test (newfd is none of the process's own).
            let r = res(i64::from(unsafe { libc::dup3(fd, newfd, flags) }));
            close(r);
            r
        }) as Box<dyn Fn() -> i64>
    };
    let cases = [
        NetCase {
            what: "socket(AF_INET)",
            ty: EvtType::Socket,
            call: new_socket(libc::AF_INET, libc::SOCK_STREAM),
            kind: kind_unless_failed(fd_kind::IPV4),
        },
        NetCase {
            what: "socket(AF_INET6)",
            ty: EvtType::Socket,
            call: new_socket(libc::AF_INET6, libc::SOCK_STREAM),
            kind: kind_unless_failed(fd_kind::IPV6),
        },
        NetCase {
            what: "socket(AF_UNIX)",
            ty: EvtType::Socket,
            call: new_socket(libc::AF_UNIX, libc::SOCK_STREAM),
            kind: kind_unless_failed(fd_kind::UNIX),
        },
        NetCase {
            what: "socket(999): EAFNOSUPPORT",
            ty: EvtType::Socket,
            call: new_socket(999, libc::SOCK_STREAM),
            kind: kind_unless_failed(fd_kind::UNKNOWN),
        },
        NetCase {
            what: "dup(an IPv6 socket)",
            ty: EvtType::Dup,
            call: dup_of(v6),
            kind: fixed(fd_kind::IPV6),
        },
        NetCase {
            what: "dup(an IPv4 socket)",
            ty: EvtType::Dup,
            call: dup_of(v4),
            kind: fixed(fd_kind::IPV4),
        },
        NetCase {
            what: "dup2(a file, 200)",
            ty: EvtType::Dup2,
            call: Box::new(move || {
                // SAFETY: fds of this test.
                let r = res(i64::from(unsafe { libc::dup2(file, 200) }));
                close(r);
                r
            }),
            kind: fixed(fd_kind::FILE),
        },
        NetCase {
            what: "dup3(an IPv6 socket, 300)",
            ty: EvtType::Dup3,
            call: dup3_of(v6, 300, libc::O_CLOEXEC),
            kind: fixed(fd_kind::IPV6),
        },
        NetCase {
            what: "dup3(an IPv6 socket, 302): dropped at entry",
            ty: EvtType::Dup3,
            call: dup3_of(v6, 302, 0),
            kind: fixed(fd_kind::IPV6),
        },
        NetCase {
            what: "dup3(an IPv6 socket, 301, bad flags): EINVAL",
            ty: EvtType::Dup3,
            call: dup3_of(v6, 301, 0x4000_0000),
            kind: kind_unless_failed(fd_kind::IPV6),
        },
        NetCase {
            what: "listen(a bound unix socket)",
            ty: EvtType::Listen,
            // SAFETY: an fd of this test.
            call: Box::new(move || res(i64::from(unsafe { libc::listen(listener, 8) }))),
            kind: fixed(fd_kind::UNIX),
        },
        NetCase {
            what: "listen(an IPv4 socket)",
            ty: EvtType::Listen,
            // SAFETY: an fd of this test.
            call: Box::new(move || res(i64::from(unsafe { libc::listen(v4, 8) }))),
            kind: fixed(fd_kind::IPV4),
        },
        NetCase {
            what: "connect(a unix socket to nowhere): ENOENT",
            ty: EvtType::Connect,
            call: Box::new(move || {
                // SAFETY: a valid address of its length.
                let r = unsafe { libc::connect(lost, (&raw const nowhere).cast(), nowhere_len) };
                res(i64::from(r))
            }),
            kind: Box::new(|_| None),
        },
        NetCase {
            what: "connect(UDP to 127.0.0.1:9)",
            ty: EvtType::Connect,
            call: Box::new(move || {
                // SAFETY: a valid address of its length.
                let r = unsafe { libc::connect(udp, (&raw const local).cast(), local_len) };
                res(i64::from(r))
            }),
            kind: Box::new(|_| None),
        },
        NetCase {
            what: "sendto(an unconnected UDP socket, 127.0.0.1:9): connected",
            ty: EvtType::Sendto,
            call: Box::new(move || {
                // SAFETY: a valid buffer and address of their lengths.
                let r = unsafe {
                    libc::sendto(
                        sender,
                        b"x".as_ptr().cast(),
                        1,
                        0,
                        (&raw const local).cast(),
                        local_len,
                    )
                };
                res(r as i64)
            }),
            kind: fixed(fd_kind::IPV4),
        },
        NetCase {
            what: "sendto(an unconnected TCP socket): EPIPE, not connected",
            ty: EvtType::Sendto,
            call: Box::new(move || {
                // SAFETY: a valid buffer of its length, no address.
                let r = unsafe {
                    libc::sendto(
                        unsent,
                        b"x".as_ptr().cast(),
                        1,
                        libc::MSG_NOSIGNAL,
                        std::ptr::null(),
                        0,
                    )
                };
                res(r as i64)
            }),
            kind: fixed(fd_kind::IPV4),
        },
    ];

    let mut s = Sensor::launch(Launch {
        args: &["-r", rules.to_str().unwrap()],
        alerts_only: true,
        ..Launch::default()
    });
    s.wait_ready();
    let kinds = [
        "lanner_events_total{kind=\"net_fd\"} ",
        "lanner_events_total{kind=\"connect\"} ",
    ];
    let count = || kinds.iter().map(|k| metric(&s, k) as u64).sum::<u64>();
    let before = count();
    let own = thread_comm();
    let (mut expected, mut said) = (0u64, Vec::new());
    set_comm(&comm);
    for (i, c) in cases.iter().enumerate() {
        let mut ret = 0;
        for _ in 0..1u64 << i {
            ret = (c.call)();
        }
        let facts = KernelFacts {
            comm: KernelFacts::comm_of(comm.as_bytes()),
            // SAFETY: no arguments.
            uid: unsafe { libc::getuid() },
            path: PathArg::Absent,
            ret: Some(ret),
            kind: (c.kind)(ret),
            // `fd.connected` of a send: succeeded on an IP socket, or established (none of
            // this test's sockets is).
            flags: (c.ty == EvtType::Sendto).then_some(if ret >= 0 { FLAG_CONNECTED } else { 0 }),
            l4: None,
            server: None,
            client: None,
        };
        let admits = maps.admits(c.ty, &facts);
        said.push(format!("{} ret {ret}: {admits}", c.what));
        if admits {
            expected += 1 << i;
        }
    }
    set_comm(&own);
    for fd in [v4, v6, file, listener, udp, lost, unsent, sender] {
        close(i64::from(fd));
    }
    let got = settled(expected, || count() - before);
    assert_eq!(
        got, expected,
        "the kernel let through {got:#b}, the model says {expected:#b}\nthe model: {said:#?}"
    );
    assert!(
        expected != 0 && expected != (1 << cases.len()) - 1,
        "{said:#?}"
    );
    s.stop();
}

/// An IPv4 socket address.
fn sockaddr_v4(ip: [u8; 4], port: u16) -> libc::sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    a.sin_family = libc::AF_INET as u16;
    a.sin_port = port.to_be();
    a.sin_addr.s_addr = u32::from_be_bytes(ip).to_be();
    a
}

/// What a connect of a new socket of `ty` to `to` returned, and the socket's local end as the
/// kernel then has it (`getsockname`: `0.0.0.0:0` where it bound none).
fn connect_new(ty: i32, to: libc::sockaddr_in) -> (i64, (u32, u16)) {
    let fd = socket(libc::AF_INET, ty | libc::SOCK_NONBLOCK);
    assert!(fd >= 0);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a valid address of its length.
    let ret = res(i64::from(unsafe {
        libc::connect(fd, (&raw const to).cast(), len)
    }));
    let mut local = sockaddr_v4([0; 4], 0);
    let mut local_len = len;
    // SAFETY: a buffer of `local_len` bytes for the address.
    let r = unsafe { libc::getsockname(fd, (&raw mut local).cast(), &mut local_len) };
    assert_eq!(r, 0);
    close(i64::from(fd));
    let ip = u32::from_be(local.sin_addr.s_addr);
    (ret, (ip, u16::from_be(local.sin_port)))
}

/// connect decided on its ends and protocol, as the model of the maps decides: the server's
/// address and port at entry (a loopback connect goes no further), the protocol and the
/// client's end at exit. As above, case `i` is made `2^i` times; the facts the model is given
/// are the address connected to, the socket's type, and its local end after the call.
#[test]
fn the_kernel_decides_connects_on_their_ends_as_the_model_of_its_maps() {
    use lanner_rules::prefilter::facts::l4;
    let dir = TempDir::new("pfc");
    let comm = unique_comm("pc");
    let who = format!("evt.type = connect and proc.name = {comm}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = listener.local_addr().expect("its address").port();
    let text = [
        // The official `outbound` shape: neither end in loopback, not a set of ports.
        rule(
            "PF outbound udp",
            &format!(
                "{who} and fd.net != \"127.0.0.0/8\" and fd.l4proto = udp and not fd.sport in (53, 123)"
            ),
        ),
        rule("PF metadata", &format!("{who} and fd.sip = \"169.254.169.254\"")),
        rule(
            "PF local tcp",
            &format!("{who} and fd.lip = \"127.0.0.1\" and fd.l4proto = tcp and fd.rport = {port}"),
        ),
    ]
    .concat();
    let rules = dir.path().join("rules.yaml");
    replace_file(&rules, &text);
    let maps = model_maps(&text);
    let (udp, tcp) = (libc::SOCK_DGRAM, libc::SOCK_STREAM);
    // A TEST-NET-1 address: routed (or not) like any outside one, never answering.
    let outside = [192, 0, 2, 1];
    let cases: [(&str, i32, [u8; 4], u16); 7] = [
        ("udp to loopback (dropped at entry)", udp, [127, 0, 0, 1], 9),
        ("udp outside", udp, outside, 9),
        ("udp outside to port 53", udp, outside, 53),
        ("udp to 169.254.169.254", udp, [169, 254, 169, 254], 80),
        ("tcp outside", tcp, outside, 443),
        ("tcp to the local listener", tcp, [127, 0, 0, 1], port),
        // Not a refused TCP connect: the reset may close the socket before connect returns,
        // and then the kernel (as the sensor) sees no local end, where getsockname still has
        // one.
        ("udp to 10.1.2.3", udp, [10, 1, 2, 3], 9),
    ];

    let mut s = Sensor::launch(Launch {
        args: &["-r", rules.to_str().unwrap()],
        alerts_only: true,
        ..Launch::default()
    });
    s.wait_ready();
    let count = || metric(&s, "lanner_events_total{kind=\"connect\"} ") as u64;
    let before = count();
    let own = thread_comm();
    let (mut expected, mut said) = (0u64, Vec::new());
    set_comm(&comm);
    for (i, &(what, ty, ip, port)) in cases.iter().enumerate() {
        let mut last = (0, (0, 0));
        for _ in 0..1u64 << i {
            last = connect_new(ty, sockaddr_v4(ip, port));
        }
        let (ret, client) = last;
        let facts = KernelFacts {
            l4: Some(if ty == tcp { l4::TCP } else { l4::UDP }),
            server: Some((u32::from_be_bytes(ip), port)),
            client: Some(client),
            ret: Some(ret),
            ..KernelFacts::task(
                KernelFacts::comm_of(comm.as_bytes()),
                // SAFETY: no arguments.
                unsafe { libc::getuid() },
            )
        };
        let admits = maps.admits(EvtType::Connect, &facts);
        said.push(format!("{what}: ret {ret}, local {client:?}: {admits}"));
        if admits {
            expected += 1 << i;
        }
    }
    set_comm(&own);
    drop(listener);
    let got = settled(expected, || count() - before);
    assert_eq!(
        got, expected,
        "the kernel let through {got:#b}, the model says {expected:#b}\nthe model: {said:#?}"
    );
    // Loopback is dropped; the listener's connect is kept.
    assert!(expected & 1 == 0 && expected & (1 << 5) != 0, "{said:#?}");
    s.stop();
}
