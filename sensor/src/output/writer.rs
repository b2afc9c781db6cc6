//! Rule evaluation and output, on their own thread: writing to stdout can block (a slow pipe)
//! and must not stall the runtime's workers. The ruleset is fetched once per batch, so a
//! reload takes effect at the next batch. Flushed after every batch, so a reader of the pipe
//! (Fluent Bit tailing the container log) sees alerts promptly. Internal alerts (the drop
//! alert) come in on their own channel and go out the same way.
//!
//! For the stall check (`metrics/stall.rs`) the thread reports how many events it has handled,
//! after each batch, and when a write to stdout began, around each write: a pipe nobody reads
//! blocks that write, and `/healthz` must say so.

use std::{
    io::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Instant,
};

use lanner_rules::Alert;
use tokio::sync::mpsc;

use crate::{
    clock::{self, Clock},
    enrich::{Enriched, pods::PodContext},
    metrics::{Metrics, falco_events::PodRef, stall::Stage},
    output::{alert, alert::AlertFormat, dump},
    rules::{extract::EventView, live::LiveRules},
    sinks::{Record, deliver::SinkHandle},
};

/// One event in this many has its evaluation and end-to-end latency timed (plus every event
/// that raises an alert): two clock reads per event would cost more than evaluating it.
pub const SAMPLE_EVERY: u64 = 16;

pub struct Writer {
    pub rules: LiveRules,
    pub format: AlertFormat,
    pub dump: bool,
    pub metrics: Arc<Metrics>,
    /// The other outputs' queues (file, Fluentd, Elasticsearch).
    pub sinks: Vec<SinkHandle>,
}

impl Writer {
    pub fn spawn(
        self,
        events: mpsc::Receiver<Enriched>,
        internal: mpsc::Receiver<Alert>,
    ) -> std::thread::JoinHandle<anyhow::Result<()>> {
        let guard = self.metrics.pipeline.guard(Stage::Output);
        std::thread::spawn(move || {
            let _running = guard;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            let done = rt.block_on(self.run(events, internal));
            if let Err(e) = &done {
                log::error!("output: {e:#}");
            }
            done
        })
    }

    async fn run(
        mut self,
        mut events: mpsc::Receiver<Enriched>,
        mut internal: mpsc::Receiver<Alert>,
    ) -> anyhow::Result<()> {
        let clock = Clock::new();
        let stdout = std::io::stdout();
        let pipeline = self.metrics.pipeline.clone();
        let watched = Watched {
            inner: stdout.lock(),
            since_ns: &pipeline.writing_since_ns,
        };
        let mut out = std::io::BufWriter::with_capacity(1 << 16, watched);
        let mut seen: u64 = 0;
        let mut internal_open = true;
        loop {
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else { break };
                    let ruleset = self.rules.current();
                    let mut next = Some(ev);
                    while let Some(ev) = next {
                        seen += 1;
                        self.one(&ruleset, &ev, &clock, seen.is_multiple_of(SAMPLE_EVERY), &mut out)?;
                        next = events.try_recv().ok();
                    }
                    pipeline.handled.store(seen, Relaxed);
                }
                a = internal.recv(), if internal_open => {
                    match a {
                        Some(a) => emit(&a, &PodRef::default(), &self.format, &self.metrics, &mut self.sinks, &mut out)?,
                        None => internal_open = false,
                    }
                }
            }
            out.flush()?;
        }
        out.flush()?;
        for s in &mut self.sinks {
            s.close();
        }
        Ok(())
    }

    /// One event: evaluate, write its alerts to `out` (and the sinks), time the sampled ones.
    /// Also the per-event work of `lanner --replay`.
    pub fn one(
        &mut self,
        ruleset: &lanner_rules::Ruleset,
        ev: &Enriched,
        clock: &Clock,
        sample: bool,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<()> {
        let epoch_ns = clock.epoch_ns(ev.event.boot_ns);
        let view = EventView::new(ev, epoch_ns).with_hostname(&self.format.hostname);
        let started = sample.then(Instant::now);
        let mut fired = Vec::new();
        if !ev.ctx.skipped {
            ruleset.evaluate(&view, |r| fired.push(r));
        }
        if let Some(t) = started {
            self.metrics
                .eval_latency
                .observe_ns(t.elapsed().as_nanos() as u64);
        }
        let alerted = !fired.is_empty();
        if alerted {
            let pod = pod_ref(&ev.ctx.pod);
            for r in fired {
                let a = ruleset.alert(r, &view, epoch_ns);
                emit(&a, &pod, &self.format, &self.metrics, &mut self.sinks, out)?;
            }
        }
        if sample || alerted {
            let latency = clock::boot_now_ns().saturating_sub(ev.event.boot_ns);
            self.metrics.e2e_latency.observe_ns(latency);
        }
        if self.dump {
            let line = dump::event_json(ev, epoch_ns, &self.format.hostname);
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        self.metrics.last_event_ns.store(epoch_ns, Relaxed);
        Ok(())
    }
}

/// A writer that publishes when its current write began (boot-clock ns, 0 between writes).
/// Wrapped under the `BufWriter`, so the clock is read once per flush, not per alert.
struct Watched<'a, W> {
    inner: W,
    since_ns: &'a AtomicU64,
}

impl<W: std::io::Write> Watched<'_, W> {
    fn timed<T>(&mut self, f: impl FnOnce(&mut W) -> std::io::Result<T>) -> std::io::Result<T> {
        self.since_ns.store(clock::boot_now_ns().max(1), Relaxed);
        let r = f(&mut self.inner);
        self.since_ns.store(0, Relaxed);
        r
    }
}

impl<W: std::io::Write> std::io::Write for Watched<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.timed(|w| w.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.timed(|w| w.write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.timed(|w| w.flush())
    }
}

/// One alert to stdout, the sinks and the metrics.
fn emit(
    a: &Alert,
    pod: &PodRef,
    format: &AlertFormat,
    metrics: &Metrics,
    sinks: &mut [SinkHandle],
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    if sinks.is_empty() {
        alert::write(out, a, format, None)?;
    } else {
        // The sinks always take JSON: made once, also written to stdout when that is JSON.
        let json = alert::json_text(a, format);
        alert::write(out, a, format, Some(&json))?;
        let record = Record::new(json, a.time_ns);
        for s in sinks.iter_mut() {
            s.send(&record);
        }
    }
    metrics.record_alert(a, pod);
    Ok(())
}

/// The pod labels of an event's alerts: empty on the host (and with Kubernetes off), the
/// visible marker when the pod's metadata never came.
fn pod_ref(p: &PodContext) -> PodRef {
    match p {
        PodContext::Found(m) => PodRef {
            namespace: m.namespace.clone(),
            pod: m.pod_name.clone(),
        },
        PodContext::Pending => PodRef {
            namespace: "<pending>".into(),
            pod: "<pending>".into(),
        },
        PodContext::Host | PodContext::Off => PodRef::default(),
    }
}
