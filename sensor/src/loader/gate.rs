//! Which hooks are attached. Every program is loaded (verified) at start, so a kernel that
//! refuses one fails the start, not a later reload; but a hook whose records only make event
//! types no loaded rule can match stays detached: a detached tracepoint costs the syscall
//! nothing, where an attached program that returns at once still costs its call. State hooks
//! (the process table's exec, fork, exit) are always attached, and `--dump-events` attaches
//! everything. A reload widens the attached set before the new rules are in use and narrows it
//! after (`rules::live`), as it does the enricher's interest.

use aya::{
    Ebpf,
    programs::{
        BtfTracePoint, TracePoint,
        tp_btf::{BtfTracePointLink, BtfTracePointLinkId},
        trace_point::{TracePointLink, TracePointLinkId},
    },
};
use lanner_common::hooks::{Attach, Feeds, HOOKS, Hook, Need};
use lanner_rules::{EvtSet, EvtType};

use super::{LoadError, hint_for, program};

/// The event types whose hooks are wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// Every hook (`--dump-events`).
    All,
    /// Hooks feeding one of these types, and the state hooks.
    Types(EvtSet),
}

impl Wanted {
    fn wants(self, hook: &Hook) -> bool {
        match (self, hook.feeds) {
            (_, Feeds::State) | (Wanted::All, _) => true,
            (Wanted::Types(set), Feeds::Types(names)) => names
                .iter()
                .any(|n| EvtType::from_name(n).is_some_and(|t| set.contains(t))),
        }
    }
}

/// The loaded object and, per row of [`HOOKS`], its link while attached.
pub struct Hooks {
    ebpf: Ebpf,
    links: Vec<Link>,
}

#[derive(Debug)]
enum Link {
    Detached,
    /// Classic tracepoints are the ones that come and go.
    Tracepoint(TracePointLinkId),
    /// BTF tracepoints are state hooks: attached once, kept until [`Hooks::detach_all`].
    Btf(BtfTracePointLinkId),
    /// An optional hook the kernel has not got (logged at start).
    Unusable,
}

impl Hooks {
    /// Load every program of `ebpf`, then attach what `wanted` asks for.
    pub(super) fn load(mut ebpf: Ebpf, wanted: Wanted) -> Result<Hooks, LoadError> {
        let btf = aya::Btf::from_sys_fs().map_err(|_| LoadError::NoBtf {
            path: super::offsets::VMLINUX_BTF,
        })?;
        let mut links = Vec::with_capacity(HOOKS.len());
        let started = std::time::Instant::now();
        let mut verified = Verified::default();
        for hook in HOOKS {
            let loaded = match hook.attach {
                Attach::Tracepoint => {
                    let p = program::<TracePoint>(&mut ebpf, hook.program)?;
                    p.load().map(|()| p.info().ok())
                }
                Attach::BtfTracepoint => {
                    let p = program::<BtfTracePoint>(&mut ebpf, hook.program)?;
                    p.load(hook.tracepoint, &btf).map(|()| p.info().ok())
                }
            };
            let link = match (loaded, hook.need) {
                (Ok(info), _) => {
                    let n = info.and_then(|i| i.verified_instruction_count());
                    verified.add(hook.program, n);
                    Link::Detached
                }
                (Err(source), Need::Optional(why)) => {
                    log::warn!(
                        "optional hook {}:{} not loaded ({why}): {source}",
                        hook.category,
                        hook.tracepoint
                    );
                    Link::Unusable
                }
                (Err(source), Need::Required) => {
                    return Err(LoadError::Program {
                        name: hook.program,
                        hint: hint_for(&source),
                        source,
                    });
                }
            };
            links.push(link);
        }
        log::info!("{}", verified.summary(started.elapsed()));
        let mut hooks = Hooks { ebpf, links };
        for (i, hook) in HOOKS.iter().enumerate() {
            if wanted.wants(hook) {
                match (hooks.attach(i), hook.need) {
                    (Ok(()), _) => {}
                    (Err(e), Need::Optional(why)) => {
                        log::warn!(
                            "optional hook {}:{} not attached ({why}): {e}",
                            hook.category,
                            hook.tracepoint
                        );
                        hooks.links[i] = Link::Unusable;
                    }
                    (Err(e), Need::Required) => return Err(e),
                }
            }
        }
        log::info!("{}", hooks.summary());
        Ok(hooks)
    }

    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// Attach what `wanted` asks for and detach the rest of the gated hooks. A hook that fails
    /// to attach is logged and stays detached (the rules it feeds do not fire, as on a kernel
    /// without it); the others are still set.
    pub fn set(&mut self, wanted: Wanted) {
        let mut going = Vec::new();
        for (i, hook) in HOOKS.iter().enumerate() {
            let res = match (&self.links[i], wanted.wants(hook)) {
                (Link::Detached, true) => self.attach(i),
                (Link::Tracepoint(_), false) => self.take(i).map(|l| going.extend(l)),
                _ => Ok(()),
            };
            if let Err(e) = res {
                log::error!("hook {}:{}: {e}", hook.category, hook.tracepoint);
            }
        }
        detach_together(going);
        log::info!("{}", self.summary());
    }

    /// Detach every hook, the state hooks too: at the end, before the process exits (which
    /// would close them one after the other).
    pub fn detach_all(&mut self) {
        let mut going = Vec::new();
        for (i, hook) in HOOKS.iter().enumerate() {
            match self.take(i) {
                Ok(link) => going.extend(link),
                Err(e) => log::error!("hook {}: {e}", hook.program),
            }
        }
        detach_together(going);
    }

    /// Hooks attached, and how many rows there are: for the log and the tests.
    pub fn attached(&self) -> Vec<&'static str> {
        HOOKS
            .iter()
            .zip(&self.links)
            .filter(|(_, l)| matches!(l, Link::Tracepoint(_) | Link::Btf(_)))
            .map(|(h, _)| h.program)
            .collect()
    }

    fn summary(&self) -> String {
        format!(
            "hooks attached: {} of {} (hooks of event types no loaded rule matches stay detached)",
            self.attached().len(),
            HOOKS.len()
        )
    }

    fn attach(&mut self, i: usize) -> Result<(), LoadError> {
        let hook = &HOOKS[i];
        let res = match hook.attach {
            Attach::Tracepoint => program::<TracePoint>(&mut self.ebpf, hook.program)?
                .attach(hook.category, hook.tracepoint)
                .map(Link::Tracepoint),
            Attach::BtfTracepoint => program::<BtfTracePoint>(&mut self.ebpf, hook.program)?
                .attach()
                .map(Link::Btf),
        };
        self.links[i] = res.map_err(|source| LoadError::Program {
            name: hook.program,
            hint: hint_for(&source),
            source,
        })?;
        Ok(())
    }

    /// Hook `i`'s link, now owned by the caller (it detaches when dropped); `None` when it was
    /// not attached.
    fn take(&mut self, i: usize) -> Result<Option<OwnedLink>, LoadError> {
        let hook = &HOOKS[i];
        let taken = match std::mem::replace(&mut self.links[i], Link::Detached) {
            Link::Tracepoint(id) => program::<TracePoint>(&mut self.ebpf, hook.program)?
                .take_link(id)
                .map(OwnedLink::Tracepoint),
            Link::Btf(id) => program::<BtfTracePoint>(&mut self.ebpf, hook.program)?
                .take_link(id)
                .map(OwnedLink::Btf),
            other => {
                self.links[i] = other;
                return Ok(None);
            }
        };
        taken.map(Some).map_err(|source| LoadError::Program {
            name: hook.program,
            hint: "",
            source,
        })
    }
}

/// What the kernel's verifier went through to load the programs: instructions it processed
/// (each path it explored counts its instructions again). The start's cost on a small node,
/// and how close a program is to the verifier's limit of 1,000,000 per program, which a
/// kernel whose verifier explores more would cross first.
#[derive(Debug, Default)]
struct Verified {
    total: u64,
    largest: Option<(&'static str, u32)>,
    /// Programs whose count the kernel does not report (before 5.16).
    unknown: usize,
}

impl Verified {
    fn add(&mut self, program: &'static str, n: Option<u32>) {
        let Some(n) = n.filter(|&n| n > 0) else {
            self.unknown += 1;
            return;
        };
        self.total += u64::from(n);
        if self.largest.is_none_or(|(_, m)| n > m) {
            self.largest = Some((program, n));
        }
    }

    /// The log line: `tests/tests/lifecycle.rs` holds the numbers to a budget.
    fn summary(&self, took: std::time::Duration) -> String {
        let largest = match self.largest {
            Some((p, n)) => format!("largest {p} {n}"),
            None => "largest none".into(),
        };
        format!(
            "programs loaded in {:.1} s; verifier: {} instructions processed, {largest}, {} programs not reported",
            took.as_secs_f64(),
            self.total,
            self.unknown
        )
    }
}

/// A link taken from its program: dropping it detaches the hook.
enum OwnedLink {
    Tracepoint(TracePointLink),
    Btf(BtfTracePointLink),
}

/// Drop `links` from a thread each. A detach waits for an RCU grace period in the kernel
/// (60 to 100 ms each, measured here: 61 hooks took 3.8 s one after the other, longer than
/// the shutdown deadline's margin); detaches made at once share their grace periods.
fn detach_together(links: Vec<OwnedLink>) {
    std::thread::scope(|s| {
        for link in links {
            let spawned = std::thread::Builder::new()
                .name("detach".into())
                .spawn_scoped(s, move || match link {
                    OwnedLink::Tracepoint(l) => drop(l),
                    OwnedLink::Btf(l) => drop(l),
                });
            // No thread to spare: the link came back in the error and is dropped here.
            if let Err(e) = spawned {
                log::warn!("detaching a hook on this thread: {e}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_hooks_are_always_wanted_and_the_others_by_type() {
        let none = Wanted::Types(EvtSet::NONE);
        let mount = Wanted::Types(EvtType::Mount.bit());
        for h in HOOKS {
            let state = h.feeds == Feeds::State;
            assert_eq!(none.wants(h), state, "{}", h.program);
            assert!(Wanted::All.wants(h), "{}", h.program);
            let feeds_mount = matches!(h.feeds, Feeds::Types(t) if t.contains(&"mount"));
            assert_eq!(mount.wants(h), state || feeds_mount, "{}", h.program);
        }
    }
}
