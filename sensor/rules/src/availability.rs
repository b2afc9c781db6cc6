//! Which fields Lanner's sensor can ever fill, per event type: one entry per event type, made
//! of groups of fields. The ruleset uses it to settle checks at load time (`specialize`): a
//! check on a field the sensor never has for an event type is false on every such event, so it
//! costs nothing per event. The sensor's `--dump-events` shows exactly these fields for each
//! event (the same table decides its keys), and its extraction is tested against it (a field
//! it fills must be claimed here), so a claim that is too narrow — which would silently drop
//! alerts — fails the tests.
//!
//! A new event type is one entry in [`TABLE`]: the groups it has, and a new group for fields
//! only it fills.

use crate::{
    evttype::EvtType,
    fields::Field::{self, *},
};

/// What every event of a thread has: the event's own description, the process, its thread and
/// ancestors, the user, the container and the pod.
#[rustfmt::skip]
const COMMON: &[Field] = &[
    EvtType, EvtArg, EvtRawarg, EvtArgs, EvtFailed, EvtTime, EvtTimeS, EvtTimeIso8601,
    EvtDatetime, EvtDatetimeS, EvtRawtime, EvtDir, EvtSource, EvtHostname,
    // False, not missing, on events that are no open (as Falco).
    EvtIsOpenRead, EvtIsOpenWrite, EvtIsOpenExec,
    ProcPid, ProcPpid, ProcVpid, ProcName, ProcExe, ProcExepath, ProcArgs, ProcCmdline,
    ProcExeline, ProcCmdnargs, ProcCwd,
    // The process table keeps the tty, so it is not exec-only.
    ProcTty,
    ProcVpgid, ProcSname, ProcIsVpgidLeader, ProcPname, ProcPexe, ProcPexepath, ProcPcmdline,
    ProcAname, ProcAexe, ProcAexepath, ProcApid, ProcAcmdline, ProcDuration,
    ThreadTid, ThreadVtid,
    UserUid, UserName, UserLoginname, GroupGid, GroupName,
    ContainerId, ContainerFullId, ContainerName, ContainerType, ContainerImage,
    ContainerImageRepository, ContainerImageTag, ContainerPrivileged, ContainerStartTs,
    ContainerDuration, ContainerMounts, ContainerMountSource, ContainerMountDest,
    K8sNsName, K8sPodName, K8sPodUid, K8sPodId, K8sPodLabel, K8sPodLabels, K8sPodIp,
    LannerPathTruncated,
];

/// The return value of a syscall (a process exit has none).
const RESULT: &[Field] = &[EvtRes, EvtRawres];

/// What only the exec record carries: the new image's and the credentials' state at exec.
#[rustfmt::skip]
const EXEC: &[Field] = &[
    ProcEnv, ProcSid, ProcPgid, ProcIsExeUpperLayer, ProcIsExeFromMemfd, UserEuid, UserLoginuid,
];

/// The effective capabilities, read by the records that carry them: an exec's (after it), a
/// privilege call's (when it was made), and the file calls' (container escapes test them:
/// `release_agent`).
const CAP_EFFECTIVE: &[Field] = &[ThreadCapEffective];

/// The permitted capabilities: an exec's and a privilege call's.
const CAP_PERMITTED: &[Field] = &[ThreadCapPermitted];

/// The fd of the event: its number, name and kind.
const FD: &[Field] = &[FdNum, FdName, FdType, FdTypechar];

/// The socket of a connect, or the fd of a network-family call: its tuple and state.
#[rustfmt::skip]
const SOCKET: &[Field] = &[
    FdSockfamily, FdL4proto, FdConnected, FdNameChanged,
    FdCip, FdSip, FdLip, FdRip, FdCport, FdSport, FdLport, FdRport,
];

/// A file named by a path: the path as passed, and the parts of its resolved name.
const FILE: &[Field] = &[FdNameraw, FdDirectory, FdFilename];

/// The one path a file call operates on (`fs.path.name`): the opens' (but creat's, as in
/// Falco), unlink's, rmdir's, mkdir's, the chmods'.
const FS_PATH: &[Field] = &[FsPathName, FsPathNameraw];

/// The two paths of a rename, a link or a symlink (`fs.path.source`, `fs.path.target`).
const FS_PATHS: &[Field] = &[FsPathSource, FsPathSourceraw, FsPathTarget, FsPathTargetraw];

/// The data a call received: recvfrom's (Falco's snaplen of it).
const BUFFER: &[Field] = &[EvtBuffer];

/// The fields of each event type Lanner captures, as groups.
#[rustfmt::skip]
pub static TABLE: &[(EvtType, &[&[Field]])] = &[
    (EvtType::Execve, &[COMMON, RESULT, EXEC, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::Execveat, &[COMMON, RESULT, EXEC, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::Mount, &[COMMON, RESULT]),
    (EvtType::Umount2, &[COMMON, RESULT]),
    (EvtType::Fsopen, &[COMMON, RESULT]),
    (EvtType::Fsmount, &[COMMON, RESULT]),
    (EvtType::MoveMount, &[COMMON, RESULT]),
    (EvtType::OpenTree, &[COMMON, RESULT]),
    (EvtType::Connect, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Socket, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Dup, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Dup2, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Dup3, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Accept, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Accept4, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Listen, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Sendto, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Sendmsg, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Recvfrom, &[COMMON, RESULT, FD, SOCKET, BUFFER]),
    (EvtType::Recvmsg, &[COMMON, RESULT, FD, SOCKET]),
    (EvtType::Clone, &[COMMON, RESULT]),
    (EvtType::Procexit, &[COMMON]),
    (EvtType::Open, &[COMMON, RESULT, FD, FILE, CAP_EFFECTIVE, FS_PATH]),
    (EvtType::Openat, &[COMMON, RESULT, FD, FILE, CAP_EFFECTIVE, FS_PATH]),
    (EvtType::Openat2, &[COMMON, RESULT, FD, FILE, CAP_EFFECTIVE, FS_PATH]),
    (EvtType::Creat, &[COMMON, RESULT, FD, FILE, CAP_EFFECTIVE]),
    (EvtType::Ptrace, &[COMMON, RESULT, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::Setuid, &[COMMON, RESULT, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::Setns, &[COMMON, RESULT, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::Unshare, &[COMMON, RESULT, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::InitModule, &[COMMON, RESULT, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::FinitModule, &[COMMON, RESULT, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::Bpf, &[COMMON, RESULT, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::Userfaultfd, &[COMMON, RESULT, CAP_EFFECTIVE, CAP_PERMITTED]),
    (EvtType::Unlink, &[COMMON, RESULT, FS_PATH]),
    (EvtType::Unlinkat, &[COMMON, RESULT, FS_PATH]),
    (EvtType::Rmdir, &[COMMON, RESULT, FS_PATH]),
    (EvtType::Mkdir, &[COMMON, RESULT, FS_PATH]),
    (EvtType::Mkdirat, &[COMMON, RESULT, FS_PATH]),
    (EvtType::Chmod, &[COMMON, RESULT, FS_PATH]),
    (EvtType::Fchmod, &[COMMON, RESULT, FS_PATH]),
    (EvtType::Fchmodat, &[COMMON, RESULT, FS_PATH]),
    (EvtType::Rename, &[COMMON, RESULT, FS_PATHS]),
    (EvtType::Renameat, &[COMMON, RESULT, FS_PATHS]),
    (EvtType::Renameat2, &[COMMON, RESULT, FS_PATHS]),
    (EvtType::Link, &[COMMON, RESULT, FS_PATHS]),
    (EvtType::Linkat, &[COMMON, RESULT, FS_PATHS]),
    (EvtType::Symlink, &[COMMON, RESULT, FS_PATHS]),
    (EvtType::Symlinkat, &[COMMON, RESULT, FS_PATHS]),
];

/// Fields no event of Lanner's has: they belong to events it does not capture (I/O buffers but
/// recvfrom's) or to data it does not read (exe inode times, DNS names). Listed so that every
/// field is placed somewhere (a test holds the table to it).
#[rustfmt::skip]
pub const NEVER: &[Field] = &[
    EvtNum,
    ProcIsExeWritable, ProcExeIno, ProcExeInoCtime, ProcExeInoMtime,
    ProcExeInoCtimeDurationProcStart, ThreadCapInheritable,
    FdCipName, FdSipName, FdLipName, FdRipName,
];

/// Filter-only fields the engine answers from others (`fd.ip` is `fd.cip` or `fd.sip`, …):
/// never extracted themselves.
#[rustfmt::skip]
pub const DERIVED: &[Field] = &[FdIp, FdPort, FdNet, FdCnet, FdSnet, FdLnet, FdRnet];

/// The groups of fields events of type `ty` have; none for a type Lanner does not capture.
fn groups(ty: EvtType) -> &'static [&'static [Field]] {
    TABLE
        .iter()
        .find(|(t, _)| *t == ty)
        .map_or(&[], |(_, groups)| groups)
}

/// The fields an event of type `ty` can have, each once, in the table's order.
pub fn fields(ty: EvtType) -> impl Iterator<Item = Field> {
    groups(ty).iter().flat_map(|g| g.iter().copied())
}

/// Can Lanner's sensor have a value for `field` on an event of type `ty`?
pub fn lanner(ty: EvtType, field: Field) -> bool {
    groups(ty).iter().any(|g| g.contains(&field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::FIELDS;

    /// Every field is in exactly one group or list, so a new field cannot be forgotten (it
    /// would be settled false on every event, and never shown).
    #[test]
    fn every_field_is_placed_once() {
        let lists: [&[Field]; 13] = [
            COMMON,
            RESULT,
            EXEC,
            CAP_EFFECTIVE,
            CAP_PERMITTED,
            FD,
            SOCKET,
            FILE,
            FS_PATH,
            FS_PATHS,
            BUFFER,
            NEVER,
            DERIVED,
        ];
        for d in FIELDS {
            let n: usize = lists
                .iter()
                .map(|l| l.iter().filter(|f| **f == d.field).count())
                .sum();
            assert_eq!(n, 1, "{} is in {n} groups", d.name);
        }
    }

    #[test]
    fn every_captured_type_has_one_entry_without_repeats() {
        for ty in EvtType::ALL {
            let entries = TABLE.iter().filter(|(t, _)| *t == ty).count();
            assert_eq!(entries, 1, "{} has {entries} entries", ty.name());
            let all: Vec<Field> = fields(ty).collect();
            let mut unique = all.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), all.len(), "{} repeats a field", ty.name());
        }
    }

    #[test]
    fn what_each_kind_of_event_has() {
        assert!(lanner(EvtType::Connect, FdSip));
        assert!(!lanner(EvtType::Execve, FdSip));
        assert!(lanner(EvtType::Execveat, ProcEnv));
        assert!(!lanner(EvtType::Mount, ProcEnv));
        assert!(lanner(EvtType::Clone, EvtRes));
        assert!(!lanner(EvtType::Procexit, EvtRes));
        assert!(!lanner(EvtType::Connect, FdNameraw));
        assert!(lanner(EvtType::Openat, FdNameraw));
        assert!(lanner(EvtType::Creat, ThreadCapEffective));
        assert!(!lanner(EvtType::Openat2, FdSip));
        assert!(!lanner(EvtType::Connect, FdIp));
        assert!(lanner(EvtType::Procexit, EvtIsOpenRead));
        assert!(lanner(EvtType::InitModule, ThreadCapEffective));
        assert!(lanner(EvtType::Unshare, ThreadCapPermitted));
        assert!(lanner(EvtType::Execve, ThreadCapPermitted));
        assert!(!lanner(EvtType::Ptrace, ProcEnv));
        assert!(!lanner(EvtType::Mount, ThreadCapEffective));
        assert!(lanner(EvtType::Unlinkat, FsPathName));
        assert!(!lanner(EvtType::Unlinkat, FsPathSource));
        assert!(lanner(EvtType::Renameat2, FsPathTarget));
        assert!(
            !lanner(EvtType::Creat, FsPathName),
            "Falco has no fs.path for creat"
        );
        assert!(!lanner(EvtType::Rename, FdName));
    }
}
