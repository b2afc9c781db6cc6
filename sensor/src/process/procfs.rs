//! Seed the process table from `/proc` (the host's, mounted at `/host/proc` in the DaemonSet).
//! Processes vanish while we read: every file is optional, a process whose `stat` is gone is
//! skipped, and nothing here fails the start.

use std::{fs, path::Path, sync::Arc};

use super::table::{Image, ProcInfo};
use crate::event::ProcessGroups;

/// Every process currently in `proc_root`.
pub fn scan(proc_root: &Path) -> Vec<ProcInfo> {
    let Ok(dir) = fs::read_dir(proc_root) else {
        log::warn!(
            "cannot read {}: the process table starts empty",
            proc_root.display()
        );
        return Vec::new();
    };
    let ticks = clock_ticks();
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| read(proc_root, pid, ticks))
        .collect()
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// One process, or `None` when it is gone (or not a process we can read).
pub fn read(proc_root: &Path, pid: u32, ticks: u64) -> Option<ProcInfo> {
    let dir = proc_root.join(pid.to_string());
    let stat = Stat::parse(&fs::read_to_string(dir.join("stat")).ok()?)?;
    let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
    let argv: Vec<String> = fs::read(dir.join("cmdline"))
        .map(|b| {
            let b = b.strip_suffix(&[0]).unwrap_or(&b);
            if b.is_empty() {
                Vec::new()
            } else {
                b.split(|&c| c == 0)
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            }
        })
        .unwrap_or_default();
    let link = |name: &str| {
        fs::read_link(dir.join(name)).ok().map(|p| {
            let s = p.to_string_lossy();
            s.strip_suffix(" (deleted)").unwrap_or(&s).to_string()
        })
    };
    let ids = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let vpgid = ids("NSpgid:").last().copied();
    Some(ProcInfo {
        pid,
        ppid: stat.ppid,
        image: Arc::new(Image::from_argv(
            stat.comm.into(),
            argv,
            link("exe"),
            link("cwd").map(|c| if c.ends_with('/') { c } else { c + "/" }),
        )),
        uid: ids("Uid:").first().copied().unwrap_or(0),
        gid: ids("Gid:").first().copied().unwrap_or(0),
        loginuid: fs::read_to_string(dir.join("loginuid"))
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        vpid: ids("NSpid:").last().copied(),
        tty: Some(stat.tty_nr),
        groups: Some(ProcessGroups {
            pgid: stat.pgrp,
            sid: stat.session,
            vpgid: vpgid.unwrap_or(0),
        }),
        start_boot_ns: Some(stat.start_ticks.saturating_mul(1_000_000_000) / ticks),
        cgroup: fs::read_to_string(dir.join("cgroup"))
            .ok()
            .and_then(|c| cgroup_leaf(&c))
            .map(Arc::from),
        exited_boot_ns: None,
    })
}

/// The fields of `/proc/<pid>/stat` we use. `comm` may hold spaces and parentheses: it is
/// everything between the first `(` and the last `)`.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    comm: String,
    ppid: u32,
    pgrp: u32,
    session: u32,
    /// Field 7: the controlling terminal's device number (0: none).
    tty_nr: u32,
    /// Field 22, clock ticks after boot (boot clock).
    start_ticks: u64,
}

impl Stat {
    fn parse(s: &str) -> Option<Stat> {
        let open = s.find('(')?;
        let close = s.rfind(')')?;
        let comm = s.get(open + 1..close)?.to_string();
        // Fields after comm start at field 3 (state).
        let rest: Vec<&str> = s.get(close + 1..)?.split_whitespace().collect();
        let f = |n: usize| rest.get(n - 3).copied();
        Some(Stat {
            comm,
            ppid: f(4)?.parse().ok()?,
            pgrp: f(5)?.parse().ok()?,
            session: f(6)?.parse().ok()?,
            // Printed as a signed int; the device number's bits are what we want.
            tty_nr: f(7)?.parse::<i32>().ok()? as u32,
            start_ticks: f(22)?.parse().ok()?,
        })
    }
}

/// Same choice as the kernel side: the v2 leaf, or on the v2 root of a hybrid host, the leaf
/// of the v1 memory controller.
fn cgroup_leaf(cgroup: &str) -> Option<String> {
    let path_of = |pred: &dyn Fn(&str) -> bool| {
        cgroup.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, names, path) = (it.next()?, it.next()?, it.next()?);
            pred(names).then_some(path)
        })
    };
    let leaf = |p: &str| {
        p.rsplit('/')
            .next()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
    };
    path_of(&|n| n.is_empty())
        .and_then(leaf)
        .or_else(|| path_of(&|n| n.split(',').any(|c| c == "memory")).and_then(leaf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let s = "42 (a (b) c) S 7 42 40 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        let st = Stat::parse(s).unwrap();
        assert_eq!(st.comm, "a (b) c");
        assert_eq!(
            (st.ppid, st.pgrp, st.session, st.start_ticks),
            (7, 42, 40, 12345)
        );
        assert_eq!(Stat::parse("garbage"), None);
        assert_eq!(Stat::parse("1 (x) S"), None);
    }

    #[test]
    fn cgroup_leaf_prefers_v2_then_v1_memory() {
        assert_eq!(
            cgroup_leaf("0::/kubepods/pod1/abc\n").as_deref(),
            Some("abc")
        );
        let hybrid = "4:memory:/kubepods/burstable/podx/cid\n0::/\n";
        assert_eq!(cgroup_leaf(hybrid).as_deref(), Some("cid"));
        assert_eq!(cgroup_leaf("0::/\n"), None);
    }

    #[test]
    fn scan_of_this_host_finds_this_process_with_its_parent() {
        let me = std::process::id();
        let procs = scan(Path::new("/proc"));
        let p = procs
            .iter()
            .find(|p| p.pid == me)
            .expect("own process in the scan");
        assert_eq!(p.ppid, std::os::unix::process::parent_id());
        assert!(p.start_boot_ns.is_some_and(|t| t > 0));
        assert_eq!(
            p.image.exepath.as_deref(),
            std::env::current_exe()
                .ok()
                .as_deref()
                .and_then(|p| p.to_str())
        );
    }
}
