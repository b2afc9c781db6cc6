//! Process lifecycle from `sched:*` BTF tracepoints (no syscall slow path): forks and exits
//! keep user space's process table current.

use aya_ebpf::programs::BtfTracePointContext;
use lanner_common::{EventKind, ExitRecord, ForkRecord, Header};

use crate::{
    kernel::{field, fill_header, off},
    maps::{
        CHANGE_SMALL_STASH, CHANGE_STASH, CONNECT_STASH, EXEC_STASH, MOUNT_STASH, NET_STASH,
        OPEN_STASH, PRIV_STASH, send,
    },
};

/// `sched_process_fork(struct task_struct *parent, struct task_struct *child)`.
pub fn fork(ctx: &BtfTracePointContext) -> Result<(), ()> {
    let child: *const u8 = ctx.arg(1);
    let mut rec = ForkRecord {
        header: empty_header(),
        child_pid: field(child, off!(task_tgid))?,
        child_tid: field(child, off!(task_pid))?,
    };
    fill_header(&mut rec.header, EventKind::Fork as u32, 0);
    send(EventKind::Fork, &rec);
    Ok(())
}

/// `sched_process_exit(struct task_struct *p, ...)`: fires per thread; only the thread group
/// leader's exit ends the process for the table.
pub fn exit(ctx: &BtfTracePointContext) -> Result<(), ()> {
    let task: *const u8 = ctx.arg(0);
    let pid_tgid = aya_ebpf::helpers::bpf_get_current_pid_tgid();
    // A syscall that never returned (the task died inside it) leaves its stash entry behind.
    let tid = pid_tgid as u32;
    let _ = EXEC_STASH.remove(tid);
    let _ = MOUNT_STASH.remove(tid);
    let _ = CONNECT_STASH.remove(tid);
    let _ = PRIV_STASH.remove(tid);
    let _ = NET_STASH.remove(tid);
    let _ = OPEN_STASH.remove(tid);
    let _ = CHANGE_STASH.remove(tid);
    let _ = CHANGE_SMALL_STASH.remove(tid);
    if tid != (pid_tgid >> 32) as u32 {
        return Ok(());
    }
    let mut rec = ExitRecord {
        header: empty_header(),
        exit_code: field(task, off!(task_exit_code)).unwrap_or(-1),
        _pad: [0; 4],
    };
    fill_header(&mut rec.header, EventKind::Exit as u32, 0);
    send(EventKind::Exit, &rec);
    Ok(())
}

const fn empty_header() -> Header {
    Header {
        kind: 0,
        variant: 0,
        ktime_ns: 0,
        pid: 0,
        tid: 0,
        uid: 0,
        gid: 0,
        cgroup_id: 0,
        comm: [0; 16],
        cgroup: [0; lanner_common::CGROUP_NAME_LEN],
        cgroup_flags: 0,
        _pad: [0; 6],
    }
}
