//! `evt.arg.*` of the privilege calls under Falco's parameter names (libs `event_table.c`, the
//! exit events: `PPME_SYSCALL_*_X`, bpf's newest), rendered as Falco renders them.

use std::borrow::Cow;

use super::{
    EventView,
    args::{Param, named, res, text},
    render,
};
use crate::event::{PrivCall, Privilege};

/// Parameters in Falco's order (`None`: one Lanner does not capture: ptrace's `addr` and
/// `data`, init_module's image).
const PTRACE: &[Option<&str>] = &[Some("res"), None, None, Some("request"), Some("pid")];
const SETUID: &[Option<&str>] = &[Some("res"), Some("uid")];
const SETNS: &[Option<&str>] = &[Some("res"), Some("fd"), Some("nstype")];
const UNSHARE: &[Option<&str>] = &[Some("res"), Some("flags")];
const INIT_MODULE: &[Option<&str>] = &[Some("res"), None, Some("length"), Some("uargs")];
#[rustfmt::skip]
const FINIT_MODULE: &[Option<&str>] = &[Some("res"), Some("fd"), Some("uargs"), Some("flags")];
/// bpf's result is its `fd` parameter (Falco's event has no `res`).
const BPF: &[Option<&str>] = &[Some("fd"), Some("cmd")];
const USERFAULTFD: &[Option<&str>] = &[Some("res"), Some("flags")];

pub(super) fn param_names(p: &Privilege) -> &'static [Option<&'static str>] {
    match p.call {
        PrivCall::Ptrace { .. } => PTRACE,
        PrivCall::Setuid { .. } => SETUID,
        PrivCall::Setns { .. } => SETNS,
        PrivCall::Unshare { .. } => UNSHARE,
        PrivCall::InitModule { .. } => INIT_MODULE,
        PrivCall::FinitModule { .. } => FINIT_MODULE,
        PrivCall::Bpf { .. } => BPF,
        PrivCall::Userfaultfd { .. } => USERFAULTFD,
    }
}

/// A flags parameter: Falco's number and, when any flag is known, its names.
fn flags(n: u32, names: Option<String>) -> Param<'static> {
    named(i64::from(n), names)
}

fn fd(fd: i64) -> Param<'static> {
    Param::Resolved(fd, render::fd(fd))
}

impl EventView<'_> {
    pub(super) fn privilege_param<'s>(&'s self, p: &'s Privilege, name: &str) -> Option<Param<'s>> {
        Some(match (&p.call, name) {
            (PrivCall::Bpf { .. }, "fd") => fd(p.ret),
            (_, "res") => res(p.ret),
            (PrivCall::Ptrace { request, .. }, "request") => {
                let (ppm, name) = render::ptrace_request(*request);
                Param::Resolved(ppm, Cow::Borrowed(name))
            }
            // Falco shows the target's comm when its thread table has the pid; Lanner does
            // not resolve it (the pid is in the caller's namespace): the number.
            (PrivCall::Ptrace { pid, .. }, "pid") => Param::Num(i64::from(*pid)),
            (PrivCall::Setuid { uid }, "uid") => match &self.ev.ctx.user.arg_name {
                Some(user) => Param::Resolved(i64::from(*uid), Cow::Borrowed(&**user)),
                None => Param::Num(i64::from(*uid)),
            },
            (PrivCall::Setns { fd: f, .. }, "fd") => fd(i64::from(*f)),
            (PrivCall::Setns { nstype, .. }, "nstype") => {
                let (ppm, names) = render::clone_flags(*nstype);
                flags(ppm, names)
            }
            (PrivCall::Unshare { flags: f }, "flags") => {
                let (ppm, names) = render::clone_flags(*f);
                flags(ppm, names)
            }
            (PrivCall::InitModule { length, .. }, "length") => Param::Num(*length as i64),
            (PrivCall::FinitModule { fd: f, .. }, "fd") => fd(i64::from(*f)),
            (PrivCall::FinitModule { flags: f, .. }, "flags") => {
                let (ppm, names) = render::finit_module_flags(*f);
                flags(ppm, names)
            }
            (PrivCall::InitModule { uargs, .. } | PrivCall::FinitModule { uargs, .. }, "uargs") => {
                text(uargs)?
            }
            (PrivCall::Bpf { cmd }, "cmd") => named(i64::from(*cmd), render::bpf_cmd(*cmd)),
            (PrivCall::Userfaultfd { flags: f }, "flags") => {
                flags(*f, render::userfaultfd_flags(*f))
            }
            _ => return None,
        })
    }
}
