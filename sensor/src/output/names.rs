//! Falco's renderings of kernel numbers: errno names, capability names, mount flag names.

/// `evt.res`: `SUCCESS` for a non-negative return, else the errno name (or the number).
pub fn res(ret: i64) -> String {
    if ret >= 0 {
        return "SUCCESS".into();
    }
    failed_with(ret).map_or_else(|| ret.to_string(), str::to_string)
}

/// The errno name of a failed call's (negative) return value, if it is a known errno.
pub fn failed_with(ret: i64) -> Option<&'static str> {
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
    }

    #[test]
    fn caps_in_bit_order() {
        assert_eq!(caps(0), "");
        assert_eq!(caps((1 << 21) | 1), "CAP_CHOWN CAP_SYS_ADMIN");
        assert!(caps(u64::MAX).ends_with("CAP_CHECKPOINT_RESTORE"));
    }

    #[test]
    fn mount_flags_as_falco_renders_them() {
        assert_eq!(mount_flags(0), "NONE");
        assert_eq!(mount_flags((1 << 12) | (1 << 14)), "BIND|REC");
        assert_eq!(mount_flags(0xC0ED_0000 | 1), "RDONLY");
        assert_eq!(mount_flags(1 << 40), "0x10000000000");
    }
}
