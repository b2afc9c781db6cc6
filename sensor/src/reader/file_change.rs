//! File-change records (`lanner_common::file_change::ChangeRecord`) to events: the head, then
//! the bytes of its first path and, from `second_at`, its second's.

use lanner_common::file_change::{CHANGE_FD_PATH, CHANGE_NAME_AT_EXIT, ChangeHead, ChangeOp};

use super::{decode::DecodeError, file::path_arg, path::walked_dir};
use crate::{
    event::FileChange,
    fspath::{Base, FilePath},
};

/// One record's head and the path bytes after it, as many as were sent.
pub(super) fn file_change(r: &ChangeHead, data: &[u8]) -> Result<FileChange, DecodeError> {
    let op = ChangeOp::from_u32(r.header.variant).ok_or(DecodeError::UnknownVariant {
        what: "file change",
        variant: r.header.variant,
    })?;
    let at = r.second_at as usize;
    let (first, rest) = data.split_at_checked(at).ok_or(DecodeError::FieldLength {
        field: "file change second path",
        len: at,
        cap: data.len(),
    })?;
    let at_exit = r.change_flags & CHANGE_NAME_AT_EXIT != 0;
    let mut path = if op == ChangeOp::Fchmod {
        fd_path(r, first)?
    } else {
        path_arg(&r.path1, first, "file change path")?
    };
    path.read_at_exit = at_exit;
    let second = if op.has_second() {
        let mut p = path_arg(&r.path2, rest, "file change second path")?;
        p.read_at_exit = at_exit;
        Some(p)
    } else {
        None
    };
    Ok(FileChange {
        op,
        ret: r.ret,
        path,
        second,
        fd1: r.fd1,
        fd2: r.fd2,
        flags: r.flags,
        mode: r.mode,
    })
}

/// fchmod's file: the path of its fd as the kernel walked it, or nothing when the fd was not
/// open.
fn fd_path(r: &ChangeHead, bytes: &[u8]) -> Result<FilePath, DecodeError> {
    let unknown = FilePath::new(None, false, &Base::Unknown);
    if r.change_flags & CHANGE_FD_PATH == 0 {
        return Ok(unknown);
    }
    Ok(match walked_dir(r.path1.base_f, bytes, "fchmod fd path")? {
        Some(dir) => FilePath::walked(&dir),
        None => unknown,
    })
}

#[cfg(test)]
#[path = "file_change_tests.rs"]
mod tests;
