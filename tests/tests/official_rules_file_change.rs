//! The official Falco rules on file-tree changes, loaded unchanged (the three files, in order,
//! every matching rule reported): each fires on the real action and stays quiet on a near
//! miss. On the host, where nothing of the host is changed: *Create Symlink Over Sensitive
//! Files* (`ln -s /etc/shadow`), *Set Setuid or Setgid bit* (`chmod u+s`), *Delete or rename
//! shell history* (`rm .bash_history`, `mv .zsh_history`). In a runc container, whose `/etc`
//! and `/bin` are its own: *Create Hardlink Over Sensitive Files* (`ln /etc/shadow`), *Modify
//! binary dirs*, *Mkdir binary dirs*, *Update Package Repository* (`mv` into
//! `/etc/apt/sources.list.d`), and the two sandbox rules that ship disabled, enabled
//! by an override as a user would: *Container Drift Detected (chmod)* and *Create Hidden Files
//! or Directories*.
//!
//! The files are test data, not part of this repository (see [`official_rules_dir`]).

use lanner_tests::*;
use serde_json::Value;
use std::process::Command;

const STABLE_CREDENTIAL_TAGS: &[&str] = &[
    "maturity_stable",
    "host",
    "container",
    "filesystem",
    "mitre_credential_access",
    "T1555",
];

const CREATE_SYMLINK: RuleSpec = RuleSpec {
    name: "Create Symlink Over Sensitive Files",
    priority: "Warning",
    tags: STABLE_CREDENTIAL_TAGS,
};

const CREATE_HARDLINK: RuleSpec = RuleSpec {
    name: "Create Hardlink Over Sensitive Files",
    ..CREATE_SYMLINK
};

const SET_SETUID: RuleSpec = RuleSpec {
    name: "Set Setuid or Setgid bit",
    priority: "Notice",
    tags: &[
        "maturity_incubating",
        "host",
        "container",
        "process",
        "users",
        "mitre_privilege_escalation",
        "T1548.001",
    ],
};

const SHELL_HISTORY: RuleSpec = RuleSpec {
    name: "Delete or rename shell history",
    priority: "Warning",
    tags: &[
        "maturity_incubating",
        "host",
        "container",
        "process",
        "filesystem",
        "mitre_defense_evasion",
        "T1070",
    ],
};

const MODIFY_BIN_DIRS: RuleSpec = RuleSpec {
    name: "Modify binary dirs",
    priority: "Error",
    tags: &[
        "maturity_sandbox",
        "host",
        "container",
        "filesystem",
        "mitre_defense_evasion",
        "T1222.002",
    ],
};

const MKDIR_BIN_DIRS: RuleSpec = RuleSpec {
    name: "Mkdir binary dirs",
    priority: "Error",
    tags: &[
        "maturity_sandbox",
        "host",
        "container",
        "filesystem",
        "mitre_persistence",
        "T1222.002",
    ],
};

const UPDATE_REPOSITORY: RuleSpec = RuleSpec {
    name: "Update Package Repository",
    priority: "Notice",
    tags: &[
        "maturity_sandbox",
        "host",
        "container",
        "filesystem",
        "mitre_execution",
        "T1072",
    ],
};

const DRIFT_CHMOD: RuleSpec = RuleSpec {
    name: "Container Drift Detected (chmod)",
    priority: "Error",
    tags: &[
        "maturity_sandbox",
        "container",
        "process",
        "filesystem",
        "mitre_execution",
        "T1059",
    ],
};

const HIDDEN_FILES: RuleSpec = RuleSpec {
    name: "Create Hidden Files or Directories",
    priority: "Notice",
    tags: &[
        "maturity_sandbox",
        "host",
        "container",
        "filesystem",
        "mitre_defense_evasion",
        "T1564.001",
    ],
};

/// A sensor with the three official files (and `more` after them), every matching rule
/// reported, every event dumped (so every hook attached).
fn official_sensor_with(more: &[String]) -> Sensor {
    official_sensor(false, more)
}

/// The same; `alerts_only` as in production: only alerts written, and only the hooks of the
/// event types a loaded rule can match attached.
fn official_sensor(alerts_only: bool, more: &[String]) -> Sensor {
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

/// Runs `program args` on the host, waiting for it to succeed; its pid.
fn run(program: &str, args: &[&str]) -> i64 {
    let mut child = Command::new(program)
        .args(args)
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let pid = i64::from(child.id());
    assert!(child.wait().unwrap().success(), "{program} {args:?}");
    pid
}

/// The `evt_type` event of process `pid`.
#[track_caller]
fn wait_call(sensor: &Sensor, pid: i64, types: &[&str]) -> Value {
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    sensor.wait_for(
        move |e| e["proc.pid"] == pid && types.iter().any(|t| e["evt.type"] == t.as_str()),
        EVENT_TIMEOUT,
    )
}

/// A runc container with busybox's file applets, and the script runner as its root.
fn container() -> RuncContainer {
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["ln", "rm", "mv", "mkdir", "chmod", "touch"]);
    ctr
}

/// Runs `script` in `ctr` as root, which must print `done`.
#[track_caller]
fn in_ctr(ctr: &RuncContainer, script: &str) {
    let run = ctr.exec_with(
        &["--user", "0:0"],
        &["/bin/sh", "-c", &format!("{script} && echo done")],
    );
    assert!(run.stdout.contains("done"), "{script}: {run:?}");
}

#[test]
fn a_symlink_to_etc_shadow_fires_create_symlink_over_sensitive_files() {
    require_root!();
    let mut sensor = official_sensor_with(&[]);
    let dir = TempDir::new("symlink");
    let link = format!("{}/{}", dir.path_str(), unique("link"));
    run("ln", &["-s", "/etc/shadow", &link]);
    let alert = sensor.wait_alert(&CREATE_SYMLINK, |a| out_is(a, "evt.arg.linkpath", &*link));
    assert_out(&alert, "evt.arg.target", "/etc/shadow");
    assert_out(&alert, "proc.name", "ln");
    // Near miss: a symlink to a file that is not sensitive.
    let quiet = format!("{}/{}", dir.path_str(), unique("quiet"));
    let pid = run("ln", &["-s", "/etc/hostname", &quiet]);
    let ev = wait_call(&sensor, pid, &["symlink", "symlinkat"]);
    assert_field(&ev, "evt.arg.linkpath", quiet.as_str());
    sensor.assert_no_alert("a symlink to /etc/hostname", |a| {
        a["rule"] == CREATE_SYMLINK.name && out_is(a, "evt.arg.linkpath", &*quiet)
    });
    sensor.stop();
}

/// As in production (alerts only): the official rules need the symlink hooks, so they are
/// attached, and the alert comes.
#[test]
fn with_alerts_only_the_rules_attach_the_hooks_they_need_and_fire() {
    require_root!();
    let mut sensor = official_sensor(true, &[]);
    let dir = TempDir::new("symlink-prod");
    let link = format!("{}/{}", dir.path_str(), unique("link"));
    run("ln", &["-s", "/etc/shadow", &link]);
    let alert = sensor.wait_alert(&CREATE_SYMLINK, |a| out_is(a, "evt.arg.linkpath", &*link));
    assert_out(&alert, "evt.arg.target", "/etc/shadow");
    sensor.stop();
}

#[test]
fn chmod_u_plus_s_fires_set_setuid_or_setgid_bit() {
    require_root!();
    let mut sensor = official_sensor_with(&[]);
    let dir = TempDir::new("setuid");
    let file = format!("{}/{}", dir.path_str(), unique("tool"));
    let quiet = format!("{}/{}", dir.path_str(), unique("quiet"));
    for f in [&file, &quiet] {
        std::fs::write(f, "#!/bin/sh\n").unwrap();
    }
    run("chmod", &["u+s", &file]);
    let alert = sensor.wait_alert(&SET_SETUID, |a| out_contains(a, "proc.cmdline", &file));
    assert_out_contains(&alert, "evt.arg.mode", "S_ISUID");
    assert_out(&alert, "evt.arg.filename", file.as_str());
    // Near miss: a chmod that sets no set-id bit.
    let pid = run("chmod", &["755", &quiet]);
    let ev = wait_call(&sensor, pid, &["chmod", "fchmod", "fchmodat"]);
    assert_field(&ev, "fs.path.name", quiet.as_str());
    sensor.assert_no_alert("chmod 755", |a| {
        a["rule"] == SET_SETUID.name && out_contains(a, "proc.cmdline", &quiet)
    });
    sensor.stop();
}

#[test]
fn removing_or_renaming_shell_history_fires_delete_or_rename_shell_history() {
    require_root!();
    let mut sensor = official_sensor_with(&[]);
    let dir = TempDir::new("history");
    let home = format!("{}/{}", dir.path_str(), unique("home"));
    std::fs::create_dir_all(&home).unwrap();
    let (bash, zsh, notes) = (
        format!("{home}/.bash_history"),
        format!("{home}/.zsh_history"),
        format!("{home}/history.txt"),
    );
    for f in [&bash, &zsh, &notes] {
        std::fs::write(f, "ls\n").unwrap();
    }
    run("rm", &[&bash]);
    let alert = sensor.wait_alert(&SHELL_HISTORY, |a| {
        out_contains(a, "proc.cmdline", &home) && a["output_fields"]["proc.name"] == "rm"
    });
    assert_out(&alert, "evt.arg.name", bash.as_str());
    run("mv", &[&zsh, &format!("{home}/old")]);
    let alert = sensor.wait_alert(&SHELL_HISTORY, |a| {
        out_contains(a, "proc.cmdline", &home) && a["output_fields"]["proc.name"] == "mv"
    });
    assert_out(&alert, "evt.arg.oldpath", zsh.as_str());
    // Near miss: a file whose name only contains "history".
    let pid = run("rm", &[&notes]);
    let ev = wait_call(&sensor, pid, &["unlink", "unlinkat"]);
    assert_field(&ev, "fs.path.name", notes.as_str());
    sensor.assert_no_alert("rm history.txt", |a| {
        a["rule"] == SHELL_HISTORY.name && out_contains(a, "proc.cmdline", &notes)
    });
    sensor.stop();
}

#[test]
fn a_hardlink_to_etc_shadow_in_a_container_fires_create_hardlink_over_sensitive_files() {
    require_root!();
    let mut sensor = official_sensor_with(&[]);
    let ctr = container();
    write_file(&in_rootfs(&ctr, "/etc/shadow"), "root:*:1::::::\n", 0o600);
    let mark = unique("h");
    in_ctr(&ctr, &format!("ln /etc/shadow /tmp/{mark}"));
    let alert = sensor.wait_alert(&CREATE_HARDLINK, |a| {
        out_contains(a, "evt.arg.newpath", &mark)
    });
    assert_out(&alert, "evt.arg.oldpath", "/etc/shadow");
    assert_out(&alert, "container.id", ctr.short_id());
    // Near miss: a hard link to a file that is not sensitive.
    let quiet = unique("q");
    in_ctr(&ctr, &format!("ln /etc/group /tmp/{quiet}"));
    let ev = sensor.wait_for(
        |e| {
            e["evt.type"]
                .as_str()
                .is_some_and(|t| t.starts_with("link"))
                && e["fs.path.source"] == format!("/tmp/{quiet}").as_str()
        },
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "fs.path.target", "/etc/group");
    sensor.assert_no_alert("a hard link to /etc/group", |a| {
        a["rule"] == CREATE_HARDLINK.name && out_contains(a, "evt.arg.newpath", &quiet)
    });
    drop(ctr);
    sensor.stop();
}

#[test]
fn renaming_out_of_and_mkdir_in_bin_fire_modify_and_mkdir_binary_dirs() {
    require_root!();
    let mut sensor = official_sensor_with(&[]);
    let ctr = container();
    let mark = unique("bin");
    in_ctr(
        &ctr,
        &format!("touch /bin/{mark} && mv /bin/{mark} /tmp/{mark} && mkdir /bin/d{mark}"),
    );
    let alert = sensor.wait_alert(&MODIFY_BIN_DIRS, |a| {
        out_contains(a, "evt.args", &format!("/bin/{mark}"))
    });
    assert_out(&alert, "evt.type", "rename");
    assert_out(&alert, "container.id", ctr.short_id());
    let alert = sensor.wait_alert(&MKDIR_BIN_DIRS, |a| {
        out_is(a, "evt.arg.path", &*format!("/bin/d{mark}"))
    });
    assert_out(&alert, "evt.type", "mkdir");
    // Near misses: the same under /tmp.
    let quiet = unique("quiet");
    in_ctr(
        &ctr,
        &format!("touch /tmp/a{quiet} && mv /tmp/a{quiet} /tmp/b{quiet} && mkdir /tmp/d{quiet}"),
    );
    sensor.wait_for(
        |e| e["evt.type"] == "mkdir" && e["evt.arg.path"] == format!("/tmp/d{quiet}").as_str(),
        EVENT_TIMEOUT,
    );
    sensor.assert_no_alert("the same under /tmp", |a| {
        (a["rule"] == MODIFY_BIN_DIRS.name || a["rule"] == MKDIR_BIN_DIRS.name)
            && out_is(a, "container.id", ctr.short_id())
            && a["output"].as_str().is_some_and(|o| o.contains(&quiet))
    });
    drop(ctr);
    sensor.stop();
}

#[test]
fn moving_a_file_into_a_repository_directory_fires_update_package_repository() {
    require_root!();
    let mut sensor = official_sensor_with(&[]);
    let ctr = container();
    std::fs::create_dir_all(in_rootfs(&ctr, "/etc/apt/sources.list.d")).unwrap();
    let mark = unique("repo");
    in_ctr(
        &ctr,
        &format!("touch /tmp/{mark} && mv /tmp/{mark} /etc/apt/sources.list.d/{mark}.list"),
    );
    let alert = sensor.wait_alert(&UPDATE_REPOSITORY, |a| {
        out_is(a, "container.id", ctr.short_id()) && out_contains(a, "evt.arg.newpath", &mark)
    });
    assert_out(
        &alert,
        "evt.arg.newpath",
        format!("/etc/apt/sources.list.d/{mark}.list"),
    );
    assert_out(&alert, "evt.type", "rename");
    // Near miss: the same move into /etc/aptly (a prefix of the name, not of the path).
    std::fs::create_dir_all(in_rootfs(&ctr, "/etc/aptly")).unwrap();
    let quiet = unique("quiet");
    in_ctr(
        &ctr,
        &format!("touch /tmp/{quiet} && mv /tmp/{quiet} /etc/aptly/{quiet}"),
    );
    sensor.wait_for(
        |e| {
            e["evt.type"] == "rename"
                && e["evt.arg.newpath"] == format!("/etc/aptly/{quiet}").as_str()
        },
        EVENT_TIMEOUT,
    );
    sensor.assert_no_alert("a move into /etc/aptly", |a| {
        a["rule"] == UPDATE_REPOSITORY.name
            && out_is(a, "container.id", ctr.short_id())
            && a["output"].as_str().is_some_and(|o| o.contains(&quiet))
    });
    drop(ctr);
    sensor.stop();
}

/// The two sandbox rules the files ship disabled, enabled the way a user does (an override of
/// `enabled`), fire in a container.
#[test]
fn enabled_sandbox_rules_fire_container_drift_chmod_and_create_hidden_files() {
    require_root!();
    let dir = TempDir::new("enable");
    let file = dir.path().join("enable.yaml");
    let enable: String = [&DRIFT_CHMOD, &HIDDEN_FILES]
        .iter()
        .map(|r| {
            let name = r.name;
            format!("- rule: {name}\n  enabled: true\n  override:\n    enabled: replace\n")
        })
        .collect();
    std::fs::write(&file, enable).unwrap();
    let mut sensor = official_sensor_with(&[file.display().to_string()]);
    let ctr = container();
    let mark = unique("drift");
    in_ctr(
        &ctr,
        &format!("touch /tmp/{mark} && chmod 755 /tmp/{mark} && mkdir /tmp/.{mark}"),
    );
    let alert = sensor.wait_alert(&DRIFT_CHMOD, |a| {
        out_is(a, "evt.arg.filename", &*format!("/tmp/{mark}"))
    });
    assert_out_contains(&alert, "evt.arg.mode", "S_IXUSR");
    assert_out(&alert, "container.id", ctr.short_id());
    // (runc on the host writes a hidden pid file too: its alert is not the container's.)
    let alert = sensor.wait_alert(&HIDDEN_FILES, |a| {
        out_is(a, "container.id", ctr.short_id())
            && out_contains(a, "proc.cmdline", &format!("/tmp/.{mark}"))
    });
    assert_out(&alert, "evt.type", "mkdir");
    // Near misses: a chmod that makes nothing executable, a directory that is not hidden.
    let quiet = unique("quiet");
    in_ctr(
        &ctr,
        &format!("touch /tmp/{quiet} && chmod 644 /tmp/{quiet} && mkdir /tmp/v{quiet}"),
    );
    sensor.wait_for(
        |e| e["evt.type"] == "mkdir" && e["evt.arg.path"] == format!("/tmp/v{quiet}").as_str(),
        EVENT_TIMEOUT,
    );
    sensor.assert_no_alert("chmod 644, a visible directory", |a| {
        (a["rule"] == DRIFT_CHMOD.name || a["rule"] == HIDDEN_FILES.name)
            && out_is(a, "container.id", ctr.short_id())
            && a["output"].as_str().is_some_and(|o| o.contains(&quiet))
    });
    drop(ctr);
    sensor.stop();
}
