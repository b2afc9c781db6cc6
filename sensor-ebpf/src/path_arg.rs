//! The path argument of a file syscall (`lanner_common::file::PathArg`), read at syscall entry:
//! the string as passed and, for a relative one, the directory it is relative to, walked then.
//! Shared by every file syscall's probe.
//!
//! The process table knows a process's working directory only as its exec left it (`chdir` is
//! not captured), and a dirfd only the kernel can name: so a relative path is resolved here, at
//! the call, against `fs->pwd` or the dirfd's `file->f_path`, with the path walk the exec probe
//! uses for its cwd. User space joins and normalizes. A directory that cannot be found is
//! marked `Base::Unknown`, never guessed.

use aya_ebpf::helpers::generated::bpf_probe_read_kernel;
use lanner_common::{
    PATH_ARRAY, PathField, StrField, USER_PATH_LEN, field_flags,
    file::{AT_FDCWD, Base, PATH_ARG_DATA, PathArg},
};

use crate::{
    kernel::{current_task, fd_file, off, read_str, task_pwd, task_root, walk_path},
    maps::PATH_NAME_SCRATCH,
};

/// Reads the path at user address `user`, relative to `dirfd` (`AT_FDCWD`: the working
/// directory), into `arg` and its bytes into `data` (see `PathArg` for the layout).
#[inline(always)]
pub fn read(dirfd: i32, user: u64, arg: &mut PathArg, data: &mut [u8; PATH_ARG_DATA]) {
    read_name(user, arg, data);
    read_base(dirfd, arg, data);
}

/// The first half of [`read`]: the name as passed, at the start of the data (`name_at` 0),
/// and no directory yet. What the prefilter decides on before the directory is walked.
#[inline(always)]
pub fn read_name(user: u64, arg: &mut PathArg, data: &mut [u8; PATH_ARG_DATA]) {
    // SAFETY: the first USER_PATH_LEN bytes of the data, as an array of that size.
    let name = unsafe { &mut *data.as_mut_ptr().cast::<[u8; USER_PATH_LEN]>() };
    let mut flags = 0;
    let len = read_str(user as *const u8, true, name, &mut flags);
    arg.name_f = StrField { len, flags };
    arg.name_at = 0;
    arg.base = Base::None as u16;
    arg.base_f = PathField {
        flags: field_flags::ABSENT,
        ..PathField::default()
    };
}

/// The second half of [`read`], after [`read_name`]: for a relative name, the directory it is
/// relative to, walked into the data before the name.
#[inline(always)]
pub fn read_base(dirfd: i32, arg: &mut PathArg, data: &mut [u8; PATH_ARG_DATA]) {
    // SAFETY: the first USER_PATH_LEN bytes of the data, as an array of that size.
    let name = unsafe { &mut *data.as_mut_ptr().cast::<[u8; USER_PATH_LEN]>() };
    // Read once (volatile): the bound checked below must be the one the copy uses, not a
    // second load of the field the compiler may prefer to a spilled register.
    // SAFETY: a plain field of a live reference.
    let len = unsafe { core::ptr::read_volatile(&arg.name_f.len) };
    let flags = arg.name_f.flags;
    // Absolute, empty or unreadable: no directory to find.
    if flags & (field_flags::READ_FAILED | field_flags::ABSENT) != 0 || len == 0 || name[0] == b'/'
    {
        return;
    }
    let len = usize::from(len);
    if len >= USER_PATH_LEN {
        return;
    }
    let task = current_task();
    let (dir, base) = if dirfd == AT_FDCWD {
        (task_pwd(task), Base::Cwd)
    } else {
        (
            fd_file(task, dirfd).map(|f| f.wrapping_add(off!(file_path) as usize)),
            Base::Dirfd,
        )
    };
    let (Ok(dir), Some(keep)) = (dir, PATH_NAME_SCRATCH.get_ptr_mut(0)) else {
        arg.base = Base::Unknown as u16;
        return;
    };
    // The name moves aside while the directory is walked where it was, then follows it.
    // SAFETY: len < USER_PATH_LEN bytes from the data into the per-CPU scratch of that size.
    if unsafe { bpf_probe_read_kernel(keep.cast(), len as u32, name.as_ptr().cast()) } < 0 {
        arg.base = Base::Unknown as u16;
        return;
    }
    let (root_d, root_m) = task_root(task);
    // SAFETY: the first PATH_ARRAY bytes of the data, as an array of that size.
    let buf = unsafe { &mut *data.as_mut_ptr().cast::<[u8; PATH_ARRAY]>() };
    walk_path(dir, root_d, root_m, buf, &mut arg.base_f);
    arg.base = base as u16;
    let mut at = if arg.base_f.flags & field_flags::TRUNCATED != 0 {
        PATH_ARRAY
    } else {
        usize::from(arg.base_f.len)
    };
    // The bound the walk keeps, spelled out for the verifier.
    if at > PATH_ARRAY {
        at = PATH_ARRAY;
    }
    // SAFETY: at <= PATH_ARRAY and len < USER_PATH_LEN: inside the data; the scratch holds len
    // bytes.
    let r = unsafe {
        bpf_probe_read_kernel(
            data.as_mut_ptr().wrapping_add(at).cast(),
            len as u32,
            keep.cast_const().cast(),
        )
    };
    if r < 0 {
        // The name is lost: say so rather than send the walked bytes as a name.
        arg.name_f = StrField {
            len: 0,
            flags: field_flags::READ_FAILED,
        };
    }
    arg.name_at = at as u16;
}

/// Walks the path of the file open at `fd` into `arg`'s directory part, the name left empty
/// (fchmod names its file by fd): the same walk and layout as a relative path's directory.
/// False when the fd is not open or its table unreadable (`arg` then says nothing is known).
#[inline(always)]
pub fn read_fd(fd: i32, arg: &mut PathArg, data: &mut [u8; PATH_ARG_DATA]) -> bool {
    arg.name_f = StrField {
        len: 0,
        flags: field_flags::ABSENT,
    };
    arg.name_at = 0;
    arg.base = Base::Unknown as u16;
    arg.base_f = PathField {
        flags: field_flags::ABSENT,
        ..PathField::default()
    };
    let task = current_task();
    let Ok(file) = fd_file(task, fd) else {
        return false;
    };
    let (root_d, root_m) = task_root(task);
    // SAFETY: the first PATH_ARRAY bytes of the data, as an array of that size.
    let buf = unsafe { &mut *data.as_mut_ptr().cast::<[u8; PATH_ARRAY]>() };
    walk_path(
        file.wrapping_add(off!(file_path) as usize),
        root_d,
        root_m,
        buf,
        &mut arg.base_f,
    );
    arg.base = Base::Dirfd as u16;
    let mut at = if arg.base_f.flags & field_flags::TRUNCATED != 0 {
        PATH_ARRAY
    } else {
        usize::from(arg.base_f.len)
    };
    if at > PATH_ARRAY {
        at = PATH_ARRAY;
    }
    arg.name_at = at as u16;
    true
}

/// The name of `arg` as the prefilter reads it: where it starts in `data`, its length, and
/// whether it was read whole.
#[inline(always)]
pub fn prefilter_view(arg: &PathArg, data: &[u8; PATH_ARG_DATA]) -> crate::prefilter::PathRef {
    let mut at = usize::from(arg.name_at);
    if at > PATH_ARRAY {
        at = PATH_ARRAY;
    }
    let bad = field_flags::TRUNCATED | field_flags::READ_FAILED | field_flags::ABSENT;
    crate::prefilter::PathRef {
        // At most PATH_ARRAY in: USER_PATH_LEN (more than 256) bytes follow.
        ptr: data.as_ptr().wrapping_add(at),
        len: usize::from(arg.name_f.len),
        whole: arg.name_f.flags & bad == 0,
    }
}

/// The bytes of `arg` in its data: where a record may end.
#[inline(always)]
pub fn used(arg: &PathArg) -> usize {
    let mut at = usize::from(arg.name_at);
    if at > PATH_ARRAY {
        at = PATH_ARRAY;
    }
    let mut len = usize::from(arg.name_f.len);
    if len > USER_PATH_LEN {
        len = USER_PATH_LEN;
    }
    at + len
}

/// Counts what `arg` could not read whole: a cut or unknown directory, a cut or unreadable
/// name. Returns (truncated, read failed).
#[inline(always)]
pub fn losses(arg: &PathArg) -> (bool, bool) {
    let name = arg.name_f.flags;
    let base = arg.base_f.flags;
    let cut = name & field_flags::TRUNCATED != 0
        || base & (field_flags::TRUNCATED | field_flags::DEPTH_LIMIT) != 0;
    let failed = name & field_flags::READ_FAILED != 0
        || base & field_flags::READ_FAILED != 0
        || arg.base == Base::Unknown as u16;
    (cut, failed)
}
