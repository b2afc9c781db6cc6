//! Load the embedded kernel programs, fill in the kernel layout and settings, attach every
//! hook. Errors name what is missing (capability, BTF, tracefs) so an operator can fix it.

pub mod btf;
pub mod caps;
pub mod offsets;
pub mod tracefs;

use aya::{
    Ebpf, EbpfLoader,
    programs::{BtfTracePoint, ProgramError, TracePoint},
};
use lanner_common::{GLOBAL_OFFSETS, GLOBAL_SETTINGS, MAP_EVENTS, Settings};

/// The kernel object built by `build.rs` from `sensor-ebpf`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor"));

/// Syscall tracepoints (category `syscalls`). Optional ones may be absent on older kernels
/// (the new mount API arrived in 5.2): their absence is logged, not fatal.
const SYSCALL_HOOKS: &[(&str, bool)] = &[
    ("sys_enter_execve", true),
    ("sys_exit_execve", true),
    ("sys_enter_execveat", true),
    ("sys_exit_execveat", true),
    ("sys_enter_mount", true),
    ("sys_exit_mount", true),
    ("sys_enter_umount", true),
    ("sys_exit_umount", true),
    ("sys_enter_fsopen", false),
    ("sys_exit_fsopen", false),
    ("sys_enter_fsmount", false),
    ("sys_exit_fsmount", false),
    ("sys_enter_move_mount", false),
    ("sys_exit_move_mount", false),
    ("sys_enter_open_tree", false),
    ("sys_exit_open_tree", false),
    ("sys_enter_connect", true),
    ("sys_exit_connect", true),
];

/// BTF tracepoints: (program name, kernel tracepoint).
const BTF_HOOKS: &[&str] = &[
    "sched_process_exec",
    "sched_process_fork",
    "sched_process_exit",
];

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Capability(#[from] caps::Missing),
    #[error(
        "kernel BTF is not available at {path}: Lanner needs a kernel built with \
         CONFIG_DEBUG_INFO_BTF=y (5.8 or newer)"
    )]
    NoBtf { path: &'static str },
    #[error("reading the kernel layout")]
    Offsets(#[from] offsets::OffsetsError),
    #[error(transparent)]
    Tracefs(#[from] tracefs::TracefsError),
    #[error("loading the eBPF object failed{hint}")]
    Load {
        #[source]
        source: aya::EbpfError,
        hint: &'static str,
    },
    #[error("attaching program {name} failed{hint}")]
    Program {
        name: &'static str,
        #[source]
        source: ProgramError,
        hint: &'static str,
    },
    #[error("program {name} is missing from the embedded object")]
    MissingProgram { name: &'static str },
}

/// Options that change what is loaded.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    pub ringbuf_bytes: u32,
    pub capture_env: bool,
}

const PERM_HINT: &str = " (permission denied: run as root, or grant CAP_BPF and CAP_PERFMON; \
                         kernels with kernel.perf_event_paranoid > 2 also need CAP_SYS_ADMIN)";

fn hint_for(err: &dyn std::error::Error) -> &'static str {
    let mut cur: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if text.contains("Operation not permitted") || text.contains("EPERM") {
            return PERM_HINT;
        }
        cur = e.source();
    }
    ""
}

/// Load and attach everything. The returned `Ebpf` owns the links: dropping it detaches.
pub fn load(opts: LoadOptions) -> Result<Ebpf, LoadError> {
    for warning in caps::check(&caps::Context::current())? {
        log::warn!("{warning}");
    }
    raise_memlock();
    if !std::path::Path::new(offsets::VMLINUX_BTF).exists() {
        return Err(LoadError::NoBtf {
            path: offsets::VMLINUX_BTF,
        });
    }
    tracefs::ensure()?;
    let (vmlinux, overlay) = offsets::load_btf().map_err(offsets::OffsetsError::from)?;
    let layout = offsets::resolve(&vmlinux, overlay.as_ref(), cgroup_is_hybrid())?;
    let settings = Settings {
        self_tgid: std::process::id(),
        capture_env: u32::from(opts.capture_env),
        // An eighth of the ring (at most 1 MiB): early enough that a burst never fills it
        // before the reader runs, late enough to batch hundreds of records per wake-up.
        wakeup_bytes: (opts.ringbuf_bytes / 8).min(1 << 20),
        _pad: 0,
    };
    let mut ebpf = EbpfLoader::new()
        .override_global(GLOBAL_OFFSETS, &layout, true)
        .override_global(GLOBAL_SETTINGS, &settings, true)
        .map_max_entries(MAP_EVENTS, opts.ringbuf_bytes)
        .load(OBJECT)
        .map_err(|source| LoadError::Load {
            hint: hint_for(&source),
            source,
        })?;

    for &(name, required) in SYSCALL_HOOKS {
        let prog: &mut TracePoint = program(&mut ebpf, name)?;
        let res = prog
            .load()
            .and_then(|()| prog.attach("syscalls", name).map(drop));
        match res {
            Ok(()) => {}
            Err(e) if !required => log::warn!("optional hook syscalls:{name} not attached: {e}"),
            Err(source) => {
                return Err(LoadError::Program {
                    name,
                    hint: hint_for(&source),
                    source,
                });
            }
        }
    }
    let kernel_btf = aya::Btf::from_sys_fs().map_err(|_| LoadError::NoBtf {
        path: offsets::VMLINUX_BTF,
    })?;
    for &name in BTF_HOOKS {
        let prog: &mut BtfTracePoint = program(&mut ebpf, name)?;
        prog.load(name, &kernel_btf)
            .and_then(|()| prog.attach().map(drop))
            .map_err(|source| LoadError::Program {
                name,
                hint: hint_for(&source),
                source,
            })?;
    }
    Ok(ebpf)
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, LoadError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let prog = ebpf
        .program_mut(name)
        .ok_or(LoadError::MissingProgram { name })?;
    prog.try_into()
        .map_err(|source: ProgramError| LoadError::Program {
            name,
            hint: "",
            source,
        })
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones ignore it.
fn raise_memlock() {
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: valid rlimit pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) } != 0 {
        log::debug!("could not raise RLIMIT_MEMLOCK (fine on kernels >= 5.11)");
    }
}

/// True when `/sys/fs/cgroup` is not itself cgroup2 (v1 or hybrid): container runtimes may
/// then place tasks only in v1 hierarchies, so the kernel side reads a v1 controller's name
/// when the task sits in the v2 root.
fn cgroup_is_hybrid() -> bool {
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let path = c"/sys/fs/cgroup";
    // SAFETY: valid path and out pointer.
    if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
        return true;
    }
    st.f_type != libc::CGROUP2_SUPER_MAGIC
}
