//! `user.name` / `group.name` from the passwd and group files of the process's own root, so a
//! container's users resolve inside the container (`/proc/<pid>/root/etc/passwd`).
//!
//! Tables are cached per root directory and re-read when older than a few seconds (a user
//! added after the first read).

use std::{
    collections::HashMap,
    fs,
    hash::BuildHasherDefault,
    path::{Path, PathBuf},
    sync::Arc,
};

use lanner_rules::filter::FastHasher;

use crate::idhash::IdHash;

/// Falco: unknown ids render as this literal (it compares equal to "<NA>" in rules).
pub const NA: &str = "<NA>";
/// Tables older than this are re-read (a user added after the first read).
const RELOAD_AFTER_NS: u64 = 5_000_000_000;
/// How long a root found for a [`RootKey`] is trusted before `/proc` is asked again. Looking
/// costs one or two `statx` per event, most of what enriching an event cost; roots change
/// rarely (a chroot or pivot), and an exec in a container, where its entrypoint first runs in
/// its own root, always looks again (see [`Query::exec`]).
const RECHECK_NS: u64 = 1_000_000_000;

/// `user.name`, `group.name` and `user.loginname` of an event. Shared strings: the same few
/// names go out with every event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserContext {
    pub name: Arc<str>,
    pub group: Arc<str>,
    pub loginname: Arc<str>,
}

#[derive(Debug, Default)]
struct Tables {
    users: Ids,
    groups: Ids,
    loaded_ns: u64,
}

/// Which root a process's user tables belong to: the container it runs in, or the host.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum RootKey {
    Host,
    Container(Arc<str>),
}

/// A root directory, by device and inode of `/proc/<pid>/root`. Keyed this way, not by the
/// container, because a container's processes see the host's root until the runtime pivots
/// (runc mounts the container's filesystems from inside the container's cgroup first).
type RootId = (u64, u64);

/// The root last found for a key (`None`: none was ever found), and when (event time)
/// `/proc` was last asked.
#[derive(Clone, Copy, Debug)]
struct Found {
    root: Option<RootId>,
    checked_ns: u64,
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
}

pub struct UserDb {
    proc_root: PathBuf,
    tables: HashMap<RootId, Tables, IdHash>,
    /// The answers given, shared: consecutive events of a process ask the same question, and a
    /// shared answer costs one reference count instead of three lookups and three. Emptied
    /// when a table is (re)loaded, and when full.
    answers: HashMap<Question, Arc<UserContext>, IdHash>,
    /// The root found for each key; kept when its processes are gone, for their late events.
    /// Looked up per event: hashed with the rules engine's string hasher, not SipHash.
    found: HashMap<RootKey, Found, BuildHasherDefault<FastHasher>>,
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
}

/// Most answers kept.
const ANSWERS_CAP: usize = 4096;

/// Names by uid or gid.
type Ids = HashMap<u32, Arc<str>, IdHash>;

/// `name:x:id:…` lines; malformed lines are skipped.
fn parse_ids(text: &str) -> Ids {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse().ok()?;
            (!name.is_empty()).then(|| (id, Arc::from(name)))
        })
        .collect()
}

impl UserDb {
    pub fn new(proc_root: &Path) -> Self {
        let na: Arc<str> = Arc::from(NA);
        Self {
            proc_root: proc_root.to_path_buf(),
            tables: HashMap::default(),
            answers: HashMap::default(),
            found: HashMap::default(),
            root: Arc::from("root"),
            unknown: Arc::new(UserContext {
                name: na.clone(),
                group: na.clone(),
                loginname: na.clone(),
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
            Some(uid) => name(tables.map(|t| &t.users), uid),
        };
        UserContext {
            name: name(tables.map(|t| &t.users), q.uid),
            group: name(tables.map(|t| &t.groups), q.gid),
            loginname,
        }
    }

    /// The key's root: the cached one while fresh, else the root of the first live pid (the
    /// host's through pid 1 for host processes), its tables loaded or refreshed as needed.
    fn resolve(&mut self, q: &Query, pids: impl FnOnce() -> Vec<u32>) -> Option<RootId> {
        let cached = self.found.get(q.key).copied();
        if let Some(f) = cached
            && !Self::recheck(q)
            && q.now_ns.saturating_sub(f.checked_ns) < RECHECK_NS
        {
            return f.root;
        }
        // Host processes: init's root first (the host's even for a chrooted process), then the
        // process itself (init's root may be unreadable, e.g. under a sandboxing pid 1).
        let host_first = (*q.key == RootKey::Host).then_some(1u32);
        for pid in host_first.into_iter().chain(pids()) {
            let dir = self.proc_root.join(pid.to_string()).join("root");
            let Ok(meta) = fs::metadata(&dir) else {
                continue;
            };
            use std::os::unix::fs::MetadataExt as _;
            let id = (meta.dev(), meta.ino());
            let stale = self
                .tables
                .get(&id)
                .is_none_or(|t| q.now_ns.saturating_sub(t.loaded_ns) >= RELOAD_AFTER_NS);
            if stale && let Some(t) = load(&dir, q.now_ns) {
                self.tables.insert(id, t);
                // Names may have changed: answer afresh.
                self.answers.clear();
                self.last = None;
            }
            if self.tables.contains_key(&id) {
                let found = Found {
                    root: Some(id),
                    checked_ns: q.now_ns,
                };
                self.found.insert(q.key.clone(), found);
                return Some(id);
            }
        }
        // Nothing alive to look through: keep the last root, and do not ask again at once.
        let root = cached.and_then(|f| f.root);
        let found = Found {
            root,
            checked_ns: q.now_ns,
        };
        self.found.insert(q.key.clone(), found);
        root
    }
}

fn load(root: &Path, now_ns: u64) -> Option<Tables> {
    let etc = root.join("etc");
    let passwd = fs::read_to_string(etc.join("passwd")).ok()?;
    let group = fs::read_to_string(etc.join("group")).unwrap_or_default();
    Some(Tables {
        users: parse_ids(&passwd),
        groups: parse_ids(&group),
        loaded_ns: now_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_parse_and_garbage_is_skipped() {
        let ids = parse_ids(
            "root:x:0:0::/root:/bin/sh\n# comment\nbad\nnobody:x:65534:65534::/:\n:x:5:\nx:x:notanumber:\n",
        );
        assert_eq!(ids.get(&0).map(|n| &**n), Some("root"));
        assert_eq!(ids.get(&65534).map(|n| &**n), Some("nobody"));
        assert_eq!(ids.len(), 2);
    }

    fn query(key: &RootKey, now_ns: u64, uid: u32, gid: u32) -> Query<'_> {
        Query {
            key,
            now_ns,
            exec: false,
            uid,
            gid,
            loginuid: None,
        }
    }

    #[test]
    fn host_names_resolve_and_unknown_ids_are_na() {
        let mut db = UserDb::new(Path::new("/proc"));
        let me = std::process::id();
        let u = db.context(&query(&RootKey::Host, 0, 0, 0), || vec![me]);
        assert_eq!((&*u.name, &*u.group, &*u.loginname), ("root", "root", NA));
        let big = 4_000_000_000;
        let u = db.context(&query(&RootKey::Host, 1, big, big), || vec![me]);
        assert_eq!((&*u.name, &*u.group), (NA, NA));
    }

    /// `<dir>/<pid>/root` with `passwd` as its /etc/passwd; the root.
    fn root_of(dir: &lanner_tests::TempDir, pid: u32, passwd: &str) -> PathBuf {
        let root = dir.path().join(format!("{pid}/root"));
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), passwd).unwrap();
        root
    }

    /// The cache answers without `/proc` until it is due or the event is an exec.
    #[test]
    fn roots_are_cached_until_due_or_exec() {
        let dir = lanner_tests::TempDir::new("users");
        root_of(&dir, 7, "app:x:1000:1000::/:\n");
        let key = RootKey::Container("c".into());
        let mut db = UserDb::new(dir.path());
        let asked = std::cell::Cell::new(0);
        let pids = || {
            asked.set(asked.get() + 1);
            vec![7]
        };
        assert_eq!(&*db.context(&query(&key, 0, 1000, 0), pids).name, "app");
        assert_eq!(
            &*db.context(&query(&key, RECHECK_NS - 1, 1000, 0), pids).name,
            "app"
        );
        assert_eq!(asked.get(), 1, "a fresh root is not looked up again");
        let exec = Query {
            exec: true,
            ..query(&key, RECHECK_NS - 1, 1000, 0)
        };
        db.context(&exec, pids);
        assert_eq!(asked.get(), 2, "an exec looks again");
        // The process is gone: the last root still answers, and is asked about once per
        // recheck period, not per event.
        fs::remove_dir_all(dir.path().join("7")).unwrap();
        let late = 3 * RECHECK_NS;
        assert_eq!(&*db.context(&query(&key, late, 1000, 0), pids).name, "app");
        assert_eq!(
            &*db.context(&query(&key, late + 1, 1000, 0), pids).name,
            "app"
        );
        assert_eq!(asked.get(), 3);
    }

    /// The same question gets the same shared answer, until the tables are read again.
    #[test]
    fn answers_are_shared_until_the_tables_reload() {
        let dir = lanner_tests::TempDir::new("users-answers");
        let root = root_of(&dir, 7, "app:x:1000:1000::/:\n");
        let key = RootKey::Container("c".into());
        let mut db = UserDb::new(dir.path());
        let first = db.context(&query(&key, 0, 1000, 0), || vec![7]);
        let again = db.context(&query(&key, 1, 1000, 0), || vec![7]);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(&*db.context(&query(&key, 2, 0, 0), || vec![7]).name, "root");
        // Another container, the same ids, in between: each key gets its own root's names.
        root_of(&dir, 8, "other:x:1000:1000::/:\n");
        let other = RootKey::Container("d".into());
        assert_eq!(
            &*db.context(&query(&other, 3, 1000, 0), || vec![8]).name,
            "other"
        );
        assert_eq!(
            &*db.context(&query(&key, 4, 1000, 0), || vec![7]).name,
            "app"
        );
        assert_eq!(
            &*db.context(&query(&other, 5, 1000, 0), || vec![8]).name,
            "other"
        );
        fs::write(root.join("etc/passwd"), "renamed:x:1000:1000::/:\n").unwrap();
        let later = RELOAD_AFTER_NS + RECHECK_NS;
        let renamed = db.context(&query(&key, later, 1000, 0), || vec![7]);
        assert_eq!(&*renamed.name, "renamed");
    }
}
