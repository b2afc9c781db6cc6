//! The counters of one sink (`lanner_sink_*` and the `sinks` object of the exit summary).
//! Every alert handed to a sink ends up in exactly one of `delivered`, `rejected` or `dropped`
//! (with the reason), or is still queued (memory) or spooled (disk).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a sink lost an alert without the receiver having seen it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The memory queue (`spool.memory_queue` records or `spool.memory_queue_bytes`) was full.
    QueueFull,
    /// The spool was at `spool.max_bytes`.
    SpoolFull,
    /// The disk refused the write (ENOSPC, EIO…), or a write failed less than a backoff ago
    /// and the disk was not tried again: the spool, or the file output's file.
    WriteError,
    /// A spool line that does not parse (damaged on disk): skipped.
    Unreadable,
    /// Still in a memory queue when the drain time at shutdown ran out.
    Shutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::SpoolFull,
        DropReason::WriteError,
        DropReason::Unreadable,
        DropReason::Shutdown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::SpoolFull => "spool_full",
            DropReason::WriteError => "write_error",
            DropReason::Unreadable => "unreadable",
            DropReason::Shutdown => "shutdown",
        }
    }
}

#[derive(Debug, Default)]
pub struct SinkStats {
    /// Taken by the receiver; each record once, however many times it was sent.
    pub delivered: AtomicU64,
    /// Refused by the receiver for good (logged with the reason).
    pub rejected: AtomicU64,
    /// Never delivered, all reasons (the sum of `drops`).
    pub dropped: AtomicU64,
    /// `dropped` per [`DropReason`], in [`DropReason::ALL`]'s order.
    drops: [AtomicU64; DropReason::ALL.len()],
    /// Attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Records waiting in the memory queue.
    pub queued: AtomicU64,
    /// Bytes of their JSON lines.
    pub queued_bytes: AtomicU64,
    /// Bytes the spool's segments take on disk.
    pub spool_bytes: AtomicU64,
}

impl SinkStats {
    pub fn add_drops(&self, reason: DropReason, n: u64) {
        self.drops[reason as usize].fetch_add(n, Relaxed);
        self.dropped.fetch_add(n, Relaxed);
    }

    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize].load(Relaxed)
    }

    /// `{"queue_full": n, …}`
    pub fn drops_json(&self) -> serde_json::Value {
        let m = DropReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), self.drops(*r).into()))
            .collect();
        serde_json::Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_add_up_per_reason() {
        let s = SinkStats::default();
        s.add_drops(DropReason::WriteError, 3);
        s.add_drops(DropReason::SpoolFull, 2);
        assert_eq!(s.dropped.load(Relaxed), 5);
        assert_eq!(s.drops(DropReason::WriteError), 3);
        let j = s.drops_json();
        assert_eq!(j["write_error"], 3);
        assert_eq!(j["spool_full"], 2);
        assert_eq!(j["queue_full"], 0);
    }
}
