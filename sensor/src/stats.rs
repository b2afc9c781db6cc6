//! Counters of events read and lost, per kind and per hop, kept for the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use lanner_common::{EventKind, KIND_COUNT, LOSS_REASONS, LossReason};
use serde_json::{Map, Value, json};

use crate::process::TableStats;

/// User-side counters; the kernel's are read from the `LOSSES` map into [`KernelLosses`].
#[derive(Debug, Default)]
pub struct Counters {
    pub read: [AtomicU64; KIND_COUNT],
    /// Records the decoder rejected (counted, never a panic).
    pub decode_error: AtomicU64,
}

impl Counters {
    pub fn count_read(&self, kind: EventKind) {
        self.read[kind.index()].fetch_add(1, Relaxed);
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

/// The counters as the JSON object documented in docs/events.md.
pub fn to_json(c: &Counters, k: &KernelLosses, table: &TableStats) -> Value {
    let mut events = Map::new();
    let mut lost = Map::new();
    for kind in EventKind::ALL {
        events.insert(
            kind.name().into(),
            json!(c.read[kind.index()].load(Relaxed)),
        );
        let reasons: Map<String, Value> = LossReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), json!(k.get(kind, *r))))
            .collect();
        lost.insert(kind.name().into(), Value::Object(reasons));
    }
    json!({
        "events": events,
        "lost": lost,
        "user_lost": { "decode_error": c.decode_error.load(Relaxed) },
        "process_table": { "size": table.size, "expired": table.expired, "evicted": table.evicted },
    })
}
