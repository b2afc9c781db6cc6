//! The one list of kernel hooks. Each row names a program, where it attaches, whether the
//! sensor can run without it, the [`EventKind`](crate::EventKind) its losses are counted under,
//! and its handler. The kernel crate expands the rows into its programs
//! (`sensor-ebpf/src/main.rs`), and this module into [`HOOKS`], which the loader walks to
//! attach them: a program cannot exist without its row, nor a row without its program.
//!
//! Adding a hook is adding a row; the handler column is kernel code (resolved in the kernel
//! crate's `main.rs`, where `exec`, `file`, `file_change`, `mount`, `net`, `net_fd`,
//! `privilege` and `process` are its `probes::*` modules) and is left out of [`HOOKS`].

/// How a program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// A classic tracepoint (`/sys/kernel/tracing/events/<category>/<name>`), attached through
    /// perf; syscall arguments are read from its raw record.
    Tracepoint,
    /// A BTF-typed tracepoint (`tp_btf`): the kernel passes the tracepoint's typed arguments
    /// (task, bprm) directly, without tracefs.
    BtfTracepoint,
}

/// Whether the sensor may start without a hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Failing to attach it fails the start.
    Required,
    /// Its absence is logged with the reason (what kernel brought it) and the rest attaches.
    Optional(&'static str),
}

/// One kernel program and where it attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hook {
    /// The program's name in the object: its function name in the kernel crate.
    pub program: &'static str,
    pub attach: Attach,
    /// Tracepoint category (`syscalls`, `sched`); for a BTF tracepoint only informative.
    pub category: &'static str,
    /// The kernel tracepoint, the same name as the program.
    pub tracepoint: &'static str,
    pub need: Need,
    /// What a record this program fails to send is counted as lost under.
    pub kind: crate::EventKind,
    /// What its records are for: the loader need not attach a hook whose event types no
    /// loaded rule can match (and `--dump-events` is off).
    pub feeds: Feeds,
}

/// What a hook's records are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feeds {
    /// The sensor's own state (the process table: execs, forks, exits): always attached.
    State,
    /// Events of these types only (Falco's `evt.type` names): attached while a loaded rule
    /// can match one of them, or every event is dumped.
    Types(&'static [&'static str]),
}

/// Every hook of the sensor, as rows of
/// `program: attach "category", EventKind, need, feeds, handler;` where `attach` is `tracepoint`
/// or `btf`, `need` is `required` or `optional("why")`, `feeds` is `state` or
/// `feeds[evt_type, …]` (see [`Feeds`]), and the handler is a
/// `fn(&Context) -> Result<(), ()>` of the kernel crate (a closure when it takes a variant).
/// Expands `$then! { rows }`: the kernel crate passes a macro that writes programs, this crate
/// one that writes [`HOOKS`].
#[macro_export]
macro_rules! hook_table {
    ($then:ident) => {
        $then! {
            // exec: failures and the syscall's arguments; a success is reported from
            // sched_process_exec, where the new image and its credentials are at hand.
            sys_enter_execve: tracepoint "syscalls", Exec, required, state,
                |c| exec::enter(c, ExecVariant::Execve);
            sys_exit_execve: tracepoint "syscalls", Exec, required, state, exec::exit;
            sys_enter_execveat: tracepoint "syscalls", Exec, required, state,
                |c| exec::enter(c, ExecVariant::Execveat);
            sys_exit_execveat: tracepoint "syscalls", Exec, required, state, exec::exit;
            sched_process_exec: btf "sched", Exec, required, state, exec::sched_exec;

            sys_enter_mount: tracepoint "syscalls", Mount, required, feeds[mount],
                |c| mount::enter(c, MountOp::Mount);
            sys_exit_mount: tracepoint "syscalls", Mount, required, feeds[mount], mount::exit;
            sys_enter_umount: tracepoint "syscalls", Mount, required, feeds[umount2],
                |c| mount::enter(c, MountOp::Umount2);
            sys_exit_umount: tracepoint "syscalls", Mount, required, feeds[umount2], mount::exit;
            sys_enter_fsopen: tracepoint "syscalls", Mount,
                optional("the new mount API, Linux 5.2"), feeds[fsopen],
                |c| mount::enter(c, MountOp::Fsopen);
            sys_exit_fsopen: tracepoint "syscalls", Mount,
                optional("the new mount API, Linux 5.2"), feeds[fsopen], mount::exit;
            sys_enter_fsmount: tracepoint "syscalls", Mount,
                optional("the new mount API, Linux 5.2"), feeds[fsmount],
                |c| mount::enter(c, MountOp::Fsmount);
            sys_exit_fsmount: tracepoint "syscalls", Mount,
                optional("the new mount API, Linux 5.2"), feeds[fsmount], mount::exit;
            sys_enter_move_mount: tracepoint "syscalls", Mount,
                optional("the new mount API, Linux 5.2"), feeds[move_mount],
                |c| mount::enter(c, MountOp::MoveMount);
            sys_exit_move_mount: tracepoint "syscalls", Mount,
                optional("the new mount API, Linux 5.2"), feeds[move_mount], mount::exit;
            sys_enter_open_tree: tracepoint "syscalls", Mount,
                optional("the new mount API, Linux 5.2"), feeds[open_tree],
                |c| mount::enter(c, MountOp::OpenTree);
            sys_exit_open_tree: tracepoint "syscalls", Mount,
                optional("the new mount API, Linux 5.2"), feeds[open_tree], mount::exit;

            sys_enter_connect: tracepoint "syscalls", Connect, required, feeds[connect],
                net::enter;
            sys_exit_connect: tracepoint "syscalls", Connect, required, feeds[connect],
                net::exit;

            // Processes and privilege: arguments and capabilities at entry, the record at exit.
            sys_enter_ptrace: tracepoint "syscalls", Privilege, required, feeds[ptrace],
                |c| privilege::enter(c, PrivOp::Ptrace);
            sys_exit_ptrace: tracepoint "syscalls", Privilege, required, feeds[ptrace],
                privilege::exit;
            sys_enter_setuid: tracepoint "syscalls", Privilege, required, feeds[setuid],
                |c| privilege::enter(c, PrivOp::Setuid);
            sys_exit_setuid: tracepoint "syscalls", Privilege, required, feeds[setuid],
                privilege::exit;
            sys_enter_setns: tracepoint "syscalls", Privilege, required, feeds[setns],
                |c| privilege::enter(c, PrivOp::Setns);
            sys_exit_setns: tracepoint "syscalls", Privilege, required, feeds[setns],
                privilege::exit;
            sys_enter_unshare: tracepoint "syscalls", Privilege, required, feeds[unshare],
                |c| privilege::enter(c, PrivOp::Unshare);
            sys_exit_unshare: tracepoint "syscalls", Privilege, required, feeds[unshare],
                privilege::exit;
            sys_enter_init_module: tracepoint "syscalls", Privilege,
                optional("kernel module support, CONFIG_MODULES"), feeds[init_module],
                |c| privilege::enter(c, PrivOp::InitModule);
            sys_exit_init_module: tracepoint "syscalls", Privilege,
                optional("kernel module support, CONFIG_MODULES"), feeds[init_module],
                privilege::exit;
            sys_enter_finit_module: tracepoint "syscalls", Privilege,
                optional("kernel module support, CONFIG_MODULES"), feeds[finit_module],
                |c| privilege::enter(c, PrivOp::FinitModule);
            sys_exit_finit_module: tracepoint "syscalls", Privilege,
                optional("kernel module support, CONFIG_MODULES"), feeds[finit_module],
                privilege::exit;
            sys_enter_bpf: tracepoint "syscalls", Privilege, required, feeds[bpf],
                |c| privilege::enter(c, PrivOp::Bpf);
            sys_exit_bpf: tracepoint "syscalls", Privilege, required, feeds[bpf],
                privilege::exit;
            sys_enter_userfaultfd: tracepoint "syscalls", Privilege,
                optional("CONFIG_USERFAULTFD"), feeds[userfaultfd],
                |c| privilege::enter(c, PrivOp::Userfaultfd);
            sys_exit_userfaultfd: tracepoint "syscalls", Privilege,
                optional("CONFIG_USERFAULTFD"), feeds[userfaultfd], privilege::exit;
            // The network family (net_fd): arguments at entry, the record at exit with what the
            // kernel says of the fd. accept and accept4 need nothing from their entry.
            sys_enter_socket: tracepoint "syscalls", NetFd, required, feeds[socket],
                |c| net_fd::enter(c, NetOp::Socket);
            sys_exit_socket: tracepoint "syscalls", NetFd, required, feeds[socket],
                |c| net_fd::exit(c, NetOp::Socket);
            sys_enter_dup: tracepoint "syscalls", NetFd, required, feeds[dup],
                |c| net_fd::enter(c, NetOp::Dup);
            sys_exit_dup: tracepoint "syscalls", NetFd, required, feeds[dup],
                |c| net_fd::exit(c, NetOp::Dup);
            sys_enter_dup2: tracepoint "syscalls", NetFd, required, feeds[dup2],
                |c| net_fd::enter(c, NetOp::Dup2);
            sys_exit_dup2: tracepoint "syscalls", NetFd, required, feeds[dup2],
                |c| net_fd::exit(c, NetOp::Dup2);
            sys_enter_dup3: tracepoint "syscalls", NetFd, required, feeds[dup3],
                |c| net_fd::enter(c, NetOp::Dup3);
            sys_exit_dup3: tracepoint "syscalls", NetFd, required, feeds[dup3],
                |c| net_fd::exit(c, NetOp::Dup3);
            sys_exit_accept: tracepoint "syscalls", NetFd, required, feeds[accept],
                |c| net_fd::exit_only(c, NetOp::Accept);
            sys_exit_accept4: tracepoint "syscalls", NetFd, required, feeds[accept4],
                |c| net_fd::exit_only(c, NetOp::Accept4);
            sys_enter_listen: tracepoint "syscalls", NetFd, required, feeds[listen],
                |c| net_fd::enter(c, NetOp::Listen);
            sys_exit_listen: tracepoint "syscalls", NetFd, required, feeds[listen],
                |c| net_fd::exit(c, NetOp::Listen);
            sys_enter_sendto: tracepoint "syscalls", NetFd, required, feeds[sendto],
                |c| net_fd::enter(c, NetOp::Sendto);
            sys_exit_sendto: tracepoint "syscalls", NetFd, required, feeds[sendto],
                |c| net_fd::exit(c, NetOp::Sendto);
            sys_enter_sendmsg: tracepoint "syscalls", NetFd, required, feeds[sendmsg],
                |c| net_fd::enter(c, NetOp::Sendmsg);
            sys_exit_sendmsg: tracepoint "syscalls", NetFd, required, feeds[sendmsg],
                |c| net_fd::exit(c, NetOp::Sendmsg);
            sys_enter_recvfrom: tracepoint "syscalls", NetFd, required, feeds[recvfrom],
                |c| net_fd::enter(c, NetOp::Recvfrom);
            sys_exit_recvfrom: tracepoint "syscalls", NetFd, required, feeds[recvfrom],
                |c| net_fd::exit(c, NetOp::Recvfrom);
            sys_enter_recvmsg: tracepoint "syscalls", NetFd, required, feeds[recvmsg],
                |c| net_fd::enter(c, NetOp::Recvmsg);
            sys_exit_recvmsg: tracepoint "syscalls", NetFd, required, feeds[recvmsg],
                |c| net_fd::exit(c, NetOp::Recvmsg);
            // File opens: the path (resolved against the cwd or dirfd when relative), flags
            // and mode at entry, the new fd at exit.
            sys_enter_open: tracepoint "syscalls", Open, required, feeds[open],
                |c| file::enter(c, OpenSyscall::Open);
            sys_exit_open: tracepoint "syscalls", Open, required, feeds[open], file::exit;
            sys_enter_openat: tracepoint "syscalls", Open, required, feeds[openat],
                |c| file::enter(c, OpenSyscall::Openat);
            sys_exit_openat: tracepoint "syscalls", Open, required, feeds[openat], file::exit;
            sys_enter_openat2: tracepoint "syscalls", Open, optional("openat2, Linux 5.6"),
                feeds[openat2], |c| file::enter(c, OpenSyscall::Openat2);
            sys_exit_openat2: tracepoint "syscalls", Open, optional("openat2, Linux 5.6"),
                feeds[openat2], file::exit;
            sys_enter_creat: tracepoint "syscalls", Open, required, feeds[creat],
                |c| file::enter(c, OpenSyscall::Creat);
            sys_exit_creat: tracepoint "syscalls", Open, required, feeds[creat], file::exit;

            // File-tree changes: the paths (each resolved against the cwd or its dirfd when
            // relative; fchmod's fd walked), flags and mode at entry, the result at exit.
            sys_enter_unlink: tracepoint "syscalls", FileChange, required, feeds[unlink],
                |c| file_change::enter(c, ChangeOp::Unlink);
            sys_exit_unlink: tracepoint "syscalls", FileChange, required, feeds[unlink],
                file_change::exit;
            sys_enter_unlinkat: tracepoint "syscalls", FileChange, required, feeds[unlinkat],
                |c| file_change::enter(c, ChangeOp::Unlinkat);
            sys_exit_unlinkat: tracepoint "syscalls", FileChange, required, feeds[unlinkat],
                file_change::exit;
            sys_enter_rmdir: tracepoint "syscalls", FileChange, required, feeds[rmdir],
                |c| file_change::enter(c, ChangeOp::Rmdir);
            sys_exit_rmdir: tracepoint "syscalls", FileChange, required, feeds[rmdir],
                file_change::exit;
            sys_enter_rename: tracepoint "syscalls", FileChange, required, feeds[rename],
                |c| file_change::enter(c, ChangeOp::Rename);
            sys_exit_rename: tracepoint "syscalls", FileChange, required, feeds[rename],
                file_change::exit;
            sys_enter_renameat: tracepoint "syscalls", FileChange, required, feeds[renameat],
                |c| file_change::enter(c, ChangeOp::Renameat);
            sys_exit_renameat: tracepoint "syscalls", FileChange, required, feeds[renameat],
                file_change::exit;
            sys_enter_renameat2: tracepoint "syscalls", FileChange, required, feeds[renameat2],
                |c| file_change::enter(c, ChangeOp::Renameat2);
            sys_exit_renameat2: tracepoint "syscalls", FileChange, required, feeds[renameat2],
                file_change::exit;
            sys_enter_mkdir: tracepoint "syscalls", FileChange, required, feeds[mkdir],
                |c| file_change::enter(c, ChangeOp::Mkdir);
            sys_exit_mkdir: tracepoint "syscalls", FileChange, required, feeds[mkdir],
                file_change::exit;
            sys_enter_mkdirat: tracepoint "syscalls", FileChange, required, feeds[mkdirat],
                |c| file_change::enter(c, ChangeOp::Mkdirat);
            sys_exit_mkdirat: tracepoint "syscalls", FileChange, required, feeds[mkdirat],
                file_change::exit;
            sys_enter_symlink: tracepoint "syscalls", FileChange, required, feeds[symlink],
                |c| file_change::enter(c, ChangeOp::Symlink);
            sys_exit_symlink: tracepoint "syscalls", FileChange, required, feeds[symlink],
                file_change::exit;
            sys_enter_symlinkat: tracepoint "syscalls", FileChange, required, feeds[symlinkat],
                |c| file_change::enter(c, ChangeOp::Symlinkat);
            sys_exit_symlinkat: tracepoint "syscalls", FileChange, required, feeds[symlinkat],
                file_change::exit;
            sys_enter_link: tracepoint "syscalls", FileChange, required, feeds[link],
                |c| file_change::enter(c, ChangeOp::Link);
            sys_exit_link: tracepoint "syscalls", FileChange, required, feeds[link],
                file_change::exit;
            sys_enter_linkat: tracepoint "syscalls", FileChange, required, feeds[linkat],
                |c| file_change::enter(c, ChangeOp::Linkat);
            sys_exit_linkat: tracepoint "syscalls", FileChange, required, feeds[linkat],
                file_change::exit;
            sys_enter_chmod: tracepoint "syscalls", FileChange, required, feeds[chmod],
                |c| file_change::enter(c, ChangeOp::Chmod);
            sys_exit_chmod: tracepoint "syscalls", FileChange, required, feeds[chmod],
                file_change::exit;
            sys_enter_fchmod: tracepoint "syscalls", FileChange, required, feeds[fchmod],
                |c| file_change::enter(c, ChangeOp::Fchmod);
            sys_exit_fchmod: tracepoint "syscalls", FileChange, required, feeds[fchmod],
                file_change::exit;
            sys_enter_fchmodat: tracepoint "syscalls", FileChange, required, feeds[fchmodat],
                |c| file_change::enter(c, ChangeOp::Fchmodat);
            sys_exit_fchmodat: tracepoint "syscalls", FileChange, required, feeds[fchmodat],
                file_change::exit;

            // The process table: every new task and every exit, whatever syscall made it.
            sched_process_fork: btf "sched", Fork, required, state, process::fork;
            sched_process_exit: btf "sched", Exit, required, state, process::exit;
        }
    };
}

/// Writes [`HOOKS`] from the rows (the handler column is dropped).
macro_rules! hook_consts {
    ($($program:ident: $attach:ident $category:literal, $kind:ident,
       $need:ident $(($why:literal))?, $feed:ident $([$($evt:ident),*])?, $handler:expr;)*) => {
        /// Every hook, in attach order.
        pub const HOOKS: &[Hook] = &[$(Hook {
            program: stringify!($program),
            attach: hook_consts!(@attach $attach),
            category: $category,
            tracepoint: stringify!($program),
            need: hook_consts!(@need $need $($why)?),
            kind: crate::EventKind::$kind,
            feeds: hook_consts!(@feeds $feed $([$($evt),*])?),
        }),*];
    };
    (@feeds state) => { Feeds::State };
    (@feeds feeds [$($evt:ident),*]) => { Feeds::Types(&[$(stringify!($evt)),*]) };
    (@attach tracepoint) => { Attach::Tracepoint };
    (@attach btf) => { Attach::BtfTracepoint };
    (@need required) => { Need::Required };
    (@need optional $why:literal) => { Need::Optional($why) };
}

hook_table!(hook_consts);

/// Program names are unique (the object is keyed by them).
const _: () = {
    let mut i = 0;
    while i < HOOKS.len() {
        let mut j = i + 1;
        while j < HOOKS.len() {
            assert!(
                !str_eq(HOOKS[i].program, HOOKS[j].program),
                "duplicate hook"
            );
            j += 1;
        }
        i += 1;
    }
};

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
