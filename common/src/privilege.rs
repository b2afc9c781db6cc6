//! Records of the process and privilege syscalls: `ptrace`, `setuid`, `setns`, `unshare`,
//! `init_module`, `finit_module`, `bpf` and `userfaultfd`.
//!
//! One record type for all of them ([`PrivRecord`], header variant = [`PrivOp`]): their
//! arguments are a few integers, kept as the caller passed them (the agent renders them as
//! Falco does), plus one string for the module loaders (their parameters, `uargs`). Arguments
//! and the caller's capabilities are copied at syscall entry; the record is sent at exit with
//! the return value and the credentials the task has after the call (a `setuid` changes them).

use crate::{Header, StrField};

/// The syscall a [`PrivRecord`] is about: its header's variant. Stable numbers.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivOp {
    /// `ptrace(request, pid, addr, data)`: `args[0]` request, `args[1]` pid.
    Ptrace = 0,
    /// `setuid(uid)`: `args[0]` uid.
    Setuid = 1,
    /// `setns(fd, nstype)`: `args[0]` fd, `args[1]` nstype (`CLONE_NEW*`).
    Setns = 2,
    /// `unshare(flags)`: `args[0]` flags (`CLONE_*`).
    Unshare = 3,
    /// `init_module(image, len, uargs)`: `args[1]` len; `text` uargs. The image is not copied.
    InitModule = 4,
    /// `finit_module(fd, uargs, flags)`: `args[0]` fd, `args[2]` flags; `text` uargs.
    FinitModule = 5,
    /// `bpf(cmd, attr, size)`: `args[0]` cmd.
    Bpf = 6,
    /// `userfaultfd(flags)`: `args[0]` flags.
    Userfaultfd = 7,
}

impl PrivOp {
    pub const ALL: [PrivOp; 8] = [
        PrivOp::Ptrace,
        PrivOp::Setuid,
        PrivOp::Setns,
        PrivOp::Unshare,
        PrivOp::InitModule,
        PrivOp::FinitModule,
        PrivOp::Bpf,
        PrivOp::Userfaultfd,
    ];

    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|op| *op as u32 == v)
    }

    /// Whether its record carries the string ([`PrivRecord::text`]): only these are sent
    /// whole, the others as their [`PrivHead`].
    pub const fn has_text(self) -> bool {
        matches!(self, PrivOp::InitModule | PrivOp::FinitModule)
    }
}

/// Bits of [`PrivHead::priv_flags`].
pub mod priv_flags {
    /// `cap_effective` and `cap_permitted` were read from the task's credentials.
    pub const CAPS_KNOWN: u32 = 1;
}

/// Room for a module's parameters (`uargs`): what a real module load passes fits easily; a
/// longer string keeps its start and is flagged truncated.
pub const PRIV_TEXT_LEN: usize = 512;

/// Everything of a privilege record but its string, which only the module loaders send.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PrivHead {
    pub header: Header,
    pub ret: i64,
    /// The syscall's first four arguments as passed (their meaning per [`PrivOp`]).
    pub args: [u64; 4],
    /// The caller's capabilities when it made the call (see [`priv_flags::CAPS_KNOWN`]).
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub priv_flags: u32,
    /// Length and flags of `text` (`ABSENT` for the ops without one).
    pub text_f: StrField,
}

/// A privilege record with its string, last so the record can be sent without it. Derefs to
/// its head.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PrivRecord {
    pub head: PrivHead,
    pub text: [u8; PRIV_TEXT_LEN],
}

impl core::ops::Deref for PrivRecord {
    type Target = PrivHead;
    #[inline(always)]
    fn deref(&self) -> &PrivHead {
        &self.head
    }
}

impl core::ops::DerefMut for PrivRecord {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut PrivHead {
        &mut self.head
    }
}

pub const PRIV_HEAD_SIZE: usize = core::mem::size_of::<PrivHead>();
pub const PRIV_RECORD_SIZE: usize = core::mem::size_of::<PrivRecord>();
const _: () = assert!(PRIV_HEAD_SIZE == 320 + 8 + 32 + 16 + 8);
const _: () = assert!(PRIV_RECORD_SIZE == PRIV_HEAD_SIZE + PRIV_TEXT_LEN);
