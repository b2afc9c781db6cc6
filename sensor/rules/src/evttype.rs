//! Event types Lanner captures, by the names Falco's `evt.type` uses, and sets of them (the
//! rule index: an event only meets the rules whose condition can match its type).

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EvtType {
    Execve,
    Execveat,
    Mount,
    Umount2,
    Fsopen,
    Fsmount,
    MoveMount,
    OpenTree,
    Connect,
    /// Process creation (Falco reports fork/vfork/clone/clone3; Lanner sees the kernel's
    /// `sched_process_fork`, named `clone`).
    Clone,
    Procexit,
}

impl EvtType {
    pub const ALL: [EvtType; 11] = [
        Self::Execve,
        Self::Execveat,
        Self::Mount,
        Self::Umount2,
        Self::Fsopen,
        Self::Fsmount,
        Self::MoveMount,
        Self::OpenTree,
        Self::Connect,
        Self::Clone,
        Self::Procexit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Execve => "execve",
            Self::Execveat => "execveat",
            Self::Mount => "mount",
            Self::Umount2 => "umount2",
            Self::Fsopen => "fsopen",
            Self::Fsmount => "fsmount",
            Self::MoveMount => "move_mount",
            Self::OpenTree => "open_tree",
            Self::Connect => "connect",
            Self::Clone => "clone",
            Self::Procexit => "procexit",
        }
    }

    /// The type named `name`, if Lanner captures it. Falco's aliases for the same kernel event
    /// map to it (`umount` is `umount2` on x86-64; `fork`, `vfork`, `clone3` are `clone`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "execve" => Self::Execve,
            "execveat" => Self::Execveat,
            "mount" => Self::Mount,
            "umount2" | "umount" => Self::Umount2,
            "fsopen" => Self::Fsopen,
            "fsmount" => Self::Fsmount,
            "move_mount" => Self::MoveMount,
            "open_tree" => Self::OpenTree,
            "connect" => Self::Connect,
            "clone" | "clone3" | "fork" | "vfork" => Self::Clone,
            "procexit" => Self::Procexit,
            _ => return None,
        })
    }

    pub fn bit(self) -> EvtSet {
        EvtSet(1 << self as u16)
    }
}

/// A set of captured event types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EvtSet(pub u16);

impl EvtSet {
    pub const NONE: EvtSet = EvtSet(0);
    pub const ALL: EvtSet = EvtSet((1 << EvtType::ALL.len()) - 1);

    pub fn contains(self, t: EvtType) -> bool {
        self.0 & t.bit().0 != 0
    }
    pub fn union(self, o: EvtSet) -> EvtSet {
        EvtSet(self.0 | o.0)
    }
    pub fn intersect(self, o: EvtSet) -> EvtSet {
        EvtSet(self.0 & o.0)
    }
    pub fn complement(self) -> EvtSet {
        EvtSet(!self.0 & Self::ALL.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = EvtType> {
        EvtType::ALL
            .into_iter()
            .filter(move |t| self.contains(t.to_owned()))
    }
}
