//! overlayfs: `proc.is_exe_upper_layer` of execve events (docs/events.md, "execve / execveat").
//!
//! The test builds its own overlay on a private tmpfs (tmpfs supports the `trusted.*` xattrs
//! overlayfs needs on the upper and work dirs) and tells its execs apart by a unique marker.

use lanner_tests::*;
use serde_json::json;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

#[track_caller]
fn umount(dir: &str) {
    let p = c(dir);
    // SAFETY: valid C string.
    let r = unsafe { libc::umount2(p.as_ptr(), 0) };
    assert_eq!(r, 0, "umount {dir}: errno {}", last_errno());
}

/// Runs `<path> echo <marker>` with argv[0] `busybox` (busybox picks the applet from the
/// name it is called by) and returns its pid. A write descriptor that some other thread's
/// fork briefly inherited makes exec fail with ETXTBSY: retry a few times.
fn run_echo(path: &str, marker: &str) -> i64 {
    for _ in 0..50 {
        match Command::new(path)
            .arg0("busybox")
            .args(["echo", marker])
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(mut child) => {
                assert!(child.wait().unwrap().success(), "{path} echo failed");
                return i64::from(child.id());
            }
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("exec {path}: {e}"),
        }
    }
    panic!("exec {path}: ETXTBSY for a second");
}

#[test]
fn exec_from_overlay_upper_layer_is_flagged() {
    require_root!();
    let mut sensor = Sensor::start();
    let root = TempDir::new("ovl");
    let r = root.path_str();
    let _tmpfs_guard = Unmount(r.clone());
    mount_fs(&unique("ovl-tmpfs"), &r, "tmpfs", "mode=0755");
    let (lower, upper, work, merged) = (
        root.path().join("lower"),
        root.path().join("upper"),
        root.path().join("work"),
        root.path().join("merged"),
    );
    for d in [&lower, &upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let busybox = canonical("/bin/busybox");
    for name in ["bb-lower", "bb-chmod", "bb-append"] {
        copy_executable(&busybox, lower.join(name));
    }
    let m = merged.to_string_lossy().into_owned();
    let _overlay_guard = Unmount(m.clone());
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    mount_fs("overlay", &m, "overlay", &opts);

    // A new file lands in the upper layer; any change to a lower file copies it up first.
    copy_executable(&busybox, merged.join("bb-upper"));
    fs::set_permissions(merged.join("bb-chmod"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(merged.join("bb-append"))
        .unwrap()
        .write_all(b"\n")
        .unwrap();
    for (name, in_upper) in [
        ("bb-lower", false),
        ("bb-upper", true),
        ("bb-chmod", true),
        ("bb-append", true),
    ] {
        assert_eq!(
            upper.join(name).exists(),
            in_upper,
            "precondition: {name} in the upper dir"
        );
    }

    for (name, expected) in [
        ("bb-lower", false),
        ("bb-upper", true),
        ("bb-chmod", true),
        ("bb-append", true),
    ] {
        let path = format!("{m}/{name}");
        let marker = unique("ovl-exec");
        let pid = run_echo(&path, &marker);
        let ev = sensor.wait_for(
            |e| is_type(e, "execve") && e["proc.pid"] == pid && has_arg(e, &marker),
            EVENT_TIMEOUT,
        );
        assert_field(&ev, "evt.res", "SUCCESS");
        assert_field(&ev, "evt.arg.filename", path.as_str());
        assert_field(&ev, "lanner.argv", json!(["busybox", "echo", marker]));
        assert_field(&ev, "proc.exepath", path.as_str());
        assert_field(&ev, "proc.is_exe_upper_layer", expected);
        assert_field(&ev, "proc.is_exe_from_memfd", false);
    }
    // Executing a lower file does not copy it up.
    assert!(!upper.join("bb-lower").exists(), "exec copied bb-lower up");
    sensor.stop();

    umount(&m);
    umount(&r);
}
