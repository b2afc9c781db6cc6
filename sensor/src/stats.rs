//! Counters of events read and lost, per kind and per hop, kept for the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use lanner_common::{EventKind, KIND_COUNT, LOSS_REASONS, LossReason};
use serde_json::{Map, Value, json};

use crate::{
    enrich::pods::PodWaitCounters,
    event::{CutPaths, EventPath},
    k8s::PodCacheStats,
    process::{TableStats, users::UserCounters},
};

/// User-side counters; the kernel's are read from the `LOSSES` map into [`KernelLosses`].
#[derive(Debug, Default)]
pub struct Counters {
    pub read: [AtomicU64; KIND_COUNT],
    /// Records the decoder rejected (counted, never a panic).
    pub decode_error: AtomicU64,
    /// Times the reader found records waiting and took them: with records per drain, what
    /// `--max-delay-ms` buys (each drain after a sleep is a context switch).
    pub drains: AtomicU64,
    /// Events delivered with a path cut short, per path (`EventPath as usize`).
    pub paths_truncated: [AtomicU64; EventPath::ALL.len()],
}

impl Counters {
    pub fn count_read(&self, kind: EventKind) {
        self.read[kind.index()].fetch_add(1, Relaxed);
    }

    pub fn count_cut_paths(&self, cut: CutPaths) {
        for p in cut.iter() {
            self.paths_truncated[p as usize].fetch_add(1, Relaxed);
        }
    }

    /// `{"exepath": n, ...}`: a key for every path, 0 when none was cut.
    pub fn paths_truncated_json(&self) -> Value {
        let m: Map<String, Value> = EventPath::ALL
            .iter()
            .map(|p| {
                let n = self.paths_truncated[*p as usize].load(Relaxed);
                (p.name().to_string(), json!(n))
            })
            .collect();
        Value::Object(m)
    }
}

/// Levels of the enrichment stage, updated as it goes (for the metrics endpoint).
#[derive(Debug, Default)]
pub struct StageGauges {
    /// Events waiting for their pod's metadata.
    pub pending: AtomicU64,
    pub table_size: AtomicU64,
    pub table_expired: AtomicU64,
    pub table_evicted: AtomicU64,
    /// The user tables' reads (the enricher counts into it).
    pub users: std::sync::Arc<UserCounters>,
}

impl StageGauges {
    pub fn set_table(&self, t: &TableStats) {
        self.table_size.store(t.size as u64, Relaxed);
        self.table_expired.store(t.expired, Relaxed);
        self.table_evicted.store(t.evicted, Relaxed);
    }
}

/// Sum over CPUs of the kernel's per-kind loss counters.
#[derive(Debug, Default, Clone)]
pub struct KernelLosses(pub [[u64; LOSS_REASONS]; KIND_COUNT]);

impl KernelLosses {
    pub fn get(&self, kind: EventKind, reason: LossReason) -> u64 {
        self.0[kind.index()][reason as usize]
    }
}

/// Everything the exit summary reports.
pub struct Snapshot<'a> {
    pub counters: &'a Counters,
    pub kernel: &'a KernelLosses,
    pub table: &'a TableStats,
    pub pods: PodCacheStats,
    pub pods_enabled: bool,
    pub pods_synced: bool,
    pub pods_stale: bool,
    pub pods_node: Option<&'a str>,
    pub pod_wait: &'a PodWaitCounters,
    pub users: &'a UserCounters,
}

/// The counters as the JSON object documented in docs/events.md.
pub fn to_json(s: &Snapshot<'_>) -> Value {
    let mut events = Map::new();
    let mut lost = Map::new();
    for kind in EventKind::ALL {
        events.insert(
            kind.name().into(),
            json!(s.counters.read[kind.index()].load(Relaxed)),
        );
        let reasons: Map<String, Value> = LossReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), json!(s.kernel.get(kind, *r))))
            .collect();
        lost.insert(kind.name().into(), Value::Object(reasons));
    }
    let (t, p) = (s.table, &s.pods);
    json!({
        "events": events,
        "lost": lost,
        "user_lost": { "decode_error": s.counters.decode_error.load(Relaxed) },
        "reader": { "drains": s.counters.drains.load(Relaxed) },
        "paths_truncated": s.counters.paths_truncated_json(),
        "process_table": { "size": t.size, "expired": t.expired, "evicted": t.evicted },
        "users": s.users.snapshot().to_json(),
        "pod_cache": {
            "enabled": s.pods_enabled,
            "node": s.pods_node,
            "synced": s.pods_synced,
            "stale": s.pods_stale,
            "pods": p.pods,
            "containers": p.containers,
            "watch_errors": p.watch_errors,
            "relists": p.relists,
            "bad_container_ids": p.bad_container_ids,
            "oversized_answers": p.oversized_answers,
            "oversized_events": p.oversized_events,
            "pods_refused": p.pods_refused,
            "resolved_after_wait": s.pod_wait.resolved_after_wait.load(Relaxed),
            "sent_pending": s.pod_wait.sent_pending.load(Relaxed),
        },
    })
}
