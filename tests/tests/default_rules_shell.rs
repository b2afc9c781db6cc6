//! Default rules about shells: "Terminal Shell in Container" and "Reverse Shell", each made
//! to fire by the real thing in a runc container (and on the host where the rule covers it),
//! and near misses that must not fire. Alerts are selected by the pid runc reports for the
//! exec'd process or by a unique marker in the command line.

use lanner_tests::*;
use std::process::{Command, Stdio};

/// `runc exec --user` value for the container's unprivileged user.
fn ctr_user() -> String {
    format!("{CTR_UID}:{CTR_GID}")
}

/// Runs `python3 -c <code>` on the host and returns its pid.
fn python_on_host(code: &str) -> i64 {
    let mut child = Command::new("python3")
        .args(["-c", code])
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 (the tests' host has it)");
    let pid = i64::from(child.id());
    assert!(child.wait().unwrap().success(), "python3 -c {code:?}");
    pid
}

#[test]
fn terminal_shell_in_container_fires_for_a_shell_with_a_tty() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    let marker = unique("tty-shell");
    let run = exec_with_terminal(
        &ctr,
        &["--user", &ctr_user()],
        &["/bin/sh", "-c", &format!("echo {marker}")],
    );
    assert!(run.success && run.stdout.contains(&marker), "{run:?}");
    let alert = sensor.wait_alert(&TERMINAL_SHELL, |a| out_is(a, "proc.pid", run.pid));
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "proc.cmdline", format!("sh -c echo {marker}"));
    assert_out(&alert, "proc.pname", "runc");
    assert_out(&alert, "user.name", CTR_USER);
    assert!(
        out(&alert, "proc.tty").as_i64().is_some_and(|t| t > 0),
        "terminal=%proc.tty must be the pty's device number\nalert: {alert:#}"
    );
    drop(ctr);
    sensor.stop();
}

#[test]
fn terminal_shell_in_container_ignores_shells_without_tty_and_subshells() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    // No terminal: what a probe or an entrypoint script looks like.
    let plain = ctr.exec(&["/bin/sh", "-c", &format!("echo {}", unique("no-tty"))]);
    assert!(plain.success, "{plain:?}");
    let ev = sensor.wait_exec(plain.pid);
    assert_field(&ev, "proc.tty", 0);
    // A shell the terminal shell starts belongs to the same session: only the first alerts.
    let inner = unique("subshell");
    let inner_cmd = format!("echo {inner}");
    let run = exec_with_terminal(
        &ctr,
        &["--user", &ctr_user()],
        &["/bin/sh", "-c", &format!("/bin/sh -c '{inner_cmd}'; true")],
    );
    assert!(run.success && run.stdout.contains(&inner), "{run:?}");
    sensor.wait_alert(&TERMINAL_SHELL, |a| out_is(a, "proc.pid", run.pid));
    let ev = sensor.wait_for(
        |e| {
            is_type(e, "execve")
                && e["proc.ppid"] == run.pid
                && e["proc.cmdline"] == format!("sh -c {inner_cmd}").as_str()
        },
        EVENT_TIMEOUT,
    );
    assert!(
        field_i64(&ev, "proc.tty") > 0,
        "the subshell has the terminal too\nevent: {ev:#}"
    );
    let sub_pid = field_i64(&ev, "proc.pid");
    sensor.assert_no_alert(
        "shell without a terminal, subshell of a terminal shell",
        |a| out_is(a, "proc.pid", plain.pid) || out_is(a, "proc.pid", sub_pid),
    );
    drop(ctr);
    sensor.stop();
}

#[test]
fn reverse_shell_fires_for_netcat_exec_dev_tcp_relay_parent_and_python_socket() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["nc"]);

    // `nc -e /bin/sh IP PORT`: the container has no route, so nc fails after the exec.
    let nc = ctr.exec(&["/bin/nc", "-e", "/bin/sh", "127.0.0.1", "9"]);
    let alert = sensor.wait_alert(&REVERSE_SHELL, |a| out_is(a, "proc.pid", nc.pid));
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "proc.cmdline", "nc -e /bin/sh 127.0.0.1 9");
    assert_out(&alert, "proc.exepath", "/bin/busybox");
    assert_out(&alert, "user.name", CTR_USER);

    // The same from busybox's shell, which runs its nc applet as /proc/self/exe (comm `exe`).
    ctr.exec(&["/bin/sh", "-c", "nc -e /bin/sh 127.0.0.1 9; true"]);
    let alert = sensor.wait_alert(&REVERSE_SHELL, |a| {
        out_is(a, "proc.cmdline", "exe -e /bin/sh 127.0.0.1 9")
            && out_is(a, "container.id", ctr.short_id())
    });
    assert_out(
        &alert,
        "proc.pcmdline",
        "sh -c nc -e /bin/sh 127.0.0.1 9; true",
    );

    // bash's /dev/tcp redirection in a shell's arguments (busybox sh rejects it: no matter).
    let marker = unique("devtcp");
    let tcp = ctr.exec(&[
        "/bin/sh",
        "-c",
        &format!("sh -i >& /dev/tcp/127.0.0.1/9 0>&1; echo {marker}"),
    ]);
    let alert = sensor.wait_alert(&REVERSE_SHELL, |a| out_is(a, "proc.pid", tcp.pid));
    assert_out_contains(&alert, "proc.cmdline", "/dev/tcp/127.0.0.1/9");

    // A shell whose parent is named like a relay: a script called `nc` that starts a shell.
    write_file(
        &in_rootfs(&ctr, "/tmp/relay/nc"),
        "#!/bin/sh\n/bin/sh -c \"echo $1\"\nexit 0\n",
        0o755,
    );
    let marker = unique("relay");
    let relay = ctr.exec(&["/tmp/relay/nc", &marker]);
    assert!(relay.success && relay.stdout.contains(&marker), "{relay:?}");
    let alert = sensor.wait_alert(&REVERSE_SHELL, |a| {
        out_is(a, "proc.cmdline", format!("sh -c echo {marker}")) && out_is(a, "proc.pname", "nc")
    });
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(
        &alert,
        "proc.pcmdline",
        format!("nc /tmp/relay/nc {marker}"),
    );

    // An interpreter one-liner binding a socket to a shell, on the host: the rule covers both.
    let marker = unique("py-socket");
    let py = python_on_host(&format!(
        "import socket; shell = '/bin/sh'; print('{marker}')"
    ));
    let alert = sensor.wait_alert(&REVERSE_SHELL, |a| out_is(a, "proc.pid", py));
    assert_out(&alert, "container.id", "host");
    assert_out_contains(&alert, "proc.cmdline", &marker);
    drop(ctr);
    sensor.stop();
}

#[test]
fn reverse_shell_ignores_plain_netcat_other_parents_and_harmless_python() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["nc"]);
    // Plain netcat is a network tool, not a shell: that rule (later in the file) fires instead,
    // which also proves the event went through the rules.
    let nc = ctr.exec(&["/bin/nc", "127.0.0.1", "9"]);
    sensor.wait_alert(&NETWORK_TOOL, |a| out_is(a, "proc.pid", nc.pid));
    // A shell started by a script that is not a relay.
    write_file(
        &in_rootfs(&ctr, "/tmp/relay/backup"),
        "#!/bin/sh\n/bin/sh -c \"echo $1\"\nexit 0\n",
        0o755,
    );
    let marker = unique("not-relay");
    let script = ctr.exec(&["/tmp/relay/backup", &marker]);
    assert!(script.success, "{script:?}");
    let shell = sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.ppid"] == script.pid && e["proc.name"] == "sh",
        EVENT_TIMEOUT,
    );
    let shell_pid = field_i64(&shell, "proc.pid");
    // python with "socket" but no shell.
    let py = python_on_host(&format!("print('socket {}')", unique("py")));
    sensor.wait_exec(py);
    sensor.assert_no_alert(
        "plain nc, shell under a script, python without a shell",
        |a| {
            a["rule"] == REVERSE_SHELL.name
                && [nc.pid, script.pid, shell_pid, py]
                    .iter()
                    .any(|&p| out_is(a, "proc.pid", p))
        },
    );
    drop(ctr);
    sensor.stop();
}
