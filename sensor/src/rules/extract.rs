//! Falco's field values over an enriched event: what the rule engine compares and prints.
//!
//! Semantics are Falco's (falco-fields.md section 1). This is the one definition of each
//! field's value: the `--dump-events` JSON (`output::dump`) is a projection of it over the
//! availability table (`lanner_rules::availability`), so the dump shows what the rules see. A
//! value the event does not carry is `None` (Falco's "missing"), never a made-up default:
//! fields of data Lanner does not capture (`evt.buffer` but recvfrom's, `proc.exe_ino.*`, ...)
//! are always `None`.
//!
//! Extraction runs for every check of every rule the event meets, so values are borrowed from
//! the event where they exist; strings that must be built (joined arguments, capability names,
//! labels, `fd.name`) are built once per event, on first use, and kept in the view.

mod args;
mod file;
mod file_change;
mod net;
mod net_fd;
mod pod;
mod privilege;
pub mod render;

use std::{borrow::Cow, cell::OnceCell};

use lanner_common::file::open::class;
use lanner_rules::{EventSource, EvtType, Field, FieldArg, Value, fields::Class};

use crate::{
    enrich::{Ancestor, Enriched},
    event::{Body, Caps, Exec, Image},
};

/// One event as the rule engine sees it.
pub struct EventView<'a> {
    pub ev: &'a Enriched,
    /// Wall-clock time of the event (`evt.time`), ns since the epoch.
    pub epoch_ns: u64,
    hostname: Option<&'a str>,
    exeline: OnceCell<String>,
    env: OnceCell<String>,
    cap_effective: OnceCell<String>,
    cap_permitted: OnceCell<String>,
    fd_name: OnceCell<Option<String>>,
    ends: OnceCell<Option<net::Ends>>,
    mounts: OnceCell<String>,
    labels: OnceCell<String>,
}

/// A borrowed string value.
fn s(v: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(v))
}

fn owned(v: String) -> Value<'static> {
    Value::Str(Cow::Owned(v))
}

fn int(v: impl Into<i64>) -> Value<'static> {
    Value::Int(v.into())
}

fn uint(v: impl Into<u64>) -> Value<'static> {
    Value::Uint(v.into())
}

impl<'a> EventView<'a> {
    pub fn new(ev: &'a Enriched, epoch_ns: u64) -> Self {
        Self {
            ev,
            epoch_ns,
            hostname: None,
            exeline: OnceCell::new(),
            env: OnceCell::new(),
            cap_effective: OnceCell::new(),
            cap_permitted: OnceCell::new(),
            fd_name: OnceCell::new(),
            ends: OnceCell::new(),
            mounts: OnceCell::new(),
            labels: OnceCell::new(),
        }
    }

    /// `evt.hostname`: missing unless given.
    pub fn with_hostname(mut self, hostname: &'a str) -> Self {
        self.hostname = Some(hostname);
        self
    }

    fn exec(&self) -> Option<&'a Exec> {
        match &self.ev.event.body {
            Body::Exec(e) => Some(e),
            _ => None,
        }
    }

    /// The exec record when it describes the process's image: a failed exec leaves the process
    /// as it was (Falco does not update its thread on a failed exec either), so its `proc.*`
    /// come from the table, while its `evt.arg.*` still show what was attempted.
    fn image(&self) -> Option<&'a Exec> {
        self.exec().filter(|e| e.ret >= 0)
    }

    fn lineage(&self) -> &'a [Ancestor] {
        &self.ev.ctx.process.lineage
    }

    /// How many processes `proc.aname[N]` and its kin know: the process itself and its
    /// known ancestors.
    pub fn lineage_len(&self) -> usize {
        self.lineage().len()
    }

    /// The process itself (index 0) or its Nth ancestor.
    fn ancestor(&self, n: u32) -> Option<&'a Ancestor> {
        self.lineage().get(usize::try_from(n).ok()?)
    }

    /// What the process runs: the exec's new image, else the table's.
    fn my_image(&self) -> Option<&'a Image> {
        match self.image() {
            Some(e) => Some(&e.image),
            None => self.lineage().first().map(|me| &*me.image),
        }
    }

    /// argv[1..] of the process.
    fn arg_list(&self) -> Option<&'a [String]> {
        self.my_image().map(|i| i.args.as_slice())
    }

    fn vpid(&self) -> Option<u32> {
        match self.exec() {
            Some(e) => e.vpid,
            None => self.ev.ctx.process.vpid,
        }
    }

    /// 0 means "not visible in the process's namespace": no value.
    fn vpgid(&self) -> Option<u32> {
        self.exec()
            .and_then(|e| e.groups)
            .map(|g| g.vpgid)
            .filter(|v| *v != 0)
            .or(self.ev.ctx.process.vpgid)
    }

    /// The return value (`evt.rawres`). The fork record is the parent's side of Falco's
    /// `clone`, whose return value is the child's tid.
    fn ret(&self) -> Option<i64> {
        match &self.ev.event.body {
            Body::Exec(e) => Some(e.ret),
            Body::Mount(m) => Some(m.ret),
            Body::Connect(c) => Some(c.ret),
            Body::NetFd(n) => Some(n.ret),
            Body::Fork(f) => Some(i64::from(f.child_tid)),
            Body::Exit(_) => None,
            Body::Privilege(p) => Some(p.ret),
            Body::Open(o) => Some(o.ret),
            Body::FileChange(c) => Some(c.ret),
        }
    }

    /// The capabilities the event's record carries: an exec's, or those a privilege call was
    /// made with. Other events have none (the process table does not keep them).
    fn caps(&self) -> Option<Caps> {
        match &self.ev.event.body {
            Body::Exec(e) => Some(Caps {
                effective: e.cap_effective,
                permitted: e.cap_permitted,
            }),
            Body::Privilege(p) => p.caps,
            _ => None,
        }
    }

    fn join_args(&self) -> Option<&'a str> {
        self.my_image().map(Image::args_line)
    }

    /// `proc.aname` and friends: `[N]` is one ancestor; without an index (output only: the
    /// engine walks the indexes itself for conditions) the ancestors from the parent up.
    fn ancestors<'s>(
        &'s self,
        arg: &FieldArg,
        get: impl Fn(&'a Ancestor) -> Option<&'a str>,
    ) -> Option<Value<'s>> {
        match arg {
            FieldArg::Index(n) => self.ancestor(*n).and_then(get).map(s),
            _ => {
                let all: Vec<&str> = self.lineage().iter().skip(1).filter_map(get).collect();
                (!all.is_empty()).then(|| owned(all.join(" ")))
            }
        }
    }

    fn proc_field(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>> {
        let ev = self.ev;
        let task = &ev.event.task;
        let p = &ev.ctx.process;
        let parent = p.parent();
        Some(match field {
            Field::ProcPid => int(task.pid),
            Field::ProcPpid => match self.exec() {
                Some(e) => int(e.ppid),
                None => int(parent?.pid),
            },
            Field::ProcVpid => int(self.vpid()?),
            Field::ProcName => s(&task.comm),
            Field::ProcExe => s(&self.my_image()?.exe),
            Field::ProcExepath => s(self.my_image()?.exepath.as_deref()?),
            Field::ProcArgs => match arg {
                // Past the end: present and empty, as in Falco.
                FieldArg::Index(n) => {
                    let list = self.arg_list()?;
                    s(list.get(*n as usize).map_or("", String::as_str))
                }
                _ => s(self.join_args()?),
            },
            Field::ProcCmdline => s(&self.my_image()?.cmdline),
            Field::ProcExeline => {
                let exe = &self.my_image()?.exe;
                let args = self.join_args()?;
                s(self.exeline.get_or_init(|| join2(exe, args)))
            }
            Field::ProcCmdnargs => uint(self.arg_list()?.len() as u64),
            Field::ProcEnv => {
                let env = self.image()?.env.as_deref()?;
                match arg {
                    FieldArg::Key(k) => s(env_value(env, k)),
                    _ => s(self.env.get_or_init(|| env.join(" "))),
                }
            }
            Field::ProcCwd => match self.exec() {
                Some(e) => s(e.image.cwd.as_deref()?),
                None => s(p.cwd()?),
            },
            Field::ProcTty => match self.exec() {
                Some(e) => uint(e.tty?),
                None => uint(self.ev.ctx.process.tty?),
            },
            Field::ProcSid => int(self.exec()?.groups?.sid),
            Field::ProcPgid => int(self.exec()?.groups?.pgid),
            Field::ProcVpgid => int(self.vpgid()?),
            Field::ProcSname => s(p.sname.as_deref()?),
            Field::ProcIsVpgidLeader => Value::Bool(self.vpgid()? == self.vpid()?),
            Field::ProcPname => s(&parent?.name),
            Field::ProcPexe => s(&parent?.exe),
            Field::ProcPexepath => s(parent?.exepath.as_deref()?),
            Field::ProcPcmdline => s(&parent?.cmdline),
            Field::ProcAname => return self.ancestors(arg, |a| Some(&*a.name)),
            Field::ProcAexe => return self.ancestors(arg, |a| Some(a.exe.as_str())),
            Field::ProcAexepath => return self.ancestors(arg, |a| a.exepath.as_deref()),
            Field::ProcAcmdline => return self.ancestors(arg, |a| Some(a.cmdline.as_str())),
            Field::ProcApid => match arg {
                FieldArg::Index(n) => int(self.ancestor(*n)?.pid),
                _ => return None,
            },
            Field::ProcDuration => uint(p.duration_ns?),
            Field::ProcIsExeUpperLayer => Value::Bool(self.image()?.upper_layer?),
            Field::ProcIsExeFromMemfd => Value::Bool(self.image()?.from_memfd),
            _ => return None,
        })
    }

    fn thread_user_field(&self, field: Field) -> Option<Value<'_>> {
        let task = &self.ev.event.task;
        let user = &self.ev.ctx.user;
        Some(match field {
            Field::ThreadTid => int(task.tid),
            // A thread's own number in the namespace is not captured; the main thread's is
            // the process's.
            Field::ThreadVtid if task.tid == task.pid => int(self.vpid()?),
            Field::ThreadCapEffective => {
                // An open carries only the effective set (the escape rules test it).
                let mask = match self.open() {
                    Some(o) => o.cap_effective?,
                    None => self.caps()?.effective,
                };
                s(self.cap_effective.get_or_init(|| render::caps(mask)))
            }
            Field::ThreadCapPermitted => {
                let mask = self.caps()?.permitted;
                s(self.cap_permitted.get_or_init(|| render::caps(mask)))
            }
            Field::UserUid => uint(task.uid),
            Field::UserName => s(&user.name),
            Field::UserEuid => uint(self.exec()?.euid),
            Field::UserLoginuid => int(loginuid(self.exec()?.loginuid?)),
            Field::UserLoginname => s(&user.loginname),
            Field::GroupGid => uint(task.gid),
            Field::GroupName => s(&user.group),
            _ => return None,
        })
    }

    // Out of line: the rules' hot checks are on proc.*, fd.* and container.* (evt.type is
    // settled per event type at load), and inlined here it made every extraction dearer.
    #[inline(never)]
    fn evt_field(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>> {
        Some(match field {
            Field::EvtType => s(self.evt_type().name()),
            Field::EvtArg => return self.evt_arg(arg),
            Field::EvtRawarg => return self.evt_rawarg(arg),
            Field::EvtArgs => self.evt_args(),
            Field::EvtRes => Value::Str(render::res(self.ret()?)),
            Field::EvtRawres => int(self.ret()?),
            Field::EvtFailed => Value::Bool(self.ret().is_some_and(|r| r < 0)),
            // Time fields share the value; the formatter renders each its way.
            Field::EvtTime
            | Field::EvtTimeS
            | Field::EvtTimeIso8601
            | Field::EvtDatetime
            | Field::EvtDatetimeS
            | Field::EvtRawtime => uint(self.epoch_ns),
            Field::EvtDir => s("<"),
            Field::EvtSource => s("syscall"),
            Field::EvtHostname => s(self.hostname?),
            // recvfrom's data, as much as Falco's snaplen keeps.
            Field::EvtBuffer => Value::Bytes(Cow::Borrowed(self.net_fd_data()?)),
            // Not an open: false, not missing (as Falco).
            // The probe's flag class; false, not missing, on events that are no open (as
            // Falco).
            Field::EvtIsOpenRead => Value::Bool(self.is_open(class::READ)),
            Field::EvtIsOpenWrite => Value::Bool(self.is_open(class::WRITE)),
            Field::EvtIsOpenExec => Value::Bool(self.is_open(class::EXEC)),
            _ => return None,
        })
    }
}

impl EventView<'_> {
    fn lanner_field(&self, field: Field) -> Option<Value<'_>> {
        match field {
            Field::LannerPathTruncated => {
                let process = self.lineage().first().map(|me| &*me.image);
                Some(Value::Bool(self.ev.event.body.path_truncated(process)))
            }
            _ => None,
        }
    }
}

impl EventSource for EventView<'_> {
    fn evt_type(&self) -> EvtType {
        self.ev.event.body.evt_type()
    }

    fn extract(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>> {
        match field.class() {
            Class::Proc => self.proc_field(field, arg),
            Class::Evt => self.evt_field(field, arg),
            Class::Fd => match self.open() {
                Some(o) => self.file_fd_field(o, field),
                None => self.fd_field(field),
            },
            Class::FsPath => self.fs_path_field(field),
            Class::Container | Class::K8s => self.pod_field(field, arg),
            Class::Thread | Class::User | Class::Group => self.thread_user_field(field),
            Class::Lanner => self.lanner_field(field),
        }
    }
}

/// `a b`, or `a` when `b` is empty.
fn join2(a: &str, b: &str) -> String {
    if b.is_empty() {
        a.to_string()
    } else {
        format!("{a} {b}")
    }
}

/// `proc.env[NAME]`: the value of the last `NAME=` entry, `""` if unset.
fn env_value<'e>(env: &'e [String], name: &str) -> &'e str {
    env.iter()
        .rev()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or("")
}

/// Falco's `user.loginuid`: -1 when unset.
fn loginuid(raw: u32) -> i64 {
    if raw == u32::MAX { -1 } else { i64::from(raw) }
}
