//! The end of a run: the counters summary printed at exit, and the deadline that guarantees
//! there is an exit.
//!
//! At SIGINT/SIGTERM the stages drain what is already captured and the sinks deliver for at
//! most `sinks.drain_seconds`. A stage can be stuck where no stop signal reaches it: the output
//! thread in a write to a stdout nobody reads, the reader waiting for room behind it. The
//! kubelet would then kill the sensor at `terminationGracePeriodSeconds` with nothing said.
//! [`arm_deadline`] starts a thread that, at the drain time plus [`MARGIN`], prints the
//! counters as they stand (what the stages have not reported is as of their last update),
//! writes the stats file, and ends the process with status 1.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    time::Duration,
};

use serde_json::Value;

use crate::{
    enrich::pods::PodWaitCounters,
    k8s::PodCache,
    metrics::Metrics,
    process::TableStats,
    rules::live::ReloadCounters,
    stats::{self, Counters, KernelLosses, StageGauges},
};

/// Beyond the sinks' drain time, for the pipeline's own drain and the summary.
pub const MARGIN: Duration = Duration::from_secs(3);

/// Status of a process ended by the deadline.
const DEADLINE_STATUS: i32 = 1;

/// Where the exit summary's figures live.
#[derive(Clone)]
pub struct Summary {
    pub counters: Arc<Counters>,
    pub gauges: Arc<StageGauges>,
    pub pod_wait: Arc<PodWaitCounters>,
    pub pods: PodCache,
    pub metrics: Arc<Metrics>,
    pub rules: Arc<ReloadCounters>,
}

impl Summary {
    /// The counters object of docs/events.md. `table`: the enrichment stage's final figures
    /// (else its last published ones); `kernel`: a fresh read of the loss map (else the health
    /// task's last one).
    pub fn json(&self, table: Option<&TableStats>, kernel: Option<&KernelLosses>) -> Value {
        let published = TableStats {
            size: self.gauges.table_size.load(Relaxed) as usize,
            expired: self.gauges.table_expired.load(Relaxed),
            evicted: self.gauges.table_evicted.load(Relaxed),
        };
        let last_kernel = self.metrics.kernel_losses();
        let mut summary = stats::to_json(&stats::Snapshot {
            counters: &self.counters,
            kernel: kernel.unwrap_or(&last_kernel),
            table: table.unwrap_or(&published),
            pods: self.pods.stats(),
            pods_enabled: self.pods.enabled(),
            pods_synced: self.pods.synced(),
            pods_stale: self.pods.stale(),
            pods_node: self.pods.node(),
            pod_wait: &self.pod_wait,
            users: &self.gauges.users,
        });
        let m = &self.metrics;
        summary["sinks"] = m.sinks_json();
        summary["rules"] = serde_json::json!({
            "alerts": m.alerts.load(Relaxed),
            "drop_alerts": m.drop_alerts.load(Relaxed),
            "loaded": self.rules.rules_loaded.load(Relaxed),
            "active": self.rules.rules_active.load(Relaxed),
            "reloads": self.rules.reloads.load(Relaxed),
            "reload_failures": self.rules.reload_failures.load(Relaxed),
        });
        summary
    }

    /// Print the summary to stderr and write it to `stats_file`.
    pub fn report(&self, summary: &Value, stats_file: Option<&PathBuf>) -> anyhow::Result<()> {
        use anyhow::Context as _;
        eprintln!("lanner: counters {summary}");
        if let Some(path) = stats_file {
            std::fs::write(path, summary.to_string())
                .with_context(|| format!("writing stats file {}", path.display()))?;
        }
        Ok(())
    }
}

/// From now on the process ends within `drain + MARGIN`, whatever is stuck, unless `finished`
/// is set first (the normal end has taken over the report). `detach` runs before the end, for
/// at most a second, beside the report.
pub fn arm_deadline(
    drain: Duration,
    summary: Summary,
    stats_file: Option<PathBuf>,
    finished: Arc<AtomicBool>,
    detach: impl FnOnce() + Send + 'static,
) {
    let deadline = drain.saturating_add(MARGIN);
    let spawned = std::thread::Builder::new()
        .name("shutdown-deadline".into())
        .spawn(move || {
            std::thread::sleep(deadline);
            if finished.load(Relaxed) {
                return;
            }
            // The report can block as well (stderr a pipe nobody reads, a stuck disk): it
            // gets its own thread and a second, then the process ends regardless.
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            // The hooks, detached together: the process's exit would close them one by one.
            let detached = tx.clone();
            let _ = std::thread::Builder::new()
                .name("shutdown-detach".into())
                .spawn(move || {
                    detach();
                    let _ = detached.send(());
                });
            let _ = std::thread::Builder::new()
                .name("shutdown-report".into())
                .spawn(move || {
                    eprintln!(
                        "lanner: shutdown did not finish within {deadline:?} (sinks.drain_seconds + {MARGIN:?}): exiting with the counters as they stand"
                    );
                    let s = summary.json(None, None);
                    if let Err(e) = summary.report(&s, stats_file.as_ref()) {
                        eprintln!("lanner: {e:#}");
                    }
                    let _ = tx.send(());
                });
            let until = std::time::Instant::now() + Duration::from_secs(1);
            for _ in 0..2 {
                let left = until.saturating_duration_since(std::time::Instant::now());
                let _ = rx.recv_timeout(left);
            }
            // SAFETY: _exit has no preconditions; it ends the process without running
            // destructors or atexit handlers, which could wait on the stuck stages' locks.
            unsafe { libc::_exit(DEADLINE_STATUS) }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the shutdown deadline: {e}");
    }
}
