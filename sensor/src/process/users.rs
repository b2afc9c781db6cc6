//! `user.name` / `group.name` from the passwd and group files of the process's own root, so a
//! container's users resolve inside the container (`/proc/<pid>/root/etc/passwd`).
//!
//! Tables are cached per root directory and re-read when older than a few seconds (a user
//! added after the first read).

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Falco: unknown ids render as this literal (it compares equal to "<NA>" in rules).
pub const NA: &str = "<NA>";
const RELOAD_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Tables {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
    loaded: Option<Instant>,
}

/// Which root a process's user tables belong to: the container it runs in, or the host.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum RootKey {
    Host,
    Container(String),
}

/// A root directory, by device and inode of `/proc/<pid>/root`. Keyed this way, not by the
/// container, because a container's processes see the host's root until the runtime pivots
/// (runc mounts the container's filesystems from inside the container's cgroup first).
type RootId = (u64, u64);

pub struct UserDb {
    proc_root: PathBuf,
    tables: HashMap<RootId, Tables>,
    /// The last root seen for each container, for events whose processes are all gone.
    last_root: HashMap<RootKey, RootId>,
}

/// `name:x:id:…` lines; malformed lines are skipped.
fn parse_ids(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse().ok()?;
            (!name.is_empty()).then(|| (id, name.to_string()))
        })
        .collect()
}

impl UserDb {
    pub fn new(proc_root: &Path) -> Self {
        Self {
            proc_root: proc_root.to_path_buf(),
            tables: HashMap::new(),
            last_root: HashMap::new(),
        }
    }

    /// (user name, group name) for `uid`/`gid` in the root of the first of `pids` still alive
    /// (the process itself may be gone already), else the root last seen for `key`.
    pub fn names(&mut self, key: &RootKey, pids: &[u32], uid: u32, gid: u32) -> (String, String) {
        let root = self.resolve(key, pids);
        let user = root.and_then(|r| self.lookup(r, |t| t.users.get(&uid).cloned()));
        let group = root.and_then(|r| self.lookup(r, |t| t.groups.get(&gid).cloned()));
        (
            user.unwrap_or_else(|| if uid == 0 { "root".into() } else { NA.into() }),
            group.unwrap_or_else(|| if gid == 0 { "root".into() } else { NA.into() }),
        )
    }

    /// `user.loginname`: the login uid's name; `<NA>` when unset or unknown.
    pub fn login_name(&mut self, key: &RootKey, pids: &[u32], loginuid: Option<u32>) -> String {
        match loginuid {
            None | Some(u32::MAX) => NA.into(),
            Some(0) => "root".into(),
            Some(uid) => self.names(key, pids, uid, 0).0,
        }
    }

    /// The root of the first live pid (the host's through pid 1 for host processes), its
    /// tables loaded or refreshed as needed.
    fn resolve(&mut self, key: &RootKey, pids: &[u32]) -> Option<RootId> {
        // Host processes: init's root first (the host's even for a chrooted process), then the
        // process itself (init's root may be unreadable, e.g. under a sandboxing pid 1).
        let host_first = (*key == RootKey::Host).then_some(1u32);
        for pid in host_first.into_iter().chain(pids.iter().copied()) {
            let dir = self.proc_root.join(pid.to_string()).join("root");
            let Ok(meta) = fs::metadata(&dir) else {
                continue;
            };
            use std::os::unix::fs::MetadataExt as _;
            let id = (meta.dev(), meta.ino());
            let stale = self
                .tables
                .get(&id)
                .is_none_or(|t| t.loaded.is_none_or(|at| at.elapsed() >= RELOAD_AFTER));
            if stale && let Some(t) = load(&dir) {
                self.tables.insert(id, t);
            }
            if self.tables.contains_key(&id) {
                self.last_root.insert(key.clone(), id);
                return Some(id);
            }
        }
        self.last_root.get(key).copied()
    }

    fn lookup(&self, root: RootId, get: impl Fn(&Tables) -> Option<String>) -> Option<String> {
        self.tables.get(&root).and_then(get)
    }
}

fn load(root: &Path) -> Option<Tables> {
    let etc = root.join("etc");
    let passwd = fs::read_to_string(etc.join("passwd")).ok()?;
    let group = fs::read_to_string(etc.join("group")).unwrap_or_default();
    Some(Tables {
        users: parse_ids(&passwd),
        groups: parse_ids(&group),
        loaded: Some(Instant::now()),
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
        assert_eq!(ids.get(&0).map(String::as_str), Some("root"));
        assert_eq!(ids.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn host_names_resolve_and_unknown_ids_are_na() {
        let mut db = UserDb::new(Path::new("/proc"));
        let (u, g) = db.names(&RootKey::Host, &[], 0, 0);
        assert_eq!((u.as_str(), g.as_str()), ("root", "root"));
        let (u, g) = db.names(&RootKey::Host, &[], 4_000_000_000, 4_000_000_000);
        assert_eq!((u.as_str(), g.as_str()), (NA, NA));
        assert_eq!(db.login_name(&RootKey::Host, &[], Some(u32::MAX)), NA);
    }
}
