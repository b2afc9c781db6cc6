//! mount(2), umount2(2) and the new mount API (fsopen, fsmount, move_mount, open_tree), which
//! attackers use to mount without ever calling mount(2).
//!
//! The record is built at syscall entry, when the kernel itself copies the arguments, and sent
//! at exit with the return value.

use aya_ebpf::programs::TracePointContext;
use lanner_common::{EventKind, LossReason, MountOp, MountRecord, field_flags};

use crate::{
    kernel::{current_task, fill_cgroup, fill_header, read_str, sys_arg, sys_ret},
    maps::{MOUNT_SCRATCH, MOUNT_STASH, count_loss, send},
};

pub fn enter(ctx: &TracePointContext, op: MountOp) -> Result<(), ()> {
    let p = MOUNT_SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let rec = unsafe { &mut *p };
    fill_header(&mut rec.header, EventKind::Mount as u32, op as u32);
    fill_cgroup(&mut rec.header, current_task());
    rec.ret = 0;
    rec.flags = 0;
    rec.flags2 = 0;
    rec.fd1 = -1;
    rec.fd2 = -1;
    let absent = lanner_common::StrField {
        len: 0,
        flags: field_flags::ABSENT,
    };
    rec.source_f = absent;
    rec.target_f = absent;
    rec.fstype_f = absent;
    match op {
        MountOp::Mount => {
            source(rec, sys_arg(ctx, 0));
            target(rec, sys_arg(ctx, 1));
            fstype(rec, sys_arg(ctx, 2));
            rec.flags = sys_arg(ctx, 3);
        }
        MountOp::Umount2 => {
            target(rec, sys_arg(ctx, 0));
            rec.flags = sys_arg(ctx, 1);
        }
        MountOp::Fsopen => {
            fstype(rec, sys_arg(ctx, 0));
            rec.flags = sys_arg(ctx, 1);
        }
        MountOp::Fsmount => {
            rec.fd1 = sys_arg(ctx, 0) as i32;
            rec.flags = sys_arg(ctx, 1);
            rec.flags2 = sys_arg(ctx, 2);
        }
        MountOp::MoveMount => {
            rec.fd1 = sys_arg(ctx, 0) as i32;
            source(rec, sys_arg(ctx, 1));
            rec.fd2 = sys_arg(ctx, 2) as i32;
            target(rec, sys_arg(ctx, 3));
            rec.flags = sys_arg(ctx, 4);
        }
        MountOp::OpenTree => {
            rec.fd1 = sys_arg(ctx, 0) as i32;
            source(rec, sys_arg(ctx, 1));
            rec.flags = sys_arg(ctx, 2);
        }
    }
    MOUNT_STASH.insert(rec.header.tid, rec, 0).map_err(drop)
}

fn source(rec: &mut MountRecord, ptr: u64) {
    let mut f = 0;
    rec.source_f.len = read_str(ptr as *const u8, true, &mut rec.source, &mut f);
    rec.source_f.flags = f;
}

fn target(rec: &mut MountRecord, ptr: u64) {
    let mut f = 0;
    rec.target_f.len = read_str(ptr as *const u8, true, &mut rec.target, &mut f);
    rec.target_f.flags = f;
}

fn fstype(rec: &mut MountRecord, ptr: u64) {
    let mut f = 0;
    rec.fstype_f.len = read_str(ptr as *const u8, true, &mut rec.fstype, &mut f);
    rec.fstype_f.flags = f;
}

pub fn exit(ctx: &TracePointContext) -> Result<(), ()> {
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    let Some(p) = MOUNT_STASH.get_ptr_mut(tid) else {
        return Ok(());
    };
    // SAFETY: map value owned by this tid's syscall; `ret` slot of the exit record.
    let rec = unsafe { &mut *p };
    rec.ret = sys_ret(ctx);
    for f in [rec.source_f, rec.target_f, rec.fstype_f] {
        if f.flags & field_flags::TRUNCATED != 0 {
            count_loss(EventKind::Mount, LossReason::Truncated);
        }
        if f.flags & field_flags::READ_FAILED != 0 {
            count_loss(EventKind::Mount, LossReason::ReadFailed);
        }
    }
    send(EventKind::Mount, rec);
    let _ = MOUNT_STASH.remove(tid);
    Ok(())
}
