//! A container that makes its own `/etc/passwd` hostile cannot stall, blind or exhaust the
//! sensor (issue 15, item 1): a FIFO, a symlink to `/dev/zero`, a 1 GB sparse file, and a FUSE
//! filesystem whose reads never return. Each hostile container's events still come, with
//! `user.name` `<NA>`, while the host's and a healthy container's keep coming with their names,
//! and the failures are counted.

use lanner_tests::fuse::HangingFs;
use lanner_tests::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// Longer than the sensor's re-read period of a root's tables (5 s), so the container's next
/// exec makes it read the replaced file.
const STALE: &str = "6";

/// The execve event of `busybox echo <marker>` anywhere.
#[track_caller]
fn echo_event(sensor: &Sensor, marker: &str) -> Value {
    sensor.wait_for(
        |e| is_type(e, "execve") && has_arg(e, marker) && e["proc.name"] == "busybox",
        EVENT_TIMEOUT,
    )
}

/// A host exec and a healthy container's exec come through with their names.
#[track_caller]
fn others_still_resolve(sensor: &Sensor, healthy: &RuncContainer) {
    let (pid, marker) = echo_on_host("host");
    let ev = echo_event(sensor, &marker);
    assert_eq!(ev["proc.pid"], pid);
    assert_field(&ev, "user.name", "root");
    let marker = unique("healthy");
    let run = healthy.exec(&["/bin/busybox", "echo", &marker]);
    assert!(run.success, "runc exec: {run:?}");
    let ev = echo_event(sensor, &marker);
    assert_field(&ev, "container.id", healthy.short_id());
    assert_field(&ev, "user.name", CTR_USER);
}

fn rss_kib(pid: i64) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn hostile_passwd_files_in_runc_containers_never_stall_the_sensor() {
    require_root!();
    let mut sensor = Sensor::start();
    let healthy = RuncContainer::start();
    // Each container, as its own unprivileged user (its /etc is its user's, as in an image
    // built that way), replaces its passwd, waits until the sensor's copy is stale, and execs.
    let attacks = [
        ("fifo", "rm -f /etc/passwd && mkfifo /etc/passwd"),
        (
            "devzero",
            "rm -f /etc/passwd && ln -s /dev/zero /etc/passwd",
        ),
        ("sparse", "rm -f /etc/passwd && truncate -s 1G /etc/passwd"),
    ];
    let runs: Vec<_> = attacks
        .iter()
        .map(|(what, replace)| {
            let ctr = RuncContainer::start();
            let etc = ctr.rootfs().join("etc");
            std::os::unix::fs::chown(&etc, Some(CTR_UID), Some(CTR_GID)).unwrap();
            fs::set_permissions(&etc, fs::Permissions::from_mode(0o755)).unwrap();
            let markers: Vec<String> = (0..3).map(|i| unique(&format!("{what}{i}"))).collect();
            let script = format!(
                "{replace} && sleep {STALE} && {}",
                markers
                    .iter()
                    .map(|m| format!("/bin/busybox echo {m}"))
                    .collect::<Vec<_>>()
                    .join(" && ")
            );
            let handle = std::thread::spawn({
                let ctr_script = script.clone();
                move || {
                    let run = ctr.exec(&["/bin/sh", "-c", &ctr_script]);
                    (ctr, run)
                }
            });
            (*what, markers, handle)
        })
        .collect();
    // While the attacks wait and then run, the others keep resolving.
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        others_still_resolve(&sensor, &healthy);
    }
    for (what, markers, handle) in runs {
        let (ctr, run) = handle.join().unwrap();
        assert!(run.success, "{what}: runc exec: {run:?}");
        for m in &markers {
            let ev = echo_event(&sensor, m);
            assert_field(&ev, "container.id", ctr.short_id());
            assert_field(&ev, "user.uid", CTR_UID);
            assert_field(&ev, "user.name", "<NA>");
        }
        drop(ctr);
    }
    others_still_resolve(&sensor, &healthy);
    let rss = rss_kib(sensor.pid());
    assert!(rss < 300 << 10, "sensor RSS {rss} KiB");
    let stats = sensor.stop();
    let unreadable = &stats.raw["users"]["unreadable"];
    assert!(
        unreadable["not_regular"].as_u64() >= Some(2),
        "the FIFO and /dev/zero count as not regular: {unreadable}"
    );
    assert!(
        unreadable["too_large"].as_u64() >= Some(1),
        "the sparse file counts as too large: {unreadable}"
    );
}

/// The FUSE case: a root whose `etc` is a FUSE mount answering lookups but never a read. The
/// process is chrooted into it inside a containerd-named cgroup (what a container allowed to
/// mount FUSE can build for itself). The sensor waits for it once, then goes on; once the
/// filesystem answers, its reader comes back and the names come.
#[test]
fn a_passwd_read_that_never_returns_costs_one_deadline() {
    require_root!();
    let mut sensor = Sensor::start();
    let root = TempDir::new("fuse-root");
    fs::create_dir_all(root.path().join("bin")).unwrap();
    copy_executable(canonical("/bin/busybox"), root.path().join("bin/busybox"));
    let etc = root.path().join("etc");
    fs::create_dir_all(&etc).unwrap();
    let fuse = HangingFs::mount(&etc, &format!("app:x:{CTR_UID}:{CTR_GID}::/:\n"));
    let jail = CgroupJail::new(
        &format!("cri-containerd-{}.scope", random_id()),
        CgroupKind::KubeletSystemd,
    );
    let dir = std::ffi::CString::new(root.path().to_str().unwrap()).unwrap();
    let chroot_exec = |argv: &[&str]| {
        let args = CArgs::new(argv);
        jail.fork_in(|| {
            // SAFETY: async-signal-safe calls with C strings built before the fork.
            unsafe {
                if libc::chroot(dir.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                    return 126;
                }
                if libc::setgid(CTR_GID) != 0 || libc::setuid(CTR_UID) != 0 {
                    return 125;
                }
                libc::execv(c"/bin/busybox".as_ptr(), args.as_ptr());
            }
            127
        })
    };
    // A process that stays, so the sensor has a live root to read through.
    let sleeper = chroot_exec(&["busybox", "sleep", "120"]);
    let ev = sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == i64::from(sleeper),
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "user.name", "<NA>");
    assert!(fuse.reads() >= 1, "the sensor never read the FUSE passwd");
    // Held: the jail's next execs and the host's come at once, and health answers.
    let metrics = |path| lanner_tests::prometheus::http_get(&sensor.metrics_addr(), path).unwrap();
    for _ in 0..3 {
        let marker = unique("fuse");
        let pid = chroot_exec(&["busybox", "echo", &marker]);
        assert_eq!(wait_status(pid), 0);
        assert_field(&echo_event(&sensor, &marker), "user.name", "<NA>");
        let (_, marker) = echo_on_host("host");
        assert_field(&echo_event(&sensor, &marker), "user.name", "root");
    }
    let body = metrics("/metrics").body;
    for line in [
        "lanner_user_table_readers_stuck 1",
        "lanner_user_tables_unreadable_total{reason=\"timeout\"} 1",
    ] {
        assert!(body.lines().any(|l| l == line), "no {line:?} in\n{body}");
    }
    assert_eq!(metrics("/healthz").status, 200);
    // The filesystem answers: the reader comes back, and after the back-off the names come.
    fuse.release();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !metrics("/metrics")
        .body
        .lines()
        .any(|l| l == "lanner_user_table_readers_stuck 0")
    {
        assert!(
            Instant::now() < deadline,
            "the stuck reader never came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let marker = unique("fuse");
        let pid = chroot_exec(&["busybox", "echo", &marker]);
        assert_eq!(wait_status(pid), 0);
        let ev = echo_event(&sensor, &marker);
        if ev["user.name"] == "app" {
            break;
        }
        assert!(Instant::now() < deadline, "names never came: {ev}");
        std::thread::sleep(Duration::from_millis(500));
    }
    sensor.stop();
    // SAFETY: our own child.
    unsafe { libc::kill(sleeper, libc::SIGKILL) };
    wait_status(sleeper);
    drop(fuse);
}
