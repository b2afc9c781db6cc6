//! The process and privilege syscalls as typed events (made by `reader::decode`).

use super::Text;

/// One ptrace, setuid, setns, unshare, init_module, finit_module, bpf or userfaultfd call.
#[derive(Clone, Debug, PartialEq)]
pub struct Privilege {
    pub ret: i64,
    /// The caller's capabilities when it made the call; `None` when they could not be read.
    pub caps: Option<Caps>,
    pub call: PrivCall,
}

/// Capability masks (bit N = capability N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    pub effective: u64,
    pub permitted: u64,
}

/// The syscall and its arguments as the caller passed them (Falco renders them: see
/// `rules::extract::render`).
#[derive(Clone, Debug, PartialEq)]
pub enum PrivCall {
    /// The kernel's request number (`PTRACE_ATTACH` = 16 …) and the target pid as the caller
    /// names it (in its own pid namespace).
    Ptrace {
        request: u64,
        pid: i32,
    },
    Setuid {
        uid: u32,
    },
    /// `nstype` is the kernel's `CLONE_NEW*` bits (0: any namespace the fd names).
    Setns {
        fd: i32,
        nstype: u32,
    },
    /// The kernel's `CLONE_*` bits.
    Unshare {
        flags: u32,
    },
    /// The image itself is not copied.
    InitModule {
        length: u64,
        uargs: Text,
    },
    /// `flags`: the kernel's `MODULE_INIT_*` bits.
    FinitModule {
        fd: i32,
        uargs: Text,
        flags: u32,
    },
    Bpf {
        cmd: i32,
    },
    /// The kernel's flags (`O_CLOEXEC`, `O_NONBLOCK`, `UFFD_USER_MODE_ONLY`).
    Userfaultfd {
        flags: u32,
    },
}

impl Privilege {
    /// The module parameters of a module load, the one string these events carry.
    pub fn uargs(&self) -> Option<&Text> {
        match &self.call {
            PrivCall::InitModule { uargs, .. } | PrivCall::FinitModule { uargs, .. } => Some(uargs),
            _ => None,
        }
    }
}
