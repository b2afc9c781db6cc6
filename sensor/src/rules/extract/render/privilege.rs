//! Falco's renderings of the privilege calls' arguments: ptrace requests, `CLONE_*` flags of
//! unshare and setns, bpf commands, finit_module and userfaultfd flags. Falco's driver first
//! converts the kernel's numbers to its own (`PPM_*`, which `evt.rawarg.*` shows), then names
//! them from its tables in the tables' order (libs `driver/flags_table.c`,
//! `driver/ppm_flag_helpers.h`, `driver/ppm_events_public.h`); the tables here keep that order.

use super::{falco_enum, falco_flags};

/// ptrace requests on x86-64: (kernel number, Falco's `PPM_PTRACE_*`, name). A request not
/// here is Falco's `PTRACE_UNKNOWN` (0).
#[rustfmt::skip]
const PTRACE_REQUESTS: &[(u64, i64, &str)] = &[
    (0, 1, "PTRACE_TRACEME"), (1, 2, "PTRACE_PEEKTEXT"), (2, 3, "PTRACE_PEEKDATA"),
    (3, 4, "PTRACE_PEEKUSR"), (4, 5, "PTRACE_POKETEXT"), (5, 6, "PTRACE_POKEDATA"),
    (6, 7, "PTRACE_POKEUSR"), (7, 8, "PTRACE_CONT"), (8, 9, "PTRACE_KILL"),
    (9, 10, "PTRACE_SINGLESTEP"), (16, 11, "PTRACE_ATTACH"), (17, 12, "PTRACE_DETACH"),
    (24, 13, "PTRACE_SYSCALL"), (0x4200, 14, "PTRACE_SETOPTIONS"),
    (0x4201, 15, "PTRACE_GETEVENTMSG"), (0x4202, 16, "PTRACE_GETSIGINFO"),
    (0x4203, 17, "PTRACE_SETSIGINFO"), (0x4204, 18, "PTRACE_GETREGSET"),
    (0x4205, 19, "PTRACE_SETREGSET"), (0x4206, 20, "PTRACE_SEIZE"),
    (0x4207, 21, "PTRACE_INTERRUPT"), (0x4208, 22, "PTRACE_LISTEN"),
    (0x4209, 23, "PTRACE_PEEKSIGINFO"), (0x420a, 24, "PTRACE_GETSIGMASK"),
    (0x420b, 25, "PTRACE_SETSIGMASK"), (12, 26, "PTRACE_GETREGS"), (13, 27, "PTRACE_SETREGS"),
    (14, 28, "PTRACE_GETFPREGS"), (15, 29, "PTRACE_SETFPREGS"), (18, 30, "PTRACE_GETFPXREGS"),
    (19, 31, "PTRACE_SETFPXREGS"), (21, 32, "PTRACE_OLDSETOPTIONS"),
    (25, 33, "PTRACE_GET_THREAD_AREA"), (26, 34, "PTRACE_SET_THREAD_AREA"),
    (30, 35, "PTRACE_ARCH_PRCTL"), (31, 36, "PTRACE_SYSEMU"),
    (32, 37, "PTRACE_SYSEMU_SINGLESTEP"), (33, 38, "PTRACE_SINGLEBLOCK"),
];

/// ptrace's `request`: Falco's number and name (`PTRACE_UNKNOWN`, 0, for one it has not).
pub fn ptrace_request(request: u64) -> (i64, &'static str) {
    PTRACE_REQUESTS
        .iter()
        .find(|(k, _, _)| *k == request)
        .map_or((0, "PTRACE_UNKNOWN"), |(_, ppm, name)| (*ppm, *name))
}

/// `CLONE_*` flags: (kernel bit, Falco's `PPM_CL_*` bit, name), in Falco's table order. The
/// libsinsp-only bits (`CLONE_INVERTED`, `NAME_CHANGED`, `CLOSED`, `CLONE_CHILD_IN_PIDNS`)
/// never come from a syscall, nor does `CLONE_STOPPED` (the kernel's bit is `CLONE_NEWCGROUP`
/// now); kernel bits not here (the exit signal, `CLONE_PIDFD`, `CLONE_NEWTIME`, …) are dropped
/// by Falco's conversion.
#[rustfmt::skip]
const CLONE_FLAGS: &[(u32, u32, &str)] = &[
    (0x0000_0400, 1 << 0, "CLONE_FILES"), (0x0000_0200, 1 << 1, "CLONE_FS"),
    (0x8000_0000, 1 << 2, "CLONE_IO"), (0x0800_0000, 1 << 3, "CLONE_NEWIPC"),
    (0x4000_0000, 1 << 4, "CLONE_NEWNET"), (0x0002_0000, 1 << 5, "CLONE_NEWNS"),
    (0x2000_0000, 1 << 6, "CLONE_NEWPID"), (0x0400_0000, 1 << 7, "CLONE_NEWUTS"),
    (0x0000_8000, 1 << 8, "CLONE_PARENT"), (0x0010_0000, 1 << 9, "CLONE_PARENT_SETTID"),
    (0x0000_2000, 1 << 10, "CLONE_PTRACE"), (0x0000_0800, 1 << 11, "CLONE_SIGHAND"),
    (0x0004_0000, 1 << 12, "CLONE_SYSVSEM"), (0x0001_0000, 1 << 13, "CLONE_THREAD"),
    (0x0080_0000, 1 << 14, "CLONE_UNTRACED"), (0x0000_0100, 1 << 15, "CLONE_VM"),
    (0x1000_0000, 1 << 20, "CLONE_NEWUSER"), (0x0020_0000, 1 << 23, "CLONE_CHILD_CLEARTID"),
    (0x0100_0000, 1 << 24, "CLONE_CHILD_SETTID"), (0x0008_0000, 1 << 25, "CLONE_SETTLS"),
    (0x0000_4000, 1 << 27, "CLONE_VFORK"), (0x0200_0000, 1 << 28, "CLONE_NEWCGROUP"),
];

/// unshare's `flags` and setns's `nstype`: Falco's bits, and their names (`None`: no known
/// flag, the number is shown).
pub fn clone_flags(kernel: u32) -> (u32, Option<String>) {
    let ppm = CLONE_FLAGS
        .iter()
        .filter(|(k, _, _)| kernel & k != 0)
        .fold(0, |acc, (_, p, _)| acc | p);
    let table: Vec<(u32, &str)> = CLONE_FLAGS.iter().map(|(_, p, n)| (*p, *n)).collect();
    (ppm, falco_flags(&table, ppm))
}

/// bpf commands, numbered as the kernel numbers them (Falco maps them one to one). 10 has two
/// names, and Falco shows both.
#[rustfmt::skip]
const BPF_COMMANDS: &[(u32, &str)] = &[
    (0, "BPF_MAP_CREATE"), (1, "BPF_MAP_LOOKUP_ELEM"), (2, "BPF_MAP_UPDATE_ELEM"),
    (3, "BPF_MAP_DELETE_ELEM"), (4, "BPF_MAP_GET_NEXT_KEY"), (5, "BPF_PROG_LOAD"),
    (6, "BPF_OBJ_PIN"), (7, "BPF_OBJ_GET"), (8, "BPF_PROG_ATTACH"), (9, "BPF_PROG_DETACH"),
    (10, "BPF_PROG_TEST_RUN"), (10, "BPF_PROG_RUN"), (11, "BPF_PROG_GET_NEXT_ID"),
    (12, "BPF_MAP_GET_NEXT_ID"), (13, "BPF_PROG_GET_FD_BY_ID"), (14, "BPF_MAP_GET_FD_BY_ID"),
    (15, "BPF_OBJ_GET_INFO_BY_FD"), (16, "BPF_PROG_QUERY"), (17, "BPF_RAW_TRACEPOINT_OPEN"),
    (18, "BPF_BTF_LOAD"), (19, "BPF_BTF_GET_FD_BY_ID"), (20, "BPF_TASK_FD_QUERY"),
    (21, "BPF_MAP_LOOKUP_AND_DELETE_ELEM"), (22, "BPF_MAP_FREEZE"), (23, "BPF_BTF_GET_NEXT_ID"),
    (24, "BPF_MAP_LOOKUP_BATCH"), (25, "BPF_MAP_LOOKUP_AND_DELETE_BATCH"),
    (26, "BPF_MAP_UPDATE_BATCH"), (27, "BPF_MAP_DELETE_BATCH"), (28, "BPF_LINK_CREATE"),
    (29, "BPF_LINK_UPDATE"), (30, "BPF_LINK_GET_FD_BY_ID"), (31, "BPF_LINK_GET_NEXT_ID"),
    (32, "BPF_ENABLE_STATS"), (33, "BPF_ITER_CREATE"), (34, "BPF_LINK_DETACH"),
    (35, "BPF_PROG_BIND_MAP"),
];

/// bpf's `cmd`: its name (`None`: the number is shown).
pub fn bpf_cmd(cmd: i32) -> Option<String> {
    falco_enum(BPF_COMMANDS, cmd as u32)
}

/// finit_module's `flags` (`MODULE_INIT_*`, the same bits in the kernel and in Falco).
const FINIT_MODULE_FLAGS: &[(u32, &str)] = &[
    (1, "MODULE_INIT_IGNORE_MODVERSIONS"),
    (2, "MODULE_INIT_IGNORE_VERMAGIC"),
    (4, "MODULE_INIT_COMPRESSED_FILE"),
];

/// finit_module's `flags`: Falco's bits (unknown kernel bits dropped) and their names.
pub fn finit_module_flags(kernel: u32) -> (u32, Option<String>) {
    let ppm = kernel & 7;
    (ppm, falco_flags(FINIT_MODULE_FLAGS, ppm))
}

/// Falco's open-flag names (`PPM_O_*`), in its table order.
#[rustfmt::skip]
const FILE_FLAGS: &[(u32, &str)] = &[
    (1 << 11, "O_LARGEFILE"), (1 << 10, "O_DIRECTORY"), (1 << 9, "O_DIRECT"), (1 << 8, "O_TRUNC"),
    (1 << 7, "O_SYNC"), (1 << 6, "O_NONBLOCK"), (1 << 5, "O_EXCL"), (1 << 4, "O_DSYNC"),
    (1 << 3, "O_APPEND"), (1 << 2, "O_CREAT"), (3, "O_RDWR"), (2, "O_WRONLY"), (1, "O_RDONLY"),
    (1 << 12, "O_CLOEXEC"), (0, "O_NONE"), (1 << 13, "O_TMPFILE"), (1 << 14, "O_F_CREATED"),
    (1 << 15, "FD_UPPER_LAYER"), (1 << 16, "FD_LOWER_LAYER"),
];

/// userfaultfd's `flags` as Falco shows them. Its driver stores the kernel's flags unconverted
/// and names them from its open-flag table, so `O_CLOEXEC|O_NONBLOCK` (0x80800) reads
/// `O_LARGEFILE` (0x800 is `PPM_O_LARGEFILE`; 0x80000 names nothing), 0 reads `O_NONE` and
/// `UFFD_USER_MODE_ONLY` (1) `O_RDONLY`. Reproduced as is: rules written against Falco's
/// output must match the same text here.
pub fn userfaultfd_flags(kernel: u32) -> Option<String> {
    falco_flags(FILE_FLAGS, kernel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptrace_requests_by_falco_number_and_name() {
        assert_eq!(ptrace_request(16), (11, "PTRACE_ATTACH"));
        assert_eq!(ptrace_request(0), (1, "PTRACE_TRACEME"));
        assert_eq!(ptrace_request(0x4206), (20, "PTRACE_SEIZE"));
        assert_eq!(ptrace_request(4), (5, "PTRACE_POKETEXT"));
        assert_eq!(ptrace_request(13), (27, "PTRACE_SETREGS"));
        // PTRACE_GET_SYSCALL_INFO: Falco has no name for it.
        assert_eq!(ptrace_request(0x420e), (0, "PTRACE_UNKNOWN"));
        assert_eq!(ptrace_request(u64::MAX), (0, "PTRACE_UNKNOWN"));
        let mut seen = std::collections::HashSet::new();
        for (k, ppm, _) in PTRACE_REQUESTS {
            assert!(seen.insert(*k) && (1..=38).contains(ppm), "{k}");
        }
    }

    #[test]
    fn clone_flags_in_falcos_order_and_numbers() {
        // CLONE_NEWNS | CLONE_NEWUSER
        let (ppm, names) = clone_flags(0x1002_0000);
        assert_eq!(ppm, (1 << 5) | (1 << 20));
        assert_eq!(names.as_deref(), Some("CLONE_NEWNS|CLONE_NEWUSER"));
        // CLONE_NEWNET alone (setns into a network namespace).
        assert_eq!(
            clone_flags(0x4000_0000),
            (1 << 4, Some("CLONE_NEWNET".into()))
        );
        // 0 (setns: any type) and bits Falco does not convert (CLONE_NEWTIME) show a number.
        assert_eq!(clone_flags(0), (0, None));
        assert_eq!(clone_flags(0x80), (0, None));
        // Every namespace at once, in Falco's order.
        let (_, all) = clone_flags(0x7e02_0000 | 0x8000_0000);
        assert_eq!(
            all.as_deref(),
            Some(
                "CLONE_IO|CLONE_NEWIPC|CLONE_NEWNET|CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWUTS|\
                 CLONE_NEWUSER|CLONE_NEWCGROUP"
            )
        );
    }

    #[test]
    fn bpf_commands_by_name_both_names_of_ten() {
        assert_eq!(bpf_cmd(5).as_deref(), Some("BPF_PROG_LOAD"));
        assert_eq!(bpf_cmd(0).as_deref(), Some("BPF_MAP_CREATE"));
        assert_eq!(
            bpf_cmd(10).as_deref(),
            Some("BPF_PROG_TEST_RUN|BPF_PROG_RUN")
        );
        assert_eq!(bpf_cmd(36), None);
        assert_eq!(bpf_cmd(-1), None);
    }

    #[test]
    fn module_and_userfaultfd_flags() {
        assert_eq!(finit_module_flags(0), (0, None));
        assert_eq!(
            finit_module_flags(3),
            (
                3,
                Some("MODULE_INIT_IGNORE_MODVERSIONS|MODULE_INIT_IGNORE_VERMAGIC".into())
            )
        );
        assert_eq!(finit_module_flags(8), (0, None));
        assert_eq!(userfaultfd_flags(0).as_deref(), Some("O_NONE"));
        assert_eq!(userfaultfd_flags(1).as_deref(), Some("O_RDONLY"));
        assert_eq!(userfaultfd_flags(0x80800).as_deref(), Some("O_LARGEFILE"));
        assert_eq!(userfaultfd_flags(0x80000), None);
    }
}
