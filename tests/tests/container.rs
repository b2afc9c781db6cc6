//! Container identity of events: `lanner.cgroup` / `lanner.cgroup_id` from the kernel, and
//! `container.id` / `container.full_id` (Falco's 12-character id or `host`, and the 64-hex id)
//! for tasks in cgroups named the way kubelet with containerd or CRI-O names them, on the host,
//! and in a real runc container whose user exists only in its own /etc/passwd.

use lanner_tests::*;
use serde_json::Value;
use std::fs;

/// Execs `busybox echo <marker>` inside `jail` and returns its execve event.
#[track_caller]
fn exec_in(sensor: &Sensor, jail: &CgroupJail) -> Value {
    let marker = unique("ctr");
    let (pid, status) = jail.run(&["/bin/busybox", "echo", &marker]);
    assert_eq!(
        status,
        0,
        "busybox echo in cgroup {} failed (exit 125: could not join it)",
        jail.path()
    );
    let pid = i64::from(pid);
    sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == pid && has_arg(e, &marker),
        EVENT_TIMEOUT,
    )
}

/// The kernel's view: the jail's leaf name and its cgroup v2 id.
#[track_caller]
fn assert_cgroup(ev: &Value, leaf: &str, v2_id: Option<u64>) {
    assert_field(ev, "lanner.cgroup", leaf);
    if let Some(id) = v2_id {
        assert_field(ev, "lanner.cgroup_id", id);
    }
}

#[track_caller]
fn assert_container(ev: &Value, id: &str) {
    assert_field(ev, "container.id", &id[..12]);
    assert_field(ev, "container.full_id", id);
}

#[track_caller]
fn assert_host(ev: &Value) {
    assert_field(ev, "container.id", "host");
    assert_field(ev, "container.full_id", "host");
}

/// `(controllers, path)` of each line of /proc/<pid>/cgroup (controllers empty for v2).
fn proc_cgroups(pid: i64) -> Vec<(String, String)> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, names, path) = (p.next()?, p.next()?, p.next()?);
            Some((names.to_string(), path.to_string()))
        })
        .collect()
}

/// The path of `pid` in the v2 hierarchy and in the v1 `memory` one (None when not mounted).
fn v2_and_memory_paths(pid: i64) -> (Option<String>, Option<String>) {
    let lines = proc_cgroups(pid);
    let find = |f: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .find(|(n, _)| f(n))
            .map(|(_, path)| path.clone())
    };
    (
        find(&|n| n.is_empty()),
        find(&|n| n.split(',').any(|c| c == "memory")),
    )
}

#[test]
fn containerd_systemd_scope_is_the_container() {
    require_root!();
    let mut sensor = Sensor::start();
    let id = random_id();
    let jail = CgroupJail::new(
        &format!("cri-containerd-{id}.scope"),
        CgroupKind::KubeletSystemd,
    );
    let ev = exec_in(&sensor, &jail);
    assert_cgroup(&ev, jail.leaf(), jail.v2_id());
    assert_container(&ev, &id);
    sensor.stop();
}

#[test]
fn crio_systemd_scope_is_the_container() {
    require_root!();
    let mut sensor = Sensor::start();
    let id = random_id();
    let jail = CgroupJail::new(&format!("crio-{id}.scope"), CgroupKind::KubeletSystemd);
    let ev = exec_in(&sensor, &jail);
    assert_cgroup(&ev, jail.leaf(), jail.v2_id());
    assert_container(&ev, &id);
    sensor.stop();
}

#[test]
fn cgroupfs_bare_id_is_the_container() {
    require_root!();
    let mut sensor = Sensor::start();
    let id = random_id();
    let jail = CgroupJail::new(&id, CgroupKind::KubeletCgroupfs);
    let ev = exec_in(&sensor, &jail);
    assert_cgroup(&ev, &id, jail.v2_id());
    assert_container(&ev, &id);
    sensor.stop();
}

/// containerd given kubelet's systemd-style `cgroupsPath` while runc uses cgroupfs: the whole
/// `<slice>:cri-containerd:<id>` is one directory name, 134 to 145 bytes long.
#[test]
fn containerd_colon_form_without_systemd_is_the_container() {
    require_root!();
    let mut sensor = Sensor::start();
    let id = random_id();
    let slice = CgroupKind::KubeletSystemd.parent(&random_pod_uid());
    let slice = slice.rsplit('/').next().unwrap();
    let jail = CgroupJail::new(&format!("{slice}:cri-containerd:{id}"), CgroupKind::Root);
    let ev = exec_in(&sensor, &jail);
    assert_cgroup(&ev, jail.leaf(), jail.v2_id());
    assert_container(&ev, &id);
    sensor.stop();
}

#[test]
fn conmon_and_other_look_alikes_are_the_host() {
    require_root!();
    let mut sensor = Sensor::start();
    let id = random_id();
    for (leaf, kind) in [
        // CRI-O's and Podman's monitor process, outside the container.
        (
            format!("crio-conmon-{id}.scope"),
            CgroupKind::KubeletSystemd,
        ),
        (format!("libpod-conmon-{id}.scope"), CgroupKind::Root),
        // 32 hex digits: no container id format Lanner knows.
        (id[..32].to_string(), CgroupKind::KubeletCgroupfs),
        // An id that is not lowercase.
        (id.to_ascii_uppercase(), CgroupKind::Docker),
    ] {
        let jail = CgroupJail::new(&leaf, kind);
        let ev = exec_in(&sensor, &jail);
        assert_cgroup(&ev, &leaf, jail.v2_id());
        assert_host(&ev);
    }
    sensor.stop();
}

#[test]
fn host_process_is_the_host() {
    require_root!();
    let mut sensor = Sensor::start();
    let (pid, marker) = echo_on_host("host");
    let ev = sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == pid && has_arg(e, &marker),
        EVENT_TIMEOUT,
    );
    assert_host(&ev);
    sensor.stop();
}

#[test]
fn runc_container_exec_is_the_container_with_its_own_users() {
    require_root!();
    let host_passwd = fs::read_to_string("/etc/passwd").unwrap();
    assert!(
        !host_passwd.lines().any(|l| {
            let f: Vec<&str> = l.split(':').collect();
            f.first() == Some(&CTR_USER) || f.get(2) == Some(&CTR_UID.to_string().as_str())
        }),
        "the host must not know uid {CTR_UID} / {CTR_USER} for this test to mean anything"
    );
    // The sensor first, so that it sees the container's init start (a process of the container
    // that outlives the short `echo` below).
    let mut sensor = Sensor::start();
    let ctr = RuncContainer::start();
    let marker = unique("runc");
    let run = ctr.exec(&["/bin/busybox", "echo", &marker]);
    assert!(run.success, "runc exec: {run:?}");
    assert_eq!(run.stdout.trim(), marker, "runc exec: {run:?}");
    let ev = sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == run.pid && has_arg(e, &marker),
        EVENT_TIMEOUT,
    );
    // The kernel's view.
    let v2_id = v2_hierarchy().and_then(|m| {
        use std::os::unix::fs::MetadataExt;
        let dir = m.join(ctr.cgroup_path().trim_start_matches('/'));
        fs::metadata(dir).ok().map(|md| md.ino())
    });
    assert_cgroup(&ev, ctr.id(), v2_id);
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "user.uid", CTR_UID);
    assert_field(&ev, "group.gid", CTR_GID);
    assert_field(&ev, "proc.exepath", "/bin/busybox"); // relative to the container's root
    assert_field(&ev, "proc.name", "busybox");
    assert!(
        field_i64(&ev, "proc.vpid") != run.pid,
        "runc exec runs in the container's pid namespace\nevent: {ev:#}"
    );
    // The enrichment: container and names from the container's own /etc/passwd and /etc/group.
    assert_container(&ev, ctr.id());
    assert_field(&ev, "user.name", CTR_USER);
    assert_field(&ev, "group.name", CTR_GROUP);
    drop(ctr);
    sensor.stop();
}

// ---------------------------------------------------------------------------------------------
// The harness itself (no sensor)
// ---------------------------------------------------------------------------------------------

#[test]
fn cgroup_jail_holds_its_process_in_every_hierarchy_and_cleans_up() {
    require_root!();
    let id = random_id();
    let jail = CgroupJail::new(
        &format!("cri-containerd-{id}.scope"),
        CgroupKind::KubeletSystemd,
    );
    assert!(
        jail.path()
            .starts_with("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod")
            && jail
                .path()
                .ends_with(&format!(".slice/cri-containerd-{id}.scope")),
        "{}",
        jail.path()
    );
    let pid = jail.spawn(&["/bin/busybox", "sleep", "30"]);
    let (v2, memory) = v2_and_memory_paths(i64::from(pid));
    let mounts = jail_hierarchies();
    if v2_hierarchy().is_some() {
        assert_eq!(v2.as_deref(), Some(jail.path()), "v2 path of {pid}");
    }
    if mounts.len() > 1 {
        assert_eq!(memory.as_deref(), Some(jail.path()), "memory path of {pid}");
    }
    assert_eq!(jail.pids(), vec![pid]);
    // SAFETY: our child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_status(pid);
    let dirs = jail.dirs();
    let pod_dirs: Vec<_> = dirs
        .iter()
        .map(|d| d.parent().unwrap().to_owned())
        .collect();
    assert!(dirs.iter().all(|d| d.is_dir()), "{dirs:?}");
    drop(jail);
    for d in dirs.iter().chain(&pod_dirs) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn runc_container_runs_as_its_user_in_its_cgroup() {
    require_root!();
    let ctr = RuncContainer::start();
    let init = ctr.init_pid();
    let path = ctr.cgroup_path().to_string();
    assert!(
        path.starts_with("/kubepods/besteffort/pod") && path.ends_with(&format!("/{}", ctr.id())),
        "{path}"
    );
    let lines = proc_cgroups(init);
    assert!(!lines.is_empty());
    for (names, p) in &lines {
        assert_eq!(p, &path, "init {init} in hierarchy {names:?}");
    }
    let status = fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == CTR_UID.to_string()),
        "{uid_line}"
    );
    let passwd = fs::read_to_string(format!("/proc/{init}/root/etc/passwd")).unwrap();
    assert!(passwd.contains(CTR_USER), "{passwd}");
    let run = ctr.exec(&["/bin/busybox", "id"]);
    assert!(run.success, "{run:?}");
    assert_eq!(
        run.stdout.trim(),
        format!("uid={CTR_UID}({CTR_USER}) gid={CTR_GID}({CTR_GROUP})")
    );
    assert!(run.pid > 0 && run.pid != init, "{run:?}");
    drop(ctr);
    let pod = path.rsplit_once('/').unwrap().0;
    for m in jail_hierarchies() {
        for d in [&path, pod] {
            let d = m.join(d.trim_start_matches('/'));
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }
}
