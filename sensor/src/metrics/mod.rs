//! The metrics endpoint's content: `falco_events` (what the seed's Prometheus rules and
//! dashboards query) and Lanner's own health (`lanner_*`): events captured and lost per hop,
//! pod metadata, process table, rules, latencies, last event, build.
//!
//! Everything is read at scrape time from the counters the pipeline already keeps; the only
//! lock on the event path is the one `falco_events` takes per alert (alerts are rare).

pub mod falco_events;
pub mod health;
pub mod histogram;
mod prefilter;
mod routes;
pub mod server;
pub mod stall;
pub mod text;

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::Instant,
};

use lanner_common::{EventKind, LossReason};

use crate::{
    enrich::pods::PodWaitCounters,
    k8s::PodCache,
    loader::prefilter::Status as PrefilterStatus,
    rules::live::ReloadCounters,
    sinks::stats::{DropReason, SinkStats},
    stats::{Counters, KernelLosses, StageGauges},
};
use falco_events::{FalcoEvents, PodRef};
use histogram::Histogram;
use server::ConnCounters;
use stall::Pipeline;
use text::Exposition;

/// Rule evaluation of one event: well under a µs to a few µs.
static EVAL_BOUNDS: [f64; 10] = [
    2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 1e-3,
];
/// Syscall to alert written: sub-ms normally; the pod wait adds up to `--pod-wait-ms`.
static E2E_BOUNDS: [f64; 14] = [
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Where the health figures come from (shared with the pipeline stages).
pub struct Sources {
    pub counters: Arc<Counters>,
    pub stage: Arc<StageGauges>,
    pub pod_wait: Arc<PodWaitCounters>,
    pub pods: PodCache,
    pub rules: Arc<ReloadCounters>,
}

pub struct Metrics {
    pub hostname: String,
    falco: Mutex<FalcoEvents>,
    sources: Sources,
    /// The kernel's loss counters as last read by the health task.
    kernel: Mutex<KernelLosses>,
    pub eval_latency: Histogram,
    pub e2e_latency: Histogram,
    /// Wall-clock ns of the last event the output stage handled.
    pub last_event_ns: AtomicU64,
    pub alerts: AtomicU64,
    pub drop_alerts: AtomicU64,
    /// Drop alerts replaced by a newer one while the output queue was full.
    pub drop_alerts_lost: AtomicU64,
    /// Probes attached and capturing (`/readyz` also needs the pod cache synced).
    pub capturing: AtomicBool,
    /// Whether the pipeline moves (`/healthz`).
    pub pipeline: Arc<Pipeline>,
    /// The endpoint's connections.
    pub conns: Arc<ConnCounters>,
    started: Instant,
    sinks: Mutex<Vec<(String, Arc<SinkStats>)>>,
    /// The kernel's prefilter, once loaded.
    prefilter: Mutex<Option<Arc<PrefilterStatus>>>,
}

impl Metrics {
    pub fn new(hostname: String, falco: FalcoEvents, sources: Sources) -> Self {
        Self {
            hostname,
            falco: Mutex::new(falco),
            sources,
            kernel: Mutex::default(),
            eval_latency: Histogram::new(&EVAL_BOUNDS),
            e2e_latency: Histogram::new(&E2E_BOUNDS),
            last_event_ns: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            drop_alerts: AtomicU64::new(0),
            drop_alerts_lost: AtomicU64::new(0),
            capturing: AtomicBool::new(false),
            pipeline: Arc::default(),
            conns: Arc::default(),
            started: Instant::now(),
            sinks: Mutex::default(),
            prefilter: Mutex::default(),
        }
    }

    pub fn set_prefilter(&self, status: Arc<PrefilterStatus>) {
        *lock(&self.prefilter) = Some(status);
    }

    pub fn set_sinks(&self, sinks: Vec<(String, Arc<SinkStats>)>) {
        *lock(&self.sinks) = sinks;
    }

    /// The sinks' counters for the exit summary.
    pub fn sinks_json(&self) -> serde_json::Value {
        let sinks = lock(&self.sinks);
        let mut m = serde_json::Map::new();
        for (name, s) in sinks.iter() {
            m.insert(
                name.clone(),
                serde_json::json!({
                    "delivered": s.delivered.load(Relaxed),
                    "rejected": s.rejected.load(Relaxed),
                    "dropped": s.dropped.load(Relaxed),
                    "drops": s.drops_json(),
                    "retries": s.retries.load(Relaxed),
                }),
            );
        }
        serde_json::Value::Object(m)
    }

    pub fn record_alert(&self, a: &lanner_rules::Alert, pod: &PodRef) {
        self.alerts.fetch_add(1, Relaxed);
        lock(&self.falco).record(a, &self.hostname, pod);
    }

    pub fn set_kernel_losses(&self, k: KernelLosses) {
        *lock(&self.kernel) = k;
    }

    /// The kernel's loss counters as the health task last read them.
    pub fn kernel_losses(&self) -> KernelLosses {
        lock(&self.kernel).clone()
    }

    /// Drop `falco_events` series of pods gone from the node.
    pub fn expire_series(&self) {
        let live: HashSet<PodRef> = self
            .sources
            .pods
            .pods()
            .into_iter()
            .map(|(namespace, pod)| PodRef { namespace, pod })
            .collect();
        lock(&self.falco).expire(&live, Instant::now());
    }

    /// Ready: capturing, and the pod cache usable and synced (or Kubernetes off). When ready,
    /// what works in a degraded way (a stale pod cache), if anything.
    pub fn ready(&self) -> Result<Option<String>, String> {
        if !self.capturing.load(Relaxed) {
            return Err("probes not attached".into());
        }
        match self.sources.pods.not_ready() {
            Some(why) => Err(why),
            None => Ok(self.sources.pods.degraded()),
        }
    }

    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        lock(&self.falco).render(&mut out);
        self.render_events(&mut out);
        if let Some(p) = lock(&self.prefilter).clone() {
            prefilter::render(&p, &mut out);
        }
        self.render_pipeline(&mut out);
        self.render_sinks(&mut out);
        self.conns.render(&mut out);
        out.into_string()
    }

    fn render_sinks(&self, out: &mut Exposition) {
        let sinks = lock(&self.sinks);
        out.family(
            "lanner_sink_alerts_total",
            "Alerts per sink and outcome: delivered, rejected (refused for good by the receiver), dropped (never delivered; why: lanner_sink_dropped_total)",
            "counter",
        );
        for (name, s) in sinks.iter() {
            for (outcome, n) in [
                ("delivered", &s.delivered),
                ("rejected", &s.rejected),
                ("dropped", &s.dropped),
            ] {
                let labels = [("sink", name.as_str()), ("outcome", outcome)];
                out.sample("lanner_sink_alerts_total", &labels, n.load(Relaxed) as f64);
            }
        }
        out.family(
            "lanner_sink_dropped_total",
            "Alerts a sink dropped, per reason: queue_full, spool_full, write_error (the spool's or the file's disk refused the write), unreadable (damaged spool line), shutdown (left in memory)",
            "counter",
        );
        for (name, s) in sinks.iter() {
            for reason in DropReason::ALL {
                let labels = [("sink", name.as_str()), ("reason", reason.name())];
                out.sample("lanner_sink_dropped_total", &labels, s.drops(reason) as f64);
            }
        }
        for (family, help, kind, pick) in [
            (
                "lanner_sink_retries_total",
                "Failed delivery attempts, retried with backoff",
                "counter",
                0,
            ),
            (
                "lanner_sink_queued_alerts",
                "Alerts in a sink's memory queue",
                "gauge",
                1,
            ),
            (
                "lanner_sink_spool_bytes",
                "Bytes a sink's on-disk spool takes (its segments)",
                "gauge",
                2,
            ),
        ] {
            out.family(family, help, kind);
            for (name, s) in sinks.iter() {
                let v = [&s.retries, &s.queued, &s.spool_bytes][pick].load(Relaxed);
                out.sample(family, &[("sink", name.as_str())], v as f64);
            }
        }
    }

    /// Whose user names could not be read, and why (`process::users`).
    fn render_users(&self, out: &mut Exposition) {
        let u = self.sources.stage.users.snapshot();
        out.single(
            "lanner_user_tables_read_total",
            "Roots whose passwd and group files were read",
            "counter",
            u.read as f64,
        );
        out.family(
            "lanner_user_tables_unreadable_total",
            "User table files or lookups that gave no names (user.name <NA>), per reason",
            "counter",
        );
        for r in crate::process::rootfs::Unreadable::ALL {
            let v = u.unreadable[r as usize] as f64;
            out.sample(
                "lanner_user_tables_unreadable_total",
                &[("reason", r.name())],
                v,
            );
        }
        out.single(
            "lanner_user_table_readers_stuck",
            "Reader threads left behind on a read that did not return in time",
            "gauge",
            u.stuck_readers as f64,
        );
    }

    fn render_events(&self, out: &mut Exposition) {
        let s = &self.sources;
        out.family(
            "lanner_events_total",
            "Events read from the kernel, per kind",
            "counter",
        );
        for kind in EventKind::ALL {
            let n = s.counters.read[kind.index()].load(Relaxed);
            out.sample("lanner_events_total", &[("kind", kind.name())], n as f64);
        }
        let kernel = lock(&self.kernel).clone();
        out.family(
            "lanner_events_lost_total",
            "Events lost, per kind, hop and reason. The user-space hops apply back-pressure instead of dropping, so a slow stage shows up as kernel ring-buffer losses",
            "counter",
        );
        for kind in EventKind::ALL {
            for (reason, r) in [
                ("ringbuf_full", LossReason::RingbufFull),
                ("dropped", LossReason::Dropped),
            ] {
                let labels = [("kind", kind.name()), ("hop", "kernel"), ("reason", reason)];
                out.sample(
                    "lanner_events_lost_total",
                    &labels,
                    kernel.get(kind, r) as f64,
                );
            }
        }
        let decode = s.counters.decode_error.load(Relaxed);
        let labels = [
            ("kind", "unknown"),
            ("hop", "decode"),
            ("reason", "decode_error"),
        ];
        out.sample("lanner_events_lost_total", &labels, decode as f64);
        out.single(
            "lanner_reader_drains_total",
            "Times the ring-buffer reader found records waiting and took them (lanner_events_total over this: records per wake-up)",
            "counter",
            s.counters.drains.load(Relaxed) as f64,
        );
        out.family(
            "lanner_events_degraded_total",
            "Events delivered with a field cut short or unreadable, per kind and reason",
            "counter",
        );
        for kind in EventKind::ALL {
            for (reason, r) in [
                ("truncated", LossReason::Truncated),
                ("read_failed", LossReason::ReadFailed),
            ] {
                let labels = [("kind", kind.name()), ("reason", reason)];
                out.sample(
                    "lanner_events_degraded_total",
                    &labels,
                    kernel.get(kind, r) as f64,
                );
            }
        }
        self.render_users(out);
        out.family(
            "lanner_paths_truncated_total",
            "Events delivered with a path cut short (marked in its value), per path",
            "counter",
        );
        for p in crate::event::EventPath::ALL {
            let n = s.counters.paths_truncated[p as usize].load(Relaxed);
            out.sample(
                "lanner_paths_truncated_total",
                &[("path", p.name())],
                n as f64,
            );
        }
        let last = self.last_event_ns.load(Relaxed);
        out.single(
            "lanner_last_event_timestamp_seconds",
            "Wall-clock time of the last event handled (a silent sensor stops moving it)",
            "gauge",
            last as f64 / 1e9,
        );
    }

    fn render_pipeline(&self, out: &mut Exposition) {
        let s = &self.sources;
        let pods = s.pods.stats();
        let (series, expired) = {
            let f = lock(&self.falco);
            (f.series_count() as u64, f.expired_total())
        };
        const GAUGE: &str = "gauge";
        const COUNTER: &str = "counter";
        let single: [(&str, &str, &str, u64); 19] = [
            (
                "lanner_pod_metadata_pending",
                "Events waiting for their pod's metadata",
                GAUGE,
                s.stage.pending.load(Relaxed),
            ),
            (
                "lanner_pod_metadata_missing_total",
                "Events sent on without pod metadata (marked <pending>)",
                COUNTER,
                s.pod_wait.sent_pending.load(Relaxed),
            ),
            (
                "lanner_pod_metadata_resolved_after_wait_total",
                "Events that waited and got their pod",
                COUNTER,
                s.pod_wait.resolved_after_wait.load(Relaxed),
            ),
            (
                "lanner_pod_cache_synced",
                "1 once the pod cache has listed this node's pods (1 when Kubernetes is off)",
                GAUGE,
                u64::from(!s.pods.enabled() || s.pods.synced()),
            ),
            (
                "lanner_pod_cache_stale",
                "1 while the pod watch is failing (lookups may miss recent pods)",
                GAUGE,
                u64::from(s.pods.enabled() && s.pods.stale()),
            ),
            (
                "lanner_pod_cache_pods",
                "Pods of this node in the cache",
                GAUGE,
                pods.pods,
            ),
            (
                "lanner_pod_cache_watch_errors_total",
                "Failed list/watch attempts",
                COUNTER,
                pods.watch_errors,
            ),
            (
                "lanner_process_table_size",
                "Processes tracked",
                GAUGE,
                s.stage.table_size.load(Relaxed),
            ),
            (
                "lanner_process_table_evictions_total",
                "Processes dropped early because the table was full",
                COUNTER,
                s.stage.table_evicted.load(Relaxed),
            ),
            (
                "lanner_process_table_expired_total",
                "Exited processes dropped after their grace period",
                COUNTER,
                s.stage.table_expired.load(Relaxed),
            ),
            (
                "lanner_rules_loaded",
                "Rules in the current ruleset",
                GAUGE,
                s.rules.rules_loaded.load(Relaxed),
            ),
            (
                "lanner_rules_active",
                "Enabled rules that can match the events Lanner captures",
                GAUGE,
                s.rules.rules_active.load(Relaxed),
            ),
            (
                "lanner_rules_reloads_total",
                "Successful rules reloads",
                COUNTER,
                s.rules.reloads.load(Relaxed),
            ),
            (
                "lanner_rules_reload_failures_total",
                "Failed rules reloads (the previous ruleset stays)",
                COUNTER,
                s.rules.reload_failures.load(Relaxed),
            ),
            (
                "lanner_alerts_total",
                "Alerts raised (all rules)",
                COUNTER,
                self.alerts.load(Relaxed),
            ),
            (
                "lanner_drop_alerts_total",
                "'Falco internal: syscall event drop' alerts raised",
                COUNTER,
                self.drop_alerts.load(Relaxed),
            ),
            (
                "lanner_drop_alerts_lost_total",
                "Drop alerts never written: replaced by a newer one while the output queue was full",
                COUNTER,
                self.drop_alerts_lost.load(Relaxed),
            ),
            (
                "lanner_falco_events_series",
                "Series of falco_events exposed",
                GAUGE,
                series,
            ),
            (
                "lanner_falco_events_series_expired_total",
                "falco_events series dropped after their pod left the node",
                COUNTER,
                expired,
            ),
        ];
        for (name, help, kind, v) in single {
            out.single(name, help, kind, v as f64);
        }
        out.single(
            "lanner_pod_cache_pods_refused_total",
            "Pods not indexed because the index was full (4,096 pods or 16,384 containers); the cache is marked stale",
            COUNTER,
            pods.pods_refused as f64,
        );
        let oversized = "lanner_pod_cache_oversized_answers_total";
        out.family(
            oversized,
            "Answers of the Kubernetes API refused for passing their byte budget: a whole answer (the pod list, an error) or one watch event; each fails that list/watch, which is retried",
            "counter",
        );
        for (what, n) in [
            ("list", pods.oversized_answers),
            ("watch_event", pods.oversized_events),
        ] {
            out.sample(oversized, &[("answer", what)], n as f64);
        }
        self.eval_latency.render(
            out,
            "lanner_rule_evaluation_seconds",
            "Rule evaluation time per event (sampled: one event in 16)",
        );
        self.e2e_latency.render(out, "lanner_event_latency_seconds", "From the syscall to its alerts written, for events that raised alerts and one event in 16");
        out.single(
            "lanner_uptime_seconds",
            "Seconds since the sensor started",
            "gauge",
            self.started.elapsed().as_secs_f64(),
        );
        out.family("lanner_build_info", "Build of the running sensor", "gauge");
        out.sample(
            "lanner_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("rules_engine", &engine_version()),
            ],
            1.0,
        );
    }
}

fn engine_version() -> String {
    let (a, b, c) = lanner_rules::loader::ENGINE_VERSION;
    format!("{a}.{b}.{c}")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
