//! `fd.*` of the file syscalls (falco-fields.md 1.5), from the path argument
//! (`fspath::FilePath`) and the result. For opens, as Falco's parser fills its fd table: a
//! successful open is a `file`, or a `directory` when its flags have `O_DIRECTORY`; a failed
//! one has no fd (`fd.num` -1, no `fd.type` nor `fd.filename`) but its name, and a `fd.typechar`
//! guessed from the event type (`f`; `o` for the legacy `open`).

use std::borrow::Cow;

use lanner_common::file::open::class;
use lanner_rules::{Field, Value};

use super::{EventView, int, s};
use crate::{
    event::{Body, Open, OpenSyscall},
    fspath,
};

/// What kind of fd an open made, as Falco's fd table has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Made {
    File,
    Directory,
    /// The call failed: no fd.
    Nothing,
}

/// The kind of fd an open made: from its result and the flag classes the probe computed (what
/// the kernel knows, so the prefilter can decide `fd.typechar` as this does).
fn made(o: &Open) -> Made {
    if o.ret < 0 {
        Made::Nothing
    } else if o.classes & class::DIRECTORY != 0 {
        Made::Directory
    } else {
        Made::File
    }
}

/// `fd.typechar` of an open.
fn typechar(o: &Open) -> &'static str {
    match (made(o), o.syscall) {
        (Made::File, _) => "f",
        (Made::Directory, _) => "d",
        (Made::Nothing, OpenSyscall::Open) => "o",
        (Made::Nothing, _) => "f",
    }
}

/// `evt.arg.fd` of an open: `<f>/path` for the new fd, the errno name for a failure.
pub(super) fn fd_arg(o: &Open) -> Cow<'_, str> {
    if o.ret < 0 {
        return super::render::number_or_errno(o.ret);
    }
    let name = o.path.name.as_deref().unwrap_or_default();
    Cow::Owned(format!("<{}>{name}", typechar(o)))
}

impl<'a> EventView<'a> {
    pub(super) fn open(&self) -> Option<&'a Open> {
        match &self.ev.event.body {
            Body::Open(o) => Some(o),
            _ => None,
        }
    }

    /// `evt.is_open_read` and its kin: the class bit, false for every other event.
    pub(super) fn is_open(&self, bit: u32) -> bool {
        self.open().is_some_and(|o| o.classes & bit != 0)
    }

    pub(super) fn file_fd_field(&self, o: &'a Open, field: Field) -> Option<Value<'a>> {
        let made = made(o);
        let name = || o.path.name.as_deref();
        Some(match field {
            Field::FdNum => int(o.ret.max(-1)),
            Field::FdName => s(name()?),
            Field::FdNameraw => Value::Str(o.path.nameraw()?),
            Field::FdDirectory => match made {
                Made::Directory => s(name()?),
                Made::File | Made::Nothing => s(fspath::directory(name()?)),
            },
            Field::FdFilename => match made {
                Made::File => s(fspath::filename(name()?)),
                Made::Directory | Made::Nothing => return None,
            },
            Field::FdTypechar => s(typechar(o)),
            Field::FdType => s(match made {
                Made::File => "file",
                Made::Directory => "directory",
                Made::Nothing => return None,
            }),
            _ => return None,
        })
    }
}
