//! Default rules about programs launched in containers: network tools, package managers,
//! privileged (CAP_SYS_ADMIN) processes and nsenter/chroot into the host. Each fires on the
//! real program in a runc container; the near miss is the same program on the host, or a
//! harmless variant in the container.

use lanner_tests::*;
use std::process::{Command, Stdio};

/// Runs `<dir>/<name> args...` on the host and returns its pid (exit status ignored: the
/// near-miss commands need not succeed, only exec).
fn run_on_host(dir: &TempDir, name: &str, args: &[&str]) -> i64 {
    let mut child = Command::new(dir.path().join(name))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let pid = i64::from(child.id());
    child.wait().unwrap();
    pid
}

#[test]
fn network_tool_in_container_fires_for_netcat() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["nc"]);
    let nc = ctr.exec(&["/bin/nc", "-w", "1", "127.0.0.1", "9"]);
    let alert = sensor.wait_alert(&NETWORK_TOOL, |a| out_is(a, "proc.pid", nc.pid));
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "proc.cmdline", "nc -w 1 127.0.0.1 9");
    assert_out(&alert, "proc.pname", "runc");
    drop(ctr);
    sensor.stop();
}

#[test]
fn network_tool_on_the_host_does_not_fire() {
    require_root!();
    let mut sensor = Sensor::start();
    let bin = host_applets(&["nc"]);
    let pid = run_on_host(&bin, "nc", &["-w", "1", "127.0.0.1", "9"]);
    let ev = sensor.wait_exec(pid);
    assert_field(&ev, "proc.name", "nc");
    assert_field(&ev, "container.id", "host");
    sensor.assert_no_alert("nc on the host", |a| out_is(a, "proc.pid", pid));
    sensor.stop();
}

#[test]
fn package_manager_in_container_fires_for_dpkg() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["dpkg"]);
    let run = ctr.exec(&["/bin/dpkg", "-l"]);
    let alert = sensor.wait_alert(&PACKAGE_MANAGER, |a| out_is(a, "proc.pid", run.pid));
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "proc.cmdline", "dpkg -l");
    assert_out(&alert, "user.name", CTR_USER);
    drop(ctr);
    sensor.stop();
}

#[test]
fn package_manager_on_the_host_does_not_fire() {
    require_root!();
    let mut sensor = Sensor::start();
    let bin = host_applets(&["dpkg"]);
    let pid = run_on_host(&bin, "dpkg", &["-l"]);
    sensor.wait_exec(pid);
    sensor.assert_no_alert("dpkg on the host", |a| out_is(a, "proc.pid", pid));
    sensor.stop();
}

#[test]
fn privileged_process_in_container_fires_for_exec_with_cap_sys_admin() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    let marker = unique("privileged");
    let run = ctr.exec_with(
        &["--user", "0:0", "--cap", "CAP_SYS_ADMIN"],
        &["/bin/busybox", "echo", &marker],
    );
    assert!(run.success, "{run:?}");
    let alert = sensor.wait_alert(&PRIVILEGED_PROCESS, |a| out_is(a, "proc.pid", run.pid));
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "proc.cmdline", format!("busybox echo {marker}"));
    assert_out(&alert, "user.name", "root");
    assert!(
        out(&alert, "thread.cap_effective")
            .as_str()
            .is_some_and(|c| c.split(' ').any(|n| n == "CAP_SYS_ADMIN")),
        "caps=%thread.cap_effective must show CAP_SYS_ADMIN\nalert: {alert:#}"
    );
    drop(ctr);
    sensor.stop();
}

#[test]
fn privileged_process_rule_ignores_root_without_sys_admin_and_the_host() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    // Root in the container with the spec's default capabilities.
    let root = ctr.exec_with(
        &["--user", "0:0"],
        &["/bin/busybox", "echo", &unique("root")],
    );
    assert!(root.success, "{root:?}");
    let ev = sensor.wait_exec(root.pid);
    assert!(
        !field_str(&ev, "thread.cap_effective").contains("CAP_SYS_ADMIN"),
        "precondition: no CAP_SYS_ADMIN\nevent: {ev:#}"
    );
    // This test runs as root on the host: its children have CAP_SYS_ADMIN, outside containers.
    let (host_pid, _) = echo_on_host("privileged-host");
    let ev = sensor.wait_exec(host_pid);
    assert!(field_str(&ev, "thread.cap_effective").contains("CAP_SYS_ADMIN"));
    sensor.assert_no_alert(
        "root without CAP_SYS_ADMIN; CAP_SYS_ADMIN on the host",
        |a| out_is(a, "proc.pid", root.pid) || out_is(a, "proc.pid", host_pid),
    );
    drop(ctr);
    sensor.stop();
}

#[test]
fn host_namespace_entry_fires_for_nsenter_and_chroot_into_proc_1_root() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["nsenter", "chroot"]);
    // Both fail for the container's unprivileged user: the attempt is what the rule reports.
    let nsenter = ctr.exec(&[
        "/bin/nsenter",
        "-t",
        "1",
        "-m",
        "-u",
        "-i",
        "-n",
        "-p",
        "/bin/sh",
    ]);
    let alert = sensor.wait_alert(&HOST_NAMESPACE_ENTRY, |a| {
        out_is(a, "proc.pid", nsenter.pid)
    });
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(
        &alert,
        "proc.cmdline",
        "nsenter -t 1 -m -u -i -n -p /bin/sh",
    );
    let chroot = ctr.exec(&["/bin/chroot", "/proc/1/root", "/bin/sh"]);
    let alert = sensor.wait_alert(&HOST_NAMESPACE_ENTRY, |a| out_is(a, "proc.pid", chroot.pid));
    assert_out(&alert, "proc.cmdline", "chroot /proc/1/root /bin/sh");
    drop(ctr);
    sensor.stop();
}

#[test]
fn host_namespace_entry_ignores_chroot_elsewhere_and_nsenter_on_the_host() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["chroot"]);
    let chroot = ctr.exec(&["/bin/chroot", "/tmp/jail", "/bin/true"]);
    sensor.wait_exec(chroot.pid);
    let bin = host_applets(&["nsenter"]);
    let nsenter = run_on_host(&bin, "nsenter", &["--help"]);
    sensor.wait_exec(nsenter);
    sensor.assert_no_alert("chroot into a plain dir; nsenter on the host", |a| {
        a["rule"] == HOST_NAMESPACE_ENTRY.name
            && (out_is(a, "proc.pid", chroot.pid) || out_is(a, "proc.pid", nsenter))
    });
    drop(ctr);
    sensor.stop();
}
