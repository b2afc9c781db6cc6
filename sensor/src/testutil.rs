//! Helpers shared by the unit tests.

use crate::event::{Body, Event, Exec, ExecSyscall, Exit, Fork, Image, Text};

/// A deterministic xorshift64 stream: pseudo-random input for "garbage never panics" tests
/// without extra crates, and the same sequence on every run so a failure reproduces.
pub fn xorshift() -> impl FnMut() -> u64 {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// A task (the process itself, uid/gid 0, not in a container) for hand-built events.
pub fn task(pid: u32, comm: &str) -> crate::event::Task {
    crate::event::Task {
        pid,
        tid: pid,
        uid: 0,
        gid: 0,
        comm: comm.into(),
        cgroup_id: 1,
        cgroup: None,
    }
}

/// `parent` forks `child` at boot time `t`.
pub fn fork(t: u64, parent: u32, child: u32) -> Event {
    Event {
        boot_ns: t,
        task: task(parent, "sh"),
        body: Body::Fork(Fork {
            child_pid: child,
            child_tid: child,
        }),
    }
}

/// `pid` exits at `t`.
pub fn exit(t: u64, pid: u32) -> Event {
    Event {
        boot_ns: t,
        task: task(pid, "x"),
        body: Body::Exit(Exit { exit_code: 0 }),
    }
}

/// `pid` (child of `ppid`) execs `/bin/<comm>` with `argv` at `t`.
pub fn exec(t: u64, pid: u32, ppid: u32, comm: &str, argv: &[&str]) -> Event {
    Event {
        boot_ns: t,
        task: task(pid, comm),
        body: Body::Exec(Exec {
            syscall: ExecSyscall::Execve,
            ret: 0,
            ppid,
            vpid: Some(pid),
            groups: None,
            euid: 0,
            loginuid: None,
            cap_effective: 0,
            cap_permitted: 0,
            tty: Some(34816),
            upper_layer: None,
            from_memfd: false,
            filename: Text::default(),
            image: Image::of(comm, argv, Some(&format!("/bin/{comm}")), Some("/")),
            argv_empty: argv.is_empty(),
            args_truncated: false,
            env: None,
            dirfd: -100,
            at_flags: 0,
        }),
    }
}
