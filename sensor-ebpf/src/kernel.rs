//! Reading kernel structures at offsets resolved from the running kernel's BTF.
//!
//! rustc emits no CO-RE relocations, so no struct layout is compiled in: the loader writes
//! [`Offsets`] into read-only data, and every read here goes through [`field`], which refuses
//! a member this kernel does not have instead of reading garbage.

use aya_ebpf::helpers::{
    bpf_probe_read_kernel,
    generated::{bpf_probe_read_kernel_str, bpf_probe_read_user_str},
};
use lanner_common::{Header, Offsets, PathField, Settings, field_flags};

#[unsafe(no_mangle)]
pub static OFFSETS: Offsets = Offsets::ALL_MISSING;

#[unsafe(no_mangle)]
pub static SETTINGS: Settings = Settings {
    self_tgid: 0,
    capture_env: 0,
    wakeup_bytes: 0,
    wake_on_first: 0,
};

/// Read one offset. Volatile, or the compiler would fold in the compiled-in placeholder.
macro_rules! off {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&$crate::kernel::OFFSETS.$field) }
    };
}
pub(crate) use off;

#[inline(always)]
pub fn settings_self_tgid() -> u32 {
    unsafe { core::ptr::read_volatile(&SETTINGS.self_tgid) }
}

#[inline(always)]
pub fn settings_wakeup_bytes() -> u64 {
    u64::from(unsafe { core::ptr::read_volatile(&SETTINGS.wakeup_bytes) })
}

#[inline(always)]
pub fn settings_wake_on_first() -> bool {
    unsafe { core::ptr::read_volatile(&SETTINGS.wake_on_first) != 0 }
}

#[inline(always)]
pub fn settings_capture_env() -> bool {
    unsafe { core::ptr::read_volatile(&SETTINGS.capture_env) != 0 }
}

/// `*(base + off)` as a `T`, or `Err` when the member is missing or the read faults.
#[inline(always)]
pub fn field<T>(base: *const u8, off: u32) -> Result<T, ()> {
    if base.is_null() || off == Offsets::MISSING {
        return Err(());
    }
    // SAFETY: bpf_probe_read_kernel validates the address; a fault yields Err.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off as usize) as *const T).map_err(|_| ()) }
}

/// Like [`field`] for pointer members; a null pointer is an error too.
#[inline(always)]
pub fn ptr_field(base: *const u8, off: u32) -> Result<*const u8, ()> {
    let p: *const u8 = field(base, off)?;
    if p.is_null() { Err(()) } else { Ok(p) }
}

/// Copy a NUL-terminated string into `dst`, recording length and flags. Returns the length
/// without the NUL.
#[inline(always)]
pub fn read_str<const N: usize>(
    src: *const u8,
    user: bool,
    dst: &mut [u8; N],
    flags: &mut u16,
) -> u16 {
    if src.is_null() {
        // A null pointer argument is a value (no source for a remount), not a fault.
        *flags |= field_flags::ABSENT;
        return 0;
    }
    // SAFETY: the helpers write at most N bytes into dst and validate src.
    let n = unsafe {
        if user {
            bpf_probe_read_user_str(dst.as_mut_ptr().cast(), N as u32, src.cast())
        } else {
            bpf_probe_read_kernel_str(dst.as_mut_ptr().cast(), N as u32, src.cast())
        }
    };
    if n <= 0 {
        *flags |= field_flags::READ_FAILED;
        return 0;
    }
    let n = n as usize;
    // A string that filled the whole buffer may have been cut: flag it, the decoder shows it.
    if n >= N {
        *flags |= field_flags::TRUNCATED;
    }
    (n - 1) as u16
}

/// Fill the common header for the current task. The cgroup name is left absent: it costs
/// about ten reads, so only the kinds that identify a container (exec, mount, connect) pay for
/// it through [`fill_cgroup`]; fork and exit inherit it in the process table.
#[inline(always)]
pub fn fill_header(h: &mut Header, kind: u32, variant: u32) {
    use aya_ebpf::helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        generated::{bpf_get_current_cgroup_id, bpf_ktime_get_boot_ns},
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    h.kind = kind;
    h.variant = variant;
    // SAFETY: plain helpers without arguments.
    h.ktime_ns = unsafe { bpf_ktime_get_boot_ns() };
    h.pid = (pid_tgid >> 32) as u32;
    h.tid = pid_tgid as u32;
    h.uid = uid_gid as u32;
    h.gid = (uid_gid >> 32) as u32;
    h.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    h.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    h.cgroup[0] = 0;
    h.cgroup_flags = field_flags::ABSENT;
}

/// Add the leaf name of `task`'s cgroup to the header.
#[inline(always)]
pub fn fill_cgroup(h: &mut Header, task: *const u8) {
    let mut flags = 0;
    match cgroup_leaf(task) {
        Ok(name) => {
            read_str(name, false, &mut h.cgroup, &mut flags);
        }
        Err(()) => flags |= field_flags::READ_FAILED,
    }
    h.cgroup_flags = flags;
}

/// Name of the kernfs node of the task's cgroup. On the v2 root (hybrid hosts where the
/// container runtime only uses v1 controllers) the configured v1 controller's cgroup is used.
#[inline(always)]
fn cgroup_leaf(task: *const u8) -> Result<*const u8, ()> {
    let cset = ptr_field(task, off!(task_cgroups))?;
    let cgrp = ptr_field(cset, off!(css_set_dfl_cgrp))?;
    let mut kn = ptr_field(cgrp, off!(cgroup_kn))?;
    let parent: *const u8 = field(kn, off!(kn_parent))?;
    let v1 = off!(v1_subsys_id);
    if parent.is_null() && v1 != Offsets::MISSING && v1 < 32 {
        let slot = off!(css_set_subsys).wrapping_add(v1 * 8);
        let css = ptr_field(cset, slot)?;
        let cgrp = ptr_field(css, off!(css_cgroup))?;
        kn = ptr_field(cgrp, off!(cgroup_kn))?;
    }
    ptr_field(kn, off!(kn_name))
}

/// The current task as a byte pointer.
#[inline(always)]
pub fn current_task() -> *const u8 {
    // SAFETY: helper without arguments.
    unsafe { aya_ebpf::helpers::generated::bpf_get_current_task() as *const u8 }
}

/// `task->fs->root` as (dentry, vfsmount); nulls when unreadable (a walk then runs to the
/// mount namespace's root).
#[inline(always)]
pub fn task_root(task: *const u8) -> (*const u8, *const u8) {
    let Ok(fs) = ptr_field(task, off!(task_fs)) else {
        return (core::ptr::null(), core::ptr::null());
    };
    let root = fs.wrapping_add(off!(fs_root) as usize);
    (
        ptr_field(root, off!(path_dentry)).unwrap_or(core::ptr::null()),
        ptr_field(root, off!(path_mnt)).unwrap_or(core::ptr::null()),
    )
}

/// `&task->fs->pwd`: the working directory's `struct path`.
#[inline(always)]
pub fn task_pwd(task: *const u8) -> Result<*const u8, ()> {
    let fs = ptr_field(task, off!(task_fs))?;
    Ok(fs.wrapping_add(off!(fs_pwd) as usize))
}

/// The `struct file` open at `fd` in `task`'s fd table; `Err` for a closed or out-of-range fd
/// or an unreadable table.
#[inline(always)]
pub fn fd_file(task: *const u8, fd: i32) -> Result<*const u8, ()> {
    if fd < 0 {
        return Err(());
    }
    let files = ptr_field(task, off!(task_files))?;
    let fdt = ptr_field(files, off!(files_fdt))?;
    let max_fds: u32 = field(fdt, off!(fdtable_max_fds))?;
    let fd = fd as u32;
    if fd >= max_fds {
        return Err(());
    }
    let fds = ptr_field(fdt, off!(fdtable_fd))?;
    ptr_field(fds, fd.wrapping_mul(8))
}

/// The state of one path walk. It lives in a per-CPU map ([`crate::maps::WALK`]), not on the
/// stack: the verifier knows nothing of a map value's contents, so every step starts from the
/// same state and the step is verified once. On the stack, the lengths' ranges grow with
/// every step and the verifier explores each combination (it gave up at a million
/// instructions once paths got a head ring).
#[repr(C)]
pub struct WalkState {
    dentry: u64,
    vfsmnt: u64,
    root_dentry: u64,
    root_vfsmnt: u64,
    /// End of what is written at the start of the buffer.
    cur: u64,
    /// End of the last component that ended within `PATH_TAIL`: the leaf side a cut path keeps.
    tail: u64,
    /// 1 once the path overflowed the buffer: the components go to the head ring from then on.
    in_head: u64,
    head_len: u64,
    head_wrap: u64,
    flags: u64,
    done: u64,
}

/// What the `bpf_loop` callback is handed (on the stack, as `bpf_loop` requires).
#[repr(C)]
struct Walk {
    buf: *mut u8,
    st: *mut WalkState,
}

/// Resolve `struct path *` to its components, leaf first, each NUL terminated, into `buf`, as
/// [`PathField`] describes. Stops at the task's root (`root_dentry`, `root_mnt`) as `d_path`
/// does, so a chrooted or pivoted process sees its own paths.
///
/// The walk runs under `bpf_loop` (5.17+): the verifier checks one step once, where an
/// unrolled loop with a branch per mount crossing explodes its state space. The step itself
/// ([`step`]) does not depend on how it is iterated.
#[inline(always)]
pub fn walk_path(
    path: *const u8,
    root_dentry: *const u8,
    root_vfsmnt: *const u8,
    buf: &mut [u8; lanner_common::PATH_ARRAY],
    out: &mut PathField,
) {
    use lanner_common::{PATH_ARRAY, PATH_DEPTH, PATH_HEAD_AT, PATH_TAIL};
    *out = PathField::default();
    let (Ok(dentry), Ok(vfsmnt), Some(st)) = (
        ptr_field(path, off!(path_dentry)),
        ptr_field(path, off!(path_mnt)),
        crate::maps::WALK.get_ptr_mut(0),
    ) else {
        out.flags = field_flags::READ_FAILED;
        return;
    };
    // SAFETY: per-CPU slot, exclusively ours while this program runs on this CPU.
    unsafe {
        *st = WalkState {
            dentry: dentry as u64,
            vfsmnt: vfsmnt as u64,
            root_dentry: root_dentry as u64,
            root_vfsmnt: root_vfsmnt as u64,
            cur: 0,
            tail: 0,
            in_head: 0,
            head_len: 0,
            head_wrap: 0,
            flags: 0,
            done: 0,
        };
    }
    let mut walk = Walk {
        buf: buf.as_mut_ptr(),
        st,
    };
    // SAFETY: the callback only touches `walk` and what it points to, which outlive the call.
    unsafe {
        aya_ebpf::helpers::generated::bpf_loop(
            PATH_DEPTH,
            walk_step as *mut core::ffi::c_void,
            (&mut walk as *mut Walk).cast(),
            0,
        );
    }
    // SAFETY: as above; the loop is over.
    let w = unsafe { &*st };
    let mut f = w.flags as u16;
    if w.done == 0 && f & field_flags::READ_FAILED == 0 {
        f |= field_flags::DEPTH_LIMIT;
    }
    // The bounds are what the step keeps to, spelled out: the verifier does not know what the
    // map holds, and a length past its buffer must not reach the decoder.
    let cap = |v: u64, max: usize| v.min(max as u64) as u16;
    if w.in_head != 0 {
        f |= field_flags::TRUNCATED;
        out.len = cap(w.tail, PATH_TAIL);
        out.head_len = cap(w.head_len, PATH_ARRAY - PATH_HEAD_AT);
        out.head_wrap = cap(w.head_wrap, PATH_ARRAY - PATH_HEAD_AT);
    } else {
        out.len = cap(w.cur, PATH_ARRAY);
    }
    out.flags = f;
}

/// [`step`] as a `bpf_loop` callback: returns 1 to stop the loop, 0 to go on.
extern "C" fn walk_step(_index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: ctx is the `Walk` that `walk_path` passed in, and its state the per-CPU map
    // value `walk_path` holds for the duration of the loop.
    let (st, buf) = unsafe {
        let walk = &*ctx.cast::<Walk>();
        (&mut *walk.st, walk.buf)
    };
    if step(st, buf) { 0 } else { 1 }
}

/// One step of a path walk, up one component or across one mount: true to go on. Sets
/// `done` at the root, a flag when it fails. Separate from how it is iterated (`bpf_loop`
/// here; a bounded loop where the kernel has no `bpf_loop`).
#[inline(always)]
fn step(w: &mut WalkState, buf: *mut u8) -> bool {
    macro_rules! fail {
        ($flag:expr) => {{
            w.flags |= u64::from($flag);
            return false;
        }};
    }
    if w.dentry == w.root_dentry && w.vfsmnt == w.root_vfsmnt {
        w.done = 1;
        return false;
    }
    let vfsmnt = w.vfsmnt as *const u8;
    let Ok(mnt_root) = ptr_field(vfsmnt, off!(vfsmount_root)) else {
        fail!(field_flags::READ_FAILED)
    };
    let mount_mnt = off!(mount_mnt) as usize;
    let mount = vfsmnt.wrapping_sub(mount_mnt);
    let dentry = w.dentry as *const u8;
    if dentry == mnt_root {
        // Top of this mount: continue from where it is mounted, in the parent mount.
        let Ok(parent) = ptr_field(mount, off!(mount_parent)) else {
            fail!(field_flags::READ_FAILED)
        };
        if parent == mount {
            w.done = 1;
            return false;
        }
        let Ok(mountpoint) = ptr_field(mount, off!(mount_mountpoint)) else {
            fail!(field_flags::READ_FAILED)
        };
        w.dentry = mountpoint as u64;
        w.vfsmnt = parent.wrapping_add(mount_mnt) as u64;
        return true;
    }
    let Ok(parent) = ptr_field(dentry, off!(dentry_parent)) else {
        fail!(field_flags::READ_FAILED)
    };
    let Ok(name) = ptr_field(dentry, off!(dentry_name).wrapping_add(off!(qstr_name))) else {
        fail!(field_flags::READ_FAILED)
    };
    if append(w, buf, name).is_err() {
        fail!(field_flags::READ_FAILED)
    }
    if parent == dentry {
        // A pseudo or disconnected dentry (memfd, anon inode, unlinked and detached).
        w.flags |= u64::from(field_flags::DISCONNECTED);
        w.done = 1;
        return false;
    }
    w.dentry = parent as u64;
    true
}

/// Write one component (leaf side first) where [`PathField`] says it goes.
#[inline(always)]
fn append(w: &mut WalkState, buf: *mut u8, name: *const u8) -> Result<(), ()> {
    use lanner_common::{PATH_BUF, PATH_HEAD_AT, PATH_HEAD_CAP, PATH_TAIL};
    if w.in_head == 0 {
        if w.cur < PATH_BUF as u64 {
            let at = (w.cur as usize) & (PATH_BUF - 1);
            // SAFETY: at < PATH_BUF and the buffer has NAME_MAX bytes of slack after PATH_BUF.
            let n = unsafe { read_name(buf.wrapping_add(at), name) }?;
            w.cur = at as u64 + n;
            if w.cur <= PATH_TAIL as u64 {
                w.tail = w.cur;
            }
            return Ok(());
        }
        // Longer than the buffer: keep the leaf side up to `tail`; the rest of the walk is
        // only worth its top-most components, which the head ring ends up holding.
        w.in_head = 1;
    }
    if w.head_len >= PATH_HEAD_CAP as u64 {
        w.head_wrap = w.head_len;
        w.head_len = 0;
    }
    let at = (w.head_len as usize) & (PATH_HEAD_CAP - 1);
    // SAFETY: PATH_HEAD_AT + at < PATH_BUF, and NAME_MAX bytes of slack follow PATH_BUF.
    let n = unsafe { read_name(buf.wrapping_add(PATH_HEAD_AT + at), name) }?;
    w.head_len = at as u64 + n;
    Ok(())
}

/// Copy one dentry name (at most `NAME_MAX` bytes with its NUL) to `dst`; its length with the
/// NUL.
///
/// # Safety
/// `dst` must have `NAME_MAX` writable bytes.
#[inline(always)]
unsafe fn read_name(dst: *mut u8, name: *const u8) -> Result<u64, ()> {
    use lanner_common::NAME_MAX;
    // SAFETY: the caller provides NAME_MAX bytes at dst; the helper validates `name`.
    let n = unsafe { bpf_probe_read_kernel_str(dst.cast(), NAME_MAX as u32, name.cast()) };
    if n <= 0 { Err(()) } else { Ok(n as u64) }
}

/// Argument `n` of a `syscalls:sys_enter_*` record: 8 bytes of common header, the syscall
/// number, then one 8-byte slot per argument (stable tracefs ABI). Read directly from the
/// context, which the verifier allows for tracepoints: a helper call per argument costs more.
#[inline(always)]
pub fn sys_arg(ctx: &aya_ebpf::programs::TracePointContext, n: usize) -> u64 {
    use aya_ebpf::EbpfContext as _;
    // SAFETY: inside the tracepoint record; n < 6 at every call site.
    unsafe { core::ptr::read(ctx.as_ptr().cast::<u8>().add(16 + 8 * n).cast::<u64>()) }
}

/// `long ret` of a `syscalls:sys_exit_*` record.
#[inline(always)]
pub fn sys_ret(ctx: &aya_ebpf::programs::TracePointContext) -> i64 {
    sys_arg(ctx, 0) as i64
}
