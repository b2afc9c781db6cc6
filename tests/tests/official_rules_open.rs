//! The official Falco rules on file opens, loaded unchanged (the three files, in order): each
//! fires on the real action and stays quiet on a near miss. *Read sensitive file untrusted*
//! (`cat /etc/shadow`), *Read sensitive file trusted after startup* (a server reading it after
//! its first five seconds), *Directory traversal monitored file read* (`../` out of a web
//! root) on the host, where they apply as well; *Detect release_agent File Container Escapes*
//! in a runc container with `CAP_SYS_ADMIN`, which mounts a cgroup v1 hierarchy and opens its
//! `release_agent` for writing, as the escape does.
//!
//! The files are test data, not part of this repository (see [`official_rules_dir`]).

use lanner_tests::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// How long the official rules count a process as starting (`proc_is_new`).
const STARTUP: Duration = Duration::from_secs(5);

const READ_SENSITIVE_UNTRUSTED: RuleSpec = RuleSpec {
    name: "Read sensitive file untrusted",
    priority: "Warning",
    tags: &[
        "maturity_stable",
        "host",
        "container",
        "filesystem",
        "mitre_credential_access",
        "T1555",
    ],
};

const READ_SENSITIVE_TRUSTED_AFTER_STARTUP: RuleSpec = RuleSpec {
    name: "Read sensitive file trusted after startup",
    ..READ_SENSITIVE_UNTRUSTED
};

const DIRECTORY_TRAVERSAL: RuleSpec = RuleSpec {
    name: "Directory traversal monitored file read",
    ..READ_SENSITIVE_UNTRUSTED
};

const RELEASE_AGENT_ESCAPE: RuleSpec = RuleSpec {
    name: "Detect release_agent File Container Escapes",
    priority: "Critical",
    tags: &[
        "maturity_stable",
        "container",
        "process",
        "mitre_privilege_escalation",
        "T1611",
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

/// Runs `program args` on the host in `cwd`, waiting for it; its pid.
fn run(program: &str, args: &[&str], cwd: Option<&std::path::Path>) -> i64 {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{program}: {e}"));
    let pid = i64::from(child.id());
    child.wait().unwrap();
    pid
}

/// The successful open of `name` by process `pid`.
#[track_caller]
fn wait_open_of(sensor: &Sensor, pid: i64, name: &str) -> Value {
    sensor.wait_for(
        |e| {
            e["evt.type"]
                .as_str()
                .is_some_and(|t| t.starts_with("open"))
                && e["proc.pid"] == pid
                && e["fd.name"] == name
        },
        EVENT_TIMEOUT,
    )
}

/// A path that does not exist, named after the test: a program given it as a last argument
/// fails on it after doing what the test wants, and its command line (which the alerts show)
/// is the test's own.
fn marker(tag: &str) -> String {
    format!("/nonexistent/{}", unique(tag))
}

#[test]
fn cat_of_etc_shadow_fires_read_sensitive_file_untrusted() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let mark = marker("shadow");
    run("cat", &["/etc/shadow", &mark], None);
    let alert = sensor.wait_alert(&READ_SENSITIVE_UNTRUSTED, |a| {
        out_contains(a, "proc.cmdline", &mark)
    });
    assert_out(&alert, "fd.name", "/etc/shadow");
    assert_out(&alert, "proc.name", "cat");
    assert_out(&alert, "evt.type", "openat");
    assert_out(&alert, "user.uid", 0);

    // Near misses: the same program on a file that is not sensitive, and a shell (a trusted
    // program) reading the sensitive one.
    let quiet = marker("quiet");
    let hostname = run("cat", &["/etc/hostname", &quiet], None);
    wait_open_of(&sensor, hostname, "/etc/hostname");
    let shell = run("sh", &["-c", "read x < /etc/shadow", &quiet], None);
    wait_open_of(&sensor, shell, "/etc/shadow");
    sensor.assert_no_alert("a non-sensitive file, or a shell", |a| {
        a["rule"] == READ_SENSITIVE_UNTRUSTED.name && out_contains(a, "proc.cmdline", &quiet)
    });
    sensor.stop();
}

#[test]
fn a_server_reading_etc_shadow_after_startup_fires_read_sensitive_file_trusted_after_startup() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    // A shell named nginx (its comm is the link's name): a web server to the rules.
    let dir = TempDir::new("nginx");
    let nginx = dir.path().join("nginx");
    std::os::unix::fs::symlink(canonical("/bin/sh"), &nginx).unwrap();
    let nginx = nginx.to_string_lossy().into_owned();
    // At startup: trusted (`$0` is the marker, so the command line is the test's).
    let early_mark = marker("early");
    let early = run(&nginx, &["-c", "read x < /etc/shadow", &early_mark], None);
    wait_open_of(&sensor, early, "/etc/shadow");
    sensor.assert_no_alert("a server reading it at startup", |a| {
        a["rule"] == READ_SENSITIVE_TRUSTED_AFTER_STARTUP.name
            && out_contains(a, "proc.cmdline", &early_mark)
    });
    // After its first five seconds: not.
    let late_mark = marker("late");
    let script = format!("sleep {}; read x < /etc/shadow", STARTUP.as_secs() + 1);
    run(&nginx, &["-c", &script, &late_mark], None);
    let alert = sensor.wait_alert(&READ_SENSITIVE_TRUSTED_AFTER_STARTUP, |a| {
        out_contains(a, "proc.cmdline", &late_mark)
    });
    assert_out(&alert, "proc.name", "nginx");
    assert_out(&alert, "fd.name", "/etc/shadow");
    sensor.stop();
}

#[test]
fn a_relative_path_out_of_a_directory_fires_directory_traversal_monitored_file_read() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let dir = TempDir::new("webroot");
    let root = dir.path().join("var/www/html");
    std::fs::create_dir_all(&root).unwrap();
    // How deep the web root is under `/`: as many `../` lead back to it.
    let depth = std::path::Path::new(&canonical(&root)).components().count() - 1;
    let up = "../".repeat(depth);
    let raw = format!("{up}etc/passwd");
    let mark = marker("traversal");
    run("cat", &[&raw, &mark], Some(&root));
    let alert = sensor.wait_alert(&DIRECTORY_TRAVERSAL, |a| {
        out_contains(a, "proc.cmdline", &mark)
    });
    assert_out(&alert, "fd.name", "/etc/passwd");
    assert_out(&alert, "fd.nameraw", raw.as_str());
    // Near misses: the same file by its absolute path, and the traversal by a shell's child.
    let quiet = marker("quiet");
    let direct = run("cat", &["/etc/passwd", &quiet], Some(&root));
    wait_open_of(&sensor, direct, "/etc/passwd");
    let shell = run("sh", &["-c", &format!("cat {raw} {quiet}")], Some(&root));
    sensor.wait_for(
        |e| e["evt.type"] == "openat" && e["fd.name"] == "/etc/passwd" && e["proc.ppid"] == shell,
        EVENT_TIMEOUT,
    );
    sensor.assert_no_alert("an absolute path, or a shell's child", |a| {
        a["rule"] == DIRECTORY_TRAVERSAL.name && out_contains(a, "proc.cmdline", &quiet)
    });
    sensor.stop();
}

#[test]
fn writing_a_cgroup_release_agent_in_a_container_fires_detect_release_agent_escapes() {
    require_root!();
    let mut sensor = sensor_with_official_rules();
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["mount", "mkdir"]);
    let name = unique("ra").replace('-', "_");
    let script = format!(
        "mkdir -p /tmp/cg && mount -t cgroup -o none,name={name} cgroup /tmp/cg && \
         echo /tmp/x > /tmp/cg/release_agent; echo done"
    );
    let run = ctr.exec_with(
        &["--user", "0:0", "--cap", "CAP_SYS_ADMIN"],
        &["/bin/sh", "-c", &script],
    );
    assert!(run.stdout.contains("done"), "{run:?}");
    let alert = sensor.wait_alert(&RELEASE_AGENT_ESCAPE, |a| {
        out_contains(a, "proc.cmdline", &name)
    });
    assert_out(&alert, "fd.name", "/tmp/cg/release_agent");
    assert_out(&alert, "user.uid", 0);
    assert_out_contains(&alert, "thread.cap_effective", "CAP_SYS_ADMIN");

    // Near miss: root in the container without CAP_SYS_ADMIN writing a file of that name.
    let quiet = unique("quiet");
    let plain = ctr.exec_with(
        &["--user", "0:0"],
        &[
            "/bin/sh",
            "-c",
            &format!("echo x > /tmp/release_agent; echo done; : {quiet}"),
        ],
    );
    assert!(plain.stdout.contains("done"), "{plain:?}");
    let ev = sensor.wait_for(
        |e| {
            e["evt.type"]
                .as_str()
                .is_some_and(|t| t.starts_with("open"))
                && e["fd.name"] == "/tmp/release_agent"
                && e["container.id"] == ctr.short_id()
        },
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.is_open_write", true);
    assert!(
        !field_str(&ev, "thread.cap_effective").contains("CAP_SYS_ADMIN"),
        "{ev:#}"
    );
    sensor.assert_no_alert("root without CAP_SYS_ADMIN", |a| {
        a["rule"] == RELEASE_AGENT_ESCAPE.name && out_contains(a, "proc.cmdline", &quiet)
    });
    drop(ctr);
    sensor.stop();
}
