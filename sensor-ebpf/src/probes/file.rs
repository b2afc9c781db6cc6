//! open(2), openat(2), openat2(2), creat(2): the path (and the directory a relative one is
//! relative to), flags and mode copied at syscall entry, when the kernel copies them; the new fd
//! or the error at exit. The record is sent up to the end of its path's bytes.

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        bpf_probe_read_user,
    },
    programs::TracePointContext,
};
use lanner_common::{
    EventKind, LossReason,
    evttype::EvtType,
    fd_kind, field_flags,
    file::{
        AT_FDCWD, OPEN_CAPS_UNREAD, OPEN_HEAD_SIZE, OPEN_HOW_UNREAD, OPEN_NAME_AT_EXIT,
        OPEN_RECORD_SIZE, OpenRecord, OpenSyscall, open,
    },
    prefilter::{ALL_KINDS, KIND_ANY, kind_mask},
};

use crate::{
    kernel::{current_task, field, fill_cgroup, fill_header, off, ptr_field, sys_arg, sys_ret},
    maps::{OPEN_SCRATCH, OPEN_STASH, count_loss, send},
    path_arg,
    prefilter::{self, Facts, NetFacts},
};

/// The event type of an open record (its header's variant).
#[inline(always)]
fn evt_type(variant: u32) -> EvtType {
    match variant {
        0 => EvtType::Open,
        1 => EvtType::Openat,
        2 => EvtType::Openat2,
        _ => EvtType::Creat,
    }
}

/// The prefilter's facts of an open record: what the record carries (its header's comm and
/// uid, the name as read, the flag classes), the result and the fd's kind once known. A failed
/// open's kind is "any": the sensor shows a `fd.typechar` guessed from the type and no
/// `fd.type` (`sensor/src/rules/extract/file.rs`), no one kind.
#[inline(always)]
fn facts(rec: &OpenRecord, ret: Option<i64>) -> Facts<'_> {
    let kind = match ret {
        None => ALL_KINDS,
        Some(r) if r < 0 => kind_mask(KIND_ANY),
        Some(_) if rec.classes & open::class::DIRECTORY != 0 => kind_mask(fd_kind::DIRECTORY),
        Some(_) => kind_mask(fd_kind::FILE),
    };
    let name = path_arg::prefilter_view(&rec.head.path, &rec.data);
    Facts {
        comm: &rec.header.comm,
        uid: rec.header.uid,
        path: Some(name),
        flags: Some(rec.classes),
        ret,
        kind,
        net: NetFacts::UNKNOWN,
    }
}

/// openat2's `struct open_how` (its first version, the fields there are).
#[repr(C)]
#[derive(Clone, Copy)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// The arguments of one open call as its tracepoint gives them.
struct Args {
    syscall: OpenSyscall,
    dirfd: i32,
    path: u64,
    flags: u64,
    mode: u64,
    /// openat2's `struct open_how *`.
    how: u64,
}

/// Inlined into each program, so that each reads only its own call's arguments at constant
/// offsets: the kernel refuses to attach a program that may read past its tracepoint's record,
/// and the verifier a context pointer moved by a computed amount.
#[inline(always)]
pub fn enter(ctx: &TracePointContext, syscall: OpenSyscall) -> Result<(), ()> {
    let a = |n| sys_arg(ctx, n);
    let args = match syscall {
        // open(filename, flags, mode)
        OpenSyscall::Open => Args {
            syscall,
            dirfd: AT_FDCWD,
            path: a(0),
            flags: a(1),
            mode: a(2),
            how: 0,
        },
        // openat(dfd, filename, flags, mode)
        OpenSyscall::Openat => Args {
            syscall,
            dirfd: a(0) as i32,
            path: a(1),
            flags: a(2),
            mode: a(3),
            how: 0,
        },
        // openat2(dfd, filename, how, usize)
        OpenSyscall::Openat2 => Args {
            syscall,
            dirfd: a(0) as i32,
            path: a(1),
            flags: 0,
            mode: 0,
            how: a(2),
        },
        // creat(pathname, mode)
        OpenSyscall::Creat => Args {
            syscall,
            dirfd: AT_FDCWD,
            path: a(0),
            flags: 0,
            mode: a(1),
            how: 0,
        },
    };
    stash(&args)
}

/// Builds the record from the arguments and stashes it until the call returns.
fn stash(args: &Args) -> Result<(), ()> {
    let p = OPEN_SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let rec = unsafe { &mut *p };
    let task = current_task();
    // What the prefilter reads of the header (the rest, a clock read among it, only for an
    // open it keeps).
    rec.header.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    rec.header.uid = bpf_get_current_uid_gid() as u32;
    rec.ret = 0;
    rec.open_flags = 0;
    rec.resolve = 0;
    rec.dirfd = args.dirfd;
    let (flags, mode) = if args.syscall == OpenSyscall::Openat2 {
        // SAFETY: a user read through the checked helper; a fault is an Err.
        match unsafe { bpf_probe_read_user(args.how as *const OpenHow) } {
            Ok(how) => {
                rec.resolve = how.resolve as u32;
                (how.flags, how.mode)
            }
            Err(_) => {
                rec.open_flags |= OPEN_HOW_UNREAD;
                (0, 0)
            }
        }
    } else {
        (args.flags, args.mode)
    };
    rec.flags = flags as u32;
    rec.mode = mode as u32;
    let creat = args.syscall == OpenSyscall::Creat;
    rec.classes = if rec.open_flags & OPEN_HOW_UNREAD != 0 {
        0
    } else {
        let mode = open::ppm_mode(rec.flags, rec.mode, creat);
        open::classes(open::ppm_flags(rec.flags), mode, creat)
    };
    rec.name_ptr = args.path;
    path_arg::read_name(args.path, &mut rec.head.path, &mut rec.data);
    // Before anything else is read: an open no loaded rule can match whatever it returns
    // goes no further (the result is tested again at exit).
    if !prefilter::keep(evt_type(args.syscall as u32), &facts(rec, None)) {
        // An entry left by an earlier call whose exit hook was detached before it returned
        // must not meet this call's exit.
        let _ = OPEN_STASH.remove(bpf_get_current_pid_tgid() as u32);
        return Ok(());
    }
    fill_header(&mut rec.header, EventKind::Open as u32, args.syscall as u32);
    fill_cgroup(&mut rec.header, task);
    match ptr_field(task, off!(task_cred)).and_then(|c| field(c, off!(cred_cap_effective))) {
        Ok(caps) => rec.cap_effective = caps,
        Err(()) => {
            rec.cap_effective = 0;
            rec.open_flags |= OPEN_CAPS_UNREAD;
        }
    }
    path_arg::read_base(args.dirfd, &mut rec.head.path, &mut rec.data);
    OPEN_STASH.insert(rec.header.tid, rec, 0).map_err(drop)
}

pub fn exit(ctx: &TracePointContext) -> Result<(), ()> {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(p) = OPEN_STASH.get_ptr_mut(tid) else {
        return Ok(());
    };
    // SAFETY: map value owned by this tid's syscall.
    let rec = unsafe { &mut *p };
    rec.ret = sys_ret(ctx);
    // A path whose page was not in memory at entry: the kernel has faulted it in since.
    if rec.path.name_f.flags & field_flags::READ_FAILED != 0 && rec.name_ptr != 0 {
        rec.open_flags |= OPEN_NAME_AT_EXIT;
        path_arg::read(rec.dirfd, rec.name_ptr, &mut rec.head.path, &mut rec.data);
    }
    rec.name_ptr = 0;
    // Kept at entry on the same facts but the result (and the kind it implies): decided again
    // only when a term tests them, or on a path read only now.
    let ty = evt_type(rec.header.variant);
    let facts = facts(rec, Some(rec.ret));
    if !prefilter::keep_at_exit(ty, &facts, rec.open_flags & OPEN_NAME_AT_EXIT == 0) {
        let _ = OPEN_STASH.remove(tid);
        return Ok(());
    }
    let (cut, failed) = path_arg::losses(&rec.path);
    if cut {
        count_loss(EventKind::Open, LossReason::Truncated);
    }
    if failed || rec.open_flags & (OPEN_HOW_UNREAD | OPEN_CAPS_UNREAD) != 0 {
        count_loss(EventKind::Open, LossReason::ReadFailed);
    }
    let mut n = OPEN_HEAD_SIZE + path_arg::used(&rec.path);
    // What `used` keeps to, spelled out for the verifier.
    if n > OPEN_RECORD_SIZE {
        n = OPEN_RECORD_SIZE;
    }
    // SAFETY: n <= size_of::<OpenRecord>() bytes of the record.
    let bytes = unsafe { core::slice::from_raw_parts((rec as *const OpenRecord).cast::<u8>(), n) };
    send(EventKind::Open, bytes);
    let _ = OPEN_STASH.remove(tid);
    Ok(())
}
