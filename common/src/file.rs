//! File syscalls: the path argument every one of them takes ([`PathArg`], resolved against the
//! cwd or a dirfd by the kernel at syscall entry), and the opens (`open`, `openat`, `openat2`,
//! `creat`: [`OpenRecord`]), with the one conversion of open flags to Falco's flags and to the
//! flag classes the in-kernel prefilter tests ([`open`]).

use crate::{Header, PATH_ARRAY, PathField, StrField, USER_PATH_LEN};

/// `AT_FDCWD`: a relative path is relative to the working directory.
pub const AT_FDCWD: i32 = -100;

/// What the directory a path argument is relative to turned out to be ([`PathArg::base`]).
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// No directory is needed: the path is absolute, empty, or could not be read.
    None = 0,
    /// The task's working directory (`fs->pwd`), walked into the data.
    Cwd = 1,
    /// The path of the file open at the dirfd (`file->f_path`), walked into the data.
    Dirfd = 2,
    /// A directory was needed but could not be found (a dirfd that is not open, the task's
    /// `fs` or fd table unreadable): the path is relative to something unknown.
    Unknown = 3,
}

impl Base {
    pub fn from_u16(v: u16) -> Option<Base> {
        [Base::None, Base::Cwd, Base::Dirfd, Base::Unknown]
            .into_iter()
            .find(|b| *b as u16 == v)
    }
}

/// One path argument as the kernel read it at syscall entry: the string as passed (copied when
/// the kernel copies it, so a racing thread cannot change what is reported), and for a relative
/// one the directory it is relative to, walked then (a later `chdir` or `dup2` over the dirfd
/// cannot change it either). Its bytes are in a [`PATH_ARG_DATA`] region: the walked directory
/// first ([`PathField`] layout, `name_at` bytes: its used length, or all of [`PATH_ARRAY`] when
/// it is cut and its head ring is in use), then the name, `name_f.len` bytes. A record sends
/// only the bytes used.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PathArg {
    /// The string as passed: `TRUNCATED` when it filled its buffer (longer than any path a
    /// syscall accepts), `READ_FAILED` when it could not be read.
    pub name_f: StrField,
    /// The walked directory, `Base::Cwd` and `Base::Dirfd` only.
    pub base_f: PathField,
    /// Where the name starts in the data: the bytes the directory takes.
    pub name_at: u16,
    /// A [`Base`].
    pub base: u16,
}
const _: () = assert!(core::mem::size_of::<PathArg>() == 16);

/// The bytes of one path argument: a walked directory and a name as passed.
pub const PATH_ARG_DATA: usize = PATH_ARRAY + USER_PATH_LEN;

/// Which open syscall a record is (`Header::variant`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenSyscall {
    Open = 0,
    Openat = 1,
    Openat2 = 2,
    Creat = 3,
}

/// `open(2)`, `openat(2)`, `openat2(2)`, `creat(2)`: arguments copied at entry, the return value
/// (the new fd, or `-errno`) at exit. The fixed part of [`OpenRecord`]: a type of its own so the
/// reader can read it in place, the record being sent only up to the end of its path's bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenHead {
    pub header: Header,
    pub ret: i64,
    /// The task's effective capabilities at the call (`thread.cap_effective`).
    pub cap_effective: u64,
    /// `flags` as passed (the kernel's `O_*`; openat2: `how.flags`); 0 for creat, which has
    /// none.
    pub flags: u32,
    /// `mode` as passed (openat2: `how.mode`; the low 32 bits).
    pub mode: u32,
    /// openat2's `how.resolve` (`RESOLVE_*`, the low 32 bits).
    pub resolve: u32,
    /// The flag classes of [`open::classes`], as the probe computed them.
    pub classes: u32,
    /// `dirfd` as passed; [`AT_FDCWD`] for open and creat.
    pub dirfd: i32,
    /// `OPEN_*` bits below.
    pub open_flags: u32,
    /// The path's user address, kept between entry and exit for a second read (see
    /// [`OPEN_NAME_AT_EXIT`]); 0 on the wire.
    pub name_ptr: u64,
    pub path: PathArg,
}

/// An open record: its head and the bytes of its path argument. Derefs to its head.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenRecord {
    pub head: OpenHead,
    pub data: [u8; PATH_ARG_DATA],
}

impl core::ops::Deref for OpenRecord {
    type Target = OpenHead;
    #[inline(always)]
    fn deref(&self) -> &OpenHead {
        &self.head
    }
}

impl core::ops::DerefMut for OpenRecord {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut OpenHead {
        &mut self.head
    }
}

/// openat2's `struct open_how` could not be read: `flags`, `mode`, `resolve` are unknown.
pub const OPEN_HOW_UNREAD: u32 = 1;
/// The capabilities could not be read: `cap_effective` is unknown.
pub const OPEN_CAPS_UNREAD: u32 = 2;
/// The path could not be read at entry (its page was not in memory yet: the kernel faults it
/// in when it copies the path, a probe cannot) and was read at exit instead, with its directory:
/// after the kernel's own copy, so a thread racing the call could have changed it in between.
pub const OPEN_NAME_AT_EXIT: u32 = 4;

/// The fixed part of an open record, before its path bytes.
pub const OPEN_HEAD_SIZE: usize = core::mem::size_of::<OpenHead>();
pub const OPEN_RECORD_SIZE: usize = core::mem::size_of::<OpenRecord>();
const _: () = assert!(OPEN_HEAD_SIZE == 320 + 64);
const _: () = assert!(core::mem::offset_of!(OpenRecord, data) == OPEN_HEAD_SIZE);
const _: () = assert!(OPEN_RECORD_SIZE == OPEN_HEAD_SIZE + PATH_ARG_DATA);

/// Open flags: the kernel's (x86-64), Falco's (`PPM_O_*`, what `evt.arg.flags` names), and the
/// flag classes the prefilter tests. The one conversion from the kernel's flags, used by the
/// probe (classes) and the sensor (names, `evt.is_open_*`), so the two cannot disagree.
pub mod open {
    /// The kernel's `O_*` (x86-64 values).
    pub mod kernel {
        pub const O_ACCMODE: u32 = 0o3;
        pub const O_WRONLY: u32 = 0o1;
        pub const O_RDWR: u32 = 0o2;
        pub const O_CREAT: u32 = 0o100;
        pub const O_EXCL: u32 = 0o200;
        pub const O_TRUNC: u32 = 0o1000;
        pub const O_APPEND: u32 = 0o2000;
        pub const O_NONBLOCK: u32 = 0o4000;
        pub const O_DSYNC: u32 = 0o10000;
        pub const O_DIRECT: u32 = 0o40000;
        pub const O_LARGEFILE: u32 = 0o100000;
        pub const O_DIRECTORY: u32 = 0o200000;
        pub const O_CLOEXEC: u32 = 0o2000000;
        /// `__O_SYNC | O_DSYNC`.
        pub const O_SYNC: u32 = 0o4010000;
        /// `__O_TMPFILE | O_DIRECTORY`.
        pub const O_TMPFILE: u32 = 0o20200000;
    }

    /// Falco's open flags (`PPM_O_*`): the bits `evt.arg.flags` names.
    pub mod ppm {
        pub const O_RDONLY: u32 = 1 << 0;
        pub const O_WRONLY: u32 = 1 << 1;
        pub const O_RDWR: u32 = O_RDONLY | O_WRONLY;
        pub const O_CREAT: u32 = 1 << 2;
        pub const O_APPEND: u32 = 1 << 3;
        pub const O_DSYNC: u32 = 1 << 4;
        pub const O_EXCL: u32 = 1 << 5;
        pub const O_NONBLOCK: u32 = 1 << 6;
        pub const O_SYNC: u32 = 1 << 7;
        pub const O_TRUNC: u32 = 1 << 8;
        pub const O_DIRECT: u32 = 1 << 9;
        pub const O_DIRECTORY: u32 = 1 << 10;
        pub const O_LARGEFILE: u32 = 1 << 11;
        pub const O_CLOEXEC: u32 = 1 << 12;
        pub const O_TMPFILE: u32 = 1 << 13;
    }

    /// The flag classes the probe computes: `evt.is_open_*` and the prefilter's `probe::flag`.
    pub mod class {
        /// `evt.is_open_read`: access mode `O_RDONLY` or `O_RDWR`.
        pub const READ: u32 = 1 << 0;
        /// `evt.is_open_write`: access mode `O_WRONLY` or `O_RDWR`.
        pub const WRITE: u32 = 1 << 1;
        /// `evt.is_open_exec`: creates (`O_CREAT`/`O_TMPFILE`, or `creat`) with an `S_IX*` mode
        /// bit.
        pub const EXEC: u32 = 1 << 2;
        pub const CREAT: u32 = 1 << 3;
        pub const EXCL: u32 = 1 << 4;
        pub const TRUNC: u32 = 1 << 5;
        pub const APPEND: u32 = 1 << 6;
        pub const DIRECTORY: u32 = 1 << 7;
        pub const TMPFILE: u32 = 1 << 8;
        pub const CLOEXEC: u32 = 1 << 9;
        pub const NOFOLLOW: u32 = 1 << 10;
        pub const PATH: u32 = 1 << 11;
        pub const NONBLOCK: u32 = 1 << 12;
    }

    /// `S_IXUSR | S_IXGRP | S_IXOTH`.
    const EXEC_BITS: u32 = 0o111;

    /// Falco's flags of an open from the kernel's, as its driver converts them. Two of its
    /// conversions test a kernel constant that is two bits, so one of them is enough:
    /// `O_DIRECTORY` alone also sets `O_TMPFILE`, `O_DSYNC` alone also `O_SYNC`. Kept, since
    /// rules written against Falco see them.
    #[inline(always)]
    pub const fn ppm_flags(k: u32) -> u32 {
        use kernel as K;
        let mut p = match k & K::O_ACCMODE {
            K::O_WRONLY => ppm::O_WRONLY,
            K::O_RDWR => ppm::O_RDWR,
            _ => ppm::O_RDONLY,
        };
        let pairs: [(u32, u32); 12] = [
            (K::O_CREAT, ppm::O_CREAT),
            (K::O_TMPFILE, ppm::O_TMPFILE),
            (K::O_APPEND, ppm::O_APPEND),
            (K::O_DSYNC, ppm::O_DSYNC),
            (K::O_EXCL, ppm::O_EXCL),
            (K::O_NONBLOCK, ppm::O_NONBLOCK),
            (K::O_SYNC, ppm::O_SYNC),
            (K::O_TRUNC, ppm::O_TRUNC),
            (K::O_DIRECT, ppm::O_DIRECT),
            (K::O_DIRECTORY, ppm::O_DIRECTORY),
            (K::O_LARGEFILE, ppm::O_LARGEFILE),
            (K::O_CLOEXEC, ppm::O_CLOEXEC),
        ];
        let mut i = 0;
        while i < pairs.len() {
            if k & pairs[i].0 != 0 {
                p |= pairs[i].1;
            }
            i += 1;
        }
        p
    }

    /// The mode Falco reports for an open: the permission bits (`S_IRWXU`…, `S_ISUID`,
    /// `S_ISGID`, `S_ISVTX`: Falco's bits are the same numbers) when the call creates (its test
    /// is `O_CREAT | O_TMPFILE`, so `O_DIRECTORY` counts), else 0. `creat` always creates.
    #[inline(always)]
    pub const fn ppm_mode(k_flags: u32, mode: u32, creat: bool) -> u32 {
        if creat || k_flags & (kernel::O_CREAT | kernel::O_TMPFILE) != 0 {
            mode & 0o7777
        } else {
            0
        }
    }

    /// The flag classes of an open with Falco's `flags` and `mode` (as [`ppm_flags`] and
    /// [`ppm_mode`] make them). `creat` has neither read nor write class, nor any flag: Falco's
    /// `evt.is_open_read/write` only look at the open calls, and creat has no `flags`; only
    /// `evt.is_open_exec` looks at its mode.
    #[inline(always)]
    pub const fn classes(ppm_flags: u32, ppm_mode: u32, creat: bool) -> u32 {
        let exec_mode = ppm_mode & EXEC_BITS != 0;
        if creat {
            return if exec_mode { class::EXEC } else { 0 };
        }
        let mut c = 0;
        if ppm_flags & ppm::O_RDONLY != 0 {
            c |= class::READ;
        }
        if ppm_flags & ppm::O_WRONLY != 0 {
            c |= class::WRITE;
        }
        if exec_mode && ppm_flags & (ppm::O_CREAT | ppm::O_TMPFILE) != 0 {
            c |= class::EXEC;
        }
        let pairs: [(u32, u32); 8] = [
            (ppm::O_CREAT, class::CREAT),
            (ppm::O_EXCL, class::EXCL),
            (ppm::O_TRUNC, class::TRUNC),
            (ppm::O_APPEND, class::APPEND),
            (ppm::O_DIRECTORY, class::DIRECTORY),
            (ppm::O_TMPFILE, class::TMPFILE),
            (ppm::O_CLOEXEC, class::CLOEXEC),
            (ppm::O_NONBLOCK, class::NONBLOCK),
        ];
        let mut i = 0;
        while i < pairs.len() {
            if ppm_flags & pairs[i].0 != 0 {
                c |= pairs[i].1;
            }
            i += 1;
        }
        c
    }
}
