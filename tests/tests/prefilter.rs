//! The in-kernel prefilter (README, "What it captures"; `lanner_rules::prefilter`), on real
//! syscalls through the real programs: what no loaded rule can match stays in the kernel and
//! is counted per event type in `/metrics`, what a rule wants still alerts, a reload rewrites
//! the maps in place (no hook detached), `--dump-events` sees everything, and the kernel
//! decides exactly as the model of its maps (`Maps::admits`) says (for the network family and
//! connect: `prefilter_net.rs`).

use std::{
    ffi::CString,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use lanner_common::{
    file::open,
    prefilter::{KIND_ANY, PATH_MAX_DECIDABLE},
};
use lanner_rules::{
    EvtType,
    prefilter::{KernelFacts, PathArg},
};
use lanner_tests::{prefilter::*, prometheus::http_get, *};
use serde_json::Value;

const FILTERED_OPENAT: &str = "lanner_events_filtered_total{evt_type=\"openat\"} ";
const OPENS_READ: &str = "lanner_events_total{kind=\"open\"} ";

const OPEN_TYPES: &str = "evt.type in (open, openat, openat2)";

fn shadow_rule() -> String {
    rule(
        "PF shadow",
        &format!("{OPEN_TYPES} and evt.is_open_read=true and fd.name = /etc/shadow"),
    )
}

/// Every `hooks attached: …` line the sensor logged.
fn hook_lines(s: &Sensor) -> Vec<String> {
    s.stderr()
        .lines()
        .filter_map(|l| l.split_once("hooks attached: ").map(|(_, r)| r.to_string()))
        .collect()
}

#[track_caller]
fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_kernel_drops_opens_no_rule_wants_and_a_reload_lets_them_through_without_a_detach() {
    let dir = TempDir::new("pf-reload");
    let rules = dir.path().join("rules.yaml");
    replace_file(&rules, &shadow_rule());
    let mut s = Sensor::launch(Launch {
        args: &["-r", rules.to_str().unwrap()],
        alerts_only: true,
        ..Launch::default()
    });
    s.wait_ready();
    let marked = dir.path().join("wanted-later");
    std::fs::create_dir(&marked).unwrap();
    let target = marked.join("f.txt");
    std::fs::write(&target, "x").unwrap();

    // Ordinary opens: the kernel keeps them, and counts them under their type.
    const N: usize = 500;
    let before = metric(&s, FILTERED_OPENAT);
    for _ in 0..N {
        drop(std::fs::File::open(&target).unwrap());
    }
    wait_until(
        "the kernel's count of filtered openat",
        EVENT_TIMEOUT,
        || metric(&s, FILTERED_OPENAT) >= before + N as f64,
    );
    let page = http_get(&s.metrics_addr(), "/metrics").unwrap().body;
    assert!(
        page.contains("lanner_prefilter_mode{evt_type=\"openat\",mode=\"filter\"} 1"),
        "{page}"
    );

    // What the rule wants still leaves the kernel and alerts.
    let mut cat = Command::new("cat")
        .arg("/etc/shadow")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = i64::from(cat.id());
    assert!(cat.wait().unwrap().success());
    assert!(
        s.try_wait_for(|v| alert_for_pid(v, "PF shadow", pid), EVENT_TIMEOUT)
            .is_some(),
        "the read of /etc/shadow alerts\n{}",
        s.stderr()
    );

    // A reload to rules that want the kept opens: they arrive, with no hook detached.
    let hooks = hook_lines(&s);
    assert_eq!(hooks.len(), 1, "{}", s.stderr());
    let wanted = rule(
        "PF wanted",
        &format!(
            "{OPEN_TYPES} and fd.name startswith {}/",
            marked.to_str().unwrap()
        ),
    );
    replace_file(&rules, &wanted);
    let name = target.to_str().unwrap().to_string();
    let arrived = |v: &Value| v["rule"] == "PF wanted" && v["output_fields"]["fd.name"] == *name;
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        drop(std::fs::File::open(&target).unwrap());
        if s.try_wait_for(arrived, Duration::from_millis(300))
            .is_some()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reloaded rules see the opens the old ones let the kernel keep\n{}",
            s.stderr()
        );
    }
    let after = hook_lines(&s);
    assert!(after.len() > 1, "the reload ran the gate\n{}", s.stderr());
    assert!(
        after.iter().all(|l| *l == hooks[0]),
        "the same hooks stay attached across the reload: {after:?}"
    );
    let stats = s.stop();
    assert_eq!(stats.raw["rules"]["reload_failures"], 0, "{}", stats.raw);
}

#[test]
fn dump_events_passes_every_open() {
    let dir = TempDir::new("pf-dump");
    let rules = dir.path().join("rules.yaml");
    replace_file(&rules, &shadow_rule());
    let mut s = Sensor::start_with(&["-r", rules.to_str().unwrap()]);
    let target = dir.path().join("nobody-wants-this.txt");
    std::fs::write(&target, "x").unwrap();
    let name = target.to_str().unwrap().to_string();
    drop(std::fs::File::open(&target).unwrap());
    s.wait_for(
        |e| e["evt.type"] == "openat" && e["fd.name"] == *name,
        EVENT_TIMEOUT,
    );
    let page = http_get(&s.metrics_addr(), "/metrics").unwrap().body;
    assert!(
        page.contains("lanner_prefilter_pass_whole{evt_type=\"openat\",reason=\"dump_events\"} 1"),
        "{page}"
    );
    s.stop();
}

/// One open the test makes: a path (relative ones through a dirfd on `dir`) and flags.
struct Case {
    path: String,
    flags: i32,
    relative: bool,
}

/// openat(2) as the test makes it: the fd (closed again) or -errno.
fn sys_openat(dirfd: i32, path: &CString, flags: i32) -> i64 {
    // SAFETY: a NUL-terminated path; the kernel validates the rest.
    let r = unsafe { libc::syscall(libc::SYS_openat, dirfd, path.as_ptr(), flags, 0) };
    if r < 0 {
        return -i64::from(last_errno());
    }
    // SAFETY: the fd this call opened.
    unsafe { libc::close(r as i32) };
    r
}

/// Case `i` is made `2^i` times by a thread with a comm of its own, which the rules name (so
/// that nothing else on the host passes them): the opens the kernel lets through, read from
/// `lanner_events_total{kind="open"}`, then tell exactly which cases it admitted, and that
/// must be what `Maps::admits` says of each, on the maps built from the same rules.
#[test]
fn the_kernel_decides_as_the_model_of_its_maps() {
    let dir = TempDir::new("pfm");
    let d = dir.path().to_str().unwrap().to_string();
    let comm = unique_comm("pf");
    for sub in ["sub", "ndl", "pre"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let long = "l".repeat(240);
    for f in [
        "a.log",
        "sub/x",
        "ndl/y",
        "pre/z",
        "other.txt",
        "q.w",
        long.as_str(),
    ] {
        std::fs::write(dir.path().join(f), "x").unwrap();
    }
    let who = format!("{OPEN_TYPES} and proc.name = {comm}");
    let text = [
        rule(
            "PF write log",
            &format!("{who} and evt.is_open_write=true and fd.name endswith .log"),
        ),
        rule(
            "PF sub",
            &format!("{who} and fd.directory = {d}/sub and fd.num >= 0"),
        ),
        rule(
            "PF needle",
            &format!("{who} and fd.name contains /ndl/ and evt.is_open_read=true"),
        ),
        rule(
            "PF prefix",
            &format!("{who} and fd.name startswith {d}/pre/ and fd.typechar = f"),
        ),
        // A one-byte needle: every pair that ends in it is in the kernel's pair table.
        rule(
            "PF one byte",
            &format!("{who} and fd.name contains q and evt.is_open_write=true"),
        ),
    ]
    .concat();
    let rules = dir.path().join("rules.yaml");
    replace_file(&rules, &text);
    let (rd, wr) = (libc::O_RDONLY, libc::O_WRONLY);
    let case = |path: String, flags| Case {
        path,
        flags,
        relative: false,
    };
    let cases = [
        case(format!("{d}/a.log"), rd),
        case(format!("{d}/a.log"), wr),
        case(format!("{d}/sub/x"), rd),
        case(format!("{d}/sub/missing"), rd),
        case(format!("{d}/ndl/y"), rd),
        case(format!("{d}/ndl/y"), wr),
        case(format!("{d}/pre/z"), rd),
        case(format!("{d}/pre"), rd | libc::O_DIRECTORY),
        case(format!("{d}//other.txt"), rd),
        Case {
            path: "other.txt".into(),
            flags: rd,
            relative: true,
        },
        case(format!("{d}/other.txt"), rd),
        case(format!("{d}/{long}"), rd),
        // A `/.` sends the path from the kernel's fast pass to its exact one.
        case(format!("{d}/sub/./x"), rd),
        case(format!("{d}/q.w"), wr),
    ];
    assert!(cases[11].path.len() > PATH_MAX_DECIDABLE);

    // The model: the maps the sensor builds from these rules, and what they admit.
    let maps = model_maps(&text);

    let mut s = Sensor::launch(Launch {
        args: &["-r", rules.to_str().unwrap()],
        alerts_only: true,
        ..Launch::default()
    });
    s.wait_ready();
    let before = metric(&s, OPENS_READ);
    let dirfd = {
        let c = CString::new(d.as_str()).unwrap();
        // SAFETY: a NUL-terminated path.
        unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) }
    };
    assert!(dirfd >= 0);
    let own = thread_comm();
    let mut expected = 0u64;
    let mut said = Vec::new();
    set_comm(&comm);
    for (i, c) in cases.iter().enumerate() {
        let path = CString::new(c.path.as_str()).unwrap();
        let at = if c.relative { dirfd } else { libc::AT_FDCWD };
        let mut ret = 0;
        for _ in 0..1u64 << i {
            ret = sys_openat(at, &path, c.flags);
        }
        let flags = c.flags as u32;
        let facts = KernelFacts {
            comm: KernelFacts::comm_of(comm.as_bytes()),
            // SAFETY: no arguments.
            uid: unsafe { libc::getuid() },
            path: PathArg::from_user(c.path.as_bytes()),
            flags: Some(open::classes(
                open::ppm_flags(flags),
                open::ppm_mode(flags, 0, false),
                false,
            )),
            ret: Some(ret),
            kind: Some(match ret {
                ..0 => KIND_ANY,
                _ if c.flags & libc::O_DIRECTORY != 0 => 1,
                _ => 0,
            }),
            l4: None,
            server: None,
            client: None,
        };
        let admits = maps.admits(EvtType::Openat, &facts);
        said.push(format!("{} {:#o} ret {ret}: {admits}", c.path, c.flags));
        if admits {
            expected += 1 << i;
        }
    }
    set_comm(&own);
    // SAFETY: the fd opened above.
    unsafe { libc::close(dirfd) };
    let got = settled(expected, || (metric(&s, OPENS_READ) - before) as u64);
    let admitted: Vec<&String> = (0..cases.len())
        .filter(|i| got & (1 << i) != 0)
        .map(|i| &said[i])
        .collect();
    assert_eq!(
        got, expected,
        "the kernel let through {got:#b}, the model says {expected:#b}\nthe model: {said:#?}\n\
         the kernel's (if the count is a sum of cases): {admitted:#?}"
    );
    assert!(
        expected != 0 && expected != (1 << cases.len()) - 1,
        "{said:#?}"
    );
    s.stop();
}
