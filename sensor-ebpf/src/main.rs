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
use lanner_common::{ExecVariant, MountOp};

use crate::probes::{exec, mount, net, process};

/// True for the agent's own syscalls (filtered in the kernel, so it never sees itself).
#[inline(always)]
fn is_self() -> bool {
    (bpf_get_current_pid_tgid() >> 32) as u32 == kernel::settings_self_tgid()
}

macro_rules! syscall_tp {
    ($name:ident, $body:expr) => {
        #[tracepoint]
        pub fn $name(ctx: TracePointContext) -> u32 {
            if !is_self() {
                let f: fn(&TracePointContext) -> Result<(), ()> = $body;
                let _ = f(&ctx);
            }
            0
        }
    };
}

syscall_tp!(sys_enter_execve, |c| exec::enter(c, ExecVariant::Execve));
syscall_tp!(sys_enter_execveat, |c| exec::enter(
    c,
    ExecVariant::Execveat
));
syscall_tp!(sys_exit_execve, exec::exit);
syscall_tp!(sys_exit_execveat, exec::exit);

syscall_tp!(sys_enter_mount, |c| mount::enter(c, MountOp::Mount));
syscall_tp!(sys_enter_umount, |c| mount::enter(c, MountOp::Umount2));
syscall_tp!(sys_enter_fsopen, |c| mount::enter(c, MountOp::Fsopen));
syscall_tp!(sys_enter_fsmount, |c| mount::enter(c, MountOp::Fsmount));
syscall_tp!(sys_enter_move_mount, |c| mount::enter(
    c,
    MountOp::MoveMount
));
syscall_tp!(sys_enter_open_tree, |c| mount::enter(c, MountOp::OpenTree));
syscall_tp!(sys_exit_mount, mount::exit);
syscall_tp!(sys_exit_umount, mount::exit);
syscall_tp!(sys_exit_fsopen, mount::exit);
syscall_tp!(sys_exit_fsmount, mount::exit);
syscall_tp!(sys_exit_move_mount, mount::exit);
syscall_tp!(sys_exit_open_tree, mount::exit);

syscall_tp!(sys_enter_connect, net::enter);
syscall_tp!(sys_exit_connect, net::exit);

#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec(ctx: BtfTracePointContext) -> i32 {
    if !is_self() {
        let _ = exec::sched_exec(&ctx);
    }
    0
}

#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork(ctx: BtfTracePointContext) -> i32 {
    if !is_self() {
        let _ = process::fork(&ctx);
    }
    0
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    if !is_self() {
        let _ = process::exit(&ctx);
    }
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
