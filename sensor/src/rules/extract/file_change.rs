//! `evt.arg.*` of the file-tree changes under Falco's parameter names (libs `event_table.c`,
//! the exit events), rendered as Falco renders them, and `fs.path.*` of every file call (libs
//! `sinsp_filtercheck_fspath.cpp`): present only when the call succeeded.

use std::borrow::Cow;

use lanner_common::file_change::ppm;
use lanner_rules::{Field, Value};

use super::{
    EventView,
    args::{Param, dirfd, named, res},
    render::file_change as r,
    s,
};
use crate::{
    event::{Body, ChangeOp, FileChange},
    fspath::FilePath,
};

/// Parameters in Falco's order (one table, shared with the prefilter's analysis).
pub(super) fn param_names(c: &FileChange) -> &'static [Option<&'static str>] {
    c.op.params()
}

/// A path parameter (`PT_FSPATH`, `PT_FSRELPATH`): a relative one resolved, an absolute one
/// as passed.
fn path(p: &FilePath) -> Option<Param<'_>> {
    Some(Param::Text(p.arg()?))
}

pub(super) fn param<'c>(c: &'c FileChange, name: &str) -> Option<Param<'c>> {
    let second = || c.second.as_ref();
    Some(match (c.op, name) {
        (_, "res") => res(c.ret),
        (_, "path" | "name" | "filename" | "oldpath") => path(&c.path)?,
        (_, "newpath" | "linkpath") => path(second()?)?,
        // A symlink's content (`PT_CHARBUF`): as passed, never resolved.
        (_, "target") => Param::Text(c.path.shown_raw()?),
        (_, "dirfd" | "olddirfd" | "olddir") => dirfd(c.fd1),
        (_, "newdirfd" | "newdir" | "linkdirfd") => dirfd(c.fd2),
        // fchmod's fd: its number (the path its file has is fs.path.name).
        (ChangeOp::Fchmod, "fd") => Param::Num(i64::from(c.fd1)),
        (ChangeOp::Unlinkat, "flags") => {
            let f = ppm::unlinkat_flags(c.flags);
            named(i64::from(f), r::unlinkat_flags(f))
        }
        (ChangeOp::Linkat, "flags") => {
            let f = ppm::linkat_flags(c.flags);
            named(i64::from(f), r::linkat_flags(f))
        }
        (ChangeOp::Renameat2, "flags") => {
            let f = ppm::renameat2_flags(c.flags);
            named(i64::from(f), r::renameat2_flags(f))
        }
        (ChangeOp::Mkdir | ChangeOp::Mkdirat, "mode") => {
            Param::Resolved(i64::from(c.mode), Cow::Owned(r::mkdir_mode(c.mode)))
        }
        (ChangeOp::Chmod | ChangeOp::Fchmod | ChangeOp::Fchmodat, "mode") => {
            let m = ppm::chmod_mode(c.mode);
            Param::Resolved(i64::from(m), Cow::Owned(r::chmod_mode(m)))
        }
        _ => return None,
    })
}

/// Which of a change's paths `fs.path.*` names.
#[derive(Clone, Copy)]
enum Role {
    Name,
    Source,
    Target,
}

/// The path of a file change that plays `role`, as Falco assigns them: unlink, rmdir, mkdir
/// and the chmods have a name; a rename's source is its old path and its target the new one;
/// a link's source is the new link and its target the existing file; a symlink's source is
/// the link and its target its content.
fn role_path(c: &FileChange, role: Role) -> Option<&FilePath> {
    let pair = |source_is_first: bool| match (role, source_is_first) {
        (Role::Source, true) | (Role::Target, false) => Some(&c.path),
        (Role::Source, false) | (Role::Target, true) => c.second.as_ref(),
        (Role::Name, _) => None,
    };
    match c.op {
        ChangeOp::Rename | ChangeOp::Renameat | ChangeOp::Renameat2 => pair(true),
        ChangeOp::Link | ChangeOp::Linkat | ChangeOp::Symlink | ChangeOp::Symlinkat => pair(false),
        _ => matches!(role, Role::Name).then_some(&c.path),
    }
}

impl<'a> EventView<'a> {
    /// `fs.path.*`: missing unless the call succeeded (Falco: a change's result is 0, an
    /// open's fd is not -1).
    pub(super) fn fs_path_field(&self, field: Field) -> Option<Value<'a>> {
        let (p, raw) = match &self.ev.event.body {
            Body::FileChange(c) if c.ret == 0 => {
                let role = match field {
                    Field::FsPathName | Field::FsPathNameraw => Role::Name,
                    Field::FsPathSource | Field::FsPathSourceraw => Role::Source,
                    _ => Role::Target,
                };
                let raw = matches!(
                    field,
                    Field::FsPathNameraw | Field::FsPathSourceraw | Field::FsPathTargetraw
                );
                (role_path(c, role)?, raw)
            }
            Body::Open(o) if o.ret != -1 && o.syscall != crate::event::OpenSyscall::Creat => {
                match field {
                    Field::FsPathName => (&o.path, false),
                    Field::FsPathNameraw => (&o.path, true),
                    _ => return None,
                }
            }
            _ => return None,
        };
        if raw {
            // fchmod's file has no path as passed: Falco shows its fd's name in both.
            match p.shown_raw() {
                Some(v) => Some(Value::Str(v)),
                None => p.name.as_deref().map(s),
            }
        } else {
            p.name.as_deref().map(s)
        }
    }
}
