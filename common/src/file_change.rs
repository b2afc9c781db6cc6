//! The syscalls that change the file tree rather than open a file: `unlink`, `unlinkat`,
//! `rmdir`, `rename`, `renameat`, `renameat2`, `mkdir`, `mkdirat`, `symlink`, `symlinkat`,
//! `link`, `linkat`, `chmod`, `fchmod`, `fchmodat` ([`ChangeRecord`], header variant =
//! [`ChangeOp`]), and the one conversion of their flags and modes to Falco's ([`ppm`]).
//!
//! Each path argument is a [`PathArg`] (the name as passed and, for a relative one, the
//! directory it is relative to, walked at entry), read as the open family reads its path. A
//! call names one or two paths; fchmod names none, and its fd's path is walked instead.

use crate::{
    Header,
    evttype::EvtType,
    file::{PATH_ARG_DATA, PathArg},
};

/// The syscall a [`ChangeRecord`] is about: its header's variant. Stable numbers.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOp {
    /// `unlink(path)`.
    Unlink = 0,
    /// `unlinkat(dirfd, name, flags)`.
    Unlinkat = 1,
    /// `rmdir(path)`.
    Rmdir = 2,
    /// `rename(oldpath, newpath)`.
    Rename = 3,
    /// `renameat(olddirfd, oldpath, newdirfd, newpath)`.
    Renameat = 4,
    /// `renameat2(olddirfd, oldpath, newdirfd, newpath, flags)`.
    Renameat2 = 5,
    /// `mkdir(path, mode)`.
    Mkdir = 6,
    /// `mkdirat(dirfd, path, mode)`.
    Mkdirat = 7,
    /// `symlink(target, linkpath)`.
    Symlink = 8,
    /// `symlinkat(target, linkdirfd, linkpath)`.
    Symlinkat = 9,
    /// `link(oldpath, newpath)`.
    Link = 10,
    /// `linkat(olddirfd, oldpath, newdirfd, newpath, flags)`.
    Linkat = 11,
    /// `chmod(filename, mode)`.
    Chmod = 12,
    /// `fchmod(fd, mode)`: no path; the fd's is walked.
    Fchmod = 13,
    /// `fchmodat(dirfd, filename, mode)`.
    Fchmodat = 14,
}

impl ChangeOp {
    pub const ALL: [ChangeOp; 15] = [
        ChangeOp::Unlink,
        ChangeOp::Unlinkat,
        ChangeOp::Rmdir,
        ChangeOp::Rename,
        ChangeOp::Renameat,
        ChangeOp::Renameat2,
        ChangeOp::Mkdir,
        ChangeOp::Mkdirat,
        ChangeOp::Symlink,
        ChangeOp::Symlinkat,
        ChangeOp::Link,
        ChangeOp::Linkat,
        ChangeOp::Chmod,
        ChangeOp::Fchmod,
        ChangeOp::Fchmodat,
    ];

    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|op| *op as u32 == v)
    }

    /// Its event type: the one mapping, for the kernel's prefilter and the sensor.
    pub const fn evt_type(self) -> EvtType {
        match self {
            ChangeOp::Unlink => EvtType::Unlink,
            ChangeOp::Unlinkat => EvtType::Unlinkat,
            ChangeOp::Rmdir => EvtType::Rmdir,
            ChangeOp::Rename => EvtType::Rename,
            ChangeOp::Renameat => EvtType::Renameat,
            ChangeOp::Renameat2 => EvtType::Renameat2,
            ChangeOp::Mkdir => EvtType::Mkdir,
            ChangeOp::Mkdirat => EvtType::Mkdirat,
            ChangeOp::Symlink => EvtType::Symlink,
            ChangeOp::Symlinkat => EvtType::Symlinkat,
            ChangeOp::Link => EvtType::Link,
            ChangeOp::Linkat => EvtType::Linkat,
            ChangeOp::Chmod => EvtType::Chmod,
            ChangeOp::Fchmod => EvtType::Fchmod,
            ChangeOp::Fchmodat => EvtType::Fchmodat,
        }
    }

    /// The call of event type `t`, if it is one of these.
    pub fn of_evt_type(t: EvtType) -> Option<ChangeOp> {
        Self::ALL
            .into_iter()
            .find(|op| op.evt_type() as u32 == t as u32)
    }

    /// Falco's parameters of its exit event, in order (libs `event_table.c`): the
    /// `evt.arg.*` it has. One table for the sensor's extraction and the prefilter's analysis
    /// (an `evt.arg.*` not in it is missing, whatever the path).
    pub const fn params(self) -> &'static [Option<&'static str>] {
        match self {
            ChangeOp::Unlink | ChangeOp::Rmdir => params::UNLINK,
            ChangeOp::Unlinkat => params::UNLINKAT,
            ChangeOp::Rename | ChangeOp::Link => params::RENAME,
            ChangeOp::Renameat => params::RENAMEAT,
            ChangeOp::Renameat2 => params::RENAMEAT2,
            ChangeOp::Mkdir => params::MKDIR,
            ChangeOp::Mkdirat => params::MKDIRAT,
            ChangeOp::Symlink => params::SYMLINK,
            ChangeOp::Symlinkat => params::SYMLINKAT,
            ChangeOp::Linkat => params::LINKAT,
            ChangeOp::Chmod => params::CHMOD,
            ChangeOp::Fchmod => params::FCHMOD,
            ChangeOp::Fchmodat => params::FCHMODAT,
        }
    }

    /// The parameter that shows the first path ([`ChangeHead::path1`]) resolved (an absolute
    /// one as passed): `None` for a symlink (its `target` is its content, never resolved) and
    /// fchmod (an fd).
    pub const fn first_path_param(self) -> Option<&'static str> {
        match self {
            ChangeOp::Unlink | ChangeOp::Rmdir | ChangeOp::Mkdir | ChangeOp::Mkdirat => {
                Some("path")
            }
            ChangeOp::Unlinkat => Some("name"),
            ChangeOp::Rename
            | ChangeOp::Renameat
            | ChangeOp::Renameat2
            | ChangeOp::Link
            | ChangeOp::Linkat => Some("oldpath"),
            ChangeOp::Chmod | ChangeOp::Fchmodat => Some("filename"),
            ChangeOp::Symlink | ChangeOp::Symlinkat | ChangeOp::Fchmod => None,
        }
    }

    /// Whether it names a second path ([`ChangeHead::path2`]): the new name of a rename or a
    /// link, the link of a symlink.
    pub const fn has_second(self) -> bool {
        matches!(
            self,
            ChangeOp::Rename
                | ChangeOp::Renameat
                | ChangeOp::Renameat2
                | ChangeOp::Symlink
                | ChangeOp::Symlinkat
                | ChangeOp::Link
                | ChangeOp::Linkat
        )
    }
}

/// A file-tree change: arguments copied at entry, the return value at exit. The fixed part of
/// [`ChangeRecord`], a type of its own so the reader can read it in place: the record is sent
/// with only the used bytes of its paths, the second's right after the first's.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ChangeHead {
    pub header: Header,
    pub ret: i64,
    /// The directory fd of the first path as passed (`dirfd`, `olddirfd`); fchmod's `fd`;
    /// [`AT_FDCWD`](crate::file::AT_FDCWD) for the calls without one.
    pub fd1: i32,
    /// The directory fd of the second path (`newdirfd`, symlinkat's `linkdirfd`); `AT_FDCWD`
    /// for the calls without one.
    pub fd2: i32,
    /// `flags` as passed (unlinkat, renameat2, linkat; the kernel's bits), else 0.
    pub flags: u32,
    /// `mode` as passed (mkdir, mkdirat, chmod, fchmod, fchmodat), else 0.
    pub mode: u32,
    /// `CHANGE_*` bits below.
    pub change_flags: u32,
    /// On the wire: where the second path's bytes start in the data (the first path's used
    /// bytes); in the kernel's stash, 0.
    pub second_at: u32,
    /// The paths' user addresses, kept between entry and exit for a second read (see
    /// [`CHANGE_NAME_AT_EXIT`]); 0 on the wire.
    pub ptr1: u64,
    pub ptr2: u64,
    /// The first path: unlink's, rmdir's, mkdir's, chmod's `path`/`name`/`filename`; the old
    /// path of a rename or link; a symlink's `target` (its content, as passed: joined to the
    /// working directory when relative, as Falco does); fchmod's fd, walked (the name is empty
    /// and the walk is its directory part, see [`CHANGE_FD_PATH`]).
    pub path1: PathArg,
    /// The second path: the new path of a rename or link, a symlink's `linkpath`.
    pub path2: PathArg,
}

/// A change record: its head and the bytes of its paths. In the kernel the second path's bytes
/// start at `data[PATH_ARG_DATA]`; on the wire right after the first's (at `second_at`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ChangeRecord {
    pub head: ChangeHead,
    pub data: [u8; 2 * PATH_ARG_DATA],
}

impl core::ops::Deref for ChangeRecord {
    type Target = ChangeHead;
    #[inline(always)]
    fn deref(&self) -> &ChangeHead {
        &self.head
    }
}

impl core::ops::DerefMut for ChangeRecord {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut ChangeHead {
        &mut self.head
    }
}

/// A path could not be read at entry (its page was not in memory yet) and was read at exit,
/// after the kernel's own copy: a thread racing the call could have changed it in between.
pub const CHANGE_NAME_AT_EXIT: u32 = 1;
/// fchmod: `path1` holds the path of the file open at `fd1`, walked at entry (in its
/// directory part, the name empty). Without this bit on an fchmod the fd was not open (or its
/// file unreadable): no path is known.
pub const CHANGE_FD_PATH: u32 = 2;

pub const CHANGE_HEAD_SIZE: usize = core::mem::size_of::<ChangeHead>();
pub const CHANGE_RECORD_SIZE: usize = core::mem::size_of::<ChangeRecord>();
const _: () = assert!(CHANGE_HEAD_SIZE == 320 + 48 + 32);
const _: () = assert!(core::mem::offset_of!(ChangeRecord, data) == CHANGE_HEAD_SIZE);
const _: () = assert!(CHANGE_RECORD_SIZE == CHANGE_HEAD_SIZE + 2 * PATH_ARG_DATA);

/// Flags and modes as Falco's driver keeps them: the bits it knows of each, at the kernel's
/// values (its `PPM_AT_*`, `PPM_RENAME_*` and `PPM_S_*` are the same numbers on x86-64). The one
/// conversion of these numbers, for the names `evt.arg.flags`/`evt.arg.mode` show and for any
/// kernel test of them.
pub mod ppm {
    pub const AT_REMOVEDIR: u32 = 0x200;
    pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
    pub const AT_EMPTY_PATH: u32 = 0x1000;
    pub const RENAME_NOREPLACE: u32 = 1 << 0;
    pub const RENAME_EXCHANGE: u32 = 1 << 1;
    pub const RENAME_WHITEOUT: u32 = 1 << 2;
    pub const S_ISUID: u32 = 0o4000;
    pub const S_ISGID: u32 = 0o2000;
    pub const S_ISVTX: u32 = 0o1000;
    /// `S_IXUSR | S_IXGRP | S_IXOTH`.
    pub const S_IXALL: u32 = 0o111;

    /// unlinkat's flags as Falco keeps them.
    #[inline(always)]
    pub const fn unlinkat_flags(k: u32) -> u32 {
        k & AT_REMOVEDIR
    }

    /// linkat's flags as Falco keeps them.
    #[inline(always)]
    pub const fn linkat_flags(k: u32) -> u32 {
        k & (AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)
    }

    /// renameat2's flags as Falco keeps them.
    #[inline(always)]
    pub const fn renameat2_flags(k: u32) -> u32 {
        k & (RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)
    }

    /// A chmod's mode as Falco keeps it: the permission bits, set-id and sticky bits.
    #[inline(always)]
    pub const fn chmod_mode(k: u32) -> u32 {
        k & 0o7777
    }
}

/// [`ChangeOp::params`]: Falco's parameter names.
mod params {
    type P = &'static [Option<&'static str>];
    pub const UNLINK: P = &[Some("res"), Some("path")];
    #[rustfmt::skip]
    pub const UNLINKAT: P = &[Some("res"), Some("dirfd"), Some("name"), Some("flags")];
    pub const RENAME: P = &[Some("res"), Some("oldpath"), Some("newpath")];
    #[rustfmt::skip]
    pub const RENAMEAT: P = &[
        Some("res"), Some("olddirfd"), Some("oldpath"), Some("newdirfd"), Some("newpath"),
    ];
    #[rustfmt::skip]
    pub const RENAMEAT2: P = &[
        Some("res"), Some("olddirfd"), Some("oldpath"), Some("newdirfd"), Some("newpath"),
        Some("flags"),
    ];
    pub const MKDIR: P = &[Some("res"), Some("path"), Some("mode")];
    #[rustfmt::skip]
    pub const MKDIRAT: P = &[Some("res"), Some("dirfd"), Some("path"), Some("mode")];
    pub const SYMLINK: P = &[Some("res"), Some("target"), Some("linkpath")];
    #[rustfmt::skip]
    pub const SYMLINKAT: P = &[
        Some("res"), Some("target"), Some("linkdirfd"), Some("linkpath"),
    ];
    #[rustfmt::skip]
    pub const LINKAT: P = &[
        Some("res"), Some("olddir"), Some("oldpath"), Some("newdir"), Some("newpath"),
        Some("flags"),
    ];
    pub const CHMOD: P = &[Some("res"), Some("filename"), Some("mode")];
    pub const FCHMOD: P = &[Some("res"), Some("fd"), Some("mode")];
    #[rustfmt::skip]
    pub const FCHMODAT: P = &[Some("res"), Some("dirfd"), Some("filename"), Some("mode")];
}
