//! Default rules about where an executable comes from: "Execution from /dev/shm", "Fileless
//! Execution via memfd" and "Container Drift Executable Launched" (overlayfs upper layer).
//!
//! runc mounts a container's /dev/shm noexec and its root here is a plain directory (no
//! overlay), so the direct executions run in a [`CgroupJail`]: a cgroup named like a
//! containerd container's, which is all that makes a process "in a container" for the sensor.
//! The script-from-/dev/shm case runs in a real runc container.

use lanner_tests::*;
use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;

/// A jail named like a containerd container (systemd driver), and its 12-digit id.
fn containerd_jail() -> (CgroupJail, String) {
    let id = random_id();
    let jail = CgroupJail::new(
        &format!("cri-containerd-{id}.scope"),
        CgroupKind::KubeletSystemd,
    );
    (jail, id[..12].to_string())
}

/// A copy of busybox at `path`, executable.
fn copy_busybox(path: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    lanner_tests::copy_executable(canonical("/bin/busybox"), path);
}

/// Runs `<exe> echo <marker>` (argv[0] `busybox`) in `jail`; returns the pid once it exited 0.
/// A file just written may be briefly busy (another thread's fork holding its write
/// descriptor until that child execs: ETXTBSY): a failed exec (127) is retried.
#[track_caller]
fn echo_in_jail(jail: &CgroupJail, exe: &str, marker: &str) -> i64 {
    let args = CArgs::new(&["busybox", "echo", marker]);
    let path = CString::new(exe).unwrap();
    for _ in 0..50 {
        let pid = jail.fork_in(|| {
            // SAFETY: valid C strings and NULL-terminated argv built before fork.
            unsafe { libc::execv(path.as_ptr(), args.as_ptr()) };
            127
        });
        match wait_status(pid) {
            0 => return i64::from(pid),
            s if libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 127 => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            s => panic!("{exe} echo in {}: wait status {s:#x}", jail.path()),
        }
    }
    panic!("{exe}: exec failed for a second");
}

#[test]
fn dev_shm_execution_fires_for_a_binary_and_a_script_there() {
    require_root!();
    let mut sensor = Sensor::start();
    let (jail, short) = containerd_jail();
    let dir = Path::new("/dev/shm").join(unique("shm"));
    let _cleanup = RemoveDir(dir.clone());
    let exe = dir.join("busybox");
    copy_busybox(&exe);
    let marker = unique("shm-exec");
    let pid = echo_in_jail(&jail, exe.to_str().unwrap(), &marker);
    let alert = sensor.wait_alert(&DEV_SHM_EXEC, |a| out_is(a, "proc.pid", pid));
    assert_out(&alert, "container.id", short.as_str());
    assert_out(&alert, "proc.exepath", exe.to_str().unwrap());
    assert_out(&alert, "proc.cmdline", format!("busybox echo {marker}"));

    // A script staged in the (noexec) /dev/shm of a runc container, run by a shell.
    let ctr = RuncContainer::start();
    let script = format!("/dev/shm/{}.sh", unique("payload"));
    let run = ctr.exec(&[
        "/bin/sh",
        "-c",
        &format!("echo 'echo staged' > {script}; /bin/sh {script}; true"),
    ]);
    assert!(run.success && run.stdout.contains("staged"), "{run:?}");
    let alert = sensor.wait_alert(&DEV_SHM_EXEC, |a| {
        out_is(a, "proc.cmdline", format!("sh {script}"))
    });
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "proc.pname", "sh");
    drop(ctr);
    sensor.stop();
}

#[test]
fn dev_shm_execution_ignores_the_same_binary_in_tmp() {
    require_root!();
    let mut sensor = Sensor::start();
    let (jail, _) = containerd_jail();
    let dir = TempDir::new("not-shm");
    let exe = dir.path().join("busybox");
    copy_busybox(&exe);
    let pid = echo_in_jail(&jail, exe.to_str().unwrap(), &unique("tmp-exec"));
    let ev = sensor.wait_exec(pid);
    assert_field(&ev, "proc.exepath", exe.to_str().unwrap());
    // The jail's process is root with every capability: "Privileged Process Launched in
    // Container" rightly alerts on it (later in the file, so this rule did not match first).
    sensor.assert_no_alert("busybox run from a temp dir", |a| {
        a["rule"] == DEV_SHM_EXEC.name && out_is(a, "proc.pid", pid)
    });
    sensor.stop();
}

#[test]
fn fileless_execution_fires_for_exec_from_a_memfd_in_a_container() {
    require_root!();
    let mut sensor = Sensor::start();
    let (jail, short) = containerd_jail();
    let marker = unique("memfd");
    let mem = busybox_memfd(&marker);
    let fd = mem.as_raw_fd();
    let argv = CArgs::new(&["busybox", "echo", &marker]);
    let envp = CArgs::new::<&str>(&[]);
    let pid = jail.fork_in(|| execveat_fd(fd, &argv, &envp));
    assert_eq!(wait_status(pid), 0, "exec from memfd");
    let alert = sensor.wait_alert(&FILELESS_MEMFD, |a| out_is(a, "proc.pid", pid));
    assert_out(&alert, "container.id", short.as_str());
    assert_out_contains(&alert, "proc.exepath", &marker);
    // comm, the start of proc.cmdline, is what the kernel names a memfd exec: `memfd:<name>`
    // cut to 15 characters.
    let comm = &format!("memfd:{marker}")[..15];
    assert_out(&alert, "proc.cmdline", format!("{comm} echo {marker}"));
    drop(mem);
    sensor.stop();
}

#[test]
fn fileless_execution_ignores_exec_from_a_file() {
    require_root!();
    let mut sensor = Sensor::start();
    let (jail, _) = containerd_jail();
    let pid = echo_in_jail(&jail, &canonical("/bin/busybox"), &unique("file-exec"));
    let ev = sensor.wait_exec(pid);
    assert_field(&ev, "proc.is_exe_from_memfd", false);
    sensor.assert_no_alert("exec of /bin/busybox", |a| {
        a["rule"] == FILELESS_MEMFD.name && out_is(a, "proc.pid", pid)
    });
    sensor.stop();
}

/// An overlay (lower, upper, work on a private tmpfs) with busybox in the lower layer as
/// `bb-lower` and a copy written through the merged view (so into the upper layer) as
/// `bb-upper`; unmounted on drop.
struct Overlay {
    merged: String,
    _overlay: Unmount,
    _tmpfs: Unmount,
    _root: TempDir,
}

impl Overlay {
    fn new() -> Overlay {
        let root = TempDir::new("drift");
        let r = root.path_str();
        let tmpfs = Unmount(r.clone());
        mount_fs(&unique("drift-tmpfs"), &r, "tmpfs", "mode=0755");
        let p = |d: &str| root.path().join(d);
        for d in ["lower", "upper", "work", "merged"] {
            fs::create_dir(p(d)).unwrap();
        }
        copy_busybox(&p("lower").join("bb-lower"));
        let merged = p("merged").to_string_lossy().into_owned();
        let overlay = Unmount(merged.clone());
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            p("lower").display(),
            p("upper").display(),
            p("work").display()
        );
        mount_fs("overlay", &merged, "overlay", &opts);
        copy_busybox(&Path::new(&merged).join("bb-upper"));
        assert!(
            p("upper").join("bb-upper").exists(),
            "bb-upper not copied up"
        );
        Overlay {
            merged,
            _overlay: overlay,
            _tmpfs: tmpfs,
            _root: root,
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.merged)
    }
}

#[test]
fn container_drift_fires_for_a_binary_in_the_upper_layer() {
    require_root!();
    let mut sensor = Sensor::start();
    let ovl = Overlay::new();
    let (jail, short) = containerd_jail();
    let marker = unique("drift");
    let exe = ovl.path("bb-upper");
    let pid = echo_in_jail(&jail, &exe, &marker);
    let alert = sensor.wait_alert(&CONTAINER_DRIFT, |a| out_is(a, "proc.pid", pid));
    assert_out(&alert, "container.id", short.as_str());
    assert_out(&alert, "proc.exepath", exe.as_str());
    // comm is the executable's file name, whatever argv[0] says.
    assert_out(&alert, "proc.cmdline", format!("bb-upper echo {marker}"));
    sensor.stop();
}

#[test]
fn container_drift_ignores_lower_layer_binaries_and_the_host() {
    require_root!();
    let mut sensor = Sensor::start();
    let ovl = Overlay::new();
    let (jail, _) = containerd_jail();
    // The image's own binary, in a container.
    let lower = echo_in_jail(&jail, &ovl.path("bb-lower"), &unique("lower"));
    let ev = sensor.wait_exec(lower);
    assert_field(&ev, "proc.is_exe_upper_layer", false);
    // An upper-layer binary run outside any container.
    let mut child = std::process::Command::new(ovl.path("bb-upper"))
        .arg0("busybox")
        .args(["true"])
        .spawn()
        .unwrap();
    let host = i64::from(child.id());
    assert!(child.wait().unwrap().success());
    let ev = sensor.wait_exec(host);
    assert_field(&ev, "proc.is_exe_upper_layer", true);
    sensor.assert_no_alert("lower-layer exec; upper-layer exec on the host", |a| {
        a["rule"] == CONTAINER_DRIFT.name
            && (out_is(a, "proc.pid", lower) || out_is(a, "proc.pid", host))
    });
    sensor.stop();
}

/// Removes a directory tree on drop (for /dev/shm, which [`TempDir`] does not use).
struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
