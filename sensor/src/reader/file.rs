//! File syscall records to events: the path argument (the name as passed and the directory
//! the kernel resolved for a relative one, `lanner_common::file::PathArg`) and the opens.

use lanner_common::file::{
    self, OPEN_CAPS_UNREAD, OPEN_HOW_UNREAD, OPEN_NAME_AT_EXIT, OpenHead, PathArg,
};

use super::{
    decode::{DecodeError, text},
    path::walked_dir,
};
use crate::{
    event::{Open, OpenSyscall},
    fspath::{Base, FilePath},
};

/// A path argument from its fixed part and the record's path bytes (`data`: the bytes after
/// the record's head, as many as were sent).
pub(super) fn path_arg(
    arg: &PathArg,
    data: &[u8],
    field: &'static str,
) -> Result<FilePath, DecodeError> {
    let at = usize::from(arg.name_at);
    let (base_bytes, name_bytes) = match data.split_at_checked(at) {
        Some(split) => split,
        None => {
            return Err(DecodeError::FieldLength {
                field,
                len: at,
                cap: data.len(),
            });
        }
    };
    let name = text(arg.name_f, name_bytes, field)?;
    let base = match file::Base::from_u16(arg.base) {
        Some(file::Base::None) => Base::None,
        Some(file::Base::Cwd | file::Base::Dirfd) => {
            match walked_dir(arg.base_f, base_bytes, field)? {
                Some(dir) => Base::Dir(dir),
                None => Base::Unknown,
            }
        }
        Some(file::Base::Unknown) => Base::Unknown,
        None => {
            return Err(DecodeError::UnknownVariant {
                what: "path base",
                variant: u32::from(arg.base),
            });
        }
    };
    Ok(FilePath::new(name.value, name.truncated, &base))
}

/// open, openat, openat2, creat.
pub(super) fn open(r: &OpenHead, data: &[u8]) -> Result<Open, DecodeError> {
    let syscall = match r.header.variant {
        0 => OpenSyscall::Open,
        1 => OpenSyscall::Openat,
        2 => OpenSyscall::Openat2,
        3 => OpenSyscall::Creat,
        variant => {
            return Err(DecodeError::UnknownVariant {
                what: "open",
                variant,
            });
        }
    };
    let how = r.open_flags & OPEN_HOW_UNREAD == 0;
    let mut path = path_arg(&r.path, data, "open path")?;
    path.read_at_exit = r.open_flags & OPEN_NAME_AT_EXIT != 0;
    Ok(Open {
        syscall,
        ret: r.ret,
        path,
        dirfd: r.dirfd,
        flags: (how && syscall != OpenSyscall::Creat).then_some(r.flags),
        mode: how.then_some(r.mode),
        resolve: (how && syscall == OpenSyscall::Openat2).then_some(r.resolve),
        classes: r.classes,
        cap_effective: (r.open_flags & OPEN_CAPS_UNREAD == 0).then_some(r.cap_effective),
    })
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
