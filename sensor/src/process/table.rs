//! Bounded process table with a grace period for exited processes.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

pub use crate::event::Image;
use crate::{
    event::{Body, Event, ProcessGroups},
    idhash::IdHash,
};

/// One ancestor (or the process itself at index 0) as Falco's `proc.a*[N]` fields see it:
/// its pid and the image it ran at the event (`name` is the image's `comm`, and so on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestor {
    pub pid: u32,
    pub image: Arc<Image>,
}

impl std::ops::Deref for Ancestor {
    type Target = Image;
    fn deref(&self) -> &Image {
        &self.image
    }
}

/// What the table knows of one process (thread group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub image: Arc<Image>,
    pub uid: u32,
    pub gid: u32,
    pub loginuid: Option<u32>,
    pub vpid: Option<u32>,
    pub groups: Option<ProcessGroups>,
    /// Controlling tty device number (0: none), from its exec; a fork keeps its parent's.
    pub tty: Option<u32>,
    /// `CLOCK_BOOTTIME` ns of the fork that created it.
    pub start_boot_ns: Option<u64>,
    /// Leaf name of its cgroup.
    pub cgroup: Option<Arc<str>>,
    pub exited_boot_ns: Option<u64>,
}

/// Counters for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub size: usize,
    /// Exited processes dropped after their grace period.
    pub expired: u64,
    /// Entries dropped early because the table was full.
    pub evicted: u64,
}

pub struct ProcessTable {
    procs: HashMap<u32, ProcInfo, IdHash>,
    /// Exited pids in exit order, with their exit time.
    exited: VecDeque<(u64, u32)>,
    cap: usize,
    grace_ns: u64,
    stats: TableStats,
    /// The last lineage handed out, while no change to the table can have altered it: events
    /// come in bursts from one process (a connect loop), and sharing its lineage costs one
    /// reference count instead of a vector and one per ancestor, made and dropped per event.
    last_lineage: Option<(u32, Arc<[Ancestor]>)>,
}

/// Ancestry walks stop here (and at loops).
pub const MAX_ANCESTRY: usize = 32;

impl ProcessTable {
    pub fn new(cap: usize, grace_ns: u64) -> Self {
        Self {
            procs: HashMap::default(),
            exited: VecDeque::new(),
            cap: cap.max(1),
            grace_ns,
            stats: TableStats::default(),
            last_lineage: None,
        }
    }

    pub fn stats(&self) -> TableStats {
        TableStats {
            size: self.procs.len(),
            ..self.stats
        }
    }

    pub fn get(&self, pid: u32) -> Option<&ProcInfo> {
        self.procs.get(&pid)
    }

    pub fn insert(&mut self, p: ProcInfo) {
        self.last_lineage = None;
        self.procs.insert(p.pid, p);
        self.enforce_cap();
    }

    /// The process and its ancestors, itself first, parent next. Stops at pid 0, an unknown
    /// pid, a loop, or [`MAX_ANCESTRY`].
    pub fn lineage(&mut self, pid: u32) -> Arc<[Ancestor]> {
        if let Some((last, lineage)) = &self.last_lineage
            && *last == pid
        {
            return lineage.clone();
        }
        let lineage: Arc<[Ancestor]> = self.walk(pid).into();
        self.last_lineage = Some((pid, lineage.clone()));
        lineage
    }

    fn walk(&self, pid: u32) -> Vec<Ancestor> {
        let mut out: Vec<Ancestor> = Vec::with_capacity(8);
        let mut cur = pid;
        while out.len() < MAX_ANCESTRY {
            let Some(p) = self.procs.get(&cur) else { break };
            if out.iter().any(|q| q.pid == p.pid) {
                break;
            }
            out.push(Ancestor {
                pid: p.pid,
                image: p.image.clone(),
            });
            if p.ppid == 0 || p.ppid == p.pid {
                break;
            }
            cur = p.ppid;
        }
        out
    }

    /// Keep the table current with one event. Call before reading context for it, so an exec
    /// sees its own new image.
    pub fn apply(&mut self, ev: &Event) {
        let t = &ev.task;
        match &ev.body {
            Body::Fork(f) if f.child_pid != t.pid => {
                let mut child = self.procs.get(&t.pid).cloned().unwrap_or_else(|| ProcInfo {
                    pid: t.pid,
                    image: Image::named(t.comm.clone()),
                    uid: t.uid,
                    gid: t.gid,
                    ..ProcInfo::default()
                });
                child.pid = f.child_pid;
                child.ppid = t.pid;
                // A new pid: its number in a child namespace is not known until it execs.
                child.vpid = None;
                child.start_boot_ns = Some(ev.boot_ns);
                child.exited_boot_ns = None;
                self.insert(child);
            }
            Body::Exec(e) if e.ret >= 0 => {
                self.last_lineage = None;
                let entry = self.procs.entry(t.pid).or_insert_with(|| ProcInfo {
                    pid: t.pid,
                    ..ProcInfo::default()
                });
                entry.ppid = e.ppid;
                entry.image = e.image.clone();
                entry.uid = t.uid;
                entry.gid = t.gid;
                entry.loginuid = e.loginuid;
                entry.vpid = e.vpid;
                entry.groups = e.groups.or(entry.groups);
                entry.tty = e.tty.or(entry.tty);
                entry.cgroup = t.cgroup.clone().or(entry.cgroup.take());
                self.enforce_cap();
            }
            Body::Exit(_) => {
                if let Some(p) = self.procs.get_mut(&t.pid) {
                    p.exited_boot_ns = Some(ev.boot_ns);
                    self.exited.push_back((ev.boot_ns, t.pid));
                }
            }
            _ => {
                // Keep what the kernel says is current for processes we knew nothing about.
                if !self.procs.contains_key(&t.pid) && t.pid != 0 {
                    self.insert(ProcInfo {
                        pid: t.pid,
                        image: Image::named(t.comm.clone()),
                        uid: t.uid,
                        gid: t.gid,
                        cgroup: t.cgroup.clone(),
                        ..ProcInfo::default()
                    });
                }
            }
        }
        self.expire(ev.boot_ns);
    }

    /// Drop exited processes whose grace period is over (late events still resolved them).
    fn expire(&mut self, now_ns: u64) {
        while let Some(&(at, pid)) = self.exited.front() {
            if now_ns.saturating_sub(at) < self.grace_ns {
                break;
            }
            self.exited.pop_front();
            // The pid may have been reused by a newer process since: only drop the exited one.
            if self
                .procs
                .get(&pid)
                .is_some_and(|p| p.exited_boot_ns == Some(at))
            {
                self.remove(pid);
                self.stats.expired += 1;
            }
        }
    }

    /// Over the cap: first exited processes (oldest exit first), then any entry.
    fn enforce_cap(&mut self) {
        while self.procs.len() > self.cap {
            if let Some((at, pid)) = self.exited.pop_front() {
                if self
                    .procs
                    .get(&pid)
                    .is_some_and(|p| p.exited_boot_ns == Some(at))
                {
                    self.remove(pid);
                    self.stats.evicted += 1;
                }
                continue;
            }
            let Some(&pid) = self.procs.keys().next() else {
                return;
            };
            self.remove(pid);
            self.stats.evicted += 1;
        }
    }

    /// Every removal goes through here: it may change a lineage handed out.
    fn remove(&mut self, pid: u32) {
        self.procs.remove(&pid);
        self.last_lineage = None;
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
