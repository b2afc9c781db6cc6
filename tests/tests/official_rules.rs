//! The official Falco rules, loaded unchanged (`-r falco_rules.yaml -r
//! falco-incubating_rules.yaml -r falco-sandbox_rules.yaml`, in that order), fire on the real
//! actions in a runc container: "Terminal shell in container" on a shell with a terminal,
//! "Netcat Remote Code Execution in Container" on `nc -e`; a plain exec fires nothing.
//!
//! The files are test data, not part of this repository (see [`official_rules_dir`]).

use lanner_tests::*;

const TERMINAL_SHELL_IN_CONTAINER: RuleSpec = RuleSpec {
    name: "Terminal shell in container",
    priority: "Notice",
    tags: &[
        "maturity_stable",
        "container",
        "shell",
        "mitre_execution",
        "T1059",
    ],
};

const NETCAT_RCE_IN_CONTAINER: RuleSpec = RuleSpec {
    name: "Netcat Remote Code Execution in Container",
    priority: "Warning",
    tags: &[
        "maturity_stable",
        "container",
        "network",
        "process",
        "mitre_execution",
        "T1059",
    ],
};

/// A sensor with the three official files instead of the default ruleset.
fn sensor_with_official_rules() -> Sensor {
    let paths = official_rules_paths();
    let mut args = Vec::new();
    for p in &paths {
        args.push("-r");
        args.push(p.as_str());
    }
    Sensor::start_with(&args)
}

#[test]
fn terminal_shell_in_container_fires_for_a_shell_with_a_tty() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let ctr = RuncContainer::start();
    let marker = unique("official-tty");
    let run = exec_with_terminal(
        &ctr,
        &["--user", &format!("{CTR_UID}:{CTR_GID}")],
        &["/bin/sh", "-c", &format!("echo {marker}")],
    );
    assert!(run.success && run.stdout.contains(&marker), "{run:?}");
    let cmdline = format!("sh -c echo {marker}");
    let alert = sensor.wait_alert(&TERMINAL_SHELL_IN_CONTAINER, |a| {
        out_is(a, "proc.cmdline", &*cmdline)
    });
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "proc.name", "sh");
    assert_out(&alert, "proc.pname", "runc");
    assert_out(&alert, "user.name", CTR_USER);
    assert_out(&alert, "user.uid", CTR_UID);
    assert_out(&alert, "evt.type", "execve");
    assert!(
        out(&alert, "proc.tty").as_i64().is_some_and(|t| t > 0),
        "terminal=%proc.tty\nalert: {alert:#}"
    );
    drop(ctr);
    sensor.stop();
}

#[test]
fn netcat_remote_code_execution_in_container_fires_for_nc_e() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["nc"]);
    // The port is the marker: the container is the test's own, the command line its only nc.
    let port = format!("{}", 10_000 + std::process::id() % 50_000);
    let run = ctr.exec(&["/bin/nc", "-e", "/bin/sh", "127.0.0.1", &port]);
    let cmdline = format!("nc -e /bin/sh 127.0.0.1 {port}");
    let alert = sensor.wait_alert(&NETCAT_RCE_IN_CONTAINER, |a| {
        out_is(a, "proc.cmdline", &*cmdline) && out_is(a, "container.id", ctr.short_id())
    });
    assert_out(&alert, "proc.name", "nc");
    assert_out(&alert, "proc.exepath", "/bin/busybox");
    assert_out(&alert, "proc.pname", "runc");
    assert!(run.pid > 0, "{run:?}");
    drop(ctr);
    sensor.stop();
}

#[test]
fn plain_exec_in_container_fires_no_official_rule() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let ctr = RuncContainer::start();
    let run = ctr.exec(&["/bin/busybox", "true"]);
    assert!(run.success, "{run:?}");
    sensor.wait_exec(run.pid);
    // Only the container's start may alert: the sandbox rule "Launch Sensitive Mount
    // Container" fires on every container's first process when its mounts are unknown (no
    // pod context here), because `not container.mount.dest[...] in ("<NA>","N/A")` is true
    // for a missing value, as in Falco. And busybox, run by a user other than root, drops to
    // its real uid first thing (`setuid(getuid())`): "Non sudo setuid" flags that as in Falco
    // (its `somebody_becoming_themselves` names a few users only). Everything else of this
    // container must be quiet.
    sensor.assert_no_alert("`true` in a container", |a| {
        let to_self = a["rule"] == "Non sudo setuid"
            && out_is(a, "proc.name", "busybox")
            && out(a, "evt.arg.uid") == out(a, "user.name");
        out_is(a, "container.id", ctr.short_id())
            && !to_self
            && !(a["rule"] == "Launch Sensitive Mount Container"
                && out_is(a, "proc.cmdline", "busybox sleep 600"))
    });
    drop(ctr);
    sensor.stop();
}
