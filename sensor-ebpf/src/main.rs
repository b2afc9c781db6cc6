//! Lanner's kernel programs: entry points only. Each hook filters out the agent's own process,
//! then hands over to its `probes::*` module; errors there are counted, never silent.
#![no_std]
#![no_main]

mod kernel;
mod maps;
mod path_arg;
mod prefilter;
mod probes;

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use lanner_common::{
    EventKind, ExecVariant, LossReason, MountOp, NetOp, PrivOp, file::OpenSyscall,
    file_change::ChangeOp,
};

use crate::probes::{exec, file, file_change, mount, net, net_fd, privilege, process};

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

/// Writes one program per row of the hook table (`lanner_common::hook_table!`): the loader
/// attaches the same rows (`lanner_common::hooks::HOOKS`), so the two cannot disagree.
macro_rules! programs {
    ($($program:ident: $attach:ident $category:literal, $kind:ident,
       $need:ident $(($why:literal))?, $feed:ident $([$($evt:ident),*])?,
       $handler:expr;)*) => {
        $(programs!(@one $attach $program, EventKind::$kind, $handler);)*
    };
    (@one tracepoint $program:ident, $kind:expr, $handler:expr) => {
        #[tracepoint]
        pub fn $program(ctx: TracePointContext) -> u32 {
            if !is_self() {
                let f: fn(&TracePointContext) -> Result<(), ()> = $handler;
                counted($kind, f(&ctx));
            }
            0
        }
    };
    (@one btf $program:ident, $kind:expr, $handler:expr) => {
        #[btf_tracepoint]
        pub fn $program(ctx: BtfTracePointContext) -> i32 {
            if !is_self() {
                let f: fn(&BtfTracePointContext) -> Result<(), ()> = $handler;
                counted($kind, f(&ctx));
            }
            0
        }
    };
}

lanner_common::hook_table!(programs);

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
