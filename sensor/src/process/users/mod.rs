//! `user.name` / `group.name` from the passwd and group files of the process's own root, so a
//! container's users resolve inside the container (`/proc/<pid>/root/etc/passwd`).
//!
//! Tables are cached per root directory and re-read when older than a few seconds (a user
//! added after the first read). The files belong to whoever owns the root, so they are read
//! by a reader thread with a deadline (`io`), safely (`process::rootfs`), within a budget
//! (`tables`); what cannot be read gives `<NA>` and is counted (`counters`).

pub mod counters;
mod io;
pub mod tables;

use std::{
    collections::{HashMap, HashSet},
    hash::BuildHasherDefault,
    path::Path,
    sync::Arc,
};

use lanner_rules::filter::FastHasher;

pub use self::counters::UserCounters;
use self::{
    io::{Found as Lookup, Job, Readers},
    tables::{Ids, TableCache},
};
use crate::{
    idhash::IdHash,
    process::rootfs::{RootId, Unreadable},
};

/// Falco: unknown ids render as this literal (it compares equal to "<NA>" in rules).
pub const NA: &str = "<NA>";
/// Falco: a user id parameter of -1 (setuid(-1), "no change") renders as this.
pub const NONE: &str = "<NONE>";
/// Tables older than this are re-read (a user added after the first read).
const RELOAD_AFTER_NS: u64 = 5_000_000_000;
/// How long a root found for a [`RootKey`] is trusted before `/proc` is asked again. Looking
/// costs one or two `statx` per event, most of what enriching an event cost; roots change
/// rarely (a chroot or pivot), and an exec in a container, where its entrypoint first runs in
/// its own root, always looks again (see [`Query::exec`]).
const RECHECK_NS: u64 = 1_000_000_000;
/// After a lookup that found every reader busy (or failed), the key is not looked up again
/// for this long, exec or not: its events answer from what is known, without waiting. A key
/// whose lookup timed out is not looked up again until its reader comes back.
const BACKOFF_NS: u64 = RELOAD_AFTER_NS;
/// Most keys (containers) remembered; past it, those not checked for a minute are forgotten
/// (their containers are usually gone), else all.
const MAX_KEYS: usize = 16_384;
const FORGET_AFTER_NS: u64 = 60_000_000_000;

/// `user.name`, `group.name` and `user.loginname` of an event. Shared strings: the same few
/// names go out with every event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserContext {
    pub name: Arc<str>,
    pub group: Arc<str>,
    pub loginname: Arc<str>,
    /// The name of the user id a parameter of the event names (setuid's `uid`), as Falco
    /// renders it: `<NA>` when the tables do not have it, `<NONE>` for -1.
    pub arg_name: Option<Arc<str>>,
}

/// Which root a process's user tables belong to: the container it runs in, or the host.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum RootKey {
    Host,
    Container(Arc<str>),
}

/// The root last found for a key (`None`: none was ever found), when (event time) `/proc`
/// was last asked, and before when it must not be asked again.
#[derive(Clone, Copy, Debug)]
struct Found {
    root: Option<RootId>,
    checked_ns: u64,
    retry_ns: u64,
}

/// One event's lookup.
pub struct Query<'a> {
    pub key: &'a RootKey,
    /// The event's time (`CLOCK_BOOTTIME` ns): the clock of every cache age here, so a replay
    /// ages them as the recording did.
    pub now_ns: u64,
    /// The event is an exec: in a container, look the root up again whatever the cache says.
    pub exec: bool,
    pub uid: u32,
    pub gid: u32,
    /// The audit login uid; `None` or `u32::MAX` when unset.
    pub loginuid: Option<u32>,
    /// A user id a parameter of the event names (setuid's `uid`), to be named too.
    pub arg_uid: Option<u32>,
}

pub struct UserDb {
    readers: Readers,
    tables: TableCache,
    counters: Arc<UserCounters>,
    /// The answers given, shared: consecutive events of a process ask the same question, and a
    /// shared answer costs one reference count instead of three lookups and three. Emptied
    /// when a table is (re)loaded, and when full.
    answers: HashMap<Question, Arc<UserContext>, IdHash>,
    /// The root found for each key; kept when its processes are gone, for their late events.
    /// Looked up per event: hashed with the rules engine's string hasher, not SipHash.
    found: HashMap<RootKey, Found, BuildHasherDefault<FastHasher>>,
    /// Keys whose reader was left behind (at most `io::MAX_STUCK`): not asked about again
    /// until it comes back.
    waiting: HashSet<RootKey>,
    root: Arc<str>,
    na: Arc<str>,
    /// Every name `<NA>`: what an event whose context is skipped carries.
    unknown: Arc<UserContext>,
    /// The last answer, for the next event that asks the same of the same key while its root
    /// is trusted: events come in bursts from one process, and this skips both lookups (the
    /// key's root, hashed by container id, and the answer).
    last: Option<Last>,
}

struct Last {
    key: RootKey,
    uid: u32,
    gid: u32,
    loginuid: Option<u32>,
    arg_uid: Option<u32>,
    /// When `resolve` would look at `/proc` again (event time).
    trusted_until_ns: u64,
    answer: Arc<UserContext>,
}

impl Last {
    fn answers(&self, q: &Query) -> bool {
        *q.key == self.key
            && q.uid == self.uid
            && q.gid == self.gid
            && q.loginuid == self.loginuid
            && q.arg_uid == self.arg_uid
            && q.now_ns < self.trusted_until_ns
    }
}

/// What an answer depends on: the root's tables and the ids.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct Question {
    root: Option<RootId>,
    uid: u32,
    gid: u32,
    loginuid: Option<u32>,
    arg_uid: Option<u32>,
}

/// Most answers kept.
const ANSWERS_CAP: usize = 4096;

impl UserDb {
    pub fn new(proc_root: &Path, counters: Arc<UserCounters>) -> Self {
        let na: Arc<str> = Arc::from(NA);
        Self {
            readers: Readers::new(proc_root.to_path_buf(), counters.clone()),
            tables: TableCache::default(),
            counters,
            answers: HashMap::default(),
            found: HashMap::default(),
            waiting: HashSet::new(),
            root: Arc::from("root"),
            unknown: Arc::new(UserContext {
                name: na.clone(),
                group: na.clone(),
                loginname: na.clone(),
                arg_name: None,
            }),
            na,
            last: None,
        }
    }

    /// Names not looked up.
    pub fn unknown(&self) -> Arc<UserContext> {
        self.unknown.clone()
    }

    /// The names for `q`, in the root of the first of `pids()` still alive (the process
    /// itself may be gone already), else the root last found for the key. `pids` is called
    /// only when the cache has to be checked against `/proc`.
    pub fn context(&mut self, q: &Query, pids: impl FnOnce() -> Vec<u32>) -> Arc<UserContext> {
        if !Self::recheck(q)
            && let Some(last) = &self.last
            && last.answers(q)
        {
            return last.answer.clone();
        }
        let question = Question {
            root: self.resolve(q, pids),
            uid: q.uid,
            gid: q.gid,
            loginuid: q.loginuid,
            arg_uid: q.arg_uid,
        };
        let answer = match self.answers.get(&question) {
            Some(a) => a.clone(),
            None => {
                let answer = Arc::new(self.answer(question));
                if self.answers.len() >= ANSWERS_CAP {
                    self.answers.clear();
                }
                self.answers.insert(question, answer.clone());
                answer
            }
        };
        // `resolve` just recorded when the key's root was checked.
        let checked_ns = self.found.get(q.key).map_or(0, |f| f.checked_ns);
        self.last = Some(Last {
            key: q.key.clone(),
            uid: q.uid,
            gid: q.gid,
            loginuid: q.loginuid,
            arg_uid: q.arg_uid,
            trusted_until_ns: checked_ns.saturating_add(RECHECK_NS),
            answer: answer.clone(),
        });
        answer
    }

    /// A container's exec may be its entrypoint's, the first event in its own root: its root
    /// is looked up whatever the caches say. The host's root does not move.
    fn recheck(q: &Query) -> bool {
        q.exec && *q.key != RootKey::Host
    }

    fn answer(&self, q: Question) -> UserContext {
        let tables = q.root.and_then(|r| self.tables.get(&r));
        let (users, groups) = (
            tables.and_then(|t| t.users()),
            tables.and_then(|t| t.groups()),
        );
        // Uid and gid 0 are root by the kernel's own convention, whatever the files say or
        // whether they could be read.
        let name = |ids: Option<&Ids>, id: u32| {
            ids.and_then(|t| t.get(&id)).cloned().unwrap_or_else(|| {
                if id == 0 {
                    self.root.clone()
                } else {
                    self.na.clone()
                }
            })
        };
        let loginname = match q.loginuid {
            None | Some(u32::MAX) => self.na.clone(),
            Some(uid) => name(users, uid),
        };
        UserContext {
            name: name(users, q.uid),
            group: name(groups, q.gid),
            loginname,
            arg_name: q.arg_uid.map(|uid| match uid {
                u32::MAX => Arc::from(NONE),
                uid => name(users, uid),
            }),
        }
    }

    /// The key's root: the cached one while fresh, else the root of the first live pid (the
    /// host's through pid 1 for host processes), its tables loaded or refreshed as needed, by
    /// a reader thread within its deadline. A lookup that gets no answer in time keeps the
    /// last root known and backs off.
    fn resolve(&mut self, q: &Query, pids: impl FnOnce() -> Vec<u32>) -> Option<RootId> {
        let cached = self.found.get(q.key).copied();
        if let Some(f) = cached
            && (q.now_ns < f.retry_ns
                || (!Self::recheck(q) && q.now_ns.saturating_sub(f.checked_ns) < RECHECK_NS))
        {
            return f.root;
        }
        self.take_late(q.now_ns);
        if self.waiting.contains(q.key) {
            return cached.and_then(|f| f.root);
        }
        // Host processes: init's root first (the host's even for a chrooted process), then the
        // process itself (init's root may be unreadable, e.g. under a sandboxing pid 1).
        let host_first = (*q.key == RootKey::Host).then_some(1u32);
        let fresh = cached
            .and_then(|f| f.root)
            .filter(|id| self.tables.fresh(id, q.now_ns, RELOAD_AFTER_NS));
        let job = Job {
            key: q.key.clone(),
            pids: host_first.into_iter().chain(pids()).collect(),
            fresh,
        };
        let last_root = cached.and_then(|f| f.root);
        let (root, retry_ns) = match self.readers.ask(job) {
            Ok(Lookup::Root { id, tables }) => {
                if let Some(mut t) = tables {
                    t.loaded_ns = q.now_ns;
                    self.store(id, t);
                }
                (Some(id), 0)
            }
            // Nothing alive to look through: keep the last root, and do not ask again at once.
            Ok(Lookup::Nothing) => (last_root, 0),
            Err(why) => {
                self.counters.unreadable(why);
                if why == Unreadable::Timeout {
                    self.waiting.insert(q.key.clone());
                    (last_root, 0)
                } else {
                    (last_root, q.now_ns.saturating_add(BACKOFF_NS))
                }
            }
        };
        self.remember(
            q.key,
            Found {
                root,
                checked_ns: q.now_ns,
                retry_ns,
            },
        );
        root
    }

    /// What readers left behind found once they came back: their keys may be asked again.
    fn take_late(&mut self, now_ns: u64) {
        for (key, found) in self.readers.late() {
            self.waiting.remove(&key);
            if let Lookup::Root { id, tables } = found {
                if let Some(mut t) = tables {
                    t.loaded_ns = now_ns;
                    self.store(id, t);
                }
                let f = Found {
                    root: Some(id),
                    checked_ns: now_ns,
                    retry_ns: 0,
                };
                self.remember(&key, f);
            }
        }
    }

    fn store(&mut self, id: RootId, t: tables::Tables) {
        self.tables.insert(id, t, &self.counters);
        // Names may have changed: answer afresh.
        self.answers.clear();
        self.last = None;
    }

    /// Records what was found for `key`, within [`MAX_KEYS`].
    fn remember(&mut self, key: &RootKey, f: Found) {
        if self.found.len() >= MAX_KEYS && !self.found.contains_key(key) {
            let now = f.checked_ns;
            self.found
                .retain(|_, old| now.saturating_sub(old.checked_ns) < FORGET_AFTER_NS);
            if self.found.len() >= MAX_KEYS {
                self.found.clear();
            }
        }
        self.found.insert(key.clone(), f);
    }
}

#[cfg(test)]
mod tests;
