//! `fd.*` and the connect's `evt.arg.*`.

use std::net::IpAddr;

use lanner_rules::{EventSource, EvtType, Value};

use super::{EPOCH, enriched, get, st};
use crate::{
    container::ContainerRef,
    enrich::{Enriched, PodContext},
    event::{Body, Connect, L4, Peer},
    rules::extract::EventView,
};

fn connect(ret: i64, peer: Peer, local: Option<(IpAddr, u16)>, l4: Option<L4>) -> Enriched {
    enriched(
        Body::Connect(Connect {
            ret,
            fd: 5,
            peer,
            local,
            l4,
        }),
        ContainerRef::Host,
        PodContext::Host,
    )
}

/// A connected IPv4 TCP socket (for tests across event kinds).
pub(super) fn sample_connect() -> Enriched {
    connect(
        0,
        Peer::Inet(ip("10.0.0.1"), 443),
        Some((ip("10.1.0.5"), 40000)),
        Some(L4::Tcp),
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn connect_ipv4_tcp() {
    let e = connect(
        -115,
        Peer::Inet(ip("93.184.216.34"), 443),
        Some((ip("10.0.0.5"), 43512)),
        Some(L4::Tcp),
    );
    assert_eq!(EventView::new(&e, EPOCH).evt_type(), EvtType::Connect);
    assert_eq!(get(&e, "evt.res"), st("EINPROGRESS"));
    assert_eq!(get(&e, "fd.num"), Some(Value::Int(5)));
    assert_eq!(get(&e, "fd.name"), st("10.0.0.5:43512->93.184.216.34:443"));
    assert_eq!(get(&e, "fd.type"), st("ipv4"));
    assert_eq!(get(&e, "fd.typechar"), st("4"));
    assert_eq!(get(&e, "fd.sockfamily"), st("ip"));
    assert_eq!(get(&e, "fd.l4proto"), st("tcp"));
    assert_eq!(get(&e, "fd.connected"), Some(Value::Bool(true)));
    assert_eq!(get(&e, "fd.name_changed"), Some(Value::Bool(false)));
    for (f, v) in [
        ("fd.cip", "10.0.0.5"),
        ("fd.lip", "10.0.0.5"),
        ("fd.sip", "93.184.216.34"),
        ("fd.rip", "93.184.216.34"),
    ] {
        assert_eq!(get(&e, f), Some(Value::Ip(ip(v))), "{f}");
    }
    assert_eq!(get(&e, "fd.cport"), Some(Value::Uint(43512)));
    assert_eq!(get(&e, "fd.lport"), Some(Value::Uint(43512)));
    assert_eq!(get(&e, "fd.sport"), Some(Value::Uint(443)));
    assert_eq!(get(&e, "fd.rport"), Some(Value::Uint(443)));
    assert_eq!(
        get(&e, "evt.arg.fd"),
        st("<4t>10.0.0.5:43512->93.184.216.34:443")
    );
    assert_eq!(get(&e, "evt.rawarg.fd"), Some(Value::Int(5)));
    assert_eq!(
        get(&e, "evt.arg.tuple"),
        st("10.0.0.5:43512->93.184.216.34:443")
    );
    assert_eq!(get(&e, "evt.arg.addr"), st("93.184.216.34:443"));
    // The engine answers these from the c/s/l/r fields.
    for f in [
        "fd.ip",
        "fd.port",
        "fd.net",
        "fd.cip.name",
        "fd.directory",
        "fd.filename",
    ] {
        assert_eq!(get(&e, f), None, "{f}");
    }
}

#[test]
fn connect_refused_ipv6_and_mapped_ipv4() {
    let e = connect(
        -111,
        Peer::Inet(ip("2001:db8::1"), 80),
        Some((ip("2001:db8::5"), 5000)),
        Some(L4::Udp),
    );
    assert_eq!(get(&e, "evt.res"), st("ECONNREFUSED"));
    assert_eq!(get(&e, "fd.connected"), Some(Value::Bool(false)));
    assert_eq!(get(&e, "fd.name"), st("2001:db8::5:5000->2001:db8::1:80"));
    assert_eq!(get(&e, "fd.type"), st("ipv6"));
    assert_eq!(
        get(&e, "evt.arg.fd"),
        st("<6u>2001:db8::5:5000->2001:db8::1:80")
    );

    let e = connect(
        0,
        Peer::Inet(ip("::ffff:127.0.0.1"), 80),
        Some((ip("::ffff:127.0.0.1"), 5000)),
        Some(L4::Tcp),
    );
    assert_eq!(get(&e, "fd.name"), st("127.0.0.1:5000->127.0.0.1:80"));
    assert_eq!(get(&e, "fd.type"), st("ipv4"));
    assert_eq!(get(&e, "fd.sip"), Some(Value::Ip(ip("127.0.0.1"))));
}

#[test]
fn connect_unix_and_unknown_addresses() {
    let e = connect(0, Peer::Unix("/var/run/docker.sock".into()), None, None);
    assert_eq!(get(&e, "fd.name"), st("/var/run/docker.sock"));
    assert_eq!(get(&e, "fd.type"), st("unix"));
    assert_eq!(get(&e, "fd.typechar"), st("u"));
    assert_eq!(get(&e, "fd.sockfamily"), st("unix"));
    assert_eq!(get(&e, "fd.l4proto"), st("<NA>"));
    assert_eq!(get(&e, "fd.sip"), None);
    assert_eq!(get(&e, "evt.arg.fd"), st("<u>/var/run/docker.sock"));

    // Local side never bound (the connect failed before a source address was chosen): the
    // socket's unspecified address and port 0, as Falco's driver reads them.
    let e = connect(-101, Peer::Inet(ip("1.2.3.4"), 22), None, Some(L4::Tcp));
    assert_eq!(get(&e, "fd.name"), st("0.0.0.0:0->1.2.3.4:22"));
    assert_eq!(get(&e, "fd.cip"), Some(Value::Ip(ip("0.0.0.0"))));
    assert_eq!(get(&e, "fd.cport"), Some(Value::Uint(0)));
    assert_eq!(get(&e, "fd.sport"), Some(Value::Uint(22)));
    let e = connect(
        -101,
        Peer::Inet(ip("2001:db8::1"), 443),
        None,
        Some(L4::Tcp),
    );
    assert_eq!(get(&e, "fd.name"), st(":::0->2001:db8::1:443"));

    let e = connect(0, Peer::Other(16), None, None);
    for f in ["fd.name", "fd.type", "fd.typechar", "fd.sockfamily"] {
        assert_eq!(get(&e, f), None, "{f}");
    }
    assert_eq!(get(&e, "fd.num"), Some(Value::Int(5)));
    assert_eq!(get(&e, "evt.arg.fd"), st("5"));
}
