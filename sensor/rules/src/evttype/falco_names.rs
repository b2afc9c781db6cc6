//! Every name Falco accepts as an `evt.type` value: a condition naming any other is a load
//! error ("unknown event type NAME"), as in Falco, which checks each value of an `evt.type`
//! comparison against its event table's names and its syscall names (libsinsp
//! `sinsp_filter_check_event::validate_filter_value`), for every operator.
//!
//! Data from falcosecurity/libs 0.25.4 (commit 80e695f6b123c26574cbc0f9230b33c911c71c49):
//! [`EVENT_TABLE`] is the set of names of `g_event_info` in `driver/event_table.c` (including
//! its `NA` and the meta events such as `procexit`, `container`, `asyncevent`), and
//! [`SYSCALLS`] the names of the `PPM_SC_X` entries of `driver/ppm_events_public.h`, lowercased
//! as `scap_get_ppm_sc_name` gives them (syscalls, and the tracepoints `sched_process_exit`,
//! `page_fault_user`, ...). Names plugins add (their async events) are not listed: Lanner loads
//! no plugins. Both lists are sorted (byte order) for binary search.

/// Names of the driver's event table.
#[rustfmt::skip]
const EVENT_TABLE: &[&str] = &[
    "NA", "accept", "accept4", "access", "asyncevent", "bind", "bpf", "brk", "capset", "chdir",
    "chmod", "chown", "chroot", "clone", "clone3", "close", "close_range", "connect", "container",
    "copy_file_range", "cpu_hotplug", "creat", "delete_module", "drop", "dup", "dup2", "dup3",
    "epoll_create", "epoll_create1", "epoll_wait", "eventfd", "eventfd2", "execve", "execveat",
    "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl", "finit_module", "flock", "fork",
    "fsconfig", "fstat", "fstat64", "futex", "getcwd", "getdents", "getdents64", "getegid",
    "geteuid", "getgid", "getpeername", "getresgid", "getresuid", "getrlimit", "getsockname",
    "getsockopt", "getuid", "groupadded", "groupdeleted", "infra", "init_module", "inotify_init",
    "inotify_init1", "io_uring_enter", "io_uring_register", "io_uring_setup", "ioctl", "k8s",
    "keyctl", "kill", "lchown", "link", "linkat", "listen", "llseek", "lseek", "lstat", "lstat64",
    "memfd_create", "mesos", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall",
    "mmap", "mmap2", "mount", "mprotect", "munlock", "munlockall", "munmap", "nanosleep",
    "newfstatat", "notification", "open", "open_by_handle_at", "openat", "openat2", "page_fault",
    "pidfd_getfd", "pidfd_open", "pipe", "pipe2", "pluginevent", "poll", "ppoll", "prctl", "pread",
    "preadv", "prlimit", "process_vm_readv", "process_vm_writev", "procexit", "procinfo", "ptrace",
    "pwrite", "pwritev", "quotactl", "read", "readv", "recv", "recvfrom", "recvmmsg", "recvmsg",
    "rename", "renameat", "renameat2", "rmdir", "scapevent", "seccomp", "select", "semctl",
    "semget", "semop", "send", "sendfile", "sendmmsg", "sendmsg", "sendto", "setgid", "setns",
    "setpgid", "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "setsid",
    "setsockopt", "setuid", "shutdown", "signaldeliver", "signalfd", "signalfd4", "socket",
    "socketpair", "splice", "stat", "stat64", "switch", "symlink", "symlinkat", "syscall", "task",
    "task_file_anon_inode", "task_file_directory", "task_file_memfd", "task_file_pipe",
    "task_file_regular", "task_file_socket_inet", "task_file_socket_inet6",
    "task_file_socket_netlink", "task_file_socket_unix", "tgkill", "timerfd_create", "tkill",
    "tracer", "umount", "umount2", "unlink", "unlinkat", "unshare", "useradded", "userdeleted",
    "userfaultfd", "vfork", "write", "writev",
];

/// Names of the syscall (and tracepoint) codes, lowercased.
#[rustfmt::skip]
const SYSCALLS: &[&str] = &[
    "_llseek", "_newselect", "_sysctl", "accept", "accept4", "access", "acct", "add_key",
    "adjtimex", "alarm", "arch_prctl", "bdflush", "bind", "bpf", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chroot", "clock_adjtime", "clock_getres",
    "clock_gettime", "clock_nanosleep", "clock_settime", "clone", "clone3", "close", "close_range",
    "connect", "copy_file_range", "creat", "create_module", "delete_module", "dup", "dup2", "dup3",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
    "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit",
    "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_init",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl",
    "fcntl64", "fdatasync", "fgetxattr", "file_getattr", "file_setattr", "finit_module",
    "flistxattr", "flock", "fork", "fremovexattr", "fsconfig", "fsetxattr", "fsmount", "fsopen",
    "fspick", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "futex", "futex_requeue", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
    "get_kernel_syms", "get_mempolicy", "get_robust_list", "get_thread_area", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getpmsg", "getppid",
    "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday",
    "getuid", "getuid32", "getxattr", "getxattrat", "idle", "init_module", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
    "io_pgetevents", "io_setup", "io_submit", "io_uring_enter", "io_uring_register",
    "io_uring_setup", "ioctl", "ioperm", "iopl", "ioprio_get", "ioprio_set", "ipc", "kcmp",
    "kexec_file_load", "kexec_load", "keyctl", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lgetxattr", "link", "linkat",
    "listen", "listmount", "listns", "listxattr", "listxattrat", "llistxattr", "lookup_dcookie",
    "lremovexattr", "lseek", "lsetxattr", "lsm_get_self_attr", "lsm_list_modules",
    "lsm_set_self_attr", "lstat", "lstat64", "madvise", "map_shadow_stack", "mbind", "membarrier",
    "memfd_create", "memfd_secret", "migrate_pages", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "modify_ldt", "mount",
    "mount_setattr", "move_mount", "move_pages", "mprotect", "mq_getsetattr", "mq_notify",
    "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap", "mseal", "msgctl",
    "msgget", "msgrcv", "msgsnd", "msync", "multiplexer", "munlock", "munlockall", "munmap",
    "na_1", "name_to_handle_at", "nanosleep", "newfstatat", "nfsservctl", "nice", "oldfstat",
    "oldlstat", "oldolduname", "oldstat", "olduname", "open", "open_by_handle_at", "open_tree",
    "open_tree_attr", "openat", "openat2", "page_fault_kernel", "page_fault_user", "pause",
    "pciconfig_iobase", "pciconfig_read", "pciconfig_write", "perf_event_open", "personality",
    "pidfd_getfd", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pivot_root", "pkey_alloc",
    "pkey_free", "pkey_mprotect", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_madvise", "process_mrelease", "process_vm_readv", "process_vm_writev",
    "pselect6", "ptrace", "pwrite64", "pwritev", "pwritev2", "query_module", "quotactl",
    "quotactl_fd", "read", "readahead", "readdir", "readlink", "readlinkat", "readv", "reboot",
    "recv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages", "removexattr", "removexattrat",
    "rename", "renameat", "renameat2", "request_key", "restart_syscall", "riscv_flush_icache",
    "riscv_hwprobe", "rmdir", "rseq", "rseq_slice_yield", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_tgsigqueueinfo", "rtas", "s390_guarded_storage", "s390_pci_mmio_read",
    "s390_pci_mmio_write", "s390_runtime_instr", "s390_sthyi", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_process_exit", "sched_rr_get_interval", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_switch", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "send", "sendfile",
    "sendfile64", "sendmmsg", "sendmsg", "sendto", "set_mempolicy", "set_mempolicy_home_node",
    "set_robust_list", "set_thread_area", "set_tid_address", "setdomainname", "setfsgid",
    "setfsuid", "setgid", "setgid32", "setgroups", "sethostname", "setitimer", "setns", "setpgid",
    "setpriority", "setregid", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
    "setrlimit", "setsid", "setsockopt", "settimeofday", "setuid", "setuid32", "setxattr",
    "setxattrat", "sgetmask", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaction",
    "sigaltstack", "signal", "signal_deliver", "signalfd", "signalfd4", "sigpending",
    "sigprocmask", "sigreturn", "sigsuspend", "socket", "socketcall", "socketpair", "splice",
    "spu_create", "spu_run", "ssetmask", "stat", "stat64", "statfs", "statfs64", "statmount",
    "statx", "stime", "subpage_prot", "swapcontext", "swapoff", "swapon", "switch_endian",
    "symlink", "symlinkat", "sync", "sync_file_range", "sync_file_range2", "syncfs",
    "sys_debug_setcontext", "sysfs", "sysinfo", "syslog", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd",
    "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate",
    "ugetrlimit", "umask", "umount", "umount2", "uname", "unknown", "unlink", "unlinkat",
    "unshare", "uprobe", "uretprobe", "uselib", "userfaultfd", "ustat", "utime", "utimensat",
    "utimes", "vfork", "vhangup", "vm86", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
];

/// True when Falco knows `name` as an event type (see the module's comment).
pub fn falco_knows(name: &str) -> bool {
    EVENT_TABLE.binary_search(&name).is_ok() || SYSCALLS.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_and_unique() {
        for list in [EVENT_TABLE, SYSCALLS] {
            assert!(list.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn knows_falcos_names_only() {
        for name in [
            "open",
            "openat2",
            "procexit",
            "container",
            "NA",
            "sched_process_exit",
        ] {
            assert!(falco_knows(name), "{name}");
        }
        // The invalid name of Falco's own tests (falcosecurity/testing, skip_unknown_evt.yaml);
        // names are case-sensitive and whole.
        for name in ["some_invalid_event", "OPEN", "ope", "open ", ""] {
            assert!(!falco_knows(name), "{name}");
        }
    }
}
