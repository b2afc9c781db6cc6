//! unlink, unlinkat, rmdir, rename, renameat, renameat2, mkdir, mkdirat, symlink, symlinkat,
//! link, linkat, chmod, fchmod, fchmodat: the paths (each with the directory a relative one is
//! relative to, `path_arg`), flags and mode copied at syscall entry, when the kernel copies
//! them; the result at exit. The record is sent with only the used bytes of its paths, the
//! second's moved up against the first's.

use aya_ebpf::{helpers::generated::bpf_probe_read_kernel, programs::TracePointContext};
use lanner_common::{
    EventKind, LossReason, PATH_ARRAY, field_flags,
    file::{AT_FDCWD, PATH_ARG_DATA, PathArg},
    file_change::{
        CHANGE_FD_PATH, CHANGE_HEAD_SIZE, CHANGE_NAME_AT_EXIT, CHANGE_RECORD_SIZE, ChangeHead,
        ChangeOp, ChangeRecord,
    },
    prefilter::ALL_KINDS,
};

use crate::{
    kernel::{current_task, fill_cgroup, fill_header, sys_arg, sys_ret},
    maps::{
        CHANGE_SCRATCH, CHANGE_SMALL_PATH, CHANGE_SMALL_SCRATCH, CHANGE_SMALL_STASH, CHANGE_STASH,
        ChangeSmall, count_loss, send,
    },
    path_arg,
    prefilter::{self, Facts, NetFacts, PathRef},
};

/// The arguments of one call as its tracepoint gives them; a path pointer of 0 is a path the
/// call does not take.
struct Args {
    op: ChangeOp,
    fd1: i32,
    path1: u64,
    fd2: i32,
    path2: u64,
    flags: u64,
    mode: u64,
}

/// Inlined into each program, so that each reads only its own call's arguments at constant
/// offsets (the kernel refuses a program that may read past its tracepoint's record).
#[inline(always)]
pub fn enter(ctx: &TracePointContext, op: ChangeOp) -> Result<(), ()> {
    let a = |n| sys_arg(ctx, n);
    let none = Args {
        op,
        fd1: AT_FDCWD,
        path1: 0,
        fd2: AT_FDCWD,
        path2: 0,
        flags: 0,
        mode: 0,
    };
    let args = match op {
        ChangeOp::Unlink | ChangeOp::Rmdir => Args {
            path1: a(0),
            ..none
        },
        ChangeOp::Unlinkat => Args {
            fd1: a(0) as i32,
            path1: a(1),
            flags: a(2),
            ..none
        },
        ChangeOp::Rename | ChangeOp::Link | ChangeOp::Symlink => Args {
            path1: a(0),
            path2: a(1),
            ..none
        },
        ChangeOp::Renameat => Args {
            fd1: a(0) as i32,
            path1: a(1),
            fd2: a(2) as i32,
            path2: a(3),
            ..none
        },
        ChangeOp::Renameat2 | ChangeOp::Linkat => Args {
            fd1: a(0) as i32,
            path1: a(1),
            fd2: a(2) as i32,
            path2: a(3),
            flags: a(4),
            ..none
        },
        ChangeOp::Mkdir | ChangeOp::Chmod => Args {
            path1: a(0),
            mode: a(1),
            ..none
        },
        ChangeOp::Mkdirat | ChangeOp::Fchmodat => Args {
            fd1: a(0) as i32,
            path1: a(1),
            mode: a(2),
            ..none
        },
        // symlinkat(target, linkdirfd, linkpath): the target is the link's content, joined to
        // the working directory when relative (as Falco's fs.path.target does).
        ChangeOp::Symlinkat => Args {
            path1: a(0),
            fd2: a(1) as i32,
            path2: a(2),
            ..none
        },
        ChangeOp::Fchmod => Args {
            fd1: a(0) as i32,
            mode: a(1),
            ..none
        },
    };
    stash(&args)
}

/// The second path's region of a record's data.
#[inline(always)]
fn second(rec: &mut ChangeRecord) -> &mut [u8; PATH_ARG_DATA] {
    // SAFETY: data is 2 * PATH_ARG_DATA bytes: the second half, as an array of that size.
    unsafe {
        &mut *rec
            .data
            .as_mut_ptr()
            .wrapping_add(PATH_ARG_DATA)
            .cast::<[u8; PATH_ARG_DATA]>()
    }
}

/// The first path's region of a record's data.
#[inline(always)]
fn first(rec: &mut ChangeRecord) -> &mut [u8; PATH_ARG_DATA] {
    // SAFETY: the first half of the data, as an array of that size.
    unsafe { &mut *rec.data.as_mut_ptr().cast::<[u8; PATH_ARG_DATA]>() }
}

/// Marks a path the call does not take: nothing to read, nothing lost.
#[inline(always)]
fn absent(arg: &mut lanner_common::file::PathArg) {
    *arg = lanner_common::file::PathArg::default();
    arg.name_f.flags = field_flags::ABSENT;
    arg.base_f.flags = field_flags::ABSENT;
}

/// Builds the record from the arguments and stashes it until the call returns.
fn stash(args: &Args) -> Result<(), ()> {
    let p = CHANGE_SCRATCH.get_ptr_mut(0).ok_or(())?;
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let rec = unsafe { &mut *p };
    let task = current_task();
    fill_header(
        &mut rec.header,
        EventKind::FileChange as u32,
        args.op as u32,
    );
    rec.ret = 0;
    rec.fd1 = args.fd1;
    rec.fd2 = args.fd2;
    rec.flags = args.flags as u32;
    rec.mode = args.mode as u32;
    rec.change_flags = 0;
    rec.second_at = 0;
    rec.ptr1 = args.path1;
    rec.ptr2 = args.path2;
    let mut path = rec.head.path1;
    if args.op == ChangeOp::Fchmod {
        absent(&mut path);
    } else {
        path_arg::read_name(args.path1, &mut path, first(rec));
    }
    rec.head.path1 = path;
    // Before anything else is read (the cgroup, the directories walked, the second path): a
    // call no loaded rule can match whatever it returns goes no further (the result is tested
    // again at exit).
    let facts = Facts {
        comm: &rec.header.comm,
        uid: rec.header.uid,
        path: first_path(args.op, &rec.head.path1, rec.data.as_ptr()),
        flags: None,
        ret: None,
        kind: ALL_KINDS,
        net: NetFacts::UNKNOWN,
    };
    if !prefilter::keep(args.op.evt_type(), &facts) {
        // An entry left by an earlier call whose exit hook was detached before it returned
        // must not meet this call's exit.
        let _ = CHANGE_SMALL_STASH.remove(rec.header.tid);
        let _ = CHANGE_STASH.remove(rec.header.tid);
        return Ok(());
    }
    fill_cgroup(&mut rec.header, task);
    let mut path = rec.head.path1;
    if args.op == ChangeOp::Fchmod {
        if path_arg::read_fd(args.fd1, &mut path, first(rec)) {
            rec.change_flags |= CHANGE_FD_PATH;
        }
    } else {
        path_arg::read_base(args.fd1, &mut path, first(rec));
    }
    rec.head.path1 = path;
    let mut path = rec.head.path2;
    if args.op.has_second() {
        path_arg::read(args.fd2, args.path2, &mut path, second(rec));
    } else {
        absent(&mut path);
    }
    rec.head.path2 = path;
    // A path that must be read again at exit needs its whole region; short ones (nearly all)
    // are kept compacted, as they will be sent.
    let reread = (rec.path1.name_f.flags | rec.path2.name_f.flags) & field_flags::READ_FAILED;
    if reread == 0
        && path_arg::used(&rec.path1) <= CHANGE_SMALL_PATH
        && path_arg::used(&rec.path2) <= CHANGE_SMALL_PATH
    {
        let small = CHANGE_SMALL_SCRATCH.get_ptr_mut(0).ok_or(())?;
        rec.ptr1 = 0;
        rec.ptr2 = 0;
        compact::<CHANGE_SMALL_PATH>(rec, small.cast())?;
        // SAFETY: per-CPU scratch, written up to the paths' bytes just above (the rest is
        // never sent).
        let small = unsafe { &*small };
        return CHANGE_SMALL_STASH
            .insert(rec.header.tid, small, 0)
            .map_err(drop);
    }
    // The exit looks in the small stash first: an entry this thread left there (a call whose
    // exit did not run: its hook detached meanwhile) must not be taken for this call's.
    let _ = CHANGE_SMALL_STASH.remove(rec.header.tid);
    CHANGE_STASH.insert(rec.header.tid, rec, 0).map_err(drop)
}

pub fn exit(ctx: &TracePointContext) -> Result<(), ()> {
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    if let Some(p) = CHANGE_SMALL_STASH.get_ptr_mut(tid) {
        // SAFETY: map value owned by this tid's syscall.
        let rec = unsafe { &mut *p };
        rec.head.ret = sys_ret(ctx);
        if !keep_at_exit(&rec.head, rec.data.as_ptr()) {
            let _ = CHANGE_SMALL_STASH.remove(tid);
            return Ok(());
        }
        count_losses(&rec.head.path1, &rec.head.path2);
        let mut used2 = path_arg::used(&rec.head.path2);
        if used2 > CHANGE_SMALL_PATH {
            used2 = CHANGE_SMALL_PATH;
        }
        let mut at = rec.head.second_at as usize;
        if at > CHANGE_SMALL_PATH {
            at = CHANGE_SMALL_PATH;
        }
        let n = CHANGE_HEAD_SIZE + at + used2;
        // SAFETY: n <= size_of::<ChangeSmall>() bytes of the map value.
        let bytes =
            unsafe { core::slice::from_raw_parts((rec as *const ChangeSmall).cast::<u8>(), n) };
        send(EventKind::FileChange, bytes);
        let _ = CHANGE_SMALL_STASH.remove(tid);
        return Ok(());
    }
    let Some(p) = CHANGE_STASH.get_ptr_mut(tid) else {
        return Ok(());
    };
    // SAFETY: map value owned by this tid's syscall.
    let rec = unsafe { &mut *p };
    rec.ret = sys_ret(ctx);
    // A path whose page was not in memory at entry: the kernel has faulted it in since.
    if rec.path1.name_f.flags & field_flags::READ_FAILED != 0 && rec.ptr1 != 0 {
        rec.change_flags |= CHANGE_NAME_AT_EXIT;
        let mut path = rec.head.path1;
        path_arg::read(rec.fd1, rec.ptr1, &mut path, first(rec));
        rec.head.path1 = path;
    }
    if rec.path2.name_f.flags & field_flags::READ_FAILED != 0 && rec.ptr2 != 0 {
        rec.change_flags |= CHANGE_NAME_AT_EXIT;
        let mut path = rec.head.path2;
        path_arg::read(rec.fd2, rec.ptr2, &mut path, second(rec));
        rec.head.path2 = path;
    }
    rec.ptr1 = 0;
    rec.ptr2 = 0;
    if !keep_at_exit(&rec.head, rec.data.as_ptr()) {
        let _ = CHANGE_STASH.remove(tid);
        return Ok(());
    }
    count_losses(&rec.head.path1, &rec.head.path2);
    let sent = send_whole(rec);
    let _ = CHANGE_STASH.remove(tid);
    sent
}

/// The first path as the prefilter reads it, for the types whose analysis binds it
/// (`ChangeOp::first_path_param`; a symlink's content and fchmod's fd are not): `data` is the
/// record's data, the first path's bytes at its start (in a stashed record and a compacted
/// one alike).
#[inline(always)]
fn first_path(op: ChangeOp, arg: &PathArg, data: *const u8) -> Option<PathRef> {
    op.first_path_param()?;
    // As `path_arg::prefilter_view`; the pass reads only the name's bytes (a compacted
    // record holds them all: its first path's used bytes are the name's end).
    let mut at = usize::from(arg.name_at);
    if at > PATH_ARRAY {
        at = PATH_ARRAY;
    }
    let bad = field_flags::TRUNCATED | field_flags::READ_FAILED | field_flags::ABSENT;
    Some(PathRef {
        ptr: data.wrapping_add(at),
        len: usize::from(arg.name_f.len),
        whole: arg.name_f.flags & bad == 0,
    })
}

/// The prefilter's second look, with the result: what the entry saw and the return value
/// (not computed again when no term tests the result), or the path read again at exit.
#[inline(always)]
fn keep_at_exit(head: &ChangeHead, data: *const u8) -> bool {
    let Some(op) = ChangeOp::from_u32(head.header.variant) else {
        return true;
    };
    let facts = Facts {
        comm: &head.header.comm,
        uid: head.header.uid,
        path: first_path(op, &head.path1, data),
        flags: None,
        ret: Some(head.ret),
        kind: ALL_KINDS,
        net: NetFacts::UNKNOWN,
    };
    // When the entry decided without the path, decided on it now.
    prefilter::keep_at_exit(
        op.evt_type(),
        &facts,
        head.change_flags & CHANGE_NAME_AT_EXIT == 0,
    )
}

/// Counts what the record's paths could not read whole.
#[inline(always)]
fn count_losses(path1: &PathArg, path2: &PathArg) {
    let (cut1, failed1) = path_arg::losses(path1);
    let (cut2, failed2) = path_arg::losses(path2);
    if cut1 || cut2 {
        count_loss(EventKind::FileChange, LossReason::Truncated);
    }
    if failed1 || failed2 {
        count_loss(EventKind::FileChange, LossReason::ReadFailed);
    }
}

/// Copies the record's head and the used bytes of its paths, at most `CAP` of each, to `dst`:
/// the second path's right after the first's, as they are sent (`second_at` says where). The
/// size written.
///
/// `dst` must have room for the head and `2 * CAP` bytes.
#[inline(always)]
fn compact<const CAP: usize>(rec: &mut ChangeRecord, dst: *mut u8) -> Result<usize, ()> {
    let mut used1 = path_arg::used(&rec.path1);
    if used1 > CAP {
        used1 = CAP;
    }
    let mut used2 = path_arg::used(&rec.path2);
    if used2 > CAP {
        used2 = CAP;
    }
    rec.second_at = used1 as u32;
    let src = (rec as *const ChangeRecord).cast::<u8>();
    // SAFETY: the source is a ChangeRecord (the head, then PATH_ARG_DATA bytes per path, CAP <=
    // PATH_ARG_DATA); the destination has the head and 2 * CAP bytes, the second path's placed
    // at used1 <= CAP.
    let copied = unsafe {
        bpf_probe_read_kernel(dst.cast(), CHANGE_HEAD_SIZE as u32, src.cast()) >= 0
            && bpf_probe_read_kernel(
                dst.wrapping_add(CHANGE_HEAD_SIZE).cast(),
                used1 as u32,
                src.wrapping_add(CHANGE_HEAD_SIZE).cast(),
            ) >= 0
            && bpf_probe_read_kernel(
                dst.wrapping_add(CHANGE_HEAD_SIZE + used1).cast(),
                used2 as u32,
                src.wrapping_add(CHANGE_HEAD_SIZE + PATH_ARG_DATA).cast(),
            ) >= 0
    };
    if copied {
        Ok(CHANGE_HEAD_SIZE + used1 + used2)
    } else {
        Err(())
    }
}

/// Sends a long-path record: put together in the per-CPU scratch (its second path moved up
/// against the first), up to the end of its paths' bytes.
#[inline(always)]
fn send_whole(rec: &mut ChangeRecord) -> Result<(), ()> {
    let out = CHANGE_SCRATCH.get_ptr_mut(0).ok_or(())?;
    let mut n = compact::<PATH_ARG_DATA>(rec, out.cast())?;
    // What the bounds in `compact` keep to, spelled out for the verifier.
    if n > CHANGE_RECORD_SIZE {
        n = CHANGE_RECORD_SIZE;
    }
    // SAFETY: n <= size_of::<ChangeRecord>() bytes of the scratch record.
    let bytes = unsafe { core::slice::from_raw_parts(out.cast::<u8>().cast_const(), n) };
    send(EventKind::FileChange, bytes);
    Ok(())
}
