//! The least-privileged profile: the sensor runs as root with only the capabilities the
//! DaemonSet's least-privileged overlay grants (setpriv reduces the bounding set, so root gets
//! nothing else) and captures events; without CAP_BPF or CAP_PERFMON it refuses to start and
//! names the one missing; without CAP_SYS_PTRACE it starts and says what it loses.

use std::process::Command;
use std::time::Duration;

use lanner_tests::*;

/// The capabilities of deploy/overlays/least-privileged, for setpriv.
const LEAST: [&str; 4] = ["bpf", "perfmon", "sys_resource", "sys_ptrace"];

fn setpriv(caps: &[&str]) -> Vec<String> {
    let set: String = caps.iter().map(|c| format!(",+{c}")).collect();
    vec![
        "setpriv".into(),
        format!("--bounding-set=-all{set}"),
        "--inh-caps=-all".into(),
    ]
}

#[test]
fn captures_with_exactly_the_least_privileged_capabilities() {
    require_root!();
    let wrapper = setpriv(&LEAST);
    let w: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut sensor = Sensor::start_via(&w, &[]);
    let status = sensor_status(sensor.pid());
    // Exactly the four (bits 19, 24, 38, 39), less what this machine withholds from every
    // process: here the sandbox's own bounding set lacks CAP_SYS_RESOURCE, which kernels from
    // 5.11 do not need anyway.
    let four: u64 = (1 << 19) | (1 << 24) | (1 << 38) | (1 << 39);
    let ours = cap_field(&sensor_status(i64::from(std::process::id())), "CapBnd:");
    assert_eq!(cap_field(&status, "CapEff:"), four & ours, "{status}");
    let marker = unique("leastpriv");
    let (pid, st) = spawn_wait(&["/bin/busybox", "echo", &marker]);
    assert_eq!(st, 0);
    let ev = sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == pid && has_arg(e, &marker),
        EVENT_TIMEOUT,
    );
    // The executable path comes from /proc/<pid>/exe (resolved: /bin is a link to /usr/bin).
    assert_field(&ev, "proc.exepath", "/usr/bin/busybox");
    sensor.stop();
}

#[test]
fn without_bpf_or_perfmon_it_refuses_naming_the_capability() {
    require_root!();
    for missing in ["bpf", "perfmon"] {
        let caps: Vec<&str> = LEAST.iter().copied().filter(|c| *c != missing).collect();
        let wrapper = setpriv(&caps);
        let out = Command::new(&wrapper[0])
            .args(&wrapper[1..])
            .arg(lanner_bin())
            .args(["-o", "exporter.enabled=false"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started without {missing}: {stderr}");
        let name = format!("missing capability CAP_{}", missing.to_uppercase());
        assert!(
            stderr.contains(&name),
            "stderr does not say `{name}`:\n{stderr}"
        );
    }
}

#[test]
fn without_sys_ptrace_it_starts_and_says_what_it_loses() {
    require_root!();
    let wrapper = setpriv(&["bpf", "perfmon", "sys_resource"]);
    let w: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut sensor = Sensor::start_via(&w, &[]);
    let marker = unique("noptrace");
    let (pid, _) = spawn_wait(&["/bin/busybox", "echo", &marker]);
    sensor.wait_for(
        |e| is_type(e, "execve") && e["proc.pid"] == pid && has_arg(e, &marker),
        EVENT_TIMEOUT,
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        sensor.stderr().contains("no CAP_SYS_PTRACE"),
        "{}",
        sensor.stderr()
    );
    sensor.stop();
}

fn sensor_status(pid: i64) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

fn cap_field(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no {key} in {status}"))
}

/// Run argv on the host, wait, and return (pid, exit code).
fn spawn_wait(argv: &[&str]) -> (i64, i32) {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = i64::from(child.id());
    let st = child.wait().unwrap();
    (pid, st.code().unwrap_or(-1))
}
