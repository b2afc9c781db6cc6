//! Which fields a probe can decide in the kernel, per event type: the only per-type input of
//! the analysis. A field is bound to a kernel fact when the sensor's value of the field, for
//! events of that type, is a function of that fact alone — and the function is the one
//! written here. Everything not bound is untestable (`container.*`, `proc.pname`, …).
//!
//! Each binding is a contract with the probe and with the sensor's extraction:
//! - `proc.name` is the comm the probe read (the record carries it; `rules/extract.rs` reads
//!   `task.comm`), always present;
//! - `user.uid` is the uid the probe read (`task.uid`), always present;
//! - the path fields are what Falco computes from the path argument the probe read, and the
//!   record carries those same bytes (no second read from user memory, which a racing thread
//!   could change): `fd.name` is the absolute normalized path — symlinks are not resolved —,
//!   `fd.directory` and `fd.filename` are cut from it, `fd.nameraw` is the path as passed with
//!   duplicate `/` collapsed, and the listed `evt.arg.*` render an absolute path unchanged;
//! - `evt.is_open_*` and the `O_*` names of `evt.arg.flags` are rendered from the class bits
//!   the probe computes (one conversion from the kernel's flags, shared by probe and
//!   renderer): a name of `OPEN_FLAG_NAMES` with a bit appears iff the bit is set;
//! - the return fields are the syscall's return value, always present on such a type;
//! - `fd.typechar`/`fd.type` are rendered from the kind index the probe reports (`KINDS`), or
//!   both left out when it reports `KIND_NONE`.

use lanner_common::file_change::ChangeOp;

use crate::{event::FieldArg, fields::Field};

/// Flag class bits the probe computes for an open-like call: the probe's own (defined once, in
/// `lanner_common::file::open::class`).
pub mod flag {
    pub use lanner_common::file::open::class::*;

    pub const ALL: u32 = (1 << 13) - 1;
    /// A send's or receive's `fd.connected` (not an open's class).
    pub use lanner_common::prefilter::FLAG_CONNECTED as CONNECTED;

    /// Each bit's name, for `-L` and logs.
    pub const NAMES: [(u32, &str); 14] = [
        (CONNECTED, "connected"),
        (READ, "read"),
        (WRITE, "write"),
        (EXEC, "exec"),
        (CREAT, "O_CREAT"),
        (EXCL, "O_EXCL"),
        (TRUNC, "O_TRUNC"),
        (APPEND, "O_APPEND"),
        (DIRECTORY, "O_DIRECTORY"),
        (TMPFILE, "O_TMPFILE"),
        (CLOEXEC, "O_CLOEXEC"),
        (NOFOLLOW, "O_NOFOLLOW"),
        (PATH, "O_PATH"),
        (NONBLOCK, "O_NONBLOCK"),
    ];
}

/// Every name `evt.arg.flags` of an open may show, with the class bit that decides it when
/// that is exact. A name without a bit (access modes, whose rendering of `O_RDWR` the
/// analysis does not rely on, and names the kernel does not decide) makes a `contains` that
/// could hit it untestable.
pub const OPEN_FLAG_NAMES: &[(&str, Option<u32>)] = &[
    ("O_NONE", None),
    ("O_RDONLY", None),
    ("O_WRONLY", None),
    ("O_RDWR", None),
    ("O_CREAT", Some(flag::CREAT)),
    ("O_EXCL", Some(flag::EXCL)),
    ("O_NOCTTY", None),
    ("O_TRUNC", Some(flag::TRUNC)),
    ("O_APPEND", Some(flag::APPEND)),
    ("O_NONBLOCK", Some(flag::NONBLOCK)),
    ("O_DSYNC", None),
    ("O_DIRECT", None),
    ("O_LARGEFILE", None),
    ("O_DIRECTORY", Some(flag::DIRECTORY)),
    ("O_NOFOLLOW", Some(flag::NOFOLLOW)),
    ("O_NOATIME", None),
    ("O_CLOEXEC", Some(flag::CLOEXEC)),
    ("O_SYNC", None),
    ("O_PATH", Some(flag::PATH)),
    ("O_TMPFILE", Some(flag::TMPFILE)),
    ("O_F_CREATED", None),
];

/// How a return-value field is computed from the return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetView {
    /// `evt.rawres`: the value.
    Raw,
    /// `evt.res`: `SUCCESS` if >= 0, else an errno name (or the number as text).
    Res,
    /// `evt.failed`: < 0.
    Failed,
    /// `fd.num` of a call that returns an fd: the value if >= 0, else -1.
    FdNum,
}

/// How a path field is computed from the (absolute, normalized) path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathView {
    /// `fd.name` (and path-valued `evt.arg.*`): the path.
    Name,
    /// `fd.directory`: up to the last `/` (`/` for a file in the root); a directory fd's own
    /// path.
    Directory,
    /// `fd.filename`: the last component.
    Filename,
    /// `fd.nameraw`: the path as passed, duplicate `/` collapsed.
    Raw,
}

/// Which end of a connection (`fd.s*` or `fd.c*`), and which part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Server,
    Client,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndPart {
    Ip,
    Port,
}

/// What a probe knows of the connection an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetProbe {
    None,
    /// connect: `fd.l4proto` from the socket's family and type (`l4::of_connect`, at exit);
    /// the server end (`fd.sip`/`fd.rip`, `fd.sport`/`fd.rport`) from the address argument,
    /// read at entry; the client end (`fd.cip`/`fd.lip`, `fd.cport`/`fd.lport`) from the
    /// socket at exit, or `0.0.0.0:0` where the kernel bound none. Facts only for an IPv4
    /// peer; other events leave the ends unknown (`sensor/src/rules/extract/net.rs`).
    Connect,
    /// `fd.l4proto` is one of these (`None`: missing) on every event of the type: accept's is
    /// `tcp` for an IP socket, `<NA>` for another, missing when the call failed.
    L4Within(&'static [Option<&'static str>]),
    /// sendto, sendmsg, recvfrom, recvmsg: `fd.connected` as a flag class bit
    /// (`flag::CONNECTED`, `lanner_common::prefilter::io_connected`), from the fd read at exit.
    Io,
    /// socket: the new fd's kind is its domain's (`lanner_common::net_fd::family_kind`), none
    /// when the call failed; so a check on `evt.arg.domain` (the family's names, or the
    /// number) decides kinds.
    Socket,
}

/// What a field is, in terms of kernel facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Comm,
    Uid,
    Ret(RetView),
    /// A boolean field that is one flag class bit.
    FlagBit(u32),
    /// A text field of `|`-joined names (`evt.arg.flags`).
    FlagText(&'static [(&'static str, Option<u32>)]),
    Kind,
    Path(PathView),
    /// `fd.l4proto`, an `l4` index the probe reports.
    L4,
    /// A field whose value is one of these on every event of the type (`None`: missing).
    Within(&'static [Option<&'static str>]),
    /// An IPv4 address or port of one end.
    End(Side, EndPart),
    /// socket's `evt.arg.domain`, decided through the kind it gives the new fd.
    DomainKind,
    /// Missing on every event of the type: every check on it is false.
    Missing,
}

/// Whether the return value's fields include `fd.num`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetFields {
    /// `evt.res`, `evt.rawres`, `evt.failed`.
    Plain,
    /// Those and `fd.num`: the call returns a new fd (open, accept, dup, socket).
    Fd,
}

/// What one event type's probe decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The syscall has a path argument the probe reads.
    pub path: bool,
    /// The fd fields (`fd.name`, `fd.directory`, `fd.filename`, `fd.nameraw`) describe that
    /// path: an open's new fd. A file-tree change has no fd: its `fd.*` are not the path.
    pub fd_path: bool,
    /// `evt.arg.*` keys that render the same path.
    pub path_args: &'static [&'static str],
    /// The type's parameters, when the analysis knows them: an `evt.arg.*` not among them is
    /// missing on every event of the type (every check on it is false).
    pub params: Option<&'static [Option<&'static str>]>,
    /// Open flags: `evt.is_open_read/write/exec`, `evt.arg.flags`.
    pub open_flags: bool,
    pub ret: Option<RetFields>,
    /// The probe knows the kind of the event's fd.
    pub fd_kind: bool,
    pub net: NetProbe,
}

impl Probe {
    /// Any probe: the comm and the uid.
    pub const TASK: Probe = Probe {
        path: false,
        fd_path: false,
        path_args: &[],
        params: None,
        open_flags: false,
        ret: None,
        fd_kind: false,
        net: NetProbe::None,
    };

    /// A call with a return value and nothing else the kernel decides on.
    pub const RET: Probe = Probe {
        ret: Some(RetFields::Plain),
        ..Probe::TASK
    };

    /// `socket`, `dup*`, `accept*`: the result is the new fd (`fd.num`), and the probe knows
    /// its kind (a socket's from its domain argument; dup's from the file it reads).
    pub const NEW_FD: Probe = Probe {
        ret: Some(RetFields::Fd),
        fd_kind: true,
        ..Probe::TASK
    };

    /// `listen`, `sendto`, `sendmsg`, `recvfrom`, `recvmsg`: a result, and the kind of the
    /// socket the call uses (its fd is an argument, not the result).
    pub const USES_FD: Probe = Probe {
        ret: Some(RetFields::Plain),
        fd_kind: true,
        ..Probe::TASK
    };

    /// `open`, `openat`, `openat2`, `creat`.
    pub const FILE_OPEN: Probe = Probe {
        path: true,
        fd_path: true,
        path_args: &["name"],
        params: None,
        open_flags: true,
        ret: Some(RetFields::Fd),
        fd_kind: true,
        net: NetProbe::None,
    };

    /// `sendto`, `sendmsg`, `recvfrom`, `recvmsg`: a result, the socket's kind, and whether
    /// it is connected.
    pub const IO: Probe = Probe {
        net: NetProbe::Io,
        ..Probe::USES_FD
    };

    /// `socket`: a new fd, whose kind is its domain's.
    pub const SOCKET: Probe = Probe {
        net: NetProbe::Socket,
        ..Probe::NEW_FD
    };

    /// `accept`, `accept4`: a new fd of a known kind, whose `fd.l4proto` is never `udp`.
    pub const ACCEPT: Probe = Probe {
        net: NetProbe::L4Within(&[Some("tcp"), Some("<NA>"), None]),
        ..Probe::NEW_FD
    };

    /// `connect`: the result, and the connection (`NetProbe::Connect`).
    pub const CONNECT: Probe = Probe {
        net: NetProbe::Connect,
        ..Probe::RET
    };

    /// A file-tree change (`unlink`, `rename`, `mkdir`, `chmod`, …): the result, its
    /// parameters (`ChangeOp::params`: an `evt.arg.name` of an `unlink` is missing), and its
    /// first path as the one parameter that shows it resolved (`ChangeOp::first_path_param`;
    /// none for a symlink or fchmod). `fd.*` are not the path (no fd), nor `fs.path.*` (missing
    /// unless the call succeeded, which the path alone does not say).
    pub fn file_change(op: ChangeOp) -> Probe {
        let path_args: &'static [&'static str] = match op.first_path_param() {
            Some("path") => &["path"],
            Some("name") => &["name"],
            Some("oldpath") => &["oldpath"],
            Some("filename") => &["filename"],
            _ => &[],
        };
        Probe {
            path: !path_args.is_empty(),
            path_args,
            params: Some(op.params()),
            ..Probe::RET
        }
    }

    /// What `field` with `arg` is for this probe, if the kernel can decide it.
    pub fn binding(&self, field: Field, arg: &FieldArg) -> Option<Binding> {
        let plain = *arg == FieldArg::None;
        Some(match field {
            Field::ProcName if plain => Binding::Comm,
            Field::UserUid if plain => Binding::Uid,
            Field::EvtRawres if plain && self.ret.is_some() => Binding::Ret(RetView::Raw),
            Field::EvtRes if plain && self.ret.is_some() => Binding::Ret(RetView::Res),
            Field::EvtFailed if plain && self.ret.is_some() => Binding::Ret(RetView::Failed),
            Field::FdNum if plain && self.ret == Some(RetFields::Fd) => {
                Binding::Ret(RetView::FdNum)
            }
            Field::EvtIsOpenRead if plain && self.open_flags => Binding::FlagBit(flag::READ),
            Field::EvtIsOpenWrite if plain && self.open_flags => Binding::FlagBit(flag::WRITE),
            Field::EvtIsOpenExec if plain && self.open_flags => Binding::FlagBit(flag::EXEC),
            Field::EvtArg if self.open_flags && *arg == FieldArg::Key("flags".into()) => {
                Binding::FlagText(OPEN_FLAG_NAMES)
            }
            Field::FdTypechar | Field::FdType if plain && self.fd_kind => Binding::Kind,
            Field::FdName if plain && self.fd_path => Binding::Path(PathView::Name),
            Field::FdDirectory if plain && self.fd_path => Binding::Path(PathView::Directory),
            Field::FdFilename if plain && self.fd_path => Binding::Path(PathView::Filename),
            Field::FdNameraw if plain && self.fd_path => Binding::Path(PathView::Raw),
            Field::FdConnected if plain && self.net == NetProbe::Io => {
                Binding::FlagBit(flag::CONNECTED)
            }
            Field::FdL4proto if plain => match self.net {
                NetProbe::Connect => Binding::L4,
                NetProbe::L4Within(values) => Binding::Within(values),
                NetProbe::None | NetProbe::Socket | NetProbe::Io => return None,
            },
            f if plain && self.net == NetProbe::Connect => {
                let (side, part) = match f {
                    Field::FdSip | Field::FdRip => (Side::Server, EndPart::Ip),
                    Field::FdSport | Field::FdRport => (Side::Server, EndPart::Port),
                    Field::FdCip | Field::FdLip => (Side::Client, EndPart::Ip),
                    Field::FdCport | Field::FdLport => (Side::Client, EndPart::Port),
                    _ => return None,
                };
                Binding::End(side, part)
            }
            Field::EvtArg
                if self.net == NetProbe::Socket && *arg == FieldArg::Key("domain".into()) =>
            {
                Binding::DomainKind
            }
            Field::EvtArg => match arg {
                FieldArg::Key(k) if self.path && self.path_args.contains(&k.as_str()) => {
                    Binding::Path(PathView::Name)
                }
                FieldArg::Key(k)
                    if self
                        .params
                        .is_some_and(|ps| !ps.contains(&Some(k.as_str()))) =>
                {
                    Binding::Missing
                }
                _ => return None,
            },
            _ => return None,
        })
    }
}
