//! Helpers shared by the unit tests.

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
