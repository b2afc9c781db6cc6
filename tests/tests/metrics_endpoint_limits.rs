//! The metrics endpoint (:9376) under attack by whoever can reach it: thousands of idle TCP
//! connections, a slowloris dripping a header byte a second, an oversized request head. The
//! sensor runs with 1,024 descriptors (a common default limit): it must keep answering
//! `/healthz`, keep its memory, keep alerting on real execs, keep its HTTP sink able to connect
//! out, and close the idle connections itself (docs/outputs.md, "The endpoint's limits").

use std::{
    io::Write,
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use lanner_tests::receivers::FakeFluentd;
use lanner_tests::sinks::fire;
use lanner_tests::tcp::{closed_by_peer, connect_from, get_from, raise_fd_limit};
use lanner_tests::*;

const RULE: &str = "Lanner test endpoint marker";
/// The endpoint's header-read timeout (server.rs `Limits`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const ATTACKERS: usize = 2_000;
const IO: Duration = Duration::from_secs(10);

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// Where the probes and scrapes come from: not an attacker's address.
fn prober() -> IpAddr {
    v4(127, 0, 0, 2)
}

fn rules_file(dir: &TempDir, marker: &str) -> String {
    let path = dir.path().join("endpoint.yaml");
    let text = format!(
        "- rule: {RULE}\n  desc: an exec carrying the test's marker\n  condition: evt.type in (execve, execveat) and proc.cmdline contains {marker}\n  output: endpoint test %proc.cmdline\n  priority: WARNING\n"
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// `n` connections that send nothing, from the addresses `from` gives in turn.
fn idle_connections(addr: SocketAddr, n: usize, from: impl Fn(usize) -> IpAddr) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            connect_from(from(i), addr, IO)
                .unwrap_or_else(|e| panic!("connection {i} of {n} to {addr}: {e}"))
        })
        .collect()
}

/// A client sending a request head one byte a second; how long until the server closed it.
fn slowloris(addr: SocketAddr) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let mut s = connect_from(v4(127, 0, 0, 3), addr, IO).unwrap();
        let started = Instant::now();
        let head = b"GET /metrics HTTP/1.1\r\nHost: lanner\r\nX-Slow: ";
        for b in head.iter().chain(std::iter::repeat(&b'a')) {
            if s.write_all(&[*b]).is_err() || closed_by_peer(&s) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the slowloris is still connected after a minute"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
        unreachable!()
    })
}

/// `/healthz` from the prober, retried until it answers; the answer and how long it took.
fn healthz_within(addr: SocketAddr, limit: Duration) -> ((u16, String), Duration) {
    let t = Instant::now();
    loop {
        match get_from(prober(), addr, "/healthz", Duration::from_secs(3)) {
            Ok(answer) => return (answer, t.elapsed()),
            Err(e) => assert!(
                t.elapsed() < limit,
                "/healthz did not answer within {limit:?}: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value of the sample `series` (name with its labels, as exposed) in `text`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[test]
fn idle_connections_and_a_slowloris_leave_health_alerts_and_the_sink_working() {
    require_root!();
    let limit = raise_fd_limit();
    assert!(
        limit >= 2 * ATTACKERS as u64 + 512,
        "the test needs {} descriptors, has {limit}",
        2 * ATTACKERS + 512
    );
    let fluentd = FakeFluentd::start().unwrap();
    let dir = TempDir::new("endpoint-limits");
    let marker = unique("endpoint");
    let rules = rules_file(&dir, &marker);
    let url = format!("http_output.url=http://{}/falco.alerts", fluentd.addr());
    let mut sensor = Sensor::start_via(
        &["prlimit", "--nofile=1024:1024", "--"],
        &[
            "-r",
            &rules,
            "-o",
            "http_output.enabled=true",
            "-o",
            &url,
            "-o",
            "sinks.backoff_max_seconds=1",
            "-o",
            "sinks.drain_seconds=2",
        ],
    );
    let addr: SocketAddr = sensor.metrics_addr().parse().unwrap();
    fire(&sensor, &marker, 0);
    fluentd.wait_records(1, IO).unwrap();
    let rss_before = sensor.rss_kib();

    // 2,000 idle connections from one address and a slowloris from another.
    let t = Instant::now();
    let idle = idle_connections(addr, ATTACKERS, |_| v4(127, 0, 0, 1));
    // A connect the kernel had to retry (the accept queue full for a moment on a busy host)
    // is accepted late and gets its header-read timeout from then: count from the last one.
    let opened = Instant::now();
    eprintln!("{ATTACKERS} connections opened in {:?}", opened - t);
    let slow = slowloris(addr);
    let ((status, body), took) = healthz_within(addr, Duration::from_secs(5));
    assert_eq!((status, body.as_str()), (200, "ok\n"), "after {took:?}");
    eprintln!("{ATTACKERS} idle connections from one address: /healthz answered in {took:?}");
    // The sink must be able to open a new connection: its receiver restarts (closing the
    // one it had) and the next alert goes through.
    fluentd.restart().unwrap();
    fire(&sensor, &marker, 1);
    let records = fluentd.wait_records(2, Duration::from_secs(20)).unwrap();
    assert!(
        records
            .iter()
            .any(|(_, r)| out_contains(r, "proc.cmdline", &format!("{marker}-001"))),
        "the alert fired under attack reaches the sink"
    );
    let rss = sensor.rss_kib();
    eprintln!("RSS {rss_before} KiB before, {rss} KiB with {ATTACKERS} idle connections");
    assert!(
        rss < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss} KiB with {ATTACKERS} idle connections"
    );

    // The server closes every idle connection itself: at accept (over a cap) or at the
    // header-read timeout. The slowloris too, though it keeps sending.
    std::thread::sleep((HEADER_TIMEOUT + Duration::from_secs(3)).saturating_sub(opened.elapsed()));
    let open = idle.iter().filter(|s| !closed_by_peer(s)).count();
    if open > 0 {
        let metrics = get_from(prober(), addr, "/metrics", IO).map(|(_, t)| t);
        let conns: Vec<String> = metrics
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("lanner_metrics_conn"))
            .map(str::to_string)
            .collect();
        sensor.fail(&format!(
            "{open} idle connections still open after {:?}; /healthz took {took:?}; {conns:#?}",
            opened.elapsed()
        ));
    }
    drop(idle);
    let slow_for = slow.join().unwrap();
    eprintln!("the slowloris was closed after {slow_for:?}");
    assert!(
        slow_for < HEADER_TIMEOUT + Duration::from_secs(3),
        "the slowloris kept its connection for {slow_for:?}"
    );
    // Every one was closed by the server, and counted: at accept, or at the header timeout.
    let (_, text) = get_from(prober(), addr, "/metrics", IO).unwrap();
    let closed = |reason: &str| {
        sample(
            &text,
            &format!("lanner_metrics_connections_closed_total{{reason=\"{reason}\"}}"),
        )
    };
    let (per_peer, timeouts) = (closed("max_per_peer"), closed("header_timeout"));
    assert!(
        per_peer + timeouts >= (ATTACKERS + 1) as f64 && per_peer >= (ATTACKERS / 2) as f64,
        "{per_peer} closed at accept, {timeouts} at the header timeout"
    );
    assert!(
        sample(&text, "lanner_metrics_connections") <= 1.0,
        "only this scrape"
    );

    // 2,000 idle connections from 250 addresses fill every slot: the probe gets in once the
    // header-read timeout frees them.
    let many = idle_connections(addr, ATTACKERS, |i| v4(127, 0, 1, (i % 250) as u8 + 1));
    let ((status, _), took) = healthz_within(addr, HEADER_TIMEOUT + Duration::from_secs(7));
    assert_eq!(status, 200, "after {took:?}");
    eprintln!("{ATTACKERS} idle connections from 250 addresses: /healthz answered in {took:?}");
    fire(&sensor, &marker, 2);
    let rss = sensor.rss_kib();
    assert!(
        rss < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss} KiB with {ATTACKERS} connections from 250 addresses"
    );
    drop(many);

    // A request head over the limit is refused.
    let mut big = connect_from(prober(), addr, IO).unwrap();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: lanner\r\nX-Big: {}\r\n\r\n",
        "b".repeat(16 * 1024)
    );
    let _ = big.write_all(head.as_bytes());
    big.set_read_timeout(Some(IO)).unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut big, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

    let (status, text) = get_from(prober(), addr, "/metrics", IO).unwrap();
    assert_eq!(status, 200);
    let closed = |reason: &str| {
        sample(
            &text,
            &format!("lanner_metrics_connections_closed_total{{reason=\"{reason}\"}}"),
        )
    };
    assert!(
        closed("max_connections") >= 1.0,
        "the cap in all was reached"
    );
    assert!(
        closed("header_timeout") >= timeouts + 64.0,
        "the 64 slots of the second wave timed out: {}",
        closed("header_timeout")
    );
    let stats = sensor.stop();
    assert_eq!(stats.raw["sinks"]["http"]["delivered"], 3);
}
