//! The in-kernel prefilter on the file-tree changes (`unlink`, `rename`, …: README, "What it
//! captures"; `lanner_rules::prefilter`), on real syscalls through the real programs: with the
//! official rules an ordinary unlink stays in the kernel, counted under its type, while the
//! unlink of a shell history still alerts; and the kernel decides exactly as the model of its
//! maps (`Maps::admits`) on the task, the first path and the result (the opens:
//! `prefilter.rs`).

use std::ffi::CString;

use lanner_common::prefilter::PATH_MAX_DECIDABLE;
use lanner_rules::{
    EvtType,
    prefilter::{KernelFacts, PathArg},
};
use lanner_tests::{official::official_rules_paths, prefilter::*, prometheus::http_get, *};
use serde_json::Value;

const FILTERED_UNLINK: &str = "lanner_events_filtered_total{evt_type=\"unlink\"} ";
const CHANGES_READ: &str = "lanner_events_total{kind=\"file_change\"} ";

/// The syscall's return: 0 or -errno.
fn ret(r: libc::c_long) -> i64 {
    if r < 0 { -i64::from(last_errno()) } else { 0 }
}

fn cstr(p: &str) -> CString {
    CString::new(p).unwrap()
}

#[test]
fn official_rules_keep_ordinary_unlinks_in_the_kernel_and_a_shell_history_unlink_alerts() {
    let dir = TempDir::new("pfc-official");
    let mut args = Vec::new();
    for p in official_rules_paths() {
        args.push("-r".to_string());
        args.push(p);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut s = Sensor::launch(Launch {
        args: &args,
        alerts_only: true,
        ..Launch::default()
    });
    s.wait_ready();

    // Ordinary unlinks (the atomic-save pattern's last step): kept in the kernel.
    const N: usize = 300;
    let before = metric(&s, FILTERED_UNLINK);
    let f = dir.path().join("ordinary.txt");
    let fc = cstr(f.to_str().unwrap());
    for _ in 0..N {
        std::fs::write(&f, "x").unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::unlink(fc.as_ptr()) }, 0);
    }
    let deadline = std::time::Instant::now() + EVENT_TIMEOUT;
    while metric(&s, FILTERED_UNLINK) < before + N as f64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the kernel counts the ordinary unlinks it kept ({} of {N})",
            metric(&s, FILTERED_UNLINK) - before
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let page = http_get(&s.metrics_addr(), "/metrics").unwrap().body;
    assert!(
        page.contains("lanner_prefilter_mode{evt_type=\"unlink\",mode=\"filter\"} 1"),
        "{page}"
    );

    // What a rule wants still leaves the kernel and alerts.
    let hist = dir.path().join(".bash_history");
    std::fs::write(&hist, "ls\n").unwrap();
    let name = hist.to_str().unwrap().to_string();
    std::fs::remove_file(&hist).unwrap();
    let alerted = |v: &Value| {
        v["rule"] == "Delete or rename shell history"
            && v["output_fields"]["evt.arg.path"] == *name.as_str()
    };
    assert!(
        s.try_wait_for(alerted, EVENT_TIMEOUT).is_some(),
        "the unlink of {name} alerts\n{}",
        s.stderr()
    );
    s.stop();
}

/// One call the test makes.
enum Call {
    Unlink(String),
    Unlinkat(String),
    Rename(String, String),
}

/// Case `i` is made `2^i` times by a thread with a comm of its own, which the rules name (so
/// that nothing else on the host passes them): the changes the kernel lets through, read from
/// `lanner_events_total{kind="file_change"}`, tell exactly which cases it admitted, and that
/// must be what `Maps::admits` says of each, on the maps built from the same rules.
#[test]
fn the_kernel_decides_file_changes_as_the_model_of_its_maps() {
    let dir = TempDir::new("pfcm");
    let d = dir.path().to_str().unwrap().to_string();
    let comm = unique_comm("pc");
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    let who = format!("proc.name = {comm}");
    let text = [
        // The first path under each type's own parameter name; `evt.arg.name` of an unlink
        // and `evt.arg.path` of a rename are missing (their checks false).
        rule(
            "PFC history",
            &format!(
                "evt.type in (unlink, unlinkat, rename) and {who} and (evt.arg.path endswith \
                 _history or evt.arg.name endswith _history or evt.arg.oldpath endswith _history)"
            ),
        ),
        // The result, at exit.
        rule(
            "PFC bin",
            &format!(
                "evt.type = unlink and {who} and evt.arg.path startswith {d}/bin/ and evt.res = \
                 SUCCESS"
            ),
        ),
        // A missing parameter under `not`: true.
        rule(
            "PFC missing",
            &format!("evt.type = unlinkat and {who} and not evt.arg.path startswith /"),
        ),
    ]
    .concat();
    let rules = dir.path().join("rules.yaml");
    replace_file(&rules, &text);
    let long = format!("{d}/{}", "l".repeat(240));
    assert!(long.len() > PATH_MAX_DECIDABLE);
    let cases = [
        // Made before each call: a path that exists.
        (Call::Unlink(format!("{d}/x.bash_history")), true),
        (Call::Unlink(format!("{d}/nothing")), false),
        (Call::Unlink(format!("{d}/bin/x")), true),
        (Call::Unlink(format!("{d}/bin/missing")), false),
        (Call::Unlinkat(format!("{d}/nothing2")), false),
        (
            Call::Rename(format!("{d}/old.zsh_history"), format!("{d}/y")),
            false,
        ),
        (Call::Rename(format!("{d}/plain"), format!("{d}/y")), false),
        (Call::Unlink(format!("{d}//nothing")), false),
        (Call::Unlink(long.clone()), false),
    ];

    let maps = model_maps(&text);

    let mut s = Sensor::launch(Launch {
        args: &["-r", rules.to_str().unwrap()],
        alerts_only: true,
        ..Launch::default()
    });
    s.wait_ready();
    let before = metric(&s, CHANGES_READ);
    let own = thread_comm();
    let mut expected = 0u64;
    let mut said = Vec::new();
    set_comm(&comm);
    for (i, (call, make)) in cases.iter().enumerate() {
        let (ty, first) = match call {
            Call::Unlink(p) => (EvtType::Unlink, p),
            Call::Unlinkat(p) => (EvtType::Unlinkat, p),
            Call::Rename(p, _) => (EvtType::Rename, p),
        };
        let mut r = 0;
        for _ in 0..1u64 << i {
            if *make {
                std::fs::write(first, "x").unwrap();
            }
            // SAFETY: NUL-terminated paths; the kernel validates the rest.
            r = ret(unsafe {
                match call {
                    Call::Unlink(p) => libc::syscall(libc::SYS_unlink, cstr(p).as_ptr()),
                    Call::Unlinkat(p) => {
                        libc::syscall(libc::SYS_unlinkat, libc::AT_FDCWD, cstr(p).as_ptr(), 0)
                    }
                    Call::Rename(a, b) => {
                        libc::syscall(libc::SYS_rename, cstr(a).as_ptr(), cstr(b).as_ptr())
                    }
                }
            });
        }
        let facts = KernelFacts {
            comm: KernelFacts::comm_of(comm.as_bytes()),
            // SAFETY: no arguments.
            uid: unsafe { libc::getuid() },
            path: PathArg::from_user(first.as_bytes()),
            flags: None,
            ret: Some(r),
            kind: None,
            l4: None,
            server: None,
            client: None,
        };
        let admits = maps.admits(ty, &facts);
        said.push(format!("{} {first} ret {r}: {admits}", ty.name()));
        if admits {
            expected += 1 << i;
        }
    }
    set_comm(&own);
    let got = settled(expected, || (metric(&s, CHANGES_READ) - before) as u64);
    let admitted: Vec<&String> = (0..cases.len())
        .filter(|i| got & (1 << i) != 0)
        .map(|i| &said[i])
        .collect();
    assert_eq!(
        got, expected,
        "the kernel let through {got:#b}, the model says {expected:#b}\nthe model: {said:#?}\n\
         the kernel's (if the count is a sum of cases): {admitted:#?}"
    );
    // Both ways, each kind of case: the history suffix, a result the rule refuses, a missing
    // parameter, a path the kernel cannot decide.
    for (i, want) in [
        (0, true),
        (1, false),
        (2, true),
        (3, false),
        (4, true),
        (5, true),
        (6, false),
        (7, true),
        (8, true),
    ] {
        assert_eq!(expected & (1 << i) != 0, want, "case {i}: {said:#?}");
    }
    s.stop();
}
