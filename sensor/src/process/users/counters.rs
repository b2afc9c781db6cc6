//! What reading the user tables cost and failed: for the exit summary and the metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::{Value, json};

use crate::process::rootfs::Unreadable;

#[derive(Debug, Default)]
pub struct UserCounters {
    /// Roots whose tables were read (successfully or not).
    read: AtomicU64,
    /// Files that could not be read, by reason; `timeout` and `busy` count lookups that had
    /// no answer in time or no reader to ask.
    unreadable: [AtomicU64; Unreadable::ALL.len()],
    /// Roots dropped from the cache to keep it in budget.
    evicted: AtomicU64,
    /// Readers left behind on a read that did not come back in time (a gauge).
    pub stuck_readers: AtomicU64,
}

/// The counters' values at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserSnapshot {
    pub read: u64,
    pub unreadable: [u64; Unreadable::ALL.len()],
    pub evicted: u64,
    pub stuck_readers: u64,
}

impl UserCounters {
    pub fn count_read(&self) {
        self.read.fetch_add(1, Relaxed);
    }

    pub fn unreadable(&self, why: Unreadable) {
        self.unreadable[why as usize].fetch_add(1, Relaxed);
    }

    pub fn count_evicted(&self) {
        self.evicted.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> UserSnapshot {
        UserSnapshot {
            read: self.read.load(Relaxed),
            unreadable: std::array::from_fn(|i| self.unreadable[i].load(Relaxed)),
            evicted: self.evicted.load(Relaxed),
            stuck_readers: self.stuck_readers.load(Relaxed),
        }
    }
}

impl UserSnapshot {
    /// The `users` object of the exit summary (docs/events.md).
    pub fn to_json(self) -> Value {
        let unreadable: serde_json::Map<String, Value> = Unreadable::ALL
            .iter()
            .map(|r| (r.name().to_string(), json!(self.unreadable[*r as usize])))
            .collect();
        json!({
            "tables_read": self.read,
            "unreadable": unreadable,
            "tables_evicted": self.evicted,
            "stuck_readers": self.stuck_readers,
        })
    }
}
