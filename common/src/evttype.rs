//! Event types Lanner captures, by the names Falco's `evt.type` uses, and sets of them. One
//! table for the agent (the rules crate re-exports it: the rule index, the prefilter's maps)
//! and the kernel programs, which key the in-kernel prefilter's maps by `EvtType as u16`.
//!
//! Each type is one row of `evt_types!` below: its variant, its Falco name and the other
//! names Falco gives the same kernel event. A type is a row once Lanner captures it.

/// Writes [`EvtType`], its `ALL`, `name` and `from_name` from one list of rows
/// `Variant = "name" | "alias" ...;`.
macro_rules! evt_types {
    ($($(#[$doc:meta])* $variant:ident = $name:literal $(| $alias:literal)*;)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum EvtType {
            $($(#[$doc])* $variant,)*
        }

        /// Number of captured types.
        pub const COUNT: usize = [$($name),*].len();

        impl EvtType {
            /// Every captured type, in variant order (`t as usize` indexes it).
            pub const ALL: [EvtType; COUNT] = [$(Self::$variant),*];

            /// The name Falco's `evt.type` gives an event of this type.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Every name Falco may write for this type: its name, then its aliases.
            pub const fn names(self) -> &'static [&'static str] {
                match self {
                    $(Self::$variant => &[$name $(, $alias)*],)*
                }
            }
        }
    };
}

evt_types! {
    Execve = "execve";
    Execveat = "execveat";
    Mount = "mount";
    /// `umount` is the same kernel event as `umount2` on x86-64 (one syscall entry).
    Umount2 = "umount2" | "umount";
    Fsopen = "fsopen";
    Fsmount = "fsmount";
    MoveMount = "move_mount";
    OpenTree = "open_tree";
    Connect = "connect";
    Socket = "socket";
    Dup = "dup";
    Dup2 = "dup2";
    Dup3 = "dup3";
    Accept = "accept";
    Accept4 = "accept4";
    Listen = "listen";
    Sendto = "sendto";
    Sendmsg = "sendmsg";
    Recvfrom = "recvfrom";
    Recvmsg = "recvmsg";
    /// Process creation (Falco reports fork/vfork/clone/clone3; Lanner sees the kernel's
    /// `sched_process_fork`, named `clone`).
    Clone = "clone" | "clone3" | "fork" | "vfork";
    Procexit = "procexit";
    Ptrace = "ptrace";
    Setuid = "setuid";
    Setns = "setns";
    Unshare = "unshare";
    InitModule = "init_module";
    FinitModule = "finit_module";
    Bpf = "bpf";
    Userfaultfd = "userfaultfd";
    Open = "open";
    Openat = "openat";
    Openat2 = "openat2";
    Creat = "creat";
    Unlink = "unlink";
    Unlinkat = "unlinkat";
    Rmdir = "rmdir";
    Rename = "rename";
    Renameat = "renameat";
    Renameat2 = "renameat2";
    Mkdir = "mkdir";
    Mkdirat = "mkdirat";
    Symlink = "symlink";
    Symlinkat = "symlinkat";
    Link = "link";
    Linkat = "linkat";
    Chmod = "chmod";
    Fchmod = "fchmod";
    Fchmodat = "fchmodat";
}

/// Room for every type issue 16 plans to capture (about 70) and more.
const _: () = assert!(EvtType::ALL.len() <= EvtSet::CAPACITY);

impl EvtType {
    /// The type named `name` (its name or an alias), if Lanner captures it. A name Falco knows
    /// that Lanner does not capture is `None`, like a name Falco does not know: tell them
    /// apart with [`falco_knows`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.names().contains(&name))
    }

    pub const fn bit(self) -> EvtSet {
        EvtSet(1 << self as u32)
    }
}

/// A set of captured event types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EvtSet(u128);

impl EvtSet {
    /// Types a set can hold.
    pub const CAPACITY: usize = u128::BITS as usize;
    pub const NONE: EvtSet = EvtSet(0);
    pub const ALL: EvtSet = EvtSet(u128::MAX >> (Self::CAPACITY - EvtType::ALL.len()));

    /// The set as bits (bit `t as u32` for type `t`), for storage outside this type.
    pub const fn bits(self) -> u128 {
        self.0
    }
    /// The set of `bits` (see [`bits`](Self::bits)); bits of no type are dropped.
    pub const fn from_bits(bits: u128) -> EvtSet {
        EvtSet(bits & Self::ALL.0)
    }

    pub const fn contains(self, t: EvtType) -> bool {
        self.0 & t.bit().0 != 0
    }
    pub const fn union(self, o: EvtSet) -> EvtSet {
        EvtSet(self.0 | o.0)
    }
    pub const fn intersect(self, o: EvtSet) -> EvtSet {
        EvtSet(self.0 & o.0)
    }
    pub const fn complement(self) -> EvtSet {
        EvtSet(!self.0 & Self::ALL.0)
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = EvtType> {
        EvtType::ALL.into_iter().filter(move |t| self.contains(*t))
    }
}
