//! Which hooks are attached. Every program is loaded (verified) at start, so a kernel that
//! refuses one fails the start, not a later reload; but a hook whose records only make event
//! types no loaded rule can match stays detached: a detached tracepoint costs the syscall
//! nothing, where an attached program that returns at once still costs its call. State hooks
//! (the process table's exec, fork, exit) are always attached, and `--dump-events` attaches
//! everything. A reload widens the attached set before the new rules are in use and narrows it
//! after (`rules::live`), as it does the enricher's interest.

use aya::{
    Ebpf,
    programs::{BtfTracePoint, TracePoint, trace_point::TracePointLinkId},
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
    /// BTF tracepoints are state hooks: attached once, kept until the object is dropped.
    Btf,
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
        for hook in HOOKS {
            let loaded = match hook.attach {
                Attach::Tracepoint => program::<TracePoint>(&mut ebpf, hook.program)?.load(),
                Attach::BtfTracepoint => {
                    program::<BtfTracePoint>(&mut ebpf, hook.program)?.load(hook.tracepoint, &btf)
                }
            };
            let link = match (loaded, hook.need) {
                (Ok(()), _) => Link::Detached,
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
        for (i, hook) in HOOKS.iter().enumerate() {
            let res = match (&self.links[i], wanted.wants(hook)) {
                (Link::Detached, true) => self.attach(i),
                (Link::Tracepoint(_), false) => self.detach(i),
                _ => Ok(()),
            };
            if let Err(e) = res {
                log::error!("hook {}:{}: {e}", hook.category, hook.tracepoint);
            }
        }
        log::info!("{}", self.summary());
    }

    /// Hooks attached, and how many rows there are: for the log and the tests.
    pub fn attached(&self) -> Vec<&'static str> {
        HOOKS
            .iter()
            .zip(&self.links)
            .filter(|(_, l)| matches!(l, Link::Tracepoint(_) | Link::Btf))
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
                .map(|_| Link::Btf),
        };
        self.links[i] = res.map_err(|source| LoadError::Program {
            name: hook.program,
            hint: hint_for(&source),
            source,
        })?;
        Ok(())
    }

    fn detach(&mut self, i: usize) -> Result<(), LoadError> {
        let hook = &HOOKS[i];
        let Link::Tracepoint(id) = std::mem::replace(&mut self.links[i], Link::Detached) else {
            return Ok(());
        };
        program::<TracePoint>(&mut self.ebpf, hook.program)?
            .detach(id)
            .map_err(|source| LoadError::Program {
                name: hook.program,
                hint: "",
                source,
            })
    }
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
