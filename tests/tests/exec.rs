//! execve / execveat events (docs/events.md, "execve / execveat").

use lanner_tests::*;
use serde_json::{Value, json};
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

fn busybox() -> String {
    canonical("/bin/busybox")
}

fn argv_is(ev: &Value, argv: &[&str]) -> bool {
    ev["lanner.argv"] == json!(argv)
}

#[test]
fn execve_reports_identity_argv_and_context() {
    require_root!();
    let mut sensor = Sensor::start();
    let cwd = TempDir::new("cwd");
    let marker = unique("exec");
    let t0 = now_ns();
    let mut child = Command::new("/bin/busybox")
        .args(["echo", &marker, "a", "b"])
        .current_dir(cwd.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = i64::from(child.id());
    assert!(child.wait().unwrap().success());
    let ev = sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == pid && has_arg(e, &marker),
        EVENT_TIMEOUT,
    );
    let t1 = now_ns();

    let evt_time = field_i64(&ev, "evt.time");
    assert!(
        evt_time > t0 - 1_000_000_000 && evt_time < t1 + 1_000_000_000,
        "evt.time {evt_time} not in [{t0}, {t1}]"
    );
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.rawres", 0);
    assert_field(&ev, "thread.tid", pid);
    assert_field(&ev, "proc.vpid", pid); // the suite runs in the initial pid namespace
    assert_field(&ev, "proc.ppid", my_pid());
    assert_field(&ev, "proc.name", "busybox");
    assert_field(&ev, "proc.exe", "/bin/busybox");
    assert_field(&ev, "proc.exepath", busybox());
    assert_field(&ev, "evt.arg.filename", "/bin/busybox");
    assert_field(
        &ev,
        "lanner.argv",
        json!(["/bin/busybox", "echo", marker, "a", "b"]),
    );
    assert_field(&ev, "lanner.args_truncated", false);
    assert_field(&ev, "lanner.path_truncated", false);
    assert_field(&ev, "proc.args", format!("echo {marker} a b"));
    assert_field(&ev, "proc.cmdline", format!("busybox echo {marker} a b"));
    assert_field(&ev, "proc.cwd", format!("{}/", cwd.path_str()));
    assert_field(&ev, "user.uid", 0);
    assert_field(&ev, "user.euid", 0);
    assert_field(&ev, "group.gid", 0);
    assert_field(&ev, "user.loginuid", own_loginuid());
    assert_field(&ev, "thread.cap_effective", cap_names(root_exec_caps()));
    assert_field(&ev, "thread.cap_permitted", cap_names(root_exec_caps()));
    assert!(
        field_str(&ev, "thread.cap_effective")
            .split(' ')
            .any(|c| c == "CAP_SYS_ADMIN")
    );
    let tty = field_i64(&ev, "proc.tty");
    // The device-number encoding is not pinned down by the contract: only compare "none".
    assert_eq!(
        tty == 0,
        own_tty_nr() == 0,
        "proc.tty {tty} vs own tty_nr {}",
        own_tty_nr()
    );
    let cgroup_id = field_i64(&ev, "lanner.cgroup_id");
    assert!(cgroup_id > 0, "lanner.cgroup_id {cgroup_id}");
    if let Some((id, path)) = own_cgroup_v2() {
        assert_eq!(
            cgroup_id as u64, id,
            "lanner.cgroup_id vs inode of cgroup2 dir {path}"
        );
        match path.rsplit('/').next().filter(|leaf| !leaf.is_empty()) {
            Some(leaf) => assert_field(&ev, "lanner.cgroup", leaf),
            // In the v2 root of a hybrid host the sensor reports the v1 memory controller's
            // leaf (container runtimes may only use v1 there).
            None => match own_cgroup_v1_leaf("memory") {
                Some(leaf) => assert_field(&ev, "lanner.cgroup", leaf.as_str()),
                None => assert!(
                    ev["lanner.cgroup"].is_null() || ev["lanner.cgroup"] == "/",
                    "root cgroup: {ev:#}"
                ),
            },
        }
    }
    assert_field(&ev, "proc.is_exe_from_memfd", false);
    assert_field(&ev, "proc.is_exe_upper_layer", false); // / is not an overlay here
    assert_field(&ev, "proc.env", Value::Null); // no --capture-env
    sensor.stop();
}

#[test]
fn failed_execve_reports_errno_and_filename() {
    require_root!();
    let mut sensor = Sensor::start();
    let path = format!("/nonexistent/{}", unique("noexec"));
    let comm = thread_comm();
    let err = Command::new(&path)
        .spawn()
        .expect_err("spawning a nonexistent path must fail");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    let ev = sensor.wait_for(
        |e| is_type(e, "execve") && e["evt.arg.filename"] == path.as_str(),
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.res", "ENOENT");
    assert_field(&ev, "evt.rawres", -2);
    // A failed exec leaves the process as it was (as in Falco): its executable is still the
    // caller's, this test binary, not the path it tried.
    let me = std::env::current_exe().unwrap().canonicalize().unwrap();
    assert_field(&ev, "proc.exepath", me.to_str().unwrap());
    assert_field(&ev, "proc.is_exe_from_memfd", Value::Null);
    // std execs in a (v)forked child of this process; either way the caller is ours.
    let (pid, ppid) = (field_i64(&ev, "proc.pid"), field_i64(&ev, "proc.ppid"));
    assert!(
        pid == my_pid() || ppid == my_pid(),
        "caller pid {pid} / ppid {ppid}, test pid {}",
        my_pid()
    );
    // A failed exec reports the caller's identity: the forking thread's comm.
    assert_field(&ev, "proc.name", comm);
    if !ev["lanner.argv"].is_null() {
        assert_field(&ev, "lanner.argv", json!([path]));
    }
    sensor.stop();
}

#[test]
fn execveat_with_dirfd_reports_resolved_exepath() {
    require_root!();
    let mut sensor = Sensor::start();
    let marker = unique("execveat");
    let bin = CString::new("/bin").unwrap();
    // SAFETY: valid C string.
    let dirfd = unsafe {
        libc::open(
            bin.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    assert!(dirfd >= 0, "open /bin: errno {}", last_errno());
    let argv = CArgs::new(&["busybox", "echo", &marker]);
    let envp = CArgs::new::<&str>(&[]);
    let name = CString::new("busybox").unwrap();
    let pid = fork_child(|| {
        // SAFETY: raw syscall with valid pointers, in the forked child.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                dirfd,
                name.as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                0,
            )
        };
        127
    });
    assert_eq!(wait_status(pid), 0, "busybox echo via execveat failed");
    // SAFETY: closing our own fd.
    unsafe { libc::close(dirfd) };
    let ev = sensor.wait_for(
        |e| is_type(e, "execveat") && has_arg(e, &marker),
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "evt.rawres", 0);
    assert_field(&ev, "proc.pid", pid);
    assert_field(&ev, "proc.ppid", my_pid());
    assert_field(&ev, "proc.exepath", busybox());
    assert_field(&ev, "proc.name", "busybox");
    assert_field(&ev, "proc.exe", "busybox");
    assert_field(&ev, "lanner.argv", json!(["busybox", "echo", marker]));
    assert_field(&ev, "evt.arg.filename", "busybox");
    assert_field(&ev, "evt.arg.dirfd", dirfd.to_string());
    assert_field(&ev, "evt.rawarg.dirfd", dirfd);
    assert_field(&ev, "lanner.at_flags", 0);
    // Falco's `flags` of an exec: what the executable is (EXE_*), none here.
    assert_field(&ev, "evt.arg.flags", "0");
    assert_field(&ev, "proc.is_exe_from_memfd", false);
    sensor.stop();
}

#[test]
fn execve_with_500_long_args_is_delivered_truncated_and_flagged() {
    require_root!();
    let mut sensor = Sensor::start();
    let marker = unique("longargs");
    let long: Vec<String> = (0..500)
        .map(|i| format!("{i:04}-{}", "x".repeat(195)))
        .collect();
    let mut full = vec!["/bin/true".to_string(), marker.clone()];
    full.extend(long.iter().cloned());
    let mut child = Command::new("/bin/true")
        .arg(&marker)
        .args(&long)
        .spawn()
        .unwrap();
    let pid = i64::from(child.id());
    assert!(child.wait().unwrap().success());
    let ev = sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == pid,
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "lanner.args_truncated", true);
    let argv = ev["lanner.argv"]
        .as_array()
        .expect("lanner.argv must be an array");
    assert!(
        argv.len() >= 3,
        "too little of argv kept: {} elements",
        argv.len()
    );
    assert!(argv.len() <= full.len(), "argv longer than what was passed");
    let (last, exact) = argv.split_last().unwrap();
    for (i, a) in exact.iter().enumerate() {
        assert!(
            a == full[i].as_str(),
            "argv[{i}] = {a}, expected {}",
            full[i]
        );
    }
    let last = last.as_str().unwrap();
    assert!(
        full[argv.len() - 1].starts_with(last),
        "last kept argv element {last:?} is not a prefix"
    );
    assert!(field_str(&ev, "proc.args").starts_with(&format!("{marker} 0000-x")));
    let stats = sensor.stop();
    assert!(
        stats.lost("exec", "truncated") >= 1,
        "truncated record not counted: {}",
        stats.raw
    );
}

#[test]
fn exec_from_memfd_is_flagged() {
    require_root!();
    let mut sensor = Sensor::start();
    let marker = unique("memfd");
    let mem_ro = busybox_memfd(&marker);
    let fd = mem_ro.as_raw_fd();
    let argv = CArgs::new(&["busybox", "echo", &marker]);
    let envp = CArgs::new::<&str>(&[]);
    let pid = fork_child(|| execveat_fd(fd, &argv, &envp));
    assert_eq!(wait_status(pid), 0, "exec from memfd failed");
    let ev = sensor.wait_for(
        |e| e["proc.pid"] == pid && argv_is(e, &["busybox", "echo", &marker]),
        EVENT_TIMEOUT,
    );
    assert_field(&ev, "evt.type", "execveat");
    assert_field(&ev, "evt.res", "SUCCESS");
    assert_field(&ev, "proc.is_exe_from_memfd", true);
    assert_field(&ev, "evt.rawarg.dirfd", fd);
    assert_field(&ev, "lanner.at_flags", libc::AT_EMPTY_PATH);
    assert_field(&ev, "evt.arg.flags", "EXE_FROM_MEMFD");
    // The contract only says "/memfd:<name> (deleted)" is not the format: whatever it is,
    // it names the memfd and is not a path on disk.
    if let Some(exepath) = ev["proc.exepath"].as_str() {
        assert!(
            exepath.contains(&marker),
            "proc.exepath {exepath:?} does not name the memfd"
        );
        assert!(!exepath.contains("(deleted)"), "proc.exepath {exepath:?}");
    }
    drop(mem_ro);
    sensor.stop();
}

#[test]
fn capture_env_reports_environment() {
    require_root!();
    let mut sensor = Sensor::start_with(&["--capture-env"]);
    let marker = unique("env");
    let mut child = Command::new("/bin/busybox")
        .args(["true", &marker])
        .env_clear()
        .env("LANNER_TEST_MARK", &marker)
        .spawn()
        .unwrap();
    let pid = i64::from(child.id());
    assert!(child.wait().unwrap().success());
    let ev = sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == pid,
        EVENT_TIMEOUT,
    );
    let want = format!("LANNER_TEST_MARK={marker}");
    let env = &ev["proc.env"];
    let found = match env {
        Value::String(s) => s.contains(&want),
        Value::Array(a) => a.iter().any(|x| x == want.as_str()),
        _ => false,
    };
    assert!(found, "proc.env does not contain {want}\nevent: {ev:#}");
    sensor.stop();
}
