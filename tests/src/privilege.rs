//! The process and privilege syscalls, made for real by tests: raw calls that return the
//! kernel's answer (`Ok(value)` or `Err(errno)`), a minimal BPF program and map, and a child
//! to trace. Child-side helpers make raw syscalls only (they run between fork and `_exit`).

use crate::{fork_child, last_errno, wait_status};

/// A raw syscall's answer: its value, or the errno it failed with.
pub type Answer = Result<i64, i32>;

/// `syscall(nr, args…)` with up to four arguments. Async-signal-safe.
pub fn raw(nr: libc::c_long, args: [u64; 4]) -> Answer {
    // SAFETY: the caller passes arguments valid for `nr` (pointers it owns, or null).
    let r = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3]) };
    if r < 0 { Err(last_errno()) } else { Ok(r) }
}

pub fn ptrace(request: u32, pid: libc::pid_t) -> Answer {
    raw(libc::SYS_ptrace, [u64::from(request), pid as u64, 0, 0])
}

pub fn setuid(uid: u32) -> Answer {
    raw(libc::SYS_setuid, [u64::from(uid), 0, 0, 0])
}

pub fn setns(fd: i32, nstype: i32) -> Answer {
    raw(libc::SYS_setns, [fd as u64, nstype as u64, 0, 0])
}

pub fn unshare(flags: i32) -> Answer {
    raw(libc::SYS_unshare, [flags as u64, 0, 0, 0])
}

pub fn userfaultfd(flags: i32) -> Answer {
    raw(libc::SYS_userfaultfd, [flags as u64, 0, 0, 0])
}

/// `UFFD_USER_MODE_ONLY`: the one userfaultfd an unprivileged user may open while
/// `vm.unprivileged_userfaultfd` is 0.
pub const UFFD_USER_MODE_ONLY: i32 = 1;

/// `init_module(image, len, uargs)`.
pub fn init_module(image: &[u8], uargs: &std::ffi::CStr) -> Answer {
    raw(
        libc::SYS_init_module,
        [
            image.as_ptr() as u64,
            image.len() as u64,
            uargs.as_ptr() as u64,
            0,
        ],
    )
}

/// `bpf(cmd, attr, size)` with `attr` as the union's first bytes (the rest zero, as the
/// kernel requires).
pub fn bpf(cmd: u32, attr: &[u8]) -> Answer {
    let mut buf = [0u8; 128];
    buf[..attr.len()].copy_from_slice(attr);
    raw(
        libc::SYS_bpf,
        [u64::from(cmd), buf.as_ptr() as u64, buf.len() as u64, 0],
    )
}

pub const BPF_MAP_CREATE: u32 = 0;
pub const BPF_PROG_LOAD: u32 = 5;

/// A one-entry array map: its fd.
pub fn bpf_map_create() -> Answer {
    let attr: Vec<u8> = [2u32, 4, 4, 1] // BPF_MAP_TYPE_ARRAY, key 4, value 4, 1 entry
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    bpf(BPF_MAP_CREATE, &attr)
}

/// A socket filter that returns 0 (`r0 = 0; exit`): the smallest program the verifier takes.
pub fn bpf_prog_load() -> Answer {
    let insns: [[u8; 8]; 2] = [[0xb7, 0, 0, 0, 0, 0, 0, 0], [0x95, 0, 0, 0, 0, 0, 0, 0]];
    let license = c"GPL";
    let mut attr = Vec::new();
    attr.extend(1u32.to_ne_bytes()); // BPF_PROG_TYPE_SOCKET_FILTER
    attr.extend(2u32.to_ne_bytes()); // insn_cnt
    attr.extend((insns.as_ptr() as u64).to_ne_bytes());
    attr.extend((license.as_ptr() as u64).to_ne_bytes());
    bpf(BPF_PROG_LOAD, &attr)
}

/// Sets the calling thread's `comm` (what `proc.name` shows): at most 15 bytes.
pub fn set_comm(name: &std::ffi::CStr) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
}

/// A child that waits for a signal: a process to trace. Killed and reaped on drop.
pub struct Tracee(pub libc::pid_t);

impl Tracee {
    pub fn spawn() -> Tracee {
        Tracee(fork_child(|| {
            loop {
                // SAFETY: pause is async-signal-safe.
                unsafe { libc::pause() };
            }
        }))
    }
}

impl Drop for Tracee {
    fn drop(&mut self) {
        // SAFETY: our own child.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
        wait_status(self.0);
    }
}

/// `waitpid(pid, __WALL)` until the tracee stops (after an attach).
pub fn wait_stopped(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: plain syscall with a valid out pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
    assert!(
        r == pid && libc::WIFSTOPPED(status),
        "waitpid({pid}): {r}, status {status:#x}, errno {}",
        last_errno()
    );
}

/// Whether this kernel has the syscall tracepoint `sys_enter_<syscall>` (a syscall it was
/// built without has none: `init_module` without `CONFIG_MODULES`).
pub fn has_syscall_tracepoint(syscall: &str) -> bool {
    std::path::Path::new("/sys/kernel/tracing/events/syscalls")
        .join(format!("sys_enter_{syscall}"))
        .is_dir()
}
