//! execve / execveat.
//!
//! A successful exec is reported from `sched_process_exec` (a non-syscall BTF tracepoint that
//! hands us the `linux_binprm`): the new image, its resolved path, argv straight from the new
//! stack in one read, the committed credentials. The syscall tracepoints are only used to
//! remember the arguments (three pointers) and to report failures, which never reach
//! `sched_process_exec`.

use aya_ebpf::{
    helpers::{bpf_probe_read_user, generated::bpf_probe_read_user as read_user_raw},
    programs::{BtfTracePointContext, TracePointContext},
};
use lanner_common::{
    ARGV_LEN, ENV_LEN, EXEC_LOGINUID_KNOWN, EXEC_PGRP_KNOWN, EXEC_RECORD_NO_ENV, EXEC_TTY_KNOWN,
    EXEC_UPPER_KNOWN, EXEC_UPPER_LAYER, EXEC_VPID_KNOWN, EventKind, ExecRecord, ExecVariant,
    LossReason, Offsets, PathField, field_flags,
};

use crate::{
    kernel::{
        current_task, field, fill_cgroup, fill_header, off, ptr_field, read_str,
        settings_capture_env, sys_arg, sys_ret, task_root, walk_path,
    },
    maps::{EXEC_SCRATCH, EXEC_STASH, ExecStash, count_loss, send},
};

const OVERLAYFS_SUPER_MAGIC: u64 = 0x794c_7630;
/// Arguments read one by one on the failure path (success reads the whole block at once).
const FAILED_ARGV_MAX: usize = 32;

pub fn enter(ctx: &TracePointContext, variant: ExecVariant) -> Result<(), ()> {
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    let stash = match variant {
        // execve(filename, argv, envp)
        ExecVariant::Execve => ExecStash {
            filename: sys_arg(ctx, 0),
            argv: sys_arg(ctx, 1),
            variant: variant as u32,
            dirfd: -100,
            at_flags: 0,
            _pad: 0,
        },
        // execveat(dirfd, filename, argv, envp, flags)
        ExecVariant::Execveat => ExecStash {
            dirfd: sys_arg(ctx, 0) as i32,
            filename: sys_arg(ctx, 1),
            argv: sys_arg(ctx, 2),
            at_flags: sys_arg(ctx, 4) as u32,
            variant: variant as u32,
            _pad: 0,
        },
    };
    EXEC_STASH.insert(tid, stash, 0).map_err(drop)
}

/// `sys_exit_execve(at)`: report failures; successes were reported by `sched_process_exec`.
pub fn exit(ctx: &TracePointContext) -> Result<(), ()> {
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    let ret = sys_ret(ctx);
    let Some(stash) = (unsafe { EXEC_STASH.get(tid) }).copied() else {
        return Ok(());
    };
    let _ = EXEC_STASH.remove(tid);
    if ret >= 0 {
        return Ok(());
    }
    let rec = scratch()?;
    let task = current_task();
    fill_header(&mut rec.header, EventKind::Exec as u32, stash.variant);
    fill_cgroup(&mut rec.header, task);
    rec.ret = ret;
    rec.dirfd = stash.dirfd;
    rec.at_flags = stash.at_flags;
    identity(rec, task);
    let mut f = 0;
    rec.filename_f.len = read_str(stash.filename as *const u8, true, &mut rec.filename, &mut f);
    rec.filename_f.flags = f;
    failed_argv(rec, stash.argv as *const u64);
    rec.exepath_f = PathField {
        flags: field_flags::ABSENT,
        ..PathField::default()
    };
    cwd(rec, task);
    rec.env_f.len = 0;
    rec.env_f.flags = field_flags::ABSENT;
    finish(rec);
    Ok(())
}

/// `sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`.
pub fn sched_exec(ctx: &BtfTracePointContext) -> Result<(), ()> {
    let task: *const u8 = ctx.arg(0);
    let old_pid: u32 = ctx.arg::<i32>(1) as u32;
    let bprm: *const u8 = ctx.arg(2);
    // The syscall entry was keyed by the tid before exec; a non-leader thread that execs takes
    // over the leader's pid, so the old tid is the key.
    let stash = unsafe { EXEC_STASH.get(old_pid) }.copied();
    if stash.is_some() {
        let _ = EXEC_STASH.remove(old_pid);
    }
    let rec = scratch()?;
    let variant = stash
        .map(|s| s.variant)
        .unwrap_or(ExecVariant::Execve as u32);
    fill_header(&mut rec.header, EventKind::Exec as u32, variant);
    fill_cgroup(&mut rec.header, task);
    rec.ret = 0;
    rec.dirfd = stash.map(|s| s.dirfd).unwrap_or(-100);
    rec.at_flags = stash.map(|s| s.at_flags).unwrap_or(0);
    identity(rec, task);

    let mut f = 0;
    let filename = field::<*const u8>(bprm, off!(bprm_filename)).unwrap_or(core::ptr::null());
    rec.filename_f.len = read_str(filename, false, &mut rec.filename, &mut f);
    rec.filename_f.flags = f;

    exe_file(rec, bprm, task);
    cwd(rec, task);

    // argv and env sit back to back on the new stack; one read each.
    let mm = ptr_field(task, off!(task_mm)).unwrap_or(core::ptr::null());
    let (start, end) = (
        field::<u64>(mm, off!(mm_arg_start)).unwrap_or(0),
        field::<u64>(mm, off!(mm_arg_end)).unwrap_or(0),
    );
    rec.argv_f = user_block(start, end, &mut rec.argv);
    if settings_capture_env() {
        let (start, end) = (
            field::<u64>(mm, off!(mm_env_start)).unwrap_or(0),
            field::<u64>(mm, off!(mm_env_end)).unwrap_or(0),
        );
        rec.env_f = user_block(start, end, &mut rec.env);
    } else {
        rec.env_f.len = 0;
        rec.env_f.flags = field_flags::ABSENT;
    }
    finish(rec);
    Ok(())
}

fn scratch() -> Result<&'static mut ExecRecord, ()> {
    let p = EXEC_SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: per-CPU slot, exclusively ours while this program runs on this CPU.
    Ok(unsafe { &mut *p })
}

/// Count flagged fields, then send (without the env block when env capture is off).
fn finish(rec: &mut ExecRecord) {
    // A path whose walk stopped short has lost its root side: that is a cut too.
    let cut = |f: PathField| {
        let mut flags = f.flags;
        if flags & field_flags::DEPTH_LIMIT != 0 {
            flags |= field_flags::TRUNCATED;
        }
        flags
    };
    for flags in [
        rec.filename_f.flags,
        cut(rec.exepath_f),
        cut(rec.cwd_f),
        rec.argv_f.flags,
        rec.env_f.flags,
    ] {
        if flags & field_flags::TRUNCATED != 0 {
            count_loss(EventKind::Exec, LossReason::Truncated);
        }
        if flags & field_flags::READ_FAILED != 0 {
            count_loss(EventKind::Exec, LossReason::ReadFailed);
        }
    }
    if settings_capture_env() {
        send(EventKind::Exec, rec);
    } else {
        // SAFETY: EXEC_RECORD_NO_ENV <= size_of::<ExecRecord>(); env is the last member.
        let head = unsafe {
            core::slice::from_raw_parts((rec as *const ExecRecord).cast::<u8>(), EXEC_RECORD_NO_ENV)
        };
        send(EventKind::Exec, head);
    }
}

/// Credentials, parent, pid namespace, login uid, tty of `task`.
fn identity(rec: &mut ExecRecord, task: *const u8) {
    let mut flags = 0;
    let cred = ptr_field(task, off!(task_cred)).unwrap_or(core::ptr::null());
    rec.euid = field(cred, off!(cred_euid)).unwrap_or(u32::MAX);
    rec.cap_effective = field(cred, off!(cred_cap_effective)).unwrap_or(0);
    rec.cap_permitted = field(cred, off!(cred_cap_permitted)).unwrap_or(0);
    rec.ppid = ptr_field(task, off!(task_real_parent))
        .and_then(|p| field::<u32>(p, off!(task_tgid)))
        .unwrap_or(0);
    if let Ok(v) = field::<u32>(task, off!(task_loginuid)) {
        rec.loginuid = v;
        flags |= EXEC_LOGINUID_KNOWN;
    }
    if let Ok(v) = vpid(task) {
        rec.vpid = v;
        flags |= EXEC_VPID_KNOWN;
    }
    if process_group(rec, task).is_ok() {
        flags |= EXEC_PGRP_KNOWN;
    }
    rec.tty = 0;
    if let Ok(signal) = ptr_field(task, off!(task_signal)) {
        match field::<*const u8>(signal, off!(signal_tty)) {
            Ok(tty) if tty.is_null() => flags |= EXEC_TTY_KNOWN,
            Ok(tty) => {
                if let Ok(dev) = tty_dev(tty) {
                    rec.tty = dev;
                    flags |= EXEC_TTY_KNOWN;
                }
            }
            Err(()) => {}
        }
    }
    rec.exec_flags = flags;
}

/// The pid as seen in the task's own pid namespace: `thread_pid->numbers[level].nr`.
fn vpid(task: *const u8) -> Result<u32, ()> {
    let pid = ptr_field(task, off!(task_thread_pid))?;
    let level: u32 = field(pid, off!(pid_level))?;
    pid_nr(pid, level)
}

/// `pid->numbers[level].nr`: the number of a `struct pid` in the namespace at `level`.
fn pid_nr(pid: *const u8, level: u32) -> Result<u32, ()> {
    let upid = off!(upid_size);
    if upid == Offsets::MISSING {
        return Err(());
    }
    let at = off!(pid_numbers)
        .wrapping_add((level & 31).wrapping_mul(upid))
        .wrapping_add(off!(upid_nr));
    field(pid, at)
}

/// Process group and session: `signal->pids[PIDTYPE_PGID/SID]`, in the host namespace, and the
/// group as seen from the task's own namespace (0 if its leader lives above it).
fn process_group(rec: &mut ExecRecord, task: *const u8) -> Result<(), ()> {
    let signal = ptr_field(task, off!(task_signal))?;
    let pids = off!(signal_pids);
    let pgrp = ptr_field(
        signal,
        pids.wrapping_add(off!(pidtype_pgid).wrapping_mul(8)),
    )?;
    let sess = ptr_field(signal, pids.wrapping_add(off!(pidtype_sid).wrapping_mul(8)))?;
    rec.pgid = pid_nr(pgrp, 0)?;
    rec.sid = pid_nr(sess, 0)?;
    let own = ptr_field(task, off!(task_thread_pid))?;
    let level: u32 = field(own, off!(pid_level))?;
    let pgrp_level: u32 = field(pgrp, off!(pid_level))?;
    rec.vpgid = if pgrp_level >= level {
        pid_nr(pgrp, level)?
    } else {
        0
    };
    Ok(())
}

/// Device number of a tty as the kernel encodes it for user space (`new_encode_dev`).
fn tty_dev(tty: *const u8) -> Result<u32, ()> {
    let index: i32 = field(tty, off!(tty_index))?;
    let driver = ptr_field(tty, off!(tty_driver))?;
    let major: i32 = field(driver, off!(driver_major))?;
    let minor_start: i32 = field(driver, off!(driver_minor_start))?;
    let (major, minor) = (major as u32, (minor_start + index) as u32);
    Ok((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12))
}

/// The executable being run: its path, and whether it lives on an overlayfs upper layer.
fn exe_file(rec: &mut ExecRecord, bprm: *const u8, task: *const u8) {
    let Ok(file) = ptr_field(bprm, off!(bprm_file)) else {
        rec.exepath_f = PathField {
            flags: field_flags::READ_FAILED,
            ..PathField::default()
        };
        return;
    };
    let (root_d, root_m) = task_root(task);
    let path = file.wrapping_add(off!(file_path) as usize);
    let rec = &mut rec.head;
    walk_path(path, root_d, root_m, &mut rec.exepath, &mut rec.exepath_f);

    if let Ok(upper) = upper_layer(file) {
        rec.exec_flags |= EXEC_UPPER_KNOWN;
        if upper {
            rec.exec_flags |= EXEC_UPPER_LAYER;
        }
    }
}

/// True when the file's inode belongs to overlayfs and has an upper dentry (written or copied
/// up in the container). Err when the kernel's overlayfs layout is unknown.
fn upper_layer(file: *const u8) -> Result<bool, ()> {
    let inode = ptr_field(file, off!(file_inode))?;
    let sb = ptr_field(inode, off!(inode_sb))?;
    let magic: u64 = field(sb, off!(sb_magic))?;
    if magic != OVERLAYFS_SUPER_MAGIC {
        return Ok(false);
    }
    let vfs_inode = off!(ovl_vfs_inode);
    if vfs_inode == Offsets::MISSING {
        return Err(());
    }
    let ovl = inode.wrapping_sub(vfs_inode as usize);
    let upper: *const u8 = field(ovl, off!(ovl_upperdentry))?;
    Ok(!upper.is_null())
}

fn cwd(rec: &mut ExecRecord, task: *const u8) {
    let rec = &mut rec.head;
    match ptr_field(task, off!(task_fs)) {
        Ok(fs) => {
            let (root_d, root_m) = task_root(task);
            let pwd = fs.wrapping_add(off!(fs_pwd) as usize);
            walk_path(pwd, root_d, root_m, &mut rec.cwd, &mut rec.cwd_f);
        }
        Err(()) => {
            rec.cwd_f = PathField {
                flags: field_flags::READ_FAILED,
                ..PathField::default()
            }
        }
    }
}

/// One bounded read of a user memory block (argv or env area of the new stack).
fn user_block<const N: usize>(start: u64, end: u64, dst: &mut [u8; N]) -> lanner_common::StrField {
    let mut out = lanner_common::StrField::default();
    if start == 0 || end <= start {
        out.flags = field_flags::READ_FAILED;
        return out;
    }
    let mut n = (end - start) as usize;
    if n > N {
        n = N;
        out.flags |= field_flags::TRUNCATED;
    }
    // Keep the bound visible to the verifier in the register the helper receives.
    let n = n & (2 * N - 1);
    if n == 0 || n > N {
        out.flags |= field_flags::READ_FAILED;
        return out;
    }
    // SAFETY: n <= N bytes into dst; the helper validates the user address.
    let r = unsafe { read_user_raw(dst.as_mut_ptr().cast(), n as u32, start as *const _) };
    if r < 0 {
        out.flags |= field_flags::READ_FAILED;
        return out;
    }
    out.len = n as u16;
    out
}

/// argv of a failed exec: the caller's memory is intact, read the pointer array one by one.
fn failed_argv(rec: &mut ExecRecord, argv: *const u64) {
    let mut cur: usize = 0;
    let mut flags = 0;
    if argv.is_null() {
        rec.argv_f.len = 0;
        rec.argv_f.flags = field_flags::READ_FAILED;
        return;
    }
    for i in 0..FAILED_ARGV_MAX {
        // SAFETY: user pointer read through the checked helper.
        let Ok(p) = (unsafe { bpf_probe_read_user(argv.wrapping_add(i)) }) else {
            flags |= field_flags::READ_FAILED;
            break;
        };
        if p == 0 {
            break;
        }
        if cur >= ARGV_LEN / 2 {
            flags |= field_flags::TRUNCATED;
            break;
        }
        let at = cur & (ARGV_LEN / 2 - 1);
        // SAFETY: at < ARGV_LEN/2, NAME_MAX bytes fit after it.
        let n = unsafe {
            aya_ebpf::helpers::generated::bpf_probe_read_user_str(
                rec.argv.as_mut_ptr().wrapping_add(at).cast(),
                lanner_common::NAME_MAX as u32,
                p as *const _,
            )
        };
        if n <= 0 {
            flags |= field_flags::READ_FAILED;
            break;
        }
        cur = at + n as usize;
        if n as usize >= lanner_common::NAME_MAX || i == FAILED_ARGV_MAX - 1 {
            flags |= field_flags::TRUNCATED;
        }
    }
    rec.argv_f.len = cur as u16;
    rec.argv_f.flags = flags;
}

const _: () = assert!(ENV_LEN.is_power_of_two() && ARGV_LEN.is_power_of_two());
