//! Processes and privilege: ptrace, setuid, setns, unshare, init_module, finit_module, bpf and
//! userfaultfd. Each is a few integers (and, for the module loaders, their parameter string),
//! copied at syscall entry with the caller's capabilities; the record is sent at exit with the
//! return value and the credentials the task has then.

use aya_ebpf::{helpers::bpf_get_current_uid_gid, programs::TracePointContext};
use lanner_common::{EventKind, LossReason, PrivOp, PrivRecord, StrField, field_flags, priv_flags};

use crate::{
    kernel::{
        current_task, field, fill_cgroup, fill_header, off, ptr_field, read_str, sys_arg, sys_ret,
    },
    maps::{PRIV_SCRATCH, PRIV_STASH, count_loss, send},
};

pub fn enter(ctx: &TracePointContext, op: PrivOp) -> Result<(), ()> {
    let p = PRIV_SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let rec = unsafe { &mut *p };
    fill_header(&mut rec.header, EventKind::Privilege as u32, op as u32);
    let task = current_task();
    fill_cgroup(&mut rec.header, task);
    rec.ret = 0;
    // Only the arguments the syscall has: a tracepoint record ends after its last one.
    rec.args = match op {
        PrivOp::Setuid | PrivOp::Unshare | PrivOp::Bpf | PrivOp::Userfaultfd => {
            [sys_arg(ctx, 0), 0, 0, 0]
        }
        PrivOp::Ptrace | PrivOp::Setns => [sys_arg(ctx, 0), sys_arg(ctx, 1), 0, 0],
        PrivOp::InitModule | PrivOp::FinitModule => {
            [sys_arg(ctx, 0), sys_arg(ctx, 1), sys_arg(ctx, 2), 0]
        }
    };
    caps(rec, task);
    rec.text_f = StrField {
        len: 0,
        flags: field_flags::ABSENT,
    };
    let uargs = match op {
        PrivOp::InitModule => rec.args[2],
        PrivOp::FinitModule => rec.args[1],
        _ => 0,
    };
    if uargs != 0 {
        let mut f = 0;
        rec.text_f.len = read_str(uargs as *const u8, true, &mut rec.text, &mut f);
        rec.text_f.flags = f;
    }
    PRIV_STASH.insert(rec.header.tid, rec, 0).map_err(drop)
}

/// The caller's effective and permitted capabilities, flagged known only when both were read.
fn caps(rec: &mut PrivRecord, task: *const u8) {
    rec.priv_flags = 0;
    rec.cap_effective = 0;
    rec.cap_permitted = 0;
    let read = || -> Result<(u64, u64), ()> {
        let cred = ptr_field(task, off!(task_cred))?;
        Ok((
            field(cred, off!(cred_cap_effective))?,
            field(cred, off!(cred_cap_permitted))?,
        ))
    };
    match read() {
        Ok((effective, permitted)) => {
            rec.cap_effective = effective;
            rec.cap_permitted = permitted;
            rec.priv_flags |= priv_flags::CAPS_KNOWN;
        }
        Err(()) => count_loss(EventKind::Privilege, LossReason::ReadFailed),
    }
}

pub fn exit(ctx: &TracePointContext) -> Result<(), ()> {
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    let Some(p) = PRIV_STASH.get_ptr_mut(tid) else {
        return Ok(());
    };
    // SAFETY: map value owned by this tid's syscall.
    let rec = unsafe { &mut *p };
    rec.ret = sys_ret(ctx);
    // The credentials after the call: a successful setuid made the task another user, and
    // the event is that user's, as in Falco (its thread table takes the new uid at the exit).
    let uid_gid = bpf_get_current_uid_gid();
    rec.header.uid = uid_gid as u32;
    rec.header.gid = (uid_gid >> 32) as u32;
    let f = rec.text_f.flags;
    if f & field_flags::TRUNCATED != 0 {
        count_loss(EventKind::Privilege, LossReason::Truncated);
    }
    if f & field_flags::READ_FAILED != 0 {
        count_loss(EventKind::Privilege, LossReason::ReadFailed);
    }
    let v = rec.header.variant;
    if v == PrivOp::InitModule as u32 || v == PrivOp::FinitModule as u32 {
        send(EventKind::Privilege, rec);
    } else {
        // Without the string: most of these are ptrace calls of a debugger, many per second.
        send(EventKind::Privilege, &rec.head);
    }
    let _ = PRIV_STASH.remove(tid);
    Ok(())
}
