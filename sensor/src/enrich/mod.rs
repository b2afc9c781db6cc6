//! Who did it: the process table, user names and container identity attached to every event.
//!
//! The enricher owns the process table and the user tables (one task, no locks). Every event
//! first updates the table (an exec must see its own new image), then gets a snapshot of its
//! context, so a later change to the table never rewrites what an alert said.

pub mod pods;

pub use pods::PodContext;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use lanner_rules::{EvtSet, EvtType};

pub use crate::process::{Ancestor, users::UserContext};
use crate::{
    container::{ContainerRef, LeafCache},
    event::{Body, Event},
    process::{
        ProcessTable, TableStats,
        users::{Query, RootKey, UserCounters, UserDb},
    },
};

/// Process context of an event, from the table. `lineage[0]` is the process itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcContext {
    /// Shared by consecutive events of a process while the table has not changed.
    pub lineage: Arc<[Ancestor]>,
    pub vpid: Option<u32>,
    /// Comm of the session leader.
    pub sname: Option<Arc<str>>,
    pub vpgid: Option<u32>,
    /// Controlling tty of the process, as the table knows it (for events other than exec).
    pub tty: Option<u32>,
    pub duration_ns: Option<u64>,
}

impl ProcContext {
    pub fn parent(&self) -> Option<&Ancestor> {
        self.lineage.get(1)
    }

    /// argv[1..] of the process, when the table knows it.
    pub fn args(&self) -> Option<&[String]> {
        self.lineage.first().map(|me| me.args.as_slice())
    }

    /// Its working directory at exec, with a trailing `/`.
    pub fn cwd(&self) -> Option<&str> {
        self.lineage.first().and_then(|me| me.cwd.as_deref())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Context {
    pub process: ProcContext,
    /// Shared with the other events of the same user, group and login user in the same root.
    pub user: Arc<UserContext>,
    pub container: ContainerRef,
    /// Set by the pod stage (`pods::run`); `Off` until then.
    pub pod: PodContext,
    /// Not built: no rule could match the event's type when it was enriched (see
    /// [`Interest`]). Such an event is not evaluated, whichever ruleset it then meets.
    pub skipped: bool,
}

impl Context {
    /// The context of an event nothing reads.
    fn skipped(user: Arc<UserContext>) -> Self {
        Self {
            process: ProcContext::default(),
            user,
            container: ContainerRef::Host,
            pod: PodContext::Off,
            skipped: true,
        }
    }
}

/// The event types whose events get a context: those the current ruleset has rules for
/// (every type with `--dump-events`). Fork and exit have none in the official rules, and
/// building their context (lineage, user names, container) was half of what they cost; the
/// process table still takes every event. Shared with the rules reloader, which widens it
/// before swapping in a ruleset that needs more.
///
/// The set's bits are held in two words (no 128-bit atomics): during a `set`, a reader may see
/// one word old and the other new, but each type's bit is in one word, so it sees that type's
/// old or new answer, which is all `wants` promises.
#[derive(Clone, Debug)]
pub struct Interest(Arc<[AtomicU64; 2]>);

impl Interest {
    pub fn new(types: EvtSet) -> Self {
        let me = Self(Arc::new([AtomicU64::new(0), AtomicU64::new(0)]));
        me.set(types);
        me
    }

    pub fn all() -> Self {
        Self::new(EvtSet::ALL)
    }

    pub fn set(&self, types: EvtSet) {
        let bits = types.bits();
        self.0[0].store(bits as u64, Relaxed);
        self.0[1].store((bits >> 64) as u64, Relaxed);
    }

    pub fn get(&self) -> EvtSet {
        let (lo, hi) = (self.0[0].load(Relaxed), self.0[1].load(Relaxed));
        EvtSet::from_bits(u128::from(lo) | u128::from(hi) << 64)
    }

    pub fn wants(&self, t: EvtType) -> bool {
        self.get().contains(t)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Enriched {
    pub event: Event,
    pub ctx: Context,
}

pub struct Enricher {
    table: ProcessTable,
    users: UserDb,
    /// A process seen in each container, to read the container's root through when the
    /// event's own process is gone (short-lived execs usually are by the time we look).
    anchors: HashMap<String, u32>,
    containers: LeafCache,
    proc_root: PathBuf,
    interest: Interest,
}

impl Enricher {
    /// A table seeded from `proc_root` (see `process::procfs`); contexts for the event types
    /// `interest` holds; the user tables' reads counted in `user_counters`.
    pub fn new(
        proc_root: &Path,
        cap: usize,
        grace_ns: u64,
        interest: Interest,
        user_counters: Arc<UserCounters>,
    ) -> Self {
        let mut table = ProcessTable::new(cap, grace_ns);
        let seeded = crate::process::procfs::scan(proc_root);
        log::info!(
            "process table seeded with {} processes from {}",
            seeded.len(),
            proc_root.display()
        );
        for p in seeded {
            table.insert(p);
        }
        Self {
            table,
            users: UserDb::new(proc_root, user_counters),
            anchors: HashMap::new(),
            containers: LeafCache::default(),
            proc_root: proc_root.to_path_buf(),
            interest,
        }
    }

    pub fn table_stats(&self) -> TableStats {
        self.table.stats()
    }

    pub fn enrich(&mut self, event: Event) -> Enriched {
        self.table.apply(&event);
        let ctx = if self.interest.wants(event.body.evt_type()) {
            self.context(&event)
        } else {
            Context::skipped(self.users.unknown())
        };
        Enriched { event, ctx }
    }

    fn context(&mut self, ev: &Event) -> Context {
        let t = &ev.task;
        let lineage = self.table.lineage(t.pid);
        // Fork and exit records carry no cgroup name (not read there): the table has it.
        let me = self.table.get(t.pid);
        let cgroup = t.cgroup.as_ref().or(me.and_then(|p| p.cgroup.as_ref()));
        let container = cgroup.map_or(ContainerRef::Host, |leaf| self.containers.of(leaf));
        let process = ProcContext {
            lineage,
            vpid: me.and_then(|p| p.vpid),
            sname: me
                .and_then(|p| p.groups)
                .and_then(|g| self.table.get(g.sid))
                .map(|leader| leader.image.name.clone()),
            vpgid: me
                .and_then(|p| p.groups)
                .map(|g| g.vpgid)
                .filter(|v| *v != 0),
            tty: me.and_then(|p| p.tty),
            duration_ns: me
                .and_then(|p| p.start_boot_ns)
                .map(|s| ev.boot_ns.saturating_sub(s)),
        };
        // The process may be gone already: read its root through itself, else through
        // another live process of the same container (never through an ancestor outside it:
        // `runc exec`'s parent has the host's root).
        let loginuid = match &ev.body {
            Body::Exec(e) => e.loginuid,
            _ => me.and_then(|p| p.loginuid),
        };
        let key = match &container {
            ContainerRef::Container { full_id, .. } => RootKey::Container(full_id.clone()),
            ContainerRef::Host => RootKey::Host,
        };
        let query = Query {
            key: &key,
            now_ns: ev.boot_ns,
            exec: matches!(ev.body, Body::Exec(_)),
            uid: t.uid,
            gid: t.gid,
            loginuid,
            arg_uid: ev.body.arg_uid(),
        };
        let (anchors, proc_root) = (&mut self.anchors, &self.proc_root);
        let pids = || match container.full_id() {
            Some(id) => vec![t.pid, anchor(anchors, proc_root, id, t.pid)],
            None => vec![t.pid],
        };
        let user = self.users.context(&query, pids);
        Context {
            process,
            user,
            container,
            pod: PodContext::Off,
            skipped: false,
        }
    }
}

/// Most containers with a remembered process; past it, those whose process is gone are
/// forgotten (their containers usually are too), else all.
const MAX_ANCHORS: usize = 16_384;

/// The remembered process of container `id`, replaced by `pid` once it is gone.
fn anchor(anchors: &mut HashMap<String, u32>, proc_root: &Path, id: &str, pid: u32) -> u32 {
    let alive = |p: u32| proc_root.join(p.to_string()).exists();
    match anchors.get(id) {
        Some(&a) if alive(a) => a,
        _ => {
            if anchors.len() >= MAX_ANCHORS && !anchors.contains_key(id) {
                anchors.retain(|_, a| alive(*a));
                if anchors.len() >= MAX_ANCHORS {
                    anchors.clear();
                }
            }
            anchors.insert(id.to_string(), pid);
            pid
        }
    }
}

#[cfg(test)]
mod tests;
