//! Load the embedded kernel programs, fill in the kernel layout and settings, attach every
//! hook. Errors name what is missing (capability, BTF, tracefs) so an operator can fix it.

pub mod btf;
pub mod caps;
pub mod gate;
pub mod offsets;
pub mod prefilter;
pub mod tracefs;

use std::path::{Path, PathBuf};

use aya::{Ebpf, EbpfLoader, programs::ProgramError};
use lanner_common::{GLOBAL_OFFSETS, GLOBAL_SETTINGS, MAP_EVENTS, Settings};

pub use gate::Hooks;

/// The kernel object built by `build.rs` from `sensor-ebpf`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor"));

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
    #[error("this build embeds no kernel programs (built for fuzzing, see sensor/build.rs)")]
    NoObject,
}

/// Options that change what is loaded.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub ringbuf_bytes: u32,
    pub capture_env: bool,
    /// Wake the reader for the first record into an empty ring ([`crate::reader::Delivery`]).
    pub wake_on_first: bool,
    /// The host's procfs (`--proc-root`): the sensor's own tgid is read from its `self`.
    pub proc_root: PathBuf,
    /// Which hooks to attach (see [`gate`]).
    pub wanted: gate::Wanted,
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

/// Load every program and attach the hooks `opts.wanted` asks for. The returned [`Hooks`]
/// owns the object and its links: dropping it detaches.
pub fn load(opts: LoadOptions) -> Result<Hooks, LoadError> {
    if OBJECT.is_empty() {
        return Err(LoadError::NoObject);
    }
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
        self_tgid: own_tgid(&opts.proc_root),
        capture_env: u32::from(opts.capture_env),
        // An eighth of the ring (at most 1 MiB): early enough that a burst never fills it
        // before the reader runs, late enough to batch hundreds of records per wake-up.
        wakeup_bytes: (opts.ringbuf_bytes / 8).min(1 << 20),
        wake_on_first: u32::from(opts.wake_on_first),
    };
    let ebpf = EbpfLoader::new()
        .override_global(GLOBAL_OFFSETS, &layout, true)
        .override_global(GLOBAL_SETTINGS, &settings, true)
        .map_max_entries(MAP_EVENTS, opts.ringbuf_bytes)
        .load(OBJECT)
        .map_err(|source| LoadError::Load {
            hint: hint_for(&source),
            source,
        })?;

    Hooks::load(ebpf, opts.wanted)
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

/// The sensor's tgid as the kernel programs see it: `bpf_get_current_pid_tgid()` gives it in
/// the initial pid namespace, `getpid()` in the sensor's own (1 in a pod without hostPID). procfs resolves `self` to the reader's tgid in the pid namespace of that procfs
/// mount (`proc_self_get_link`: `task_tgid_nr_ns(current, proc_pid_ns(sb))`), whoever reads
/// it. `--proc-root` is the host's procfs (`/proc` on the host, the hostPath `/host/proc` in
/// the DaemonSet, a bind mount of the same superblock), so its `self` is the host tgid even
/// from the pod's own pid namespace. If it cannot be read (the link is `ENOENT` when the reader
/// is not visible in that namespace), `getpid()` is the fallback: right only in the host
/// namespace, so it is logged.
fn own_tgid(proc_root: &Path) -> u32 {
    let link = proc_root.join("self");
    let tgid = std::fs::read_link(&link)
        .map_err(|e| e.to_string())
        .and_then(|target| {
            (target.to_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| format!("not a pid: {}", target.display()))
        });
    match tgid {
        Ok(tgid) => {
            log::debug!(
                "own tgid {tgid} (from {}), filtered in the kernel",
                link.display()
            );
            tgid
        }
        Err(why) => {
            let pid = std::process::id();
            log::warn!(
                "reading {} failed ({why}): the self-filter uses getpid() {pid}, which is \
                 wrong outside the host pid namespace (it would drop another process's events \
                 and report the sensor's own); point --proc-root at the host's /proc",
                link.display()
            );
            pid
        }
    }
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

#[cfg(test)]
mod tests {
    use super::{OBJECT, own_tgid};
    use aya_obj::ProgramSection;
    use lanner_common::hooks::{Attach, HOOKS, Need};
    use lanner_tests::TempDir;

    /// The object's programs are the hook table's rows, each of the kind its row attaches as:
    /// a program written outside the table (never attached) or a row without a program fails.
    #[test]
    fn embedded_programs_are_the_hook_table() {
        let obj = aya_obj::Object::parse(OBJECT).expect("the embedded object parses");
        let mut programs: Vec<(&str, bool)> = obj
            .programs
            .iter()
            .map(|(name, p)| {
                let btf = match p.section {
                    ProgramSection::TracePoint => false,
                    ProgramSection::BtfTracePoint => true,
                    ref other => panic!("program {name} is a {other:?}, not in the hook table"),
                };
                (name.as_str(), btf)
            })
            .collect();
        let mut rows: Vec<(&str, bool)> = HOOKS
            .iter()
            .map(|h| (h.program, h.attach == Attach::BtfTracepoint))
            .collect();
        programs.sort();
        rows.sort();
        assert_eq!(programs, rows);
    }

    /// Every classic tracepoint of the table exists on this kernel (its tracefs directory):
    /// a misspelt one would attach nowhere, and an optional one would only be logged. The
    /// one exception is an optional hook of a syscall this kernel was built without (its
    /// entry point is the weak `sys_ni_syscall` stub in kallsyms, e.g. `init_module` without
    /// `CONFIG_MODULES`): it has no tracepoint to attach to, and the sensor says so.
    #[test]
    fn hook_tracepoints_exist_on_this_kernel() {
        super::tracefs::ensure().expect("tracefs");
        let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("kallsyms");
        let not_built = |syscall: &str| {
            let stub = format!(" W __x64_sys_{syscall}");
            kallsyms.lines().any(|l| l.ends_with(&stub))
        };
        for h in HOOKS.iter().filter(|h| h.attach == Attach::Tracepoint) {
            let dir = std::path::Path::new(super::tracefs::TRACEFS)
                .join("events")
                .join(h.category)
                .join(h.tracepoint);
            let syscall = h
                .tracepoint
                .trim_start_matches("sys_enter_")
                .trim_start_matches("sys_exit_");
            let excused = matches!(h.need, Need::Optional(_)) && not_built(syscall);
            assert!(dir.is_dir() || excused, "{} missing", dir.display());
        }
    }

    /// Every type a hook feeds is one Lanner captures, by its Falco name: a misspelt one would
    /// leave the hook detached whatever the rules.
    #[test]
    fn hooks_feed_captured_event_types() {
        use lanner_common::hooks::Feeds;
        for h in HOOKS {
            if let Feeds::Types(types) = h.feeds {
                assert!(!types.is_empty(), "{} feeds nothing", h.program);
                for t in types {
                    assert!(
                        lanner_rules::EvtType::from_name(t).is_some(),
                        "{} feeds {t}, not a captured type",
                        h.program
                    );
                }
            }
        }
    }

    #[test]
    fn own_tgid_reads_the_proc_root_self_link() {
        let dir = TempDir::new("loader-self");
        std::os::unix::fs::symlink("4242", dir.path().join("self")).unwrap();
        assert_eq!(own_tgid(dir.path()), 4242);
    }

    #[test]
    fn own_tgid_falls_back_to_getpid() {
        let dir = TempDir::new("loader-noself");
        assert_eq!(own_tgid(dir.path()), std::process::id(), "no self link");
        std::os::unix::fs::symlink("not-a-pid", dir.path().join("self")).unwrap();
        assert_eq!(own_tgid(dir.path()), std::process::id(), "not a number");
    }

    #[test]
    fn own_tgid_of_this_hosts_proc_is_getpid() {
        assert_eq!(own_tgid(std::path::Path::new("/proc")), std::process::id());
    }
}
