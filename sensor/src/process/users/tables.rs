//! One root's user and group tables: read (by a reader thread, see `io`), parsed, and kept
//! within a budget of roots and bytes.

use std::{collections::HashMap, sync::Arc};

use super::counters::UserCounters;
use crate::{
    idhash::IdHash,
    process::rootfs::{self, RootDir, RootId, Unreadable},
};

/// Largest passwd or group file read. Real ones are a few KB; 1 MiB holds about 20,000
/// accounts. A larger file is refused (counted `too_large`), never read in part: a cut table
/// would give plausible names for the ids it kept and `<NA>` for the others.
pub const FILE_CAP: u64 = 1 << 20;
/// Most roots whose tables are kept, and most bytes of their files in all: a node churning
/// through containers (or one forging roots) cannot grow the cache. The least recently
/// loaded go first.
const MAX_ROOTS: usize = 1024;
const MAX_BYTES: usize = 16 << 20;

/// Names by uid or gid.
pub type Ids = HashMap<u32, Arc<str>, IdHash>;

/// What a root's files gave: its names, or why they could not be read.
#[derive(Debug)]
pub struct Tables {
    pub users: Result<Ids, Unreadable>,
    pub groups: Result<Ids, Unreadable>,
    /// Event time of the read (set when stored).
    pub loaded_ns: u64,
    /// Bytes of the files read, for the cache budget.
    bytes: usize,
}

impl Tables {
    /// Reads `etc/passwd` and `etc/group` inside `root`.
    pub fn read(root: &RootDir) -> Self {
        let mut bytes = 0;
        let mut one = |rel| {
            rootfs::read_file(root, rel, FILE_CAP).map(|b| {
                bytes += b.len();
                parse_ids(&String::from_utf8_lossy(&b))
            })
        };
        let users = one(c"etc/passwd");
        // No group file is an empty table, not an unreadable one.
        let groups = match one(c"etc/group") {
            Err(Unreadable::Missing) => Ok(Ids::default()),
            g => g,
        };
        Self {
            users,
            groups,
            loaded_ns: 0,
            bytes,
        }
    }

    pub fn users(&self) -> Option<&Ids> {
        self.users.as_ref().ok()
    }

    pub fn groups(&self) -> Option<&Ids> {
        self.groups.as_ref().ok()
    }
}

/// `name:x:id:…` lines; malformed lines are skipped.
pub fn parse_ids(text: &str) -> Ids {
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

/// The tables of the roots seen, within [`MAX_ROOTS`] and [`MAX_BYTES`].
#[derive(Debug, Default)]
pub struct TableCache {
    by_root: HashMap<RootId, Tables, IdHash>,
    bytes: usize,
}

impl TableCache {
    pub fn get(&self, id: &RootId) -> Option<&Tables> {
        self.by_root.get(id)
    }

    /// Stores `t`, counting what it says, evicting the least recently loaded roots to stay in
    /// budget.
    pub fn insert(&mut self, id: RootId, t: Tables, counters: &UserCounters) {
        for r in [&t.users, &t.groups] {
            if let Err(why) = r {
                counters.unreadable(*why);
            }
        }
        counters.count_read();
        if let Some(old) = self.by_root.remove(&id) {
            self.bytes -= old.bytes;
        }
        while !self.by_root.is_empty()
            && (self.by_root.len() >= MAX_ROOTS || self.bytes + t.bytes > MAX_BYTES)
        {
            let oldest = self
                .by_root
                .iter()
                .min_by_key(|(_, t)| t.loaded_ns)
                .map(|(id, _)| *id);
            if let Some(old) = oldest.and_then(|o| self.by_root.remove(&o)) {
                self.bytes -= old.bytes;
                counters.count_evicted();
            }
        }
        self.bytes += t.bytes;
        self.by_root.insert(id, t);
    }

    /// Whether `id`'s tables were read less than `max_age_ns` before `now_ns`.
    pub fn fresh(&self, id: &RootId, now_ns: u64, max_age_ns: u64) -> bool {
        self.by_root
            .get(id)
            .is_some_and(|t| now_ns.saturating_sub(t.loaded_ns) < max_age_ns)
    }
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

    fn tables(bytes: usize, loaded_ns: u64) -> Tables {
        Tables {
            users: Ok(Ids::default()),
            groups: Err(Unreadable::NotRegular),
            loaded_ns,
            bytes,
        }
    }

    #[test]
    fn the_cache_keeps_to_its_budget_oldest_out_first() {
        let counters = UserCounters::default();
        let mut cache = TableCache::default();
        for i in 0..MAX_ROOTS as u64 + 10 {
            cache.insert((1, i), tables(10, i), &counters);
        }
        assert_eq!(cache.by_root.len(), MAX_ROOTS);
        assert!(cache.get(&(1, 0)).is_none() && cache.get(&(1, MAX_ROOTS as u64 + 9)).is_some());
        // A few big files push out as many roots as their bytes need.
        let big = MAX_BYTES / 4;
        for i in 0..4 {
            cache.insert((2, i), tables(big, 10_000 + i), &counters);
        }
        assert!(cache.bytes <= MAX_BYTES, "{} bytes kept", cache.bytes);
        assert!(cache.get(&(2, 3)).is_some());
        assert_eq!(
            cache.bytes,
            cache.by_root.values().map(|t| t.bytes).sum::<usize>()
        );
        let snap = counters.snapshot();
        assert_eq!(snap.read, MAX_ROOTS as u64 + 14);
        assert_eq!(
            snap.unreadable[Unreadable::NotRegular as usize],
            MAX_ROOTS as u64 + 14
        );
        assert!(snap.evicted > 10);
    }
}
