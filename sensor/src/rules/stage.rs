//! The rules stage, on its own thread: each enriched event is evaluated (`evaluate.rs`) and
//! what it produced goes to the writer (`output/writer.rs`). Writing to stdout can block (a
//! slow pipe) and must not stall the runtime's workers, hence a thread; evaluation and writing
//! share it, so an alert is written by the thread that found it, with no queue between them.
//! The ruleset is fetched once per batch, so a reload takes effect at the next batch. Flushed
//! after every batch, so a reader of the pipe (Fluent Bit tailing the container log) sees
//! alerts promptly. Internal alerts (the drop alert) come in on their own channel and go to
//! the writer the same way.
//!
//! For the stall check (`metrics/stall.rs`) the thread reports how many events it has handled,
//! after each batch.

use std::{
    io::Write as _,
    sync::{Arc, atomic::Ordering::Relaxed},
};

use lanner_rules::{Alert, Ruleset};
use tokio::sync::mpsc;

use super::{
    evaluate::{Evaluator, Produced},
    live::LiveRules,
};
use crate::{
    clock::{self, Clock},
    enrich::Enriched,
    metrics::{Metrics, falco_events::PodRef, stall::Stage},
    output::writer::{self, Writer},
};

/// One event in this many has its evaluation and end-to-end latency timed (plus every event
/// that raises an alert): two clock reads per event would cost more than evaluating it.
pub const SAMPLE_EVERY: u64 = 16;

pub struct RulesStage {
    pub rules: LiveRules,
    pub evaluator: Evaluator,
    pub writer: Writer,
    pub metrics: Arc<Metrics>,
}

impl RulesStage {
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
        let pipeline = self.metrics.pipeline.clone();
        let mut out = writer::watched_stdout(&pipeline.writing_since_ns);
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
                        Some(a) => self.writer.alert(&a, &PodRef::default(), &mut out)?,
                        None => internal_open = false,
                    }
                }
            }
            out.flush()?;
        }
        out.flush()?;
        self.writer.close();
        Ok(())
    }

    /// One event: evaluate, write what it produced to `out` (and the sinks), time the sampled
    /// ones. Also the per-event work of `lanner --replay`.
    pub fn one(
        &mut self,
        ruleset: &Ruleset,
        ev: &Enriched,
        clock: &Clock,
        sample: bool,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<()> {
        let epoch_ns = clock.epoch_ns(ev.event.boot_ns);
        let writer = &mut self.writer;
        let alerted = self
            .evaluator
            .evaluate(ruleset, ev, epoch_ns, sample, |p| match p {
                Produced::Alert(a, pod) => writer.alert(a, pod, out),
                Produced::Event(line) => writer.event(line, out),
            })?;
        if sample || alerted {
            let latency = clock::boot_now_ns().saturating_sub(ev.event.boot_ns);
            self.metrics.e2e_latency.observe_ns(latency);
        }
        self.metrics.last_event_ns.store(epoch_ns, Relaxed);
        Ok(())
    }
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
