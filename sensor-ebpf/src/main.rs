//! Lanner's kernel programs: entry points only. Each hook filters out the agent's own process,
//! then hands over to its `probes::*` module; errors there are counted, never silent.
#![no_std]
#![no_main]

mod kernel;
mod maps;
mod probes;

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use lanner_common::{EventKind, ExecVariant, LossReason, MountOp};

use crate::probes::{exec, mount, net, process};

/// True for the agent's own syscalls (filtered in the kernel, so it never sees itself).
#[inline(always)]
fn is_self() -> bool {
    (bpf_get_current_pid_tgid() >> 32) as u32 == kernel::settings_self_tgid()
}

/// A program that failed before sending lost its record: count it, never swallow it.
#[inline(always)]
fn counted(kind: EventKind, res: Result<(), ()>) {
    if res.is_err() {
        maps::count_loss(kind, LossReason::Dropped);
    }
}

macro_rules! syscall_tp {
    ($name:ident, $kind:expr, $body:expr) => {
        #[tracepoint]
        pub fn $name(ctx: TracePointContext) -> u32 {
            if !is_self() {
                let f: fn(&TracePointContext) -> Result<(), ()> = $body;
                counted($kind, f(&ctx));
            }
            0
        }
    };
}

/// BTF tracepoints; the kernel tracepoint is named at load time (`loader::BTF_HOOKS`).
macro_rules! btf_tp {
    ($name:ident, $kind:expr, $body:expr) => {
        #[btf_tracepoint]
        pub fn $name(ctx: BtfTracePointContext) -> i32 {
            if !is_self() {
                let f: fn(&BtfTracePointContext) -> Result<(), ()> = $body;
                counted($kind, f(&ctx));
            }
            0
        }
    };
}

use EventKind::{Connect as CONNECT, Exec as EXEC, Mount as MOUNT};

fn execve_enter(c: &TracePointContext) -> Result<(), ()> {
    exec::enter(c, ExecVariant::Execve)
}
fn execveat_enter(c: &TracePointContext) -> Result<(), ()> {
    exec::enter(c, ExecVariant::Execveat)
}

syscall_tp!(sys_enter_execve, EXEC, execve_enter);
syscall_tp!(sys_enter_execveat, EXEC, execveat_enter);
syscall_tp!(sys_exit_execve, EXEC, exec::exit);
syscall_tp!(sys_exit_execveat, EXEC, exec::exit);

syscall_tp!(sys_enter_mount, MOUNT, |c| mount::enter(c, MountOp::Mount));
syscall_tp!(sys_enter_umount, MOUNT, |c| mount::enter(
    c,
    MountOp::Umount2
));
syscall_tp!(sys_enter_fsopen, MOUNT, |c| mount::enter(
    c,
    MountOp::Fsopen
));
syscall_tp!(sys_enter_fsmount, MOUNT, |c| mount::enter(
    c,
    MountOp::Fsmount
));
syscall_tp!(sys_enter_move_mount, MOUNT, |c| mount::enter(
    c,
    MountOp::MoveMount
));
syscall_tp!(sys_enter_open_tree, MOUNT, |c| mount::enter(
    c,
    MountOp::OpenTree
));
syscall_tp!(sys_exit_mount, MOUNT, mount::exit);
syscall_tp!(sys_exit_umount, MOUNT, mount::exit);
syscall_tp!(sys_exit_fsopen, MOUNT, mount::exit);
syscall_tp!(sys_exit_fsmount, MOUNT, mount::exit);
syscall_tp!(sys_exit_move_mount, MOUNT, mount::exit);
syscall_tp!(sys_exit_open_tree, MOUNT, mount::exit);

syscall_tp!(sys_enter_connect, CONNECT, net::enter);
syscall_tp!(sys_exit_connect, CONNECT, net::exit);

btf_tp!(sched_process_exec, EXEC, exec::sched_exec);
btf_tp!(sched_process_fork, EventKind::Fork, process::fork);
btf_tp!(sched_process_exit, EventKind::Exit, process::exit);

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
