//! The default ruleset as the security pipeline uses it: the seed's "Attack Pattern: Container
//! Escape" (shell spawned in a container -> privileged process execution -> host filesystem
//! mount) raises one alert per step, in order, for the same container, ending on the Critical
//! "Container Escape" the response engine acts on; and ordinary work in a container raises
//! nothing. The per-rule tests are in default_rules_*.rs.

use lanner_tests::*;

#[test]
fn container_escape_pattern_raises_shell_privileged_and_escape_alerts_in_order() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["mount"]);
    let dir = format!("/tmp/{}", unique("pattern"));
    std::fs::create_dir_all(in_rootfs(&ctr, &dir)).unwrap();
    // An intruder's `kubectl exec -it` into a privileged pod, then the host's /proc-like view.
    let run = exec_with_terminal(
        &ctr,
        &["--user", "0:0", "--cap", "CAP_SYS_ADMIN"],
        &[
            "/bin/sh",
            "-c",
            &format!("/bin/mount -t proc proc {dir}; echo done"),
        ],
    );
    assert!(run.success && run.stdout.contains("done"), "{run:?}");

    let shell = sensor.wait_alert(&TERMINAL_SHELL, |a| out_is(a, "proc.pid", run.pid));
    let mount_cmd = format!("mount -t proc proc {dir}");
    let privileged = sensor.wait_alert(&PRIVILEGED_PROCESS, |a| {
        out_is(a, "proc.cmdline", &*mount_cmd) && out_is(a, "container.id", ctr.short_id())
    });
    let escape = sensor.wait_alert(&CONTAINER_ESCAPE, |a| out_is(a, "evt.arg.dir", &*dir));
    for a in [&shell, &privileged, &escape] {
        assert_out(a, "container.id", ctr.short_id());
    }
    // The privileged process is the shell's child, and the mount is that process's.
    assert_out(&privileged, "proc.pname", "sh");
    assert_out(&escape, "proc.pid", out(&privileged, "proc.pid").clone());
    let time = |a: &serde_json::Value| out(a, "evt.time").as_i64().unwrap();
    assert!(
        time(&shell) < time(&privileged) && time(&privileged) < time(&escape),
        "steps out of order: shell {}, privileged {}, escape {}",
        time(&shell),
        time(&privileged),
        time(&escape)
    );
    drop(ctr);
    sensor.stop();
}

#[test]
fn ordinary_work_in_a_container_raises_no_alert() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["ls", "cat", "grep", "sleep"]);
    for argv in [
        &["/bin/busybox", "true"][..],
        &["/bin/ls", "-l", "/etc"],
        &["/bin/cat", "/etc/passwd"],
        &["/bin/grep", "root", "/etc/passwd"],
        &["/bin/sh", "-c", "echo entrypoint script; sleep 0"],
    ] {
        let run = ctr.exec(argv);
        assert!(run.success, "{run:?}");
        sensor.wait_exec(run.pid);
    }
    sensor.assert_no_alert("ordinary commands in a container", |a| {
        out_is(a, "container.id", ctr.short_id())
    });
    drop(ctr);
    sensor.stop();
}
