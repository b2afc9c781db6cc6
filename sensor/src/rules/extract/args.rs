//! `evt.arg.*`, `evt.rawarg.*` and `evt.args`: the event's parameters under the names
//! `--dump-events` uses (Falco's, for the events Falco has), rendered as Falco renders them
//! (falco-fields.md 1.2): errno names for negative results, flag names, `AT_FDCWD`, fds as
//! `<4t>1.2.3.4:5->6.7.8.9:80`.

use std::borrow::Cow;

use lanner_rules::{FieldArg, Value};

use super::{EventView, int, loginuid, owned, render};
use crate::event::{Body, Exec, ExecSyscall, MountOp, NetCall, Open, OpenSyscall, Text};

/// One parameter: its raw number (for `evt.rawarg`) and/or its text (for `evt.arg`).
pub(super) enum Param<'s> {
    Num(i64),
    Text(Cow<'s, str>),
    /// A number Falco shows resolved: an errno name, flag names, a user name.
    Resolved(i64, Cow<'s, str>),
}

impl<'s> Param<'s> {
    fn text(self) -> Cow<'s, str> {
        match self {
            Param::Num(n) => Cow::Owned(n.to_string()),
            Param::Text(t) | Param::Resolved(_, t) => t,
        }
    }

    fn raw(&self) -> Option<i64> {
        match self {
            Param::Num(n) | Param::Resolved(n, _) => Some(*n),
            Param::Text(_) => None,
        }
    }
}

/// Parameters of execve/execveat in Falco's order (the exit event's, then the enter event's
/// that Falco appends); `None` for those Lanner does not capture. Only `evt.arg[N]` needs the
/// order.
#[rustfmt::skip]
const EXECVE: &[Option<&str>] = &[
    Some("res"), Some("exe"), Some("args"), Some("tid"), Some("pid"), Some("ptid"), Some("cwd"),
    None, None, None, None, None, None, Some("comm"), None, Some("env"), Some("tty"), None,
    Some("loginuid"), Some("flags"), None, Some("cap_permitted"), Some("cap_effective"), None,
    None, None, None, None, Some("pgid"), None, Some("filename"),
];
#[rustfmt::skip]
const EXECVEAT: &[Option<&str>] = &[
    Some("res"), Some("exe"), Some("args"), Some("tid"), Some("pid"), Some("ptid"), Some("cwd"),
    None, None, None, None, None, None, Some("comm"), None, Some("env"), Some("tty"), None,
    Some("loginuid"), Some("flags"), None, Some("cap_permitted"), Some("cap_effective"), None,
    None, None, None, None, Some("pgid"), None, Some("dirfd"), Some("filename"),
];
const MOUNT: &[Option<&str>] = &[
    Some("res"),
    Some("dev"),
    Some("dir"),
    Some("type"),
    Some("flags"),
];
const UMOUNT2: &[Option<&str>] = &[Some("res"), Some("name"), Some("flags")];
const FSOPEN: &[Option<&str>] = &[Some("res"), Some("fsname"), Some("flags")];
const FSMOUNT: &[Option<&str>] = &[Some("res"), Some("fd"), Some("flags"), Some("attr_flags")];
#[rustfmt::skip]
const MOVE_MOUNT: &[Option<&str>] = &[
    Some("res"), Some("from_dfd"), Some("from_pathname"), Some("to_dfd"), Some("to_pathname"),
    Some("flags"),
];
const OPEN_TREE: &[Option<&str>] = &[Some("res"), Some("dfd"), Some("filename"), Some("flags")];
const CONNECT: &[Option<&str>] = &[Some("res"), Some("tuple"), Some("fd"), Some("addr")];
const SOCKET: &[Option<&str>] = &[
    Some("fd"),
    Some("domain"),
    Some("type"),
    Some("proto"),
    None,
];
const DUP: &[Option<&str>] = &[Some("res"), Some("oldfd")];
const DUP2: &[Option<&str>] = &[Some("res"), Some("oldfd"), Some("newfd")];
const DUP3: &[Option<&str>] = &[Some("res"), Some("oldfd"), Some("newfd"), Some("flags")];
const ACCEPT: &[Option<&str>] = &[Some("fd"), Some("tuple"), None, None, None];
const ACCEPT4: &[Option<&str>] = &[Some("fd"), Some("tuple"), None, None, None, None];
const LISTEN: &[Option<&str>] = &[Some("res"), Some("fd"), Some("backlog")];
#[rustfmt::skip]
const SENDTO: &[Option<&str>] = &[Some("res"), None, Some("fd"), Some("size"), Some("tuple")];
const SENDMSG: &[Option<&str>] = &[Some("res"), None, Some("fd"), None, Some("tuple")];
#[rustfmt::skip]
const RECVFROM: &[Option<&str>] = &[Some("res"), None, Some("tuple"), Some("fd"), Some("size")];
const RECVMSG: &[Option<&str>] = &[Some("res"), None, None, Some("tuple"), None, Some("fd")];
const CLONE: &[Option<&str>] = &[Some("res")];
const PROCEXIT: &[Option<&str>] = &[Some("status")];
#[rustfmt::skip]
const OPEN: &[Option<&str>] = &[
    Some("fd"), Some("name"), Some("flags"), Some("mode"), None, None,
];
#[rustfmt::skip]
const OPENAT: &[Option<&str>] = &[
    Some("fd"), Some("dirfd"), Some("name"), Some("flags"), Some("mode"), None, None,
];
#[rustfmt::skip]
const OPENAT2: &[Option<&str>] = &[
    Some("fd"), Some("dirfd"), Some("name"), Some("flags"), Some("mode"), Some("resolve"), None,
    None,
];
const CREAT: &[Option<&str>] = &[Some("fd"), Some("name"), Some("mode"), None, None, None];

/// Parameters of the exec events that restate the process after the exec (Falco's exit event
/// carries them as a snapshot): `--dump-events` shows them once, as the `proc.*`, `thread.*`
/// and `user.*` keys.
#[rustfmt::skip]
const EXEC_SNAPSHOT: &[&str] = &[
    "exe", "args", "tid", "pid", "ptid", "cwd", "comm", "env", "tty", "loginuid",
    "cap_permitted", "cap_effective", "pgid",
];

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// A number Falco shows by name when it has one (`None`: the number itself).
pub(super) fn named(n: i64, name: Option<String>) -> Param<'static> {
    match name {
        Some(text) => Param::Resolved(n, Cow::Owned(text)),
        None => Param::Num(n),
    }
}

/// A result: the errno name when negative, else the number.
pub(super) fn res(ret: i64) -> Param<'static> {
    Param::Resolved(ret, render::number_or_errno(ret))
}

/// A directory fd: `AT_FDCWD` for -100, the number otherwise.
pub(super) fn dirfd(fd: i32) -> Param<'static> {
    match render::dirfd(fd) {
        Some(name) => Param::Resolved(i64::from(fd), b(name)),
        None => Param::Num(i64::from(fd)),
    }
}

/// A captured string; missing when the kernel could not read it.
pub(super) fn text(t: &Text) -> Option<Param<'_>> {
    t.value.as_deref().map(|v| Param::Text(b(v)))
}

fn exe_flags(e: &Exec) -> Param<'static> {
    let mut bits = 0;
    if e.upper_layer == Some(true) {
        bits |= render::EXE_UPPER_LAYER;
    }
    if e.from_memfd {
        bits |= render::EXE_FROM_MEMFD;
    }
    named(bits, render::exe_flags(bits))
}

/// A parameter of an open (Falco's names; `mode` in octal as Falco prints it, `flags` and
/// `resolve` by Falco's names).
fn open_param<'o>(o: &'o Open, name: &str) -> Option<Param<'o>> {
    use lanner_common::file::open;
    let creat = o.syscall == OpenSyscall::Creat;
    Some(match name {
        "fd" => Param::Resolved(o.ret, super::file::fd_arg(o)),
        "dirfd" => dirfd(o.dirfd),
        "name" => Param::Text(o.path.arg()?),
        "flags" => {
            let ppm = open::ppm_flags(o.flags?);
            Param::Resolved(i64::from(ppm), Cow::Owned(render::open_flags(ppm)))
        }
        "mode" => {
            // A creat always creates: its mode counts whatever flags say.
            let mode = open::ppm_mode(o.flags.unwrap_or(0), o.mode?, creat);
            Param::Resolved(i64::from(mode), Cow::Owned(render::octal(mode)))
        }
        "resolve" => {
            let ppm = render::ppm_resolve(o.resolve?);
            named(i64::from(ppm), render::resolve_flags(ppm))
        }
        _ => return None,
    })
}

impl EventView<'_> {
    fn param_names(&self) -> &'static [Option<&'static str>] {
        match &self.ev.event.body {
            Body::Exec(e) if e.syscall == ExecSyscall::Execveat => EXECVEAT,
            Body::Exec(_) => EXECVE,
            Body::Mount(m) => match m.op {
                MountOp::Mount => MOUNT,
                MountOp::Umount2 => UMOUNT2,
                MountOp::Fsopen => FSOPEN,
                MountOp::Fsmount => FSMOUNT,
                MountOp::MoveMount => MOVE_MOUNT,
                MountOp::OpenTree => OPEN_TREE,
            },
            Body::Connect(_) => CONNECT,
            Body::NetFd(n) => match n.call {
                NetCall::Socket => SOCKET,
                NetCall::Dup => DUP,
                NetCall::Dup2 => DUP2,
                NetCall::Dup3 => DUP3,
                NetCall::Accept => ACCEPT,
                NetCall::Accept4 => ACCEPT4,
                NetCall::Listen => LISTEN,
                NetCall::Sendto => SENDTO,
                NetCall::Sendmsg => SENDMSG,
                NetCall::Recvfrom => RECVFROM,
                NetCall::Recvmsg => RECVMSG,
            },
            Body::Fork(_) => CLONE,
            Body::Exit(_) => PROCEXIT,
            Body::Privilege(p) => super::privilege::param_names(p),
            Body::Open(o) => match o.syscall {
                OpenSyscall::Open => OPEN,
                OpenSyscall::Openat => OPENAT,
                OpenSyscall::Openat2 => OPENAT2,
                OpenSyscall::Creat => CREAT,
            },
            Body::FileChange(c) => super::file_change::param_names(c),
        }
    }

    /// The parameters `--dump-events` shows as `evt.arg.NAME` (and `evt.rawarg.NAME`): every
    /// one the event has but its result (`evt.res`, `evt.rawres`) and an exec's snapshot of
    /// the process.
    pub fn shown_params(&self) -> impl Iterator<Item = &'static str> {
        let exec = matches!(self.ev.event.body, Body::Exec(_));
        self.param_names()
            .iter()
            .flatten()
            .copied()
            .filter(move |n| *n != "res" && !(exec && EXEC_SNAPSHOT.contains(n)))
    }

    /// The parameter `evt.arg.NAME` / `evt.arg[N]` names, if this event has it.
    fn param_named(&self, arg: &FieldArg) -> Option<&'static str> {
        let names = self.param_names();
        match arg {
            FieldArg::Key(k) => names.iter().flatten().find(|n| **n == k.as_str()).copied(),
            FieldArg::Index(i) => *names.get(usize::try_from(*i).ok()?)?,
            FieldArg::None => None,
        }
    }

    fn param(&self, name: &str) -> Option<Param<'_>> {
        let ev = &self.ev.event;
        let task = &ev.task;
        Some(match &ev.body {
            Body::Exec(e) => {
                let ok = e.ret >= 0;
                match name {
                    "res" => res(e.ret),
                    "exe" => Param::Text(b(&e.image.exe)),
                    "args" => Param::Text(b(e.image.args_line())),
                    "tid" => Param::Num(i64::from(task.tid)),
                    "pid" => Param::Num(i64::from(task.pid)),
                    "ptid" => Param::Num(i64::from(e.ppid)),
                    "cwd" => Param::Text(b(e.image.cwd.as_deref()?)),
                    "comm" => Param::Text(b(&task.comm)),
                    "env" => {
                        let env = e.env.as_deref()?;
                        Param::Text(if ok {
                            b(self.env.get_or_init(|| env.join(" ")))
                        } else {
                            Cow::Owned(env.join(" "))
                        })
                    }
                    "tty" => Param::Num(i64::from(e.tty?)),
                    // A uid parameter shows the user name, `<NONE>` for unset.
                    "loginuid" => match loginuid(e.loginuid?) {
                        -1 => Param::Resolved(-1, b("<NONE>")),
                        n => Param::Resolved(n, b(&self.ev.ctx.user.loginname)),
                    },
                    "flags" => exe_flags(e),
                    "cap_permitted" => Param::Resolved(
                        e.cap_permitted as i64,
                        b(self
                            .cap_permitted
                            .get_or_init(|| render::caps(e.cap_permitted))),
                    ),
                    "cap_effective" => Param::Resolved(
                        e.cap_effective as i64,
                        b(self
                            .cap_effective
                            .get_or_init(|| render::caps(e.cap_effective))),
                    ),
                    "pgid" => Param::Num(i64::from(e.groups?.pgid)),
                    "filename" => Param::Text(b(e.filename.value.as_deref()?)),
                    "dirfd" if e.syscall == ExecSyscall::Execveat => dirfd(e.dirfd),
                    _ => return None,
                }
            }
            Body::Mount(m) => match (m.op, name) {
                (_, "res") => res(m.ret),
                (MountOp::Mount, "dev") => text(&m.source)?,
                (MountOp::Mount, "dir") => text(&m.target)?,
                (MountOp::Mount, "type") => text(&m.fstype)?,
                (MountOp::Mount, "flags") => {
                    Param::Resolved(m.flags as i64, Cow::Owned(render::mount_flags(m.flags)))
                }
                (MountOp::Umount2, "name") => text(&m.target)?,
                (MountOp::Umount2, "flags") => named(m.flags as i64, render::umount_flags(m.flags)),
                (MountOp::Fsopen, "fsname") => text(&m.fstype)?,
                (MountOp::Fsmount, "fd") => dirfd(m.fd1),
                (MountOp::Fsmount, "attr_flags") => Param::Num(m.flags2 as i64),
                (MountOp::MoveMount, "from_dfd") => dirfd(m.fd1),
                (MountOp::MoveMount, "from_pathname") => text(&m.source)?,
                (MountOp::MoveMount, "to_dfd") => dirfd(m.fd2),
                (MountOp::MoveMount, "to_pathname") => text(&m.target)?,
                (MountOp::OpenTree, "dfd") => dirfd(m.fd1),
                (MountOp::OpenTree, "filename") => text(&m.source)?,
                (
                    MountOp::Fsopen | MountOp::Fsmount | MountOp::MoveMount | MountOp::OpenTree,
                    "flags",
                ) => Param::Num(m.flags as i64),
                _ => return None,
            },
            Body::Connect(c) => match name {
                "res" => res(c.ret),
                "tuple" => Param::Text(b(self.fd_name()?)),
                "fd" => match self.fd_tag() {
                    Some(tag) => Param::Resolved(
                        i64::from(c.fd),
                        Cow::Owned(format!("<{tag}>{}", self.fd_name().unwrap_or_default())),
                    ),
                    None => Param::Num(i64::from(c.fd)),
                },
                "addr" => Param::Text(self.peer_addr()?),
                _ => return None,
            },
            Body::NetFd(n) => match name {
                "res" => res(n.ret),
                // The new fd of socket/accept, the socket of listen and the I/O calls.
                "fd" => {
                    let fd = match n.call {
                        NetCall::Socket | NetCall::Accept | NetCall::Accept4 if n.ret < 0 => {
                            return Some(res(n.ret));
                        }
                        NetCall::Socket | NetCall::Accept | NetCall::Accept4 => n.ret,
                        _ => i64::from(n.args[0] as i32),
                    };
                    match self.fd_tag() {
                        Some(tag) => Param::Resolved(
                            fd,
                            Cow::Owned(format!("<{tag}>{}", self.fd_name().unwrap_or_default())),
                        ),
                        None => Param::Num(fd),
                    }
                }
                "tuple" => match self.fd_name()? {
                    "" => return None,
                    t => Param::Text(b(t)),
                },
                "domain" => named(n.args[0] as i64, render::socket_family(n.args[0])),
                "type" | "proto" if n.call == NetCall::Socket => {
                    Param::Num(n.args[usize::from(name == "proto") + 1] as i64)
                }
                "oldfd" => Param::Num(i64::from(n.args[0] as i32)),
                "newfd" => Param::Num(i64::from(n.args[1] as i32)),
                "flags" if n.call == NetCall::Dup3 => {
                    Param::Resolved(n.args[2] as i64, b(render::dup3_flags(n.args[2])))
                }
                "backlog" => Param::Num(i64::from(n.args[1] as i32)),
                "size" => Param::Num(i64::from(n.args[1] as u32)),
                _ => return None,
            },
            Body::Fork(f) => match name {
                "res" => Param::Num(i64::from(f.child_tid)),
                _ => return None,
            },
            Body::Exit(x) => match name {
                "status" => Param::Num(i64::from(x.exit_code)),
                _ => return None,
            },
            Body::Privilege(p) => return self.privilege_param(p, name),
            Body::Open(o) => return open_param(o, name),
            Body::FileChange(c) => return super::file_change::param(c, name),
        })
    }

    /// `evt.arg.NAME` / `evt.arg[N]`: always text.
    pub(super) fn evt_arg(&self, arg: &FieldArg) -> Option<Value<'_>> {
        let name = self.param_named(arg)?;
        Some(Value::Str(self.param(name)?.text()))
    }

    /// `evt.rawarg.NAME`: the number; missing for text parameters.
    pub(super) fn evt_rawarg(&self, arg: &FieldArg) -> Option<Value<'_>> {
        let name = self.param_named(arg)?;
        Some(int(self.param(name)?.raw()?))
    }

    /// `evt.args`: `name=value` for every parameter the event has, space separated.
    pub(super) fn evt_args(&self) -> Value<'static> {
        let parts: Vec<String> = self
            .param_names()
            .iter()
            .flatten()
            .filter_map(|n| Some(format!("{n}={}", self.param(n)?.text())))
            .collect();
        owned(parts.join(" "))
    }
}
