//! Falco's renderings of kernel numbers, defined once for every field that shows them (and so
//! for `--dump-events`, which shows the fields): return values (`evt.res`, a `res` parameter),
//! errno names, capability names, mount, umount, exec and open flag names, octal modes,
//! `AT_FDCWD`, socket families, dup3's flags; the privilege calls' arguments in [`privilege`].

pub mod file_change;
mod privilege;

use std::borrow::Cow;

pub use privilege::{bpf_cmd, clone_flags, finit_module_flags, ptrace_request, userfaultfd_flags};

/// `evt.res`: `SUCCESS` for a non-negative return, else the errno name (or the number).
pub fn res(ret: i64) -> Cow<'static, str> {
    if ret >= 0 {
        return Cow::Borrowed("SUCCESS");
    }
    number_or_errno(ret)
}

/// A return value as a parameter shows it (`evt.arg.res`, a failed call's fd): the errno name
/// when negative and known, else the number.
pub fn number_or_errno(ret: i64) -> Cow<'static, str> {
    let name = if ret < 0 { failed_with(ret) } else { None };
    name.map_or_else(|| Cow::Owned(ret.to_string()), Cow::Borrowed)
}

/// The errno name of a failed call's (negative) return value, if it is a known errno.
fn failed_with(ret: i64) -> Option<&'static str> {
    // A record may carry any value: negating i64::MIN overflows (the decode fuzz target found
    // it, through each of the three renderings of a result).
    ret.checked_neg().and_then(errno_name)
}

fn errno_name(e: i64) -> Option<&'static str> {
    ERRNO.iter().find(|(n, _)| *n == e).map(|(_, s)| *s)
}

#[rustfmt::skip]
const ERRNO: &[(i64, &str)] = &[
    (1, "EPERM"), (2, "ENOENT"), (3, "ESRCH"), (4, "EINTR"), (5, "EIO"), (6, "ENXIO"),
    (7, "E2BIG"), (8, "ENOEXEC"), (9, "EBADF"), (10, "ECHILD"), (11, "EAGAIN"), (12, "ENOMEM"),
    (13, "EACCES"), (14, "EFAULT"), (15, "ENOTBLK"), (16, "EBUSY"), (17, "EEXIST"), (18, "EXDEV"),
    (19, "ENODEV"), (20, "ENOTDIR"), (21, "EISDIR"), (22, "EINVAL"), (23, "ENFILE"),
    (24, "EMFILE"), (25, "ENOTTY"), (26, "ETXTBSY"), (27, "EFBIG"), (28, "ENOSPC"),
    (29, "ESPIPE"), (30, "EROFS"), (31, "EMLINK"), (32, "EPIPE"), (36, "ENAMETOOLONG"),
    (38, "ENOSYS"), (39, "ENOTEMPTY"), (40, "ELOOP"), (61, "ENODATA"), (62, "ETIME"),
    (75, "EOVERFLOW"), (88, "ENOTSOCK"), (89, "EDESTADDRREQ"), (90, "EMSGSIZE"),
    (91, "EPROTOTYPE"), (92, "ENOPROTOOPT"), (93, "EPROTONOSUPPORT"), (95, "EOPNOTSUPP"),
    (97, "EAFNOSUPPORT"), (98, "EADDRINUSE"), (99, "EADDRNOTAVAIL"), (100, "ENETDOWN"),
    (101, "ENETUNREACH"), (103, "ECONNABORTED"), (104, "ECONNRESET"), (105, "ENOBUFS"),
    (106, "EISCONN"), (107, "ENOTCONN"), (110, "ETIMEDOUT"), (111, "ECONNREFUSED"),
    (113, "EHOSTUNREACH"), (114, "EALREADY"), (115, "EINPROGRESS"), (122, "EDQUOT"),
];

/// Capability names in bit order (`CAP_CHOWN` = bit 0 … `CAP_CHECKPOINT_RESTORE` = bit 40).
#[rustfmt::skip]
const CAPS: [&str; 41] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/// `thread.cap_*`: set capability names in bit order, space separated, `""` when none.
pub fn caps(mask: u64) -> String {
    CAPS.iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" ")
}

/// mount(2) flags in the kernel's bit order, named without `MS_` as Falco renders them.
#[rustfmt::skip]
const MOUNT_FLAGS: &[(u64, &str)] = &[
    (1, "RDONLY"), (2, "NOSUID"), (4, "NODEV"), (8, "NOEXEC"), (16, "SYNCHRONOUS"),
    (32, "REMOUNT"), (64, "MANDLOCK"), (128, "DIRSYNC"), (1 << 10, "NOATIME"),
    (1 << 11, "NODIRATIME"), (1 << 12, "BIND"), (1 << 13, "MOVE"), (1 << 14, "REC"),
    (1 << 15, "SILENT"), (1 << 16, "POSIXACL"), (1 << 17, "UNBINDABLE"), (1 << 18, "PRIVATE"),
    (1 << 19, "SLAVE"), (1 << 20, "SHARED"), (1 << 21, "RELATIME"), (1 << 22, "KERNMOUNT"),
    (1 << 23, "I_VERSION"), (1 << 24, "STRICTATIME"), (1 << 25, "LAZYTIME"),
    (1 << 30, "ACTIVE"), (1 << 31, "NOUSER"),
];

/// `evt.arg.flags` of mount: `|`-joined names; `NONE` for 0. The legacy magic number
/// `0xC0ED` in the upper 16 bits (MS_MGC_VAL) carries no meaning and is ignored; unknown bits
/// are appended as hex so nothing is hidden.
pub fn mount_flags(flags: u64) -> String {
    let mut rest = if flags >> 16 == 0xC0ED {
        flags & 0xffff
    } else {
        flags
    };
    let mut out: Vec<String> = Vec::new();
    for (bit, name) in MOUNT_FLAGS {
        if rest & bit != 0 {
            out.push((*name).to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    if out.is_empty() {
        "NONE".into()
    } else {
        out.join("|")
    }
}

/// umount2(2) flags, named as Falco names them.
const UMOUNT_FLAGS: &[(u64, &str)] = &[(1, "FORCE"), (2, "DETACH"), (4, "EXPIRE"), (8, "NOFOLLOW")];

/// umount2's `flags`: `|`-joined names; `None` (the number is shown) for no flag or an unknown
/// bit.
pub fn umount_flags(flags: u64) -> Option<String> {
    let set: Vec<&str> = UMOUNT_FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() || flags & !0xf != 0 {
        return None;
    }
    Some(set.join("|"))
}

/// Falco's exec flags (`PPM_EXE_*`) Lanner knows: the executable is in the overlay upper
/// layer, or a memfd. `EXE_WRITABLE` and `EXE_LOWER_LAYER` are not captured.
pub const EXE_UPPER_LAYER: i64 = 1 << 1;
pub const EXE_FROM_MEMFD: i64 = 1 << 2;
const EXE_FLAGS: &[(i64, &str)] = &[
    (EXE_UPPER_LAYER, "EXE_UPPER_LAYER"),
    (EXE_FROM_MEMFD, "EXE_FROM_MEMFD"),
];

/// An exec's `flags`: `|`-joined names; `None` (Falco shows the number) for none.
pub fn exe_flags(bits: i64) -> Option<String> {
    let set: Vec<&str> = EXE_FLAGS
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    (!set.is_empty()).then(|| set.join("|"))
}

/// Falco's rendering of a flags parameter (`PT_FLAGS*`) from its `(bit, name)` table: walking
/// the table in order, a name whose bits are all still set is shown and its bits cleared (so
/// `O_RDWR` hides `O_RDONLY`), a 0 entry names 0, and the walk ends at a name equal to the whole
/// value. `|`-joined; `None` when nothing matched (Falco then shows the number).
pub fn falco_flags(table: &[(u32, &str)], value: u32) -> Option<String> {
    let mut rest = value;
    let mut out: Vec<&str> = Vec::new();
    for (bits, name) in table {
        let hit = if *bits == 0 {
            value == 0
        } else {
            rest != 0 && rest & bits == *bits
        };
        if hit {
            out.push(name);
            rest &= !bits;
            if *bits == value {
                break;
            }
        }
    }
    (!out.is_empty()).then(|| out.join("|"))
}

/// Falco's rendering of an enum parameter (`PT_ENUMFLAGS*`): every name of the table equal to
/// the value, `|`-joined (a value may have two names); `None` when none is.
pub fn falco_enum(table: &[(u32, &str)], value: u32) -> Option<String> {
    let names: Vec<&str> = table
        .iter()
        .filter(|(v, _)| *v == value)
        .map(|(_, n)| *n)
        .collect();
    (!names.is_empty()).then(|| names.join("|"))
}

use lanner_common::net_fd::SOCKET_FAMILIES;

/// socket's `domain`: the family's names; `None` (the number is shown) for a family Falco
/// has no name for.
pub fn socket_family(domain: u64) -> Option<String> {
    falco_enum(SOCKET_FAMILIES, u32::try_from(domain).ok()?)
}

/// A fd parameter (`PT_FD`) as Falco shows it when it does not know the fd's name: `AT_FDCWD`
/// for -100, the errno name of a negative one (a failed call's result), else the number.
pub fn fd(fd: i64) -> Cow<'static, str> {
    if fd == -100 {
        Cow::Borrowed("AT_FDCWD")
    } else {
        number_or_errno(fd)
    }
}

/// dup3's `flags` as Falco renders them: `O_CLOEXEC` (the only flag dup3 takes), else
/// `O_NONE`.
pub fn dup3_flags(flags: u64) -> &'static str {
    const O_CLOEXEC: u64 = 0o2000000;
    if flags & O_CLOEXEC != 0 {
        "O_CLOEXEC"
    } else {
        "O_NONE"
    }
}

/// Falco's open flags (`PPM_O_*`, `lanner_common::file::open::ppm`) in its formatter's order.
#[rustfmt::skip]
const OPEN_FLAGS: &[(u32, &str)] = {
    use lanner_common::file::open::ppm::*;
    &[
        (O_LARGEFILE, "O_LARGEFILE"), (O_DIRECTORY, "O_DIRECTORY"), (O_DIRECT, "O_DIRECT"),
        (O_TRUNC, "O_TRUNC"), (O_SYNC, "O_SYNC"), (O_NONBLOCK, "O_NONBLOCK"), (O_EXCL, "O_EXCL"),
        (O_DSYNC, "O_DSYNC"), (O_APPEND, "O_APPEND"), (O_CREAT, "O_CREAT"), (O_RDWR, "O_RDWR"),
        (O_WRONLY, "O_WRONLY"), (O_RDONLY, "O_RDONLY"), (O_CLOEXEC, "O_CLOEXEC"), (0, "O_NONE"),
        (O_TMPFILE, "O_TMPFILE"),
    ]
};

/// The names `evt.arg.flags` of an open can show (for the prefilter's vocabulary test).
pub fn open_flag_names() -> impl Iterator<Item = &'static str> {
    OPEN_FLAGS.iter().map(|(_, n)| *n)
}

/// `evt.arg.flags` of an open, from Falco's flags (`lanner_common::file::open::ppm_flags`):
/// `O_RDONLY|O_CLOEXEC`, `O_TRUNC|O_CREAT|O_WRONLY`, `O_RDWR`.
pub fn open_flags(ppm: u32) -> String {
    falco_flags(OPEN_FLAGS, ppm).unwrap_or_else(|| ppm.to_string())
}

/// A number as C's `%#o` writes it (Falco's octal parameters, `mode` of an open): `0644`,
/// and `0` for zero.
pub fn octal(v: u32) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("0{v:o}")
    }
}

/// openat2's `RESOLVE_*` (the kernel's bits) as Falco's (`PPM_RESOLVE_*`).
pub fn ppm_resolve(k: u32) -> u32 {
    // (kernel, Falco): NO_XDEV, NO_MAGICLINKS, NO_SYMLINKS, BENEATH, IN_ROOT, CACHED.
    const MAP: [(u32, u32); 6] = [
        (0x01, 1 << 4),
        (0x02, 1 << 2),
        (0x04, 1 << 3),
        (0x08, 1 << 0),
        (0x10, 1 << 1),
        (0x20, 1 << 5),
    ];
    MAP.iter()
        .filter(|(kb, _)| k & kb != 0)
        .fold(0, |acc, (_, pb)| acc | pb)
}

/// openat2's `resolve` by Falco's names; `None` (the number is shown) for none.
pub fn resolve_flags(ppm: u32) -> Option<String> {
    #[rustfmt::skip]
    const RESOLVE: &[(u32, &str)] = &[
        (1 << 0, "RESOLVE_BENEATH"), (1 << 1, "RESOLVE_IN_ROOT"),
        (1 << 2, "RESOLVE_NO_MAGICLINKS"), (1 << 3, "RESOLVE_NO_SYMLINKS"),
        (1 << 4, "RESOLVE_NO_XDEV"), (1 << 5, "RESOLVE_CACHED"),
    ];
    falco_flags(RESOLVE, ppm)
}

/// A directory fd's name when it has one: `AT_FDCWD` for -100 (Lanner does not know the
/// names of other fds).
pub fn dirfd(fd: i32) -> Option<&'static str> {
    (fd == -100).then_some("AT_FDCWD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn res_names_success_errno_and_unknown() {
        assert_eq!(res(0), "SUCCESS");
        assert_eq!(res(7), "SUCCESS");
        assert_eq!(res(-2), "ENOENT");
        assert_eq!(res(-115), "EINPROGRESS");
        assert_eq!(res(-4000), "-4000");
        // Records carry any value (the fuzzer's decode target found this one): negating it
        // overflows, which only a build with overflow checks notices.
        assert_eq!(res(i64::MIN), i64::MIN.to_string());
        assert_eq!(number_or_errno(3), "3");
        assert_eq!(number_or_errno(-13), "EACCES");
        assert_eq!(number_or_errno(-4000), "-4000");
        assert_eq!(number_or_errno(i64::MIN), i64::MIN.to_string());
    }

    #[test]
    fn umount_exe_and_dirfd_names() {
        assert_eq!(umount_flags(0), None);
        assert_eq!(umount_flags(2).as_deref(), Some("DETACH"));
        assert_eq!(umount_flags(3).as_deref(), Some("FORCE|DETACH"));
        assert_eq!(umount_flags(0x12), None);
        assert_eq!(exe_flags(0), None);
        let both = EXE_UPPER_LAYER | EXE_FROM_MEMFD;
        assert_eq!(
            exe_flags(both).as_deref(),
            Some("EXE_UPPER_LAYER|EXE_FROM_MEMFD")
        );
        assert_eq!(dirfd(-100), Some("AT_FDCWD"));
        assert_eq!(dirfd(3), None);
    }

    #[test]
    fn falco_flag_and_enum_walks() {
        let t = [(3, "RW"), (2, "W"), (1, "R"), (4, "X"), (0, "NONE")];
        assert_eq!(falco_flags(&t, 3).as_deref(), Some("RW"));
        assert_eq!(falco_flags(&t, 5).as_deref(), Some("R|X"));
        assert_eq!(falco_flags(&t, 0).as_deref(), Some("NONE"));
        assert_eq!(falco_flags(&t, 8), None);
        assert_eq!(falco_flags(&t[..4], 0), None);
        assert_eq!(
            falco_enum(&[(1, "A"), (1, "B"), (2, "C")], 1).as_deref(),
            Some("A|B")
        );
        assert_eq!(falco_enum(&[(1, "A")], 2), None);
        assert_eq!(fd(-100), "AT_FDCWD");
        assert_eq!(fd(-9), "EBADF");
        assert_eq!(fd(4), "4");
    }

    #[test]
    fn socket_families_and_dup3_flags() {
        assert_eq!(socket_family(17).as_deref(), Some("AF_PACKET"));
        assert_eq!(socket_family(2).as_deref(), Some("AF_INET"));
        assert_eq!(socket_family(10).as_deref(), Some("AF_INET6"));
        assert_eq!(socket_family(1).as_deref(), Some("AF_LOCAL|AF_UNIX"));
        assert_eq!(socket_family(16).as_deref(), Some("AF_ROUTE|AF_NETLINK"));
        assert_eq!(socket_family(44), None);
        assert_eq!(dup3_flags(0o2000000), "O_CLOEXEC");
        assert_eq!(dup3_flags(0), "O_NONE");
    }

    #[test]
    fn caps_in_bit_order() {
        assert_eq!(caps(0), "");
        assert_eq!(caps((1 << 21) | 1), "CAP_CHOWN CAP_SYS_ADMIN");
        assert!(caps(u64::MAX).ends_with("CAP_CHECKPOINT_RESTORE"));
    }

    #[test]
    fn open_flags_as_falco_renders_them() {
        use lanner_common::file::open::{kernel as k, ppm_flags};
        let show = |kflags| open_flags(ppm_flags(kflags));
        assert_eq!(show(0), "O_RDONLY");
        assert_eq!(show(k::O_CLOEXEC), "O_RDONLY|O_CLOEXEC");
        assert_eq!(show(k::O_RDWR), "O_RDWR");
        assert_eq!(
            show(k::O_WRONLY | k::O_CREAT | k::O_TRUNC | k::O_CLOEXEC),
            "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC"
        );
        // Falco's driver tests the two-bit constants: O_DIRECTORY is also O_TMPFILE to it,
        // O_DSYNC also O_SYNC.
        assert_eq!(
            show(k::O_DIRECTORY | k::O_CLOEXEC),
            "O_DIRECTORY|O_RDONLY|O_CLOEXEC|O_TMPFILE"
        );
        assert_eq!(show(k::O_DSYNC), "O_SYNC|O_DSYNC|O_RDONLY");
        assert_eq!(open_flags(0), "O_NONE");
        assert_eq!(octal(0), "0");
        assert_eq!(octal(0o644), "0644");
        assert_eq!(octal(0o4755), "04755");
        assert_eq!(resolve_flags(ppm_resolve(0)), None);
        assert_eq!(
            resolve_flags(ppm_resolve(0x10 | 0x02)).as_deref(),
            Some("RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS")
        );
    }

    #[test]
    fn mount_flags_as_falco_renders_them() {
        assert_eq!(mount_flags(0), "NONE");
        assert_eq!(mount_flags((1 << 12) | (1 << 14)), "BIND|REC");
        assert_eq!(mount_flags(0xC0ED_0000 | 1), "RDONLY");
        assert_eq!(mount_flags(1 << 40), "0x10000000000");
    }
}
